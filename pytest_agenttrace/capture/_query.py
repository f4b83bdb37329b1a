"""A navigable, read-only view over captured spans: traces, roots, parents, children."""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Union

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

NamePattern = Union[str, "re.Pattern[str]"]

KIND_NAMES: dict[str, SpanKind] = {kind.name.lower(): kind for kind in SpanKind}
STATUS_NAMES: dict[str, StatusCode] = {code.name.lower(): code for code in StatusCode}


class _Present:
    """Matches any value, as long as the attribute is there (`*` in the text form)."""

    _instance: _Present | None = None

    def __new__(cls) -> _Present:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "*"


PRESENT: Any = _Present()


def to_kind(value: SpanKind | str) -> SpanKind:
    if isinstance(value, SpanKind):
        return value
    try:
        return KIND_NAMES[value.lower()]
    except (KeyError, AttributeError):
        raise ValueError(
            f"unknown span kind {value!r}; valid kinds: {', '.join(KIND_NAMES)}"
        ) from None


def to_status(value: StatusCode | str) -> StatusCode:
    if isinstance(value, StatusCode):
        return value
    try:
        return STATUS_NAMES[value.lower()]
    except (KeyError, AttributeError):
        raise ValueError(
            f"unknown span status {value!r}; valid statuses: {', '.join(STATUS_NAMES)}"
        ) from None


_GLOB_CHAR = re.compile(r"[*?\[]")


def is_glob(name: str) -> bool:
    """Whether a name pattern has a glob character (`*`, `?`, `[`): else it is literal."""
    return _GLOB_CHAR.search(name) is not None


def name_matches(pattern: NamePattern, name: str) -> bool:
    """Glob (`*`, `?`, `[...]`) for strings, full match for compiled regexes."""
    if isinstance(pattern, str):
        if not is_glob(pattern):
            return pattern == name
        return fnmatch.fnmatchcase(name, pattern)
    return pattern.fullmatch(name) is not None


def _same_value(want: Any, got: Any) -> bool:
    """`want == got`, except that bool and number differ (Python has True == 1, OTel
    does not), sequences compare item by item (OTel stores tuples, users write
    lists) and NaN equals NaN (so a rendered NaN pastes back)."""
    if isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(want) == len(got) and all(map(_same_value, want, got))
    if isinstance(want, (bool, int, float)) and isinstance(got, (bool, int, float)):
        if isinstance(want, bool) != isinstance(got, bool):
            return False
        return want == got or (want != want and got != got)
    return bool(want == got)


def attribute_mismatches(
    expected: Mapping[str, Any], actual: Mapping[str, Any]
) -> list[tuple[str, Any, Any]]:
    """(key, expected, got) for each expected attribute that is absent or different.

    `got` is the `MISSING` marker when the key is absent. Matchers compare with
    `expected == actual`, so dirty-equals style objects work.
    """
    problems = []
    for key, want in expected.items():
        if key not in actual:
            problems.append((key, want, MISSING))
            continue
        got = actual[key]
        try:
            same = _same_value(want, got)
        except Exception:  # a matcher must never turn a mismatch into a crash
            same = False
        if not same:
            problems.append((key, want, got))
    return problems


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


class ReceivedSpan(ReadableSpan):
    """A span from another process (the OTLP receiver) or from a stored trace file."""


class CapturedSpan:
    """One captured span with its place in the tree. `readable` is the SDK `ReadableSpan`."""

    __slots__ = (
        "readable",
        "parent",
        "_children",
        "trace",
        "trace_id",
        "span_id",
        "parent_span_id",
        "_context",
    )

    def __init__(self, readable: ReadableSpan) -> None:
        self._read(readable)

    def _read(self, readable: ReadableSpan) -> None:
        self.readable = readable
        # Read once: a span's ids never change, and building a forest of 100k spans
        # read each about twice through the SDK span's context (memory-bound).
        context = readable.context
        # its id keys the capture's note of where the span started (Record),
        # looked up without reading the SDK span again
        self._context = context
        self.trace_id: int = context.trace_id if context is not None else 0
        self.span_id: int = context.span_id if context is not None else 0
        parent = readable.parent
        self.parent_span_id: int | None = parent.span_id if parent is not None else None
        self.parent: CapturedSpan | None = None
        self._children: list[CapturedSpan] | None = None  # most spans are leaves
        self.trace: Trace = None  # type: ignore[assignment]  # set by SpanForest

    @property
    def children(self) -> list[CapturedSpan]:
        """Direct children, in start order."""
        children = self._children
        return children if children is not None else []

    # -- identity --------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.readable.name

    @property
    def kind(self) -> SpanKind:
        return self.readable.kind

    @property
    def status(self) -> StatusCode:
        return self.readable.status.status_code

    @property
    def status_description(self) -> str | None:
        return self.readable.status.description

    @property
    def attributes(self) -> Mapping[str, Any]:
        return self.readable.attributes or {}

    @property
    def events(self) -> Sequence[Any]:
        return self.readable.events

    @property
    def links(self) -> Sequence[Any]:
        return self.readable.links

    @property
    def resource(self) -> Mapping[str, Any]:
        """Attributes of the span's resource (the process or service that made it)."""
        resource = self.readable.resource
        return resource.attributes if resource is not None else {}

    @property
    def service(self) -> str | None:
        """The resource's `service.name`: `unknown_service` for an SDK default."""
        name = self.resource.get("service.name")
        return None if name is None else str(name)

    @property
    def received(self) -> bool:
        """True for a span from another process (or a stored trace), not this one's SDK."""
        return isinstance(self.readable, ReceivedSpan)

    @property
    def has_remote_parent(self) -> bool:
        parent = self.readable.parent
        return parent is not None and parent.is_remote

    @property
    def start_time(self) -> int:
        return self.readable.start_time or 0

    @property
    def end_time(self) -> int | None:
        return self.readable.end_time

    @property
    def ended(self) -> bool:
        return self.readable.end_time is not None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, None while the span is open."""
        if self.readable.end_time is None or self.readable.start_time is None:
            return None
        return (self.readable.end_time - self.readable.start_time) / 1e9

    # -- navigation ------------------------------------------------------------
    @property
    def is_root(self) -> bool:
        return self.parent is None

    def descendants(self) -> list[CapturedSpan]:
        """All spans below this one, depth first, children in start order."""
        found: list[CapturedSpan] = []
        stack = list(reversed(self.children))
        while stack:
            span = stack.pop()
            found.append(span)
            stack.extend(reversed(span.children))
        return found

    def ancestors(self) -> list[CapturedSpan]:
        """Parent, grandparent, ... up to the root of this span's fragment."""
        chain = []
        span = self.parent
        while span is not None:
            chain.append(span)
            span = span.parent
        return chain

    def ancestor_chain(
        self, describe: Callable[[CapturedSpan], str] | None = None, *, limit: int = 6
    ) -> str:
        """`parent < grandparent < ...` for messages ("" for a root). Past `limit`
        names a deep chain (an agent calling itself) ends in `…`, so a line stays a
        line."""
        names: list[str] = []
        span = self.parent
        while span is not None:
            if len(names) == limit:
                names.append("…")
                break
            names.append(describe(span) if describe is not None else span.name)
            span = span.parent
        return " < ".join(names)

    def matches(
        self,
        name: NamePattern | None = None,
        *,
        kind: SpanKind | str | None = None,
        status: StatusCode | str | None = None,
        attributes: Mapping[str, Any] | None = None,
        service: str | None = None,
    ) -> bool:
        if name is not None and not name_matches(name, self.name):
            return False
        if kind is not None and self.kind is not to_kind(kind):
            return False
        if status is not None and self.status is not to_status(status):
            return False
        if service is not None and not fnmatch.fnmatchcase(self.service or "", service):
            return False
        return not (attributes and attribute_mismatches(attributes, self.attributes))

    def describe(self) -> str:
        """One line for messages: name, kind, status, attributes."""
        parts = [self.name]
        if self.kind is not SpanKind.INTERNAL:
            parts.append(f"[{self.kind.name.lower()}]")
        if self.status is StatusCode.ERROR:
            parts.append("[error]")
        if self.attributes:
            rendered = ", ".join(f"{k}: {v!r}" for k, v in self.attributes.items())
            parts.append(f"{{{rendered}}}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"<CapturedSpan {self.name!r} {self.kind.name.lower()} "
            f"trace={self.trace_id:032x} span={self.span_id:016x}>"
        )


class _Services:
    """The `service.name`s among a forest's spans, computed once on first use."""

    def __init__(self, spans: list[CapturedSpan]) -> None:
        self._spans = spans
        self._names: set[str | None] | None = None

    @property
    def names(self) -> set[str | None]:
        if self._names is None:
            self._names = {span.service for span in self._spans}
        return self._names


class Trace:
    """The captured spans that share one trace id."""

    # a test that makes many small traces holds one of these per trace
    __slots__ = ("trace_id", "spans", "_forest_services")

    def __init__(self, trace_id: int, forest_services: _Services | None = None) -> None:
        self.trace_id = trace_id
        self.spans: list[CapturedSpan] = []
        self._forest_services = forest_services or _Services(self.spans)

    def shows_service(self, span: CapturedSpan) -> bool:
        """Whether a rendering names `span`'s service: on roots and wherever the service
        changes, when the spans came from more than one service (a pasted tree keeps them)."""
        if len(self._forest_services.names) < 2:
            return False
        return span.parent is None or span.parent.service != span.service

    @property
    def roots(self) -> list[CapturedSpan]:
        return [span for span in self.spans if span.parent is None]

    def __len__(self) -> int:
        return len(self.spans)

    def __iter__(self) -> Iterator[CapturedSpan]:
        return iter(self.spans)

    def __repr__(self) -> str:
        roots = ", ".join(repr(root.name) for root in self.roots)
        return f"<Trace {self.trace_id:032x}: {len(self.spans)} spans, roots {roots}>"


# How a name that is a line of the tree syntax selects spans: set by tree/_select.py
# (capture cannot import tree). Given the text, it returns a predicate, or None for
# a plain name glob.
LINE_SELECTOR: list[Callable[[str], Callable[[CapturedSpan], bool] | None]] = []


class SpanQueries:
    """find() and one() over `spans` (finished spans in start order)."""

    @property
    def spans(self) -> list[CapturedSpan]:
        raise NotImplementedError

    def find(
        self,
        name: NamePattern | None = None,
        *,
        kind: SpanKind | str | None = None,
        status: StatusCode | str | None = None,
        attributes: Mapping[str, Any] | None = None,
        service: str | None = None,
    ) -> list[CapturedSpan]:
        """Finished spans matching every given criterion (name and service: globs; name
        also a compiled regex, or a line of the tree syntax: `POST [client]`)."""
        if kind is not None:
            kind = to_kind(kind)
        if status is not None:
            status = to_status(status)
        spans: Iterable[CapturedSpan] = self.spans
        line = LINE_SELECTOR[0](name) if isinstance(name, str) and LINE_SELECTOR else None
        if line is not None:
            spans, name = [span for span in spans if line(span)], None
        return [
            span
            for span in spans
            if span.matches(name, kind=kind, status=status, attributes=attributes, service=service)
        ]

    def one(
        self,
        name: NamePattern | None = None,
        *,
        kind: SpanKind | str | None = None,
        status: StatusCode | str | None = None,
        attributes: Mapping[str, Any] | None = None,
        service: str | None = None,
    ) -> CapturedSpan:
        """The single matching span; fails listing matches or near misses otherwise."""
        __tracebackhide__ = True
        found = self.find(name, kind=kind, status=status, attributes=attributes, service=service)
        if len(found) == 1:
            return found[0]
        query = describe_query(
            name, kind=kind, status=status, attributes=attributes, service=service
        )
        if found:
            lines = [f"Expected exactly one span matching {query}, found {len(found)}:"]
            lines += [f"- {span.describe()}" for span in found]
            lines += ["", "Narrow the query (attributes=..., kind=...) or use find() for all."]
        else:
            lines = [f"Expected exactly one span matching {query}, found none."]
            near = self._near_misses(name)
            if near:
                lines.append("Near misses:")
                lines += [
                    f"- {span.describe()}{_why_not(span, kind, status, attributes, service)}"
                    for span in near
                ]
            else:
                lines.append(f"Captured {len(self.spans)} span(s); none is close.")
        raise AssertionError("\n".join(lines))

    def _near_misses(self, name: NamePattern | None, limit: int = 5) -> list[CapturedSpan]:
        if name is None:
            return self.spans[:limit]
        same_name = [span for span in self.spans if name_matches(name, span.name)]
        if same_name:
            return same_name[:limit]
        if not isinstance(name, str):
            return []
        names = sorted({span.name for span in self.spans})
        closest_first = difflib.get_close_matches(name, names, n=limit, cutoff=0.6)
        rank = {close: position for position, close in enumerate(closest_first)}
        near = [span for span in self.spans if span.name in rank]
        return sorted(near, key=lambda span: rank[span.name])[:limit]


_SpanIndex = tuple[dict[int, CapturedSpan], dict[tuple[int, int], CapturedSpan]]


def _span_index(spans: list[CapturedSpan]) -> _SpanIndex:
    """Span id -> span, one dict for the forest (a dict per trace cost a test of
    many two-span traces 100 bytes a span); an id that two traces share is rare
    (the SDK draws 64 random bits) and goes to the second dict, by trace and id.
    Within a trace, the later span wins."""
    by_id: dict[int, CapturedSpan] = {}
    repeated: dict[tuple[int, int], CapturedSpan] = {}
    for span in spans:
        held = by_id.setdefault(span.span_id, span)
        if held is not span:
            if held.trace_id == span.trace_id:
                by_id[span.span_id] = span
            else:
                repeated[span.trace_id, span.span_id] = span
    return by_id, repeated


class SpanForest(SpanQueries):
    """Spans linked into trees. A span whose parent was not captured is a root."""

    def __init__(self, readable_spans: Iterable[ReadableSpan]) -> None:
        readables = list(readable_spans)
        # Allocated empty, then filled: the young-generation collections that 100k
        # allocations trigger then walk empty objects, not the SDK span each one
        # points at (spread over ~100 MB, that walk was a fifth of the build).
        self._spans = [CapturedSpan.__new__(CapturedSpan) for _ in readables]
        # One pass over the SDK spans (each a cache miss at 100k), which usually
        # come in start order already: sorting is then a no-op
        in_order, previous_start, all_ended = True, 0, True
        for span, readable in zip(self._spans, readables, strict=True):
            span._read(readable)
            start = readable.start_time or 0
            if start < previous_start:
                in_order = False
            previous_start = start
            if readable.end_time is None:
                all_ended = False
        self.all_ended = all_ended  # whether no span was still open when read
        if not in_order:
            self._spans.sort(key=lambda span: span.start_time)  # stable: ties keep input order
        services = _Services(self._spans)
        self.traces: list[Trace] = []
        traces: dict[int, Trace] = {}
        for span in self._spans:
            trace_id = span.trace_id
            found = traces.get(trace_id)
            if found is None:
                found = traces[trace_id] = Trace(trace_id, services)
                self.traces.append(found)
            found.spans.append(span)
            span.trace = found
        by_id, repeated = _span_index(self._spans)
        # dropped once the spans are linked: a capture holds its forest for the
        # whole test, and the index is 50 bytes a span; get() builds it again
        self._index: _SpanIndex | None = None
        self.roots: list[CapturedSpan] = []
        for span in self._spans:
            parent_id = span.parent_span_id
            if parent_id is None:
                self.roots.append(span)
                continue
            parent = by_id.get(parent_id)  # self.get(), inlined: once per span
            if parent is not None and parent.trace_id != span.trace_id:
                parent = repeated.get((span.trace_id, parent_id)) if repeated else None
            if parent is None:
                self.roots.append(span)
                continue
            span.parent = parent
            if parent._children is None:
                parent._children = [span]
            else:
                parent._children.append(span)

    @property
    def spans(self) -> list[CapturedSpan]:
        return self._spans

    def get(self, trace_id: int, span_id: int) -> CapturedSpan | None:
        if self._index is None:
            self._index = _span_index(self._spans)
        by_id, repeated = self._index
        found = by_id.get(span_id)
        if found is not None and found.trace_id == trace_id:
            return found
        return repeated.get((trace_id, span_id)) if repeated else None

    def wrap(self, span: CapturedSpan | ReadableSpan) -> CapturedSpan | None:
        if isinstance(span, CapturedSpan):
            return span
        context = span.context
        return None if context is None else self.get(context.trace_id, context.span_id)


def _why_not(
    span: CapturedSpan,
    kind: SpanKind | str | None,
    status: StatusCode | str | None,
    attributes: Mapping[str, Any] | None,
    service: str | None = None,
) -> str:
    """` -- kind: expected client, got internal; user.id: missing` for a near miss."""
    reasons = []
    if service is not None and not fnmatch.fnmatchcase(span.service or "", service):
        reasons.append(f"service: expected {service!r}, got {span.service!r}")
    if kind is not None and span.kind is not to_kind(kind):
        reasons.append(f"kind: expected {to_kind(kind).name.lower()}, got {span.kind.name.lower()}")
    if status is not None and span.status is not to_status(status):
        reasons.append(
            f"status: expected {to_status(status).name.lower()}, got {span.status.name.lower()}"
        )
    for key, want, got in attribute_mismatches(attributes or {}, span.attributes):
        got_text = "missing" if got is MISSING else f"expected {want!r}, got {got!r}"
        reasons.append(f"{key}: {got_text}")
    return " -- " + "; ".join(reasons) if reasons else ""


def describe_query(
    name: NamePattern | None = None,
    *,
    kind: SpanKind | str | None = None,
    status: StatusCode | str | None = None,
    attributes: Mapping[str, Any] | None = None,
    service: str | None = None,
) -> str:
    parts = []
    if name is not None:
        parts.append(f"name={(name if isinstance(name, str) else name.pattern)!r}")
    if kind is not None:
        parts.append(f"kind={to_kind(kind).name.lower()}")
    if status is not None:
        parts.append(f"status={to_status(status).name.lower()}")
    if attributes:
        parts.append(f"attributes={dict(attributes)!r}")
    if service is not None:
        parts.append(f"service={service!r}")
    return "(" + ", ".join(parts) + ")" if parts else "(any span)"


def roots_of(spans: Any) -> list[CapturedSpan]:
    forest = getattr(spans, "forest", None)
    if isinstance(forest, SpanForest):
        return list(forest.roots)
    if isinstance(spans, SpanForest):
        return list(spans.roots)
    if isinstance(spans, CapturedSpan):
        return [spans]
    if isinstance(spans, (str, bytes)) or not isinstance(spans, Iterable):
        raise TypeError(
            "spans must be the agenttrace capture, a SpanForest, a CapturedSpan or an "
            f"iterable of spans, got {type(spans).__name__}"
        )
    readables = []
    for item in spans:
        if isinstance(item, CapturedSpan):
            readables.append(item.readable)
        elif isinstance(item, ReadableSpan):
            readables.append(item)
        else:
            raise TypeError(f"expected ReadableSpan or CapturedSpan items, got {item!r}")
    return list(SpanForest(readables).roots)
