"""Benchmark rows of the OTLP receiver (cases 5 and 6 of run.py)."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import TracerProvider

from pytest_agenttrace._fixture import start_capture
from pytest_agenttrace._options import AgentTraceOptions
from pytest_agenttrace.capture._router import INSTALLATION
from pytest_agenttrace.remote._codec import decode_protobuf, encode_protobuf
from pytest_agenttrace.remote._receiver import OtlpReceiver

CHILD = Path(__file__).with_name("otlp_child.py")


class _Sink(http.server.BaseHTTPRequestHandler):
    """Answers every export 200 without parsing it: the floor for any receiver."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _child_seconds(endpoint: str, spans: int) -> float:
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
    done = subprocess.run(
        [sys.executable, str(CHILD), str(spans)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip())


def child_export(spans: int, rounds: int) -> tuple[float, float]:
    """Best child export time against our receiver (capturing) and against the sink."""
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    sink_url = f"http://127.0.0.1:{sink.server_address[1]}"
    receiver = OtlpReceiver()
    previous = INSTALLATION.router.active
    capture = start_capture(AgentTraceOptions())
    best_ours = best_sink = float("inf")
    try:
        for _ in range(rounds):  # interleaved: a busy machine slows both alike
            capture.clear()
            best_ours = min(best_ours, _child_seconds(receiver.otlp_endpoint, spans))
            assert len(capture.spans) == spans, f"received {len(capture.spans)} of {spans} spans"
            best_sink = min(best_sink, _child_seconds(sink_url, spans))
    finally:
        capture._stop()
        INSTALLATION.router.active = previous
        capture.clear()
        receiver.close()
        sink.shutdown()
        sink.server_close()
    return best_ours, best_sink


def receive_cost(spans: int, repeat: int) -> float:
    """Seconds per span to decode an OTLP protobuf request and file it with a capture."""
    previous = INSTALLATION.router.active
    capture = start_capture(AgentTraceOptions())  # first: spans begun earlier would be late
    provider = TracerProvider()
    tracer = provider.get_tracer("bench")
    made = []
    with tracer.start_as_current_span("root") as root:
        made.append(root)
        for number in range(spans - 1):
            with tracer.start_as_current_span("tool_call", attributes={"n": number}) as span:
                made.append(span)
    body = encode_protobuf(made)  # type: ignore[arg-type]
    best = float("inf")
    try:
        for _ in range(repeat):
            capture.clear()
            started = time.perf_counter()
            INSTALLATION.router.receive(decode_protobuf(body).spans)
            best = min(best, time.perf_counter() - started)
        assert len(capture.spans) == spans
    finally:
        capture._stop()
        INSTALLATION.router.active = previous
        capture.clear()
    return best / spans
