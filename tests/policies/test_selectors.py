"""One selector language: a line of the tree syntax picks spans for policies and queries."""

from __future__ import annotations

import time
from textwrap import dedent

import pytest
from opentelemetry.trace import SpanKind

from pytest_agenttrace import AgentTrace

TWO_POSTS = """
    import time
    import pytest
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    tracer = trace.get_tracer("app")

    def call(address, seconds):
        attributes = {"server.address": address, "http.request.method": "POST"}
        with tracer.start_as_current_span("POST", kind=SpanKind.CLIENT, attributes=attributes):
            time.sleep(seconds)

    {marker}
    def test_pipeline(agenttrace):
        with tracer.start_as_current_span("orchestrator"):
            call("llm-service", 0.05)
            call("embedding-api", 0.05)
"""

BUDGETS = (
    "@pytest.mark.agenttrace(timeout_budgets={"
    "'POST {server.address: \"llm-service\"}': 6, "
    "'POST [client] {server.address: starts \"embed\"}': 0.01})"
)


def test_two_spans_of_one_name_get_their_own_budgets(pytester: pytest.Pytester) -> None:
    """The LLM service's POST may take 6 s, the embedding API's 10 ms: both are `POST`."""
    pytester.makepyfile(dedent(TWO_POSTS).replace("{marker}", BUDGETS))
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*timeout budget problem(s)*", "*POST*embedding-api*"])
    result.stdout.no_fnmatch_line("*llm-service*over*")


def test_require_attributes_and_max_retries_take_selectors(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        dedent(
            """
            [pytest]
            agenttrace_require_attributes =
                POST [client]: http.response.status_code
            agenttrace_max_retries = {"POST {server.address: \\"llm-service\\"}": 0}
            """
        )
    )
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace
            from opentelemetry.trace import SpanKind

            tracer = trace.get_tracer("app")

            def test_pipeline(agenttrace):
                with tracer.start_as_current_span("orchestrator"):
                    for _ in range(2):  # a retry of the LLM call only
                        llm = {"server.address": "llm-service"}
                        tracer.start_span("POST", attributes=llm).end()
                    with tracer.start_as_current_span("embed_step"):
                        attributes = {"server.address": "embed"}
                        tracer.start_span("POST", kind=SpanKind.CLIENT, attributes=attributes).end()
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    # the CLIENT POST lacks the status code; the two internal ones are not selected
    result.stdout.fnmatch_lines(["*1 span(s) lack attributes required by require_attributes*"])
    result.stdout.fnmatch_lines(
        [
            "*1 operation(s) retried more than allowed*",
            "- POST under orchestrator: 1 retry (2 attempt(s), last: ok); allowed 0",
        ]
    )


def test_queries_and_wait_for_take_selectors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(TWO_POSTS).replace("{marker}", "")
        + dedent(
            """
            def test_queries(agenttrace):
                test_pipeline(agenttrace)
                embed = agenttrace.one('POST [client] {server.address: contains "embed"}')
                assert embed.attributes["server.address"] == "embedding-api"
                assert len(agenttrace.find("POST [client]")) == 2
                assert agenttrace.find("POST [server]") == []
                agenttrace.wait_for(name='POST {server.address: "llm-service"}', timeout=1)
                assert agenttrace.find("POS[T]") != []  # a plain glob: still a character class
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("where", "args"),
    [
        ("marker", []),
        ("ini", []),
    ],
)
def test_a_selector_that_does_not_parse_is_a_usage_error(
    pytester: pytest.Pytester, where: str, args: list[str]
) -> None:
    bad = "POST [servce=llm]"
    if where == "ini":
        pytester.makeini(f'[pytest]\nagenttrace_timeout_budgets = {{"{bad}": 2}}\n')
        marker = ""
    else:
        marker = f"@pytest.mark.agenttrace(timeout_budgets={{{bad!r}: 2}})"
    pytester.makepyfile(dedent(TWO_POSTS).replace("{marker}", marker))
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *unknown flag 'servce=llm'*"])
    assert "Traceback" not in result.stderr.str()


def test_a_selector_rule_tells_apart_spans_of_one_name(agenttrace: AgentTrace) -> None:
    """Rules are matched once per span name only when all of them are name globs."""
    for kind in (SpanKind.SERVER, SpanKind.CLIENT):
        with agenttrace.tracer.start_as_current_span("POST", kind=kind):
            time.sleep(0.002)
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_timeout_budgets({"POST [client]": 1e-6})
    assert str(error.value).startswith("1 timeout budget problem(s)")
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_timeout_budgets({"POST": 1e-6})
    assert str(error.value).startswith("2 timeout budget problem(s)")
