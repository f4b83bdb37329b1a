"""OTLP trace data (protobuf or OTLP/JSON) to and from the SDK's `ReadableSpan`.

One codec for receiving, loading stored traces, exporting and forwarding. The wire
format comes from `opentelemetry-proto`; OTLP/JSON is the protobuf JSON mapping
with two differences the specification makes: trace and span ids are hex, not
base64, and enums may be integers. Both are handled here, and `json_format`
does the rest.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.status import Status, StatusCode

from .._errors import OtlpDecodeError
from ..capture._query import ReceivedSpan

# proto SpanKind counts from SPAN_KIND_UNSPECIFIED = 0; the SDK's from INTERNAL = 0
_KINDS = {0: SpanKind.INTERNAL, 1: SpanKind.INTERNAL, 2: SpanKind.SERVER, 3: SpanKind.CLIENT}
_KINDS |= {4: SpanKind.PRODUCER, 5: SpanKind.CONSUMER}
_STATUSES = {0: StatusCode.UNSET, 1: StatusCode.OK, 2: StatusCode.ERROR}
_HAS_IS_REMOTE = 0x100  # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = 0x200  # SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
# OTLP/JSON fields that hold hex ids (lowerCamelCase per the spec; snake_case accepted),
# and their size in bytes
_ID_BYTES = {"traceId": 16, "spanId": 8, "parentSpanId": 8}
_ID_BYTES |= {"trace_id": 16, "span_id": 8, "parent_span_id": 8}
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]+")
_OLD_NAMES = {
    "instrumentationLibrarySpans": "scopeSpans",
    "instrumentation_library_spans": "scope_spans",
    "instrumentationLibrary": "scope",
    "instrumentation_library": "scope",
    "batches": "resourceSpans",
}
# protobuf's JSON parser recurses per nesting level: refuse absurd nesting up front
_MAX_JSON_DEPTH = 64


@dataclasses.dataclass
class Decoded:
    """The spans of one export request, and the ones rejected with the reason."""

    spans: list[ReadableSpan]
    rejected: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)
    # checked messages whose spans build() makes (the receiver answers in between)
    pending: list[tuple[Any, Resource, InstrumentationScope]] = dataclasses.field(
        default_factory=list
    )

    @property
    def summary(self) -> str:
        """The first reasons for rejected spans, for a finding and the partial-success answer."""
        return "; ".join(self.errors[:5])

    def reject(self, message: Any, problem: str) -> None:
        self.rejected += 1
        self.errors.append(f"span {message.name!r}: {problem}")

    def build(self) -> list[ReadableSpan]:
        """All the spans, the pending ones built now."""
        for message, resource, scope in self.pending:
            span = _OtlpSpan.received(message, resource, scope)
            assert not isinstance(span, str)  # checked when it was decoded
            self.spans.append(span)
        self.pending.clear()
        return self.spans


def _request_type() -> Any:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    return ExportTraceServiceRequest


def decode_protobuf(body: bytes, *, check_only: bool = False) -> Decoded:
    """The request's spans; with `check_only`, its messages checked and kept pending."""
    from google.protobuf.message import DecodeError

    request = _request_type()()
    try:
        request.ParseFromString(body)
    except (DecodeError, RecursionError, ValueError) as error:
        raise OtlpDecodeError(
            f"not an OTLP ExportTraceServiceRequest in protobuf: {error}"
        ) from None
    return _checked_request(request) if check_only else _from_request(request)


def decode_json(body: bytes | str, *, check_only: bool = False) -> Decoded:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise OtlpDecodeError(f"not JSON: {error}") from None
    return decode_json_document(document, check_only=check_only)


def decode_json_document(document: Any, *, check_only: bool = False) -> Decoded:
    from google.protobuf import json_format

    if not isinstance(document, dict):
        raise OtlpDecodeError(
            f"OTLP/JSON must be an object with 'resourceSpans', got {type(document).__name__}"
        )
    _check_depth(document)
    request = _request_type()()
    bad_ids: list[str] = []  # spans left out for an undecodable id: rejected, not the request
    try:
        converted = _ids_to_base64(document, bad_ids)
    except _BadId as error:  # an id outside any span: nothing to reject it with
        raise OtlpDecodeError(str(error)) from None
    try:
        json_format.ParseDict(converted, request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as error:
        raise OtlpDecodeError(f"not OTLP/JSON trace data: {error}") from None
    decoded = _checked_request(request) if check_only else _from_request(request)
    if bad_ids:
        decoded.rejected += len(bad_ids)
        decoded.errors[:0] = bad_ids
    return decoded


def _check_depth(document: Any) -> None:
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > _MAX_JSON_DEPTH:
            raise OtlpDecodeError(f"OTLP/JSON nested deeper than {_MAX_JSON_DEPTH} levels")
        if isinstance(value, dict):
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)


class _BadId(OtlpDecodeError):
    """An id that is neither hex nor base64 of the right length."""


def _ids_to_base64(value: Any, bad_ids: list[str], where: str = "") -> Any:
    """OTLP/JSON writes ids in hex; protobuf's JSON mapping wants base64 bytes.

    A span with an id that is neither is left out, its reason added to `bad_ids`.
    """
    if isinstance(value, list):
        return [_ids_to_base64(item, bad_ids, where) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {}
    for key, item in value.items():
        if key in _ID_BYTES and isinstance(item, str):
            item = _id_as_base64(where + key, item, _ID_BYTES[key])
        elif key in _OLD_NAMES:  # OTLP before 0.19, as Tempo's API still writes it
            key = _OLD_NAMES[key]
        if key == "spans" and isinstance(item, list):
            converted[key] = _spans_to_base64(item, bad_ids)
        else:
            converted[key] = _ids_to_base64(item, bad_ids, "link " if key == "links" else where)
    return converted


def _spans_to_base64(spans: list[Any], bad_ids: list[str]) -> list[Any]:
    kept = []
    for span in spans:
        try:
            kept.append(_ids_to_base64(span, bad_ids))
        except _BadId as error:
            name = span.get("name", "") if isinstance(span, dict) else ""
            bad_ids.append(f"span {name!r}: {error}")
    return kept


def _id_as_base64(field: str, value: str, size: int) -> str:
    """Hex as the specification says; base64 as protobuf's own JSON mapping (Tempo) writes."""
    if value == "":
        return value
    if len(value) == 2 * size and _HEX_DIGITS.fullmatch(value):
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise _BadId(
            f"{field} {value[:40]!r} is neither {2 * size} hex digits nor base64 of {size} bytes"
        )
    return value


def _messages(request: Any) -> Iterator[tuple[Any, Resource, InstrumentationScope]]:
    for resource_spans in request.resource_spans:
        resource = Resource(
            _attributes(resource_spans.resource.attributes), resource_spans.schema_url or None
        )
        for scope_spans in resource_spans.scope_spans:
            scope = InstrumentationScope(
                scope_spans.scope.name,
                scope_spans.scope.version or None,
                scope_spans.schema_url or None,
            )
            for message in scope_spans.spans:
                yield message, resource, scope


def _from_request(request: Any) -> Decoded:
    decoded = Decoded(spans=[])
    append = decoded.spans.append
    for message, resource, scope in _messages(request):
        received = _link_problem(message.links) or _OtlpSpan.received(message, resource, scope)
        if isinstance(received, str):
            decoded.reject(message, received)
        else:
            append(received)
    return decoded


def _checked_request(request: Any) -> Decoded:
    decoded = Decoded(spans=[])
    append = decoded.pending.append
    for message, resource, scope in _messages(request):
        problem = (
            _id_problem(message.trace_id, message.span_id, message.parent_span_id)
            or _field_problem(
                message.name,
                message.kind,
                message.status.code,
                message.start_time_unix_nano,
                message.end_time_unix_nano,
            )
            or _link_problem(message.links)
        )
        if problem:
            decoded.reject(message, problem)
        else:
            append((message, resource, scope))
    return decoded


_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
_UNSET = Status(StatusCode.UNSET)


def _id_problem(trace_id: bytes, span_id: bytes, parent_id: bytes) -> str | None:
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        return f"invalid trace id {trace_id.hex()!r}: expected 16 bytes, not all zero"
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        return f"invalid span id {span_id.hex()!r}: expected 8 bytes, not all zero"
    if parent_id and len(parent_id) != 8:
        return f"invalid parent span id {parent_id.hex()!r}: expected 8 bytes"
    return None


def _link_problem(links: Any) -> str | None:
    # ids of the right size only; all zeros is allowed: the specification keeps a
    # link to an invalid context when it has attributes or a trace state
    for number, link in enumerate(links, start=1):
        if len(link.trace_id) != 16:
            return f"link {number}: invalid trace id {link.trace_id.hex()!r}: expected 16 bytes"
        if len(link.span_id) != 8:
            return f"link {number}: invalid span id {link.span_id.hex()!r}: expected 8 bytes"
    return None


def _field_problem(name: str, kind: int, code: int, start: int, end: int) -> str | None:
    if kind not in _KINDS:
        return f"unknown kind {kind} (OTLP kinds are 0 to 5)"
    if code not in _STATUSES:
        return f"unknown status code {code} (OTLP codes are 0 to 2)"
    if not name:
        return "no name (OTLP requires one)"
    if end and end < start:
        return "ends before it starts"
    return None


class _OtlpSpan(ReceivedSpan):
    """A received span whose attributes, events and links decode on first use.

    What linking spans into trees needs (ids, name, kind, status, times) is
    read at once; the rest waits, so the receiver answers an export fast.
    """

    @classmethod
    def received(
        cls, message: Any, resource: Resource, scope: InstrumentationScope
    ) -> _OtlpSpan | str:
        """The span of one OTLP `Span` message, or what is wrong with it.

        Each field is read once: a protobuf field read builds a Python object, and
        a receiver answering a 512-span export reads thousands.
        """
        trace_id, span_id, parent_id = message.trace_id, message.span_id, message.parent_span_id
        name, kind, status = message.name, message.kind, message.status
        code, start, end = status.code, message.start_time_unix_nano, message.end_time_unix_nano
        problem = _id_problem(trace_id, span_id, parent_id) or _field_problem(
            name, kind, code, start, end
        )
        if problem:
            return problem
        number = int.from_bytes(trace_id, "big")
        flags_field = message.flags
        flags = TraceFlags(flags_field & 0xFF)
        trace_state = message.trace_state
        state = TraceState.from_header([trace_state]) if trace_state else None
        parent = None
        if parent_id and parent_id != _ZERO_SPAN:
            remote = bool(flags_field & _IS_REMOTE) if flags_field & _HAS_IS_REMOTE else False
            parent = SpanContext(number, int.from_bytes(parent_id, "big"), remote, flags)
        description = status.message
        if code == 0 and not description:
            span_status = _UNSET
        else:
            kept = _STATUSES[code]
            # the SDK keeps a description only on ERROR, as the API does
            span_status = Status(kept, description or None if kept is StatusCode.ERROR else None)
        span = cls(
            name=name,
            context=SpanContext(number, int.from_bytes(span_id, "big"), False, flags, state),
            parent=parent,
            resource=resource,
            kind=_KINDS[kind],
            status=span_status,
            start_time=start,
            end_time=end or start,
            instrumentation_scope=scope,
        )
        span._message = message
        return span

    _message: Any = None  # the OTLP message until its attributes, events and links are read

    def _decode(self) -> None:
        message = self._message
        if message is None:
            return
        self._attributes = _attributes(message.attributes)
        self._events = [
            Event(event.name, _attributes(event.attributes), event.time_unix_nano)
            for event in message.events
        ]
        self._links = [_link(link) for link in message.links]
        self._message = None  # decoded: the request's memory can go

    @property
    def attributes(self) -> Any:
        self._decode()
        return super().attributes

    @property
    def events(self) -> Any:
        self._decode()
        return super().events

    @property
    def links(self) -> Any:
        self._decode()
        return super().links


def _link(link: Any) -> Link:
    state = TraceState.from_header([link.trace_state]) if link.trace_state else None
    context = SpanContext(
        int.from_bytes(link.trace_id, "big"),
        int.from_bytes(link.span_id, "big"),
        True,
        TraceFlags(link.flags & 0xFF),
        state,
    )
    return Link(context, _attributes(link.attributes))


def _attributes(pairs: Iterable[Any]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _value(value: Any) -> Any:
    field = value.WhichOneof("value")
    if field is None:
        return None
    if field == "array_value":
        return tuple(_value(item) for item in value.array_value.values)
    if field == "kvlist_value":
        return {pair.key: _value(pair.value) for pair in value.kvlist_value.values}
    return getattr(value, field)


# -- encoding --------------------------------------------------------------------------
def encode_protobuf(spans: Iterable[ReadableSpan]) -> bytes:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    message: bytes = encode_spans(list(spans)).SerializeToString()
    return message


def encode_json_document(spans: Iterable[ReadableSpan]) -> dict[str, Any]:
    """OTLP/JSON as the specification writes it: hex ids, integer enums, camelCase keys."""
    from google.protobuf import json_format
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    document: dict[str, Any] = json_format.MessageToDict(
        encode_spans(list(spans)), use_integers_for_enums=True
    )
    return dict(_ids_to_hex(document))


def _ids_to_hex(value: Any) -> Any:
    if isinstance(value, list):
        return [_ids_to_hex(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        key: base64.b64decode(item).hex()
        if key in _ID_BYTES and isinstance(item, str)
        else _ids_to_hex(item)
        for key, item in value.items()
    }


def iter_json_documents(text: str) -> Iterator[Any]:
    """One JSON document, or JSON Lines (one per line, as the collector's file exporter writes)."""
    stripped = text.strip()
    try:
        yield json.loads(stripped)
        return
    except ValueError:
        pass
    except RecursionError:
        raise OtlpDecodeError("JSON nested too deeply") from None
    for number, line in enumerate(stripped.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except (ValueError, RecursionError) as error:
            raise OtlpDecodeError(f"line {number}: not JSON: {error}") from None
