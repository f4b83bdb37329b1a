"""The public Hypothesis strategies draw what they promise, checked against OpenTelemetry."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import propagate, trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from pytest_agenttrace import AgentTrace, assert_trace_tree, parse_expected, render_tree
from pytest_agenttrace import redis as agent_redis
from pytest_agenttrace import strategies as ats
from pytest_agenttrace.propagation._spy import diagnose_traceparent

W3C = TraceContextTextMapPropagator()
FIXTURE = [HealthCheck.function_scoped_fixture]


def w3c_context(carrier: Any) -> trace.SpanContext:
    return trace.get_current_span(W3C.extract(carrier)).get_span_context()


# -- traceparent --------------------------------------------------------------------------------
@given(ats.traceparents())
def test_valid_traceparents_are_accepted_as_they_are(value: str) -> None:
    context = w3c_context({"traceparent": value})
    assert context.is_valid and context.is_remote
    assert f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}" == value
    assert diagnose_traceparent(value) is None


@given(ats.traceparents(sampled=True), ats.traceparents(sampled=False))
def test_sampled_picks_the_flags(sampled: str, unsampled: str) -> None:
    assert sampled.endswith("-01") and unsampled.endswith("-00")


# What the propagator spy says for each defect the strategy draws.
DIAGNOSES = {
    "empty": "is empty",
    "too few parts": "dash-separated part(s)",
    "field length": "-character ",
    "uppercase": "uppercase characters",
    "non-hex": "non-hex characters",
    "version ff": "version ff",
    "fields after version 00": "version 00 allows no fields after the flags",
    "all-zero trace id": "all-zero trace id",
    "all-zero span id": "all-zero span id",
}


def test_every_defect_has_its_diagnosis() -> None:
    assert set(DIAGNOSES) == set(ats.TRACEPARENT_DEFECTS)


@pytest.mark.parametrize("defect", ats.TRACEPARENT_DEFECTS)
@settings(max_examples=50)
@given(data=st.data())
def test_each_defect_is_rejected_and_diagnosed_as_that_defect(
    defect: str, data: st.DataObject
) -> None:
    value = data.draw(ats.malformed_traceparents(defect))
    assert not w3c_context({"traceparent": value}).is_valid
    diagnosis = diagnose_traceparent(value)
    assert diagnosis is not None and DIAGNOSES[defect] in diagnosis, (value, diagnosis)


def test_an_unknown_defect_is_named() -> None:
    with pytest.raises(ValueError, match="unknown defect 'typo'; valid: empty, too few parts"):
        ats.malformed_traceparents("typo")


# -- carriers -----------------------------------------------------------------------------------
@given(ats.carriers())
def test_carriers_continue_their_traceparents_trace(carrier: dict[str, str]) -> None:
    context = w3c_context(carrier)
    assert f"{context.trace_id:032x}" == carrier["traceparent"].split("-")[1]
    assert set(carrier) <= {"traceparent", "tracestate", "baggage"}


@given(ats.carriers(garbage=True))
def test_garbage_tracestate_and_baggage_leave_the_traceparent_usable(
    carrier: dict[str, str],
) -> None:
    context = trace.get_current_span(propagate.extract(carrier)).get_span_context()
    assert f"{context.span_id:016x}" == carrier["traceparent"].split("-")[2]


@given(ats.malformed_carriers(non_mappings=False, non_string_values=False))
def test_malformed_string_carriers_give_no_context(carrier: Mapping[str, str]) -> None:
    context = propagate.extract(carrier)
    assert not trace.get_current_span(context).get_span_context().is_valid


@settings(suppress_health_check=FIXTURE)
@given(ats.malformed_carriers())
def test_any_malformed_carrier_is_diagnosed_by_the_redis_helpers(
    agenttrace: AgentTrace, carrier: Any
) -> None:
    agenttrace.clear()
    _, context, _ = agent_redis.unwrap({"payload": 1, "trace_context": carrier})
    assert not trace.get_current_span(context).get_span_context().is_valid
    (call,) = agenttrace.propagator_spy.extracts
    assert call.extracted is None and call.defect


# -- span trees ---------------------------------------------------------------------------------
@given(ats.span_trees(max_depth=3, max_width=2, max_spans=6))
def test_span_trees_keep_their_bounds(tree: ats.SpanTree) -> None:
    assert tree.depth <= 3 and tree.size <= 6
    assert all(len(node.children) <= 2 for node in tree.walk())


@given(ats.span_trees(max_depth=1))
def test_depth_one_is_a_single_span(tree: ats.SpanTree) -> None:
    assert tree.size == 1 and tree.children == []


@settings(max_examples=60, suppress_health_check=FIXTURE)
@given(
    tree=ats.span_trees(
        names=st.sampled_from(["agent", "tool*", "x[1]", "GET /users/{id}"]),
        statuses=st.sampled_from(list(trace.StatusCode)),
    )
)
def test_emitted_trees_match_their_expectation(agenttrace: AgentTrace, tree: ats.SpanTree) -> None:
    agenttrace.clear()
    tree.emit(trace.get_tracer("fuzz"))
    agenttrace.assert_tree(tree.expected())
    agenttrace.assert_single_trace()
    assert len(agenttrace.spans) == tree.size
    # the printed tree is the same expectation, in text
    assert_trace_tree(agenttrace.forest, render_tree(agenttrace.forest))
    assert parse_expected(render_tree(agenttrace.forest))


def test_deep_trees_emit_without_recursion(agenttrace: AgentTrace) -> None:
    tree = node = ats.SpanTree("level")
    for _ in range(3000):
        node.children.append(ats.SpanTree("level"))
        node = node.children[0]
    tree.emit(agenttrace.tracer)
    assert tree.depth == 3001 and len(agenttrace.spans) == 3001
    agenttrace.assert_tree(tree.expected())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"max_depth": 0}, "max_depth must be a whole number >= 1, got 0"),
        ({"max_width": -1}, "max_width must be a whole number >= 0, got -1"),
        ({"max_spans": True}, "max_spans must be a whole number >= 1, got True"),
    ],
)
def test_bad_bounds_are_named(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ats.span_trees(**arguments)


@pytest.mark.parametrize("argument", ["names", "kinds", "statuses", "attributes"])
def test_a_plain_value_where_a_strategy_goes_is_named(argument: str) -> None:
    with pytest.raises(
        TypeError, match=f"span_trees\\(\\): {argument} must be a Hypothesis strategy"
    ):
        ats.span_trees(**{argument: ["a"]})


def test_without_hypothesis_the_error_names_the_extra() -> None:
    code = "import sys; sys.modules['hypothesis'] = None\nimport pytest_agenttrace.strategies"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "ImportError: pytest_agenttrace.strategies needs Hypothesis: "
        "pip install 'pytest-agenttrace-otel[hypothesis]'"
    )


@pytest.mark.parametrize(
    ("strategy", "shown"),
    [
        ('ats.malformed_traceparents("uppercase")', "value='"),
        (
            'ats.carriers(traceparent=ats.malformed_traceparents("uppercase"))',
            "value={'traceparent': '",
        ),
    ],
)
def test_a_failing_example_shows_the_drawn_value_not_how_it_was_built(
    pytester: pytest.Pytester, strategy: str, shown: str
) -> None:
    pytester.makepyfile(
        f"""
        from hypothesis import given
        from pytest_agenttrace import strategies as ats

        @given(value={strategy})
        def test_consumer(value):
            # fails on part of what is drawn: Hypothesis then explains which part
            assert "A" not in str(value)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert shown in text
    assert "build(" not in text and "lambda" not in text
