"""`--agenttrace-forward=URL`: each test's spans to a live OTLP endpoint (Jaeger, a collector).

Sent through OpenTelemetry's own exporters (`opentelemetry-exporter-otlp-proto-http`
or `-grpc`), once the test's last report is made, in batches as a
`BatchSpanProcessor` would (gRPC servers refuse messages over 4 MiB by default).
Headers, compression and certificates come from the usual `OTEL_EXPORTER_OTLP_*`
variables, which the exporters read. The first failed export costs at most
`TIMEOUT` seconds and turns forwarding off for the session, with one warning.
"""

from __future__ import annotations

import contextlib
import logging
import re
import urllib.parse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._warning import warn_for_session

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from ._settings import ForwardTarget

TIMEOUT = 2.0  # seconds for one export, retries included
BATCH = 512  # spans per request: BatchSpanProcessor's default max_export_batch_size
_EXPORTER_LOGGER = "opentelemetry.exporter"


def redacted(url: str) -> str:
    """The URL without a password: the warning lands in CI logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class _Reasons(logging.Handler):
    """The exporter says why an export failed only by logging it."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
        except Exception:  # a record that doesn't format: the failure is reported anyway
            self.messages.append(str(record.msg))


def _first_reason(messages: list[str]) -> str:
    """The exporter's first complaint names the cause (its last: "timeout, max retries")."""
    if not messages:
        return "the export failed"
    reason = re.sub(r",? retrying in [0-9.]+s\.?", "", messages[0]).strip()
    return reason if len(reason) <= 300 else reason[:297] + "..."


class Forwarder:
    """One exporter for the session, made on the first test that has spans."""

    def __init__(self, target: ForwardTarget) -> None:
        self.target = target
        self.sent = 0  # spans the endpoint accepted
        self.failed: str | None = None  # why forwarding stopped
        self._exporter: Any = None

    def _make_exporter(self) -> Any:
        if self.target.protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcExporter,
            )

            return GrpcExporter(
                endpoint=self.target.endpoint, insecure=self.target.insecure, timeout=TIMEOUT
            )
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=self.target.endpoint, timeout=TIMEOUT)

    def send(self, spans: Sequence[ReadableSpan]) -> bool:
        """Export the spans; False (and one warning for the session) when it fails."""
        if self.failed is not None:
            return False
        from opentelemetry.sdk.trace.export import SpanExportResult

        reasons = _Reasons()
        logger = logging.getLogger(_EXPORTER_LOGGER)
        logger.addHandler(reasons)
        try:
            if self._exporter is None:
                self._exporter = self._make_exporter()
            for start in range(0, len(spans), BATCH):
                batch = spans[start : start + BATCH]
                if self._exporter.export(batch) is not SpanExportResult.SUCCESS:
                    self._stop(_first_reason(reasons.messages))
                    return False
                self.sent += len(batch)
        except Exception as error:  # an exporter that raises must not fail the suite either
            self._stop(f"{type(error).__name__}: {error}")
            return False
        finally:
            logger.removeHandler(reasons)
        return True

    def _stop(self, reason: str) -> None:
        self.failed = reason
        kind = "OTLP/gRPC" if self.target.protocol == "grpc" else "OTLP/HTTP"
        warn_for_session(
            f"--agenttrace-forward: {kind} export to {redacted(self.target.endpoint)} failed "
            f"({reason}); forwarding is off for the rest of this session"
            + (f" ({self.sent} spans were sent before)" if self.sent else "")
        )

    def close(self) -> None:
        if self._exporter is not None:
            with contextlib.suppress(Exception):  # closing a connection that already broke
                self._exporter.shutdown()
            self._exporter = None
