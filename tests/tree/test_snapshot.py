"""Trace shapes as inline-snapshots, end to end: create, pass, change, fail, fix, pass."""

from __future__ import annotations

from textwrap import dedent

import pytest

pytest.importorskip("inline_snapshot")
pytest_plugins = ["pytester"]

AGENT = """
from opentelemetry import trace
from opentelemetry.trace import SpanKind

tracer = trace.get_tracer("agent")


def run(tools, port):
    with tracer.start_as_current_span("invoke_agent", attributes={"gen_ai.agent.name": "triage"}):
        for tool in tools:
            with tracer.start_as_current_span("execute_tool", attributes={"tool": tool}):
                with tracer.start_as_current_span(
                    "POST",
                    kind=SpanKind.CLIENT,
                    attributes={"url.full": f"http://127.0.0.1:{port}/{tool}"},
                ):
                    pass
"""

TEST = """
from inline_snapshot import snapshot

import agent


def test_tree(agenttrace):
    agent.run(["search", "fetch"], port=PORT)
    agenttrace.assert_tree(snapshot())


def test_shape(agenttrace):
    agent.run(["fetch", "search"], port=PORT)
    assert agenttrace.shape() == snapshot()
"""


def write(pytester: pytest.Pytester, tools: str, port: int) -> None:
    pytester.makepyfile(agent=AGENT.replace("for tool in tools", f"for tool in {tools}"))
    source = pytester.path / "test_agent.py"
    text = source.read_text() if source.exists() else TEST
    import re

    source.write_text(re.sub(r"port=\d+|port=PORT", f"port={port}", text))


def test_create_pass_change_fail_fix_pass(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # inline-snapshot turns itself off under xdist, and reports differently when CI
    # is set: the runs below are neither xdist's nor CI's
    for name in (
        "PYTEST_XDIST_WORKER",
        "PYTEST_XDIST_WORKER_COUNT",
        "PYTEST_XDIST_TESTRUNUID",
        "CI",
    ):
        monkeypatch.delenv(name, raising=False)
    write(pytester, "tools", 37003)
    created = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--inline-snapshot=create")
    assert created.ret in (0, 1)  # inline-snapshot reports the values it created
    text = (pytester.path / "test_agent.py").read_text()
    shape = (
        'invoke_agent {gen_ai.agent.name: "triage"}\n'
        '  execute_tool {tool: "fetch"}\n'
        "    POST {url.full: /^http:\\\\/\\\\/127\\\\.0\\\\.0\\\\.1:\\\\d+\\\\/fetch$/} [client]\n"
        '  execute_tool {tool: "search"}\n'
        "    POST {url.full: /^http:\\\\/\\\\/127\\\\.0\\\\.0\\\\.1:\\\\d+\\\\/search$/} [client]"
    )
    assert text.count(shape) == 2, text  # both tests, whichever tool ran first

    # another port (volatile) and another start order: still green
    write(pytester, "tools", 60202)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)

    # the code changes: a plain run fails with the diff
    write(pytester, '["search"]', 60202)
    failed = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    # both tests fail; inline-snapshot may add errors of its own report
    assert failed.parseoutcomes()["failed"] == 2, failed.stdout.str()
    failed.stdout.fnmatch_lines(
        [
            "E       AssertionError: Trace shape differs from the snapshot:",
            "E       ",
            "E       --- snapshot",
            "E       +++ captured",
            "E       @@ -1,5 +1,3 @@",
            'E        invoke_agent {gen_ai.agent.name: "triage"}',
            'E       -  execute_tool {tool: "fetch"}',
        ],
        consecutive=True,
    )

    # reviewed, fixed, green again
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--inline-snapshot=fix")
    assert shape not in (pytester.path / "test_agent.py").read_text()
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_a_shape_parses_back_as_a_passing_expectation(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace
            from opentelemetry.trace import Link

            tracer = trace.get_tracer("t")

            def test_shape(agenttrace):
                with tracer.start_as_current_span("publish") as producer:
                    pass
                with tracer.start_as_current_span(
                    "process", links=[Link(producer.get_span_context())]
                ) as consumer:
                    consumer.add_event("retry", {"attempt": 2})
                shape = agenttrace.shape()
                expected = "process\\n  @ retry {attempt: 2}\\n  -> publish\\npublish [as publish]"
                assert shape == expected
                agenttrace.assert_tree(shape)
            """
        )
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
