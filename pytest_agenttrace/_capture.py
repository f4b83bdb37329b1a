"""The per-test capture behind the `agenttrace` fixture."""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.sdk.environment_variables import OTEL_SDK_DISABLED
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

from ._options import AgentTraceOptions
from ._policies import PolicyChecks
from ._propagation import PropagationChecks
from ._query import CapturedSpan, NamePattern, SpanForest, SpanQueries, Trace, describe_query
from ._router import INSTALLATION, ProviderNotSupportedError, RawOrigin, span_key

T = TypeVar("T")

_NOT_YET: Any = object()
_PROVIDER_OVERRIDE = "Overriding of current TracerProvider is not allowed"


class AgentTraceWarning(UserWarning):
    """Something in the test's tracing set-up means spans may not be what it expects."""

    __module__ = "pytest_agenttrace"  # as reports print it: the public, importable name


class _OTelLogRecorder(logging.Handler):
    """Keeps OpenTelemetry's own warnings and errors raised during the test.

    OpenTelemetry reports misuse (a rejected TracerProvider override, "Failed to
    detach context") by logging, not raising; the capture turns those into
    findings instead of letting them scroll past.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class AgentTrace(SpanQueries, PropagationChecks, PolicyChecks):
    """Spans captured during one test, with queries and assertions.

    Exported for type hints only: get one from the `agenttrace` fixture.
    """

    def __init__(self, *, _stray: Iterable[ReadableSpan] = ()) -> None:
        self._started: list[ReadableSpan] = []
        self._ended: list[ReadableSpan] = []
        self._origins: dict[int, RawOrigin] = {}
        self._leaked_before: list[ReadableSpan] = list(_stray)
        self._cache_key: tuple[int, int] | None = None
        self._forest: SpanForest | None = None
        self._all_forest: SpanForest | None = None
        self._log_recorder = _OTelLogRecorder()

    # -- lifecycle ---------------------------------------------------------------
    def _start(self, options: AgentTraceOptions) -> None:
        self.options = options
        INSTALLATION.router.active = self
        logging.getLogger("opentelemetry").addHandler(self._log_recorder)
        self._start_propagation_checks()

    def _stop(self) -> None:
        """Stop capturing (teardown); later spans count as leaked into the next test."""
        self._stop_propagation_checks()
        router = INSTALLATION.router
        if router.active is self:
            router.active = None
        still_open = (span for span in list(self._started) if span.end_time is None)
        router.left_open.update(span_key(span) for span in still_open)
        logging.getLogger("opentelemetry").removeHandler(self._log_recorder)
        if any(_PROVIDER_OVERRIDE in r.getMessage() for r in self._log_recorder.records):
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

    def _teardown_problems(self) -> list[str]:
        """Findings that fail the test after its body ran (strict mode, policies)."""
        return self._propagation_problems() + self._policy_problems()

    def clear(self) -> None:
        """Forget everything captured so far (call at the start of each Hypothesis example)."""
        self._clear_propagation_checks()  # first: it looks at the spans still open
        self._started.clear()
        self._origins.clear()
        self._ended.clear()
        self._leaked_before.clear()
        self._log_recorder.records.clear()
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

    # -- raw data --------------------------------------------------------------------
    def _refresh(self) -> None:
        key = (len(self._started), len(self._ended))
        if key == self._cache_key and self._forest is not None:
            return
        started = list(self._started)
        self._cache_key = key
        self._all_forest = SpanForest(started)
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
    def leaked(self) -> list[ReadableSpan]:
        """Spans that ended during this test but started before it (an earlier test's)."""
        # on_end receives a snapshot, not the object on_start saw: compare ids.
        started = {span_key(span) for span in list(self._started)}
        during = [span for span in list(self._ended) if span_key(span) not in started]
        return self._leaked_before + during

    @property
    def otel_log_records(self) -> list[logging.LogRecord]:
        """Warnings and errors OpenTelemetry logged during the test."""
        return list(self._log_recorder.records)

    def __len__(self) -> int:
        return len(self.spans)

    # -- assertions ---------------------------------------------------------------------
    def assert_tree(self, expected: Any, **options: Any) -> None:
        """Assert the captured spans form the expected tree (see the syntax reference)."""
        __tracebackhide__ = True
        from ._match import assert_trace_tree

        try:
            assert_trace_tree(self, expected, **options)
            return
        except AssertionError as error:
            hint = self._broken_hop_hint()
            if not hint:
                raise
            message = f"{error}\n\n{hint}"
        raise AssertionError(message)  # outside the except: no "During handling of..."

    def render(self, style: str = "box") -> str:
        """The captured trees as text (`box` as in reports, `indent` as in expectations)."""
        from ._render import render_tree

        return render_tree(self.forest, style=style)

    # -- waiting --------------------------------------------------------------------------
    def wait_for(
        self,
        condition: Callable[[AgentTrace], T] | None = None,
        *,
        name: NamePattern | None = None,
        count: int | None = None,
        complete: bool = False,
        timeout: float = 5.0,
        interval: float = 0.005,
    ) -> T | Any:
        """Block until the capture satisfies a condition; fail with what was seen on timeout.

        - ``name=``: a finished span matching the glob exists (returns it; with
          ``count=N``, waits for N of them and returns the list);
        - ``count=N`` alone: N finished spans;
        - ``condition``: a callable taking the capture. A falsy result other than
          ``None`` (``False``, ``0``, an empty list) or an AssertionError means
          "not yet"; anything else (``None`` included) is returned, so
          ``wait_for(lambda t: t.assert_tree(...))`` retries a tree assertion;
        - ``complete=True``: additionally (or, given alone, only), every span
          started so far has ended (no agent is still working), which a
          root-present check cannot tell.
        """
        __tracebackhide__ = True
        check = _build_condition(condition, name, count, complete)
        deadline = time.monotonic() + timeout
        last_error: AssertionError | None = None
        while True:
            try:
                result = check(self)
                last_error = None
            except AssertionError as error:
                result, last_error = _NOT_YET, error
            if result is not _NOT_YET and (not complete or not self.unfinished):
                return result
            if time.monotonic() >= deadline:
                break
            time.sleep(interval)
            interval = min(interval * 2, 0.05)
        raise AssertionError(
            self._timeout_message(condition, name, count, complete, timeout, last_error)
        )

    def _timeout_message(
        self,
        condition: Callable[..., Any] | None,
        name: NamePattern | None,
        count: int | None,
        complete: bool,
        timeout: float,
        last_error: AssertionError | None,
    ) -> str:
        if condition is not None:
            wanted = f"{getattr(condition, '__name__', 'condition')}() to hold"
        elif name is not None:
            wanted = f"{count or 1} finished span(s) matching {describe_query(name)}"
        elif count is not None:
            wanted = f"{count} finished span(s)"
        else:
            wanted = ""
        if complete:
            wanted += " and every started span to end" if wanted else "every started span to end"
        open_spans = self.unfinished
        lines = [
            f"wait_for() timed out after {timeout:g} s waiting for {wanted}.",
            f"Captured so far: {len(self.spans)} finished span(s), {len(open_spans)} open.",
        ]
        if self.spans:
            lines += ["", self.render()]
        if open_spans:
            lines += ["", "Still open:"]
            now = time.time_ns()
            for span in open_spans:
                chain = " < ".join(s.name for s in span.ancestors())
                age = (now - span.start_time) / 1e9
                lines.append(
                    f"- {span.name} (open {age:.2f} s)" + (f" under {chain}" if chain else "")
                )
        if last_error is not None:
            lines += ["", "Last assertion error:", str(last_error)]
        return "\n".join(lines)


def _build_condition(
    condition: Callable[[AgentTrace], Any] | None,
    name: NamePattern | None,
    count: int | None,
    complete: bool,
) -> Callable[[AgentTrace], Any]:
    __tracebackhide__ = True
    given = sum(x is not None for x in (condition, name)) + (count is not None and name is None)
    if given == 0 and complete:
        return lambda capture: capture.spans  # only "every started span has ended"
    if given != 1:
        raise TypeError(
            "wait_for() takes exactly one of: a condition callable, name= (optionally "
            "with count=), or count= alone; or complete=True alone"
        )
    if condition is not None:

        def satisfied(capture: AgentTrace) -> Any:
            result = condition(capture)
            # None means "ran without complaint" (an assert-style check); any other
            # falsy value (False, 0, an empty list) means "not yet".
            if result is not None and not result:
                return _NOT_YET
            return result

        return satisfied
    if name is not None:
        wanted = count or 1

        def named(capture: AgentTrace) -> Any:
            found = capture.find(name)
            if len(found) < wanted:
                return _NOT_YET
            return found[0] if count is None else found

        return named
    assert count is not None
    return lambda capture: capture.spans if len(capture.spans) >= count else _NOT_YET


def start_capture(options: AgentTraceOptions) -> AgentTrace:
    """Begin capturing for one test (the fixture's set-up)."""
    try:
        INSTALLATION.ensure_global()
    except ProviderNotSupportedError as error:
        warnings.warn(
            AgentTraceWarning(
                f"{error}\nOnly spans from agenttrace.tracer_provider (or providers "
                f"passed to agenttrace.attach()) will be captured."
            ),
            stacklevel=3,
        )
    if os.environ.get(OTEL_SDK_DISABLED, "").strip().lower() == "true":
        warnings.warn(
            AgentTraceWarning(
                f"{OTEL_SDK_DISABLED}=true: OpenTelemetry's SDK hands out no-op tracers, "
                f"so no span is recorded and the capture stays empty. Unset it for the "
                f"test run."
            ),
            stacklevel=3,
        )
    stray = list(INSTALLATION.router.stray)
    INSTALLATION.router.stray.clear()
    capture = AgentTrace(_stray=stray)
    capture._start(options)
    return capture
