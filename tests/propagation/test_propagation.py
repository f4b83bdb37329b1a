"""Propagation assertions, broken-hop diagnosis and strict mode."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from textwrap import dedent

import pytest
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind

from pytest_agenttrace import AgentTrace

tracer = trace.get_tracer("tests.propagation")


def fn(*lines: str) -> list[str]:
    """fnmatch patterns for literal lines: `[` opens a character class in fnmatch."""
    return [line.replace("[", "[[]") for line in lines]


# -- a tiny hop used throughout --------------------------------------------------------
def send(*, inject: bool = True, destination: str = "jobs") -> str:
    with tracer.start_as_current_span(f"publish {destination}", kind=SpanKind.PRODUCER):
        message: dict[str, object] = {"payload": 1, "ts": 0}
        if inject:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            message = {"payload": 1, "trace_context": carrier}
        return json.dumps(message)


def receive(raw: str, *, use_context: bool = True, link: bool = False) -> None:
    message = json.loads(raw)
    ctx = propagate.extract(message.get("trace_context", message))
    sender = trace.get_current_span(ctx).get_span_context()
    if link:
        links = [Link(sender)] if sender.is_valid else []
        with tracer.start_as_current_span(
            "process jobs", context=Context(), kind=SpanKind.CONSUMER, links=links
        ):
            pass
        return
    with (
        tracer.start_as_current_span(
            "process jobs", context=ctx if use_context else None, kind=SpanKind.CONSUMER
        ),
        tracer.start_as_current_span("work"),
    ):
        pass


# -- assert_single_trace ------------------------------------------------------------------
def test_single_trace_passes_when_context_flows(agenttrace):
    with tracer.start_as_current_span("orchestrator"):
        raw = send()
    receive(raw)
    agenttrace.assert_single_trace()
    assert agenttrace.orphans == []
    assert agenttrace.broken_hops == []
    assert agenttrace.propagation_problems() == []


def test_single_trace_names_each_fragment_and_why(agenttrace):
    with tracer.start_as_current_span("orchestrator"):
        raw = send(inject=False)
    receive(raw)
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_single_trace()
    text = str(error.value)
    lines = text.splitlines()
    assert lines[0] == "Expected all spans in one trace, captured 2 trace(s):"
    assert lines[1].endswith(": `orchestrator` (2 span(s))")
    assert lines[2].endswith(": `process jobs` [consumer] (2 span(s))")
    assert lines[3:7] == [
        "    broken hop: a consumer span with no parent and no link, while the capture "
        "holds producer/client spans",
        lines[4],
        "    inject() was never called while `publish jobs` [producer] was active",
        "    extract() in thread 'MainThread': the carrier had no traceparent (keys: payload, ts)",
    ]
    assert lines[4].startswith("    most likely sender: `publish jobs` [producer] in trace ")
    assert "See docs/propagation.md#fragments" in lines[-1]


def test_single_trace_lists_the_first_hundred_traces_and_orphans_and_counts_the_rest(
    agenttrace,
):
    for index in range(130):  # 130 fragments, and 130 orphans under a stale parent
        tracer.start_span(f"job_{index}").end()
        stale = trace.SpanContext(0xABC, 0x100 + index, False, trace.TraceFlags(1))
        tracer.start_span(
            "agent", context=trace.set_span_in_context(trace.NonRecordingSpan(stale))
        ).end()
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_single_trace()
    lines = str(error.value).splitlines()
    assert (
        lines[0] == "Expected all spans in one trace, captured 131 trace(s) and 130 orphan span(s):"
    )
    assert "- … and 31 more" in lines
    assert "- … and 30 more" in lines
    assert sum(line.startswith("- `agent` has parent") for line in lines) == 100


def test_single_trace_fails_with_no_spans(agenttrace):
    with pytest.raises(AssertionError, match="no spans were captured"):
        agenttrace.assert_single_trace()


def test_single_trace_reports_orphans(agenttrace):
    stale = trace.SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=trace.TraceFlags(1))
    with tracer.start_as_current_span(
        "agent", context=trace.set_span_in_context(trace.NonRecordingSpan(stale))
    ):
        pass
    assert [span.name for span in agenttrace.orphans] == ["agent"]
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_single_trace()
    assert "and 1 orphan span(s)" in str(error.value)
    assert (
        "- `agent` has parent 0000000000000def (trace 00000000…), which was neither "
        "captured nor extracted from a carrier"
    ) in str(error.value)


def test_extracted_remote_parent_is_not_an_orphan(agenttrace):
    carrier = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    with tracer.start_as_current_span(
        "handle", context=propagate.extract(carrier), kind=SpanKind.SERVER
    ):
        pass
    assert agenttrace.orphans == []
    agenttrace.assert_single_trace()


def test_linked_consumer_root_is_a_healthy_hop(agenttrace):
    receive(send(), link=True)
    assert agenttrace.broken_hops == []
    assert agenttrace.propagation_problems() == []
    with pytest.raises(AssertionError, match=r"a healthy span-link hop"):
        agenttrace.assert_single_trace()


# -- assert_propagated ----------------------------------------------------------------------
def test_assert_propagated_parent_child(agenttrace):
    with tracer.start_as_current_span("orchestrator"):
        raw = send()
    receive(raw)
    agenttrace.assert_propagated("publish jobs", "process jobs")
    agenttrace.assert_propagated("orchestrator", "work", via="parent")
    agenttrace.assert_propagated(agenttrace.one("publish*"), agenttrace.one("work"))
    with pytest.raises(AssertionError, match="no span link was crossed"):
        agenttrace.assert_propagated("publish jobs", "process jobs", via="link")


def test_assert_propagated_span_link(agenttrace):
    with tracer.start_as_current_span("orchestrator"):
        raw = send()
    receive(raw, link=True)
    agenttrace.assert_propagated("publish jobs", "process jobs")
    # the link points at `publish jobs`, which is under `orchestrator`
    agenttrace.assert_propagated("orchestrator", "process jobs", via="link")
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_propagated("publish jobs", "process jobs", via="parent")
    assert "reached only through a span link, not as a descendant" in str(error.value)


def test_assert_propagated_failure_says_why(agenttrace):
    receive(send(inject=False))
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_propagated("publish jobs", "work")
    lines = str(error.value).splitlines()
    assert lines[0] == "Context was not propagated from `publish jobs` [producer] to `work`:"
    assert lines[1].startswith(
        "- not a descendant: `work` is under `process jobs` [consumer] in trace "
    )
    assert lines[2] == (
        "- no span link to `publish jobs` [producer] (or a span under it) on `work` or its "
        "ancestors (it has no links)"
    )
    assert lines[3:5] == [
        "- propagator spy: inject() was never called while `publish jobs` [producer] was active",
        "- propagator spy: extract() in thread 'MainThread': the carrier had no traceparent "
        "(keys: payload, ts)",
    ]
    assert lines[-1].endswith("See docs/propagation.md#assert_propagated")


def test_assert_propagated_extract_ignored(agenttrace):
    receive(send(), use_context=False)
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_propagated("publish jobs", "process jobs")
    text = str(error.value)
    assert "has no parent: it is the root of trace" in text
    assert "- propagator spy: inject() in thread 'MainThread' with `publish jobs`" in text
    assert "but the consumer span was started without the extracted context" in text, text


def test_assert_propagated_extract_never_called(agenttrace):
    send()
    with tracer.start_as_current_span("process jobs", kind=SpanKind.CONSUMER):
        pass
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_propagated("publish jobs", "process jobs")
    assert "- propagator spy: extract() was never called on the consumer side" in str(error.value)


def test_assert_propagated_inject_outside_any_span(agenttrace):
    carrier: dict[str, str] = {}
    with tracer.start_as_current_span("publish jobs", kind=SpanKind.PRODUCER):
        pass
    propagate.inject(carrier)  # too late: the producer span already ended
    receive(json.dumps({"payload": 1, "trace_context": carrier}))
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_propagated("publish jobs", "process jobs")
    assert "inject() was called outside any span" not in str(error.value)  # not during it
    assert "inject() was never called while `publish jobs` [producer] was active" in str(
        error.value
    )


def test_assert_propagated_inject_outside_span_during_producer(agenttrace):
    with tracer.start_as_current_span("publish jobs", kind=SpanKind.PRODUCER):
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=Context())  # explicit empty context
    receive(json.dumps({"payload": 1, "trace_context": carrier}))
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_propagated("publish jobs", "process jobs")
    assert "- propagator spy: inject() was called outside any span" in str(error.value)


def test_assert_propagated_same_trace_other_branch(agenttrace):
    with tracer.start_as_current_span("root"):
        with tracer.start_as_current_span("a"):
            pass
        with tracer.start_as_current_span("b"):
            pass
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_propagated("a", "b")
    assert "`b` is in the producer's trace, but under `root`, not under the producer" in str(
        error.value
    )


def test_assert_propagated_unknown_span(agenttrace):
    with tracer.start_as_current_span("root"):
        pass
    with pytest.raises(AssertionError, match="the consumer: Expected exactly one span"):
        agenttrace.assert_propagated("root", "nope")
    with pytest.raises(ValueError, match="via must be"):
        agenttrace.assert_propagated("root", "root", via="sideways")


# -- over-nesting ------------------------------------------------------------------------------
def handle_request(*, fresh: bool) -> None:
    context = Context() if fresh else None
    with (
        tracer.start_as_current_span("handle_request", context=context),
        tracer.start_as_current_span("step"),
    ):
        pass


def test_trace_count_and_roots_pass_for_independent_runs(agenttrace):
    handle_request(fresh=True)
    handle_request(fresh=True)
    agenttrace.assert_trace_count(2)
    agenttrace.assert_roots("handle_request", "handle_*")


def test_trace_count_catches_nested_runs(agenttrace):
    with tracer.start_as_current_span("handle_request"):  # first run never detached
        handle_request(fresh=False)
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_trace_count(2)
    lines = str(error.value).splitlines()
    assert lines[0] == "Expected 2 trace(s), captured 1:"
    assert lines[2] == (
        "    nested run: `handle_request` is under `handle_request` instead of starting its "
        "own trace"
    )
    assert "Runs that should be independent share a trace" in lines[-1]
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_roots("handle_request", "handle_request")
    text = str(error.value)
    assert "Expected root spans 'handle_request', 'handle_request'; captured roots: " in text
    assert "- 'handle_request' exists but is nested under `handle_request` in trace" in text


def test_trace_count_too_many(agenttrace):
    handle_request(fresh=True)
    handle_request(fresh=True)
    with pytest.raises(AssertionError, match="More traces than expected"):
        agenttrace.assert_trace_count(1)


def test_assert_roots_uses_one_to_one_matching(agenttrace):
    with tracer.start_as_current_span("agent_a"):
        pass
    with tracer.start_as_current_span("agent_b", context=Context()):
        pass
    # A greedy matcher would give "agent_*" to agent_a and leave "agent_a" unmatched.
    agenttrace.assert_roots("agent_*", "agent_a")
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_roots("agent_a")
    assert "- unexpected root `agent_b` (1 span(s) in its trace)" in str(error.value)
    with pytest.raises(AssertionError, match="no root span matches 'nope'"):
        agenttrace.assert_roots("agent_a", "agent_b", "nope")


# -- context errors -------------------------------------------------------------------------------
def test_failed_detach_is_recorded_with_the_current_span(agenttrace):
    import contextvars

    with tracer.start_as_current_span("agent_step") as span:
        token = otel_context.attach(trace.set_span_in_context(span))
        contextvars.copy_context().run(otel_context.detach, token)  # wrong context
        otel_context.detach(token)
    (error,) = agenttrace.context_errors
    assert error.message == "Failed to detach context"
    assert error.current_span == "agent_step"
    assert "ValueError" in (error.exception or "")
    (problem,) = agenttrace.propagation_problems()
    assert problem.splitlines()[:2] == [
        "OpenTelemetry context errors: 1 during the test.",
        problem.splitlines()[1],
    ]
    assert problem.splitlines()[1].startswith(
        "- Failed to detach context in thread 'MainThread', current span: `agent_step` (ValueError"
    )


# -- strict mode: default, ini, flag, marker ------------------------------------------------------
BROKEN_HOP = """
    import json
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind

    tracer = trace.get_tracer("app")

    def send():
        with tracer.start_as_current_span("publish jobs", kind=SpanKind.PRODUCER):
            return json.dumps({"payload": 1, "ts": 0})  # context not injected

    def receive(raw):
        ctx = propagate.extract(json.loads(raw))
        with tracer.start_as_current_span("process jobs", context=ctx, kind=SpanKind.CONSUMER):
            pass

    MARK

    def test_hop(agenttrace):
        receive(send())
"""

STRICT_FAILURE = fn(
    "Broken context propagation: 1 span(s) started a new trace where context should have "
    "been carried over.",
    "- `process jobs` [consumer] started trace *… (1 span(s)): a consumer span with no "
    "parent and no link, while the capture holds producer/client spans",
    "  most likely sender: `publish jobs` [producer] in trace *…",
    "  inject() was never called while `publish jobs` [producer] was active",
    "  extract() in thread 'MainThread': the carrier had no traceparent (keys: payload, ts)",
    "",
    "Carry the context over the hop: *See docs/propagation.md#strict-mode",
)


def broken_hop(pytester: pytest.Pytester, mark: str = "") -> None:
    pytester.makepyfile(dedent(BROKEN_HOP).replace("MARK", mark))


def test_strict_is_off_by_default(pytester):
    broken_hop(pytester)
    pytester.runpytest().assert_outcomes(passed=1)


def test_strict_from_ini(pytester):
    pytester.makeini("[pytest]\nagenttrace_strict = true\n")
    broken_hop(pytester)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(STRICT_FAILURE, consecutive=True)


def test_strict_from_flag(pytester):
    broken_hop(pytester)
    result = pytester.runpytest("--agenttrace-strict")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(STRICT_FAILURE, consecutive=True)


def test_strict_flag_off_beats_ini(pytester):
    pytester.makeini("[pytest]\nagenttrace_strict = true\n")
    broken_hop(pytester)
    pytester.runpytest("--no-agenttrace-strict").assert_outcomes(passed=1)


def test_strict_from_marker(pytester):
    broken_hop(pytester, "import pytest\npytestmark = pytest.mark.agenttrace(strict=True)")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(STRICT_FAILURE, consecutive=True)


def test_marker_turns_strict_off(pytester):
    broken_hop(pytester, "import pytest\npytestmark = pytest.mark.agenttrace(strict=False)")
    pytester.runpytest("--agenttrace-strict").assert_outcomes(passed=1)


def test_strict_rejects_invalid_ini(pytester):
    pytester.makeini("[pytest]\nagenttrace_strict = sometimes\n")
    broken_hop(pytester)
    result = pytester.runpytest()
    result.stderr.fnmatch_lines(["*ini option agenttrace_strict: 'sometimes' is not a boolean*"])


STRICT_FINE = """
    import json
    import threading
    from opentelemetry import propagate, trace
    from opentelemetry.context import Context
    from opentelemetry.trace import Link, SpanKind

    tracer = trace.get_tracer("app")

    def workflow(name):
        with tracer.start_as_current_span(name, context=Context()):
            with tracer.start_as_current_span("call llm", kind=SpanKind.CLIENT):
                pass

    def test_independent_workflows(agenttrace):
        workflow("request 1")
        workflow("request 2")
        with tracer.start_as_current_span("GET /health", kind=SpanKind.CLIENT):
            pass
        assert len(agenttrace.traces) == 3

    def test_concurrent_workflows_in_threads(agenttrace):
        threads = [threading.Thread(target=workflow, args=(f"job {i}",)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(agenttrace.traces) == 3

    def test_linked_consumer(agenttrace):
        with tracer.start_as_current_span("publish jobs", kind=SpanKind.PRODUCER):
            carrier = {}
            propagate.inject(carrier)
        sender = trace.get_current_span(propagate.extract(carrier)).get_span_context()
        with tracer.start_as_current_span(
            "process jobs", context=Context(), kind=SpanKind.CONSUMER, links=[Link(sender)]
        ):
            pass

    def test_server_span_from_an_outside_caller(agenttrace):
        carrier = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
        with tracer.start_as_current_span(
            "GET /items", context=propagate.extract(carrier), kind=SpanKind.SERVER
        ):
            pass

    def test_server_without_clients(agenttrace):
        for _ in range(2):
            with tracer.start_as_current_span(
                "GET /items", context=propagate.extract({}), kind=SpanKind.SERVER
            ):
                pass
"""


def test_strict_does_not_flag_legitimate_independent_traces(pytester):
    pytester.makepyfile(dedent(STRICT_FINE))
    pytester.runpytest("--agenttrace-strict").assert_outcomes(passed=5)


def test_strict_flags_orphans_malformed_and_ignored_context(pytester):
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import propagate, trace

            tracer = trace.get_tracer("app")

            def test_orphan(agenttrace):
                stale = trace.SpanContext(0xABC, 0xDEF, False, trace.TraceFlags(1))
                parent = trace.set_span_in_context(trace.NonRecordingSpan(stale))
                with tracer.start_as_current_span("agent", context=parent):
                    pass

            def test_malformed(agenttrace):
                ctx = propagate.extract({"traceparent": "00-xyz"})
                with tracer.start_as_current_span("agent", context=ctx):
                    pass

            def test_ignored(agenttrace):
                propagate.extract(
                    {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
                )
                with tracer.start_as_current_span("agent"):
                    pass
            """
        )
    )
    result = pytester.runpytest("--agenttrace-strict")
    result.assert_outcomes(passed=3, errors=3)
    result.stdout.fnmatch_lines(
        fn(
            "Orphan spans: 1 span(s) point to a parent that was never captured.",
            "- `agent` has parent 0000000000000def (trace 00000000…), which was neither "
            "captured nor extracted from a carrier",
            "",
            "The parent context came from outside the test *See docs/propagation.md#orphans",
        ),
        consecutive=True,
    )
    result.stdout.fnmatch_lines(
        fn(
            "Malformed trace context: extract() rejected 1 traceparent header(s).",
            "- extract() in thread 'MainThread': traceparent malformed: '00-xyz' is 6 "
            "characters in 2 dash-separated part(s) (expected 55 characters, "
            "version-traceid-spanid-flags: 2, 32, 16 and 2 lowercase hex digits) "
            "(keys: traceparent)",
            "",
            "Write the carrier with propagate.inject(carrier); never build a traceparent by "
            "hand. See docs/propagation.md#malformed-traceparent",
        ),
        consecutive=True,
    )
    result.stdout.fnmatch_lines(
        fn(
            "Ignored trace context: 1 extract() call(s) succeeded but no span was started with "
            "the extracted context.",
            "- extract() in thread 'MainThread' found traceparent "
            "'00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' (parent "
            "b7ad6b7169203331); no captured span has it as parent or link",
        ),
        consecutive=True,
    )


def test_strict_reports_context_errors(pytester):
    pytester.makepyfile(
        dedent(
            """
            import contextvars
            from opentelemetry import context, trace

            tracer = trace.get_tracer("app")

            def test_detach_elsewhere(agenttrace):
                with tracer.start_as_current_span("stream_tokens") as span:
                    token = context.attach(trace.set_span_in_context(span))
                    contextvars.copy_context().run(context.detach, token)
                    context.detach(token)
            """
        )
    )
    result = pytester.runpytest("--agenttrace-strict")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        fn(
            "OpenTelemetry context errors: 1 during the test.",
            "- Failed to detach context in thread 'MainThread', current span: `stream_tokens` "
            "(ValueError: *)",
            "",
            "A context token was detached in a different context *#context-errors",
        ),
        consecutive=True,
    )


def test_spy_restores_the_users_propagator_even_when_the_test_fails(pytester):
    pytester.makepyfile(
        dedent(
            """
            import pytest
            from opentelemetry import propagate
            from opentelemetry.propagators.textmap import TextMapPropagator

            class Custom(TextMapPropagator):
                def inject(self, carrier, context=None, setter=None):
                    carrier["x-custom"] = "1"
                def extract(self, carrier, context=None, getter=None):
                    return context
                @property
                def fields(self):
                    return {"x-custom"}

            CUSTOM = Custom()
            propagate.set_global_textmap(CUSTOM)

            def test_fails(agenttrace):
                assert propagate.get_global_textmap() is not CUSTOM
                assert propagate.get_global_textmap().inner is CUSTOM
                carrier = {}
                propagate.inject(carrier)
                assert carrier == {"x-custom": "1"}
                assert agenttrace.propagator_spy.injects[0].headers == {}
                raise RuntimeError("boom")

            def test_after():
                assert propagate.get_global_textmap() is CUSTOM
            """
        )
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1, failed=1)


def test_spy_keeps_a_propagator_the_test_installed(pytester):
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import propagate
            from opentelemetry.trace.propagation.tracecontext import (
                TraceContextTextMapPropagator,
            )

            MINE = TraceContextTextMapPropagator()

            def test_sets_its_own(agenttrace):
                propagate.set_global_textmap(MINE)

            def test_after():
                assert propagate.get_global_textmap() is MINE
            """
        )
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=2)


def test_clear_inside_an_open_span_does_not_make_its_children_orphans(
    agenttrace: AgentTrace,
) -> None:
    tracer = agenttrace.tracer
    with tracer.start_as_current_span("hypothesis example"):
        agenttrace.clear()
        tracer.start_span("agent").end()
    assert agenttrace.orphans == []
    agenttrace.assert_single_trace()


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
