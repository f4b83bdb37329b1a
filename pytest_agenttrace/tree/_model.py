"""The expected-tree model, the Python builder and the model's text form.

Text form (see docs/syntax.md)::

    process_document {document.id: "42", agent.version: *}
      retrieval_agent
        >> POST [client, scope=opentelemetry.instrumentation.*]   # any depth below
      llm_agent [x2]
        @ exception {exception.type: "builtins.TimeoutError"}     # an event
      publish [producer, as batch]
      process [consumer, remote]
        -> batch {messaging.operation: "process"}                 # a link to `batch`
      !>> retry                                                   # none at any depth
      "GET /users/{id}" [server, error]
      ...
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any, Optional, Union

from opentelemetry.trace import SpanKind, StatusCode

from .._errors import ExpectedTreeError
from ..capture._query import KIND_NAMES, PRESENT, STATUS_NAMES, NamePattern, to_kind, to_status

#: `count=` accepts an int or an inclusive (min, max) range; max None = unbounded.
CountSpec = Union[int, tuple[int, Optional[int]]]  # noqa: UP007, UP045  (3.9 runtime alias)

ELLIPSIS_LINE = "..."
DESCENDANT_PREFIX = ">>"
ABSENT_PREFIX = "!>>"
EVENT_PREFIX = "@"
LINK_PREFIX = "->"
ANY_TARGET = "*"
LABEL_FLAG = "as "
SCOPE_FLAG = "scope="
RESOURCE_FLAG = "resource="
REMOTE_FLAG = "remote"
NO_EVENTS_FLAG = "no events"
NO_LINKS_FLAG = "no links"
LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
# Units the box-drawn rendering uses; each stands for one 4-column indentation step.
BOX_UNITS = ("├── ", "└── ", "│   ")
BOX_CHARS = frozenset("├└│─")
BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
COUNT_FLAG = re.compile(r"x(\d+)(?:(\.\.)(\d+)?)?")
SERVICE_FLAG = "service="
VALID_FLAGS = list(KIND_NAMES) + list(STATUS_NAMES)
VALID_FLAGS += ["ordered", "x<N>", "x<MIN>..<MAX>", "x<MIN>..", "service=<glob>"]
VALID_FLAGS += ["scope=<glob>", "resource={...}", "remote", "no events", "no links", "as <label>"]


@dataclass(eq=False)
class ExpectedEvent:
    """An `@ name {attributes} [xN]` line: the span has N events matching it."""

    name: NamePattern
    attributes: dict[str, Any] = field(default_factory=dict)
    min_count: int = 1
    max_count: int | None = 1
    line_number: int | None = None

    def __repr__(self) -> str:
        return f"<ExpectedEvent {format_event_line(self)!r}>"


@dataclass(eq=False)
class ExpectedLink:
    """A `-> label {attributes} [xN]` line: the span has N links to a span matching
    the line labelled `label` (`target`), or to any span context (`target` None)."""

    target: ExpectedSpan | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    min_count: int = 1
    max_count: int | None = 1
    line_number: int | None = None
    label: str | None = None  # the text's name for `target`, until the parser resolves it

    def __repr__(self) -> str:
        return f"<ExpectedLink {format_link_line(self)!r}>"


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
    scope: str | None = None  # a glob over the instrumentation scope's name
    # Immutable empty defaults: a 100,000-line expectation allocates none of them.
    resource: Mapping[str, Any] | None = None
    remote_parent: bool = False  # the parent came from an extracted (remote) context
    events: Sequence[ExpectedEvent] = ()
    links: Sequence[ExpectedLink] = ()
    no_events: bool = False
    no_links: bool = False
    label: str | None = None  # `as NAME`: what link lines call this line
    # `!>>` lines under this one: no span at any depth below may match them
    absent: Sequence[ExpectedSpan] = ()
    absent_line: bool = False  # this line is itself a `!>>` line

    @property
    def has_details(self) -> bool:
        """Whether the line checks anything beyond name, kind, status, service and
        attributes (the matcher's fast path skips all of it otherwise)."""
        return bool(
            self.events
            or self.links
            or self.no_events
            or self.no_links
            or self.scope is not None
            or self.resource
            or self.remote_parent
        )

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
    scope: str | None = None,
    resource: Mapping[str, Any] | None = None,
    remote_parent: bool = False,
    events: Iterable[ExpectedEvent] | None = None,
    links: Iterable[ExpectedLink] | None = None,
    no_events: bool = False,
    no_links: bool = False,
    absent: bool = False,
) -> ExpectedSpan:
    """Build an expected span; `...` among `children` allows further unlisted children.

    `absent=True` makes it a `!>>` line: among its parent's children, it says that no
    span at any depth below the parent matches it.
    """
    __tracebackhide__ = True
    if not isinstance(name, (str, re.Pattern)):
        raise ExpectedTreeError(f"span(): name must be a str or re.Pattern, got {name!r}")
    where = f"span({name!r})"
    flags = (
        ("ordered", ordered),
        ("descendant", descendant),
        ("remote_parent", remote_parent),
        ("no_events", no_events),
        ("no_links", no_links),
        ("absent", absent),
    )
    for argument, flag in flags:
        if not isinstance(flag, bool):  # "no" and "false" are truthy: never guess
            raise TypeError(f"{where}: {argument}= must be True or False, got {flag!r}")
    listed, gaps = split_children(children, where)
    absent_lines = [child for child in listed if child.absent_line]
    if absent_lines:  # not siblings: positions and gaps are counted without them
        listed, gaps = split_children(
            [c for c in children if not (isinstance(c, ExpectedSpan) and c.absent_line)], where
        )
    low, high = _count_range(count, where)
    for argument, glob in (("service", service), ("scope", scope)):
        if glob is not None and (not isinstance(glob, str) or not glob.strip()):
            raise ExpectedTreeError(
                f"{where}: {argument}= must be a non-empty str (a glob), got {glob!r}"
            )
    if absent and (count is not None or descendant):
        raise ExpectedTreeError(
            f"{where}: absent=True already means 'none at any depth'; drop count= and descendant="
        )
    node = ExpectedSpan(
        name=name,
        children=listed,
        attributes=_checked_attributes(attributes, where),
        kind=_builder_value(to_kind, kind, "kind", name),
        status=_builder_value(to_status, status, "status", name),
        min_count=low,
        max_count=high,
        ordered=bool(ordered),
        descendant=descendant,
        gaps=gaps,
        service=service,
        scope=scope,
        resource=_checked_attributes(resource, f"{where} resource=") or None,
        remote_parent=remote_parent,
        events=_checked_items(events, ExpectedEvent, "events", "event(...)", where),
        links=_checked_items(links, ExpectedLink, "links", "link(...)", where),
        no_events=no_events,
        no_links=no_links,
        absent=absent_lines,
        absent_line=absent,
    )
    if no_events and node.events:
        raise ExpectedTreeError(f"{where}: no_events=True contradicts events=")
    if no_links and node.links:
        raise ExpectedTreeError(f"{where}: no_links=True contradicts links=")
    check_ordered_children(node, ordered_everywhere=False)
    return node


def event(
    name: NamePattern,
    attributes: Mapping[str, Any] | None = None,
    *,
    count: CountSpec | None = None,
) -> ExpectedEvent:
    """An expected span event (`span(..., events=[event("exception", {...})])`)."""
    __tracebackhide__ = True
    if not isinstance(name, (str, re.Pattern)):
        raise ExpectedTreeError(f"event(): name must be a str or re.Pattern, got {name!r}")
    low, high = _count_range(count, f"event({name!r})", allow_none=True)
    return ExpectedEvent(
        name=name,
        attributes=_checked_attributes(attributes, f"event({name!r})"),
        min_count=low,
        max_count=high,
    )


def link(
    to: ExpectedSpan | None = None,
    attributes: Mapping[str, Any] | None = None,
    *,
    count: CountSpec | None = None,
) -> ExpectedLink:
    """An expected span link: to a span matching the expected span `to` (one that is
    also part of the expectation), or to any span context when `to` is None."""
    __tracebackhide__ = True
    if to is not None and not isinstance(to, ExpectedSpan):
        raise ExpectedTreeError(
            f"link(): to= must be a span(...) of the same expectation or None, got {to!r}"
        )
    low, high = _count_range(count, "link()", allow_none=True)
    return ExpectedLink(
        target=to,
        attributes=_checked_attributes(attributes, "link()"),
        min_count=low,
        max_count=high,
    )


def _checked_items(items: Any, kind: type, argument: str, builder: str, where: str) -> list[Any]:
    __tracebackhide__ = True
    if items is None:
        return []
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise ExpectedTreeError(f"{where}: {argument}= must be a list of {builder}, got {items!r}")
    found = list(items)
    for item in found:
        if not isinstance(item, kind):
            raise ExpectedTreeError(f"{where}: {argument}= items must be {builder}, got {item!r}")
    return found


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


def _count_range(
    count: CountSpec | None, where: str, *, allow_none: bool = False
) -> tuple[int, int | None]:
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
    problem = count_problem(low, high, allow_none=allow_none)
    if problem:
        raise ExpectedTreeError(f"{where}: count {count!r}: {problem}")
    return low, high


def count_problem(low: int, high: int | None, *, allow_none: bool = False) -> str | None:
    """What is wrong with a count; `allow_none`: `x0` ("no such event") is allowed."""
    if low < 0:
        return "the minimum cannot be negative"
    if high is not None and high < (0 if allow_none else 1):
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
        or name.startswith((DESCENDANT_PREFIX, ABSENT_PREFIX, EVENT_PREFIX, LINK_PREFIX))
        or name[0] in BOX_CHARS
    )


def format_service(service: str) -> str:
    """`service=NAME`, quoted when the name would not read back as one flag."""
    return format_flag_value(SERVICE_FLAG, service)


def format_value(value: Any) -> str:
    """JSON where possible (so it parses back); `repr` for matchers."""
    kind = type(value)
    # json.dumps' own output for the common types, without its per-call set-up:
    # renderings write one value per attribute of every span
    if kind is str:
        return encode_basestring(value).translate(_RAW_BREAKS)
    if kind is int:
        return str(value)
    if value is PRESENT:
        return "*"
    if isinstance(value, tuple):
        value = list(value)
    try:
        return to_json(value)
    except (TypeError, ValueError):
        return repr(value)


# A printed value longer than this is cut: renderings print a short matcher the
# value fulfils (`_volatile.VolatileRules.bounded`), marks a cut value and its length.
MAX_SHOWN_CHARS = 200


def format_cut_value(value: Any) -> str:
    """`format_value`, cut to about MAX_SHOWN_CHARS with the whole value's size said:
    for marks and messages, which are read, not pasted back."""
    if type(value) is int and value.bit_length() > 3 * MAX_SHOWN_CHARS:
        return (
            f"an int of {len(str(value)) if value.bit_length() < 14_000 else 'over 4,300'} digits"
        )
    if type(value) is str and len(value) > MAX_SHOWN_CHARS:
        return format_value(value[:MAX_SHOWN_CHARS])[:-1] + f'…" ({len(value):,} characters)'
    text = format_value(value)
    if len(text) <= MAX_SHOWN_CHARS:
        return text
    size = (
        f"{len(value):,} items" if isinstance(value, (list, tuple)) else f"{len(text):,} characters"
    )
    return text[:MAX_SHOWN_CHARS] + f"… ({size})"


def cut_text(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """`text`, or its first `limit` characters and how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def format_key(key: str) -> str:
    return key if BARE_KEY.fullmatch(key) else to_json(key)


def format_attributes(attributes: Mapping[str, Any]) -> str:
    inner = ", ".join(f"{format_key(k)}: {format_value(v)}" for k, v in attributes.items())
    return "{" + inner + "}"


def format_count(low: int, high: int | None) -> str:
    if high is None:
        return f"x{low}.."
    return f"x{low}" if low == high else f"x{low}..{high}"


def format_flag_value(prefix: str, value: str) -> str:
    """`prefix` + a glob, quoted when it would not read back as one flag."""
    plain = (
        value
        and not any(char in value for char in ',[]"#{}' + _LINE_BREAKS)
        and value == value.strip()
    )
    return prefix + (value if plain else json.dumps(value, ensure_ascii=False))


def format_expected_line(node: ExpectedSpan, labels: Mapping[int, str] | None = None) -> str:
    if node.absent_line:
        prefix = ABSENT_PREFIX + " "
    else:
        prefix = DESCENDANT_PREFIX + " " if node.descendant else ""
    parts = [prefix + format_name(node.name)]
    if node.attributes:
        parts.append(format_attributes(node.attributes))
    flags = []
    if node.kind is not None:
        flags.append(node.kind.name.lower())
    if node.status is not None:
        flags.append(node.status.name.lower())
    if node.service is not None:
        flags.append(format_service(node.service))
    if node.scope is not None:
        flags.append(format_flag_value(SCOPE_FLAG, node.scope))
    if node.resource:
        flags.append(RESOURCE_FLAG + format_attributes(node.resource))
    if node.remote_parent:
        flags.append(REMOTE_FLAG)
    if node.no_events:
        flags.append(NO_EVENTS_FLAG)
    if node.no_links:
        flags.append(NO_LINKS_FLAG)
    if node.has_count:
        flags.append(format_count(node.min_count, node.max_count))
    if node.ordered:
        flags.append("ordered")
    label = (labels or {}).get(id(node), node.label)
    if label is not None:
        flags.append(LABEL_FLAG + label)
    if flags:
        parts.append("[" + ", ".join(flags) + "]")
    return " ".join(parts)


def _counted(head: str, attributes: Mapping[str, Any], low: int, high: int | None) -> str:
    text = head + (" " + format_attributes(attributes) if attributes else "")
    if (low, high) != (1, 1):
        text += f" [{format_count(low, high)}]"
    return text


def format_event_line(expected: ExpectedEvent) -> str:
    head = f"{EVENT_PREFIX} {format_name(expected.name)}"
    return _counted(head, expected.attributes, expected.min_count, expected.max_count)


def format_link_line(expected: ExpectedLink, labels: Mapping[int, str] | None = None) -> str:
    if expected.target is None:
        target = expected.label or ANY_TARGET
    else:
        target = (labels or {}).get(id(expected.target)) or expected.target.label or "?"
    head = f"{LINK_PREFIX} {target}"
    return _counted(head, expected.attributes, expected.min_count, expected.max_count)


def link_labels(nodes: Iterable[ExpectedSpan]) -> dict[int, str]:
    """A label for every link target that has none (builder-made expectations)."""
    labels: dict[int, str] = {}
    used: set[str] = set()
    targets: list[ExpectedSpan] = []
    pending = list(nodes)
    while pending:
        node = pending.pop()
        if node.label is not None:
            used.add(node.label)
        targets.extend(each.target for each in node.links if each.target is not None)
        pending.extend(node.children)
        pending.extend(node.absent)
    for target in targets:
        if target.label is None and id(target) not in labels:
            labels[id(target)] = unique_label(target.name, used)
    return labels


def unique_label(name: NamePattern, used: set[str]) -> str:
    """A label made of the span's name (`publish batch` -> `publish_batch`), made unique."""
    text = name if isinstance(name, str) else name.pattern
    stem = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_") or "span"
    if not stem[0].isalpha() and stem[0] != "_":
        stem = "s_" + stem
    label, number = stem, 2
    while label in used:
        label, number = f"{stem}_{number}", number + 1
    used.add(label)
    return label


def format_expected(nodes: Iterable[ExpectedSpan], indent: str = "  ") -> str:
    """The text form of expected lines (the inverse of `parse_expected`)."""
    nodes = list(nodes)
    labels = link_labels(nodes)
    out: list[str] = []
    # An explicit stack of lines to write: a node, a `...` (None) or a ready-made line.
    pending: list[tuple[ExpectedSpan | str | None, int]] = [(node, 0) for node in reversed(nodes)]
    while pending:
        node, depth = pending.pop()
        if node is None:
            out.append(indent * depth + ELLIPSIS_LINE)
            continue
        if isinstance(node, str):
            out.append(indent * depth + node)
            continue
        out.append(indent * depth + format_expected_line(node, labels))
        below: list[tuple[ExpectedSpan | str | None, int]] = []
        below += [(format_event_line(each), depth + 1) for each in node.events]
        below += [(format_link_line(each, labels), depth + 1) for each in node.links]
        below += [(each, depth + 1) for each in node.absent]
        for position, child in enumerate(node.children):
            if position in node.gaps:
                below.append((None, depth + 1))
            below.append((child, depth + 1))
        if len(node.children) in node.gaps:
            below.append((None, depth + 1))
        pending.extend(reversed(below))
    return "\n".join(out)
