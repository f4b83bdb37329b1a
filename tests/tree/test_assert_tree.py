"""assert_tree through pytest: what a user sees when the shape changed."""

from __future__ import annotations

import threading
from textwrap import dedent

import pytest
from opentelemetry import trace

from pytest_agenttrace import AgentTrace

PIPELINE = dedent(
    """
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    tracer = trace.get_tracer(__name__)

    def run_pipeline(document_id):
        with tracer.start_as_current_span(
            "process_document", attributes={"document.id": document_id}
        ):
            with tracer.start_as_current_span("retrieval_agent"):
                tracer.start_span("POST", kind=SpanKind.CLIENT).end()
            tracer.start_span("llm_agent").end()
            tracer.start_span("llm_agent").end()
    """
)


def test_passing_tree(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        PIPELINE
        + dedent(
            '''
            def test_pipeline(agenttrace):
                run_pipeline("42")
                agenttrace.assert_tree("""
                    process_document {document.id: "42"}
                      retrieval_agent
                        POST [client]
                      llm_agent [x2]
                """)
            '''
        )
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_failure_shows_the_actual_tree_with_differences_marked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        PIPELINE
        + dedent(
            '''
            def test_pipeline(agenttrace):
                run_pipeline("41")
                agenttrace.assert_tree("""
                    process_document {document.id: "42"}
                      retrieval_agent
                        POST [client]
                      llm_agent
                      validation_agent
                """)
            '''
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: Trace tree does not match the expectation (3 differences):",
            "E       ",
            'E       process_document {document.id: "41"}   '
            '# ✗ document.id: expected "42", got "41"',
            "E         llm_agent [x2]                       # ✗ count: expected x1, got 2",
            "E         retrieval_agent",
            "E           POST [client]",
            "E         # ✗ missing: validation_agent",
            "E       ",
            "E       Paste the tree above into the test to accept the current shape; "
            "lines marked ✗ differ from the expectation.",
        ],
        consecutive=True,
    )
    # The assertion helpers hide themselves: the traceback ends in the test.
    result.stdout.no_fnmatch_line("*_match.py*")


def test_malformed_expectation_names_line_and_column(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        PIPELINE
        + dedent(
            '''
            def test_pipeline(agenttrace):
                run_pipeline("42")
                agenttrace.assert_tree("""
                    process_document
                      retrieval_agent [clinet]
                """)
            '''
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       pytest_agenttrace.ExpectedTreeError: line 3, column 28: "
            "unknown flag 'clinet'; valid flags: internal, server, client, *",
            "E  *  retrieval_agent ?clinet?",
            "E  *                  ^",
        ],
        consecutive=True,
    )
    result.stdout.no_fnmatch_line("*_expect.py*")


def test_builder_errors_show_the_users_line_not_the_builders(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            from pytest_agenttrace import span

            def test_pipeline(agenttrace):
                agenttrace.assert_tree(span("root", span("child", status="failed")))
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["E       pytest_agenttrace.ExpectedTreeError: span('child'): status=: *failed*"]
    )
    result.stdout.no_fnmatch_line("*_expect.py*")


def test_tree_failure_points_at_a_lost_context(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            '''
            from concurrent.futures import ThreadPoolExecutor
            from opentelemetry import trace

            tracer = trace.get_tracer(__name__)

            def test_pool(agenttrace):
                with tracer.start_as_current_span("orchestrator"), ThreadPoolExecutor(1) as pool:
                    pool.submit(lambda: tracer.start_span("tools").end()).result()
                agenttrace.assert_tree("""
                    orchestrator
                      tools
                """)
            '''
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       tools   # ✗ unexpected span",
            "E       ",
            "E       Paste the tree above*",
            "E       ",
            "E       The capture holds 2 traces; these roots look like hops that lost the "
            "context (see assert_single_trace()):",
            "E       - `tools`: started with no parent in thread * while `orchestrator` was "
            "active in thread 'MainThread' (context not carried into the worker)",
        ],
        consecutive=True,
    )
    result.stdout.no_fnmatch_line("*During handling*")


def test_the_lost_context_hint_stays_short_however_many_fragments(agenttrace: AgentTrace) -> None:
    # 10,000 fragments printed 10,000 bullets under a bounded tree; the hint
    # examines roots only until it has ten hops to show
    tracer = trace.get_tracer(__name__)
    with tracer.start_as_current_span("orchestrator"):
        worker = threading.Thread(
            target=lambda: [tracer.start_span("tool").end() for _ in range(30)]
        )
        worker.start()
        worker.join()
    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_tree("orchestrator")
    hint = str(failure.value).split("The capture holds 31 traces; these roots look like hops")[1]
    bullets = hint.splitlines()[1:]
    assert len(bullets) == 11
    assert all(bullet.startswith("- `tool`: started with no parent") for bullet in bullets[:10])
    assert bullets[10] == (
        "- … 20 more root(s) not examined here: assert_single_trace() explains each"
    )


def test_wrong_arguments_are_refused_at_the_users_call(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        PIPELINE
        + dedent(
            """
            import pytest

            @pytest.mark.parametrize(
                "options",
                [{"output_lines": "10"}, {"output_lines": -1}, {"ordered": "no"}, {"orderd": True}],
            )
            def test_pipeline(agenttrace, options):
                run_pipeline("42")
                agenttrace.assert_tree("process_document\\n  ...", **options)
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        [
            ">       agenttrace.assert_tree(*, **options)",
            "E       TypeError: agenttrace.assert_tree(): output_lines= must be a whole number "
            "of lines (an int; 0: no bound), got '10'",
            ">       agenttrace.assert_tree(*, **options)",
            "E       ValueError: agenttrace.assert_tree(): output_lines=-1 is negative; give the "
            "most lines a failure prints, or 0 for no bound",
            ">       agenttrace.assert_tree(*, **options)",
            "E       TypeError: agenttrace.assert_tree(): ordered= must be True or False, got 'no'",
            ">       agenttrace.assert_tree(*, **options)",
            "E       TypeError: AgentTrace.assert_tree() got an unexpected keyword "
            "argument 'orderd'",
        ]
    )
    # the error comes from the call: no frame of the plugin is shown
    result.stdout.no_fnmatch_line("*pytest_agenttrace*.py:*")
    result.stdout.no_fnmatch_line("*check_tree_arguments*")
