"""Stored traces into a `SpanForest`: OTLP JSON (Tempo, Jaeger v2, the collector's
file exporter) and the Jaeger UI's "Download JSON", asserted like a test's capture."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Union

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

from .._errors import StoredTraceError
from ..capture._query import ReceivedSpan, SpanForest
from ._codec import decode_json_document, iter_json_documents

Source = Union[str, bytes, "os.PathLike[str]"]
_OTLP_KEYS = ("resourceSpans", "resource_spans", "batches")

_JAEGER_KINDS = {kind.name.lower(): kind for kind in SpanKind}
# Jaeger tags that carry span fields, not attributes (OpenTelemetry's Jaeger mapping)
_JAEGER_FIELD_TAGS = {
    "span.kind",
    "otel.status_code",
    "otel.status_description",
    "otel.scope.name",
    "otel.scope.version",
    "otel.library.name",
    "otel.library.version",
    "internal.span.format",
}


def _text(source: Source) -> str:
    """The JSON text of a source: bytes, a str that holds JSON (it starts with `{` or
    `[` after whitespace and any BOM), or else a path; gzip is unpacked."""
    if isinstance(source, str):
        if source.lstrip("\ufeff \t\r\n")[:1] in ("{", "["):
            return source.lstrip("\ufeff")
        if not source.strip():
            raise StoredTraceError("empty source: give a path, or the JSON itself")
    elif not isinstance(source, (bytes, os.PathLike)):
        raise TypeError(f"source must be a path, str or bytes, got {type(source).__name__}")
    if isinstance(source, bytes):
        raw, where = source, "the given bytes"
    else:
        path = Path(source)
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise StoredTraceError(f"cannot read {path}: {error.strerror or error}") from None
        where = str(path)
    if raw[:2] == b"\x1f\x8b":  # gzip, as traces are often stored
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise StoredTraceError(f"{where}: broken gzip data: {error}") from None
    try:
        return raw.decode("utf-8-sig")  # a BOM is common in files written on Windows
    except UnicodeDecodeError as error:
        raise StoredTraceError(f"{where} is not UTF-8 text (JSON): {error}") from None


def load_otlp_json(source: Source) -> SpanForest:
    """Spans of an OTLP JSON trace export: a path, or the JSON itself (str or bytes).

    Accepts one `{"resourceSpans": [...]}` document, JSON Lines of them, Jaeger v2's
    `{"result": {...}}` and Tempo's `{"batches": [...]}` answers.
    """
    spans: list[ReadableSpan] = []
    for document in iter_json_documents(_text(source)):
        if isinstance(document, dict) and isinstance(document.get("result"), dict):
            document = document["result"]  # Jaeger v2 /api/v3/traces
        if isinstance(document, dict) and not any(key in document for key in _OTLP_KEYS):
            hint = " (Jaeger JSON: use load_jaeger_json())" if "data" in document else ""
            raise StoredTraceError(
                f'not OTLP JSON: no "resourceSpans" among the keys {sorted(document)[:8]}{hint}'
            )
        decoded = decode_json_document(document)
        if decoded.errors:
            raise StoredTraceError("; ".join(decoded.errors))
        spans += decoded.spans
    return SpanForest(spans)


def load_jaeger_json(source: Source) -> SpanForest:
    """Spans of a Jaeger JSON trace (the UI's "Download JSON", or /api/traces)."""
    document = next(iter_json_documents(_text(source)), None)
    traces = document.get("data") if isinstance(document, dict) else None
    if not isinstance(traces, list):
        raise StoredTraceError(
            'Jaeger JSON must be an object with a "data" list of traces '
            '({"data": [{"traceID": ..., "spans": [...], "processes": {...}}]}); '
            "for OTLP JSON use load_otlp_json()"
        )
    spans: list[ReadableSpan] = []
    for number, trace in enumerate(traces):
        if not isinstance(trace, dict):
            raise StoredTraceError(f"data[{number}] is not a trace object")
        processes = trace.get("processes") or {}
        for span in trace.get("spans") or []:
            try:
                spans.append(_jaeger_span(span, processes))
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                name = span.get("operationName") if isinstance(span, dict) else None
                raise StoredTraceError(
                    f"data[{number}]: span {name!r} is not a Jaeger span ({error!r})"
                ) from None
    return SpanForest(spans)


def _jaeger_id(value: str) -> int:
    return int(value, 16)


def _jaeger_span(span: Mapping[str, Any], processes: Mapping[str, Any]) -> ReadableSpan:
    trace_id = _jaeger_id(span["traceID"])
    tags = _tags(span.get("tags") or [])
    flags = TraceFlags(int(span.get("flags") or 1) & 0xFF)
    parent = None
    links = []
    references = list(span.get("references") or [])
    if not references and span.get("parentSpanID"):  # the older, flat form
        references = [
            {"refType": "CHILD_OF", "traceID": span["traceID"], "spanID": span["parentSpanID"]}
        ]
    for reference in references:
        context = SpanContext(
            _jaeger_id(reference["traceID"]), _jaeger_id(reference["spanID"]), False, flags
        )
        if reference.get("refType", "CHILD_OF") == "CHILD_OF" and parent is None:
            parent = context
        else:
            links.append(Link(context))
    process_id = span.get("processID")
    if process_id is not None and process_id not in processes:
        raise ValueError(f"processID {process_id!r} is not among the trace's processes")
    process = processes.get(str(process_id), {})
    resource = Resource(
        {**_tags(process.get("tags") or []), "service.name": process.get("serviceName", "")}
    )
    start_us = int(span["startTime"])
    status_code = str(tags.get("otel.status_code", "")).upper()
    if status_code == "ERROR" or tags.get("error") is True:
        status = Status(StatusCode.ERROR, tags.get("otel.status_description"))
        tags.pop("error", None)
    else:
        status = Status(StatusCode.OK if status_code == "OK" else StatusCode.UNSET)
    scope_name = tags.get("otel.scope.name", tags.get("otel.library.name", ""))
    scope_version = tags.get("otel.scope.version", tags.get("otel.library.version"))
    return ReceivedSpan(
        name=span["operationName"],
        context=SpanContext(trace_id, _jaeger_id(span["spanID"]), False, flags),
        parent=parent,
        resource=resource,
        attributes={k: v for k, v in tags.items() if k not in _JAEGER_FIELD_TAGS},
        events=[_jaeger_event(log) for log in span.get("logs") or []],
        links=links,
        kind=_JAEGER_KINDS.get(str(tags.get("span.kind", "internal")).lower(), SpanKind.INTERNAL),
        status=status,
        start_time=start_us * 1000,
        end_time=(start_us + int(span.get("duration", 0))) * 1000,
        instrumentation_scope=InstrumentationScope(str(scope_name), scope_version),
    )


def _jaeger_event(log: Mapping[str, Any]) -> Event:
    fields = _tags(log.get("fields") or [])
    name = fields.pop("event", None) or fields.pop("message", None) or "log"
    return Event(str(name), fields, int(log["timestamp"]) * 1000)


def _tags(tags: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for tag in tags:
        value: Any = tag.get("value")
        kind = str(tag.get("type", "string")).lower()
        if kind == "int64":
            value = int(value)
        elif kind == "float64":
            value = float(value)
        elif kind == "bool":
            value = value if isinstance(value, bool) else str(value).lower() == "true"
        found[str(tag["key"])] = value
    return found
