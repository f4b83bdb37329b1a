"""One span processor per process, attached to every TracerProvider we capture from.

The global TracerProvider can be set only once per process, so the plugin never
replaces or resets it: it adds this processor (public SDK API) and points it at
the capture of the test that is running.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import os
import sys
import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider

from .._errors import ProviderNotSupportedError
from ._query import ReceivedSpan

if TYPE_CHECKING:
    from opentelemetry.context import Context

    from ._capture import Capture

RawOrigin = tuple[threading.Thread, "asyncio.Task[Any] | None"]


# bound once: looked up at every span start (SpanRouter.on_start inlines raw_origin)
_running_loop, _current_task, _thread_ident = (
    asyncio._get_running_loop,  # checks for a loop without raising
    asyncio.current_task,
    threading.get_ident,
)


def raw_origin() -> RawOrigin:
    """The thread and asyncio task we are in, as cheaply as possible."""
    loop = _running_loop()
    return threading.current_thread(), _current_task(loop) if loop is not None else None


# A capture's spans in start order (live while open, the end snapshot once ended),
# the place of each open one and the origin of those started off the test's thread
# and task. Both dicts are keyed by id() of the span's context object, which the
# live span and the snapshot its end makes share. One tuple, swapped whole by
# clear(): a span's start and end use the same list, places and origins.
Record = tuple[list[ReadableSpan], dict[int, int], dict[int, RawOrigin]]


def span_key(span: ReadableSpan) -> tuple[int, int]:
    context = span.context
    return (context.trace_id, context.span_id) if context is not None else (0, id(span))


# Spans a test left open that end while no test is capturing: kept so the next
# capture can report them as leaked. Bounded, so a flood of them can't grow memory.
_STRAY_LIMIT = 10_000
# Spans started outside any capture and never ended (a suite of tests without the
# fixture that leak spans) would otherwise pile up for the whole session. The first
# ones are kept: a session-long span around the run is among them.
_OPEN_OUTSIDE_LIMIT = 10_000
# Trace ids of finished captures, so a span received late is not the running test's.
_FINISHED_TRACES_LIMIT = 100_000
# A query waits at most this long for answered exports to be filed (a 100,000-span
# export files in well under a second).
_FILING_TIMEOUT_S = 10.0
# Receiver findings (a malformed export) made while no test was capturing.
_PENDING_PROBLEMS_LIMIT = 100
# Tracers of CI plugins that trace the test run itself (pytest-opentelemetry: a span
# per session, test, phase and fixture). Their spans are the test's surroundings,
# not its subject: never captured, never unfinished, legitimate parents.
AMBIENT_TRACERS = frozenset({"pytest-opentelemetry"})
# Recent ambient spans, oldest out: pytest-opentelemetry starts one span per test
# that it never ends, and only recent ones can be a parent. Never removed on end:
# an ended one is still no orphan-maker, and on_end stays free of the check.
_AMBIENT_RECENT_LIMIT = 256


@dataclasses.dataclass(frozen=True)
class ReceiverProblem:
    """A finding of the OTLP receiver: an export it refused, or spans it rejected from one."""

    text: str
    # more than 0: the export was taken and only these of its spans dropped
    rejected_spans: int = 0
    between_tests: bool = False  # made while no test was capturing
    during: str = ""  # the node id of the test that ran then, one that doesn't capture


class SpanRouter(SpanProcessor):
    """Hands each span to the active capture at start and at end.

    `list.append` and dict assignment are atomic under the GIL, so spans from any
    thread are recorded without a lock and without batching.
    """

    def __init__(self) -> None:
        self.active: Capture | None = None
        self.stray: collections.deque[ReadableSpan] = collections.deque(maxlen=_STRAY_LIMIT)
        # (trace id, span id) of spans a finished capture left open: when one ends
        # between tests it is kept for the next capture to report as leaked.
        self.left_open: set[tuple[int, int]] = set()
        # Spans started while no test was capturing and not ended yet: a fixture's
        # or a CI plugin's span around the test, a legitimate parent of its spans.
        self.open_outside: set[tuple[int, int]] = set()
        # set by the OTLP receiver: only then do finished captures' trace ids matter
        self.receivers_running = False
        self._filing = 0  # answered exports whose spans are being filed
        self._filed = threading.Condition()
        self.finished_traces: collections.OrderedDict[int, None] = collections.OrderedDict()
        self.pending_problems: collections.deque[ReceiverProblem] = collections.deque(
            maxlen=_PENDING_PROBLEMS_LIMIT
        )
        # ... made while a test ran that doesn't capture: no later test is to blame, so
        # they are said at the session's end (the plugin keeps `uncaptured_test` set)
        self.unreported_problems: collections.deque[ReceiverProblem] = collections.deque(
            maxlen=_PENDING_PROBLEMS_LIMIT
        )
        self.uncaptured_test: str | None = None
        # set by the plugin when a CI tracing plugin is loaded: only then does each
        # span start pay for the check
        self.ambient_tracers: frozenset[str] = frozenset()
        self.ambient_recent: collections.OrderedDict[tuple[int, int], None] = (
            collections.OrderedDict()
        )

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        capture = self.active
        if self.ambient_tracers:
            scope = span.instrumentation_scope
            if scope is not None and scope.name in self.ambient_tracers:
                self._ambient_start(span, capture)
                return
        if capture is not None:
            record = capture._record
            started, open_at, origins = record
            started.append(span)
            # its place, for its end snapshot: the last, unless other threads'
            # spans were appended since (nothing moves, so it is found back there)
            place = len(started) - 1
            while started[place] is not span:
                place -= 1
            # the `context` property's field, read directly (the property call
            # was 1 % of a bare span's instructions, at start and at end)
            key = id(span._context)
            open_at[key] = place
            # Span data names no thread; the thread-pool context-loss check needs
            # it. Most spans start where the test runs: only the others are noted.
            # Compared as the thread's ident (C calls only): the Thread object is
            # looked up only for the few spans that start elsewhere.
            loop = _running_loop()
            task = _current_task(loop) if loop is not None else None
            if _thread_ident() != capture._home_ident or task is not capture._home[1]:
                origins[key] = (threading.current_thread(), task)
            if capture._record is not record:  # clear() ran meanwhile
                capture._open_across_clear(span_key(span))
        elif len(self.open_outside) < _OPEN_OUTSIDE_LIMIT:
            self.open_outside.add(span_key(span))

    def _ambient_start(self, span: Span, capture: Capture | None) -> None:
        key = span_key(span)
        recent = self.ambient_recent
        recent[key] = None
        if len(recent) > _AMBIENT_RECENT_LIMIT:
            recent.popitem(last=False)
        if capture is not None:
            capture._ambient_parents.add(key)

    def on_end(self, span: ReadableSpan) -> None:
        capture = self.active
        if capture is not None:
            started, open_at, _ = capture._record
            place = open_at.pop(id(span._context), None)
            if place is not None:  # the snapshot replaces the live span
                started[place] = span
            # next() on a count is atomic: any end after a query changes the tick
            capture._last_end = next(capture._end_ticks)
        elif self.receivers_running and span.parent is None and span.context is not None:
            # a trace rooted outside any capture (a fixture's warm-up call): what
            # other processes send for it later is not the running test's
            self.finish_traces({span.context.trace_id})
        if self.open_outside or self.left_open or (capture is not None and capture._open_at_clear):
            self._end_of_foreign(span, capture)

    def _end_of_foreign(self, span: ReadableSpan, capture: Capture | None) -> None:
        """A span that started outside the running capture ends: leaked, or ambient."""
        key = span_key(span)
        if key in self.open_outside:
            self.open_outside.discard(key)
            if capture is not None:
                capture._leaked_during.append(span)
        elif key in self.left_open:  # an earlier test's span
            self.left_open.discard(key)
            if capture is not None:
                capture._leaked_during.append(span)
            else:
                self.stray.append(span)
        elif capture is not None and key in capture._open_at_clear:
            capture._open_at_clear.discard(key)
            capture._leaked_during.append(span)

    @contextlib.contextmanager
    def filing(self) -> Iterator[None]:
        """Held by the receiver from answering an export until its spans are filed."""
        with self._filed:
            self._filing += 1
        try:
            yield
        finally:
            with self._filed:
                self._filing -= 1
                self._filed.notify_all()

    def wait_filed(self) -> None:
        """Spans of every answered export are filed (queries and the test's end wait)."""
        if self._filing:
            with self._filed:
                self._filed.wait_for(lambda: not self._filing, timeout=_FILING_TIMEOUT_S)

    def receive(self, spans: list[ReadableSpan]) -> None:
        """Spans from another process: the running test's, unless an earlier test's trace.

        Called by the OTLP receiver right after it answered the export, inside
        `filing()`: queries and the capture's end wait for it, so a child that
        exited (its SDK flushed) has its spans in the capture.
        """
        capture = self.active
        for span in sorted(spans, key=lambda span: span.start_time or 0):
            context = span.context
            if capture is None:
                self.stray.append(span)  # for the next capture, as leaked
            elif (context is not None and context.trace_id in self.finished_traces) or (
                (span.start_time or 0) < capture._began_ns
            ):
                # an earlier test's trace, or begun before this test did (by a fixture
                # or in a process the test never reached)
                capture._late.append(span)
            else:
                capture._any_received = True
                capture._started.append(span)
                capture._last_end = next(capture._end_ticks)

    def report_problem(self, problem: ReceiverProblem) -> None:
        """A finding of the receiver (a malformed export): fails the running or next
        capturing test, unless a test that doesn't capture is running."""
        capture = self.active
        if capture is not None:
            capture._receiver_problems.append(problem)
        elif self.uncaptured_test is not None:
            during = dataclasses.replace(problem, during=self.uncaptured_test)
            self.unreported_problems.append(during)
        else:
            self.pending_problems.append(dataclasses.replace(problem, between_tests=True))

    def take_unclaimed_received(self) -> list[ReadableSpan]:
        """Spans from other processes that arrived while no test was capturing and that
        no capture has taken since (the session's end says them), taken out of `stray`."""
        stray = list(self.stray)
        received: list[ReadableSpan] = [span for span in stray if isinstance(span, ReceivedSpan)]
        if received:
            self.stray.clear()
            self.stray.extend(span for span in stray if not isinstance(span, ReceivedSpan))
        return received

    def finish_traces(self, trace_ids: set[int]) -> None:
        finished = self.finished_traces
        for trace_id in trace_ids:
            finished[trace_id] = None
            finished.move_to_end(trace_id)
        while len(finished) > _FINISHED_TRACES_LIMIT:
            finished.popitem(last=False)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _own_resource() -> Resource:
    """`service.name` "pytest" unless OTEL_SERVICE_NAME says otherwise: the SDK's
    default names the executable (`unknown_service:python3.11`), so a printed
    cross-process tree would paste back only under the same interpreter name."""
    if os.environ.get("OTEL_SERVICE_NAME"):
        return Resource.create()
    return Resource.create({"service.name": "pytest"})


class _OTelLogRouter(logging.Handler):
    """Hands OpenTelemetry's own warnings and errors to the running capture.

    OpenTelemetry reports misuse (a rejected TracerProvider override, "Failed to
    detach context") by logging, not raising. One handler for the process, not
    one added and removed per test: that cost every test two Handler objects.
    """

    def __init__(self, router: SpanRouter) -> None:
        super().__init__(level=logging.WARNING)
        self.router = router

    def emit(self, record: logging.LogRecord) -> None:
        capture = self.router.active
        if capture is None:
            return
        capture._otel_log_records.append(record)
        for listener in capture._otel_log_listeners:
            with contextlib.suppress(Exception):  # logging must never break the test
                listener(record)


_OTEL_LOGGER = "opentelemetry"


def sdk_provider_behind(provider: Any) -> Any:
    """The SDK TracerProvider a wrapping provider delegates to, else `provider` itself.

    Logfire's `logfire.configure()` sets a proxy as the global provider whose
    `provider` is the SDK TracerProvider that makes its spans. It swaps that for a
    new one when configure() is called again, so the capture attaches to the one
    behind the proxy at each test's start, never to the proxy once.
    """
    inner = getattr(provider, "provider", None)
    if not isinstance(provider, TracerProvider) and isinstance(inner, TracerProvider):
        return inner
    return provider


def logfire_provider() -> Any:
    """Logfire's own SDK provider once `logfire.configure()` ran, else None.

    When another provider was set globally first (pytest-opentelemetry's, the
    distro's under `opentelemetry-instrument`), Logfire's proxy never becomes the
    global one: its spans go to a provider only Logfire knows. Read through its
    public instance, only if the app imported logfire.
    """
    logfire = sys.modules.get("logfire")
    config = getattr(getattr(logfire, "DEFAULT_LOGFIRE_INSTANCE", None), "config", None)
    try:
        provider = sdk_provider_behind(config.get_tracer_provider()) if config else None
    except Exception:  # another logfire than the one we know: capture what we can
        return None
    return provider if isinstance(provider, TracerProvider) else None


class _Installation:
    """Process-wide state: the router and the providers it is attached to."""

    def __init__(self) -> None:
        self.router = SpanRouter()
        self.log_router = _OTelLogRouter(self.router)
        self._otel_logger = logging.getLogger(_OTEL_LOGGER)  # loggers live as long as the process
        self._lock = threading.Lock()
        self._attached: weakref.WeakSet[TracerProvider] = weakref.WeakSet()
        self._own_provider: TracerProvider | None = None
        # The global provider once attached, when it is an SDK provider itself (no
        # proxy that could start delegating elsewhere): every test's start and stop
        # then checks it with one comparison.
        self._settled_global: TracerProvider | None = None

    @property
    def own_provider(self) -> TracerProvider:
        """The plugin's SDK provider, for code that takes a provider by injection."""
        with self._lock:
            if self._own_provider is None:
                self._own_provider = TracerProvider(resource=_own_resource())
        self.attach(self._own_provider)
        return self._own_provider

    def attach(self, provider: Any) -> None:
        provider = sdk_provider_behind(provider)
        if not isinstance(provider, TracerProvider):
            raise ProviderNotSupportedError(
                f"pytest-agenttrace can only capture from an OpenTelemetry SDK "
                f"TracerProvider, got {type(provider).__module__}.{type(provider).__qualname__}.\n"
                f"Use opentelemetry.sdk.trace.TracerProvider, or hand your code "
                f"agenttrace.tracer_provider."
            )
        with self._lock:
            if provider in self._attached:
                return
            self._attached.add(provider)
        provider.add_span_processor(self.router)

    def ensure_log_router(self) -> None:
        """(Re-)add the log handler: logging.config calls may have dropped it."""
        logger = self._otel_logger
        if self.log_router not in logger.handlers:
            logger.addHandler(self.log_router)

    def global_was_swapped(self) -> bool:
        """The global provider delegates to an SDK provider we are not attached to.

        Only a wrapping provider (Logfire's, reconfigured during the test) gets
        there: the global itself can be set only once.
        """
        provider = trace.get_tracer_provider()
        if self._is_settled(provider):
            return False
        providers = [sdk_provider_behind(provider), logfire_provider()]
        return any(
            isinstance(provider, TracerProvider) and provider not in self._attached
            for provider in providers
        )

    def _is_settled(self, provider: Any) -> bool:
        """`provider` is the attached SDK global, and no Logfire may wrap another."""
        return provider is self._settled_global and "logfire" not in sys.modules

    def ensure_global(self) -> None:
        """Attach to the global provider, installing ours if the code set none."""
        provider = trace.get_tracer_provider()
        if self._is_settled(provider):
            return
        if isinstance(provider, trace.ProxyTracerProvider):
            trace.set_tracer_provider(self.own_provider)
            provider = trace.get_tracer_provider()
        self.attach(provider)
        if isinstance(provider, TracerProvider) and sdk_provider_behind(provider) is provider:
            self._settled_global = provider
        beside = logfire_provider()
        if beside is not None:
            self.attach(beside)


INSTALLATION = _Installation()
