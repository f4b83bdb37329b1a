"""Executed examples for docs/propagation.md (included section by section)."""

import contextvars
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from textwrap import dedent

import pytest
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind

from pytest_agenttrace import redis as queue

SNIPPETS = Path(__file__).parent / "snippets"
tracer = trace.get_tracer("docs.propagation")


# --8<-- [start:field-notes]
def agent_a(publish):
    with tracer.start_as_current_span("publish validation", kind=SpanKind.PRODUCER):
        carrier = {}
        propagate.inject(carrier)
        publish(json.dumps({"payload": {"doc": "42"}, "trace_context": carrier}))


def agent_b(raw):
    message = json.loads(raw)
    ctx = propagate.extract(message["trace_context"])
    with tracer.start_as_current_span("agent_b_work", context=ctx):
        pass


def test_agent_b_continues_agent_a_trace(agenttrace):
    outbox = []
    with tracer.start_as_current_span("orchestrator"):
        agent_a(outbox.append)
    agent_b(outbox.pop())

    agenttrace.assert_single_trace()
    agenttrace.assert_propagated("orchestrator", "agent_b_work")


# --8<-- [end:field-notes]


# --8<-- [start:links]
def test_batch_consumer_links_to_its_producer(agenttrace):
    with tracer.start_as_current_span("publish jobs", kind=SpanKind.PRODUCER):
        carrier = {}
        propagate.inject(carrier)

    producer = trace.get_current_span(propagate.extract(carrier)).get_span_context()
    with tracer.start_as_current_span(
        "process jobs", context=Context(), kind=SpanKind.CONSUMER, links=[Link(producer)]
    ):
        pass

    agenttrace.assert_propagated("publish jobs", "process jobs", via="link")
    agenttrace.assert_trace_count(2)  # a linked consumer starts its own trace


# --8<-- [end:links]


# --8<-- [start:redis]
def test_work_queue_over_redis(agenttrace, agenttrace_redis):
    with tracer.start_as_current_span("orchestrator"):
        queue.push(agenttrace_redis, "docs-jobs", {"doc": "42"})  # LPUSH, `publish docs-jobs`

    job = queue.pop(agenttrace_redis, "docs-jobs", timeout=1)  # BRPOP
    with job.process():  # `process docs-jobs` [consumer], child of the producer
        assert job.payload == {"doc": "42"}

    agenttrace.assert_single_trace()
    agenttrace.assert_propagated("publish docs-jobs", "process docs-jobs", via="parent")


# --8<-- [end:redis]


# --8<-- [start:threads]
def retrieval_agent():
    with tracer.start_as_current_span("retrieval_agent"):
        pass


def test_thread_pool_keeps_the_context(agenttrace):
    with tracer.start_as_current_span("orchestrator"), ThreadPoolExecutor() as pool:
        # Worker threads do not inherit contextvars: run each task in a copy.
        pool.submit(contextvars.copy_context().run, retrieval_agent).result()

    agenttrace.assert_propagated("orchestrator", "retrieval_agent", via="parent")


# --8<-- [end:threads]


# --8<-- [start:over-nesting]
def handle_request(n):
    # context=Context(): each request starts its own trace, whatever is current.
    with tracer.start_as_current_span("handle_request", context=Context()):
        with tracer.start_as_current_span("llm_agent"):
            pass


def test_requests_are_independent_traces(agenttrace):
    with tracer.start_as_current_span("batch job"):
        handle_request(1)
        handle_request(2)

    agenttrace.assert_roots("batch job", "handle_request", "handle_request")
    agenttrace.assert_trace_count(3)


# --8<-- [end:over-nesting]


def same_text(expected_file, output_lines):
    """The failure text shown in the docs, with trace ids free, is what the plugin prints."""
    expected = (SNIPPETS / expected_file).read_text().rstrip("\n").splitlines()
    patterns = [re.sub(r"[0-9a-f]{8}…", "*…", line).replace("[", "[[]") for line in expected]
    output_lines.fnmatch_lines(patterns, consecutive=True)


BROKEN = (SNIPPETS / "propagation_broken_test.py").read_text()


def test_strict_failure_text_in_the_docs(pytester):
    pytester.makepyfile(test_hop=BROKEN)
    result = pytester.runpytest("--agenttrace-strict")
    result.assert_outcomes(passed=1, errors=1)
    same_text("propagation_strict_failure.txt", result.stdout)


def test_assert_propagated_failure_text_in_the_docs(pytester):
    pytester.makepyfile(
        test_hop=BROKEN
        + dedent(
            """

            def test_asserted(agenttrace):
                agent_b(agent_a())
                agenttrace.assert_propagated("publish validation", "agent_b_work")
            """
        )
    )
    result = pytester.runpytest("-k", "asserted")
    result.assert_outcomes(failed=1, deselected=1)
    lines = (SNIPPETS / "propagation_assert_failure.txt").read_text().splitlines()
    result.stdout.fnmatch_lines(
        [
            "E       " + re.sub(r"[0-9a-f]{8}…", "*…", line).replace("[", "[[]")
            if line
            else "E       "
            for line in ["AssertionError: " + lines[0], *lines[1:]]
        ],
        consecutive=True,
    )


@pytest.mark.parametrize(
    "traceparent",
    ["00-xyz", "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01"],
)
def test_malformed_messages_in_the_docs(traceparent):
    from pytest_agenttrace.propagation._spy import diagnose_traceparent

    shown = (SNIPPETS / "propagation_malformed.txt").read_text()
    assert diagnose_traceparent(traceparent) in shown
