"""What a line checks beyond name, kind, status, service and attributes: events,
links, the remote parent, the instrumentation scope and resource attributes.

`@` and `->` lines take events and links the way sibling lines take spans under a
`...`: each line between its minimum and maximum count, each event or link at most
once, one that fits a line always counted by one; those that fit no line are
ignored (`[no events]` / `[no links]` say there are none at all).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..capture._query import MISSING, CapturedSpan, attribute_mismatches, name_matches
from ._flow import _Flow
from ._model import (
    ExpectedEvent,
    ExpectedLink,
    ExpectedSpan,
    format_count,
    format_cut_value,
    format_event_line,
    format_link_line,
)

Line = TypeVar("Line", ExpectedEvent, ExpectedLink)
# whether a link's context is a span matching the expected target line
TargetCheck = Callable[[ExpectedSpan, Any], bool]


def scope_name(span: CapturedSpan) -> str:
    scope = getattr(span.readable, "instrumentation_scope", None)
    return (scope.name if scope is not None else "") or ""


def event_fits(line: ExpectedEvent, event: Any) -> bool:
    return name_matches(line.name, event.name) and not (
        line.attributes and attribute_mismatches(line.attributes, event.attributes or {})
    )


def link_fits(line: ExpectedLink, link: Any, target_matches: TargetCheck) -> bool:
    if line.attributes and attribute_mismatches(line.attributes, link.attributes or {}):
        return False
    return line.target is None or target_matches(line.target, link.context)


def assign(
    lines: Sequence[Line], items: Sequence[Any], fits: Callable[[Line, Any], bool]
) -> tuple[bool, list[int]]:
    """Whether every line gets its count; and the line each item went to (-1: none)."""
    line_items = [[i for i, item in enumerate(items) if fits(line, item)] for line in lines]
    flow = _Flow(
        low=[line.min_count for line in lines],
        high=[float("inf") if line.max_count is None else line.max_count for line in lines],
        line_items=line_items,
        item_groups=list(range(len(items))),
        group_count=len(items),
    )
    ok = flow.meet_minimums() and flow.take_required(range(len(items)), gaps=True)
    return ok, flow.assigned


def _counts_fit(
    lines: Sequence[Line], items: Sequence[Any], fits: Callable[[Line, Any], bool]
) -> bool:
    if len(lines) == 1:  # the usual case needs no assignment
        line = lines[0]
        found = sum(1 for item in items if fits(line, item))
        return line.min_count <= found and (line.max_count is None or found <= line.max_count)
    return assign(lines, items, fits)[0]


def details_match(line: ExpectedSpan, span: CapturedSpan, target_matches: TargetCheck) -> bool:
    if line.remote_parent and not span.has_remote_parent:
        return False
    if line.scope is not None and not fnmatch.fnmatchcase(scope_name(span), line.scope):
        return False
    if line.resource and attribute_mismatches(line.resource, span.resource):
        return False
    events, links = span.events, span.links
    if (line.no_events and events) or (line.no_links and links):
        return False
    if line.events and not _counts_fit(line.events, events, event_fits):
        return False
    return not (
        line.links
        and not _counts_fit(line.links, links, lambda each, lk: link_fits(each, lk, target_matches))
    )


def _mismatch_text(prefix: str, mismatches: list[tuple[str, Any, Any]]) -> list[str]:
    found = []
    for key, want, got in mismatches:
        actual = "missing" if got is MISSING else f"got {format_cut_value(got)}"
        found.append(f"{prefix}{key}: expected {format_cut_value(want)}, {actual}")
    return found


def detail_differences(
    line: ExpectedSpan, span: CapturedSpan, target_matches: TargetCheck
) -> list[str]:
    """Marks for what differs in events, links, parent, scope and resource."""
    differences = []
    if line.remote_parent and not span.has_remote_parent:
        where = "a local parent" if span.parent_span_id is not None else "no parent (a root)"
        differences.append(f"parent: expected a remote (extracted) context, got {where}")
    if line.scope is not None and not fnmatch.fnmatchcase(scope_name(span), line.scope):
        differences.append(f"scope: expected {line.scope}, got {scope_name(span) or '(none)'}")
    if line.resource:
        differences += _mismatch_text(
            "resource ", attribute_mismatches(line.resource, span.resource)
        )
    if line.no_events and span.events:
        names = ", ".join(sorted({event.name for event in span.events}))
        differences.append(f"events: expected none, got {len(span.events)} ({names})")
    if line.no_links and span.links:
        differences.append(f"links: expected none, got {len(span.links)}")
    if line.events:
        differences += _count_differences(
            line.events, span.events, event_fits, format_event_line, _event_near_miss
        )
    if line.links:
        differences += _count_differences(
            line.links,
            span.links,
            lambda each, lk: link_fits(each, lk, target_matches),
            format_link_line,
            _link_near_miss,
        )
    return differences


def _count_differences(
    lines: Sequence[Line],
    items: Sequence[Any],
    fits: Callable[[Line, Any], bool],
    describe: Callable[[Line], str],
    near_miss: Callable[[Line, Any], str | None],
) -> list[str]:
    ok, assigned = assign(lines, items, fits)
    if ok:
        return []
    differences = []
    for index, line in enumerate(lines):
        got = assigned.count(index)
        if line.min_count <= got and (line.max_count is None or got <= line.max_count):
            continue
        wanted = format_count(line.min_count, line.max_count)
        text = f"{describe(line)}: expected {wanted}, got {got}"
        misses = [miss for item in items if (miss := near_miss(line, item))]
        if misses and got < line.min_count:
            text += " (" + "; ".join(misses[:3]) + ")"
        differences.append(text)
    return differences


def _event_near_miss(line: ExpectedEvent, event: Any) -> str | None:
    if not name_matches(line.name, event.name) or not line.attributes:
        return None
    mismatches = attribute_mismatches(line.attributes, event.attributes or {})
    return "; ".join(_mismatch_text("", mismatches)) or None


def _link_near_miss(line: ExpectedLink, link: Any) -> str | None:
    if not line.attributes:
        return None
    mismatches = attribute_mismatches(line.attributes, link.attributes or {})
    return "; ".join(_mismatch_text("link ", mismatches)) or None
