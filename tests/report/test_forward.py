"""`--agenttrace-forward=URL`: each test's spans to a live OTLP endpoint, through the real
OTLP/HTTP and OTLP/gRPC exporters.

The live endpoint is this plugin's own receiver, in this (outer) test's process;
the suite that forwards runs in a second pytest process. What it sends joins the
outer test's capture, where the spans are asserted like any received ones.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from textwrap import dedent

import pytest

from pytest_agenttrace import AgentTrace
from pytest_agenttrace.report._forward import TIMEOUT

INNER_SUITE = """
    from opentelemetry import trace

    tracer = trace.get_tracer("pipeline")

    def test_passes(agenttrace):
        with tracer.start_as_current_span("orchestrator passes"):
            tracer.start_span("agent").end()

    def test_fails(agenttrace):
        tracer.start_span("orchestrator fails").end()
        assert False

    def test_errors_at_teardown(agenttrace):
        tracer.start_span("orchestrator hangs")  # never ended: an error at teardown
"""


def endpoint_of(agenttrace: AgentTrace, protocol: str) -> str:
    if protocol == "grpc":
        return agenttrace.otlp_grpc_endpoint.replace("http://", "grpc://")
    return agenttrace.otlp_endpoint  # a base URL: /v1/traces is appended


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_each_test_is_forwarded_named_by_node_id_and_outcome(
    pytester: pytest.Pytester, agenttrace: AgentTrace, protocol: str
) -> None:
    pytester.makepyfile(test_inner=dedent(INNER_SUITE))
    result = pytester.runpytest_subprocess(
        f"--agenttrace-forward={endpoint_of(agenttrace, protocol)}", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2, failed=1, errors=1)
    agenttrace.assert_tree(
        """
        orchestrator passes [service=pytest]
          agent
        orchestrator fails
        orchestrator hangs
        """
    )
    named = {
        span.name: (span.resource["test.case.name"], span.resource["agenttrace.test.outcome"])
        for span in agenttrace.spans
    }
    assert named == {
        "orchestrator passes": ("test_inner.py::test_passes", "passed"),
        "agent": ("test_inner.py::test_passes", "passed"),
        "orchestrator fails": ("test_inner.py::test_fails", "failed"),
        "orchestrator hangs": ("test_inner.py::test_errors_at_teardown", "error"),
    }
    statuses = {span.resource["test.case.result.status"] for span in agenttrace.spans}
    assert statuses == {"pass", "fail"}
    hung = agenttrace.one("orchestrator hangs")
    assert hung.attributes["agenttrace.unfinished"] is True


def test_the_ini_key_takes_the_traces_url(
    pytester: pytest.Pytester, agenttrace: AgentTrace
) -> None:
    pytester.makeini(f"[pytest]\nagenttrace_forward = {agenttrace.otlp_endpoint}/v1/traces\n")
    pytester.makepyfile(test_inner=dedent(INNER_SUITE))
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "passes").assert_outcomes(
        passed=1, deselected=2
    )
    assert [span.name for span in agenttrace.spans] == ["orchestrator passes", "agent"]


def test_received_spans_are_forwarded_too(
    pytester: pytest.Pytester, agenttrace: AgentTrace
) -> None:
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor

            def test_it(agenttrace):
                # a service that exports to the inner run's own receiver
                remote = TracerProvider(resource=Resource.create({"service.name": "validator"}))
                remote.add_span_processor(
                    SimpleSpanProcessor(OTLPSpanExporter(agenttrace.otlp_endpoint + "/v1/traces"))
                )
                remote.get_tracer("validator").start_span("validate").end()
                remote.shutdown()
                assert agenttrace.one("validate").received
            """
        )
    )
    forward = f"--agenttrace-forward={agenttrace.otlp_endpoint}"
    pytester.runpytest_subprocess(forward, "-p", "no:cacheprovider").assert_outcomes(passed=1)
    (span,) = agenttrace.spans
    assert (span.name, span.service) == ("validate", "validator")
    assert span.resource["test.case.name"] == "test_received_spans_are_forwarded_too.py::test_it"


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        return int(free.getsockname()[1])


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A port that accepts connections and never answers (a hung backend)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


# Enough tests that forwarding which failed to stop (each test waiting out its own
# export) costs far more than a busy machine can add to one timeout: the time
# bounds below sit between the two
TESTS = 20
MANY_TESTS = f"""
    import pytest
    from opentelemetry import trace

    @pytest.mark.parametrize("n", range({TESTS}))
    def test_it(agenttrace, n):
        trace.get_tracer("t").start_span(f"work {{n}}").end()
"""
# one timeout and a session's start-up on a busy machine (10 s seen in CI) stay below
# it; a test that waits out its own export each would take TESTS x TIMEOUT
SESSION_BOUND = TESTS * TIMEOUT / 2


def session_seconds(result: pytest.RunResult) -> float:
    match = re.search(r" in (\d+\.\d+)s", result.stdout.lines[-1])
    assert match, result.stdout.lines[-1]
    return float(match.group(1))


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_an_unreachable_endpoint_warns_once_and_fails_nothing(
    pytester: pytest.Pytester, closed_port: int, protocol: str, xdist: bool
) -> None:
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(dedent(MANY_TESTS))
    url = f"{protocol}://127.0.0.1:{closed_port}"
    args = ["-n", "2"] if xdist else []
    result = pytester.runpytest_subprocess(
        f"--agenttrace-forward={url}", "-p", "no:cacheprovider", *args
    )
    result.assert_outcomes(passed=TESTS, warnings=2 if xdist else 1)  # once per process...
    result.stdout.fnmatch_lines(
        [
            "*AgentTraceWarning: --agenttrace-forward: OTLP/* export to *127.0.0.1:*"
            f"{closed_port}* failed (*); forwarding is off for the rest of this session"
        ]
    )
    # ... and one entry in the summary: the workers' warnings read the same
    assert result.stdout.str().count("forwarding is off") == 1
    if not xdist:  # starting workers takes seconds of its own on a busy machine
        assert session_seconds(result) < SESSION_BOUND


def test_a_hung_endpoint_costs_one_timeout_not_one_per_test(
    pytester: pytest.Pytester, silent_endpoint: str
) -> None:
    pytester.makepyfile(dedent(MANY_TESTS))
    result = pytester.runpytest_subprocess(
        f"--agenttrace-forward={silent_endpoint}", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=TESTS, warnings=1)
    assert session_seconds(result) < SESSION_BOUND
    result.stdout.fnmatch_lines(["*forwarding is off for the rest of this session*"])


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "ftp://collector:21",
            "'ftp://collector:21' is not an OTLP endpoint; use http://host:4318*",
        ),
        ("localhost:4318", "'localhost:4318' is not an OTLP endpoint; use http://host:4318*"),
        ("http://collector:99999", "'http://collector:99999' is not a URL (Port out of range*"),
        ("grpc://collector:4317/v1/traces", "*a gRPC endpoint is host:port only, without a path*"),
    ],
)
def test_a_url_that_is_no_otlp_endpoint_is_a_usage_error(
    pytester: pytest.Pytester, url: str, problem: str
) -> None:
    pytester.makepyfile("def test_it(agenttrace): pass")
    result = pytester.runpytest(f"--agenttrace-forward={url}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --agenttrace-forward: {problem}"])


def test_the_ini_source_is_named_in_the_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_forward = jaeger:4318\n")
    pytester.makepyfile("def test_it(agenttrace): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: ini option agenttrace_forward: 'jaeger:4318' is not*"])


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("http://localhost:4318", "opentelemetry.exporter.otlp.proto.http", "forward"),
        ("grpc://localhost:4317", "opentelemetry.exporter.otlp.proto.grpc", "grpc"),
    ],
)
def test_a_missing_exporter_package_is_a_usage_error_naming_the_extra(
    pytester: pytest.Pytester, url: str, module: str, extra: str
) -> None:
    # as if the package were not installed: the import system finds no such module
    pytester.makeconftest(f"import sys\nsys.modules[{module!r}] = None\n")
    pytester.makepyfile("def test_it(agenttrace): pass")
    result = pytester.runpytest_subprocess(f"--agenttrace-forward={url}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    package = module.replace(".", "-")  # opentelemetry-exporter-otlp-proto-http
    result.stderr.fnmatch_lines(
        [
            f"ERROR: --agenttrace-forward: forwarding over OTLP/* needs {package}: "
            f"pip install 'pytest-agenttrace-otel[[]{extra}[]]'"
        ]
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pw@127.0.0.1:1/v1/traces?x=1", "http://user:***@127.0.0.1:1/v1/traces?x=1"),
        ("https://collector.example/v1/traces", "https://collector.example/v1/traces"),
        ("grpc://token:secret@otel:4317", "grpc://token:***@otel:4317"),
    ],
)
def test_a_password_in_the_url_never_reaches_the_warning(url: str, shown: str) -> None:
    from pytest_agenttrace.report._forward import redacted

    assert redacted(url) == shown
