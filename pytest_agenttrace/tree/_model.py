"""The expected-tree model, the Python builder and the model's text form.

Text form (see docs/syntax.md)::

    process_document {document.id: "42", agent.version: *}
      retrieval_agent
        >> POST [client]          # any depth below retrieval_agent
      llm_agent [x2]
      "GET /users/{id}" [server, error]
      ...
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from opentelemetry.trace import SpanKind, StatusCode

from .._errors import ExpectedTreeError
from ..capture._query import KIND_NAMES, PRESENT, STATUS_NAMES, NamePattern, to_kind, to_status

#: `count=` accepts an int or an inclusive (min, max) range; max None = unbounded.
CountSpec = Union[int, tuple[int, Optional[int]]]  # noqa: UP007, UP045  (3.9 runtime alias)

ELLIPSIS_LINE = "..."
DESCENDANT_PREFIX = ">>"
# Units the box-drawn rendering uses; each stands for one 4-column indentation step.
BOX_UNITS = ("├── ", "└── ", "│   ")
BOX_CHARS = frozenset("├└│─")
BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
COUNT_FLAG = re.compile(r"x(\d+)(?:(\.\.)(\d+)?)?")
SERVICE_FLAG = "service="
VALID_FLAGS = list(KIND_NAMES) + list(STATUS_NAMES)
VALID_FLAGS += ["ordered", "x<N>", "x<MIN>..<MAX>", "x<MIN>..", "service=<glob>"]


@dataclass(eq=False)
class ExpectedSpan:
    """One expected span line and the lines nested under it.

    `gaps` holds the positions in `children` where a `...` line stood (0 = before
    the first child); any gap allows further unlisted siblings, and under an
    ordered parent it is where they may appear.
    """

    name: NamePattern
    children: list[ExpectedSpan] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    kind: SpanKind | None = None
    status: StatusCode | None = None
    min_count: int = 1
    max_count: int | None = 1
    ordered: bool = False
    descendant: bool = False
    gaps: tuple[int, ...] = ()
    line_number: int | None = None
    service: str | None = None  # a glob over the resource's service.name

    @property
    def allows_extra(self) -> bool:
        return bool(self.gaps)

    @property
    def has_count(self) -> bool:
        return (self.min_count, self.max_count) != (1, 1)

    def __repr__(self) -> str:
        return f"<ExpectedSpan {format_expected_line(self)!r}>"


# --------------------------------------------------------------------------- builder


def span(
    name: NamePattern,
    *children: ExpectedSpan | Any,
    attributes: Mapping[str, Any] | None = None,
    kind: SpanKind | str | None = None,
    status: StatusCode | str | None = None,
    count: CountSpec | None = None,
    ordered: bool = False,
    descendant: bool = False,
    service: str | None = None,
) -> ExpectedSpan:
    """Build an expected span; `...` among `children` allows further unlisted children."""
    __tracebackhide__ = True
    if not isinstance(name, (str, re.Pattern)):
        raise ExpectedTreeError(f"span(): name must be a str or re.Pattern, got {name!r}")
    for argument, flag in (("ordered", ordered), ("descendant", descendant)):
        if not isinstance(flag, bool):  # "no" and "false" are truthy: never guess
            raise TypeError(f"span({name!r}): {argument}= must be True or False, got {flag!r}")
    listed, gaps = split_children(children, f"span({name!r})")
    low, high = _count_range(count, f"span({name!r})")
    if service is not None and (not isinstance(service, str) or not service.strip()):
        raise ExpectedTreeError(
            f"span({name!r}): service= must be a non-empty str (a glob), got {service!r}"
        )
    node = ExpectedSpan(
        name=name,
        children=listed,
        attributes=_checked_attributes(attributes, f"span({name!r})"),
        kind=_builder_value(to_kind, kind, "kind", name),
        status=_builder_value(to_status, status, "status", name),
        min_count=low,
        max_count=high,
        ordered=bool(ordered),
        descendant=bool(descendant),
        gaps=gaps,
        service=service,
    )
    check_ordered_children(node, ordered_everywhere=False)
    return node


def split_children(
    children: Iterable[Any], where: str
) -> tuple[list[ExpectedSpan], tuple[int, ...]]:
    __tracebackhide__ = True
    listed: list[ExpectedSpan] = []
    gaps: list[int] = []
    for position, child in enumerate(children):
        if child is Ellipsis:
            if not gaps or gaps[-1] != len(listed):
                gaps.append(len(listed))
        elif isinstance(child, ExpectedSpan):
            listed.append(child)
        else:
            raise ExpectedTreeError(
                f"{where}: child #{position + 1} must be span(...) or ..., got {child!r}"
            )
    return listed, tuple(gaps)


def _count_range(count: CountSpec | None, where: str) -> tuple[int, int | None]:
    __tracebackhide__ = True
    high: int | None
    if count is None:
        return 1, 1
    if isinstance(count, int) and not isinstance(count, bool):
        low, high = count, count
    elif (
        isinstance(count, tuple)
        and len(count) == 2
        and isinstance(count[0], int)
        and not isinstance(count[0], bool)
        and (count[1] is None or (isinstance(count[1], int) and not isinstance(count[1], bool)))
    ):
        low, high = count
    else:
        raise ExpectedTreeError(
            f"{where}: count must be an int or a (min, max) tuple (max None = no limit), "
            f"got {count!r}"
        )
    problem = count_problem(low, high)
    if problem:
        raise ExpectedTreeError(f"{where}: count {count!r}: {problem}")
    return low, high


def count_problem(low: int, high: int | None) -> str | None:
    if low < 0:
        return "the minimum cannot be negative"
    if high is not None and high < 1:
        return "the maximum must be at least 1 (use x0..1 for an optional span)"
    if high is not None and high < low:
        return f"the maximum {high} is below the minimum {low}"
    return None


def _checked_attributes(attributes: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    __tracebackhide__ = True
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise ExpectedTreeError(f"{where}: attributes must be a mapping, got {attributes!r}")
    for key in attributes:
        if not isinstance(key, str):
            raise ExpectedTreeError(f"{where}: attribute keys must be str, got {key!r}")
    return dict(attributes)


def _builder_value(convert: Any, value: Any, argument: str, name: NamePattern) -> Any:
    __tracebackhide__ = True
    if value is None:
        return None
    try:
        return convert(value)
    except ValueError as error:
        raise ExpectedTreeError(f"span({name!r}): {argument}=: {error}") from None


def check_ordered_children(node: ExpectedSpan, *, ordered_everywhere: bool) -> None:
    """`>>` lines have no position among siblings, so an ordered parent cannot hold them."""
    if not (node.ordered or ordered_everywhere):
        return
    for child in node.children:
        if child.descendant:
            where = f" (line {child.line_number})" if child.line_number else ""
            raise ExpectedTreeError(
                f"descendant line '>> {format_name(child.name)}'{where} cannot be a child of "
                f"an ordered parent: '>>' matches at any depth, so it has no position "
                f"among ordered siblings; list the intermediate spans instead"
            )


# Characters str.splitlines() breaks a line at: JSON leaves the ones above \x1f raw,
# and a printed tree must read back one span per line.
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_RAW_BREAKS = {ord(char): f"\\u{ord(char):04x}" for char in "\x85\u2028\u2029"}


def to_json(value: Any) -> str:
    """JSON text that stays on one line (and keeps other non-ASCII readable)."""
    return json.dumps(value, ensure_ascii=False).translate(_RAW_BREAKS)


def format_name(name: NamePattern) -> str:
    if not isinstance(name, str):
        return f"re.compile({name.pattern!r})"
    if needs_quotes(name):
        return to_json(name)
    return name


def needs_quotes(name: str) -> bool:
    return (
        not name
        or name != name.strip(" ")
        or any(char in name for char in '{[#"\t' + _LINE_BREAKS)
        or name == ELLIPSIS_LINE
        or name.startswith(DESCENDANT_PREFIX)
        or name[0] in BOX_CHARS
    )


def format_service(service: str) -> str:
    """`service=NAME`, quoted when the name would not read back as one flag."""
    plain = (
        service
        and not any(char in service for char in ',[]"#' + _LINE_BREAKS)
        and service == service.strip()
    )
    return SERVICE_FLAG + (service if plain else to_json(service))


def format_value(value: Any) -> str:
    """JSON where possible (so it parses back); `repr` for matchers."""
    if value is PRESENT:
        return "*"
    if isinstance(value, tuple):
        value = list(value)
    try:
        return to_json(value)
    except (TypeError, ValueError):
        return repr(value)


def format_key(key: str) -> str:
    return key if BARE_KEY.fullmatch(key) else to_json(key)


def format_attributes(attributes: Mapping[str, Any]) -> str:
    inner = ", ".join(f"{format_key(k)}: {format_value(v)}" for k, v in attributes.items())
    return "{" + inner + "}"


def format_count(low: int, high: int | None) -> str:
    if high is None:
        return f"x{low}.."
    return f"x{low}" if low == high else f"x{low}..{high}"


def format_expected_line(node: ExpectedSpan) -> str:
    parts = [(DESCENDANT_PREFIX + " " if node.descendant else "") + format_name(node.name)]
    if node.attributes:
        parts.append(format_attributes(node.attributes))
    flags = []
    if node.kind is not None:
        flags.append(node.kind.name.lower())
    if node.status is not None:
        flags.append(node.status.name.lower())
    if node.service is not None:
        flags.append(format_service(node.service))
    if node.has_count:
        flags.append(format_count(node.min_count, node.max_count))
    if node.ordered:
        flags.append("ordered")
    if flags:
        parts.append("[" + ", ".join(flags) + "]")
    return " ".join(parts)


def format_expected(nodes: Iterable[ExpectedSpan], indent: str = "  ") -> str:
    """The text form of expected lines (the inverse of `parse_expected`)."""
    out: list[str] = []
    # An explicit stack of lines to write: a node, or a `...` at a depth.
    pending: list[tuple[ExpectedSpan | None, int]] = [(node, 0) for node in reversed(list(nodes))]
    while pending:
        node, depth = pending.pop()
        if node is None:
            out.append(indent * depth + ELLIPSIS_LINE)
            continue
        out.append(indent * depth + format_expected_line(node))
        below: list[tuple[ExpectedSpan | None, int]] = []
        for position, child in enumerate(node.children):
            if position in node.gaps:
                below.append((None, depth + 1))
            below.append((child, depth + 1))
        if len(node.children) in node.gaps:
            below.append((None, depth + 1))
        pending.extend(reversed(below))
    return "\n".join(out)
