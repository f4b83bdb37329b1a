"""A spy on the global text-map propagator: which inject()/extract() calls happened.

Propagation failures are invisible in the spans themselves (a consumer that
never extracted looks exactly like one that extracted a malformed header), so
the spy records every call with the carrier's trace headers, the span that was
active and the context that came out, and failure messages quote it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators import textmap

from ..capture._router import RawOrigin, raw_origin

TRACEPARENT = "traceparent"
_TRACE_HEADERS = ("traceparent", "tracestate", "baggage")
_HEX = re.compile(r"[0-9a-f]+")
_VALUE_PREVIEW = 64


@dataclasses.dataclass(frozen=True)
class Origin:
    """Where something happened: thread and asyncio task (None outside a task)."""

    thread_id: int
    thread_name: str
    task_id: int | None = None
    task_name: str | None = None

    @classmethod
    def here(cls) -> Origin:
        return cls.of(raw_origin())

    @classmethod
    def of(cls, raw: RawOrigin) -> Origin:
        thread, task = raw
        if task is None:
            return cls(thread.ident or 0, thread.name)
        return cls(thread.ident or 0, thread.name, id(task), task.get_name())

    def describe(self) -> str:
        if self.task_name is not None:
            return f"task {self.task_name!r} in thread {self.thread_name!r}"
        return f"thread {self.thread_name!r}"


@dataclasses.dataclass(frozen=True)
class SpanRef:
    """A span as the spy saw it: enough to name it in a message and find it later."""

    trace_id: int
    span_id: int
    name: str | None  # None for a remote or non-recording span

    def describe(self) -> str:
        if self.name is not None:
            return f"`{self.name}`"
        return f"remote span {self.span_id:016x} (trace {self.trace_id:032x})"


def _span_ref(context: Context | None) -> SpanRef | None:
    span = trace.get_current_span(context)
    span_context = span.get_span_context()
    if not span_context.is_valid:
        return None
    return SpanRef(span_context.trace_id, span_context.span_id, getattr(span, "name", None))


@dataclasses.dataclass(frozen=True)
class InjectCall:
    """One inject(): the headers it wrote and the span they point to."""

    time_ns: int
    origin: Origin
    active_span: SpanRef | None  # the span in the context that was injected
    headers: Mapping[str, str]  # trace headers in the carrier afterwards

    @property
    def traceparent(self) -> str | None:
        return self.headers.get(TRACEPARENT)

    def describe(self) -> str:
        where = self.active_span.describe() if self.active_span else "no active span"
        return f"inject() in {self.origin.describe()} with {where}: " + (
            f"traceparent {self.traceparent!r}" if self.traceparent else "wrote no traceparent"
        )


@dataclasses.dataclass(frozen=True)
class ExtractCall:
    """One extract(): what the carrier held, why it was (not) usable, what came out."""

    time_ns: int
    origin: Origin
    carrier_keys: tuple[str, ...] | None  # None when the carrier's keys are unknowable
    headers: Mapping[str, str]
    defect: str | None  # why the traceparent was unusable; None when it was fine
    active_span: SpanRef | None  # the span current when extract() was called
    extracted: SpanRef | None  # the remote parent in the resulting context

    @property
    def traceparent(self) -> str | None:
        return self.headers.get(TRACEPARENT)

    def diagnosis(self) -> str:
        """Why this extract() did or did not yield a parent, in words."""
        if self.extracted is not None:
            return (
                f"extract() in {self.origin.describe()} found traceparent "
                f"{self.traceparent!r} (parent {self.extracted.span_id:016x})"
            )
        if self.defect is not None:
            return f"extract() in {self.origin.describe()}: {self.defect}"
        return f"extract() in {self.origin.describe()} returned no span context"


def describe_keys(keys: tuple[str, ...] | None) -> str:
    if keys is None:
        return "keys unknown"
    if not keys:
        return "it was empty"
    return "keys: " + ", ".join(keys)


def diagnose_traceparent(value: Any) -> str | None:
    """Why OpenTelemetry's W3C propagator would reject this traceparent, or None.

    Mirrors `TraceContextTextMapPropagator.extract` (which accepts future
    versions with extra fields, and surrounding spaces/tabs) and names the first
    defect precisely.
    """
    if not isinstance(value, str):
        return f"traceparent malformed: {_preview(value)} is {_a(value)}, not a str"
    shown = _preview(value)
    text = value.strip(" \t")
    if not text:
        return f"traceparent malformed: {shown} is empty"
    parts = text.split("-")
    expected = "version-traceid-spanid-flags: 2, 32, 16 and 2 lowercase hex digits"
    if len(parts) < 4:
        return (
            f"traceparent malformed: {shown} is {len(text)} characters in {len(parts)} "
            f"dash-separated part(s) (expected 55 characters, {expected})"
        )
    version, trace_id, span_id, flags = parts[:4]
    for label, field, width in (
        ("version", version, 2),
        ("trace id", trace_id, 32),
        ("span id", span_id, 16),
        ("flags", flags, 2),
    ):
        if len(field) != width:
            return (
                f"traceparent malformed: {shown} has a {len(field)}-character {label} "
                f"{_preview(field)} (expected {width} hex digits; 55 characters in all, "
                f"{expected})"
            )
        if not _HEX.fullmatch(field):
            defect = "uppercase" if _HEX.fullmatch(field.lower()) else "non-hex"
            return (
                f"traceparent malformed: {shown} has {defect} characters in the {label} "
                f"{_preview(field)} (expected lowercase hex)"
            )
    if version == "ff":
        return f"traceparent malformed: {shown} has version ff, which W3C forbids"
    if version == "00" and len(parts) > 4:
        return (
            f"traceparent malformed: {shown} is {len(text)} characters, expected 55 "
            f"(version 00 allows no fields after the flags)"
        )
    if trace_id == "0" * 32:
        return f"traceparent malformed: {shown} has an all-zero trace id"
    if span_id == "0" * 16:
        return f"traceparent malformed: {shown} has an all-zero span id"
    return None


def _a(value: Any) -> str:
    """`an int`, `a list`: the value's type with its article."""
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _preview(value: Any) -> str:
    text = repr(value)
    if len(text) > _VALUE_PREVIEW:
        return text[: _VALUE_PREVIEW - 2] + "…" + text[-1]
    return text


def _carrier_keys(carrier: Any, getter: Any) -> tuple[str, ...] | None:
    try:
        if isinstance(carrier, Mapping):
            return tuple(str(key) for key in carrier)
        keys = getter.keys(carrier)
        return tuple(str(key) for key in keys) if keys else None
    except Exception:  # a spy never breaks the code it watches
        return None


def _read_headers(carrier: Any, getter: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in _TRACE_HEADERS:
        try:
            values = getter.get(carrier, name)
        except Exception:
            continue
        if values:
            found[name] = values[0] if isinstance(values, (list, tuple)) else values
    return found


def _raw_traceparent(carrier: Any, read: Any) -> Any:
    """The carrier's own traceparent value, before a getter made text of it: a getter
    that turns 123 into '123' would have the diagnosis count characters of an int."""
    if isinstance(carrier, Mapping):
        try:
            value = carrier.get(TRACEPARENT)
        except Exception:
            return read
        if isinstance(value, (list, tuple)):
            value = value[0] if value else read
        if value is not None and not isinstance(value, (str, bytes)):
            return value
    return read


def _extract_defect(
    carrier: Any, getter: Any, headers: Mapping[str, Any], propagator: Any = None
) -> str | None:
    if TRACEPARENT in headers:
        return diagnose_traceparent(_raw_traceparent(carrier, headers[TRACEPARENT]))
    keys = _carrier_keys(carrier, getter)
    if carrier is None:
        return "the carrier was None (no trace headers at all)"
    if not isinstance(carrier, Mapping) and (
        # no getter reads headers out of a scalar; the default one reads only mappings
        isinstance(carrier, (str, bytes, int, float)) or isinstance(getter, textmap.DefaultGetter)
    ):
        return _not_a_mapping(carrier)
    try:
        fields = set(propagator.fields) if propagator is not None else {TRACEPARENT}
    except Exception:
        fields = {TRACEPARENT}
    if TRACEPARENT not in fields:  # B3, Jaeger, a custom format: no traceparent expected
        return (
            f"{type(propagator).__name__} found no usable trace context in the carrier "
            f"(it reads {', '.join(sorted(fields)) or 'no fields'}; {describe_keys(keys)})"
        )
    return f"the carrier had no traceparent ({describe_keys(keys)})"


def _not_a_mapping(carrier: Any) -> str:
    text = f"the carrier was {_a(carrier)}, not a mapping of trace headers: {_preview(carrier)}"
    if isinstance(carrier, (str, bytes)):
        try:
            if isinstance(json.loads(carrier), Mapping):
                return text + " (a JSON object encoded once more: decode it before extract())"
        except (ValueError, RecursionError):
            pass
    return text


class PropagatorSpy(textmap.TextMapPropagator):
    """Delegates to the propagator it wraps and records every call."""

    def __init__(self, inner: textmap.TextMapPropagator) -> None:
        self.inner = inner
        self.injects: list[InjectCall] = []
        self.extracts: list[ExtractCall] = []
        self.recording = True

    def inject(
        self,
        carrier: textmap.CarrierT,
        context: Context | None = None,
        setter: textmap.Setter[textmap.CarrierT] = textmap.default_setter,
    ) -> None:
        self.inner.inject(carrier, context=context, setter=setter)
        if not self.recording:
            return
        try:
            headers = _read_headers(carrier, textmap.default_getter)
            self.injects.append(
                InjectCall(time.time_ns(), Origin.here(), _span_ref(context), headers)
            )
        except Exception:  # the carrier may not be readable back; never break the caller
            self.injects.append(InjectCall(time.time_ns(), Origin.here(), _span_ref(context), {}))

    def extract(
        self,
        carrier: textmap.CarrierT,
        context: Context | None = None,
        getter: textmap.Getter[textmap.CarrierT] = textmap.default_getter,
    ) -> Context:
        if not self.recording:
            return self.inner.extract(carrier, context=context, getter=getter)
        active = _span_ref(None)
        keys = _carrier_keys(carrier, getter)
        headers = _read_headers(carrier, getter)
        defect = _extract_defect(carrier, getter, headers, self.inner)
        result = self.inner.extract(carrier, context=context, getter=getter)
        extracted = _span_ref(result)
        if defect is not None and context is not None and extracted == _span_ref(context):
            extracted = None  # the caller's own context came back: nothing was extracted
        if extracted is not None:
            defect = None
        elif defect is None:
            defect = (
                f"the propagator ({type(self.inner).__name__}) ignored the valid "
                f"traceparent {headers.get(TRACEPARENT)!r}"
            )
        self.extracts.append(
            ExtractCall(
                time.time_ns(),
                Origin.here(),
                keys,
                {k: str(v) for k, v in headers.items()},
                defect,
                active,
                extracted,
            )
        )
        return result

    @property
    def fields(self) -> set[str]:
        return self.inner.fields

    def clear(self) -> None:
        self.injects.clear()
        self.extracts.clear()


def install_spy(
    spy: PropagatorSpy | None = None,
) -> tuple[PropagatorSpy, textmap.TextMapPropagator]:
    """Wrap the global propagator; returns the spy and what to restore.

    Called once the propagate API is imported (`_late`): importing it here first
    would cost suites that never propagate. A `spy` the test already holds (handed
    out before that import) is the one installed, so its reference keeps recording.
    """
    from opentelemetry import propagate

    previous = propagate.get_global_textmap()
    if spy is None:
        spy = PropagatorSpy(previous)
    else:
        spy.inner = previous
    propagate.set_global_textmap(spy)
    return spy, previous


def uninstall_spy(spy: PropagatorSpy, previous: textmap.TextMapPropagator) -> bool:
    """Put the user's propagator back, unless the code under test replaced ours.

    If the test set its own propagator after ours, that one stays: replacing it
    with the pre-test one would lose the user's choice. Returns False then: calls
    through the test's propagator were not recorded.
    """
    from opentelemetry import propagate

    spy.recording = False
    if propagate.get_global_textmap() is not spy:
        return False
    propagate.set_global_textmap(previous)
    return True
