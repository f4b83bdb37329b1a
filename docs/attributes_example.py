"""Executed examples for docs/attributes.md."""

import pytest
from opentelemetry import trace
from policy_messages import check_message

tracer = trace.get_tracer(__name__)


# --8<-- [start:pipeline]
def run_pipeline(chunks=3):
    with tracer.start_as_current_span("process_document", attributes={"document.id": "42"}):
        with tracer.start_as_current_span(
            "agent.retrieval", attributes={"agent.name": "retrieval", "agent.version": "1.4"}
        ):
            for _ in range(chunks):
                with tracer.start_as_current_span("embed_chunk"):
                    pass
        with tracer.start_as_current_span("agent.llm", attributes={"agent.name": "llm"}):
            pass


# --8<-- [end:pipeline]


# --8<-- [start:assert_attributes]
def test_agents_are_searchable(agenttrace):
    run_pipeline()

    # A list of keys: each must be present, with any value.
    agenttrace.assert_attributes("agent.retrieval", ["agent.name", "agent.version"])
    # A mapping: values (or matchers) must match.
    agenttrace.assert_attributes("process_document", {"document.id": "42"})


# --8<-- [end:assert_attributes]


def test_assert_attributes_failure(agenttrace):
    run_pipeline()
    with pytest.raises(AssertionError) as failure:
        # --8<-- [start:assert_attributes_failing]
        agenttrace.assert_attributes("agent.*", ["agent.version"])
        # --8<-- [end:assert_attributes_failing]
    check_message(str(failure.value), "assert_attributes")


# --8<-- [start:require_marker]
@pytest.mark.agenttrace(
    require_attributes={
        "agent.*": ["agent.name"],
        "process_document": ["document.id"],
    }
)
def test_every_agent_is_named(agenttrace):
    run_pipeline()
    # Nothing to assert: the rules are checked when the test ends.


# --8<-- [end:require_marker]


def test_required_attributes_failure(agenttrace):
    run_pipeline()
    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_required_attributes(
            {"agent.*": ["agent.version"], "process_document": ["document.id", "user.id"]}
        )
    check_message(str(failure.value), "require_attributes")


# --8<-- [start:span_count]
def test_span_budget(agenttrace):
    run_pipeline(chunks=3)

    agenttrace.assert_span_count("embed_*", exactly=3)
    agenttrace.assert_span_count(at_most=50)  # every finished span of the test


# --8<-- [end:span_count]


# --8<-- [start:cap_marker]
@pytest.mark.agenttrace(max_spans_per_trace=50)
def test_within_the_cap(agenttrace):
    run_pipeline(chunks=40)  # 43 spans in one trace: fine


# --8<-- [end:cap_marker]


def test_cap_failure(agenttrace):
    run_pipeline(chunks=60)
    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_max_spans_per_trace(50)
    check_message(str(failure.value), "max_spans_per_trace")
