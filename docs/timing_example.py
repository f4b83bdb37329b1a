"""Executed examples for docs/timing.md.

Timings are simulated: spans get explicit start and end times (nanoseconds), so a
5-second API call costs no test time.
"""

import threading

import pytest
from opentelemetry import context, trace
from policy_messages import check_message

tracer = trace.get_tracer(__name__)


# --8<-- [start:simulated]
S = 1_000_000_000  # nanoseconds per second
T0 = 1_700_000_000 * S


def span(name, start, end, parent=None):
    """A span from `start` to `end` seconds after T0 (end=None: left open)."""
    ctx = trace.set_span_in_context(parent) if parent is not None else None
    s = tracer.start_span(name, context=ctx, start_time=T0 + int(start * S))
    if end is not None:
        s.end(end_time=T0 + int(end * S))
    return s


def fraud_check(api_seconds):
    """The orchestrator: parse, score risk (calls the risk API), decide."""
    root = span("fraud_check", 0, None)
    span("parse_intent", 0, 0.2, root)
    agent = span("risk_scoring_agent", 0.2, None, root)
    span("POST /risk-api", 0.2, 0.2 + api_seconds, agent)
    agent.end(end_time=T0 + int((0.3 + api_seconds) * S))
    span("decide", 0.3 + api_seconds, 0.8 + api_seconds, root)
    root.end(end_time=T0 + int((0.8 + api_seconds) * S))


# --8<-- [end:simulated]


# --8<-- [start:assert_duration]
def test_risk_api_is_fast_enough(agenttrace):
    fraud_check(api_seconds=1.2)

    agenttrace.assert_duration("POST /risk-api", at_most=3)
    agenttrace.assert_duration("fraud_check", at_least=1, at_most=4)


# --8<-- [end:assert_duration]


def test_assert_duration_failure(agenttrace):
    fraud_check(api_seconds=5)
    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_duration("fraud_check", at_most=4)
    check_message(str(failure.value), "assert_duration")


# --8<-- [start:incident]
BUDGETS = {"fraud_check": 4, "risk_scoring_agent": 3}  # the incident's timeouts


def test_the_incident(agenttrace):
    fraud_check(api_seconds=5)  # the API "sometimes took 5 s+"

    with pytest.raises(AssertionError, match="over its 4 s budget"):
        agenttrace.assert_timeout_budgets(BUDGETS)


# --8<-- [end:incident]


def test_incident_message(agenttrace):
    fraud_check(api_seconds=5)
    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_timeout_budgets(BUDGETS)
    check_message(str(failure.value), "timeout_budgets")


# --8<-- [start:fixed]
@pytest.mark.agenttrace(timeout_budgets={"fraud_check": 10, "risk_scoring_agent": 6})
def test_the_fix(agenttrace):
    fraud_check(api_seconds=5)  # checked at teardown: fits


# --8<-- [end:fixed]


def test_sequential_budgets_message(agenttrace):
    # --8<-- [start:static]
    root = span("orchestrator", 0, None)
    span("retrieval_agent", 0, 0.5, root)
    span("llm_agent", 0.5, 1.0, root)
    root.end(end_time=T0 + int(1.1 * S))  # a fast run...

    with pytest.raises(AssertionError) as failure:  # ...that could not fit in 4 s
        agenttrace.assert_timeout_budgets({"orchestrator": 4, "retrieval_agent": 2, "llm_agent": 3})
    # --8<-- [end:static]
    check_message(str(failure.value), "timeout_budgets_static")


# --8<-- [start:critical_path]
def test_where_the_time_went(agenttrace):
    fraud_check(api_seconds=5)

    path = agenttrace.critical_path(agenttrace.one("fraud_check"))
    assert [s.name for s in path] == ["parse_intent", "risk_scoring_agent", "decide"]


# --8<-- [end:critical_path]


# --8<-- [start:outliving]
def orchestrator_that_forgets_its_agent():
    release = threading.Event()
    running = threading.Event()

    def background_agent(ctx):
        token = context.attach(ctx)
        try:
            with tracer.start_as_current_span("background_agent"):
                running.set()
                release.wait(5)
        finally:
            context.detach(token)

    with tracer.start_as_current_span("orchestrator"):
        worker = threading.Thread(target=background_agent, args=(context.get_current(),))
        worker.start()
        running.wait(5)
    # the orchestrator's span has ended; its agent is still working
    release.set()
    worker.join()


# --8<-- [end:outliving]


def test_outliving_failure(agenttrace):
    orchestrator_that_forgets_its_agent()
    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_no_outliving_children()
    check_message(_mask_delay(str(failure.value)), "outliving_children")


def _mask_delay(message):
    import re

    return re.sub(r"ended \d+\.\d\d s after", "ended 0.01 s after", message)


# --8<-- [start:unfinished]
def start_agent_c():
    """Agent C hangs: its span starts and never ends."""
    with tracer.start_as_current_span("process_document"):
        with tracer.start_as_current_span("orchestrator"):
            return tracer.start_span("agent_c")


# --8<-- [end:unfinished]


@pytest.mark.agenttrace(unfinished_spans="ignore")
def test_unfinished_message(agenttrace):
    agent_c = start_agent_c()
    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_all_ended()
    agent_c.end()
    check_message(str(failure.value), "unfinished_spans")


# --8<-- [start:wait_for_complete]
def test_wait_for_background_agents(agenttrace):
    done = threading.Event()

    def agent():
        with tracer.start_as_current_span("agent_c"):
            done.wait(5)

    worker = threading.Thread(target=agent)
    worker.start()
    done.set()
    agenttrace.wait_for(name="agent_c", complete=True)  # every started span has ended
    worker.join()


# --8<-- [end:wait_for_complete]
