"""Policies: head sampling keeps a trace whole or drops it whole."""

from __future__ import annotations

from textwrap import dedent

import pytest

AGENTS = dedent(
    """
    import pytest
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import (
        ALWAYS_OFF, ALWAYS_ON, ParentBased, TraceIdRatioBased,
    )

    def build(agenttrace, orchestrator_sampler, risk_sampler):
        '''Two agents, each with its own TracerProvider and sampler, as in production.'''
        tracers = []
        for name, sampler in [("orchestrator", orchestrator_sampler), ("risk_agent", risk_sampler)]:
            provider = TracerProvider(sampler=sampler, shutdown_on_exit=False)
            agenttrace.attach(provider)
            tracers.append(provider.get_tracer(name))
        orchestrator, risk = tracers

        def workflow():
            with orchestrator.start_as_current_span("fraud_check"):
                with risk.start_as_current_span("risk_scoring_agent"):
                    pass
                with orchestrator.start_as_current_span("decide"):
                    pass
        return workflow
    """
)


def test_parent_based_samplers_keep_traces_whole(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        AGENTS
        + dedent(
            """
            def test_it(agenttrace):
                workflow = build(
                    agenttrace,
                    ParentBased(TraceIdRatioBased(0.1)),
                    ParentBased(TraceIdRatioBased(0.5)),
                )
                whole = agenttrace.assert_sampled_whole(workflow, runs=300)
                assert 5 < whole < 80   # about 10 % of 300
            """
        )
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_child_kept_while_parent_dropped_names_the_agent(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        AGENTS
        + dedent(
            """
            def test_it(agenttrace):
                # The risk agent's sampler ignores its parent's decision.
                workflow = build(agenttrace, ParentBased(TraceIdRatioBased(0.1)), ALWAYS_ON)
                agenttrace.assert_sampled_whole(workflow, runs=100)
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: * of 100 run(s) produced partially sampled traces "
            "(* kept whole, * dropped whole):",
            "E       - risk_scoring_agent (tracer 'risk_agent'): kept while its parent was "
            "dropped in * run(s)",
            "E       ",
            "E       Head sampling decides once, at the root: give every agent's TracerProvider "
            "a parent-based sampler, e.g. ParentBased(TraceIdRatioBased(0.1)), so each child "
            "follows its parent's decision (including a parent in another process). "
            "See docs/sampling.md",
        ],
        consecutive=True,
    )


def test_child_dropped_while_trace_kept_is_found_by_comparing_runs(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        AGENTS
        + dedent(
            """
            def test_it(agenttrace):
                # Not parent-based: the risk agent keeps only 1 in 10 of the kept traces.
                workflow = build(
                    agenttrace, ParentBased(TraceIdRatioBased(0.5)), TraceIdRatioBased(0.1)
                )
                agenttrace.assert_sampled_whole(workflow, runs=200)
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       - risk_scoring_agent (tracer 'risk_agent'): missing from a kept trace "
            "(dropped, or never ran) in * run(s)",
        ]
    )


def test_same_shape_false_skips_the_comparison(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        AGENTS
        + dedent(
            """
            def test_it(agenttrace):
                workflow = build(
                    agenttrace, ParentBased(TraceIdRatioBased(0.5)), TraceIdRatioBased(0.1)
                )
                agenttrace.assert_sampled_whole(workflow, runs=200, same_shape=False)
            """
        )
    )
    pytester.runpytest().assert_outcomes(passed=1)


PARTIAL_ONCE = (
    AGENTS + "\ndef run_once(agenttrace):\n" + "    build(agenttrace, ALWAYS_OFF, ALWAYS_ON)()\n"
)
PARTIAL_FAILURE = [
    "1 span(s) were sampled differently from their parent (partial_sampling = fail):",
    "- risk_scoring_agent (tracer 'risk_agent'): kept while its parent was dropped",
    "",
    "Head sampling decides once, at the root*",
]


def test_partial_sampling_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        PARTIAL_ONCE
        + dedent(
            """
            @pytest.mark.agenttrace(partial_sampling="fail")
            def test_it(agenttrace):
                run_once(agenttrace)

            def test_default_ignores(agenttrace):
                run_once(agenttrace)
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(PARTIAL_FAILURE, consecutive=True)


def test_partial_sampling_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_partial_sampling = fail\n")
    pytester.makepyfile(PARTIAL_ONCE + "\ndef test_it(agenttrace):\n    run_once(agenttrace)\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(PARTIAL_FAILURE, consecutive=True)


def test_partial_sampling_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PARTIAL_ONCE + "\ndef test_it(agenttrace):\n    run_once(agenttrace)\n")
    result = pytester.runpytest("--agenttrace-partial-sampling=fail")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(PARTIAL_FAILURE, consecutive=True)
