"""Attribute requirements and span budgets (counts per name, spans per trace)."""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._errors import message
from ..capture._query import (
    MISSING,
    PRESENT,
    CapturedSpan,
    SpanForest,
    Trace,
    attribute_mismatches,
)
from ..tree._select import selects
from ._findings import describe_selector, docs, has_attributes, where


def attribute_problems(
    spans: Sequence[CapturedSpan],
    expected: Mapping[str, Any] | Iterable[str],
    selector_text: str,
) -> str | None:
    """One message for every span lacking (or mismatching) the expected attributes."""
    wanted: Mapping[str, Any]
    if isinstance(expected, Mapping):
        wanted = expected
    else:
        keys = [expected] if isinstance(expected, str) else list(expected)
        wanted = dict.fromkeys(keys, PRESENT)
    if not spans:
        return message(
            f"No finished span matches {selector_text}, so no attributes could be checked.",
            [],
            "Check the span name pattern (globs: `agent.*`), or assert the span exists "
            "first with agenttrace.one(...).",
        )
    bullets = []
    for span in spans:
        wrong = attribute_mismatches(wanted, span.attributes)
        if wrong:
            bullets.append(f"{where(span)}: {_describe_wrong(wrong)}; {has_attributes(span)}")
    if not bullets:
        return None
    return message(
        f"{len(bullets)} of {len(spans)} span(s) matching {selector_text} "
        f"lack required attributes:",
        bullets,
        "Set them when the span starts (tracer.start_as_current_span(name, attributes=...) "
        f"or span.set_attribute(...)). See {docs('attributes.md#required-attributes')}",
    )


def required_attribute_problems(
    forest: SpanForest, rules: Sequence[tuple[str, Sequence[str]]]
) -> list[str]:
    """The `require_attributes` rules: every span matching a pattern carries its keys."""
    bullets = []
    for span in forest.spans:
        missing: list[str] = []
        for pattern, keys in rules:
            if selects(pattern, span):
                missing += [
                    key for key in keys if key not in span.attributes and key not in missing
                ]
        if missing:
            bullets.append(f"{where(span)}: missing {', '.join(missing)}; {has_attributes(span)}")
    if not bullets:
        return []
    shown = "; ".join(f"{pattern}: {', '.join(keys)}" for pattern, keys in rules)
    return [
        message(
            f"{len(bullets)} span(s) lack attributes required by require_attributes ({shown}):",
            bullets,
            "Without them nothing in your tracing backend can filter these spans. Set them "
            "when the span starts (span.set_attribute(...)), or relax the rule. "
            f"See {docs('attributes.md#required-attributes')}",
        )
    ]


def _describe_wrong(wrong: list[tuple[str, Any, Any]]) -> str:
    parts = []
    for key, want, got in wrong:
        if got is MISSING:
            parts.append(f"missing {key}")
        else:
            parts.append(f"{key} is {got!r}, expected {want!r}")
    return ", ".join(parts)


def span_count_problem(
    spans: Sequence[CapturedSpan],
    selector: Any,
    *,
    exactly: int | None,
    at_most: int | None,
    at_least: int | None,
) -> str | None:
    __tracebackhide__ = True
    if exactly is None and at_most is None and at_least is None:
        raise TypeError("assert_span_count() needs exactly=, at_most= or at_least=")
    if exactly is not None and (at_most is not None or at_least is not None):
        raise TypeError("assert_span_count(): exactly= cannot be combined with at_most=/at_least=")
    if at_most is not None and at_least is not None and at_least > at_most:
        raise TypeError(f"assert_span_count(): at_least={at_least} is above at_most={at_most}")
    count = len(spans)
    if exactly is not None and count != exactly:
        bound = f"exactly {exactly}"
    elif at_most is not None and count > at_most:
        bound = f"at most {at_most}"
    elif at_least is not None and count < at_least:
        bound = f"at least {at_least}"
    else:
        return None
    what = describe_selector(selector)
    return message(
        f"Expected {bound} span(s) matching {what}, found {count}:",
        [f"{name} x {n}" for name, n in _noisiest(spans, limit=10)],
        f"Too many spans usually means a loop traced per item; too few, a path that is "
        f"not instrumented. See {docs('attributes.md#span-budgets')}",
    )


def trace_cap_problems(traces: Sequence[Trace], cap: int) -> list[str]:
    """Each trace over the per-trace span cap, with the span names that fill it."""
    over = [trace for trace in traces if len(trace) > cap]
    if not over:
        return []
    bullets = []
    for trace in over:
        roots = ", ".join(root.name for root in trace.roots) or "?"
        noisiest = ", ".join(f"{name} x {n}" for name, n in _noisiest(trace.spans, limit=3))
        bullets.append(
            f"trace {trace.trace_id:032x} (root {roots}): {len(trace)} spans; noisiest: {noisiest}"
        )
    return [
        message(
            f"{len(over)} trace(s) have more than {cap} spans (max_spans_per_trace):",
            bullets,
            "Trace the operation, not each item: one span around a loop with a count "
            "attribute, or span events for per-item detail. "
            f"See {docs('attributes.md#span-budgets')}",
        )
    ]


def _noisiest(spans: Iterable[CapturedSpan], limit: int) -> list[tuple[str, int]]:
    counts = collections.Counter(span.name for span in spans)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
