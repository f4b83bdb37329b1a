"""Context across threads and asyncio tasks: what propagates, what breaks, what is said."""

from __future__ import annotations

import asyncio
import contextvars
import sys
from concurrent.futures import ThreadPoolExecutor
from textwrap import dedent

import pytest
from opentelemetry import trace

from pytest_agenttrace import AgentTrace

tracer = trace.get_tracer("tests.concurrency")


def agent(name: str) -> str:
    with tracer.start_as_current_span(name):
        return name


# -- threads ---------------------------------------------------------------------------------
def test_thread_pool_with_copy_context_keeps_one_trace(agenttrace):
    with tracer.start_as_current_span("orchestrator"), ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(contextvars.copy_context().run, agent, f"agent {i}") for i in range(3)
        ]
        [future.result() for future in futures]
    agenttrace.assert_single_trace()
    agenttrace.assert_propagated("orchestrator", "agent 2", via="parent")
    assert agenttrace.broken_hops == []


def test_thread_pool_without_copy_context_is_a_broken_hop(agenttrace):
    with (
        tracer.start_as_current_span("orchestrator"),
        ThreadPoolExecutor(1, thread_name_prefix="pool") as pool,
    ):
        pool.submit(agent, "retrieval_agent").result()
    (hop,) = agenttrace.broken_hops
    assert hop.span.name == "retrieval_agent"
    assert hop.reason == (
        "started with no parent in thread 'pool_0' while `orchestrator` was active in "
        "thread 'MainThread' (context not carried into the worker)"
    )
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_single_trace()
    assert "    broken hop: started with no parent in thread 'pool_0'" in str(error.value)
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_propagated("orchestrator", "retrieval_agent")
    assert "`retrieval_agent` has no parent: it is the root of trace" in str(error.value)


def square(n: int) -> int:
    with tracer.start_as_current_span("square"), ThreadPoolExecutor(1) as inner:
        # context lost again one level down: cube starts a trace of its own
        return inner.submit(cube, n).result()


def cube(n: int) -> int:
    with tracer.start_as_current_span("cube"):
        return n**3


def test_nested_thread_pools_blame_the_inner_hop(agenttrace: AgentTrace) -> None:
    with (
        tracer.start_as_current_span("root"),
        ThreadPoolExecutor(1, thread_name_prefix="outer") as outer,
    ):
        # the outer hop carries the context: square is root's child in thread outer_0
        outer.submit(contextvars.copy_context().run, square, 2).result()
    agenttrace.assert_propagated("root", "square", via="parent")
    (hop,) = agenttrace.broken_hops
    assert hop.span.name == "cube"
    assert hop.reason.startswith("started with no parent in thread 'ThreadPoolExecutor-")
    assert hop.reason.endswith(
        " while `square` was active in thread 'outer_0' (context not carried into the worker)"
    )


def test_run_in_executor_loses_context(agenttrace):
    async def main() -> None:
        with tracer.start_as_current_span("orchestrator"):
            loop = asyncio.get_running_loop()
            with ThreadPoolExecutor(1) as pool:
                await loop.run_in_executor(pool, agent, "embedding_agent")

    asyncio.run(main())
    assert [hop.span.name for hop in agenttrace.broken_hops] == ["embedding_agent"]


def test_to_thread_copies_context(agenttrace):
    async def main() -> None:
        with tracer.start_as_current_span("orchestrator"):
            await asyncio.to_thread(agent, "embedding_agent")

    asyncio.run(main())
    agenttrace.assert_single_trace()


# -- asyncio tasks ------------------------------------------------------------------------------
async def async_agent(name: str) -> None:
    with tracer.start_as_current_span(name):
        await asyncio.sleep(0)
        with tracer.start_as_current_span(f"{name} call", kind=trace.SpanKind.CLIENT):
            await asyncio.sleep(0)


def test_gather_keeps_one_trace(agenttrace):
    async def main() -> None:
        with tracer.start_as_current_span("orchestrator"):
            await asyncio.gather(*(async_agent(f"agent {i}") for i in range(3)))

    asyncio.run(main())
    agenttrace.assert_single_trace()
    for i in range(3):
        agenttrace.assert_propagated("orchestrator", f"agent {i} call")


def test_create_task_keeps_one_trace(agenttrace):
    async def main() -> None:
        with tracer.start_as_current_span("orchestrator"):
            task = asyncio.create_task(async_agent("background"))
            await task

    asyncio.run(main())
    agenttrace.assert_single_trace()
    assert agenttrace.propagation_problems() == []


@pytest.mark.skipif(sys.version_info < (3, 11), reason="create_task(context=) is 3.11+")
def test_task_with_fresh_context_is_explained(agenttrace):
    async def main() -> None:
        with tracer.start_as_current_span("orchestrator"):
            task = asyncio.create_task(
                async_agent("background"), context=contextvars.Context(), name="bg"
            )
            await task

    asyncio.run(main())
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_single_trace()
    text = str(error.value)
    assert "captured 2 trace(s)" in text
    assert (
        "    broken hop: started with no parent in task 'bg' in thread 'MainThread' while "
        "`orchestrator` was active in task 'Task-" in text
    ), text


def test_spans_share_the_origin_of_their_thread_and_task(agenttrace: AgentTrace) -> None:
    async def two_tasks() -> None:
        await asyncio.gather(async_agent("a"), async_agent("b"))

    with ThreadPoolExecutor(1) as pool:
        pool.submit(agent, "first").result()
        pool.submit(agent, "second").result()
        pool.submit(asyncio.run, two_tasks()).result()
    origin = agenttrace._analysis().origin
    # one Origin per thread/task pair, not one per span: the analysis reads every span's
    assert origin(agenttrace.one("first")) is origin(agenttrace.one("second"))
    assert origin(agenttrace.one("a")) is origin(agenttrace.one("a call"))
    # two tasks of one thread are two origins
    assert origin(agenttrace.one("a")) != origin(agenttrace.one("b"))
    assert origin(agenttrace.one("a")).thread_id == origin(agenttrace.one("first")).thread_id


def test_an_open_span_of_the_roots_own_trace_is_not_its_lost_parent(agenttrace: AgentTrace) -> None:
    """A worker's root continues a remote parent; the test thread's latest open span is
    its sibling (same remote parent), so the enclosing span is the one before it."""
    remote = trace.set_span_in_context(
        trace.NonRecordingSpan(
            trace.SpanContext(0xAB, 0xCD, is_remote=True, trace_flags=trace.TraceFlags(1))
        )
    )
    with tracer.start_as_current_span("orchestrator"):
        sibling = tracer.start_span("sibling", context=remote)
        with ThreadPoolExecutor(1) as pool:
            pool.submit(lambda: tracer.start_span("worker", context=remote).end()).result()
        sibling.end()
    analysis = agenttrace._analysis()
    worker = agenttrace.one("worker")
    assert analysis.enclosing_span(worker, test_thread_only=False) is agenttrace.one("orchestrator")


def test_independent_gathered_requests_pass_strict(pytester):
    pytester.makepyfile(
        dedent(
            """
            import asyncio
            from opentelemetry import trace
            from opentelemetry.context import Context

            tracer = trace.get_tracer("app")

            async def request(i):
                with tracer.start_as_current_span(f"request {i}", context=Context()):
                    await asyncio.sleep(0.01 * i)

            def test_requests(agenttrace):
                async def main():
                    await asyncio.gather(*(request(i) for i in range(3)))
                asyncio.run(main())
                agenttrace.assert_trace_count(3)
            """
        )
    )
    pytester.runpytest("--agenttrace-strict").assert_outcomes(passed=1)


def test_thread_pool_context_loss_fails_strict(pytester):
    pytester.makepyfile(
        dedent(
            """
            from concurrent.futures import ThreadPoolExecutor
            from opentelemetry import trace

            tracer = trace.get_tracer("app")

            def retrieval():
                with tracer.start_as_current_span("retrieval_agent"):
                    pass

            def test_pipeline(agenttrace):
                with tracer.start_as_current_span("process_document"):
                    with ThreadPoolExecutor(1, thread_name_prefix="agents") as pool:
                        pool.submit(retrieval).result()
            """
        )
    )
    result = pytester.runpytest("--agenttrace-strict")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "Broken context propagation: 1 span(s) started a new trace where context should "
            "have been carried over.",
            "- `retrieval_agent` started trace *… (1 span(s)): started with no parent in "
            "thread 'agents_0' while `process_document` was active in thread 'MainThread' "
            "(context not carried into the worker)",
            "",
        ],
        consecutive=True,
    )


def test_assert_propagated_names_the_thread_pool_and_its_fix(agenttrace: AgentTrace) -> None:
    with tracer.start_as_current_span("orchestrator"), ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: tracer.start_span("tools").end()).result()
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_propagated("orchestrator", "tools")
    lines = str(error.value).splitlines()
    assert lines[3].startswith("- broken hop: started with no parent in thread ")
    assert lines[3].endswith("(context not carried into the worker)")
    assert not any("propagator spy" in line for line in lines)
    assert lines[-1].startswith(
        "Carry the context into the worker: submit contextvars.copy_context().run"
    )
