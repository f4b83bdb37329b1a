"""A local stand-in for the embedding and LLM APIs, on 127.0.0.1 with a free port.

Tests script failures (`fail_next`) and can make two requests meet
(`rendezvous`) to prove they were in flight at the same time.
"""

from __future__ import annotations

import collections
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pipeline.retrieval import embed_locally


class StubAPI:
    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.stub = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="stub-api", daemon=True
        )
        self._lock = threading.Lock()
        self._failures: dict[str, collections.deque[int]] = collections.defaultdict(
            collections.deque
        )
        self._barrier: threading.Barrier | None = None
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StubAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()
            self._barrier = None
            self.requests.clear()

    def fail_next(self, path: str, status: int = 503, times: int = 1) -> None:
        """Answer the next `times` requests to `path` with `status`."""
        with self._lock:
            self._failures[path].extend([status] * times)

    def rendezvous(self, parties: int = 2, timeout: float = 5.0) -> None:
        """Hold each request until `parties` requests are in flight together."""
        self._barrier = threading.Barrier(parties, timeout=timeout)

    # -- called from the server's threads --------------------------------------------
    def _handle(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(path)
            queued = self._failures.get(path)
            failure = queued.popleft() if queued else None
            barrier = self._barrier
        if barrier is not None:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                return 504, {"error": "rendezvous: the other request never arrived"}
        if failure is not None:
            return failure, {"error": "scripted failure"}
        if path == "/v1/embeddings":
            return 200, {"embedding": embed_locally(body["input"])}
        if path == "/v1/completions":
            words = body["prompt"].split()
            text = " ".join(words[-12:])  # "summarises" by echoing the grounded tail
            usage = {"prompt_tokens": len(words), "completion_tokens": len(text.split())}
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            return 200, {"text": text, "usage": usage}
        return 404, {"error": f"no such endpoint: {path}"}


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        status, payload = self.server.stub._handle(self.path, body)  # type: ignore[attr-defined]
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean
