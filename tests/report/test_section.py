"""The "Captured agenttrace" report section, and the capture's lifetime around it."""

from __future__ import annotations

from textwrap import dedent

import pytest


def test_a_teardown_check_that_fails_a_passed_test_shows_the_trace(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace

            def test_it(agenttrace):
                tracer = trace.get_tracer("t")
                with tracer.start_as_current_span("orchestrator"):
                    tracer.start_span("hung_agent")  # never ended: fails at teardown
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*- Captured agenttrace teardown -*", "orchestrator", "still open: hung_agent*"]
    )


def test_a_failed_call_shows_the_trace_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace

            def test_it(agenttrace):
                tracer = trace.get_tracer("t")
                with tracer.start_as_current_span("orchestrator"):
                    tracer.start_span("hung_agent")
                assert False
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1, errors=1)
    assert result.stdout.str().count("Captured agenttrace") == 1
    result.stdout.fnmatch_lines(["*- Captured agenttrace call -*"])


def test_no_capture_outlives_its_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            import gc
            import weakref
            from opentelemetry import trace

            captures = []

            def test_first(agenttrace):
                with trace.get_tracer("t").start_as_current_span("big"):
                    pass
                captures.append(weakref.ref(agenttrace))

            def test_second():
                gc.collect()
                assert captures[0]() is None, gc.get_referrers(captures[0]())
            """
        )
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
