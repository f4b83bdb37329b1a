"""Executed examples for docs/capture.md (included section by section)."""

import asyncio
import contextvars
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

SNIPPETS = Path(__file__).parent / "snippets"


# --8<-- [start:own-provider-check]
def test_own_provider_set_in_conftest_keeps_exporting(pytester):
    pytester.makeconftest((SNIPPETS / "own_provider_conftest.py").read_text())
    pytester.makepyfile(test_app=(SNIPPETS / "own_provider_test.py").read_text())
    # A fresh interpreter: the global provider can be set only once per process.
    result = pytester.runpytest_subprocess("-W", "error")
    result.assert_outcomes(passed=1)


# --8<-- [end:own-provider-check]


def test_provider_set_during_a_test_warns(pytester):
    pytester.makepyfile(test_app=(SNIPPETS / "late_provider_test.py").read_text())
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        ["*AgentTraceWarning: The code under test called trace.set_tracer_provider()*"]
    )


# --8<-- [start:injection]
class RetrievalAgent:
    def __init__(self, tracer_provider=None):
        self.tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)

    def run(self, query):
        with self.tracer.start_as_current_span("retrieval_agent") as span:
            span.set_attribute("query.length", len(query))
            return ["handbook#refunds"]


def test_agent_takes_a_provider(agenttrace):
    agent = RetrievalAgent(tracer_provider=agenttrace.tracer_provider)

    agent.run("refund policy")

    assert agenttrace.one("retrieval_agent").attributes["query.length"] == 13


def test_agent_with_a_private_provider(agenttrace):
    provider = TracerProvider()  # built by the application, never set globally
    agenttrace.attach(provider)

    RetrievalAgent(tracer_provider=provider).run("warranty")

    assert agenttrace.one("retrieval_agent")


# --8<-- [end:injection]


tracer = trace.get_tracer(__name__)


# --8<-- [start:threads]
def search(query):
    with tracer.start_as_current_span("search", attributes={"query": query}):
        return query.upper()


def fan_out(queries):
    with tracer.start_as_current_span("orchestrator"), ThreadPoolExecutor(4) as pool:
        # Worker threads don't inherit contextvars: run each task in a copy of
        # this context, or its span starts a trace of its own.
        futures = [pool.submit(contextvars.copy_context().run, search, q) for q in queries]
        return [future.result() for future in futures]


def test_threads(agenttrace):
    fan_out(["refunds", "shipping", "warranty"])

    agenttrace.assert_tree("""
        orchestrator
          search [x3]
    """)


# --8<-- [end:threads]


# --8<-- [start:asyncio]
async def agent(name):
    with tracer.start_as_current_span(f"{name}_agent"):
        await asyncio.sleep(0)


async def orchestrate():
    with tracer.start_as_current_span("orchestrator"):
        # Tasks copy the current context when they are created.
        await asyncio.gather(agent("retrieval"), agent("llm"))


def test_asyncio(agenttrace):
    asyncio.run(orchestrate())

    agenttrace.assert_tree("""
        orchestrator
          llm_agent
          retrieval_agent
    """)


# --8<-- [end:asyncio]


# --8<-- [start:hypothesis]
def call_llm(failures):
    with tracer.start_as_current_span("llm_agent"):
        for attempt in range(1, failures + 2):
            with tracer.start_as_current_span("llm_call") as span:
                span.set_attribute("llm.attempt", attempt)
                if attempt <= failures:
                    span.set_status(Status(StatusCode.ERROR, "HTTP 503"))


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(failures=st.integers(min_value=0, max_value=4))
def test_every_retry_is_a_span(agenttrace, failures):
    agenttrace.clear()  # one fixture for all examples: start each from empty

    call_llm(failures)

    assert len(agenttrace.find("llm_call")) == failures + 1
    assert len(agenttrace.find("llm_call", status="error")) == failures


# --8<-- [end:hypothesis]


# --8<-- [start:wait-for]
def consume(inbox):
    message = inbox.get(timeout=5)
    context = propagate.extract(message["trace_context"])
    with tracer.start_as_current_span("agent_b_work", context=context):
        pass


def test_consumer_in_another_thread(agenttrace):
    inbox = queue.Queue()
    consumer = threading.Thread(target=consume, args=(inbox,))
    consumer.start()

    with tracer.start_as_current_span("publish"):
        carrier = {}
        propagate.inject(carrier)
        inbox.put({"payload": "doc-42", "trace_context": carrier})

    work = agenttrace.wait_for(name="agent_b_work", timeout=5)
    assert work.parent is agenttrace.one("publish")
    consumer.join(timeout=5)


# --8<-- [end:wait-for]
