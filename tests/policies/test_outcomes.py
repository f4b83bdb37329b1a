"""Policies: retries and errors, by method, marker, ini and command line."""

from __future__ import annotations

from textwrap import dedent

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from pytest_agenttrace import AgentTrace

RETRYING = dedent(
    """
    import pytest
    from opentelemetry import trace

    tracer = trace.get_tracer("embedder")

    def embed_with_retries(failures=5, attempts=6):
        # The incident: the embedding agent retried 5 times silently before failing.
        with tracer.start_as_current_span("embedding_agent"):
            for attempt in range(attempts):
                try:
                    with tracer.start_as_current_span("embed_text"):
                        if attempt < failures:
                            raise TimeoutError("read timed out after 0.5 s")
                        return
                except TimeoutError:
                    continue
    """
)

RETRY_LINE = (
    "- embed_text under embedding_agent: 5 retries (6 attempt(s), 5 failed, last: ok); allowed 2"
)
RETRY_FIX = (
    "Silent retries hide a failing dependency and multiply latency: check the timeout that "
    "triggers them and cap the attempts. See docs/failures.md#retries"
)


def test_assert_retries_is_one_line_for_the_retry_chain(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        RETRYING
        + dedent(
            """
            def test_retry_chain(agenttrace):
                embed_with_retries()
                agenttrace.assert_retries("embed*", at_most=2)
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: 1 operation(s) retried more than allowed (matching 'embed*'):",
            "E       " + RETRY_LINE,
            "E       ",
            "E       " + RETRY_FIX,
        ],
        consecutive=True,
    )


def test_assert_retries_passes_and_returns_counts(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        RETRYING
        + dedent(
            """
            def test_ok(agenttrace):
                embed_with_retries(failures=1)
                counts = agenttrace.assert_retries("embed*", at_most=1)
                assert counts == {"embedding_agent": 0, "embed_text": 1}
                agenttrace.assert_retries("embed_text", exactly=1)

            def test_exactly_fails(agenttrace):
                embed_with_retries(failures=1)
                agenttrace.assert_retries("embed_text", exactly=0)

            def test_no_such_span(agenttrace):
                embed_with_retries(failures=0)
                agenttrace.assert_retries("rerank*", at_most=1)
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: 1 operation(s) retried a different number of times "
            "than expected (matching 'embed_text'):",
            "E       - embed_text under embedding_agent: 1 retry (2 attempt(s), 1 failed, "
            "last: ok); expected 0",
        ],
        consecutive=True,
    )
    result.stdout.fnmatch_lines(["E       AssertionError: No finished span matches 'rerank*'*"])


def test_resend_count_attribute_counts_retries_without_siblings(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace

            def test_it(agenttrace):
                tracer = trace.get_tracer("http")
                with tracer.start_as_current_span("retrieval_agent"):
                    # One HTTP span whose client numbered the resend, as semconv says.
                    with tracer.start_as_current_span(
                        "POST", attributes={"http.request.resend_count": 3}
                    ):
                        pass
                agenttrace.assert_retries("POST", at_most=2)
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["E       - POST under retrieval_agent: 3 retries (1 attempt(s), last: ok); allowed 2"]
    )


def test_sibling_repeats_under_different_parents_are_separate_operations(
    agenttrace: object,
) -> None:

    tracer = trace.get_tracer("t")
    for agent in ("a", "b"):
        with tracer.start_as_current_span(agent):
            for _ in range(2):
                with tracer.start_as_current_span("call"):
                    pass
    assert agenttrace.assert_retries("call", at_most=1) == {"call": 1}  # type: ignore[attr-defined]


def test_max_retries_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        RETRYING
        + dedent(
            """
            @pytest.mark.agenttrace(max_retries={"embed*": 2})
            def test_it(agenttrace):
                embed_with_retries()

            @pytest.mark.agenttrace(max_retries={"other*": 0})
            def test_other_pattern(agenttrace):
                embed_with_retries()
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "1 operation(s) retried more than allowed (max_retries):",
            RETRY_LINE,
            "",
            RETRY_FIX,
        ],
        consecutive=True,
    )


def test_max_retries_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_max_retries = embed*: 2\n")
    pytester.makepyfile(RETRYING + "\ndef test_it(agenttrace):\n    embed_with_retries()\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*(max_retries):", RETRY_LINE], consecutive=True)


def test_max_retries_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(RETRYING + "\ndef test_it(agenttrace):\n    embed_with_retries()\n")
    result = pytester.runpytest("--agenttrace-max-retries=2")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*(max_retries):", RETRY_LINE], consecutive=True)


def test_max_retries_bad_ini_value(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_max_retries = embed*: many\n")
    pytester.makepyfile("def test_it(agenttrace):\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*ini option agenttrace_max_retries: 'embed*': 'many' is not a whole number*"]
    )


# -- errors ------------------------------------------------------------------------------
FAILING_AGENT = dedent(
    """
    import pytest
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    tracer = trace.get_tracer("agents")

    class RateLimited(Exception):
        pass

    def run_failing():
        with tracer.start_as_current_span("orchestrator"):
            try:
                with tracer.start_as_current_span("llm_agent"):
                    raise RateLimited("429 from provider")
            except RateLimited:
                pass
            with tracer.start_as_current_span("validation_agent") as span:
                span.set_status(Status(StatusCode.ERROR, "score below threshold"))
    """
)

ERRORS_FAILURE = [
    "2 span(s) recorded errors (span_errors = fail):",
    "- llm_agent under orchestrator: *RateLimited: 429 from provider",
    "- validation_agent under orchestrator: score below threshold",
    "",
    "Fix the failure, or state that it is expected with "
    "agenttrace.assert_error(name, exception_type=...). See docs/failures.md#errors",
]


def test_assert_no_errors_lists_each_exception(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        FAILING_AGENT
        + dedent(
            """
            def test_it(agenttrace):
                run_failing()
                agenttrace.assert_no_errors("orchestrator")
                agenttrace.assert_no_errors()
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["E       AssertionError: 2 span(s) recorded errors:"]
        + ["E       " + line for line in ERRORS_FAILURE[1:3]],
        consecutive=True,
    )


def test_assert_error_by_type_and_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        FAILING_AGENT
        + dedent(
            """
            def test_ok(agenttrace):
                run_failing()
                [span] = agenttrace.assert_error("llm_agent", RateLimited, message="429")
                assert span.name == "llm_agent"
                agenttrace.assert_error("llm_agent", "RateLimited")
                agenttrace.assert_error("validation_agent", message="below threshold")

            def test_wrong_type(agenttrace):
                run_failing()
                agenttrace.assert_error("*_agent", TimeoutError)

            def test_no_error(agenttrace):
                run_failing()
                agenttrace.assert_error("orchestrator")
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: Expected an error of type TimeoutError on a span "
            "matching '*_agent'; the errors recorded were:",
            "E       - llm_agent under orchestrator: *RateLimited: 429 from provider",
            "E       - validation_agent under orchestrator: score below threshold",
        ],
        consecutive=True,
    )
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: Expected an error on a span matching 'orchestrator'; "
            "none of them recorded an error:",
            "E       - orchestrator: status unset, no exception event",
        ],
        consecutive=True,
    )


def test_span_errors_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        FAILING_AGENT
        + dedent(
            """
            @pytest.mark.agenttrace(span_errors="fail")
            def test_it(agenttrace):
                run_failing()
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(ERRORS_FAILURE, consecutive=True)


def test_span_errors_ini_and_marker_override(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_span_errors = fail\n")
    pytester.makepyfile(
        FAILING_AGENT
        + dedent(
            """
            def test_fails(agenttrace):
                run_failing()

            @pytest.mark.agenttrace(span_errors="allow")
            def test_allowed(agenttrace):
                run_failing()
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(ERRORS_FAILURE, consecutive=True)


def test_span_errors_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FAILING_AGENT + "\ndef test_it(agenttrace):\n    run_failing()\n")
    result = pytester.runpytest("--agenttrace-span-errors=fail")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(ERRORS_FAILURE, consecutive=True)


def test_span_errors_invalid_value_names_valid_ones(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_it(agenttrace):\n    pass\n")
    result = pytester.runpytest("--agenttrace-span-errors=sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--agenttrace-span-errors: 'sometimes' is not one of: allow, fail*"]
    )


def test_max_retries_the_last_matching_rule_wins(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            import pytest
            from opentelemetry import trace

            def run_search(attempts):
                tracer = trace.get_tracer("t")
                with tracer.start_as_current_span("tool_agent"):
                    for _ in range(attempts):
                        tracer.start_span("execute_tool search").end()

            @pytest.mark.agenttrace(max_retries={"execute_tool *": 10, "execute_tool search": 1})
            def test_specific_rule_after_the_general_one_applies(agenttrace):
                run_search(3)

            @pytest.mark.agenttrace(max_retries={"execute_tool search": 1, "execute_tool *": 10})
            def test_general_rule_after_the_specific_one_overrides_it(agenttrace):
                run_search(3)
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_specific_rule_after_the_general_one_applies*"]
    )


tracer = trace.get_tracer(__name__)


# -- retries ---------------------------------------------------------------------------------
def test_numbered_resends_split_different_calls_of_one_method(agenttrace: AgentTrace) -> None:
    # HTTP client spans are all named after the method; semconv numbers the resends.
    with tracer.start_as_current_span("retrieval_agent"):
        for resend in (None, 1, None, 1):  # POST /embed (+1 resend), POST /rerank (+1)
            attributes = {} if resend is None else {"http.request.resend_count": resend}
            with tracer.start_as_current_span("POST", kind=SpanKind.CLIENT, attributes=attributes):
                pass
    agenttrace.assert_retries("POST", at_most=1)
    with pytest.raises(AssertionError, match="1 retry"):
        agenttrace.assert_retries("POST", at_most=0)


def test_unnumbered_siblings_still_count_as_retries(agenttrace: AgentTrace) -> None:
    with tracer.start_as_current_span("embedding_agent"):
        for _ in range(6):
            with tracer.start_as_current_span("embed_text"):
                pass
    with pytest.raises(AssertionError, match="5 retries"):
        agenttrace.assert_retries("embed_text", at_most=2)
