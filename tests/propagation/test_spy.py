"""The propagator spy: recording, traceparent diagnosis, robustness (Hypothesis)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from textwrap import dedent
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from pytest_agenttrace import AgentTrace
from pytest_agenttrace import redis as agent_redis
from pytest_agenttrace import strategies as ats
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
        (42, "42 is an int, not a str"),
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
    ats.traceparents(),
    ats.malformed_traceparents(),  # each defect the diagnosis names
    # and near misses of no particular kind
    st.text(max_size=80),
    st.builds(
        lambda parts, extra: "-".join(parts) + extra,
        st.lists(fields(), min_size=1, max_size=5),
        st.sampled_from(["", " ", "\t", "-", "-x"]),
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


carriers = st.one_of(
    # sampled: an unsampled parent would drop the consumer span the test counts
    ats.carriers(traceparent=ats.traceparents(sampled=True), garbage=True),
    ats.malformed_carriers(),
    # and any JSON-like shape at all
    st.recursive(
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
    ),
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


# -- what a bad carrier is called ------------------------------------------------------------
def test_a_string_trace_context_is_called_a_string_not_a_mapping(agenttrace):
    agent_redis.unwrap('{"payload": 1, "trace_context": "00-abc"}')
    (call,) = agenttrace.propagator_spy.extracts
    assert call.defect == "the carrier was a str, not a mapping of trace headers: '00-abc'"
    assert call.diagnosis() == (
        "extract() in thread 'MainThread': the carrier was a str, not a mapping of trace "
        "headers: '00-abc'"
    )


def test_a_trace_context_encoded_twice_says_so(agenttrace):
    carrier = json.dumps({"traceparent": VALID})
    agent_redis.unwrap(json.dumps({"payload": 1, "trace_context": carrier}))
    (call,) = agenttrace.propagator_spy.extracts
    assert call.defect is not None
    assert call.defect.startswith("the carrier was a str, not a mapping of trace headers: ")
    assert call.defect.endswith(" (a JSON object encoded once more: decode it before extract())")


def test_an_integer_traceparent_is_called_an_int(agenttrace):
    # the Redis helpers' getter reads 123 as "123" (OpenTelemetry's own getter makes the
    # W3C propagator raise TypeError): the diagnosis still sees the int
    agent_redis.unwrap({"payload": 1, "trace_context": {"traceparent": 123}})
    (call,) = agenttrace.propagator_spy.extracts
    assert call.defect == "traceparent malformed: 123 is an int, not a str"


def test_spy_installs_when_the_code_under_test_first_imports_propagate(
    pytester: pytest.Pytester,
) -> None:
    # A fresh interpreter where nothing imported opentelemetry.propagate before the
    # test: the capture starts with nothing to wrap, and the spy must still see the
    # inject and the malformed extract made through a module imported mid-test.
    pytester.makepyfile(
        dedent(
            """
            import sys
            from opentelemetry import trace

            def test_imports_propagate_lazily(agenttrace):
                assert "opentelemetry.propagate" not in sys.modules  # the case under test
                held = agenttrace.propagator_spy  # taken before the import: still records
                from opentelemetry import propagate

                with trace.get_tracer("t").start_as_current_span("publish"):
                    propagate.inject({})
                propagate.extract({"traceparent": "00-abc"})
                assert agenttrace.propagator_spy is held
                assert len(held.injects) == 1
                (bad,) = held.extracts
                assert bad.defect is not None
                # the module keeps its own loader, as if imported without the spy
                assert type(propagate.__loader__).__name__ == "SourceFileLoader"

            def test_next_test_wraps_and_restores_as_usual(agenttrace):
                from opentelemetry import propagate

                assert propagate.get_global_textmap() is agenttrace.propagator_spy
            """
        )
    )
    pytester.makeconftest(
        dedent(
            """
            def pytest_sessionfinish(session):
                from opentelemetry import propagate

                # no spy left behind once the tests are done
                assert type(propagate.get_global_textmap()).__name__ != "PropagatorSpy"
            """
        )
    )
    # the CI tracing plugins of the test extra import the propagate API when they load
    plugins_off = ("-p", "no:randomly", "-p", "no:pytest_opentelemetry", "-p", "no:logfire")
    result = pytester.runpytest_subprocess(*plugins_off)
    result.assert_outcomes(passed=2)


def test_a_finished_capture_installs_no_spy_on_a_later_import(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            import sys

            def test_captures_without_propagating(agenttrace):
                assert "opentelemetry.propagate" not in sys.modules

            def test_imports_propagate_after_the_capture_ended():
                from opentelemetry import propagate

                assert type(propagate.get_global_textmap()).__name__ != "PropagatorSpy"
            """
        )
    )
    plugins_off = ("-p", "no:randomly", "-p", "no:pytest_opentelemetry", "-p", "no:logfire")
    pytester.runpytest_subprocess(*plugins_off).assert_outcomes(passed=2)


def test_strict_mode_warns_when_the_test_replaced_the_spied_propagator(
    pytester: pytest.Pytester,
) -> None:
    # Calls through a propagator the test installs itself are not recorded: strict
    # mode would pass the broken hop below without a word.
    pytester.makepyfile(
        dedent(
            """
            import pytest
            from opentelemetry import propagate, trace
            from opentelemetry.trace.propagation.tracecontext import (
                TraceContextTextMapPropagator,
            )

            tracer = trace.get_tracer("t")

            @pytest.mark.agenttrace(strict=True)
            def test_own_propagator():
                propagate.set_global_textmap(TraceContextTextMapPropagator())
                with tracer.start_as_current_span("orchestrator"):
                    carrier = {}
                    propagate.inject(carrier)
                propagate.extract(carrier)
                with tracer.start_as_current_span("worker"):  # context not passed
                    pass

            def test_not_strict(agenttrace):
                propagate.set_global_textmap(TraceContextTextMapPropagator())
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(["*test_own_propagator*", "*replaced the global propagator*"])
