"""The per-test capture: the spans the router hands it, linked into a forest on demand."""

from __future__ import annotations

import itertools
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from .._errors import AgentTraceWarning
from ._query import CapturedSpan, SpanForest, SpanQueries, Trace
from ._router import INSTALLATION, RawOrigin, ReceiverProblem, Record, raw_origin, span_key

if TYPE_CHECKING:
    from .._options import AgentTraceOptions

_PROVIDER_OVERRIDE = "Overriding of current TracerProvider is not allowed"


class Capture(SpanQueries):
    """Spans recorded during one test; the base of the fixture's AgentTrace.

    The router appends each span to `_started` as it starts, from any thread, and
    as it ends puts the SDK's end snapshot in its place and ticks `_last_end`: the
    live span (its lock, processor and limits) is held only while it is open, so a
    capture holds what `InMemorySpanExporter` would, in start order. The forest is
    rebuilt only when a span started or ended since the last query.
    """

    # Scalars that start the same in every capture: class defaults, set per
    # instance once they change (fewer stores per test).
    _any_received = False  # a span received from another process is this test's
    _began_ns = 0
    _cache_key: tuple[int, int] | None = None
    _forest: SpanForest | None = None
    _all_forest: SpanForest | None = None
    _open_at_stop = False  # a span was still open when the capture stopped
    _last_end = 0  # ticked by each span's end
    # set by _start: where the test runs (thread and task), and the parents
    # that are not orphans though never captured
    _home: RawOrigin
    _home_ident: int
    _ambient_parents: set[tuple[int, int]]

    def __init__(self, *, _stray: Iterable[ReadableSpan] = ()) -> None:
        self._record: Record = ([], {}, {})
        self._end_ticks = itertools.count(1)
        self._leaked_before: list[ReadableSpan] = list(_stray)
        self._leaked_during: list[ReadableSpan] = []
        self._open_at_clear: set[tuple[int, int]] = set()
        # late spans of earlier tests, received from other processes
        self._late: list[ReadableSpan] = []
        self._receiver_problems: list[ReceiverProblem] = []
        # OpenTelemetry's warnings and errors during the test (INSTALLATION.log_router),
        # and the mixins' hooks on each (propagation keeps context errors)
        self._otel_log_records: list[logging.LogRecord] = []
        self._otel_log_listeners: list[Callable[[logging.LogRecord], None]] = []

    # -- lifecycle ---------------------------------------------------------------
    def _start(self, options: AgentTraceOptions) -> None:
        self.options = options
        router = INSTALLATION.router
        self._began_ns = time.time_ns()
        self._home = raw_origin()
        self._home_ident = threading.get_ident()
        if router.pending_problems:  # each guard here spares every test a call
            self._receiver_problems += router.pending_problems
            router.pending_problems.clear()
        # Parents that are not orphans though never captured: spans open since
        # before the test (a fixture's or a CI plugin's span around it).
        self._ambient_parents = set(router.open_outside)
        if router.ambient_recent:
            self._ambient_parents.update(router.ambient_recent)
        current = trace.get_current_span().get_span_context()
        if current.is_valid and not current.is_remote:
            self._ambient_parents.add((current.trace_id, current.span_id))
        INSTALLATION.ensure_log_router()
        router.active = self

    def _stop(self) -> None:
        """Stop capturing (teardown); later spans count as leaked into the next test."""
        router = INSTALLATION.router
        router.wait_filed()  # answered exports are this test's
        if router.active is self:
            router.active = None
        started = list(self._started)
        still_open = [span_key(span) for span in started if span.end_time is None]
        if still_open:
            router.left_open.update(still_open)
            self._open_at_stop = True
        if router.receivers_running:
            # traces rooted here; not an ambient trace (a CI plugin's session span)
            # that later tests' spans share
            rooted = {s.context.trace_id for s in started if s.context and s.parent is None}
            router.finish_traces(rooted)
        records = self._otel_log_records
        if records and any(_PROVIDER_OVERRIDE in r.getMessage() for r in records):
            warnings.warn(
                AgentTraceWarning(
                    "The code under test called trace.set_tracer_provider() during the "
                    "test, after a global TracerProvider was already set. OpenTelemetry "
                    "ignores that call: the new provider's processors and exporters "
                    "receive nothing, and spans go to the provider set first (which "
                    "pytest-agenttrace captures). Set your provider at import time or in "
                    "conftest.py, or pass agenttrace.tracer_provider to the code."
                ),
                stacklevel=1,
            )
        if INSTALLATION.global_was_swapped():
            warnings.warn(
                AgentTraceWarning(
                    "The global TracerProvider began delegating to a new SDK "
                    "TracerProvider during the test (logfire.configure() called again?): "
                    "spans made through it after that were not captured. Configure "
                    "tracing once, at import time or in conftest.py; tests that start "
                    "after the change capture the new provider."
                ),
                stacklevel=1,
            )

    def clear(self) -> None:
        """Forget everything captured so far (call at the start of each Hypothesis example)."""
        INSTALLATION.router.wait_filed()  # an export answered before clear() is cleared too
        # Other threads may start and end spans meanwhile: what ends from here on
        # stays leaked, and a span starts in the record it took, old or new.
        self._leaked_before.clear()
        self._leaked_during.clear()
        cleared = self._record[0]
        self._record = ([], {}, {})
        # A span left open across clear() (the test body's own span, say) is no
        # longer captured, but the spans started under it are not orphans.
        for span in list(cleared):
            if span.end_time is None:
                self._open_across_clear(span_key(span))
        self._any_received = False
        self._late.clear()
        self._otel_log_records.clear()
        self._cache_key = None

    # -- providers -----------------------------------------------------------------
    @property
    def tracer_provider(self) -> TracerProvider:
        """An SDK TracerProvider whose spans this capture sees, for dependency injection."""
        return INSTALLATION.own_provider

    @property
    def tracer(self) -> trace.Tracer:
        return self.tracer_provider.get_tracer("pytest-agenttrace")

    def attach(self, provider: TracerProvider) -> None:
        """Capture spans from a provider the code built itself and never set globally."""
        INSTALLATION.attach(provider)

    def _open_across_clear(self, key: tuple[int, int]) -> None:
        """A span open when clear() ran: its end is leaked, its children no orphans."""
        self._ambient_parents.add(key)
        self._open_at_clear.add(key)

    # -- raw data --------------------------------------------------------------------
    @property
    def _started(self) -> list[ReadableSpan]:
        """Every span of the capture so far, in start order: live while open, the
        SDK's end snapshot once ended."""
        return self._record[0]

    @property
    def _origins(self) -> dict[int, RawOrigin]:
        """id(span context) -> the thread and task it started in, for the spans that
        started off the test's own (Record)."""
        return self._record[2]

    def _refresh(self) -> None:
        INSTALLATION.router.wait_filed()
        key = (len(self._started), self._last_end)
        if key == self._cache_key and self._forest is not None:
            return
        started = list(self._started)
        self._cache_key = key
        self._all_forest = SpanForest(started)
        if self._all_forest.all_ended:
            self._forest = self._all_forest  # the usual case: one forest, not two
        else:
            self._forest = SpanForest(span for span in started if span.end_time is not None)

    @property
    def forest(self) -> SpanForest:
        """Finished spans started during the test, linked into trees."""
        self._refresh()
        assert self._forest is not None
        return self._forest

    @property
    def spans(self) -> list[CapturedSpan]:
        """Finished spans started during the test, in start order."""
        return self.forest.spans

    @property
    def traces(self) -> list[Trace]:
        return self.forest.traces

    @property
    def roots(self) -> list[CapturedSpan]:
        """Finished spans whose parent was not captured (or is still open)."""
        return self.forest.roots

    @property
    def unfinished(self) -> list[CapturedSpan]:
        """Spans started during the test that have not ended (yet)."""
        self._refresh()
        assert self._all_forest is not None
        return [span for span in self._all_forest.spans if not span.ended]

    @property
    def awaiting_parents(self) -> list[CapturedSpan]:
        """Received spans whose parent has not arrived (yet): its process may not have flushed."""
        INSTALLATION.router.wait_filed()
        if not self._any_received:
            return []
        self._refresh()
        assert self._all_forest is not None
        return [
            span
            for span in self._all_forest.roots
            if span.received
            and span.parent_span_id is not None
            # a parent in its own process: one from a carrier (a caller outside
            # the test) is nothing to wait for
            and not span.has_remote_parent
            and (span.trace_id, span.parent_span_id) not in self._ambient_parents
        ]

    @property
    def leaked(self) -> list[ReadableSpan]:
        """Spans that ended during this test but started before it (an earlier test's)."""
        INSTALLATION.router.wait_filed()
        return self._leaked_before + self._leaked_during + self._late

    @property
    def otel_log_records(self) -> list[logging.LogRecord]:
        """Warnings and errors OpenTelemetry logged during the test."""
        return list(self._otel_log_records)

    def __len__(self) -> int:
        return len(self.spans)
