"""Policies: durations, timeout budgets, children outliving parents, unfinished spans.

Span timings are simulated (start_time=/end_time= in nanoseconds), so the
5-second API of the fraud-detection incident costs no wall-clock time.
"""

from __future__ import annotations

import asyncio
import time
from textwrap import dedent

import pytest
from opentelemetry import trace

from pytest_agenttrace import AgentTrace

S = 1_000_000_000

SIMULATED = dedent(
    """
    import pytest
    from opentelemetry import trace

    S = 1_000_000_000
    T0 = 1_700_000_000 * S
    tracer = trace.get_tracer("simulated")

    def span(name, start, end, parent=None, kind=trace.SpanKind.INTERNAL):
        '''A finished span from `start` to `end` seconds after T0.'''
        context = trace.set_span_in_context(parent) if parent is not None else None
        s = tracer.start_span(name, context=context, kind=kind, start_time=T0 + int(start * S))
        if end is not None:
            s.end(end_time=T0 + int(end * S))
        return s

    def fraud_workflow(api_seconds=5.0):
        '''Orchestrator -> parse_intent, risk_scoring_agent -> POST /risk-api, decide.'''
        total = 0.2 + api_seconds + 0.1 + 0.5
        root = span("fraud_check", 0, None)
        span("parse_intent", 0, 0.2, root)
        agent = span("risk_scoring_agent", 0.2, None, root)
        span("POST /risk-api", 0.2, 0.2 + api_seconds, agent, trace.SpanKind.CLIENT)
        agent.end(end_time=T0 + int((0.3 + api_seconds) * S))
        span("decide", 0.3 + api_seconds, total, root)
        root.end(end_time=T0 + int(total * S))
    """
)

BUDGET_FAILURE = [
    "2 timeout budget problem(s) (timeout_budgets: fraud_check 4 s, risk_scoring_agent 3 s):",
    "- fraud_check took 5.80 s, over its 4 s budget; critical path: parse_intent 0.20 s -> "
    "risk_scoring_agent 5.10 s (budget 3 s) [POST /risk-api 5.00 s] -> decide 0.50 s",
    "- risk_scoring_agent under fraud_check took 5.10 s, over its 3 s budget; "
    "critical path: POST /risk-api 5.00 s",
    "",
    "A parent's timeout must cover the longest chain of work that runs one after another "
    "below it, each child at its own full timeout (and retries). Raise the parent's budget "
    "or shorten the children's. See docs/timing.md#timeout-budgets",
]


def test_timeout_budgets_method_shows_the_critical_path(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        SIMULATED
        + dedent(
            """
            def test_incident(agenttrace):
                fraud_workflow()
                agenttrace.assert_timeout_budgets({"fraud_check": 4, "risk_scoring_agent": 3})

            def test_fixed(agenttrace):
                fraud_workflow()
                agenttrace.assert_timeout_budgets({"fraud_check": 10, "risk_scoring_agent": 6})
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["E       AssertionError: " + BUDGET_FAILURE[0]]
        + ["E       " + line for line in BUDGET_FAILURE[1:]],
        consecutive=True,
    )


def test_budgets_of_sequential_children_must_fit_the_parent(pytester: pytest.Pytester) -> None:
    """Even a fast run fails when the children's timeouts cannot fit in the parent's."""
    pytester.makepyfile(
        SIMULATED
        + dedent(
            """
            def test_it(agenttrace):
                root = span("orchestrator", 0, None)
                span("retrieval_agent", 0, 0.5, root)
                span("llm_agent", 0.5, 1.0, root)
                span("audit_log", 0.5, 0.6, root)   # concurrent with llm_agent: not on the path
                root.end(end_time=T0 + int(1.1 * S))
                agenttrace.assert_timeout_budgets({"orchestrator": 4, "retrieval_agent": 2})
                agenttrace.assert_timeout_budgets(
                    {"orchestrator": 4, "retrieval_agent": 2, "llm_agent": 3}
                )
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       - orchestrator: the budgets below it allow 5.10 s on its critical path, "
            "over its 4 s budget: retrieval_agent <= 2 s (budget) -> llm_agent <= 3 s (budget)",
        ]
    )


def test_timeout_budgets_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        SIMULATED
        + dedent(
            """
            @pytest.mark.agenttrace(timeout_budgets={"fraud_check": 4, "risk_scoring_agent": 3})
            def test_incident(agenttrace):
                fraud_workflow()

            @pytest.mark.agenttrace(timeout_budgets={"fraud_check": 10, "risk_scoring_agent": 6})
            def test_fixed(agenttrace):
                fraud_workflow()
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(BUDGET_FAILURE, consecutive=True)


def test_timeout_budgets_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        dedent(
            """
            [pytest]
            agenttrace_timeout_budgets =
                fraud_check: 4s
                risk_scoring_agent: 3000ms
            """
        )
    )
    pytester.makepyfile(SIMULATED + "\ndef test_it(agenttrace):\n    fraud_workflow()\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(BUDGET_FAILURE, consecutive=True)


def test_timeout_budgets_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SIMULATED + "\ndef test_it(agenttrace):\n    fraud_workflow()\n")
    result = pytester.runpytest(
        "--agenttrace-timeout-budgets=fraud_check: 4; risk_scoring_agent: 3"
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(BUDGET_FAILURE, consecutive=True)


def test_timeout_budgets_bad_marker_value(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            import pytest

            @pytest.mark.agenttrace(timeout_budgets={"fraud_check": "soon"})
            def test_it(agenttrace):
                pass
            """
        )
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*timeout_budgets=...): 'fraud_check': 'soon' is not a duration*"])


# -- durations --------------------------------------------------------------------------
def test_assert_duration(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        SIMULATED
        + dedent(
            """
            def test_ok(agenttrace):
                fraud_workflow(api_seconds=1)
                agenttrace.assert_duration("POST *", at_most=1.5, at_least=0.5)

            def test_too_slow(agenttrace):
                fraud_workflow()
                agenttrace.assert_duration("risk_*", at_most=3)

            def test_too_fast(agenttrace):
                fraud_workflow()
                agenttrace.assert_duration("parse_intent", at_least=1)
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: 1 span(s) matching 'risk_*' outside the allowed duration:",
            "E       - risk_scoring_agent under fraud_check took 5.10 s, over 3 s; "
            "critical path: POST /risk-api 5.00 s",
            "E       ",
            "E       The critical path shows where the time went*",
        ],
        consecutive=True,
    )
    result.stdout.fnmatch_lines(["E       - parse_intent under fraud_check took 0.20 s, under 1 s"])


def test_max_duration_marker_ini_and_command_line(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_max_duration = 10\n")
    pytester.makepyfile(
        SIMULATED
        + dedent(
            """
            def test_ini_allows(agenttrace):
                fraud_workflow()

            @pytest.mark.agenttrace(max_duration=5.5)
            def test_marker(agenttrace):
                fraud_workflow()
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "1 span(s) matching any span outside the allowed duration:",
            "- fraud_check took 5.80 s, over 5.5 s; critical path: *",
        ],
        consecutive=True,
    )
    result = pytester.runpytest("--agenttrace-max-duration=5")
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(["- risk_scoring_agent under fraud_check took 5.10 s, over 5 s*"])


# -- critical path ----------------------------------------------------------------------
def _at(tracer: trace.Tracer, name: str, start: float, end: float, parent: object = None) -> object:
    context = trace.set_span_in_context(parent) if parent is not None else None  # type: ignore[arg-type]
    span = tracer.start_span(name, context=context, start_time=int(start * S) + 10 * S)
    span.end(end_time=int(end * S) + 10 * S)
    return span


def test_critical_path_picks_the_heaviest_sequential_chain(agenttrace: AgentTrace) -> None:
    tracer = agenttrace.tracer
    root = tracer.start_span("root", start_time=10 * S)
    # a(0-2) then c(2-5): 5 s; b(1-4) overlaps both; d(2-3) shorter than c.
    for name, start, end in [("a", 0, 2), ("b", 1, 4), ("c", 2, 5), ("d", 2, 3), ("e", 4, 4.5)]:
        _at(tracer, name, start, end, root)
    root.end(end_time=16 * S)
    path = agenttrace.critical_path(agenttrace.one("root"))
    assert [span.name for span in path] == ["a", "c"]
    assert agenttrace.critical_path(agenttrace.one("a")) == []


def test_concurrent_fan_out_counts_the_slowest_branch_only(agenttrace: AgentTrace) -> None:
    tracer = agenttrace.tracer
    root = tracer.start_span("orchestrator", start_time=10 * S)
    for index in range(5):
        _at(tracer, f"agent_{index}", 0, 1 + index * 0.5, root)
    root.end(end_time=13 * S)
    agenttrace.assert_timeout_budgets({"orchestrator": 3.5, "agent_*": 3})
    with pytest.raises(AssertionError, match=r"allow 3\.00 s .* over its 2\.5 s budget"):
        agenttrace.assert_timeout_budgets({"orchestrator": 2.5, "agent_4": 3})


def test_a_long_critical_path_shows_its_ends_and_counts_the_rest(agenttrace: AgentTrace) -> None:
    # 40 chunks one after another are one path: the bullet names the first and last
    # five, not all 40 (100,000 of them made one bullet megabytes long)
    tracer = agenttrace.tracer
    root = tracer.start_span("ingest", start_time=10 * S)
    for index in range(40):
        _at(tracer, f"chunk_{index}", index, index + 1, root)
    root.end(end_time=50 * S)
    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_timeout_budgets({"ingest": 30})
    path = "critical path: " + " -> ".join(
        [f"chunk_{index} 1.00 s" for index in range(5)]
        + ["… 30 more …"]
        + [f"chunk_{index} 1.00 s" for index in range(35, 40)]
    )
    assert f"- ingest took 40.00 s, over its 30 s budget; {path}\n" in str(failure.value)


# -- children outliving their parent ------------------------------------------------------
OUTLIVING = dedent(
    """
    import threading
    import pytest
    from opentelemetry import context, trace

    tracer = trace.get_tracer("agents")

    def leak_background_agent():
        done = threading.Event()
        started = threading.Event()
        def background(ctx):
            token = context.attach(ctx)
            try:
                with tracer.start_as_current_span("background_agent"):
                    started.set()
                    done.wait(5)
            finally:
                context.detach(token)
        with tracer.start_as_current_span("orchestrator"):
            worker = threading.Thread(target=background, args=(context.get_current(),))
            worker.start()
            started.wait(5)
        done.set()      # the orchestrator returned before its agent finished
        worker.join()

    def publish_and_consume():
        with tracer.start_as_current_span("publish", kind=trace.SpanKind.PRODUCER) as producer:
            pass
        ctx = trace.set_span_in_context(producer)
        # A consumer parented to the producer runs later by design: not reported.
        with tracer.start_as_current_span("consume", context=ctx, kind=trace.SpanKind.CONSUMER):
            pass
    """
)

OUTLIVING_FAILURE = [
    "1 span(s) ended after their parent ended (outliving_children = fail):",
    "- background_agent under orchestrator: ended * s after its parent orchestrator ended",
    "",
    "Something kept working after its caller returned: an un-awaited task, a thread not "
    "joined, a leaked background agent. Await or join it before the parent span ends; for "
    "deliberate fire-and-forget, use PRODUCER/CONSUMER spans or a span link. "
    "See docs/timing.md#children-outliving-their-parent",
]


def test_assert_no_outliving_children(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        OUTLIVING
        + dedent(
            """
            def test_leak(agenttrace):
                leak_background_agent()
                agenttrace.assert_no_outliving_children()

            def test_messaging_is_fine(agenttrace):
                publish_and_consume()
                agenttrace.assert_no_outliving_children()
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: 1 span(s) ended after their parent ended:",
            "E       " + OUTLIVING_FAILURE[1],
        ],
        consecutive=True,
    )


def test_outliving_children_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        OUTLIVING
        + dedent(
            """
            @pytest.mark.agenttrace(outliving_children="fail")
            def test_leak(agenttrace):
                leak_background_agent()

            def test_default_ignores(agenttrace):
                leak_background_agent()
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(OUTLIVING_FAILURE, consecutive=True)


def test_outliving_children_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_outliving_children = fail\n")
    pytester.makepyfile(
        OUTLIVING
        + "\ndef test_it(agenttrace):\n    leak_background_agent()\n"
        + "\ndef test_messaging(agenttrace):\n    publish_and_consume()\n"
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(OUTLIVING_FAILURE, consecutive=True)


def test_outliving_children_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(OUTLIVING + "\ndef test_it(agenttrace):\n    leak_background_agent()\n")
    result = pytester.runpytest("--agenttrace-outliving-children=fail")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(OUTLIVING_FAILURE, consecutive=True)


# -- unfinished spans -------------------------------------------------------------------------
HUNG = dedent(
    """
    import pytest
    from opentelemetry import trace

    tracer = trace.get_tracer("agents")

    def run_with_hung_agent():
        with tracer.start_as_current_span("process_document"):
            with tracer.start_as_current_span("orchestrator"):
                tracer.start_span("agent_c")   # started, never ended: Agent C hangs
    """
)

UNFINISHED_FAILURE = [
    "1 span(s) were started but never ended during the test:",
    "- agent_c under orchestrator < process_document: open for *.* s",
    "",
    "A hung agent, or a span started without `with` and never end()ed. End spans in a `with` "
    "block or a `finally:`, or wait for background work before the test returns: "
    'agenttrace.wait_for(complete=True). To allow this, set unfinished_spans = "warn" or '
    '"ignore". See docs/timing.md#unfinished-spans',
]


def test_unfinished_spans_fail_at_teardown_by_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HUNG + "\ndef test_it(agenttrace):\n    run_with_hung_agent()\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*ERROR at teardown of test_it*"] + UNFINISHED_FAILURE, consecutive=True
    )


def test_assert_all_ended_method(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        HUNG
        + dedent(
            """
            @pytest.mark.agenttrace(unfinished_spans="ignore")
            def test_it(agenttrace):
                run_with_hung_agent()
                agenttrace.assert_all_ended()
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["E       AssertionError: " + UNFINISHED_FAILURE[0], "E       " + UNFINISHED_FAILURE[1]],
        consecutive=True,
    )


def test_unfinished_spans_marker_warn_and_ignore(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        HUNG
        + dedent(
            """
            @pytest.mark.agenttrace(unfinished_spans="warn")
            def test_warns(agenttrace):
                run_with_hung_agent()

            @pytest.mark.agenttrace(unfinished_spans="ignore")
            def test_ignored(agenttrace):
                run_with_hung_agent()
            """
        )
    )
    result = pytester.runpytest("-W", "default")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(
        ["*AgentTraceWarning: 1 span(s) were started but never ended during the test:"]
    )
    # the advice fits the setting in force: no "set it to warn" when it is warn already
    result.stdout.fnmatch_lines(
        [
            '*unfinished_spans = "warn" is set, so this only warns; "fail" makes it fail the '
            'test, "ignore" silences it. See docs/timing.md#unfinished-spans'
        ]
    )
    result.stdout.no_fnmatch_line("*To allow this*")


def test_unfinished_spans_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_unfinished_spans = ignore\n")
    pytester.makepyfile(
        HUNG
        + dedent(
            """
            def test_ignored(agenttrace):
                run_with_hung_agent()

            @pytest.mark.agenttrace(unfinished_spans="fail")
            def test_marker_beats_ini(agenttrace):
                run_with_hung_agent()
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(UNFINISHED_FAILURE, consecutive=True)


def test_unfinished_spans_command_line(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_unfinished_spans = fail\n")
    pytester.makepyfile(HUNG + "\ndef test_it(agenttrace):\n    run_with_hung_agent()\n")
    result = pytester.runpytest("--agenttrace-unfinished-spans=ignore")
    result.assert_outcomes(passed=1)


def test_spans_ended_before_teardown_are_not_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        HUNG
        + dedent(
            """
            def test_it(agenttrace):
                span = tracer.start_span("agent_c")
                span.end()
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


# -- concurrency and rule order ----------------------------------------------------------
def _agent_pair(tracer: trace.Tracer, *, concurrent: bool) -> None:
    async def agent(name: str) -> None:
        with tracer.start_as_current_span(name):
            await asyncio.sleep(0)  # yields once, as an agent doing I/O would

    async def orchestrate() -> None:
        with tracer.start_as_current_span("orchestrator"):
            if concurrent:
                await asyncio.gather(agent("tools"), agent("retrieval"))
            else:
                await asyncio.wait_for(agent("tools"), 2)  # a task of its own, awaited
                await asyncio.wait_for(agent("retrieval"), 2)

    asyncio.run(orchestrate())


BUDGETS = {"orchestrator": 3, "tools": 2, "retrieval": 2}


def test_gathered_agents_overlap_and_are_not_chained(agenttrace: AgentTrace) -> None:
    _agent_pair(agenttrace.tracer, concurrent=True)
    agenttrace.assert_timeout_budgets(BUDGETS)


def test_agents_awaited_one_after_another_are_chained(agenttrace: AgentTrace) -> None:
    # The per-agent timeout pattern: each agent runs in a task of its own
    # (asyncio.wait_for), yet the orchestrator waits for one before the next.
    _agent_pair(agenttrace.tracer, concurrent=False)
    with pytest.raises(AssertionError, match="the budgets below it allow 4.00 s"):
        agenttrace.assert_timeout_budgets(BUDGETS)


def test_the_last_matching_budget_rule_wins(agenttrace: AgentTrace) -> None:
    with agenttrace.tracer.start_as_current_span("invoke_agent tools"):
        time.sleep(0.002)
    agenttrace.assert_timeout_budgets({"invoke_agent tools": 1e-6, "invoke_agent *": 10})
    with pytest.raises(AssertionError, match="invoke_agent tools.*over its 1e-06 s budget"):
        agenttrace.assert_timeout_budgets({"invoke_agent *": 10, "invoke_agent tools": 1e-6})


def test_budgets_below_a_deep_chain_are_found_without_recursion(agenttrace: AgentTrace) -> None:
    """An agent calling itself 2,000 times, budgeted at the top and the bottom only: the
    worst case of every link in between is worked out bottom up, not by recursion."""
    begin = time.time_ns()
    opened, context = [], None
    for name in ["root", *["planner"] * 2_000, "embed"]:
        opened.append(agenttrace.tracer.start_span(name, context=context, start_time=begin))
        context = trace.set_span_in_context(opened[-1])
    for span in reversed(opened):
        span.end(end_time=begin + 2 * S)
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_timeout_budgets({"root": 1, "embed": 5})
    lines = str(error.value).splitlines()
    assert lines[0] == "2 timeout budget problem(s) (timeout_budgets: root 1 s, embed 5 s):"
    assert lines[2] == (
        "- root: the budgets below it allow 5.00 s on its critical path, over its 1 s "
        "budget: planner 5.00 s"
    )
