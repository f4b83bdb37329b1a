"""The "Captured agenttrace" report section, and the capture's lifetime around it."""

from __future__ import annotations

import re
from pathlib import Path
from textwrap import dedent, indent

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


def section(result: pytest.RunResult, when: str = "call") -> list[str]:
    """The lines of the "Captured agenttrace <when>" section of the (one) failed test."""
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if f"- Captured agenttrace {when} -" in line)
    end = next(
        (
            i
            for i in range(start + 1, len(lines))
            if re.match(r"^(=+|_+|-+) .* (=+|_+|-+)$", lines[i])
        ),
        len(lines),
    )
    return lines[start + 1 : end]


TWO_TRACES = """
    from opentelemetry import trace

    def test_it(agenttrace):
        tracer = trace.get_tracer("t")
        with tracer.start_as_current_span("orchestrator"):
            tracer.start_span("agent").end()
        tracer.start_span("lost_context").end()
        assert False
"""


def test_the_section_prints_the_trace_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(dedent(TWO_TRACES))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    lines = section(result)
    first = re.fullmatch(r"trace ([0-9a-f]{32}) \(2 spans\)", lines[-2])
    second = re.fullmatch(r"trace ([0-9a-f]{32}) \(1 span\)", lines[-1])
    assert first and second and first.group(1) != second.group(1)


@pytest.mark.parametrize("source", ["ini", "flag"])
def test_a_url_template_turns_trace_ids_into_links(pytester: pytest.Pytester, source: str) -> None:
    template = "http://localhost:16686/trace/{trace_id}"
    args = [f"--agenttrace-trace-url={template}"] if source == "flag" else []
    if source == "ini":
        pytester.makeini(f"[pytest]\nagenttrace_trace_url = {template}\n")
    pytester.makepyfile(dedent(TWO_TRACES))
    result = pytester.runpytest(*args)
    result.assert_outcomes(failed=1)
    links = [line for line in section(result) if line.startswith("trace ")]
    assert len(links) == 2
    for line in links:
        match = re.fullmatch(r"trace ([0-9a-f]{32}) \(\d spans?\): (.*)", line)
        assert match, line
        assert match.group(2) == f"http://localhost:16686/trace/{match.group(1)}"


def test_literal_braces_in_a_template_are_doubled(pytester: pytest.Pytester) -> None:
    template = 'http://grafana:3000/explore?left={{"queries":[{{"query":"{trace_id}"}}]}}'
    pytester.makeini(f"[pytest]\nagenttrace_trace_url = {template}\n")
    pytester.makepyfile(dedent(TWO_TRACES))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines(
        [
            r'trace ([0-9a-f]{32}) \(2 spans\): http://grafana:3000/explore\?left=\{"queries":'
            r'\[\{"query":"\1"\}\]\}'
        ]
    )


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("http://jaeger/trace/{traceid}", "unknown placeholder {traceid} in *"),
        ("http://jaeger/trace/{}", "unknown placeholder {} in *"),
        ("http://jaeger/search", "* has no {trace_id} placeholder; *"),
        ("http://jaeger/trace/{trace_id", "* is not a template (*); *"),
        ("http://jaeger/trace/{trace_id!r}", "*without a format or conversion"),
    ],
)
def test_a_bad_url_template_is_a_usage_error(
    pytester: pytest.Pytester, template: str, problem: str
) -> None:
    pytester.makeini(f"[pytest]\nagenttrace_trace_url = {template}\n")
    pytester.makepyfile("def test_it(agenttrace): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: ini option agenttrace_trace_url: {problem}"])


UNDER_ORCHESTRATOR = "with tracer.start_as_current_span('orchestrator'):\n    "


@pytest.mark.parametrize(
    ("marker", "body"),
    [
        (
            "strict=True",
            "with tracer.start_as_current_span('orchestrator', kind=SpanKind.PRODUCER):\n"
            "    pass  # no inject(): the consumer starts a new trace\n"
            "tracer.start_span('consumer', kind=SpanKind.CONSUMER).end()",
        ),
        ("max_retries=1", UNDER_ORCHESTRATOR + "[tracer.start_span('embed').end() for _ in '123']"),
        ("", UNDER_ORCHESTRATOR + "tracer.start_span('hung_agent')"),
        (
            "require_attributes={'agent.*': ['agent.version']}",
            UNDER_ORCHESTRATOR + "tracer.start_span('agent.x').end()",
        ),
        ("max_spans_per_trace=1", UNDER_ORCHESTRATOR + "tracer.start_span('tool').end()"),
    ],
    ids=["strict", "max_retries", "unfinished", "require_attributes", "max_spans_per_trace"],
)
def test_every_teardown_check_shows_the_trace(
    pytester: pytest.Pytester, marker: str, body: str
) -> None:
    source = dedent(
        f"""
        import pytest
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind

        tracer = trace.get_tracer("t")

        @pytest.mark.agenttrace({marker})
        def test_it():  # no fixture asked for: the marker captures
        """
    )
    pytester.makepyfile(source + indent(body, "    ") + "\n")
    for args in ([], ["-n", "2"]):
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
        result.assert_outcomes(passed=1, errors=1)
        lines = section(result, "teardown")
        assert lines[0].startswith("orchestrator")
        assert re.fullmatch(r"trace [0-9a-f]{32} \(\d+ spans?\)", lines[-1])


def test_a_fixture_failing_after_the_capture_began_shows_the_trace(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        dedent(
            """
            import pytest
            from opentelemetry import trace

            @pytest.fixture
            def service(agenttrace):
                trace.get_tracer("t").start_span("connect").end()
                raise ConnectionError("the service did not start")

            def test_it(service):
                pass
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    assert section(result, "setup")[0] == "connect"


WIDE = """
    from opentelemetry import trace

    def test_count_mismatch(agenttrace):
        tracer = trace.get_tracer("t")
        with tracer.start_as_current_span("orchestrator"):
            for n in range(10_000):
                tracer.start_span("chunk", attributes={"n": n}).end()
        agenttrace.assert_tree("orchestrator\\n  chunk [x9999]")
"""


def test_a_long_section_is_cut_and_the_complete_text_goes_to_a_file(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(dedent(WIDE))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    lines = section(result)
    assert len(lines) <= 150
    assert lines[0] == "orchestrator"
    assert re.fullmatch(r"trace [0-9a-f]{32} \(10001 spans\)", lines[-2])
    footer = re.fullmatch(
        r"… ([\d,]+) of 10,002 lines not shown \(setting output_lines = 150\): "
        r"the complete section is in (.*)",
        lines[-1],
    )
    assert footer, lines[-1]
    complete = Path(footer.group(2)).read_text(encoding="utf-8").splitlines()
    assert len(complete) == 10_002 and complete[: len(lines) - 2] == lines[:-2]
    assert int(footer.group(1).replace(",", "")) == 10_002 - (len(lines) - 1)
    # under the session's basetemp, named after the test
    assert Path(footer.group(2)).parent.name == "agenttrace"
    assert Path(footer.group(2)).name.startswith("test_a_long_section_is_cut")


@pytest.mark.parametrize(
    ("args", "ini", "marker", "most"),
    [
        (["--agenttrace-output-lines=20"], "", "", 20),
        ([], "agenttrace_output_lines = 40", "", 40),
        ([], "agenttrace_output_lines = 40", "@pytest.mark.agenttrace(output_lines=12)", 12),
        (["--agenttrace-output-lines=0"], "", "", None),
    ],
    ids=["flag", "ini", "marker", "unbounded"],
)
def test_the_bound_is_a_setting(
    pytester: pytest.Pytester, args: list[str], ini: str, marker: str, most: int | None
) -> None:
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(
        dedent(
            f"""
            import pytest
            from opentelemetry import trace

            {marker}
            def test_it(agenttrace):
                with trace.get_tracer("t").start_as_current_span("orchestrator"):
                    for n in range(200):
                        trace.get_tracer("t").start_span("chunk", attributes={{"n": n}}).end()
                assert False
            """
        )
    )
    result = pytester.runpytest(*args)
    result.assert_outcomes(failed=1)
    lines = section(result)
    if most is None:
        assert len(lines) == 202 and "not shown" not in result.stdout.str()
    else:
        assert len(lines) == most and lines[-1].startswith(f"… {202 - most + 1} of 202 lines")


@pytest.mark.parametrize("value", ["-1", "many", "1.5"])
def test_a_bad_bound_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    pytester.makepyfile("def test_it(agenttrace): pass")
    result = pytester.runpytest(f"--agenttrace-output-lines={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --agenttrace-output-lines: '{value}' is *"])


def test_many_traces_and_open_spans_stay_in_view_when_cut(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            import pytest
            from opentelemetry import trace

            @pytest.mark.agenttrace(unfinished_spans="ignore", output_lines=40)
            def test_it(agenttrace):
                tracer = trace.get_tracer("t")
                for n in range(100):
                    tracer.start_span(f"fragment {n}").end()
                for n in range(30):
                    tracer.start_span(f"hung {n}")
                assert False
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    lines = section(result)
    assert len(lines) == 40
    # the tree is cut; the open spans, the trace ids and the footer are in view
    assert lines[:22] == [f"fragment {n}" for n in range(22)]
    assert lines[22:33] == [f"still open: hung {n}" for n in range(10)] + [
        "… and 20 more still open"
    ]
    assert all(re.fullmatch(r"trace [0-9a-f]{32} \(1 span\)", line) for line in lines[33:38])
    assert lines[38] == "… and 125 more traces"
    assert lines[39].startswith("… 223 of 260 lines not shown")


def test_a_cut_section_shows_the_spans_a_failed_assert_tree_marked(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace

            def test_typo(agenttrace):
                tracer = trace.get_tracer("t")
                with tracer.start_as_current_span("orchestrator"):
                    for n in range(2_000):
                        tracer.start_span("chunk", attributes={"n": n}).end()
                expected = agenttrace.render(style="indent").replace("{n: 1500}", "{n: -1}")
                agenttrace.assert_tree(expected)
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    lines = section(result)
    assert len(lines) <= 150
    assert lines[0] == "orchestrator"
    # the marked span and its neighbours, not the first 145 chunks
    assert lines[1:7] == [
        "├── # … 1,498 matching spans …",
        "├── chunk {n: 1498}",
        "├── chunk {n: 1499}",
        "├── chunk {n: 1500}   # ✗ n: expected -1, got 1500",
        "├── chunk {n: 1501}",
        "├── chunk {n: 1502}",
    ]
    assert lines[7] == "├── # … 497 matching spans …"
    footer = r"… 1,995 of 2,002 lines not shown .*: the complete section is in .*report\.txt"
    assert re.fullmatch(footer, lines[-1]), lines[-1]
