"""Capture: what the fixture sees, whoever owns the TracerProvider."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import sys
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from textwrap import dedent

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import Span, SpanContext

from pytest_agenttrace import AgentTrace
from pytest_agenttrace.capture import _capture, _router

tracer = trace.get_tracer(__name__)  # before any provider exists: a ProxyTracer


def test_sees_spans_from_a_module_level_proxy_tracer(agenttrace: AgentTrace) -> None:
    with tracer.start_as_current_span("root"), tracer.start_as_current_span("child"):
        pass
    assert [span.name for span in agenttrace.spans] == ["root", "child"]


def test_each_test_starts_empty(agenttrace: AgentTrace) -> None:
    assert agenttrace.spans == []
    assert agenttrace.unfinished == []


def test_injected_provider_is_captured(agenttrace: AgentTrace) -> None:
    with agenttrace.tracer.start_as_current_span("injected"):
        pass
    agenttrace.tracer_provider.get_tracer("other").start_span("direct").end()
    assert [span.name for span in agenttrace.spans] == ["injected", "direct"]


def test_attach_captures_a_provider_that_was_never_set_globally(agenttrace: AgentTrace) -> None:
    private = TracerProvider()
    private.get_tracer("x").start_span("before attach").end()
    agenttrace.attach(private)
    agenttrace.attach(private)  # idempotent: spans must not be recorded twice
    private.get_tracer("x").start_span("after attach").end()
    assert [span.name for span in agenttrace.spans] == ["after attach"]


def test_attach_rejects_a_non_sdk_provider_with_a_clear_message(agenttrace: AgentTrace) -> None:
    with pytest.raises(RuntimeError, match="can only capture from an OpenTelemetry SDK"):
        agenttrace.attach(trace.NoOpTracerProvider())  # type: ignore[arg-type]


def test_open_spans_are_unfinished_not_spans(agenttrace: AgentTrace) -> None:
    with tracer.start_as_current_span("agent"):
        hung = tracer.start_span("hung tool call")
    assert [span.name for span in agenttrace.spans] == ["agent"]
    (open_span,) = agenttrace.unfinished
    assert open_span.name == "hung tool call"
    assert [span.name for span in open_span.ancestors()] == ["agent"]
    hung.end()
    assert agenttrace.unfinished == []
    assert len(agenttrace.spans) == 2


def test_no_span_is_lost_across_threads(agenttrace: AgentTrace) -> None:
    threads_count, per_thread = 8, 500

    def work(index: int) -> None:
        for n in range(per_thread):
            with tracer.start_as_current_span(f"t{index}"):
                tracer.start_span(f"t{index}.{n}").end()

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(agenttrace.spans) == threads_count * per_thread * 2
    assert all(span.parent is not None for span in agenttrace.find("t*.*"))


def test_an_ended_span_is_kept_as_its_end_snapshot_and_the_live_span_is_freed(
    agenttrace: AgentTrace,
) -> None:
    # the live span (its lock, processor and limits) is held only while it is open
    span = tracer.start_span("agent", attributes={"step": 1})
    live = weakref.ref(span)
    assert [open_span.name for open_span in agenttrace.unfinished] == ["agent"]
    span.set_attribute("step", 2)
    span.end()
    del span
    assert agenttrace.one("agent", attributes={"step": 2}).ended  # a new forest
    assert agenttrace.unfinished == []
    gc.collect()
    assert live() is None


def test_spans_that_start_at_the_same_time_keep_their_start_order(
    agenttrace: AgentTrace,
) -> None:
    # Equal start times are common where the clock is coarse (Windows before
    # Python 3.13) or times are given: start order decides, not end order.
    moment = time.time_ns()
    with tracer.start_as_current_span("agent", start_time=moment):
        first = tracer.start_span("first", start_time=moment)
        second = tracer.start_span("second", start_time=moment)
        second.end()
        first.end()
    assert [span.name for span in agenttrace.spans] == ["agent", "first", "second"]
    agenttrace.assert_tree("""
        agent [ordered]
          first
          second
    """)


def test_queries_while_threads_start_and_end_spans_see_each_ended_span_once(
    agenttrace: AgentTrace,
) -> None:
    # A span's end snapshot takes its place as it ends: a query copying the
    # capture while that happens must neither miss it nor hold it twice.
    ended: list[int] = []

    def work() -> None:
        for _ in range(1_500):
            with tracer.start_as_current_span("outer") as outer:
                tracer.start_span("inner").end()
            ended.append(outer.get_span_context().span_id)

    workers = [threading.Thread(target=work) for _ in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch often, so ends fall inside queries
    try:
        for worker in workers:
            worker.start()
        while any(worker.is_alive() for worker in workers):
            ended_before = set(ended)
            seen = [span.span_id for span in agenttrace.spans]
            assert len(seen) == len(set(seen)), "a span was held twice"
            assert ended_before <= set(seen), "an ended span was missed"
    finally:
        sys.setswitchinterval(interval)
        for worker in workers:
            worker.join()
    assert len(agenttrace.find("outer")) == len(ended) == 6_000


def test_a_span_finds_its_place_though_another_threads_span_was_appended_after_it(
    agenttrace: AgentTrace,
) -> None:
    # The threaded test above rarely hits the moment; this makes it happen: another
    # thread's span is appended right after this one, before its place is noted.
    elsewhere = ReadableSpan(
        name="elsewhere",
        context=SpanContext(1, 2, False),
        start_time=time.time_ns(),
        end_time=time.time_ns(),
    )

    class AnotherThreadAppendsToo(list[ReadableSpan]):
        def append(self, span: ReadableSpan) -> None:
            super().append(span)
            if span is not elsewhere:
                super().append(elsewhere)

    agenttrace._record = (AnotherThreadAppendsToo(), {}, {})
    tracer.start_span("here", attributes={"step": 1}).end()
    assert sorted(span.name for span in agenttrace.spans) == ["elsewhere", "here"]


@pytest.mark.parametrize(
    "moment",
    [
        "as clear() begins",
        "while clear() reads the open spans",
        "right after the span's append",
        "right before the span's append",  # possible on a free-threaded build
    ],
)
def test_a_span_that_starts_while_clear_runs_is_kept_or_leaked_and_its_children_are_no_orphans(
    agenttrace: AgentTrace, monkeypatch: pytest.MonkeyPatch, moment: str
) -> None:
    # A worker thread starts "job" at each moment a thread switch can put it
    # inside clear(); a child starts under it after clear(). The job must be
    # captured or leaked, never lost; its child no orphan; and no origin may be
    # left for a span the capture no longer holds (its id is reused later).
    jobs: list[Span] = []

    def start_job() -> None:
        worker = threading.Thread(target=lambda: jobs.append(tracer.start_span("job")))
        worker.start()
        worker.join()

    class Hooked(list[ReadableSpan]):
        def clear(self) -> None:
            super().clear()
            if moment == "as clear() begins" and not jobs:
                start_job()

        def append(self, span: ReadableSpan) -> None:
            if moment == "right before the span's append":
                agenttrace.clear()
            super().append(span)
            if moment == "right after the span's append":
                agenttrace.clear()

    with tracer.start_as_current_span("test body"):  # open across clear()
        if moment == "while clear() reads the open spans":
            real = _capture.span_key
            monkeypatch.setattr(
                _capture, "span_key", lambda span: (jobs or start_job(), real(span))[1]
            )
            agenttrace.clear()
        elif moment == "as clear() begins":
            agenttrace._leaked_during = Hooked()
            agenttrace.clear()
        else:
            agenttrace._record = (Hooked(), {}, {})
            start_job()
        (job,) = jobs
        tracer.start_span("step", context=trace.set_span_in_context(job)).end()
        job.end()
    seen = [span.name for span in agenttrace.spans + agenttrace.leaked]
    assert "job" in seen
    assert agenttrace.orphans == []
    held = {id(span._context) for span in agenttrace._started}  # type: ignore[attr-defined]
    assert set(agenttrace._origins) <= held


def test_the_router_reads_the_sdk_spans_context_field(agenttrace: AgentTrace) -> None:
    # For speed the router reads `_context`, the field behind the `context`
    # property of the SDK's spans and of the snapshot their end makes: an SDK
    # that renamed it would fail here first.
    span = tracer.start_span("agent")
    assert span._context is span.context  # type: ignore[attr-defined]
    span.end()
    snapshot = agenttrace.one("agent").readable
    assert snapshot._context is snapshot.context is span.context


def test_a_span_whose_end_snapshot_cannot_be_placed_still_shows_as_ended(
    agenttrace: AgentTrace,
) -> None:
    # The live span then stays in the capture, and its end must still reach queries
    # made before it (a forest cached while it was open).
    span = tracer.start_span("agent")
    assert [open_span.name for open_span in agenttrace.unfinished] == ["agent"]
    snapshot = span._readable_span  # type: ignore[attr-defined]

    def with_its_own_context() -> ReadableSpan:
        made = snapshot()
        made._context = SpanContext(made.context.trace_id, made.context.span_id, False)
        return made

    span._readable_span = with_its_own_context  # type: ignore[attr-defined]
    span.end()
    assert agenttrace.unfinished == []
    assert agenttrace.one("agent").ended


def test_thread_pool_with_copied_context_keeps_parents(agenttrace: AgentTrace) -> None:
    with tracer.start_as_current_span("orchestrator"), ThreadPoolExecutor(2) as pool:
        context = contextvars.copy_context()
        pool.submit(context.run, lambda: tracer.start_span("agent").end()).result()
    assert agenttrace.one("agent").parent is agenttrace.one("orchestrator")


def test_asyncio_tasks_are_captured_with_their_parents(agenttrace: AgentTrace) -> None:
    async def agent(name: str) -> None:
        with tracer.start_as_current_span(name):
            await asyncio.sleep(0)

    async def orchestrate() -> None:
        with tracer.start_as_current_span("orchestrator"):
            await asyncio.gather(agent("a"), agent("b"))
            await asyncio.create_task(agent("c"))

    asyncio.run(orchestrate())
    root = agenttrace.one("orchestrator")
    assert sorted(child.name for child in root.children) == ["a", "b", "c"]


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=0, max_value=5))
def test_clear_gives_each_hypothesis_example_a_fresh_capture(
    agenttrace: AgentTrace, agents: int
) -> None:
    agenttrace.clear()
    with tracer.start_as_current_span("workflow"):
        for index in range(agents):
            tracer.start_span(f"agent {index}").end()
    assert len(agenttrace.spans) == agents + 1


def test_clear_forgets_open_and_leaked_spans(agenttrace: AgentTrace) -> None:
    tracer.start_span("open")
    agenttrace.clear()
    assert agenttrace.unfinished == []
    assert agenttrace.leaked == []


def test_span_leaking_into_the_next_test_is_marked_not_mixed_in(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace

            tracer = trace.get_tracer("t")
            held = {}

            def test_first(agenttrace):
                held["span"] = tracer.start_span("background agent")

            def test_second(agenttrace):
                held["span"].end()
                tracer.start_span("mine").end()
                assert [s.name for s in agenttrace.spans] == ["mine"]
                assert [s.name for s in agenttrace.leaked] == ["background agent"]

            def test_third(agenttrace):
                assert agenttrace.leaked == []
            """
        )
    )
    # test_first leaves its span open on purpose: that alone would fail it.
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--agenttrace-unfinished-spans=ignore"
    )
    result.assert_outcomes(passed=3)


def test_span_ending_between_tests_is_reported_as_leaked_by_the_next(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace

            tracer = trace.get_tracer("t")
            held = {}

            def test_first(agenttrace):
                held["span"] = tracer.start_span("background agent")

            def test_between():
                held["span"].end()  # no capture active

            def test_after(agenttrace):
                assert [s.name for s in agenttrace.leaked] == ["background agent"]
                assert agenttrace.spans == []
            """
        )
    )
    # test_first leaves its span open on purpose: that alone would fail it.
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--agenttrace-unfinished-spans=ignore"
    )
    result.assert_outcomes(passed=3)


# -- the three provider situations, each in a pristine process ------------------------


def test_code_that_never_sets_a_provider(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace

            tracer = trace.get_tracer(__name__)

            def test_it(agenttrace):
                with tracer.start_as_current_span("work"):
                    pass
                assert agenttrace.one("work").readable.resource is not None
                assert trace.get_tracer_provider() is agenttrace.tracer_provider
            """
        )
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


@pytest.mark.parametrize("where", ["conftest", "test module"])
def test_code_that_sets_its_own_sdk_provider_keeps_its_exporter(
    pytester: pytest.Pytester, where: str
) -> None:
    setup = dedent(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        EXPORTER = InMemorySpanExporter()
        PROVIDER = TracerProvider()
        PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(PROVIDER)
        """
    )
    test = dedent(
        """
        from opentelemetry import trace

        tracer = trace.get_tracer(__name__)

        def test_both_see_the_span(agenttrace):
            with tracer.start_as_current_span("work"):
                pass
            assert [s.name for s in agenttrace.spans] == ["work"]
            assert [s.name for s in EXPORTER.get_finished_spans()] == ["work"]
            assert trace.get_tracer_provider() is PROVIDER
        """
    )
    if where == "conftest":
        pytester.makeconftest(setup)
        pytester.makepyfile("from conftest import EXPORTER, PROVIDER\n" + test)
    else:
        pytester.makepyfile(setup + test)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_setting_a_provider_during_a_test_warns_clearly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider

            def test_late(agenttrace):
                trace.set_tracer_provider(TracerProvider())
                trace.get_tracer("t").start_span("still captured").end()
                assert [s.name for s in agenttrace.spans] == ["still captured"]
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*AgentTraceWarning: The code under test called trace.set_tracer_provider() during*"]
    )


def test_non_sdk_global_provider_warns_and_injection_still_works(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        dedent(
            """
            import pytest
            from opentelemetry import trace
            from pytest_agenttrace import AgentTraceWarning

            trace.set_tracer_provider(trace.NoOpTracerProvider())

            @pytest.fixture
            def capture(request):
                with pytest.warns(AgentTraceWarning, match="NoOpTracerProvider"):
                    return request.getfixturevalue("agenttrace")

            def test_it(capture):
                capture.tracer.start_span("injected").end()
                assert [s.name for s in capture.spans] == ["injected"]
            """
        )
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_loading_the_plugin_does_not_import_opentelemetry(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Other installed plugins (logfire's) import opentelemetry as they load: only
    # ours is loaded, through its entry point, as autoload would.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(
        dedent(
            """
            import sys

            def test_light(request):
                assert request.config.pluginmanager.has_plugin("agenttrace")
                assert not [m for m in sys.modules if m.startswith("opentelemetry")]
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "agenttrace", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_spans_of_tests_without_the_fixture_are_not_reported_as_leaked(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace

            tracer = trace.get_tracer("t")

            def test_with_fixture(agenttrace):
                tracer.start_span("captured").end()

            def test_without_fixture():
                with tracer.start_as_current_span("not captured, not leaked"):
                    pass

            def test_next(agenttrace):
                assert agenttrace.leaked == []
                assert agenttrace.spans == []
            """
        )
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=3)


# --------------------------------------------------------------------------- plugin


def test_disabled_sdk_is_reported_instead_of_capturing_nothing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace

            def test_it(agenttrace):
                with trace.get_tracer(__name__).start_as_current_span("root"):
                    pass
                agenttrace.assert_tree("root")
            """
        )
    )
    result = pytester.runpytest_subprocess()
    result.stdout.fnmatch_lines(["*OTEL_SDK_DISABLED*"])


# -- spans open outside captures -----------------------------------------------------------
def test_spans_never_ended_outside_a_capture_do_not_grow_memory_without_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_router, "_OPEN_OUTSIDE_LIMIT", 50)
    router = _router.SpanRouter()
    provider = TracerProvider()
    provider.add_span_processor(router)
    tracer = provider.get_tracer("review")
    first = tracer.start_span("session")  # the earliest (a session-long span) is kept
    for _ in range(500):
        tracer.start_span("leaked")  # never ended, dropped
    assert len(router.open_outside) == 50
    assert _router.span_key(first) in router.open_outside
    first.end()
    assert _router.span_key(first) not in router.open_outside


def test_opentelemetry_warnings_reach_the_capture_after_logging_was_reconfigured(
    pytester: pytest.Pytester,
) -> None:
    """One log handler for the process, not one per test; dictConfig dropping it
    (as an app's logging set-up does) must not make later tests blind to
    OpenTelemetry's warnings."""
    pytester.makepyfile(
        dedent(
            """
            import logging, logging.config
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider

            def handlers():
                return len(logging.getLogger("opentelemetry").handlers)

            def test_first(agenttrace):
                test_first.handlers = handlers()

            def test_handlers_do_not_pile_up(agenttrace):
                assert handlers() == test_first.handlers

            def test_app_reconfigures_logging():
                logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
                logging.getLogger("opentelemetry").handlers.clear()

            def test_still_recorded(agenttrace):
                trace.set_tracer_provider(TracerProvider())
                (record,) = agenttrace.otel_log_records
                assert "Overriding of current TracerProvider" in record.getMessage()
            """
        )
    )
    result = pytester.runpytest("-p", "no:randomly", "-W", "ignore::UserWarning")
    result.assert_outcomes(passed=4)
