"""Render actual span trees in the expected-tree text syntax (indented or box-drawn).

The output parses back with `parse_expected`, so a rendering can be pasted into a
test as the new expectation; difference marks are trailing `#` comments for that
reason.
"""

from __future__ import annotations

import collections
import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import SpanKind, StatusCode

from ..capture._query import (
    PRESENT,
    CapturedSpan,
    attribute_mismatches,
    is_glob,
    name_matches,
    roots_of,
)
from ._collector import collector_paused
from ._details import scope_name
from ._matchers import Matcher
from ._model import (
    ANY_TARGET,
    DESCENDANT_PREFIX,
    ELLIPSIS_LINE,
    EVENT_PREFIX,
    LABEL_FLAG,
    LINK_PREFIX,
    MAX_SHOWN_CHARS,
    NO_EVENTS_FLAG,
    NO_LINKS_FLAG,
    REMOTE_FLAG,
    RESOURCE_FLAG,
    SCOPE_FLAG,
    ExpectedLink,
    ExpectedSpan,
    cut_text,
    format_attributes,
    format_count,
    format_flag_value,
    format_name,
    format_service,
    unique_label,
)
from ._volatile import DEFAULT_RULES, VolatileRules, rules_for

__all__ = ["RenderLine", "render_lines", "render_tree", "span_line", "MARK"]

MARK = "✗"
STYLES = ("indent", "box")
# Past this column marks are not aligned any further, so one long line does not
# push every comment off screen.
MAX_MARK_COLUMN = 60
# The marks one line prints (the rest are counted), and the characters of each:
# a line expecting 20,000 attributes of a span that has none is no line of megabytes.
MAX_MARKS_PER_LINE = 10
MAX_MARK_CHARS = 3 * MAX_SHOWN_CHARS


@dataclass
class RenderLine:
    """One line of a rendering: a span (with its subtree), a `...`, or a comment."""

    head: str
    flags: list[str] = field(default_factory=list)
    children: list[RenderLine] = field(default_factory=list)
    # `@` event and `->` link lines, written above the children
    details: list[RenderLine] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)
    count: int = 1
    is_comment: bool = False
    # Identical leaves collapse into `[xN]` only under unordered parents.
    collapsible: bool = True
    # the span this line shows (None for `...` and comments): the HTML report marks it
    span: CapturedSpan | None = field(default=None, compare=False, repr=False)

    def text(self) -> str:
        if self.is_comment:  # `missing: <an expected line>`: as long as the user wrote it
            return f"# {MARK} {cut_text(self.head, MAX_MARK_CHARS)}"
        flags = list(self.flags)
        if self.count != 1:
            flags.append(format_count(self.count, self.count))
        return self.head + (" [" + ", ".join(flags) + "]" if flags else "")

    def collapse_key(self) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
        if self.children or self.details or self.is_comment or not self.collapsible:
            return None
        return self.head, tuple(self.flags), tuple(self.marks)


def ellipsis_line() -> RenderLine:
    return RenderLine(head=ELLIPSIS_LINE)


def missing_line(description: str) -> RenderLine:
    return RenderLine(head=f"missing: {description}", is_comment=True)


# --------------------------------------------------------------------------- one span


@functools.lru_cache(maxsize=1024)  # spans repeat few names: a rendering asks per span
def display_name(name: str) -> str:
    """The name as a pattern that matches exactly this name (glob characters escaped)."""
    if is_glob(name):
        name = "".join(f"[{char}]" if char in "*?[" else char for char in name)
    return format_name(name)


def span_line(
    span: CapturedSpan,
    expected: ExpectedSpan | None = None,
    *,
    all_attributes: bool = False,
    rules: VolatileRules = DEFAULT_RULES,
) -> RenderLine:
    """A span's own line: actual name, kind and status; attributes the expectation named.

    With no expectation, `all_attributes` shows every attribute (plain renderings).
    Volatile values (`rules`) print as matchers.
    """
    head = DESCENDANT_PREFIX + " " if expected is not None and expected.descendant else ""
    head += display_name(span.name)
    shown = _shown_attributes(span.attributes, expected, all_attributes, rules)
    if shown:
        head += " " + format_attributes(shown)
    flags = []
    if span.kind is not SpanKind.INTERNAL or (expected is not None and expected.kind is not None):
        flags.append(span.kind.name.lower())
    if span.status is StatusCode.ERROR or (expected is not None and expected.status is not None):
        flags.append(span.status.name.lower())
    show_service = (expected is not None and expected.service is not None) or (
        span.trace is not None and span.trace.shows_service(span)
    )
    if show_service and span.service is not None:
        flags.append(format_service(span.service))
    if expected is not None:
        if expected.has_details:
            flags += _detail_flags(span, expected, rules)
        if expected.ordered:
            flags.append("ordered")
        if expected.label is not None:
            flags.append(LABEL_FLAG + expected.label)
    return RenderLine(head=head, flags=flags, span=span)


def _detail_flags(span: CapturedSpan, expected: ExpectedSpan, rules: VolatileRules) -> list[str]:
    """The expectation's flags as the actual span fulfils them (so they paste back)."""
    flags = []
    if expected.scope is not None:
        flags.append(format_flag_value(SCOPE_FLAG, scope_name(span) or "*"))
    if expected.resource:
        shown = shown_attributes(expected.resource, span.resource, rules)
        if shown:
            flags.append(RESOURCE_FLAG + format_attributes(shown))
    if expected.remote_parent and span.has_remote_parent:
        flags.append(REMOTE_FLAG)
    if expected.no_events and not span.events:
        flags.append(NO_EVENTS_FLAG)
    if expected.no_links and not span.links:
        flags.append(NO_LINKS_FLAG)
    return flags


def detail_lines(
    span: CapturedSpan,
    expected: ExpectedSpan,
    fits: Callable[[ExpectedLink, Any], bool],
    rules: VolatileRules = DEFAULT_RULES,
) -> list[RenderLine]:
    """The span's events and links as the expectation's `@` / `->` lines would take them,
    with the actual values: pasted back, they hold for this span."""
    found = []
    if expected.events or expected.no_events:
        for event in span.events:
            named = next((e for e in expected.events if name_matches(e.name, event.name)), None)
            attributes = event.attributes or {}
            shown = shown_attributes(named.attributes, attributes, rules) if named else {}
            head = f"{EVENT_PREFIX} {display_name(event.name)}"
            found.append(RenderLine(head=head + (" " + format_attributes(shown) if shown else "")))
    if expected.links:
        for link in span.links:
            line = expected.links[0]
            head = f"{LINK_PREFIX} {ANY_TARGET}"
            for each in expected.links:
                if each.target is not None and each.target.label is not None and fits(each, link):
                    line, head = each, f"{LINK_PREFIX} {each.target.label}"
                    break
            shown = shown_attributes(line.attributes, link.attributes or {}, rules)
            found.append(RenderLine(head=head + (" " + format_attributes(shown) if shown else "")))
    return found


def _shown_attributes(
    actual: Mapping[str, Any],
    expected: ExpectedSpan | None,
    all_attributes: bool,
    rules: VolatileRules,
) -> dict[str, Any]:
    if expected is None:
        return all_shown(actual, rules) if all_attributes else {}
    return shown_attributes(expected.attributes, actual, rules)


def all_shown(actual: Mapping[str, Any], rules: VolatileRules) -> dict[str, Any]:
    return {key: rules.shown(key, value) for key, value in actual.items()}


def shown_attributes(
    expected: Mapping[str, Any], actual: Mapping[str, Any], rules: VolatileRules = DEFAULT_RULES
) -> dict[str, Any]:
    """The keys the expectation named, as they should paste back: what was written
    when it matched (`*`, a matcher, the literal), else the actual value (volatile
    ones as matchers, so the pasted expectation holds on the next run too). A value
    that would print long prints as a short matcher it fulfils."""
    shown = {}
    for key, want in expected.items():
        if key not in actual:
            continue
        got = actual[key]
        if want is PRESENT or isinstance(want, Matcher):
            shown[key] = rules.bounded(key, got, want) if want == got else rules.shown(key, got)
        else:
            matched = not attribute_mismatches({key: want}, actual)
            shown[key] = rules.bounded(key, got, got) if matched else rules.shown(key, got)
    return shown


class LineBudget:
    """How many more span lines a rendering may write; past it, subtrees become `...`.

    A `...` line parses back as "more spans here", so a cut rendering still
    pastes back as a (looser) expectation.
    """

    def __init__(self, lines: int | None, *, indent: int | None = None) -> None:
        self.left = lines
        # `indent`: the levels of indentation the lines may add up to, so that a chain
        # thousands deep (each line indented by its depth) is no text of gigabytes
        self.indent = indent

    def take(self, depth: int = 0) -> bool:
        """One more line, `depth` levels deep."""
        if self.left is None:
            return True
        if self.left <= 0 or (self.indent is not None and self.indent < depth):
            return False
        self.left -= 1
        if self.indent is not None:
            self.indent -= depth
        return True


def plain_lines(
    spans: Iterable[CapturedSpan],
    *,
    all_attributes: bool,
    budget: LineBudget | None = None,
    rules: VolatileRules = DEFAULT_RULES,
    events: bool = False,
    links: bool = False,
    depth: int = 0,
) -> list[RenderLine]:
    """`depth`: how deep the spans' lines are (for the budget's indentation)."""
    # An explicit stack, not recursion: agent loops nest thousands of levels deep.
    spans = list(spans)
    labels = _Labels(spans) if links else None
    top: list[RenderLine] = []
    pending = [(span, top, depth) for span in reversed(spans)]
    while pending:
        span, siblings, level = pending.pop()
        if budget is not None and not budget.take(level):
            if not siblings or siblings[-1].head != ELLIPSIS_LINE:
                siblings.append(ellipsis_line())
            continue
        line = span_line(span, all_attributes=all_attributes, rules=rules)
        if events:
            line.details += [_event_line(event, rules) for event in span.events]
        if labels is not None:
            label = labels.label_of(span)
            if label is not None:
                line.flags.append(LABEL_FLAG + label)
            line.details += [labels.link_line(link, rules) for link in span.links]
        siblings.append(line)
        pending.extend((child, line.children, level + 1) for child in reversed(span.children))
    return top


def _event_line(event: Any, rules: VolatileRules) -> RenderLine:
    shown = all_shown(event.attributes or {}, rules)
    head = f"{EVENT_PREFIX} {display_name(event.name)}"
    return RenderLine(head=head + (" " + format_attributes(shown) if shown else ""))


class _Labels:
    """Labels for the rendered spans that links point at (`as NAME` / `-> NAME`)."""

    def __init__(self, roots: list[CapturedSpan]) -> None:
        spans = walk_spans(roots)
        self._by_context = {(span.trace_id, span.span_id): span for span in spans}
        self._labels: dict[int, str] = {}
        used: set[str] = set()
        for span in spans:
            for link in span.links:
                target = self._target(link)
                if target is not None and id(target) not in self._labels:
                    self._labels[id(target)] = unique_label(target.name, used)

    def _target(self, link: Any) -> CapturedSpan | None:
        context = link.context
        if context is None:
            return None
        return self._by_context.get((context.trace_id, context.span_id))

    def label_of(self, span: CapturedSpan) -> str | None:
        return self._labels.get(id(span))

    def link_line(self, link: Any, rules: VolatileRules) -> RenderLine:
        target = self._target(link)
        label = self._labels[id(target)] if target is not None else ANY_TARGET
        shown = all_shown(link.attributes or {}, rules)
        head = f"{LINK_PREFIX} {label}"
        return RenderLine(head=head + (" " + format_attributes(shown) if shown else ""))


def walk_spans(roots: Iterable[CapturedSpan]) -> list[CapturedSpan]:
    found: list[CapturedSpan] = []
    for root in roots:
        found.append(root)
        found.extend(root.descendants())
    return found


def walk(lines: Iterable[RenderLine]) -> list[RenderLine]:
    """Every line of a rendering, parents before their children (no recursion)."""
    found: list[RenderLine] = []
    pending = list(reversed(list(lines)))
    while pending:
        line = pending.pop()
        found.append(line)
        pending.extend(reversed(line.children))
        pending.extend(reversed(line.details))
    return found


def render_tree(
    roots: Iterable[CapturedSpan] | Any,
    style: str = "indent",
    *,
    attributes: bool = True,
    volatile: Iterable[str] | None = None,
    events: bool = False,
    links: bool = False,
) -> str:
    """Render actual spans (roots or anything `assert_trace_tree` accepts) as text.

    `style="indent"` is the expected-tree syntax with 2-space indentation;
    `style="box"` draws `├── ` / `└── ` connectors. Both parse back as the same tree.
    Volatile attribute values print as matchers (see docs/syntax.md); `volatile`
    adds key globs to the default list (`!glob`: always literal). `events=True`
    adds `@` lines, `links=True` `->` lines (and `as NAME` on the linked spans).
    """
    rules = rules_for(volatile)
    with collector_paused():
        lines = plain_lines(
            roots_of(roots), all_attributes=attributes, rules=rules, events=events, links=links
        )
        return render_lines(lines, style)


def render_shape(roots: Any, *, volatile: Iterable[str] | None = None) -> str:
    """The canonical, volatile-free text of a trace (`agenttrace.shape()`): every
    attribute, event and link, volatile values as matchers, siblings in canonical
    order. The same trace gives the same text whichever sibling started first."""
    with collector_paused():
        lines = plain_lines(
            roots_of(roots), all_attributes=True, rules=rules_for(volatile), events=True, links=True
        )
        return render_lines(canonical(lines), "indent")


def canonical(lines: Sequence[RenderLine]) -> list[RenderLine]:
    """Siblings sorted by their line's text (name first), children before parents."""
    for line in reversed(walk(lines)):
        line.children = _canonical_order(line.children)
    return _canonical_order(lines)


_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[tuple[int, int, str], ...]:
    """Text order, but numbers by value: `agent {n: 9}` before `agent {n: 10}`."""
    return tuple(
        (0, int(part), "") if index % 2 else (1, 0, part)
        for index, part in enumerate(_DIGITS.split(text))
    )


def _canonical_order(lines: Sequence[RenderLine]) -> list[RenderLine]:
    texts = [line.text() for line in lines]
    counts = collections.Counter(texts)
    # Lines that read the same order by their subtrees (written out only for ties).
    keyed = [
        (natural_key(text), render_lines([line]) if counts[text] > 1 else "", position)
        for position, (text, line) in enumerate(zip(texts, lines, strict=True))
    ]
    return [lines[position] for _, _, position in sorted(keyed)]


# --------------------------------------------------------------------------- text


def collapse(lines: Sequence[RenderLine]) -> list[RenderLine]:
    """Merge runs of identical leaf siblings into one line with a count (`[xN]`).

    Only neighbours (in start order) merge, so the rendering also passes as an
    ordered expectation.
    """
    for line in reversed(walk(lines)):  # children before their parents
        line.children = _merge_runs(line.children)
        line.details = _merge_runs(line.details)
    return _merge_runs(lines)


def _merge_runs(lines: Sequence[RenderLine]) -> list[RenderLine]:
    merged: list[RenderLine] = []
    for line in lines:
        key = line.collapse_key()
        previous = merged[-1] if merged else None
        if key is not None and previous is not None and previous.collapse_key() == key:
            previous.count += line.count
            continue
        merged.append(line)
    return merged


def count_marks(lines: Iterable[RenderLine]) -> int:
    """Differences in a rendering; one count problem repeated on siblings counts once."""
    total = 0
    pending = [list(lines)]  # one list of siblings at a time: repeats count per level
    while pending:
        siblings = pending.pop()
        seen: set[str] = set()
        for line in siblings:
            for mark in line.marks:
                if not (mark.startswith("count:") and mark in seen):
                    total += 1
                seen.add(mark)
            total += 1 if line.is_comment else 0
            if line.children:
                pending.append(line.children)
            if line.details:
                pending.append(line.details)
    return total


def render_lines(lines: Sequence[RenderLine], style: str = "indent") -> str:
    return align_marks([(row.prefix, row.own, row.line.marks) for row in render_rows(lines, style)])


@dataclass
class Row:
    """One printed line: the prefix drawn before it, its own text, and where it sits.

    Prefix and text stay apart until the whole rendering is joined: in a deep
    chain the prefixes hold most of the characters, and joining them once is
    cheaper than joining them twice.
    """

    prefix: str
    own: str
    line: RenderLine
    depth: int
    parent: int | None  # index of the parent's row

    @property
    def text(self) -> str:
        return self.prefix + self.own


def render_rows(lines: Sequence[RenderLine], style: str = "indent") -> list[Row]:
    if style not in STYLES:
        raise ValueError(f"unknown render style {style!r}; valid styles: {', '.join(STYLES)}")
    rows: list[Row] = []
    # (line, its prefix, the prefix of its children, depth, parent row), on a stack
    pending: list[tuple[RenderLine, str, str, int, int | None]] = [
        (line, "", "", 0, None) for line in reversed(collapse(lines))
    ]
    while pending:
        line, prefix, child_prefix, depth, parent = pending.pop()
        here = len(rows)
        rows.append(Row(prefix, line.text(), line, depth, parent))
        below = line.details + line.children if line.details else line.children
        if not below:
            continue
        count = len(below)
        if style == "indent":
            indent = child_prefix + "  "
            pending.extend((child, indent, indent, depth + 1, here) for child in reversed(below))
            continue
        for position in reversed(range(count)):
            last = position == count - 1
            pending.append(
                (
                    below[position],
                    child_prefix + ("└── " if last else "├── "),
                    child_prefix + ("    " if last else "│   "),
                    depth + 1,
                    here,
                )
            )
    return rows


def align_marks(rows: Sequence[tuple[str, str, list[str]]], *, terminated: bool = False) -> str:
    """The rows (prefix, text, marks) as lines, marks aligned in one column;
    `terminated`: a newline after the last line too."""
    marked = [len(prefix) + len(text) for prefix, text, marks in rows if marks]
    column = min(max(marked, default=0), MAX_MARK_COLUMN) + 3
    out: list[str] = []
    for prefix, text, marks in rows:
        if marks:
            comment = "; ".join(
                f"{MARK} {cut_text(mark, MAX_MARK_CHARS)}" for mark in marks[:MAX_MARKS_PER_LINE]
            )
            if len(marks) > MAX_MARKS_PER_LINE:
                comment += f"; {MARK} … {len(marks) - MAX_MARKS_PER_LINE:,} more differences"
            # past the comment column, still two spaces: `…]# ✗` reads as part of the line
            padding = " " * max(column - len(prefix) - len(text), 2)
            out += (prefix, text, f"{padding}# {comment}", "\n")
        else:
            out += (prefix, text, "\n")
    if out and not terminated:
        out.pop()
    return "".join(out)
