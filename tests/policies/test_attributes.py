"""Policies: required attributes and span budgets, by method, marker, ini and command line."""

from __future__ import annotations

from textwrap import dedent

import pytest

from pytest_agenttrace import AgentTrace
from pytest_agenttrace._options import attribute_rules, budget_map, retry_limits, seconds

AGENTS = dedent(
    """
    import pytest
    from opentelemetry import trace

    tracer = trace.get_tracer("agents")

    def run_agents():
        with tracer.start_as_current_span("process_document", attributes={"document.id": "42"}):
            with tracer.start_as_current_span("agent.retrieval", attributes={"agent.name": "r"}):
                pass
            with tracer.start_as_current_span(
                "agent.llm", attributes={"agent.name": "l", "agent.version": "1.2"}
            ):
                pass
    """
)

ATTRIBUTE_FAILURE = [
    "2 span(s) lack attributes required by require_attributes "
    "(agent.*: agent.version; process_document: document.id, user.id):",
    "- process_document: missing user.id; has {document.id: '42'}",
    "- agent.retrieval under process_document: missing agent.version; has {agent.name: 'r'}",
    "",
    "Without them nothing in your tracing backend can filter these spans. Set them when the "
    "span starts (span.set_attribute(...)), or relax the rule. "
    "See docs/attributes.md#required-attributes",
]


def test_assert_attributes_lists_every_offending_span_with_what_it_has(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        AGENTS
        + dedent(
            """
            def test_it(agenttrace):
                run_agents()
                agenttrace.assert_attributes("agent.llm", {"agent.version": "1.2"})
                agenttrace.assert_attributes("agent.*", ["agent.name", "agent.version"])
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: 1 of 2 span(s) matching 'agent.*' lack required attributes:",
            "E       - agent.retrieval under process_document: missing agent.version; "
            "has {agent.name: 'r'}",
            "E       ",
            "E       Set them when the span starts *See docs/attributes.md#required-attributes",
        ],
        consecutive=True,
    )


def test_assert_attributes_reports_wrong_values_and_unmatched_selectors(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        AGENTS
        + dedent(
            """
            import pytest

            def test_wrong_value(agenttrace):
                run_agents()
                agenttrace.assert_attributes("agent.llm", {"agent.version": "2.0"})

            def test_no_match(agenttrace):
                run_agents()
                agenttrace.assert_attributes("agent.missing", ["agent.version"])
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "E       - agent.llm under process_document: agent.version is '1.2', "
            "expected '2.0'; has {agent.name: 'l', agent.version: '1.2'}",
        ]
    )
    result.stdout.fnmatch_lines(
        ["E       AssertionError: No finished span matches 'agent.missing'*"]
    )


def test_required_attributes_marker_fails_at_teardown(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        AGENTS
        + dedent(
            """
            @pytest.mark.agenttrace(require_attributes={
                "agent.*": ["agent.version"],
                "process_document": ["document.id", "user.id"],
            })
            def test_it(agenttrace):
                run_agents()
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(ATTRIBUTE_FAILURE, consecutive=True)


def test_required_attributes_ini_lines(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        dedent(
            """
            [pytest]
            agenttrace_require_attributes =
                agent.*: agent.version
                process_document: document.id, user.id
            """
        )
    )
    pytester.makepyfile(AGENTS + "\ndef test_it(agenttrace):\n    run_agents()\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(ATTRIBUTE_FAILURE, consecutive=True)


def test_required_attributes_command_line_json(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(AGENTS + "\ndef test_it(agenttrace):\n    run_agents()\n")
    result = pytester.runpytest(
        '--agenttrace-require-attributes={"agent.*": ["agent.version"], '
        '"process_document": ["document.id", "user.id"]}'
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(ATTRIBUTE_FAILURE, consecutive=True)


def test_marker_relaxes_the_suite_rule(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_require_attributes = agent.*: agent.version\n")
    pytester.makepyfile(
        AGENTS
        + dedent(
            """
            @pytest.mark.agenttrace(require_attributes={})
            def test_relaxed(agenttrace):
                run_agents()

            def test_strict(agenttrace):
                run_agents()
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)


def test_assert_required_attributes_method_uses_rules_or_setting(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        AGENTS
        + dedent(
            """
            def test_it(agenttrace):
                run_agents()
                agenttrace.assert_required_attributes({"agent.llm": ["agent.version"]})
                agenttrace.assert_required_attributes({"agent.*": ["agent.version"]})
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["E       AssertionError: 1 span(s) lack attributes required by require_attributes*"]
    )


def test_invalid_require_attributes_ini_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_require_attributes = agent.version\n")
    pytester.makepyfile("def test_it(agenttrace):\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*ini option agenttrace_require_attributes: 'agent.version' is not "
            "`span-name-pattern: attribute keys`*"
        ]
    )


# -- span budgets ------------------------------------------------------------------------
NOISY = dedent(
    """
    import pytest
    from opentelemetry import trace

    tracer = trace.get_tracer("noisy")

    def run_noisy(chunks=8):
        with tracer.start_as_current_span("process_document"):
            for _ in range(chunks):
                with tracer.start_as_current_span("embed_chunk"):
                    pass
            for _ in range(3):
                with tracer.start_as_current_span("store_vector"):
                    pass
            with tracer.start_as_current_span("llm_agent"):
                pass
    """
)

CAP_FAILURE = [
    "1 trace(s) have more than 10 spans (max_spans_per_trace):",
    "- trace * (root process_document): 13 spans; noisiest: embed_chunk x 8, "
    "store_vector x 3, llm_agent x 1",
    "",
    "Trace the operation, not each item: one span around a loop with a count attribute, "
    "or span events for per-item detail. See docs/attributes.md#span-budgets",
]


def test_assert_span_count_bounds(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        NOISY
        + dedent(
            """
            def test_passes(agenttrace):
                run_noisy()
                assert agenttrace.assert_span_count("embed_*", exactly=8) == 8
                agenttrace.assert_span_count(at_most=13)
                agenttrace.assert_span_count("store_vector", at_least=3)

            def test_too_many(agenttrace):
                run_noisy()
                agenttrace.assert_span_count(at_most=12)

            def test_too_few(agenttrace):
                run_noisy(chunks=0)
                agenttrace.assert_span_count("embed_*", at_least=1)
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: Expected at most 12 span(s) matching any span, found 13:",
            "E       - embed_chunk x 8",
            "E       - store_vector x 3",
            "E       - llm_agent x 1",
            "E       - process_document x 1",
            "E       ",
            "E       Too many spans usually means a loop traced per item*",
        ],
        consecutive=True,
    )
    result.stdout.fnmatch_lines(
        ["E       AssertionError: Expected at least 1 span(s) matching 'embed_*', found 0:"]
    )


def test_assert_span_count_needs_a_bound(agenttrace: object) -> None:
    with pytest.raises(TypeError, match="exactly=, at_most= or at_least="):
        agenttrace.assert_span_count("x")  # type: ignore[attr-defined]


def test_max_spans_per_trace_method(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        NOISY
        + dedent(
            """
            def test_it(agenttrace):
                run_noisy()
                agenttrace.assert_max_spans_per_trace(13)
                agenttrace.assert_max_spans_per_trace(10)
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["E       AssertionError: " + CAP_FAILURE[0]]
        + ["E       " + line if line else "E       " for line in CAP_FAILURE[1:]],
        consecutive=True,
    )


def test_max_spans_per_trace_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        NOISY
        + dedent(
            """
            @pytest.mark.agenttrace(max_spans_per_trace=10)
            def test_over(agenttrace):
                run_noisy()

            @pytest.mark.agenttrace(max_spans_per_trace=13)
            def test_at_cap(agenttrace):
                run_noisy()
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(CAP_FAILURE, consecutive=True)


def test_max_spans_per_trace_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_max_spans_per_trace = 10\n")
    pytester.makepyfile(NOISY + "\ndef test_it(agenttrace):\n    run_noisy()\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(CAP_FAILURE, consecutive=True)


def test_max_spans_per_trace_command_line_beats_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_max_spans_per_trace = 50\n")
    pytester.makepyfile(NOISY + "\ndef test_it(agenttrace):\n    run_noisy()\n")
    result = pytester.runpytest("--agenttrace-max-spans-per-trace=10")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(CAP_FAILURE, consecutive=True)


def test_max_spans_per_trace_bad_marker_value(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            import pytest

            @pytest.mark.agenttrace(max_spans_per_trace="lots")
            def test_it(agenttrace):
                pass
            """
        )
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*@pytest.mark.agenttrace(max_spans_per_trace=...): 'lots' is not a whole number*"]
    )


# -- parsers --------------------------------------------------------------------------
def test_setting_parsers() -> None:
    assert attribute_rules("agent.*: agent.version, agent.name; db: db.system") == (
        ("agent.*", ("agent.version", "agent.name")),
        ("db", ("db.system",)),
    )
    assert attribute_rules({"a": "x"}) == (("a", ("x",)),)
    assert budget_map("POST /risk-api: 250ms\nchat gpt-4o:mini = 3s") == (
        ("POST /risk-api", 0.25),
        ("chat gpt-4o:mini", 3.0),
    )
    assert budget_map('{"orchestrator": 4}') == (("orchestrator", 4.0),)
    assert retry_limits(2) == (("*", 2),)
    assert retry_limits("embed*: 2") == (("embed*", 2),)
    assert seconds("1.5") == 1.5
    for bad, parse in [("x: soon", budget_map), ("{1", budget_map), ("x: -1", retry_limits)]:
        with pytest.raises(ValueError):
            parse(bad)


def test_assert_span_count_rejects_conflicting_bounds(agenttrace: AgentTrace) -> None:
    agenttrace.tracer.start_span("x").end()
    with pytest.raises(TypeError, match="exactly= cannot be combined with at_most="):
        agenttrace.assert_span_count("x", exactly=1, at_most=0)
    with pytest.raises(TypeError, match="at_least=3 is above at_most=2"):
        agenttrace.assert_span_count("x", at_least=3, at_most=2)


def test_a_finding_broken_by_every_span_shows_a_bounded_list() -> None:
    from pytest_agenttrace._errors import MAX_BULLETS, message

    text = message("header", (f"span {n}" for n in range(MAX_BULLETS + 50)), "fix")
    lines = text.splitlines()
    assert lines[MAX_BULLETS] == f"- span {MAX_BULLETS - 1}"
    assert lines[MAX_BULLETS + 1] == "- … and 50 more"
    assert lines[-1] == "fix"


def test_bullets_past_the_shown_ones_are_counted_not_written() -> None:
    from pytest_agenttrace._errors import MAX_BULLETS, message, written_bullets

    written = []

    def write(n: int) -> str:
        written.append(n)
        return f"span {n}"

    text = message("header", written_bullets(range(MAX_BULLETS + 50), write), "fix")
    assert written == list(range(MAX_BULLETS))
    assert text == message("header", (f"span {n}" for n in range(MAX_BULLETS + 50)), "fix")


def test_a_deep_chain_is_named_by_its_nearest_ancestors() -> None:
    from span_trees import make_forest, s

    from pytest_agenttrace.policies._findings import where

    node = s("leaf")
    for level in range(20):
        node = s(f"level{level}", node)
    leaf = make_forest(node).one("leaf")
    assert where(leaf) == "leaf under level0 < level1 < level2 < level3 < level4 < level5 < …"
