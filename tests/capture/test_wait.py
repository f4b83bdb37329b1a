"""wait_for(): block until consumers in other threads have done their work."""

from __future__ import annotations

import threading

import pytest
from opentelemetry import trace

from pytest_agenttrace import AgentTrace

tracer = trace.get_tracer(__name__)


def later(delay: float, work: object) -> threading.Timer:
    timer = threading.Timer(delay, work)  # type: ignore[arg-type]
    timer.start()
    return timer


def test_waits_for_a_named_span_and_returns_it(agenttrace: AgentTrace) -> None:
    later(0.05, lambda: tracer.start_span("consumer").end())
    span = agenttrace.wait_for(name="consum*", timeout=5)
    assert span.name == "consumer"


def test_waits_for_n_named_spans(agenttrace: AgentTrace) -> None:
    for delay in (0.01, 0.03, 0.05):
        later(delay, lambda: tracer.start_span("worker").end())
    spans = agenttrace.wait_for(name="worker", count=3, timeout=5)
    assert [span.name for span in spans] == ["worker"] * 3


def test_waits_for_a_total_span_count(agenttrace: AgentTrace) -> None:
    later(0.02, lambda: [tracer.start_span(f"s{i}").end() for i in range(4)])
    assert len(agenttrace.wait_for(count=4, timeout=5)) == 4


def test_predicate_false_or_empty_means_not_yet(agenttrace: AgentTrace) -> None:
    later(0.05, lambda: tracer.start_span("late").end())
    assert agenttrace.wait_for(lambda t: t.find("late"), timeout=5)[0].name == "late"


def test_assertion_error_in_condition_means_retry(agenttrace: AgentTrace) -> None:
    def two_spans(capture: AgentTrace) -> None:
        assert len(capture.spans) == 2

    later(0.02, lambda: tracer.start_span("a").end())
    later(0.06, lambda: tracer.start_span("b").end())
    assert agenttrace.wait_for(two_spans, timeout=5) is None
    assert len(agenttrace.spans) == 2


def test_complete_waits_until_no_span_is_open(agenttrace: AgentTrace) -> None:
    with tracer.start_as_current_span("orchestrator"):
        agent = tracer.start_span("agent")
    later(0.05, agent.end)
    agenttrace.wait_for(name="orchestrator", complete=True, timeout=5)
    assert agenttrace.unfinished == []


def test_timeout_message_shows_what_was_captured_and_what_is_open(
    agenttrace: AgentTrace,
) -> None:
    with tracer.start_as_current_span("orchestrator"):
        hung = tracer.start_span("agent C")
    with pytest.raises(AssertionError) as error:
        agenttrace.wait_for(name="validation*", timeout=0.05)
    hung.end()
    message = str(error.value)
    assert message.startswith(
        "wait_for() timed out after 0.05 s waiting for 1 finished span(s) matching "
        "(name='validation*').\nCaptured so far: 1 finished span(s), 1 open.\n"
    )
    assert "orchestrator" in message
    assert "Still open:\n- agent C (open " in message
    assert message.rstrip().endswith("s) under orchestrator")


def test_timeout_message_keeps_the_last_assertion_error(agenttrace: AgentTrace) -> None:
    def never(capture: AgentTrace) -> None:
        raise AssertionError("expected 3 agents, saw 0")

    with pytest.raises(AssertionError) as error:
        agenttrace.wait_for(never, timeout=0.02)
    assert str(error.value).endswith("Last assertion error:\nexpected 3 agents, saw 0")
    assert "waiting for never() to hold" in str(error.value)


def test_wait_for_needs_exactly_one_condition(agenttrace: AgentTrace) -> None:
    with pytest.raises(TypeError, match="exactly one of"):
        agenttrace.wait_for()
    with pytest.raises(TypeError, match="exactly one of"):
        agenttrace.wait_for(lambda t: True, name="x")


def test_zero_means_not_yet(agenttrace: AgentTrace) -> None:
    later(0.05, lambda: tracer.start_span("late").end())
    assert agenttrace.wait_for(lambda t: len(t.find("late")), timeout=5) == 1


def test_complete_alone_waits_for_every_open_span(agenttrace: AgentTrace) -> None:
    with tracer.start_as_current_span("orchestrator"):
        agent = tracer.start_span("agent")
    later(0.05, agent.end)
    spans = agenttrace.wait_for(complete=True, timeout=5)
    assert [span.name for span in spans] == ["orchestrator", "agent"]


def test_complete_alone_times_out_naming_the_open_span(agenttrace: AgentTrace) -> None:
    hung = tracer.start_span("agent C")
    with pytest.raises(AssertionError) as error:
        agenttrace.wait_for(complete=True, timeout=0.02)
    hung.end()
    assert str(error.value).startswith(
        "wait_for() timed out after 0.02 s waiting for every started span to end."
    )
