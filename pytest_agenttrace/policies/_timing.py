"""Durations, timeout budgets along the critical path, outliving children, open spans."""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from opentelemetry.trace import SpanKind

from .._errors import message, written_bullets
from ..capture._query import CapturedSpan
from ._findings import Rules, budget, docs, seconds, where

Cost = Callable[[CapturedSpan], float]
T = TypeVar("T")


# -- critical path ---------------------------------------------------------------------
def critical_path(span: CapturedSpan, cost: Cost) -> tuple[float, list[CapturedSpan]]:
    """The heaviest chain of sequential (non-overlapping) finished children.

    Children that overlap in time ran concurrently, so only one of them can be
    on the path; this is weighted interval scheduling, O(n log n).
    """
    if not span.children:  # most spans are leaves
        return 0.0, []
    if len(span.children) == 1:  # a chain's link: the path is its child, if it weighs
        (only,) = span.children
        weight = cost(only) if only.end_time is not None else 0.0
        return (weight, [only]) if weight > 0.0 else (0.0, [])
    children = sorted(
        (child for child in span.children if child.end_time is not None),
        key=lambda child: (child.end_time or 0, child.start_time),
    )
    if not children:
        return 0.0, []
    ends = [child.end_time or 0 for child in children]
    best = [0.0] * (len(children) + 1)  # best[i]: heaviest chain among the first i
    take = [False] * len(children)
    previous = [0] * len(children)
    for i, child in enumerate(children):
        # Children ending at or before this one's start ran before it.
        previous[i] = bisect.bisect_right(ends, child.start_time, 0, i)
        with_child = cost(child) + best[previous[i]]
        take[i] = with_child > best[i]
        best[i + 1] = with_child if take[i] else best[i]
    path = []
    i = len(children)
    while i > 0:
        if take[i - 1]:
            path.append(children[i - 1])
            i = previous[i - 1]
        else:
            i -= 1
    path.reverse()
    return best[-1], path


def observed(span: CapturedSpan) -> float:
    return span.duration or 0.0


# A critical path longer than this shows its ends: 100,000 chunks run one after
# another are one path, and one bullet should not be megabytes long.
_PATH_ENDS = 5


def describe_path(path: Sequence[CapturedSpan], label: Callable[[CapturedSpan], str]) -> str:
    if len(path) <= 2 * _PATH_ENDS + 1:
        return " -> ".join(label(span) for span in path)
    head = [label(span) for span in path[:_PATH_ENDS]]
    tail = [label(span) for span in path[-_PATH_ENDS:]]
    hidden = len(path) - 2 * _PATH_ENDS
    return " -> ".join([*head, f"… {hidden:,} more …", *tail])


def observed_label(budgets: Rules, depth: int = 3) -> Callable[..., str]:
    """`name 5.10 s (budget 3 s) [child path]`: the measured path, nested a few levels."""

    def label(span: CapturedSpan, level: int = 0) -> str:
        text = f"{span.name} {seconds(observed(span))}"
        rule = budgets.match(span)
        if rule is not None:
            text += f" (budget {budget(rule[1])})"
        if level < depth:
            _, inner = critical_path(span, observed)
            if inner:
                text += f" [{describe_path(inner, lambda child: label(child, level + 1))}]"
        return text

    return label


# -- durations -------------------------------------------------------------------------
def duration_problem(
    spans: Sequence[CapturedSpan],
    *,
    at_most: float | None,
    at_least: float | None,
    what: str,
) -> str | None:
    if at_most is None and at_least is None:
        raise TypeError("assert_duration() needs at_most= or at_least= (seconds)")
    label = observed_label(Rules(()))
    outside: list[tuple[CapturedSpan, float]] = []  # with how long it took
    for span in spans:
        took = span.duration
        if took is None:
            continue
        if (at_most is not None and took > at_most) or (at_least is not None and took < at_least):
            outside.append((span, took))

    def bullet(found: tuple[CapturedSpan, float]) -> str:
        span, took = found
        if at_most is None or took <= at_most:
            return f"{where(span)} took {seconds(took)}, under {budget(at_least or 0.0)}"
        text = f"{where(span)} took {seconds(took)}, over {budget(at_most)}"
        _, path = critical_path(span, observed)
        return text + (f"; critical path: {describe_path(path, label)}" if path else "")

    if not spans:
        return message(
            f"No finished span matches {what}, so no duration could be checked.",
            [],
            "Check the span name pattern, or that the span ends before the assertion.",
        )
    if not outside:
        return None
    return message(
        f"{len(outside)} span(s) matching {what} outside the allowed duration:",
        written_bullets(outside, bullet),
        "The critical path shows where the time went (children that ran one after "
        f"another). See {docs('timing.md#durations')}",
    )


# -- timeout budgets ----------------------------------------------------------------------
def budget_problems(
    spans: Sequence[CapturedSpan], budgets: Sequence[tuple[str, float]]
) -> list[str]:
    """Spans over their own budget, and parents whose children's budgets cannot fit in theirs.

    Children run one after another when their observed times do not overlap.
    Origins (thread, task) cannot tell `await wait_for(a); await wait_for(b)`
    from `gather(a, b)` where `a` finished before `b` started, and missing the
    first (the per-agent timeout pattern) is worse than flagging the second.
    """
    if not budgets:
        return []
    rules = Rules(budgets)

    def budget_of(span: CapturedSpan) -> float | None:
        rule = rules.match(span)
        return None if rule is None else rule[1]

    worst_memo: dict[int, float] = {}

    def unbudgeted_worst(span: CapturedSpan) -> float:
        # its finished children (the critical path's candidates) are in worst_memo
        seen, _ = critical_path(span, observed)
        allowed, _ = critical_path(span, worst)
        return max(observed(span) - seen, 0.0) + allowed

    def worst(span: CapturedSpan) -> float:
        """How long the span may take when every budgeted span below uses its whole budget."""
        return bottom_up(span, worst_memo, budget_of, finished_children, unbudgeted_worst)

    below_memo: dict[int, bool] = {}

    def budgeted_below(span: CapturedSpan) -> bool:
        """Whether the span or one below it has a budget."""
        return bottom_up(
            span,
            below_memo,
            lambda s: True if budget_of(s) is not None else None,
            lambda s: s.children,
            lambda s: any(below_memo[id(child)] for child in s.children),
        )

    label = observed_label(rules)

    def worst_label(span: CapturedSpan) -> str:
        own = budget_of(span)
        if own is not None:
            return f"{span.name} <= {budget(own)} (budget)"
        return f"{span.name} {seconds(worst(span))}"

    # (span, whose budget is broken, seconds, path): the span took the seconds on its
    # observed path ("own"), or the budgets below it allow them on its worst one
    Problem = tuple[CapturedSpan, str, float, list[CapturedSpan]]
    found: list[Problem] = []
    for span in spans:
        own = budget_of(span)
        if own is None or span.duration is None:
            continue
        seen, observed_chain = critical_path(span, observed)
        if span.duration > own:
            found.append((span, "own", span.duration, observed_chain))
        allowed, path = critical_path(span, worst)
        self_time = max(span.duration - seen, 0.0)
        if allowed + self_time > own and any(budgeted_below(child) for child in path):
            found.append((span, "below", allowed + self_time, path))
    if not found:
        return []

    def bullet(problem: Problem) -> str:
        span, broken, took, path = problem
        own = budget(budget_of(span) or 0.0)
        if broken == "below":
            return (
                f"{where(span)}: the budgets below it allow {seconds(took)} on "
                f"its critical path, over its {own} budget: "
                f"{describe_path(path, worst_label)}"
            )
        text = f"{where(span)} took {seconds(took)}, over its {own} budget"
        return text + (f"; critical path: {describe_path(path, label)}" if path else "")

    shown = ", ".join(f"{pattern} {budget(limit)}" for pattern, limit in budgets)
    return [
        message(
            f"{len(found)} timeout budget problem(s) (timeout_budgets: {shown}):",
            written_bullets(found, bullet),
            "A parent's timeout must cover the longest chain of work that runs one after "
            "another below it, each child at its own full timeout (and retries). Raise the "
            "parent's budget or shorten the children's. See " + docs("timing.md#timeout-budgets"),
        )
    ]


def finished_children(span: CapturedSpan) -> list[CapturedSpan]:
    return [child for child in span.children if child.end_time is not None]


def bottom_up(
    span: CapturedSpan,
    memo: dict[int, T],
    own: Callable[[CapturedSpan], T | None],
    below: Callable[[CapturedSpan], list[CapturedSpan]],
    combine: Callable[[CapturedSpan], T],
) -> T:
    """`memo[id(span)]`: `own(span)` unless None, else `combine(span)`, called once
    every span of `below(span)` has its value in `memo`. Without recursion: a chain
    of spans (an agent calling itself) can be thousands deep."""
    pending = [(span, False)]
    while pending:
        node, expanded = pending.pop()
        key = id(node)
        if key in memo:
            continue
        value = own(node)
        if value is not None:
            memo[key] = value
        elif not expanded:
            pending.append((node, True))
            pending += [(child, False) for child in below(node) if id(child) not in memo]
        else:
            memo[key] = combine(node)
    return memo[id(span)]


# -- children outliving their parent ------------------------------------------------------
def _asynchronous_by_design(child: CapturedSpan, parent: CapturedSpan) -> bool:
    # A message consumer is parented to the producer's span yet runs later, by design.
    return (
        child.kind is SpanKind.CONSUMER
        or parent.kind is SpanKind.PRODUCER
        or child.has_remote_parent
    )


def outliving_problems(spans: Sequence[CapturedSpan], source: str = "") -> list[str]:
    late: list[CapturedSpan] = []
    for child in spans:
        parent = child.parent
        if parent is None or child.end_time is None or parent.end_time is None:
            continue
        if child.end_time > parent.end_time and not _asynchronous_by_design(child, parent):
            late.append(child)
    if not late:
        return []

    def bullet(child: CapturedSpan) -> str:
        parent = child.parent
        assert parent is not None and parent.end_time is not None and child.end_time is not None
        after = (child.end_time - parent.end_time) / 1e9
        return f"{where(child)}: ended {seconds(after)} after its parent {parent.name} ended"

    return [
        message(
            f"{len(late)} span(s) ended after their parent ended{source}:",
            written_bullets(late, bullet),
            "Something kept working after its caller returned: an un-awaited task, a "
            "thread not joined, a leaked background agent. Await or join it before the "
            "parent span ends; for deliberate fire-and-forget, use PRODUCER/CONSUMER spans "
            f"or a span link. See {docs('timing.md#children-outliving-their-parent')}",
        )
    ]


# -- unfinished spans -------------------------------------------------------------------------
def unfinished_problems(open_spans: Sequence[CapturedSpan], *, setting: str = "fail") -> list[str]:
    """The finding, its advice fitting `setting`: the unfinished_spans value in force."""
    if not open_spans:
        return []
    if setting == "warn":
        settings = (
            'unfinished_spans = "warn" is set, so this only warns; "fail" makes it fail '
            'the test, "ignore" silences it.'
        )
    else:
        settings = 'To allow this, set unfinished_spans = "warn" or "ignore".'

    now = time.time_ns()

    def bullet(span: CapturedSpan) -> str:
        return f"{where(span)}: open for {seconds(max(now - span.start_time, 0) / 1e9)}"

    return [
        message(
            f"{len(open_spans)} span(s) were started but never ended during the test:",
            written_bullets(open_spans, bullet),
            "A hung agent, or a span started without `with` and never end()ed. End spans "
            "in a `with` block or a `finally:`, or wait for background work before the test "
            f"returns: agenttrace.wait_for(complete=True). {settings} "
            f"See {docs('timing.md#unfinished-spans')}",
        )
    ]
