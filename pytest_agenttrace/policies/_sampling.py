"""Head sampling: a trace is kept whole or dropped whole, never in part."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from .._errors import message
from ._findings import docs

_FIX = (
    "Head sampling decides once, at the root: give every agent's TracerProvider a "
    "parent-based sampler, e.g. ParentBased(TraceIdRatioBased(0.1)), so each child "
    "follows its parent's decision (including a parent in another process). "
    f"See {docs('sampling.md')}"
)


def _sampled(span: ReadableSpan) -> bool:
    context = span.context
    return context is not None and context.trace_flags.sampled


def _agent(span: ReadableSpan) -> str:
    scope = span.instrumentation_scope
    return f"{span.name} (tracer {scope.name!r})" if scope is not None else span.name


def mismatches(spans: Iterable[ReadableSpan]) -> list[tuple[str, str]]:
    """(agent, what happened) for each span whose sampling decision differs from its parent's.

    A dropped parent never reaches a span processor, but its decision travels in
    the child's parent context (the sampled trace flag), so the mismatch is
    visible from the child alone.
    """
    found = []
    for span in spans:
        parent = span.parent
        if parent is None or span.context is None:
            continue
        if _sampled(span) and not parent.trace_flags.sampled:
            found.append((_agent(span), "kept while its parent was dropped"))
        elif not _sampled(span) and parent.trace_flags.sampled:
            found.append((_agent(span), "dropped while its parent was kept"))
    return found


def partial_sampling_problems(spans: Sequence[ReadableSpan], source: str = "") -> list[str]:
    found = mismatches(spans)
    if not found:
        return []
    counts = collections.Counter(found)
    return [
        message(
            f"{len(found)} span(s) were sampled differently from their parent{source}:",
            [
                f"{agent}: {what}" + (f" ({n} times)" if n > 1 else "")
                for (agent, what), n in counts.items()
            ],
            _FIX,
        )
    ]


def sampling_runs_problem(
    runs: Sequence[Sequence[ReadableSpan]], same_shape: bool
) -> tuple[str | None, int]:
    """Check many runs of one workflow; returns (problem, runs kept whole)."""
    partial_runs: set[int] = set()
    events: collections.Counter[tuple[str, str]] = collections.Counter()
    for index, spans in enumerate(runs):
        for agent, what in mismatches(spans):
            events[(agent, what)] += 1
            partial_runs.add(index)
    kept = {
        index: [span for span in spans if _sampled(span)]
        for index, spans in enumerate(runs)
        if any(_sampled(span) for span in spans)
    }
    clean = {index: spans for index, spans in kept.items() if index not in partial_runs}
    if same_shape and clean:
        # A child dropped while its parent was kept leaves no span behind: compare
        # each kept run with the union of what the kept runs contain.
        everything: dict[str, str] = {}
        for spans in clean.values():
            for span in spans:
                everything.setdefault(span.name, _agent(span))
        for index, spans in clean.items():
            names = {span.name for span in spans}
            for name, agent in everything.items():
                if name not in names:
                    events[(agent, "missing from a kept trace (dropped, or never ran)")] += 1
                    partial_runs.add(index)
    whole = len(kept) - len(partial_runs & set(kept))
    if not events:
        return None, whole
    bullets = [f"{agent}: {what} in {n} run(s)" for (agent, what), n in sorted(events.items())]
    return (
        message(
            f"{len(partial_runs)} of {len(runs)} run(s) produced partially sampled traces "
            f"({whole} kept whole, {len(runs) - len(kept)} dropped whole):",
            bullets,
            _FIX,
        ),
        whole,
    )


def run_workflow(
    started: list[ReadableSpan], workflow: Callable[..., Any], runs: int
) -> list[list[ReadableSpan]]:
    """Run the workflow `runs` times; the spans each run started (sampled or recorded)."""
    per_run = []
    for _ in range(runs):
        mark = len(started)
        workflow()
        per_run.append(list(started[mark:]))
    return per_run
