"""Failure trees cut to the differences: bounded length, paths, context, nothing lost."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pytest_agenttrace import assert_trace_tree, render_tree
from pytest_agenttrace._options import DEFAULT_OUTPUT_LINES


def agents_and_tools(agents: int, tools: int) -> tuple[ReadableSpan, ...]:
    """orchestrator → agents {n} → tools {k} each."""
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bound")
    with tracer.start_as_current_span("orchestrator"):
        for n in range(agents):
            with tracer.start_as_current_span("agent", attributes={"n": n}):
                for k in range(tools):
                    with tracer.start_as_current_span("tool", attributes={"k": k}):
                        pass
    return exporter.get_finished_spans()


@pytest.fixture(scope="module")
def big_trace() -> tuple[ReadableSpan, ...]:
    return agents_and_tools(2_500, 3)  # 10,001 spans


def failure(spans: object, expected: str, **options: object) -> str:
    with pytest.raises(AssertionError) as raised:
        assert_trace_tree(spans, expected, **options)  # type: ignore[arg-type]
    return str(raised.value)


def full_text_path(message: str) -> Path:
    found = re.search(r"The complete tree, to paste back, is in (\S+)", message)
    assert found, message
    return Path(found.group(1))


def test_a_typo_in_the_root_shows_the_missing_line_at_the_top(big_trace) -> None:
    expected = render_tree(big_trace).replace("orchestrator", "orchestratr", 1)
    message = failure(big_trace, expected)
    lines = message.splitlines()
    assert len(lines) <= DEFAULT_OUTPUT_LINES
    assert "# ✗ missing: orchestratr" in lines[:20]
    assert lines[2] == "orchestrator   # ✗ unexpected span"
    # the spans under an unexpected span are not called matching
    assert "matching" not in message
    complete = full_text_path(message).read_text(encoding="utf-8")
    assert complete.startswith("orchestrator   # ✗ unexpected span\n")
    assert complete.endswith("# ✗ missing: orchestratr\n")
    assert len(complete.splitlines()) > 5_000


def test_a_wrong_attribute_deep_in_the_tree_keeps_its_path_and_context(big_trace) -> None:
    expected = render_tree(big_trace).replace("agent {n: 1234}", "agent {n: 4321}", 1)
    message = failure(big_trace, expected)
    lines = message.splitlines()
    assert len(lines) <= DEFAULT_OUTPUT_LINES
    assert lines[2] == "orchestrator"  # the path from the root
    marked = next(line for line in lines if "✗" in line)
    assert marked == "  agent {n: 1234}   # ✗ n: expected 4321, got 1234"
    at = lines.index(marked)
    # siblings around it and its first children, as a diff shows context
    assert lines[at - 1] == "    # … 3 matching spans …"
    assert lines[at - 2] == "  agent {n: 1233}"
    assert lines[at + 1 : at + 3] == ["    tool {k: 0}", "    tool {k: 1}"]
    # every span is accounted for: shown, or counted in an elision line
    elided = sum(
        int(count.replace(",", ""))
        for count in re.findall(r"# … ([\d,]+) matching spans? …", message)
    )
    shown = sum(1 for line in lines[2:] if re.match(r"\s*(orchestrator|agent|tool)\b", line))
    assert elided + shown == len(big_trace)


def test_the_complete_tree_pastes_back_and_passes(big_trace) -> None:
    expected = render_tree(big_trace).replace("tool {k: 2}", "tool {k: 3}", 1)
    message = failure(big_trace, expected)
    # the file as it is: the marks are comments
    assert_trace_tree(big_trace, full_text_path(message).read_text(encoding="utf-8"))


def test_many_differences_show_as_many_as_fit_and_count_the_rest(big_trace) -> None:
    expected = render_tree(big_trace).replace("tool {k: 1}", "tool {k: 9}")
    message = failure(big_trace, expected, output_lines=60)
    lines = message.splitlines()
    assert len(lines) <= 60
    shown = sum("✗" in line for line in lines)
    assert shown >= 5
    more = re.search(r"# … ([\d,]+) more difference\(s\) in the complete tree", message)
    assert more, message
    assert shown + int(more.group(1).replace(",", "")) == 2_500  # as many as the header says
    assert lines[0] == "Trace tree does not match the expectation (2500 differences):"


@pytest.mark.parametrize("output_lines", [1, 5, 6, 7])
def test_a_bound_smaller_than_the_frame_still_bounds(big_trace, output_lines) -> None:
    expected = render_tree(big_trace).replace("agent {n: 7}", "agent {n: 8}", 1)
    message = failure(big_trace, expected, output_lines=output_lines)
    assert len(message.splitlines()) < 30
    assert "agent {n: 7}   # ✗ n: expected 8, got 7" in message


def test_output_lines_zero_prints_everything(big_trace) -> None:
    expected = render_tree(big_trace).replace("orchestrator", "orchestratr", 1)
    message = failure(big_trace, expected, output_lines=0)
    assert len(message.splitlines()) > 5_000
    assert "complete tree" not in message


def test_the_caller_decides_where_the_complete_tree_goes(big_trace, tmp_path) -> None:
    kept: list[str] = []

    def keep(text: str) -> str:
        kept.append(text)
        return str(tmp_path / "tree.txt")

    expected = render_tree(big_trace).replace("orchestrator", "orchestratr", 1)
    message = failure(big_trace, expected, keep_full_text=keep)
    assert f"is in {tmp_path / 'tree.txt'}" in message
    (text,) = kept
    assert text.count("\n") > 5_000


def test_a_short_failure_is_not_cut(big_trace) -> None:
    small = big_trace[:4]  # three tools and their agent
    message = failure(small, "agent {n: 2499}\n  tool [x2]")
    assert "complete tree" not in message
    assert "tool   # ✗ unexpected span" in message or "count" in message


def test_the_fixture_bounds_by_output_lines_and_keeps_the_tree_in_basetemp(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nagenttrace_output_lines = 40\n")
    pytester.makepyfile(
        """
        from opentelemetry import trace

        def test_fan_out(agenttrace):
            tracer = trace.get_tracer("t")
            with tracer.start_as_current_span("orchestrator"):
                for n in range(300):
                    with tracer.start_as_current_span("agent", attributes={"n": n}):
                        pass
            expected = agenttrace.render(style="indent").replace("agent {n: 150}", "agent {n: -1}")
            agenttrace.assert_tree(expected)
        """
    )
    basetemp = pytester.path / "base"
    result = pytester.runpytest(f"--basetemp={basetemp}", "--agenttrace-report=never")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: Trace tree does not match the expectation (1 difference):",
            "E       orchestrator",
            "E         # … 148 matching spans …",
            "E         agent {n: 148}",
            "E         agent {n: 149}",
            "E         agent {n: 150}   # ✗ n: expected -1, got 150",
            "E         agent {n: 151}",
            "E         agent {n: 152}",
            "E         # … 147 matching spans …",
            "E       The complete tree, to paste back, is in "
            f"{basetemp}/agenttrace/test_the_fixture_bounds*fan_out*.assert_tree.txt",
        ]
    )
    message = [line for line in result.stdout.lines if line.startswith("E  ")]
    assert len(message) <= 40
    (kept,) = (basetemp / "agenttrace").glob("*.assert_tree.txt")
    assert kept.read_text(encoding="utf-8").count("agent {n:") == 300


def test_each_failure_keeps_its_own_complete_tree(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import re
        from pathlib import Path

        import pytest
        from opentelemetry import trace

        def kept(failure):
            return Path(re.search(r"is in (\\S+)", str(failure.value)).group(1))

        def test_two_failures(agenttrace):
            tracer = trace.get_tracer("t")
            with tracer.start_as_current_span("orchestrator"):
                for n in range(30):
                    tracer.start_span("agent", attributes={"n": n}).end()
            tree = agenttrace.render(style="indent")
            with pytest.raises(AssertionError) as first:
                agenttrace.assert_tree(tree.replace("{n: 1}", "{n: -1}"), output_lines=12)
            with pytest.raises(AssertionError) as second:
                agenttrace.assert_tree(tree.replace("{n: 2}", "{n: -2}"), output_lines=12)
            assert kept(first) != kept(second)
            assert "expected -1, got 1" in kept(first).read_text(encoding="utf-8")
            assert "expected -2, got 2" in kept(second).read_text(encoding="utf-8")
            assert kept(second).name.endswith(".2.assert_tree.txt")
        """
    )
    result = pytester.runpytest("--agenttrace-report=never")
    result.assert_outcomes(passed=1)


def test_outside_pytest_the_complete_tree_names_the_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pytest_agenttrace import _full_text
    from pytest_agenttrace.tree._bound import keep_in_test_file

    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    monkeypatch.setattr(_full_text, "_directories", [])
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    first, second = Path(keep_in_test_file("one")), Path(keep_in_test_file("two"))
    assert first.parent == tmp_path / "pytest-agenttrace"
    assert first.name.startswith("assert_trace_tree-")
    assert f".pid{os.getpid()}." in first.name
    assert (first.read_text(), second.read_text()) == ("one\n", "two\n")


def test_a_span_still_open_is_named_beside_its_missing_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from opentelemetry import trace

        def test_hung(agenttrace):
            tracer = trace.get_tracer("t")
            with tracer.start_as_current_span("orchestrator"):
                tracer.start_span("hung_agent")
            agenttrace.assert_tree("orchestrator\\n  hung_agent")
        """
    )
    result = pytester.runpytest("--agenttrace-unfinished-spans=ignore")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       orchestrator",
            "E         # ✗ missing: hung_agent",
            "E       ",
            "E       Paste the tree above*",
            "E       ",
            "E       1 span(s) had not ended when the tree was compared; assert_tree sees "
            "finished spans only. End them first, or agenttrace.wait_for(complete=True) "
            "for spans that other threads end:",
            "E       - hung_agent (under orchestrator)",
        ],
        consecutive=True,
    )


def test_an_elided_run_that_leaves_a_subtree_is_printed_at_its_shallowest_level() -> None:
    spans = agents_and_tools(3, 10)
    expected = render_tree(spans).replace("tool {k: 2}", "tool {k: -2}", 2)  # agents 0 and 1
    expected = expected.replace("tool {k: -2}", "tool {k: 2}", 1)  # agent 1's only
    lines = failure(spans, expected, output_lines=20).splitlines()
    at = next(index for index, line in enumerate(lines) if "✗" in line)
    assert lines[at : at + 4] == [
        "    tool {k: 2}   # ✗ k: expected -2, got 2",
        "    tool {k: 3}",
        "    tool {k: 4}",
        # agent 1's last five tools, then agent 2 and its ten: the run ends at the
        # agents' level, so it is printed there, not as agent 1's children
        "  # … 16 matching spans …",
    ]
