"""Propagation checks: fragments, orphans, broken hops, the propagator spy."""

from __future__ import annotations

import logging
import threading
import warnings
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.trace import ReadableSpan

from .._errors import (
    HINT_BULLETS,
    MAX_BULLETS,
    AgentTraceWarning,
    message,
    more_line,
    written_bullets,
)
from ..capture._query import CapturedSpan, NamePattern, SpanForest, name_matches
from ..capture._router import RawOrigin
from ._hops import (
    DOCS,
    Analysis,
    BrokenHop,
    ContextError,
    describe_trace,
    extraction_bullet,
    label,
    link_targets,
    orphan_bullet,
    short_id,
)
from ._late import cancel_deferred, when_propagate_imported
from ._spy import Origin, PropagatorSpy, install_spy, uninstall_spy

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._options import AgentTraceOptions


class _ContextErrorRecorder:
    """Keeps OpenTelemetry's context errors with the span that was current then."""

    def __init__(self) -> None:
        self.errors: list[ContextError] = []

    def __call__(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(_CONTEXT_LOGGER):
            return
        span = trace.get_current_span()
        name = getattr(span, "name", None) if span.get_span_context().is_valid else None
        exception = None
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            exception = f"{type(error).__name__}: {error}"
        self.errors.append(ContextError(record.getMessage(), exception, name, Origin.here()))


_CONTEXT_LOGGER = "opentelemetry.context"


class PropagationChecks:
    """Mixed into AgentTrace: assertions about context propagation."""

    if TYPE_CHECKING:
        options: AgentTraceOptions
        _started: list[ReadableSpan]

        @property
        def _origins(self) -> dict[int, RawOrigin]: ...

        _home: RawOrigin
        _ambient_parents: set[tuple[int, int]]
        _otel_log_listeners: list[Callable[[logging.LogRecord], None]]
        _all_forest: SpanForest | None

        def _refresh(self) -> None: ...

    _spy: PropagatorSpy | None = None
    _previous_propagator: TextMapPropagator | None = None

    # -- lifecycle ------------------------------------------------------------------
    def _start_propagation_checks(self) -> None:
        self._test_thread: int | None = threading.get_ident()
        self._context_recorder = _ContextErrorRecorder()
        self._otel_log_listeners.append(self._context_recorder)
        when_propagate_imported(self._install_spy)

    def _install_spy(self) -> None:
        self._spy, self._previous_propagator = install_spy(self._spy)

    def _stop_propagation_checks(self) -> None:
        cancel_deferred()
        spy, previous = self._spy, self._previous_propagator
        if spy is None or previous is None or uninstall_spy(spy, previous):
            return
        if self.options.strict:  # its verdict rests on calls it could not see
            warnings.warn(
                AgentTraceWarning(
                    "The test replaced the global propagator (set_global_textmap()), so "
                    "the inject() and extract() calls made through its own propagator "
                    "were not recorded, and strict mode's propagation checks cannot "
                    "see them. Set the propagator before the test (conftest.py) to "
                    "have them checked."
                ),
                stacklevel=1,
            )

    def _clear_propagation_checks(self) -> None:
        if self._spy is not None:
            self._spy.clear()
        recorder = getattr(self, "_context_recorder", None)
        if recorder is not None:
            recorder.errors.clear()

    def _propagation_problems(self) -> list[str]:
        if not self.options.strict:
            return []
        return self.propagation_problems()

    # -- facts ------------------------------------------------------------------------
    @property
    def propagator_spy(self) -> PropagatorSpy:
        """The spy wrapped around the global propagator: `.injects`, `.extracts`."""
        if self._spy is None:
            self._spy = PropagatorSpy(_NoPropagator())
        return self._spy

    @property
    def context_errors(self) -> list[ContextError]:
        """OpenTelemetry context errors ("Failed to detach context") during the test."""
        recorder = getattr(self, "_context_recorder", None)
        return list(recorder.errors) if recorder is not None else []

    def _analysis(self) -> Analysis:
        self._refresh()
        assert self._all_forest is not None
        spy = self.propagator_spy
        return Analysis(
            self._all_forest,
            self._origins,
            getattr(self, "_test_thread", None),
            list(spy.injects),
            list(spy.extracts),
            self._ambient_parents,
            self._home,
        )

    @property
    def orphans(self) -> list[CapturedSpan]:
        """Spans whose parent was neither captured nor extracted from a carrier."""
        return self._analysis().orphans()

    @property
    def broken_hops(self) -> list[BrokenHop]:
        """Spans that started a new trace where context should have been propagated."""
        return self._analysis().broken_hops()

    def propagation_problems(self) -> list[str]:
        """What strict mode fails a test for, as messages (empty when propagation is sound)."""
        analysis = self._analysis()
        problems = []
        hops = analysis.broken_hops()
        if hops:
            problems.append(
                message(
                    f"Broken context propagation: {len(hops)} span(s) started a new trace "
                    f"where context should have been carried over.",
                    written_bullets(hops, BrokenHop.describe),
                    "Carry the context over the hop: propagate.inject(carrier) inside the "
                    "sending span, and start the receiving span with "
                    "context=propagate.extract(carrier) (or links=[...] to it); for thread "
                    "pools, submit contextvars.copy_context().run. Tests that start "
                    f"independent traces on purpose: @pytest.mark.agenttrace(strict=False). "
                    f"See {DOCS}#strict-mode",
                )
            )
        orphans = analysis.orphans()
        if orphans:
            problems.append(
                message(
                    f"Orphan spans: {len(orphans)} span(s) point to a parent that was never "
                    f"captured.",
                    written_bullets(orphans, orphan_bullet),
                    _orphan_fix(orphans),
                )
            )
        malformed = analysis.malformed_extractions()
        if malformed:
            problems.append(
                message(
                    f"Malformed trace context: extract() rejected {len(malformed)} "
                    f"traceparent header(s).",
                    [extraction_bullet(call) for call in malformed],
                    "Write the carrier with propagate.inject(carrier); never build a "
                    f"traceparent by hand. See {DOCS}#malformed-traceparent",
                )
            )
        unused = analysis.unused_extractions()
        if unused:
            problems.append(
                message(
                    f"Ignored trace context: {len(unused)} extract() call(s) succeeded but "
                    f"no span was started with the extracted context.",
                    [
                        f"{call.diagnosis()}; no captured span has it as parent or link"
                        for call in unused
                    ],
                    "Pass the result on: tracer.start_as_current_span(name, "
                    f"context=propagate.extract(carrier)). See {DOCS}#ignored-context",
                )
            )
        errors = self.context_errors
        if errors:
            problems.append(
                message(
                    f"OpenTelemetry context errors: {len(errors)} during the test.",
                    [error.describe() for error in errors],
                    "A context token was detached in a different context than the one it "
                    "was attached in (async generators, callbacks, tasks ending in another "
                    "task): use `with tracer.start_as_current_span(...)` within one task. "
                    f"See {DOCS}#context-errors",
                )
            )
        return problems

    # -- assertions ---------------------------------------------------------------------
    def assert_single_trace(self) -> None:
        """Every captured span is in one trace, and none is an orphan."""
        __tracebackhide__ = True
        analysis = self._analysis()
        forest = analysis.forest
        if not forest.spans:
            raise AssertionError("assert_single_trace(): no spans were captured.")
        orphans = analysis.orphans()
        if len(forest.traces) == 1 and not orphans:
            return
        lines = [
            f"Expected all spans in one trace, captured {len(forest.traces)} trace(s)"
            + (f" and {len(orphans)} orphan span(s)" if orphans else "")
            + ":"
        ]
        for captured in forest.traces[:MAX_BULLETS]:
            lines.append(f"- {describe_trace(captured)}")
            for root in captured.roots:
                lines += [f"    {line}" for line in _fragment_notes(analysis, root)]
        lines += more_line(len(forest.traces))
        if orphans:
            lines += ["Orphans (parent neither captured nor extracted from a carrier):"]
            lines += [f"- {orphan_bullet(span)}" for span in orphans[:MAX_BULLETS]]
            lines += more_line(len(orphans))
        if len(forest.traces) > 1:
            lines += [
                "",
                "Each extra trace is a fragment: a hop (queue, RPC, thread, task) that lost "
                "the context. Carry it over with propagate.inject()/extract() or "
                f"contextvars.copy_context(). See {DOCS}#fragments",
            ]
        else:
            lines += ["", _orphan_fix(orphans)]
        raise AssertionError("\n".join(lines))

    def _broken_hop_hint(self) -> str:
        """For a failed tree assertion: roots that look like lost context, if any.

        Roots are examined only until the hint has its bullets: 10,000 fragments
        would otherwise cost 10,000 explanations to print ten."""
        analysis = self._analysis()
        roots = analysis.forest.roots
        if len(analysis.forest.traces) < 2:
            return ""
        hops: list[BrokenHop] = []
        examined = 0
        for root in roots:
            if len(hops) == HINT_BULLETS:
                break
            examined += 1
            if hop := analysis.explain_fragment(root):
                hops.append(hop)
        if not hops:
            return ""
        lines = [
            f"The capture holds {len(analysis.forest.traces):,} traces; these roots look "
            f"like hops that lost the context (see assert_single_trace()):"
        ]
        lines += [f"- {label(hop.span)}: {hop.reason}" for hop in hops]
        if examined < len(roots):
            lines.append(
                f"- … {len(roots) - examined:,} more root(s) not examined here: "
                f"assert_single_trace() explains each"
            )
        return "\n".join(lines)

    def assert_trace_count(self, expected: int) -> None:
        """Exactly `expected` traces: independent runs must not nest into one another."""
        __tracebackhide__ = True
        analysis = self._analysis()
        traces = analysis.forest.traces
        if len(traces) == expected:
            return
        lines = [f"Expected {expected} trace(s), captured {len(traces)}:"]
        for captured in traces:
            lines.append(f"- {describe_trace(captured)}")
            lines += [f"    {note}" for note in _nested_runs(captured)]
        if len(traces) < expected:
            fix = (
                "Runs that should be independent share a trace: one inherited the context "
                "of another. Start each run with a fresh context "
                "(tracer.start_as_current_span(name, context=Context())) or make sure the "
                f"previous run's context was detached. See {DOCS}#over-nesting"
            )
        else:
            fix = (
                "More traces than expected: a hop lost the context. See "
                f"{DOCS}#fragments (assert_single_trace() explains each fragment)"
            )
        raise AssertionError("\n".join([*lines, "", fix]))

    def assert_roots(self, *patterns: NamePattern) -> None:
        """The captured trees' roots match these names/globs one-to-one (any order)."""
        __tracebackhide__ = True
        forest = self._analysis().forest
        roots = forest.roots
        pairing = _match(patterns, roots)
        if len(pairing) == len(patterns) == len(roots):
            return
        unmatched = [p for i, p in enumerate(patterns) if i not in pairing]
        matched_roots = set(pairing.values())
        extra = [root for j, root in enumerate(roots) if j not in matched_roots]
        shown = ", ".join(repr(_pattern_text(p)) for p in patterns)
        lines = [
            f"Expected root spans {shown}; captured roots: "
            + (", ".join(label(root) for root in roots) or "none")
        ]
        for pattern in unmatched:
            nested = [
                span
                for span in forest.spans
                if span.parent is not None and name_matches(pattern, span.name)
            ]
            if nested:
                span = nested[0]
                lines.append(
                    f"- {_pattern_text(pattern)!r} exists but is nested under "
                    f"{label(span.parent)} in trace {short_id(span.trace_id)}… "  # type: ignore[arg-type]
                    "(it inherited another run's context)"
                )
            else:
                lines.append(f"- no root span matches {_pattern_text(pattern)!r}")
        for root in extra:
            lines.append(
                f"- unexpected root {label(root)} ({len(root.trace)} span(s) in its trace)"
            )
        lines += [
            "",
            "A run that should start its own trace must not inherit the current context: "
            "tracer.start_as_current_span(name, context=Context()). A root that should be "
            f"a child lost its context. See {DOCS}#over-nesting",
        ]
        raise AssertionError("\n".join(lines))

    def assert_propagated(
        self,
        producer: Any,
        consumer: Any,
        *,
        via: Literal["parent", "link"] | None = None,
    ) -> None:
        """Context flowed from `producer` to `consumer`: descendant, or span link.

        `producer`/`consumer` are names, globs, compiled regexes or spans. With
        `via="parent"` the consumer must be a descendant; with `via="link"` the
        path must cross a span link (the messaging conventions' default for
        `process` spans).
        """
        __tracebackhide__ = True
        if via not in (None, "parent", "link"):
            raise ValueError(f"via must be 'parent', 'link' or None, got {via!r}")
        analysis = self._analysis()
        forest = analysis.forest
        source = _resolve(forest, producer, "producer")
        target = _resolve(forest, consumer, "consumer")
        by_tree = source in target.ancestors()
        by_link = _reachable_through_link(forest, source, target)
        if (
            (via is None and (by_tree or by_link))
            or (via == "parent" and by_tree)
            or (via == "link" and by_link)
        ):
            return
        lines = [
            f"Context was not propagated from {label(source)} to {label(target)}"
            + (f" (via={via!r})" if via else "")
            + ":"
        ]
        lost_in_worker = False
        if by_link and via == "parent":
            lines.append("- the consumer is reached only through a span link, not as a descendant")
        elif by_tree and via == "link":
            lines.append("- the consumer is a descendant, but no span link was crossed")
        else:
            lines.append(f"- not a descendant: {_parent_story(analysis, target, source)}")
            lines.append(
                f"- no span link to {label(source)} (or a span under it) on {label(target)} "
                f"or its ancestors{_links_story(target)}"
            )
            root = (target.ancestors() or [target])[-1]
            enclosing = None
            if root.parent_span_id is None and not analysis.extract_before(root):
                enclosing = analysis.enclosing_span(root, test_thread_only=False)
            if enclosing is not None:  # a thread/task hop: the spy has nothing to say
                lost_in_worker = True
                lines.append(f"- broken hop: {analysis.worker_reason(root, enclosing)}")
            else:
                for line in analysis.spy_evidence(root, source):
                    lines.append(f"- propagator spy: {line}")
        if lost_in_worker:
            fix = (
                "Carry the context into the worker: submit contextvars.copy_context().run "
                "with the function (thread pools and run_in_executor do not copy it)."
            )
        else:
            fix = (
                "Inject inside the producer span (propagate.inject(carrier)) and start the "
                "consumer with context=propagate.extract(carrier) (parent-child) or "
                "links=[trace.Link(extracted_span_context)] (span link)."
            )
        lines += ["", f"{fix} See {DOCS}#assert_propagated"]
        raise AssertionError("\n".join(lines))


class _NoPropagator(TextMapPropagator):
    """Stands in before the capture started: records nothing, so no spy findings."""

    def inject(self, carrier: Any, context: Any = None, setter: Any = None) -> None:
        pass

    def extract(self, carrier: Any, context: Any = None, getter: Any = None) -> Any:
        return context if context is not None else Context()

    @property
    def fields(self) -> set[str]:
        return set()


def _orphan_fix(orphans: list[CapturedSpan]) -> str:
    if all(span.received for span in orphans):
        return (
            "Their parents were not exported: a process killed or exited before its "
            "spans were flushed (call provider.shutdown() or force_flush() before exit), "
            "or the test asserted before they arrived (wait_for(complete=True)). "
            f"See {DOCS}#orphans"
        )
    return (
        "The parent context came from outside the test (a stale or hand-made "
        "context, a span from an earlier test, or a provider that is not "
        f"captured). See {DOCS}#orphans"
    )


def _pattern_text(pattern: NamePattern) -> str:
    return pattern if isinstance(pattern, str) else pattern.pattern


def _fragment_notes(analysis: Analysis, root: CapturedSpan) -> list[str]:
    if root.parent_span_id is not None:
        if analysis.is_orphan(root):
            return [f"root {label(root)} is an orphan (its parent was never captured)"]
        if (root.trace_id, root.parent_span_id) in analysis.ambient_parents:
            return [f"root {label(root)} continues a span opened before the test body"]
        return [f"root {label(root)} continues a remote parent extracted from a carrier"]
    linked = [analysis.forest.get(*t) for t in link_targets(root)]
    linked_names = [label(span) for span in linked if span is not None]
    if linked_names:
        return [
            f"root {label(root)} links to {', '.join(linked_names)} (a healthy span-link "
            "hop; check it with assert_propagated())"
        ]
    hop = analysis.explain_fragment(root)
    if hop is None:
        return []
    lines = [f"broken hop: {hop.reason}"]
    if hop.producer is not None:
        lines.append(
            f"most likely sender: {label(hop.producer)} in trace {short_id(hop.producer.trace_id)}…"
        )
    return lines + hop.evidence


def _nested_runs(captured: Any) -> list[str]:
    root_names = {root.name for root in captured.roots}
    notes = []
    for span in captured.spans:
        if span.parent is not None and span.name in root_names:
            notes.append(
                f"nested run: {label(span)} is under {label(span.parent)} instead of "
                "starting its own trace"
            )
    return notes


def _resolve(forest: SpanForest, given: Any, role: str) -> CapturedSpan:
    __tracebackhide__ = True
    if isinstance(given, (CapturedSpan, ReadableSpan)):
        readable = given.readable if isinstance(given, CapturedSpan) else given
        found = forest.wrap(readable)
        if found is None:
            raise AssertionError(
                f"The {role} span {readable.name!r} was not captured by this test."
            )
        return found
    if isinstance(given, str) or hasattr(given, "fullmatch"):
        try:
            return forest.one(given)
        except AssertionError as error:
            raise AssertionError(f"assert_propagated(): the {role}: {error}") from None
    raise TypeError(f"{role} must be a span name, glob, regex or span, got {given!r}")


def _reachable_through_link(forest: SpanForest, source: CapturedSpan, target: CapturedSpan) -> bool:
    """Is there a path source -> target over child edges and link edges, using a link?"""
    linkers: dict[tuple[int, int], list[CapturedSpan]] = {}
    for span in forest.spans:
        for key in link_targets(span):
            linkers.setdefault(key, []).append(span)
    # States: (span, crossed a link yet?). Breadth-first over both edge kinds.
    start = (id(source), False)
    seen = {start}
    frontier = [(source, False)]
    while frontier:
        span, crossed = frontier.pop()
        if span is target and crossed:
            return True
        steps = [(child, crossed) for child in span.children]
        steps += [(linker, True) for linker in linkers.get((span.trace_id, span.span_id), [])]
        for nxt, flag in steps:
            key = (id(nxt), flag)
            if key not in seen:
                seen.add(key)
                frontier.append((nxt, flag))
    return False


def _parent_story(analysis: Analysis, target: CapturedSpan, source: CapturedSpan) -> str:
    if target.parent is not None:
        if target.trace_id == source.trace_id:
            return (
                f"{label(target)} is in the producer's trace, but under {label(target.parent)}, "
                "not under the producer"
            )
        chain = target.ancestor_chain(label)
        return f"{label(target)} is under {chain} in trace {short_id(target.trace_id)}…"
    if target.parent_span_id is None:
        return (
            f"{label(target)} has no parent: it is the root of trace "
            f"{short_id(target.trace_id)}… ({len(target.trace)} span(s)), the producer is in "
            f"trace {short_id(source.trace_id)}…"
        )
    if analysis.is_orphan(target):
        return (
            f"{label(target)}'s parent {target.parent_span_id:016x} was never captured (an orphan)"
        )
    return (
        f"{label(target)}'s parent is remote span {target.parent_span_id:016x} extracted from "
        "a carrier, not the producer"
    )


def _links_story(span: CapturedSpan) -> str:
    links = link_targets(span)
    if not links:
        return " (it has no links)"
    shown = ", ".join(f"{span_id:016x}" for _, span_id in links)
    return f" (its links point to {shown})"


def _match(patterns: tuple[NamePattern, ...], roots: list[CapturedSpan]) -> dict[int, int]:
    """Maximum bipartite matching pattern -> root (Kuhn's algorithm): globs may overlap."""
    options = [
        [j for j, root in enumerate(roots) if name_matches(pattern, root.name)]
        for pattern in patterns
    ]
    owner: dict[int, int] = {}

    def place(i: int, visited: set[int]) -> bool:
        for j in options[i]:
            if j in visited:
                continue
            visited.add(j)
            if j not in owner or place(owner[j], visited):
                owner[j] = i
                return True
        return False

    for i in range(len(patterns)):
        place(i, set())
    return {i: j for j, i in owner.items()}
