"""Executed examples for docs/sampling.md."""

import re

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased
from policy_messages import check_message


# --8<-- [start:agents]
def build_workflow(agenttrace, risk_sampler):
    """Two agents with their own TracerProviders, as two services would have."""
    orchestrator_provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.1)))
    risk_provider = TracerProvider(sampler=risk_sampler)
    for provider in (orchestrator_provider, risk_provider):
        agenttrace.attach(provider)  # capture what these providers record
    orchestrator = orchestrator_provider.get_tracer("orchestrator")
    risk_agent = risk_provider.get_tracer("risk_agent")

    def workflow():
        with orchestrator.start_as_current_span("fraud_check"):
            with risk_agent.start_as_current_span("risk_scoring_agent"):
                pass

    return workflow


# --8<-- [end:agents]


# --8<-- [start:whole]
def test_traces_are_sampled_whole(agenttrace):
    workflow = build_workflow(agenttrace, ParentBased(TraceIdRatioBased(0.1)))

    kept = agenttrace.assert_sampled_whole(workflow, runs=200)
    assert 0 < kept < 60  # about 10 %


# --8<-- [end:whole]


def test_partial_sampling_message(agenttrace):
    # --8<-- [start:partial]
    workflow = build_workflow(agenttrace, ALWAYS_ON)  # ignores the parent's decision

    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_sampled_whole(workflow, runs=200)
    # --8<-- [end:partial]
    # The counts depend on random trace ids: mask them for the comparison.
    message = re.sub(r"\d+ of 200 run\(s\)", "181 of 200 run(s)", str(failure.value))
    message = re.sub(
        r"\(\d+ kept whole, \d+ dropped whole\)", "(19 kept whole, 0 dropped whole)", message
    )
    message = re.sub(r"dropped in \d+ run\(s\)", "dropped in 181 run(s)", message)
    check_message(message, "assert_sampled_whole")


# --8<-- [start:marker]
@pytest.mark.agenttrace(partial_sampling="fail")
def test_one_run_is_checked_at_teardown(agenttrace):
    build_workflow(agenttrace, ParentBased(TraceIdRatioBased(0.5)))()


# --8<-- [end:marker]
