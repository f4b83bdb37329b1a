"""Review findings: propagation false positives/negatives, spy, helpers, policies, options."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from textwrap import dedent
from typing import Any

import pytest
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import SpanKind

from pytest_agenttrace import AgentTrace

tracer = trace.get_tracer("tests.review")


# -- strict mode: legitimate multi-trace tests ---------------------------------------------
def serve(headers: dict[str, str], *, upstream: str = "api.llm.example") -> None:
    """What an HTTP server instrumentation does: extract, SERVER span, an outgoing call."""
    context = propagate.extract(headers)
    with (
        tracer.start_as_current_span(
            "GET /answer",
            context=context,
            kind=SpanKind.SERVER,
            attributes={"server.address": "testserver"},
        ),
        tracer.start_as_current_span(
            "POST", kind=SpanKind.CLIENT, attributes={"server.address": upstream}
        ),
    ):
        propagate.inject({})


def test_server_requests_from_an_uninstrumented_client_are_not_broken_hops(
    agenttrace: AgentTrace,
) -> None:
    # A test client without instrumentation, twice; each handler calls an LLM API.
    serve({"host": "testserver"})
    serve({"host": "testserver"})
    assert agenttrace.broken_hops == []
    assert agenttrace.propagation_problems() == []


def test_concurrent_server_requests_with_outgoing_calls_are_not_broken_hops(
    agenttrace: AgentTrace,
) -> None:
    first_calling, second_served = threading.Event(), threading.Event()

    def first() -> None:
        with (
            tracer.start_as_current_span(
                "GET /answer", kind=SpanKind.SERVER, attributes={"server.address": "testserver"}
            ),
            tracer.start_as_current_span(
                "POST", kind=SpanKind.CLIENT, attributes={"server.address": "api.llm.example"}
            ),
        ):
            first_calling.set()
            second_served.wait(5)  # the LLM call is still open while request 2 arrives

    def second() -> None:
        first_calling.wait(5)
        serve({"host": "testserver"})
        second_served.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert agenttrace.propagation_problems() == []


def test_server_root_while_a_client_call_to_it_is_open_is_still_a_broken_hop(
    agenttrace: AgentTrace,
) -> None:
    # No false negative: the client's request lost its context on the way in.
    with (
        tracer.start_as_current_span("orchestrator"),
        tracer.start_as_current_span(
            "GET", kind=SpanKind.CLIENT, attributes={"server.address": "testserver"}
        ),
    ):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        serve({"host": "testserver"})  # the server ignored the carrier
    hops = agenttrace.broken_hops
    assert [hop.span.name for hop in hops] == ["GET /answer"]
    assert hops[0].producer is not None and hops[0].producer.name == "GET"


def test_background_scheduler_thread_is_not_a_broken_hop(agenttrace: AgentTrace) -> None:
    stop, ticked = threading.Event(), threading.Event()

    def scheduler() -> None:
        while not stop.is_set():
            with tracer.start_as_current_span("heartbeat"):
                pass
            ticked.set()
            time.sleep(0.002)

    thread = threading.Thread(target=scheduler, name="scheduler")
    thread.start()
    ticked.wait(5)
    with tracer.start_as_current_span("orchestrator"):
        time.sleep(0.02)
    stop.set()
    thread.join()
    assert agenttrace.broken_hops == []


def test_worker_thread_losing_the_context_is_still_a_broken_hop(agenttrace: AgentTrace) -> None:
    with tracer.start_as_current_span("orchestrator"):
        worker = threading.Thread(target=lambda: tracer.start_span("agent").end(), name="pool_0")
        worker.start()
        worker.join()
    assert [hop.span.name for hop in agenttrace.broken_hops] == ["agent"]


@pytest.fixture
def span_around_test() -> Iterator[None]:
    """A span opened before the test body (a fixture's, or a CI tracing plugin's)."""
    from pytest_agenttrace.capture._router import INSTALLATION

    INSTALLATION.ensure_global()
    with tracer.start_as_current_span("ci: test_item"):
        yield


def test_span_open_around_the_test_is_not_an_orphan(
    span_around_test: None, agenttrace: AgentTrace
) -> None:
    with tracer.start_as_current_span("orchestrator"), tracer.start_as_current_span("agent"):
        pass
    assert agenttrace.orphans == []
    agenttrace.assert_single_trace()
    assert agenttrace.propagation_problems() == []


def test_hand_made_parent_is_still_an_orphan(agenttrace: AgentTrace) -> None:
    stale = trace.SpanContext(
        0x1234, 0x5678, is_remote=False, trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED)
    )
    with tracer.start_as_current_span(
        "agent", context=trace.set_span_in_context(trace.NonRecordingSpan(stale))
    ):
        pass
    assert [span.name for span in agenttrace.orphans] == ["agent"]


def test_strict_marker_works_without_requesting_the_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            import pytest
            from opentelemetry import propagate, trace
            from opentelemetry.trace import SpanKind

            tracer = trace.get_tracer("agents")

            @pytest.mark.agenttrace(strict=True)
            def test_marked_only():
                with tracer.start_as_current_span("publish jobs", kind=SpanKind.PRODUCER):
                    pass
                context = propagate.extract({"payload": 1})
                with tracer.start_as_current_span(
                    "process jobs", context=context, kind=SpanKind.CONSUMER
                ):
                    pass
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*Broken context propagation: 1 span(s) started a new trace*"])


# -- the propagator spy with other propagators ----------------------------------------------
class XTracePropagator(TextMapPropagator):
    """A non-W3C format (as B3 or Jaeger): one `x-trace` header `traceid:spanid`."""

    def extract(self, carrier: Any, context: Any = None, getter: Any = None) -> Context:
        context = context if context is not None else Context()
        value = (carrier or {}).get("x-trace")
        try:
            trace_id, span_id = (int(part, 16) for part in value.split(":"))
        except Exception:
            return context
        parent = trace.SpanContext(trace_id, span_id, is_remote=True)
        return trace.set_span_in_context(trace.NonRecordingSpan(parent), context)

    def inject(self, carrier: Any, context: Any = None, setter: Any = None) -> None:
        span_context = trace.get_current_span(context).get_span_context()
        if span_context.is_valid:
            carrier["x-trace"] = f"{span_context.trace_id:x}:{span_context.span_id:x}"

    @property
    def fields(self) -> set[str]:
        return {"x-trace"}


@pytest.fixture
def x_trace_propagator() -> Iterator[TextMapPropagator]:
    previous = propagate.get_global_textmap()
    propagator = XTracePropagator()
    propagate.set_global_textmap(propagator)
    try:
        yield propagator
    finally:
        propagate.set_global_textmap(previous)


def test_spy_does_not_blame_a_missing_traceparent_on_a_non_w3c_propagator(
    x_trace_propagator: TextMapPropagator, agenttrace: AgentTrace
) -> None:
    assert propagate.get_global_textmap() is not x_trace_propagator  # the spy wraps it
    with tracer.start_as_current_span("publish jobs", kind=SpanKind.PRODUCER):
        good: dict[str, str] = {}
        propagate.inject(good)
    assert "x-trace" in good
    propagate.extract(good)
    propagate.extract({"x-trace": "garbage", "payload": 1})
    ok, bad = agenttrace.propagator_spy.extracts
    assert ok.extracted is not None and ok.defect is None
    assert bad.extracted is None
    assert bad.defect is not None
    assert "traceparent" not in bad.defect
    assert "XTracePropagator found no usable trace context" in bad.defect
    assert "x-trace" in bad.defect


def test_spy_keeps_a_composite_propagator_and_restores_it(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        dedent(
            """
            from opentelemetry import propagate
            from opentelemetry.baggage.propagation import W3CBaggagePropagator
            from opentelemetry.propagators.composite import CompositePropagator
            from opentelemetry.trace.propagation.tracecontext import (
                TraceContextTextMapPropagator,
            )

            COMPOSITE = CompositePropagator(
                [TraceContextTextMapPropagator(), W3CBaggagePropagator()]
            )
            propagate.set_global_textmap(COMPOSITE)
            """
        )
    )
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import baggage, propagate, trace
            from conftest import COMPOSITE

            tracer = trace.get_tracer("t")

            def test_during(agenttrace):
                assert propagate.get_global_textmap() is not COMPOSITE
                assert {"traceparent", "baggage"} <= propagate.get_global_textmap().fields
                with tracer.start_as_current_span("a"):
                    carrier = {}
                    propagate.inject(carrier, context=baggage.set_baggage("user.id", "7"))
                assert "baggage" in carrier and "traceparent" in carrier
                context = propagate.extract(carrier)
                assert baggage.get_baggage("user.id", context) == "7"
                with tracer.start_as_current_span("b", context=context):
                    pass
                raise RuntimeError("fails, and the propagator must still come back")

            def test_after():
                assert propagate.get_global_textmap() is COMPOSITE
            """
        )
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)


# -- Redis helpers -------------------------------------------------------------------------
def test_pop_with_zero_timeout_polls_instead_of_blocking_forever(agenttrace_redis: Any) -> None:
    from pytest_agenttrace import redis as helpers

    queue = "review:empty-queue"
    agenttrace_redis.delete(queue)
    results: list[Any] = []
    worker = threading.Thread(
        target=lambda: results.append(helpers.pop(agenttrace_redis, queue, timeout=0)),
        daemon=True,
    )
    worker.start()
    worker.join(3)
    if worker.is_alive():  # BRPOP 0 blocks forever: release it before failing
        agenttrace_redis.lpush(queue, json.dumps({"payload": "release"}))
        worker.join(3)
    assert results == [None]

    helpers.push(agenttrace_redis, queue, {"doc": 1})
    message = helpers.pop(agenttrace_redis, queue, timeout=0)
    assert message is not None and message.payload == {"doc": 1}
    assert message.destination == queue


# -- retries ---------------------------------------------------------------------------------
def test_numbered_resends_split_different_calls_of_one_method(agenttrace: AgentTrace) -> None:
    # HTTP client spans are all named after the method; semconv numbers the resends.
    with tracer.start_as_current_span("retrieval_agent"):
        for resend in (None, 1, None, 1):  # POST /embed (+1 resend), POST /rerank (+1)
            attributes = {} if resend is None else {"http.request.resend_count": resend}
            with tracer.start_as_current_span("POST", kind=SpanKind.CLIENT, attributes=attributes):
                pass
    agenttrace.assert_retries("POST", at_most=1)
    with pytest.raises(AssertionError, match="1 retry"):
        agenttrace.assert_retries("POST", at_most=0)


def test_unnumbered_siblings_still_count_as_retries(agenttrace: AgentTrace) -> None:
    with tracer.start_as_current_span("embedding_agent"):
        for _ in range(6):
            with tracer.start_as_current_span("embed_text"):
                pass
    with pytest.raises(AssertionError, match="5 retries"):
        agenttrace.assert_retries("embed_text", at_most=2)


# -- GenAI conventions -------------------------------------------------------------------------
def test_execute_tool_name_attribute_is_recommended_not_required(agenttrace: AgentTrace) -> None:
    # GenAI semconv v1.37.0, execute_tool span: gen_ai.tool.name is `Recommended`.
    with (
        tracer.start_as_current_span(
            "invoke_agent planner",
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.provider.name": "openai",
                "gen_ai.agent.name": "planner",
            },
        ),
        tracer.start_as_current_span(
            "execute_tool search", attributes={"gen_ai.operation.name": "execute_tool"}
        ),
    ):
        pass
    agenttrace.assert_genai_conventions("execute_tool *")
    with pytest.raises(AssertionError, match=r"missing gen_ai\.tool\.name \(recommended\)"):
        agenttrace.assert_genai_conventions("execute_tool *", level="recommended")


# -- option values -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("max_spans_per_trace=2.7", "*max_spans_per_trace=...): 2.7 is not a whole number*"),
        ('timeout_budgets={"agent": float("nan")}', "*'agent': nan is not a duration*"),
    ],
)
def test_marker_values_that_would_be_silently_wrong_are_rejected(
    pytester: pytest.Pytester, argument: str, expected: str
) -> None:
    pytester.makepyfile(
        dedent(
            f"""
            import pytest

            @pytest.mark.agenttrace({argument})
            def test_it(agenttrace):
                pass
            """
        )
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])
