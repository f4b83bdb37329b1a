"""Hypothesis strategies for fuzzing trace-context consumers and span-tree code.

W3C ``traceparent`` values, valid and malformed in each way the propagator spy
diagnoses; whole carriers (valid, with garbage ``tracestate``/``baggage``, and
ones that carry no usable context: missing keys, malformed or non-string
values, not a mapping at all); and span-tree topologies that build expected
trees and real spans. Needs the ``[hypothesis]`` extra.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as error:  # pragma: no cover - tested in a subprocess
    raise ImportError(
        "pytest_agenttrace.strategies needs Hypothesis: "
        "pip install 'pytest-agenttrace-otel[hypothesis]'"
    ) from error

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .tree._model import ExpectedSpan, span

__all__ = [
    "TRACEPARENT_DEFECTS",
    "SpanTree",
    "carriers",
    "malformed_carriers",
    "malformed_traceparents",
    "span_trees",
    "traceparents",
]

_HEX = "0123456789abcdef"
_GLOB = re.compile(r"[*?\[]")


# -- traceparent ------------------------------------------------------------------------------
def _hex(width: int) -> st.SearchStrategy[str]:
    return st.text(_HEX, min_size=width, max_size=width)


def _ids() -> st.SearchStrategy[tuple[str, str]]:
    return st.tuples(
        _hex(32).filter(lambda text: text != "0" * 32),
        _hex(16).filter(lambda text: text != "0" * 16),
    )


def traceparents(*, sampled: bool | None = None) -> st.SearchStrategy[str]:
    """Valid W3C ``traceparent`` values (version 00), sampled or not unless `sampled` says."""
    flags = {None: st.sampled_from(["00", "01"]), True: st.just("01"), False: st.just("00")}
    # tuples().map(), not builds(): a failing example then shows the traceparent
    # itself, not the call that made it
    return st.tuples(_ids(), flags[sampled]).map(
        lambda drawn: f"00-{drawn[0][0]}-{drawn[0][1]}-{drawn[1]}"
    )


def _with_field(index: int, field: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A valid traceparent with its field `index` (0 version .. 3 flags) replaced."""

    def build(valid: str, replacement: str) -> str:
        parts = valid.split("-")
        parts[index] = replacement
        return "-".join(parts)

    return st.tuples(traceparents(), field).map(lambda drawn: build(*drawn))


def _wrong_length(width: int) -> st.SearchStrategy[str]:
    return st.integers(0, width + 4).filter(lambda n: n != width).flatmap(_hex)


def _with_uppercase(width: int) -> st.SearchStrategy[str]:
    return _hex(width).filter(lambda text: any(c in "abcdef" for c in text)).map(str.upper)


def _with_non_hex(width: int) -> st.SearchStrategy[str]:
    return st.builds(
        lambda text, at, char: text[:at] + char + text[at + 1 :],
        _hex(width),
        st.integers(0, width - 1),
        st.sampled_from("gxyz_+.G"),  # no space: one at either end would be stripped
    )


_FIELDS = (("version", 2), ("trace id", 32), ("span id", 16), ("flags", 2))

# Each way a traceparent can be malformed, as the propagator spy's diagnosis names it.
_DEFECTS: dict[str, st.SearchStrategy[str]] = {
    "empty": st.sampled_from(["", " ", "\t", " \t "]),
    "too few parts": st.one_of(
        st.text(_HEX + "-", max_size=60).filter(lambda text: text.count("-") < 3 and text),
        traceparents().map(lambda valid: valid.rsplit("-", 1)[0]),
    ),
    "field length": st.one_of(
        *(_with_field(i, _wrong_length(width)) for i, (_, width) in enumerate(_FIELDS))
    ),
    "uppercase": st.one_of(
        *(_with_field(i, _with_uppercase(width)) for i, (_, width) in enumerate(_FIELDS))
    ),
    "non-hex": st.one_of(
        *(_with_field(i, _with_non_hex(width)) for i, (_, width) in enumerate(_FIELDS))
    ),
    "version ff": _with_field(0, st.just("ff")),
    "fields after version 00": st.tuples(traceparents(), st.text(_HEX, max_size=8)).map("-".join),
    "all-zero trace id": _with_field(1, st.just("0" * 32)),
    "all-zero span id": _with_field(2, st.just("0" * 16)),
}
TRACEPARENT_DEFECTS: tuple[str, ...] = tuple(_DEFECTS)
"""The names `malformed_traceparents(defect=...)` takes, one per diagnosed defect."""


def malformed_traceparents(defect: str | None = None) -> st.SearchStrategy[str]:
    """Strings OpenTelemetry's W3C propagator rejects: one `defect` of
    `TRACEPARENT_DEFECTS`, or any of them."""
    if defect is None:
        return st.one_of(*_DEFECTS.values())
    if defect not in _DEFECTS:
        raise ValueError(
            f"malformed_traceparents(): unknown defect {defect!r}; "
            f"valid: {', '.join(TRACEPARENT_DEFECTS)}"
        )
    return _DEFECTS[defect]


# -- carriers ---------------------------------------------------------------------------------
def _tracestates() -> st.SearchStrategy[str]:
    member = st.builds(
        lambda key, value: f"{key}={value}",
        st.from_regex(r"[a-z][a-z0-9_\-]{0,11}", fullmatch=True),
        st.from_regex(r"[A-Za-z0-9._:]{1,12}", fullmatch=True),
    )
    return st.lists(member, min_size=1, max_size=4, unique_by=lambda m: m.split("=")[0]).map(
        ",".join
    )


def _baggages() -> st.SearchStrategy[str]:
    entry = st.builds(
        lambda key, value: f"{key}={value}",
        st.from_regex(r"[A-Za-z][A-Za-z0-9._]{0,11}", fullmatch=True),
        st.from_regex(r"[A-Za-z0-9._%]{1,12}", fullmatch=True).filter(
            lambda v: not re.search(r"%(?![0-9A-Fa-f]{2})", v)
        ),
    )
    return st.lists(entry, min_size=1, max_size=4).map(",".join)


def _garbage() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=40),
        st.sampled_from(["=", ",,,", "a=b=c", "=x", "k=", " , ", "ključ=vrijednost"]),
        st.builds(lambda n: "k=" + "v" * n, st.integers(300, 9000)),  # over the limits
        st.builds(lambda n: ",".join(f"k{i}=v" for i in range(n)), st.integers(33, 200)),
    )


def carriers(
    *, traceparent: st.SearchStrategy[str] | None = None, garbage: bool = False
) -> st.SearchStrategy[dict[str, str]]:
    """Carriers with a valid ``traceparent``: the context is usable, the consumer must
    continue that trace. Optional ``tracestate`` and ``baggage``, well formed, or
    with `garbage=True` anything at all (W3C says to drop a bad tracestate and keep
    the traceparent)."""
    states = _garbage() if garbage else _tracestates()
    baggages = _garbage() if garbage else _baggages()
    optional = st.fixed_dictionaries({}, optional={"tracestate": states, "baggage": baggages})
    return st.tuples(traceparent if traceparent is not None else traceparents(), optional).map(
        lambda drawn: {"traceparent": drawn[0], **drawn[1]}
    )


def _not_strings() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.integers(),
        st.floats(allow_nan=False),
        st.booleans(),
        # bytes of a malformed one: a getter that decodes bytes finds nothing usable either
        malformed_traceparents().map(str.encode),
        st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    )


def malformed_carriers(
    *, non_mappings: bool = True, non_string_values: bool = True
) -> st.SearchStrategy[Any]:
    """Carriers with no usable trace context: a consumer must start a new trace from
    them (and not raise). No ``traceparent`` key (empty, other keys, a mis-spelt or
    mis-cased key); a malformed ``traceparent``, with or without tracestate/baggage;
    with `non_string_values`, a traceparent that is not a string (OpenTelemetry's
    own getter makes extract() raise TypeError on some); with `non_mappings`, a
    carrier that is not a mapping (a bare traceparent string, JSON text, bytes,
    a list, None)."""
    misnamed = st.sampled_from(["Traceparent", "TRACEPARENT", "trace_parent", "traceparent "])
    choices = [
        st.dictionaries(
            st.text(max_size=12).filter(lambda key: key != "traceparent"),
            st.text(max_size=20),
            max_size=3,
        ),
        st.tuples(misnamed, traceparents()).map(lambda drawn: {drawn[0]: drawn[1]}),
        carriers(traceparent=malformed_traceparents()),
        carriers(traceparent=malformed_traceparents(), garbage=True),
    ]
    if non_string_values:
        choices.append(_not_strings().map(lambda value: {"traceparent": value}))
    if non_mappings:
        choices.append(
            st.one_of(
                st.none(),
                traceparents(),
                # JSON text, not yet decoded (sampled: a consumer that decodes it keeps
                # its spans)
                carriers(traceparent=traceparents(sampled=True)).map(json.dumps),
                traceparents().map(str.encode),
                st.integers(),
                carriers().map(lambda carrier: list(carrier.items())),
            )
        )
    return st.one_of(*choices)


# -- span trees -------------------------------------------------------------------------------
@dataclasses.dataclass
class SpanTree:
    """A span to make and the spans under it: a topology `span_trees()` draws."""

    name: str
    children: list[SpanTree] = dataclasses.field(default_factory=list)
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    kind: SpanKind = SpanKind.INTERNAL
    status: StatusCode = StatusCode.UNSET

    def walk(self) -> Iterator[SpanTree]:
        """This span and every one below it, parents first."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    @property
    def size(self) -> int:
        return sum(1 for _ in self.walk())

    @property
    def depth(self) -> int:
        """Levels: 1 for a span without children."""
        deepest, stack = 0, [(self, 1)]
        while stack:
            node, level = stack.pop()
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in node.children)
        return deepest

    def expected(self) -> ExpectedSpan:
        """The expectation this tree's spans match exactly (names taken literally)."""
        built: dict[int, ExpectedSpan] = {}
        for node in reversed(list(self.walk())):  # children before their parents
            name: Any = node.name
            if _GLOB.search(node.name):  # a literal name, not a glob
                name = re.compile(re.escape(node.name))
            built[id(node)] = span(
                name,
                *(built[id(child)] for child in node.children),
                attributes=node.attributes,
                kind=node.kind,
                status=None if node.status is StatusCode.UNSET else node.status,
            )
        return built[id(self)]

    def emit(self, tracer: trace.Tracer) -> None:
        """Make the spans with `tracer` under the current context, children in order."""
        stack: list[tuple[SpanTree, trace.Span | None]] = [(self, None)]
        open_spans: list[tuple[SpanTree, trace.Span]] = []  # the path to the last one started
        while stack:
            node, parent = stack.pop()
            while open_spans and open_spans[-1][1] is not parent:
                _end(*open_spans.pop())  # every child of that span is done
            context = trace.set_span_in_context(parent) if parent is not None else None
            started = tracer.start_span(
                node.name, context=context, kind=node.kind, attributes=node.attributes
            )
            open_spans.append((node, started))
            stack.extend((child, started) for child in reversed(node.children))
        while open_spans:
            _end(*open_spans.pop())

    def __repr__(self) -> str:
        return f"<SpanTree {self.name!r}: {self.size} span(s), depth {self.depth}>"


def _end(node: SpanTree, started: trace.Span) -> None:
    if node.status is not StatusCode.UNSET:
        started.set_status(Status(node.status))
    started.end()


_AGENT_NAMES = (
    "orchestrator",
    "retrieval_agent",
    "llm_agent",
    "validation_agent",
    "embed",
    "POST",
    "publish validation",
    "invoke_agent planner",
    "execute_tool search",
    "chat gpt-4o",
)
_ATTRIBUTE_VALUES = st.one_of(
    st.integers(-(2**31), 2**31),
    st.text(max_size=12),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.text(max_size=4), min_size=1, max_size=3),
)


def span_trees(
    *,
    names: st.SearchStrategy[str] | None = None,
    kinds: st.SearchStrategy[SpanKind] | None = None,
    statuses: st.SearchStrategy[StatusCode] | None = None,
    attributes: st.SearchStrategy[Mapping[str, Any]] | None = None,
    max_depth: int = 4,
    max_width: int = 3,
    max_spans: int = 50,
) -> st.SearchStrategy[SpanTree]:
    """Span-tree topologies: at most `max_depth` levels, `max_width` children per span
    and `max_spans` spans in all. Defaults: agent-like names, any kind, unset status,
    up to two `agent.*`/`document.id` attributes."""
    for argument, value, least in (
        ("max_depth", max_depth, 1),
        ("max_width", max_width, 0),
        ("max_spans", max_spans, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(
                f"span_trees(): {argument} must be a whole number >= {least}, got {value!r}"
            )
    for argument, given in (
        ("names", names),
        ("kinds", kinds),
        ("statuses", statuses),
        ("attributes", attributes),
    ):
        if given is not None and not isinstance(given, st.SearchStrategy):
            raise TypeError(
                f"span_trees(): {argument} must be a Hypothesis strategy, got {given!r}; "
                f"for fixed choices use st.sampled_from({given!r})"
            )
    names = names if names is not None else st.sampled_from(_AGENT_NAMES)
    kinds = kinds if kinds is not None else st.sampled_from(list(SpanKind))
    statuses = statuses if statuses is not None else st.just(StatusCode.UNSET)
    if attributes is None:
        keys = st.sampled_from(["agent.name", "agent.version", "document.id", "llm.tokens"])
        attributes = st.dictionaries(keys, _ATTRIBUTE_VALUES, max_size=2)

    @st.composite
    def trees(draw: st.DrawFn) -> SpanTree:
        def node() -> SpanTree:
            return SpanTree(draw(names), [], dict(draw(attributes)), draw(kinds), draw(statuses))

        root = node()
        budget = max_spans - 1
        level: Sequence[SpanTree] = [root]
        for _ in range(max_depth - 1):  # breadth first: the budget bounds every level
            below: list[SpanTree] = []
            for parent in level:
                count = draw(st.integers(0, min(max_width, budget)))
                budget -= count
                parent.children = [node() for _ in range(count)]
                below += parent.children
            if not below:
                break
            level = below
        return root

    return trees()
