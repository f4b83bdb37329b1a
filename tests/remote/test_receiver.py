"""The OTLP receiver with real exporters in real child processes, and its bad inputs."""

from __future__ import annotations

import gzip
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from textwrap import dedent, indent
from typing import Any

import pytest
from opentelemetry import trace

from pytest_agenttrace import AgentTrace

AGENTS = Path(__file__).parent / "agents"

tracer = trace.get_tracer("tests.remote")

TREE = """
    llm_agent
      validate_citations [consumer, service=validator]
        POST [client]
"""


# -- real exporters, each protocol -----------------------------------------------------------
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_child_spans_join_the_capture_before_the_child_exits(
    agenttrace: AgentTrace, validator: Any, protocol: str
) -> None:
    with tracer.start_as_current_span("llm_agent"):
        validator(agenttrace.otlp_env(service_name="validator", protocol=protocol))
    # no wait_for: a query waits until every answered export's spans are filed
    agenttrace.assert_tree(TREE)
    agenttrace.assert_single_trace()
    remote = agenttrace.one("validate_citations")
    assert remote.received and not agenttrace.one("llm_agent").received
    assert remote.service == "validator"
    assert remote.resource["service.name"] == "validator"
    assert remote.readable.instrumentation_scope.name == "validator"
    assert [event.name for event in remote.events] == ["checked"]
    assert remote.events[0].attributes == {"score": 0.93}
    assert remote.has_remote_parent  # the exporter says the parent came from a carrier
    assert agenttrace.find(service="valid*") == [remote, agenttrace.one("POST")]


def test_zero_code_child_with_the_context_in_traceparent(
    agenttrace: AgentTrace, validator: Any
) -> None:
    with tracer.start_as_current_span("llm_agent"):
        env = agenttrace.otlp_env(service_name="validator", propagate=True)
        assert env["TRACEPARENT"].startswith("00-")
        validator(env, carrier="-", zero_code=True)
    agenttrace.assert_tree(TREE)
    agenttrace.assert_single_trace()


def test_error_status_and_description_arrive(agenttrace: AgentTrace, validator: Any) -> None:
    with tracer.start_as_current_span("llm_agent"):
        validator(agenttrace.otlp_env(service_name="validator"), "--fail")
    remote = agenttrace.one("validate_citations", status="error")
    assert remote.status_description == "citation 2 not found"


def test_the_printed_cross_process_tree_names_services_and_pastes_back(
    agenttrace: AgentTrace, validator: Any
) -> None:
    with tracer.start_as_current_span("llm_agent"):
        validator(agenttrace.otlp_env(service_name="validator"))
    printed = agenttrace.render(style="indent")
    lines = printed.splitlines()
    assert lines[0].startswith("llm_agent [service=")  # a root names its service
    assert lines[1] == "  validate_citations {citations: 3} [consumer, service=validator]"
    # the same service as its parent: not repeated
    assert lines[2] == '    POST {http.request.method: "POST"} [client]'
    agenttrace.assert_tree(printed)


def test_in_process_trees_print_as_before(agenttrace: AgentTrace) -> None:
    with tracer.start_as_current_span("root"), tracer.start_as_current_span("child"):
        pass
    assert agenttrace.render(style="indent") == "root\n  child"


# -- broken propagation across the process boundary ---------------------------------------------
def test_a_child_that_ignores_the_carrier_is_named_with_its_service(
    agenttrace: AgentTrace, validator: Any
) -> None:
    with tracer.start_as_current_span("llm_agent", kind=trace.SpanKind.PRODUCER):
        validator(agenttrace.otlp_env(service_name="validator"), "--ignore-context")
    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_single_trace()
    text = str(failure.value)
    assert "`validate_citations` [consumer] (service 'validator')" in text
    assert "ran in another process" in text
    assert "extract() was never called" not in text


def test_strict_mode_flags_the_broken_hop_with_no_assert(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        f"""
        import sys
        import pytest
        sys.path.insert(0, {str(AGENTS)!r})
        from launch import run_validator

        @pytest.fixture
        def validator():
            return run_validator
        """
    )
    pytester.makepyfile(
        dedent(
            """
            import pytest
            from opentelemetry import trace

            @pytest.mark.agenttrace(strict=True)
            def test_it(agenttrace, validator):
                tracer = trace.get_tracer("t")
                with tracer.start_as_current_span("llm_agent", kind=trace.SpanKind.PRODUCER):
                    validator(agenttrace.otlp_env(service_name="validator"), "--ignore-context")
            """
        )
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*`validate_citations` ?consumer? (service 'validator') started trace*",
            "*most likely sender: `llm_agent` ?producer?*",
            "*`validate_citations` * ran in another process: check that it extracts*",
        ]
    )


def test_a_child_that_drops_an_injected_context_is_a_broken_hop_whatever_the_kinds(
    agenttrace: AgentTrace, validator: Any
) -> None:
    # llm_agent is INTERNAL: no sender kind to pair with, but inject() handed it over
    with tracer.start_as_current_span("llm_agent"):
        validator(agenttrace.otlp_env(service_name="validator"), "--ignore-context")
    (hop,) = agenttrace.broken_hops
    assert hop.span.name == "validate_citations" and hop.producer is not None
    assert hop.producer.name == "llm_agent"
    assert "started while `llm_agent` had injected its context for the hop" in hop.reason


# -- attribution and waiting --------------------------------------------------------------------
def _post_json(endpoint: str, document: Any, content_type: str = "application/json") -> Any:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    request = urllib.request.Request(
        endpoint + "/v1/traces", data=body, headers={"Content-Type": content_type}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


def _document(*spans: dict[str, Any], service: str = "worker") -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                },
                "scopeSpans": [{"scope": {"name": "worker"}, "spans": list(spans)}],
            }
        ]
    }


def _span(name: str, trace_id: int, span_id: int, parent: int | None = None) -> dict[str, Any]:
    now = time.time_ns()
    span = {
        "traceId": f"{trace_id:032x}",
        "spanId": f"{span_id:016x}",
        "name": name,
        "kind": 5,
        "startTimeUnixNano": str(now),
        "endTimeUnixNano": str(now + 1000),
    }
    if parent is not None:
        span["parentSpanId"] = f"{parent:016x}"
    return span


def test_wait_for_complete_waits_until_a_named_parent_arrives(agenttrace: AgentTrace) -> None:
    trace_id = 0x5B8EFFF798038103D269B633813FC60C
    _post_json(agenttrace.otlp_endpoint, _document(_span("child", trace_id, 2, parent=1)))
    assert [span.name for span in agenttrace.awaiting_parents] == ["child"]
    sender = threading.Timer(
        0.2,
        _post_json,
        (agenttrace.otlp_endpoint, _document(_span("parent", trace_id, 1))),
    )
    sender.start()
    agenttrace.wait_for(complete=True, timeout=10)
    sender.join()
    agenttrace.assert_tree("parent [service=worker]\n  child [consumer]")
    assert agenttrace.awaiting_parents == []


def test_a_parent_that_never_arrives_is_named_on_timeout_and_as_orphan(
    agenttrace: AgentTrace,
) -> None:
    _post_json(agenttrace.otlp_endpoint, _document(_span("child", 0xABC, 2, parent=0xFEED)))
    with pytest.raises(AssertionError) as timeout:
        agenttrace.wait_for(complete=True, timeout=0.2)
    assert "- child [service=worker] names parent 000000000000feed" in str(timeout.value)
    assert "did its process exit without flushing?" in str(timeout.value)
    with pytest.raises(AssertionError) as orphan:
        agenttrace.assert_single_trace()
    assert "000000000000feed" in str(orphan.value)
    assert "in its own process, which never arrived: did that process exit without" in str(
        orphan.value
    )


def test_a_span_begun_before_the_test_is_late_whatever_its_trace(agenttrace: AgentTrace) -> None:
    # a fixture's warm-up call whose trace nobody here started: its spans come late
    old = _span("warm_up", 0x99, 1)
    old["startTimeUnixNano"] = str(time.time_ns() - 10_000_000_000)
    _post_json(agenttrace.otlp_endpoint, _document(old, _span("mine", 0x98, 1)))
    assert [span.name for span in agenttrace.spans] == ["mine"]
    assert [span.name for span in agenttrace.leaked] == ["warm_up"]


def test_a_caller_from_outside_the_test_is_neither_orphan_nor_awaited(
    agenttrace: AgentTrace,
) -> None:
    # the service extracted its parent from a carrier (OTLP span flags say so)
    served = _span("GET /retrieve", 0x4BF9, 2, parent=0xB7AD)
    served["flags"] = 0x300  # HAS_IS_REMOTE | IS_REMOTE
    _post_json(agenttrace.otlp_endpoint, _document(served))
    assert agenttrace.orphans == [] and agenttrace.awaiting_parents == []
    agenttrace.wait_for(complete=True, timeout=1)
    agenttrace.assert_single_trace()


def test_assert_tree_says_when_a_parent_has_not_arrived(agenttrace: AgentTrace) -> None:
    _post_json(agenttrace.otlp_endpoint, _document(_span("POST", 0xABD, 2, parent=1)))
    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_tree("validate_citations\n  POST")
    assert (
        "1 span(s) received from another process name a parent that has not arrived (yet): "
        "wait_for(complete=True) before asserting"
    ) in str(failure.value)
    assert "- POST [service=worker] under parent 0000000000000001" in str(failure.value)


def test_the_not_arrived_hint_shows_ten_parents_and_counts_the_rest(agenttrace: AgentTrace) -> None:
    waiting = [_span(f"step_{i:02d}", 0xABD, 2 + i, parent=0x1000 + i) for i in range(25)]
    _post_json(agenttrace.otlp_endpoint, _document(*waiting))
    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_tree("validate_citations")
    hint = str(failure.value).split("has not arrived (yet)")[1].splitlines()[1:]
    assert hint[0] == "- step_00 [service=worker] under parent 0000000000001000"
    assert hint[10:] == ["- … and 15 more"]


def test_spans_of_an_earlier_tests_trace_are_late_not_this_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            import json, time, urllib.request
            from opentelemetry import trace

            seen = {}

            def post(endpoint, name, trace_id, span_id):
                now = time.time_ns()
                span = {"traceId": f"{trace_id:032x}", "spanId": f"{span_id:016x}",
                        "name": name, "startTimeUnixNano": str(now),
                        "endTimeUnixNano": str(now + 1)}
                body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})
                urllib.request.urlopen(urllib.request.Request(
                    endpoint + "/v1/traces", data=body.encode(),
                    headers={"Content-Type": "application/json"}), timeout=10).read()

            def test_first(agenttrace):
                with trace.get_tracer("t").start_as_current_span("first") as span:
                    seen["trace"] = span.get_span_context().trace_id
                post(agenttrace.otlp_endpoint, "between", 0x77, 1)  # a new trace: ours

            def test_second(agenttrace):
                post(agenttrace.otlp_endpoint, "late", seen["trace"], 9)  # test_first's
                post(agenttrace.otlp_endpoint, "mine", 0x88, 1)
                assert [span.name for span in agenttrace.spans] == ["mine"]
                assert [span.name for span in agenttrace.leaked] == ["late"]
            """
        )
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=2)


# What a service sends as the session ends, after the last test's capture: no later
# test would fail with it, so the session says so instead of dropping it.
_REFUSED_LATE = (
    'request = urllib.request.Request(endpoint, data=b"{bad", '
    'headers={"Content-Type": "application/json"})\n'
    "try:\n"
    "    urllib.request.urlopen(request, timeout=10)\n"
    "except urllib.error.HTTPError as error:\n"
    "    assert error.code == 400"
)
_REJECTED_LATE = (
    "now = time.time_ns()\n"
    'bad = {"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "late", "kind": 9, '
    '"startTimeUnixNano": str(now), "endTimeUnixNano": str(now)}\n'
    'body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [bad]}]}]})\n'
    "request = urllib.request.Request(endpoint, data=body.encode(), "
    'headers={"Content-Type": "application/json"})\n'
    "assert urllib.request.urlopen(request, timeout=10).status == 200"
)


@pytest.mark.parametrize(
    ("send", "expected", "consecutive"),
    [
        pytest.param(
            _REFUSED_LATE,
            [
                "*AgentTraceWarning: The OTLP receiver refused 1 export(s) while no test was "
                "capturing, after the last test that could report them; spans in them were "
                "lost:",
                "*- OTLP/HTTP request refused (400): not JSON: *",
            ],
            False,
            id="refused",
        ),
        pytest.param(
            _REJECTED_LATE,
            [
                "*AgentTraceWarning: The OTLP receiver rejected 1 span(s) for bad span data in 1 "
                "export(s) while no test was capturing, after the last test that could report "
                "them; it took their other spans:",
                "  - OTLP/HTTP export: rejected 1 span(s): span 'late': unknown kind 9 (OTLP "
                "kinds are 0 to 5)",
                "  ",
                "  Fix the span data where the sender makes it: *",
            ],
            True,
            id="rejected",
        ),
    ],
)
def test_a_finding_after_the_last_capturing_test_is_a_session_warning(
    pytester: pytest.Pytester, send: str, expected: list[str], consecutive: bool
) -> None:
    pytester.makepyfile(
        dedent(
            """
            import json, time, urllib.error, urllib.request
            import pytest

            @pytest.fixture(scope="session")
            def service(agenttrace_receiver):
                yield
                endpoint = agenttrace_receiver.otlp_endpoint + "/v1/traces"
            {send}

            def test_captured(service, agenttrace):
                pass
            """
        ).format(send=indent(send, "    "))
    )
    result = pytester.runpytest_subprocess("-W", "error")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(expected, consecutive=consecutive)
    result.stdout.no_fnmatch_line("*between tests*")


VALIDATOR_CONFTEST = f"""
    import sys
    import pytest
    sys.path.insert(0, {str(AGENTS)!r})
    from launch import run_validator

    @pytest.fixture
    def validator():
        return run_validator
"""


def test_spans_received_after_the_last_capturing_test_are_a_session_warning(
    pytester: pytest.Pytester,
) -> None:
    # nothing captured is lost without a word: no later test takes them as leaked
    pytester.makeconftest(VALIDATOR_CONFTEST)
    pytester.makepyfile(
        """
        def test_captured(agenttrace):
            pass

        def test_not_captured_runs_a_child(agenttrace_receiver, validator):
            validator(agenttrace_receiver.otlp_env(service_name="validator"))
        """
    )
    result = pytester.runpytest_subprocess("-W", "error")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*AgentTraceWarning: The OTLP receiver received 2 span(s) while no test was "
            "capturing, after the last test that could report them; no test saw them:",
            "  - 2 from service 'validator': validate_citations, POST",
            "  ",
            "  Have each sender flush before its test ends: shut down (or force_flush()) the "
            "child's TracerProvider before the test returns, or agenttrace.wait_for(...) the "
            "spans the test expects from a service. See docs/remote.md#the-receivers-rules",
        ],
        consecutive=True,
    )


def test_spans_received_between_tests_are_the_next_captures_leaked_not_a_warning(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(VALIDATOR_CONFTEST)
    pytester.makepyfile(
        """
        def test_not_captured_runs_a_child(agenttrace_receiver, validator):
            validator(agenttrace_receiver.otlp_env(service_name="validator"))

        def test_captured(agenttrace):
            assert sorted(span.name for span in agenttrace.leaked) == [
                "POST", "validate_citations"]
            assert agenttrace.spans == []
        """
    )
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_a_refusal_while_a_test_that_does_not_capture_runs_fails_no_later_test(
    pytester: pytest.Pytester,
) -> None:
    # the next capturing test did not send it: the session's end says it, naming the test
    pytester.makepyfile(
        """
        import urllib.error, urllib.request

        def test_not_captured_sends_garbage(agenttrace_receiver):
            request = urllib.request.Request(
                agenttrace_receiver.otlp_endpoint + "/v1/traces",
                data=b"{bad",
                headers={"Content-Type": "application/json"},
            )
            try:
                urllib.request.urlopen(request, timeout=10)
            except urllib.error.HTTPError as error:
                assert error.code == 400

        def test_captured_later(agenttrace):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-W", "error", "-p", "no:randomly")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*AgentTraceWarning: The OTLP receiver refused 1 export(s) while tests ran that "
            "don't capture; spans in them were lost:",
            "  - OTLP/HTTP request refused (400): not JSON: * (during "
            "test_a_refusal_while_a_test_that_does_not_capture_runs_fails_no_later_test.py"
            "::test_not_captured_sends_garbage)",
        ],
        consecutive=True,
    )


def test_session_fixtures_reach_the_receiver_before_any_capture(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nagenttrace_otlp_start = session\n")
    pytester.makepyfile(
        dedent(
            """
            import pytest

            @pytest.fixture(scope="session")
            def service(agenttrace_receiver):
                env = agenttrace_receiver.otlp_env(service_name="llm-service")
                assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == agenttrace_receiver.otlp_endpoint
                return env

            def test_it(service, agenttrace):
                assert agenttrace.otlp_endpoint == service["OTEL_EXPORTER_OTLP_ENDPOINT"]
                assert service["OTEL_SERVICE_NAME"] == "llm-service"
            """
        )
    )
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


# -- otlp_env ----------------------------------------------------------------------
def test_otlp_env_points_every_sdk_at_the_receiver(agenttrace: AgentTrace) -> None:
    env = agenttrace.otlp_env(service_name="validator")
    assert agenttrace.otlp_endpoint.startswith("http://127.0.0.1:")
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == agenttrace.otlp_endpoint
    assert env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == agenttrace.otlp_endpoint + "/v1/traces"
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert env["OTEL_TRACES_EXPORTER"] == "otlp"
    assert env["OTEL_METRICS_EXPORTER"] == env["OTEL_LOGS_EXPORTER"] == "none"
    assert env["OTEL_SERVICE_NAME"] == "validator"
    assert int(env["OTEL_BSP_MAX_QUEUE_SIZE"]) >= 1_000_000  # a busy child drops none
    assert "TRACEPARENT" not in env  # outside any span, and not asked for
    grpc = agenttrace.otlp_env(protocol="grpc")
    assert grpc["OTEL_EXPORTER_OTLP_ENDPOINT"] == agenttrace.otlp_grpc_endpoint
    assert "OTEL_SERVICE_NAME" not in grpc
    with pytest.raises(ValueError, match="valid protocols are http/protobuf, http/json, grpc"):
        agenttrace.otlp_env(protocol="http")


# -- bad input: answered with the OTLP status, a finding at teardown, the receiver keeps serving ---
BAD_REQUESTS = [
    pytest.param(b"\xff\xff\xff", "application/x-protobuf", 400, "protobuf", id="bad-protobuf"),
    pytest.param(b"{not json", "application/json", 400, "not JSON", id="bad-json"),
    pytest.param(b'{"resourceSpans": 3}', "application/json", 400, "OTLP/JSON", id="wrong-json"),
    pytest.param(b"x", "text/plain", 415, "unsupported Content-Type", id="content-type"),
]


@pytest.mark.parametrize(("body", "content_type", "status", "reason"), BAD_REQUESTS)
def test_malformed_requests_are_refused_and_fail_the_test(
    pytester: pytest.Pytester, body: bytes, content_type: str, status: int, reason: str
) -> None:
    pytester.makepyfile(
        dedent(
            f"""
            import urllib.error, urllib.request
            import pytest

            def test_it(agenttrace):
                request = urllib.request.Request(
                    agenttrace.otlp_endpoint + "/v1/traces", data={body!r},
                    headers={{"Content-Type": {content_type!r}}})
                with pytest.raises(urllib.error.HTTPError) as refused:
                    urllib.request.urlopen(request, timeout=10)
                refused.value.close()
                assert refused.value.code == {status}
                # still serving
                ok = urllib.request.Request(
                    agenttrace.otlp_endpoint + "/v1/traces", data=b"{{}}",
                    headers={{"Content-Type": "application/json"}})
                assert urllib.request.urlopen(ok, timeout=10).status == 200
            """
        )
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*The OTLP receiver refused 1 export(s) during this test; spans in them were lost:",
            f"*- OTLP/HTTP request refused ({status}): *{reason}*",
        ]
    )


def test_grpc_refusals_are_findings_too(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_otlp_max_body = 1000\n")
    pytester.makepyfile(
        dedent(
            """
            import grpc
            import pytest

            def call(agenttrace, body):
                target = agenttrace.otlp_grpc_endpoint.removeprefix("http://")
                with grpc.insecure_channel(target) as channel:
                    export = channel.unary_unary(
                        "/opentelemetry.proto.collector.trace.v1.TraceService/Export")
                    with pytest.raises(grpc.RpcError) as refused:
                        export(body, timeout=10)
                return refused.value.code()

            def test_it(agenttrace):
                assert call(agenttrace, b"\\xff\\xff\\xff") == grpc.StatusCode.INVALID_ARGUMENT
                assert call(agenttrace, b"\\x0a" * 2000) == grpc.StatusCode.INVALID_ARGUMENT
            """
        )
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*refused 2 export(s) during this test*",
            "*- OTLP/gRPC export refused (INVALID_ARGUMENT): not an OTLP * in protobuf*",
            "*- OTLP/gRPC export refused (INVALID_ARGUMENT): body of 2000 bytes*",
            "*for larger exports raise agenttrace_otlp_max_body*",
        ]
    )


def test_an_over_the_limit_grpc_export_is_refused_once_not_retried(
    pytester: pytest.Pytester,
) -> None:
    # OpenTelemetry Python's gRPC exporter retries RESOURCE_EXHAUSTED with backoff
    # (seconds per batch, each retry another refusal): the answer must not invite it
    pytester.makeini("[pytest]\nagenttrace_otlp_max_body = 1000\n")
    pytester.makepyfile(
        big_agent="""
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            provider = TracerProvider()
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            with provider.get_tracer("big").start_as_current_span("big") as span:
                span.set_attribute("payload", "x" * 5000)
            provider.force_flush()  # as a test that waits for its child's spans
            provider.shutdown()
        """,
        test_it="""
            import os, subprocess, sys

            def test_it(agenttrace):
                env = {**os.environ, **agenttrace.otlp_env(protocol="grpc")}
                # generous: a retried export takes 7 s and more, one refusal well under 1 s
                subprocess.run([sys.executable, "big_agent.py"], env=env, check=True, timeout=20)
        """,
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "The OTLP receiver refused 1 export(s) during this test; spans in them were lost:",
            "- OTLP/gRPC export refused (INVALID_ARGUMENT): body of * bytes is over the "
            "receiver's limit of 1000 bytes (setting agenttrace_otlp_max_body)",
            "",
            "Fix the sender's exporter configuration (agenttrace.otlp_env() sets it up); for "
            "larger exports raise agenttrace_otlp_max_body. See docs/remote.md#bad-input",
        ],
        consecutive=True,
    )


def test_bodies_over_the_limit_are_refused_before_and_after_decompression(
    pytester: pytest.Pytester,
) -> None:
    bomb = gzip.compress(b"\0" * 2_000_000)  # about 2 kB that inflate to 2 MB
    pytester.makeini("[pytest]\nagenttrace_otlp_max_body = 1000000\n")
    pytester.makepyfile(
        dedent(
            f"""
            import urllib.error, urllib.request
            import pytest

            def send(endpoint, body, **headers):
                request = urllib.request.Request(endpoint + "/v1/traces", data=body,
                    headers={{"Content-Type": "application/x-protobuf", **headers}})
                with pytest.raises(urllib.error.HTTPError) as refused:
                    urllib.request.urlopen(request, timeout=10)
                refused.value.close()
                return refused.value.code

            def test_it(agenttrace):
                assert send(agenttrace.otlp_endpoint, b"x" * 1_000_001) == 413
                gzipped = {{"Content-Encoding": "gzip"}}
                assert send(agenttrace.otlp_endpoint, {bomb!r}, **gzipped) == 413
            """
        )
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*refused 2 export(s)*",
            "*(413): body of 1000001 bytes is over the receiver's limit of 1000000 bytes*",
            "*(413): body is over the receiver's limit of 1000000 bytes after decompression "
            "(setting agenttrace_otlp_max_body)",
        ]
    )


def test_spans_with_invalid_ids_are_rejected_as_partial_success(
    agenttrace: AgentTrace, request: pytest.FixtureRequest
) -> None:
    good = _span("kept", 0x1234, 1)
    zero_trace = _span("dropped", 0, 2)
    status, body = _post_json(agenttrace.otlp_endpoint, _document(good, zero_trace))
    assert status == 200
    assert json.loads(body)["partialSuccess"]["rejectedSpans"] == "1"
    assert [span.name for span in agenttrace.spans] == ["kept"]
    assert agenttrace._receiver_findings()  # fails the test at teardown ...
    problems = agenttrace._receiver_problems
    assert "rejected 1 span(s): span 'dropped': invalid trace id" in problems[0].text
    problems.clear()  # ... which this test expects and so takes back


def test_spans_with_undecodable_ids_are_rejected_and_the_others_delivered(
    agenttrace: AgentTrace,
) -> None:
    # ids that are neither hex nor base64: the span is rejected, not the whole export
    bad_trace = _span("bad_trace", 0x5EED, 2) | {"traceId": "zz" * 16}
    bad_span = _span("bad_span", 0x5EED, 3) | {"spanId": "0123456789abcdef0123"}
    bad_parent = _span("bad_parent", 0x5EED, 4) | {"parentSpanId": "not an id"}
    linked = _span("bad_link", 0x5EED, 5)
    linked["links"] = [{"traceId": "a" * 16, "spanId": "00f067aa0ba902b7"}]
    document = _document(_span("kept", 0x5EED, 1), bad_trace, bad_span, bad_parent, linked)
    status, body = _post_json(agenttrace.otlp_endpoint, document)
    assert status == 200
    answer = json.loads(body)["partialSuccess"]
    assert answer["rejectedSpans"] == "4"
    assert [span.name for span in agenttrace.spans] == ["kept"]
    (problem,) = agenttrace._receiver_problems
    assert problem.rejected_spans == 4
    assert problem.text == (
        "OTLP/HTTP export: rejected 4 span(s): "
        "span 'bad_trace': traceId 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz' is neither 32 hex digits "
        "nor base64 of 16 bytes; "
        "span 'bad_span': spanId '0123456789abcdef0123' is neither 16 hex digits "
        "nor base64 of 8 bytes; "
        "span 'bad_parent': parentSpanId 'not an id' is neither 16 hex digits "
        "nor base64 of 8 bytes; "
        "span 'bad_link': link traceId 'aaaaaaaaaaaaaaaa' is neither 32 hex digits "
        "nor base64 of 16 bytes"
    )
    assert answer["errorMessage"] == problem.text.removeprefix(
        "OTLP/HTTP export: rejected 4 span(s): "
    )
    agenttrace._receiver_problems.clear()  # expected here: don't fail this test


def test_base64_ids_as_protobufs_json_mapping_writes_them_are_taken(
    agenttrace: AgentTrace,
) -> None:
    import base64

    span = _span("tempo", 0x7E3B0, 1, parent=7)
    for field, size in (("traceId", 16), ("spanId", 8), ("parentSpanId", 8)):
        span[field] = base64.b64encode(bytes.fromhex(span[field])).decode()
        assert len(base64.b64decode(span[field])) == size
    status, body = _post_json(agenttrace.otlp_endpoint, _document(span))
    assert status == 200 and "partialSuccess" not in json.loads(body)
    (received,) = agenttrace.spans
    assert (received.trace_id, received.span_id, received.parent_span_id) == (0x7E3B0, 1, 7)


def test_rejected_spans_are_a_finding_worded_apart_from_refused_exports(
    pytester: pytest.Pytester,
) -> None:
    # the export was taken, only its bad spans dropped: not "refused", not configuration
    pytester.makepyfile(
        dedent(
            """
            import json, time, urllib.error, urllib.request
            import pytest

            def post(endpoint, body):
                request = urllib.request.Request(endpoint + "/v1/traces", data=body,
                    headers={"Content-Type": "application/json"})
                return urllib.request.urlopen(request, timeout=10).status

            def span(name, trace_id, span_id):
                now = time.time_ns()
                return {"traceId": trace_id, "spanId": span_id, "name": name,
                        "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1)}

            def test_it(agenttrace):
                spans = [span("kept", "ab" * 16, "cd" * 8), span("bad", "zz", "cd" * 8),
                         span("zero", "0" * 32, "cd" * 8)]
                body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]})
                assert post(agenttrace.otlp_endpoint, body.encode()) == 200
                with pytest.raises(urllib.error.HTTPError):
                    post(agenttrace.otlp_endpoint, b"{not json")
                assert [s.name for s in agenttrace.spans] == ["kept"]
            """
        )
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*The OTLP receiver refused 1 export(s) during this test; spans in them were lost:",
            "- OTLP/HTTP request refused (400): not JSON: *",
            "",
            "Fix the sender's exporter configuration (agenttrace.otlp_env() sets it up). "
            "See docs/remote.md#bad-input",
            "",
            "The OTLP receiver rejected 2 span(s) for bad span data in 1 export(s) during this "
            "test; it took their other spans:",
            "- OTLP/HTTP export: rejected 2 span(s): span 'bad': traceId 'zz' is neither 32 hex "
            "digits nor base64 of 16 bytes; span 'zero': invalid trace id "
            "'00000000000000000000000000000000': expected 16 bytes, not all zero",
            "",
            "Fix the span data where the sender makes it: its instrumentation, or its code that "
            "sets span ids, kinds, status codes, names or times. See docs/remote.md#bad-input",
        ],
        consecutive=True,
    )


def test_gzip_protobuf_from_the_sdk_encoder_is_accepted(agenttrace: AgentTrace) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from pytest_agenttrace.remote._codec import encode_protobuf

    provider = TracerProvider()  # not attached: only the receiver delivers its spans
    with provider.get_tracer("t").start_as_current_span("elsewhere") as span:
        pass
    request = urllib.request.Request(
        agenttrace.otlp_endpoint + "/v1/traces",
        data=gzip.compress(encode_protobuf([span])),  # type: ignore[list-item]
        headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    assert [captured.name for captured in agenttrace.spans] == ["elsewhere"]


@pytest.mark.parametrize("then", ["query", "end the test"])
def test_an_answered_export_is_the_tests_even_while_its_spans_are_being_filed(
    agenttrace: AgentTrace, monkeypatch: pytest.MonkeyPatch, then: str
) -> None:
    # The receiver answers before it builds and files the spans (the exporter's
    # next batch is on its way meanwhile): what the test does next waits for them.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExportResult

    from pytest_agenttrace.capture._router import SpanRouter

    receive = SpanRouter.receive

    def slow_receive(self: SpanRouter, spans: Any) -> None:
        time.sleep(0.5)
        receive(self, spans)

    monkeypatch.setattr(SpanRouter, "receive", slow_receive)
    provider = TracerProvider()  # not attached: only the receiver delivers its spans
    with provider.get_tracer("t").start_as_current_span("elsewhere") as span:
        pass
    exporter = OTLPSpanExporter(endpoint=agenttrace.otlp_endpoint + "/v1/traces")
    assert exporter.export([span]) is SpanExportResult.SUCCESS  # type: ignore[list-item]
    # (a POST span too, where an earlier test instrumented the exporter's HTTP client)
    if then == "query":
        assert agenttrace.one("elsewhere").received
    else:
        agenttrace._stop()  # as the fixture's teardown does
        assert "elsewhere" in [captured.name for captured in agenttrace._started]
    exporter.shutdown()


def test_other_signals_are_taken_and_other_paths_refused(agenttrace: AgentTrace) -> None:
    for path in ("/v1/metrics", "/v1/logs"):
        request = urllib.request.Request(
            agenttrace.otlp_endpoint + path,
            data=b"",
            headers={"Content-Type": "application/x-protobuf"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(
            urllib.request.Request(
                agenttrace.otlp_endpoint + "/etc/passwd",
                data=b"",
                headers={"Content-Type": "application/x-protobuf"},
            ),
            timeout=10,
        )
    refused.value.close()
    assert refused.value.code == 404
    assert "unknown path '/etc/passwd'" in agenttrace._receiver_problems.pop().text


def test_bad_receiver_settings_are_usage_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_it(): pass")
    result = pytester.runpytest_subprocess("--agenttrace-otlp-http-port=http")
    result.stderr.fnmatch_lines(
        ["*agenttrace_otlp_http_port = 'http': a port number from 0 to 65535 (0: a free port)"]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result = pytester.runpytest_subprocess("--agenttrace-otlp-start=later")
    result.stderr.fnmatch_lines(
        ["*agenttrace_otlp_start = 'later': valid values are first-use, session"]
    )


def test_a_non_loopback_bind_warns_once_at_configure_time(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_one(agenttrace):  # senders dial loopback, not the wildcard
            assert agenttrace.otlp_endpoint.startswith('http://127.0.0.1:')

        def test_two(agenttrace):
            assert agenttrace.otlp_endpoint
        """
    )
    result = pytester.runpytest_subprocess("--agenttrace-otlp-host=0.0.0.0")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(["*binds 0.0.0.0, not loopback (agenttrace_otlp_host)*"])


HTTP_LISTENER = "OTLP receiver", "agenttrace_otlp_http_port", "otlp_endpoint"
GRPC_LISTENER = "OTLP/gRPC receiver", "agenttrace_otlp_grpc_port", "otlp_grpc_endpoint"


@pytest.mark.parametrize(
    ("flags", "reason", "listener"),
    [
        (["--agenttrace-otlp-host=not a host"], "*", HTTP_LISTENER),
        (["--agenttrace-otlp-http-port=PORT"], "*ddress already in use*", HTTP_LISTENER),
        (["--agenttrace-otlp-grpc-port=PORT"], "Failed to bind*", GRPC_LISTENER),
    ],
    ids=["unknown-host", "port-taken", "grpc-port-taken"],
)
@pytest.mark.parametrize("start", ["first-use", "session"])
def test_a_receiver_that_cannot_listen_is_one_clear_error(
    pytester: pytest.Pytester,
    flags: list[str],
    reason: str,
    listener: tuple[str, str, str],
    start: str,
) -> None:
    import socket

    what, setting, endpoint = listener
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        pytester.makepyfile(
            f"def test_one(agenttrace):\n    agenttrace.{endpoint}\n"
            f"def test_two(agenttrace):\n    agenttrace.{endpoint}\n"
        )
        arguments = [flag.replace("PORT", port) for flag in flags]
        result = pytester.runpytest_subprocess(*arguments, f"--agenttrace-otlp-start={start}")
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output
    expected = f"*the {what} could not listen on * (settings agenttrace_otlp_host, "
    expected += f"{setting}): " + reason
    if start == "session":
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([expected])
    else:
        result.assert_outcomes(failed=2)
        result.stdout.fnmatch_lines([expected])


def _free_ports(count: int) -> int:
    """The first of `count` consecutive ports that are free now."""
    import socket

    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + count > 65535:
            continue
        try:
            for port in range(first, first + count):
                with socket.socket() as taken:
                    taken.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError("no run of free ports")


def test_session_start_listens_on_a_fixed_grpc_port_before_any_test_asks(
    pytester: pytest.Pytester,
) -> None:
    port = _free_ports(2)
    pytester.makepyfile(
        f"""
        import socket

        def test_a_service_dials_the_grpc_port():
            with socket.create_connection(("127.0.0.1", {port + 1}), timeout=5):
                pass
        """
    )
    result = pytester.runpytest_subprocess(
        f"--agenttrace-otlp-http-port={port}",
        f"--agenttrace-otlp-grpc-port={port + 1}",
        "--agenttrace-otlp-start=session",
    )
    result.assert_outcomes(passed=1)


def test_fixed_ports_under_xdist_give_every_worker_ports_of_its_own(
    pytester: pytest.Pytester,
) -> None:
    # adjacent ports, as OTLP's own 4317/4318: worker + 1 would take the other's port
    port = _free_ports(4)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(8))
        def test_ports(agenttrace, n, worker_id):
            print("PORTS", worker_id, agenttrace.otlp_endpoint, agenttrace.otlp_grpc_endpoint)
        """
    )
    result = pytester.runpytest_subprocess(
        "-n",
        "2",
        "-rA",
        f"--agenttrace-otlp-grpc-port={port}",
        f"--agenttrace-otlp-http-port={port + 1}",
    )
    result.assert_outcomes(passed=8)
    seen = {
        line.split()[1]: tuple(line.split()[2:])
        for line in result.stdout.lines
        if line.startswith("PORTS")
    }
    assert seen["gw0"] == (f"http://127.0.0.1:{port + 1}", f"http://127.0.0.1:{port}")
    assert seen["gw1"] == (f"http://127.0.0.1:{port + 3}", f"http://127.0.0.1:{port + 2}")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(gzip.compress(b"{}")[:-8], "cut off", id="no-trailer"),
        pytest.param(b"\x1f\x8b\x08\x00garbage", "cut off", id="header-only"),
        pytest.param(b"", "cut off", id="empty"),
        pytest.param(
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + bytes(range(40)),
            "invalid",
            id="not-deflate",
        ),
        pytest.param(gzip.compress(b"{}") + b"\x00junk", "malformed gzip", id="junk-after"),
    ],
)
def test_a_gzip_body_that_is_not_whole_is_refused(body: bytes, reason: str) -> None:
    from pytest_agenttrace.remote._receiver import _gunzip, _Refused

    with pytest.raises(_Refused) as refused:
        _gunzip(body, limit=1_000)
    assert refused.value.status == 400
    assert reason in refused.value.reason


def test_every_member_of_a_gzip_body_is_inflated_within_the_limit() -> None:
    from pytest_agenttrace.remote._receiver import _gunzip, _Refused

    two_members = gzip.compress(b'{"resourceSpans": ') + gzip.compress(b"[]}")
    assert _gunzip(two_members, limit=1_000) == b'{"resourceSpans": []}'
    with pytest.raises(_Refused) as refused:  # the limit counts both members
        _gunzip(gzip.compress(b"a" * 600) + gzip.compress(b"b" * 600), limit=1_000)
    assert refused.value.status == 413


@pytest.mark.parametrize("check_only", [True, False], ids=["http-checks", "grpc-and-loading"])
def test_a_protobuf_link_id_of_the_wrong_size_rejects_its_span(check_only: bool) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    from pytest_agenttrace.remote._codec import decode_protobuf

    def message(name: str, span_id: int, links: list[Span.Link]) -> Span:
        return Span(
            trace_id=(0x5EED).to_bytes(16, "big"),
            span_id=span_id.to_bytes(8, "big"),
            name=name,
            start_time_unix_nano=1,
            end_time_unix_nano=2,
            links=links,
        )

    zero_link = Span.Link(trace_id=bytes(16), span_id=bytes(8))  # kept by the spec's rules
    spans = [
        message("kept", 1, [zero_link]),
        message("short_trace", 2, [Span.Link(trace_id=b"\x01" * 3, span_id=b"\x01" * 8)]),
        message("long_span", 3, [zero_link, Span.Link(trace_id=b"\x01" * 16, span_id=b"")]),
    ]
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    )
    decoded = decode_protobuf(request.SerializeToString(), check_only=check_only)
    assert [span.name for span in decoded.build()] == ["kept"]
    assert decoded.rejected == 2
    assert decoded.errors == [
        "span 'short_trace': link 1: invalid trace id '010101': expected 16 bytes",
        "span 'long_span': link 2: invalid span id '': expected 8 bytes",
    ]
