"""Capture from an app that sets up tracing with Logfire (pydantic-ai users' usual way).

`logfire.configure()` sets the process's global TracerProvider, so each run is a
subprocess. Offline: send_to_logfire=False, nothing leaves the machine.
"""

from __future__ import annotations

from textwrap import dedent

import pytest

pytest.importorskip("logfire", reason="the test extra installs logfire")

CONFIGURED_AT_IMPORT = """
    import logfire
    from opentelemetry import trace

    logfire.configure(send_to_logfire=False, console=False)

    def test_pipeline(agenttrace):
        with logfire.span("process_document {document_id}", document_id="42"):
            with logfire.span("retrieval_agent"):
                logfire.info("found {chunks} chunks", chunks=3)
            with trace.get_tracer("app").start_as_current_span("llm_agent"):
                pass
        agenttrace.assert_tree('''
            "process_document {document_id}" {document_id: "42"}
              retrieval_agent
                "found {chunks} chunks" {logfire.msg: "found 3 chunks"}
              llm_agent
        ''')
        agenttrace.assert_single_trace()

    def test_a_later_test_after_reconfiguring(agenttrace):
        with logfire.span("after reconfigure"):
            pass
        agenttrace.assert_tree("after reconfigure")
"""

RECONFIGURED = """
    import logfire

    def setup_module():
        # configure() again swaps the SDK provider behind Logfire's proxy
        logfire.configure(send_to_logfire=False, console=False, service_name="agents")
"""


def test_an_app_configured_with_logfire_is_captured(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(dedent(CONFIGURED_AT_IMPORT))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*can only capture from*")


def test_a_reconfigured_logfire_is_captured_from_the_next_test_on(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_a=dedent(CONFIGURED_AT_IMPORT),
        test_b=dedent(RECONFIGURED)
        + dedent(
            """
            def test_after_reconfiguring(agenttrace):
                with logfire.span("agent"):
                    pass
                agenttrace.assert_tree("agent")
            """
        ),
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=3)


def test_reconfiguring_logfire_during_a_test_warns(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            import logfire

            logfire.configure(send_to_logfire=False, console=False)

            def test_reconfigures(agenttrace):
                logfire.configure(send_to_logfire=False, console=False, service_name="b")
                logfire.info("not captured")
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(
        ["*AgentTraceWarning: The global TracerProvider began delegating to a new SDK*"]
    )


def test_a_failure_shows_the_logfire_spans(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            import logfire

            logfire.configure(send_to_logfire=False, console=False)

            def test_missing_agent(agenttrace):
                with logfire.span("orchestrator"):
                    pass
                agenttrace.assert_tree('''
                    orchestrator
                      validation_agent
                ''')
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*- Captured agenttrace call -*", "orchestrator {*"])


AFTER_ANOTHER_PROVIDER = """
    import logfire
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    # what pytest-opentelemetry or opentelemetry-instrument do before the app loads
    trace.set_tracer_provider(TracerProvider())
    logfire.configure(send_to_logfire=False, console=False)

    def test_pipeline(agenttrace):
        with logfire.span("orchestrator"):
            with trace.get_tracer("app").start_as_current_span("llm_agent"):
                with logfire.span("tool_agent"):
                    pass
        agenttrace.assert_tree('''
            orchestrator
              llm_agent
                tool_agent
        ''')
"""


def test_logfire_is_captured_when_another_provider_was_set_globally_first(
    pytester: pytest.Pytester,
) -> None:
    """Logfire's proxy is then not the global provider; its own SDK provider is
    captured too, and its spans nest with the global provider's."""
    pytester.makepyfile(dedent(AFTER_ANOTHER_PROVIDER))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "ignore::UserWarning")
    result.assert_outcomes(passed=1)
