"""An OTLP receiver on loopback: spans of other processes join the running test's capture.

OTLP/HTTP (`POST /v1/traces`, protobuf or JSON, optionally gzip) on a
`ThreadingHTTPServer`, and OTLP/gRPC when `grpcio` is installed (extra `[grpc]`).
Each request is decoded and handed to the span router before it is answered, so
once a child's exporter has returned (at `force_flush()` or at exit) its spans
are in the capture. A request that cannot be taken is answered with the OTLP
status code and becomes a finding that fails the running (or next) test.
"""

from __future__ import annotations

import http.server
import threading
import warnings
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

from opentelemetry import propagate

from .._errors import AgentTraceWarning
from ..capture._router import INSTALLATION, ReceiverProblem
from ._codec import Decoded, decode_json, decode_protobuf
from ._settings import MAX_BODY_SETTING, SESSION_SETTINGS, exposed_warning, is_loopback

PROTOCOLS = ("http/protobuf", "http/json", "grpc")
DEFAULT_MAX_BODY = 32 * 1024 * 1024
TRACES_PATH = "/v1/traces"
# accepted and dropped: a service configured by hand may export these too
_OTHER_SIGNALS = ("/v1/metrics", "/v1/logs")
# a refused body up to this size is read and dropped before answering
_DISCARD_LIMIT = 256 * 1024 * 1024
_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"


# spans a child's BatchSpanProcessor holds before it drops them (otlp_env)
_CHILD_QUEUE_SIZE = 1_000_000


class OtlpReceiver:
    """The process's OTLP receiver (one per pytest process, so one per xdist worker)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        http_port: int = 0,
        grpc_port: int = 0,
        max_body: int = DEFAULT_MAX_BODY,
        warn: bool = True,
    ) -> None:
        if warn and not is_loopback(host):
            warnings.warn(AgentTraceWarning(exposed_warning(host)), stacklevel=2)
        self.host = host
        self.max_body = max_body
        self._grpc_port = grpc_port
        self._grpc_server: Any = None
        self._grpc_bound: int | None = None
        self._lock = threading.Lock()
        try:
            self._http = _Server((host, http_port), _handler_for(self))
        except OSError as error:
            raise ReceiverStartError(
                f"the OTLP receiver could not listen on {host} port {http_port} "
                f"(settings agenttrace_otlp_host, agenttrace_otlp_http_port): "
                f"{error.strerror or error}"
            ) from None
        self._thread = threading.Thread(
            target=self._http.serve_forever, name="agenttrace-otlp-http", daemon=True
        )
        self._thread.start()
        INSTALLATION.router.receivers_running = True

    # -- endpoints -------------------------------------------------------------------
    @property
    def otlp_endpoint(self) -> str:
        """Base URL of the OTLP/HTTP side; exporters append `/v1/traces`."""
        return f"http://{_url_host(self._reachable_host)}:{self._http.server_address[1]}"

    @property
    def _reachable_host(self) -> str:
        # a wildcard bind answers on loopback too; senders can't dial the wildcard
        return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)

    @property
    def otlp_grpc_endpoint(self) -> str:
        """`http://host:port` of the OTLP/gRPC side (started on first use; extra `[grpc]`)."""
        with self._lock:
            if self._grpc_bound is None:
                self._grpc_server, self._grpc_bound = _start_grpc(self)
        return f"http://{_url_host(self._reachable_host)}:{self._grpc_bound}"

    def otlp_env(
        self,
        service_name: str | None = None,
        *,
        protocol: str = "http/protobuf",
        propagate: bool = False,
    ) -> dict[str, str]:
        """Environment variables that point any OpenTelemetry SDK at this receiver.

        `propagate=True` adds the current context as `TRACEPARENT` / `TRACESTATE` /
        `BAGGAGE` (the environment-variable carrier of the OpenTelemetry spec); the
        child extracts it itself (`propagate.extract({k.lower(): v ...})`).
        """
        if protocol not in PROTOCOLS:
            raise ValueError(
                f"otlp_env(protocol={protocol!r}): valid protocols are {', '.join(PROTOCOLS)}"
            )
        grpc = protocol == "grpc"
        endpoint = self.otlp_grpc_endpoint if grpc else self.otlp_endpoint
        env = {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            # the signal-specific variables win over the general ones: set them too,
            # in case the parent's environment has its own
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint if grpc else endpoint + TRACES_PATH,
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            # the SDK's default queue (2,048) drops the spans of a busy child, silently
            "OTEL_BSP_MAX_QUEUE_SIZE": str(_CHILD_QUEUE_SIZE),
        }
        if grpc:
            env["OTEL_EXPORTER_OTLP_INSECURE"] = env["OTEL_EXPORTER_OTLP_TRACES_INSECURE"] = "true"
        if service_name is not None:
            env["OTEL_SERVICE_NAME"] = service_name
        if propagate:
            env.update(_context_env())
        return env

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        if self._grpc_server is not None:
            self._grpc_server.stop(grace=None)

    # -- what a request delivers -----------------------------------------------------------
    def deliver(self, decoded: Decoded, source: str) -> None:
        INSTALLATION.router.receive(decoded.build())
        if decoded.rejected:
            text = f"{source}: rejected {decoded.rejected} span(s): {decoded.summary}"
            INSTALLATION.router.report_problem(ReceiverProblem(text, decoded.rejected))

    def problem(self, text: str) -> None:
        """An export refused as a whole: its spans were lost."""
        INSTALLATION.router.report_problem(ReceiverProblem(text))


def _context_env() -> dict[str, str]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return {key.upper(): value for key, value in carrier.items()}


class ReceiverStartError(RuntimeError):
    """The receiver could not listen where its settings say."""


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Any) -> None:
        if ":" in address[0]:
            import socket

            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _handler_for(receiver: OtlpReceiver) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: exporters reuse the connection
        server_version = "pytest-agenttrace-otlp"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # requests are not news; refused ones become findings

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            try:
                if path in _OTHER_SIGNALS:
                    self._read_body()
                    self._answer(200, self._content_type(), b"")
                    return
                if path != TRACES_PATH:
                    raise _Refused(404, f"unknown path {path!r} (OTLP/HTTP traces: {TRACES_PATH})")
                content_type = self._content_type()
                body = self._read_body()
                decoded = _decode(content_type, body)
            except _Refused as refused:
                receiver.problem(f"OTLP/HTTP request refused ({refused.status}): {refused.reason}")
                self._answer(refused.status, "text/plain", refused.reason.encode(), close=True)
                return
            # Answered before the spans are built and filed, so the exporter sends its
            # next batch meanwhile; a query waits for the filing (router.filing).
            with INSTALLATION.router.filing():
                self._answer(200, content_type, _response(content_type, decoded))
                receiver.deliver(decoded, "OTLP/HTTP export")

        def do_GET(self) -> None:
            self._answer(405, "text/plain", b"OTLP receiver: POST /v1/traces", close=True)

        do_PUT = do_DELETE = do_PATCH = do_GET

        def _content_type(self) -> str:
            raw = self.headers.get("Content-Type", "")
            media = raw.split(";", 1)[0].strip().lower()
            if media not in (_PROTOBUF, _JSON):
                raise _Refused(
                    415, f"unsupported Content-Type {raw!r} (use {_PROTOBUF} or {_JSON})"
                )
            return media

        def _read_body(self) -> bytes:
            length_header = self.headers.get("Content-Length")
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = self._read_chunked()
            elif length_header is None:
                raise _Refused(411, "Content-Length is required")
            else:
                try:
                    length = int(length_header)
                except ValueError:
                    raise _Refused(400, f"bad Content-Length {length_header!r}") from None
                if length < 0:
                    raise _Refused(400, f"bad Content-Length {length_header!r}")
                if length > receiver.max_body:
                    self._discard(length)
                    raise _Refused(413, _too_large(receiver.max_body, length))
                body = self.rfile.read(length)
            encoding = self.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding == "gzip":
                return _gunzip(body, receiver.max_body)
            if encoding not in ("identity", ""):
                raise _Refused(415, f"unsupported Content-Encoding {encoding!r} (use gzip)")
            return body

        def _discard(self, length: int) -> None:
            """Read and drop a refused body, so the sender sees the answer, not a reset."""
            if length > _DISCARD_LIMIT:
                return  # not worth reading: the connection closes under the sender
            while length > 0:
                chunk = self.rfile.read(min(length, 65536))
                if not chunk:
                    return
                length -= len(chunk)

        def _read_chunked(self) -> bytes:
            chunks: list[bytes] = []
            total = 0
            while True:
                line = self.rfile.readline(1024).strip()
                try:
                    size = int(line.split(b";", 1)[0], 16)
                except ValueError:
                    raise _Refused(400, "malformed chunked body") from None
                if size == 0:
                    self.rfile.readline(1024)
                    return b"".join(chunks)
                total += size
                if total > receiver.max_body:  # the rest unread: its size is unknown
                    raise _Refused(413, _too_large(receiver.max_body))
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)

        def _answer(self, status: int, content_type: str, body: bytes, close: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if close:  # the request body may be unread: don't reuse the connection
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _too_large(limit: int, size: int | None = None, after: str = "") -> str:
    body = "body" if size is None else f"body of {size} bytes"
    return (
        f"{body} is over the receiver's limit of {limit} bytes{after} (setting {MAX_BODY_SETTING})"
    )


def _gunzip(body: bytes, limit: int) -> bytes:
    """The inflated body: every gzip member of it (RFC 1952 allows several), each
    complete, inflated no further than the limit."""
    out = b""
    rest = body
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(rest, limit + 1 - len(out))
        except zlib.error as error:
            raise _Refused(400, f"malformed gzip body: {error}") from None
        if len(out) > limit or inflater.unconsumed_tail:
            # inflated no further than the limit: its size is unknown
            raise _Refused(413, _too_large(limit, after=" after decompression"))
        if not inflater.eof:  # zlib takes a stream cut short without a word
            raise _Refused(
                400, "malformed gzip body: it ends before its compressed stream does (cut off?)"
            )
        rest = inflater.unused_data
        if not rest:
            return out


def _decode(content_type: str, body: bytes) -> Decoded:
    from .._errors import OtlpDecodeError

    try:
        if content_type == _JSON:
            return decode_json(body, check_only=True)
        return decode_protobuf(body, check_only=True)
    except OtlpDecodeError as error:
        raise _Refused(400, str(error)) from None


def _response_message(decoded: Decoded) -> Any:
    """ExportTraceServiceResponse: partial success when spans were rejected."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    response = ExportTraceServiceResponse()
    if decoded.rejected:
        response.partial_success.rejected_spans = decoded.rejected
        response.partial_success.error_message = decoded.summary
    return response


def _response(content_type: str, decoded: Decoded) -> bytes:
    from google.protobuf import json_format

    response = _response_message(decoded)
    if content_type == _JSON:
        text: str = json_format.MessageToJson(response, indent=None)
        return text.encode()
    data: bytes = response.SerializeToString()
    return data


def _grpc_receive_limit(max_body: int) -> int:
    """What grpc takes in before export() sees it: over-limit exports as large as the
    HTTP side reads and drops, so they are answered and reported alike."""
    return max(4 * max_body, _DISCARD_LIMIT)


def _start_grpc(receiver: OtlpReceiver) -> tuple[Any, int]:
    try:
        import grpc
    except ImportError as error:
        raise ReceiverStartError(
            f"the OTLP/gRPC receiver needs grpcio ({error}): "
            "pip install 'pytest-agenttrace-otel[grpc]'"
        ) from None
    from concurrent import futures

    from .._errors import OtlpDecodeError

    def export(body: bytes, context: Any) -> bytes:
        # Raw bytes in, so a malformed or oversized export is ours to report, not
        # an error grpc answers on its own where no test sees it.
        if len(body) > receiver.max_body:
            # Not RESOURCE_EXHAUSTED: OTLP makes it retryable only with a RetryInfo,
            # but OpenTelemetry Python's exporter retries it always, with backoff (the
            # same refusal again for seconds per batch). Too large stays too large:
            # INVALID_ARGUMENT is the code OTLP recommends for an error not to retry.
            reason = _too_large(receiver.max_body, len(body))
            receiver.problem(f"OTLP/gRPC export refused (INVALID_ARGUMENT): {reason}")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, reason)
        try:
            decoded = decode_protobuf(body)
        except OtlpDecodeError as error:
            receiver.problem(f"OTLP/gRPC export refused (INVALID_ARGUMENT): {error}")
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        receiver.deliver(decoded, "OTLP/gRPC export")
        answer: bytes = _response_message(decoded).SerializeToString()
        return answer

    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {"Export": grpc.unary_unary_rpc_method_handler(export)},  # no (de)serializers: bytes
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="agenttrace-otlp-grpc"),
        # room above the limit, so an oversized export reaches export() to be reported
        # (one grpc refuses itself is answered RESOURCE_EXHAUSTED, retried, unseen)
        options=[("grpc.max_receive_message_length", _grpc_receive_limit(receiver.max_body))],
        handlers=[handler],
    )
    try:
        port = server.add_insecure_port(f"{_url_host(receiver.host)}:{receiver._grpc_port}")
    except RuntimeError as error:  # grpc's "Failed to bind to address ..."
        raise ReceiverStartError(
            f"the OTLP/gRPC receiver could not listen on {receiver.host} port "
            f"{receiver._grpc_port} (settings agenttrace_otlp_host, agenttrace_otlp_grpc_port): "
            f"{str(error).split(';')[0]}"
        ) from None
    server.start()
    return server, port


# -- the process's receiver ------------------------------------------------------------------
_RECEIVER: OtlpReceiver | None = None
_RECEIVER_LOCK = threading.Lock()
_START_ERROR: ReceiverStartError | None = None  # not retried for every test


def process_receiver() -> OtlpReceiver:
    """The receiver of this process, started on first use with the session's settings."""
    global _RECEIVER, _START_ERROR
    with _RECEIVER_LOCK:
        if _START_ERROR is not None:
            raise _START_ERROR
        if _RECEIVER is None:
            try:
                # the plugin warned about a non-loopback host at configure time
                _RECEIVER = OtlpReceiver(**SESSION_SETTINGS, warn=False)
            except ReceiverStartError as error:
                _START_ERROR = error
                raise
        return _RECEIVER


def start_for_session() -> None:
    """`agenttrace_otlp_start = session`: both listeners of a fixed port listen now,
    for services that dial them before any test asks (a free port: when asked)."""
    receiver = process_receiver()
    if receiver._grpc_port:
        receiver.otlp_grpc_endpoint  # noqa: B018  (starts the gRPC listener)


def process_receiver_or_fail() -> OtlpReceiver:
    """process_receiver() for a fixture or test: a receiver that can't listen fails
    it with the one-line reason, not a traceback."""
    __tracebackhide__ = True
    return or_fail(process_receiver)


T = TypeVar("T")


def or_fail(start: Callable[[], T]) -> T:
    """`start()`, or the running test failed with the one-line reason a listener
    could not start."""
    __tracebackhide__ = True
    import pytest

    try:
        return start()
    except ReceiverStartError as error:
        failure = str(error)
    pytest.fail(failure, pytrace=False)  # outside the except: no chained traceback


def close_process_receiver() -> None:
    global _RECEIVER, _START_ERROR
    with _RECEIVER_LOCK:
        _START_ERROR = None
        if _RECEIVER is not None:
            _RECEIVER.close()
            _RECEIVER = None
            INSTALLATION.router.receivers_running = False
            INSTALLATION.router.uncaptured_test = None  # kept up to date only while running
