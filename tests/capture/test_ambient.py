"""Capture beside CI plugins that trace the test run itself (pytest-opentelemetry).

pytest-opentelemetry sets the global TracerProvider as a session starts, so these
runs are subprocesses: the suite's own process keeps the provider set-ups the
other tests are about (see tests/conftest.py).
"""

from __future__ import annotations

from textwrap import dedent

import pytest
from opentelemetry.sdk.trace import TracerProvider

from pytest_agenttrace import AgentTrace
from pytest_agenttrace.capture import _router

pytest.importorskip("pytest_opentelemetry", reason="the test extra installs pytest-opentelemetry")

WITH_CI_TRACING = ("-p", "pytest_opentelemetry", "-p", "no:cacheprovider")

HEALTHY = """
    from opentelemetry import trace

    tracer = trace.get_tracer("app")

    def test_pipeline(agenttrace):
        with tracer.start_as_current_span("orchestrator"):
            with tracer.start_as_current_span("retrieval_agent"):
                pass
        agenttrace.assert_tree('''
            orchestrator
              retrieval_agent
        ''')
        agenttrace.assert_single_trace()
        assert agenttrace.orphans == []
        assert [span.name for span in agenttrace.roots] == ["orchestrator"]
"""


@pytest.mark.parametrize("xdist", [(), ("-n", "1")], ids=["in-process", "xdist"])
def test_its_spans_are_neither_unfinished_nor_orphan_making(
    pytester: pytest.Pytester, xdist: tuple[str, ...]
) -> None:
    pytester.makepyfile(dedent(HEALTHY))
    result = pytester.runpytest_subprocess(*WITH_CI_TRACING, "--agenttrace-strict", *xdist)
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*never ended*")


def test_they_stay_out_of_the_report_section(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace

            def test_fails(agenttrace):
                with trace.get_tracer("app").start_as_current_span("orchestrator"):
                    pass
                assert False
            """
        )
    )
    result = pytester.runpytest_subprocess(*WITH_CI_TRACING)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Captured agenttrace call -*",
            "orchestrator",
            "trace * (1 span)",  # one trace: the test's, not pytest-opentelemetry's
            "*short test summary*",
        ],
        consecutive=True,
    )
    result.stdout.no_fnmatch_line("*::call*")


def test_the_tests_own_unfinished_spans_and_orphans_are_still_found(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace
            from opentelemetry.trace import (
                NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context,
            )

            tracer = trace.get_tracer("app")

            def test_hung_agent(agenttrace):
                tracer.start_span("hung tool call")

            def test_orphan(agenttrace):
                stale = NonRecordingSpan(SpanContext(0xABC, 0xDEF, False, TraceFlags(1)))
                tracer.start_span("agent_b_work", context=set_span_in_context(stale)).end()
                agenttrace.assert_single_trace()
            """
        )
    )
    result = pytester.runpytest_subprocess(*WITH_CI_TRACING)
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "1 span(s) were started but never ended during the test:",
            "- hung tool call: open for *",
        ],
        consecutive=True,
    )
    result.stdout.fnmatch_lines(["E       - `agent_b_work` has parent 0000000000000def*"])


def test_ambient_spans_kept_are_bounded(
    agenttrace: AgentTrace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as the plugin sets it when pytest-opentelemetry is loaded (off in this suite)
    router = _router.INSTALLATION.router
    monkeypatch.setattr(router, "ambient_tracers", _router.AMBIENT_TRACERS)
    provider = TracerProvider()
    agenttrace.attach(provider)
    ci_tracer = provider.get_tracer("pytest-opentelemetry")
    # pytest-opentelemetry leaves one "fixture teardown" span open per test
    for _ in range(3 * _router._AMBIENT_RECENT_LIMIT):
        ci_tracer.start_span("fixture teardown")
    with ci_tracer.start_as_current_span("test.py::test::call"):
        provider.get_tracer("app").start_span("agent").end()
    assert len(router.ambient_recent) == _router._AMBIENT_RECENT_LIMIT
    assert agenttrace.unfinished == []
    assert [span.name for span in agenttrace.spans] == ["agent"]
    assert agenttrace.orphans == []
