"""The plugin under pytest-xdist: each worker captures its own tests' spans."""

from __future__ import annotations

from textwrap import dedent

import pytest


def test_captures_are_per_test_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            import pytest
            from opentelemetry import trace

            tracer = trace.get_tracer(__name__)

            @pytest.mark.parametrize("n", range(8))
            def test_agents(agenttrace, n):
                with tracer.start_as_current_span(f"workflow {n}"):
                    for i in range(n):
                        tracer.start_span(f"agent {i}").end()
                assert [s.name for s in agenttrace.roots] == [f"workflow {n}"]
                assert len(agenttrace.spans) == n + 1

            def test_fails(agenttrace):
                tracer.start_span("evidence").end()
                assert False
            """
        )
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=8, failed=1)
    result.stdout.fnmatch_lines(["*- Captured agenttrace call -*", "evidence"], consecutive=True)


def test_bad_marker_under_xdist_is_a_clean_test_error(pytester: pytest.Pytester) -> None:
    # Without xdist a bad marker is a usage error; in a worker that would be an
    # INTERNALERROR, so the marked test fails with the same message instead.
    pytester.makepyfile(
        dedent(
            """
            import pytest

            @pytest.mark.agenttrace(reprot="never")
            def test_marked():
                pass

            def test_other():
                pass
            """
        )
    )
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*unknown @pytest.mark.agenttrace argument 'reprot'*"])
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    result.stdout.no_fnmatch_line("*During handling*")
