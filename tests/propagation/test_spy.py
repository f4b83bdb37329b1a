"""The propagator spy: recording, traceparent diagnosis, robustness (Hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from pytest_agenttrace import redis as agent_redis
from pytest_agenttrace.propagation._spy import PropagatorSpy, diagnose_traceparent

tracer = trace.get_tracer("tests.spy")
W3C = TraceContextTextMapPropagator()
VALID = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def otel_accepts(value: str) -> bool:
    ctx = W3C.extract({"traceparent": value})
    return trace.get_current_span(ctx).get_span_context().is_valid


@pytest.mark.parametrize(
    ("value", "defect"),
    [
        ("00-xyz", "'00-xyz' is 6 characters in 2 dash-separated part(s) (expected 55 characters"),
        ("", "'' is empty"),
        ("00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01", "31-character trace id"),
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01", "15-character span id"),
        ("0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "1-character version"),
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1", "1-character flags"),
        (
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "uppercase characters in the trace id",
        ),
        (
            "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
            "non-hex characters in the trace id",
        ),
        (
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333z-01",
            "non-hex characters in the span id",
        ),
        (
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0x",
            "non-hex characters in the flags",
        ),
        (
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "version ff, which W3C forbids",
        ),
        ("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", "expected 55"),
        ("00-00000000000000000000000000000000-b7ad6b7169203331-01", "all-zero trace id"),
        ("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", "all-zero span id"),
        (42, "42 is a int, not a string"),
    ],
)
def test_diagnosis_names_the_defect(value, defect):
    diagnosis = diagnose_traceparent(value)
    assert diagnosis is not None
    assert diagnosis.startswith("traceparent malformed: ")
    assert defect in diagnosis


@pytest.mark.parametrize(
    "value",
    [VALID, f" {VALID}\t", "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-future"],
)
def test_valid_traceparents_have_no_defect(value):
    assert diagnose_traceparent(value) is None
    assert otel_accepts(value)


def test_long_values_are_shortened_in_messages():
    diagnosis = diagnose_traceparent("00-" + "x" * 500)
    assert diagnosis is not None
    assert len(diagnosis) < 300
    assert "…" in diagnosis


HEX = "0123456789abcdef"


def fields() -> st.SearchStrategy[str]:
    hexes = st.text(alphabet=HEX, min_size=0, max_size=34)
    noisy = st.text(alphabet=HEX + "ABCDEFxyz-_ \t", min_size=0, max_size=34)
    return st.one_of(hexes, noisy)


traceparents = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda parts, extra: "-".join(parts) + extra,
        st.lists(fields(), min_size=1, max_size=5),
        st.sampled_from(["", " ", "\t", "-", "-x"]),
    ),
    st.builds(
        lambda v, t, s, f: f"{v}-{t}-{s}-{f}",
        st.sampled_from(["00", "01", "ff", "0", "000", "0A"]),
        st.text(alphabet=HEX, min_size=31, max_size=33) | st.just("0" * 32),
        st.text(alphabet=HEX, min_size=15, max_size=17) | st.just("0" * 16),
        st.text(alphabet=HEX, min_size=1, max_size=3),
    ),
)


@given(traceparents)
@example(VALID)
@example("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 ")
def test_diagnosis_agrees_with_opentelemetry(value):
    """The spy never calls a header OTel accepts malformed, and always explains a rejection."""
    diagnosis = diagnose_traceparent(value)
    assert (diagnosis is None) == otel_accepts(value), (value, diagnosis)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(traceparents)
def test_spy_records_the_defect_of_every_malformed_header(agenttrace, value):
    agenttrace.clear()
    context = propagate.extract({"traceparent": value, "payload": "x"})
    (call,) = agenttrace.propagator_spy.extracts
    if otel_accepts(value):
        assert call.extracted is not None
        assert call.defect is None
        assert trace.get_current_span(context).get_span_context().is_valid
    else:
        assert call.extracted is None
        assert call.defect == diagnose_traceparent(value)
        assert call.carrier_keys == ("traceparent", "payload")


carriers = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.binary(),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.text(max_size=12) | st.sampled_from(["traceparent", "trace_context"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=10,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=80)
@given(
    message=st.one_of(carriers, st.builds(lambda c: {"payload": 1, "trace_context": c}, carriers))
)
def test_queue_helpers_never_crash_on_malformed_messages(agenttrace, message):
    agenttrace.clear()
    payload, context, carrier = agent_redis.unwrap(message)
    assert isinstance(context, Context)
    received = agent_redis.Message(payload, context, carrier, "jobs")
    with received.process():
        pass
    with received.process(link=True):
        pass
    assert len(agenttrace.spans) == 2
    (call,) = agenttrace.propagator_spy.extracts
    assert call.extracted is not None or call.defect  # a reason is always given


def test_spy_records_inject_with_the_active_span(agenttrace):
    with tracer.start_as_current_span("publish jobs"):
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
    (call,) = agenttrace.propagator_spy.injects
    assert call.active_span is not None and call.active_span.name == "publish jobs"
    assert call.traceparent == carrier["traceparent"]
    assert call.origin.thread_name == "MainThread"
    assert call.describe().startswith("inject() in thread 'MainThread' with `publish jobs`: ")


def test_spy_records_extract_result_and_active_span(agenttrace):
    with tracer.start_as_current_span("consumer loop"):
        propagate.extract({"traceparent": VALID})
        propagate.extract(
            {"traceparent": "garbage"}, context=trace.set_span_in_context(trace.get_current_span())
        )
    good, bad = agenttrace.propagator_spy.extracts
    assert good.active_span is not None and good.active_span.name == "consumer loop"
    assert good.extracted is not None and f"{good.extracted.span_id:016x}" == "b7ad6b7169203331"
    assert bad.extracted is None  # the caller's own context came back, nothing was extracted
    assert bad.defect is not None and "1 dash-separated part" in bad.defect


def test_spy_is_transparent_for_other_getters():
    class HeaderList:
        def __init__(self, pairs):
            self.pairs = pairs

    class Getter:
        def get(self, carrier, key):
            return [v for k, v in carrier.pairs if k == key] or None

        def keys(self, carrier):
            return [k for k, _ in carrier.pairs]

    spy = PropagatorSpy(W3C)
    context = spy.extract(HeaderList([("traceparent", VALID), ("x", "y")]), getter=Getter())
    assert trace.get_current_span(context).get_span_context().is_valid
    assert spy.extracts[0].carrier_keys == ("traceparent", "x")
    assert spy.fields == W3C.fields


def test_spy_reports_a_propagator_that_ignores_traceparent():
    class Nothing(TraceContextTextMapPropagator):
        def extract(self, carrier, context=None, getter=None):
            return Context()

    spy = PropagatorSpy(Nothing())
    spy.extract({"traceparent": VALID})
    assert spy.extracts[0].defect == (
        f"the propagator (Nothing) ignored the valid traceparent {VALID!r}"
    )


def test_spy_surfaces_the_inner_propagators_errors_unchanged():
    spy = PropagatorSpy(W3C)
    with pytest.raises(AttributeError):
        spy.extract(object())  # the default getter needs a mapping; the spy adds nothing
