"""A printed tree survives the next run: volatile values as matchers, unexpected spans
with their attributes, comments apart from long lines, siblings in canonical order."""

from __future__ import annotations

import json
from textwrap import dedent
from typing import Any

import pytest
from span_trees import fails, make_forest, s

from pytest_agenttrace import ExpectedTreeError
from pytest_agenttrace.tree._match import assert_trace_tree
from pytest_agenttrace.tree._render import render_tree
from pytest_agenttrace.tree._volatile import DEFAULT_VOLATILE_ATTRIBUTES, VolatileRules

pytest_plugins = ["pytester"]


def run(port: int, request_id: str, order: list[str]) -> Any:
    """One run of an agent calling a local service: ports and ids differ per run."""
    calls = {
        "embed": s(
            "POST",
            http__url=f"http://127.0.0.1:{port}/embed",
            server__port=port,
            net__peer__name="127.0.0.1",
            request__id=request_id,
            started="2026-12-01T11:49:19.120Z",
            trace__parent=f"{port:032x}",
        ),
        "llm": s("chat", gen_ai__request__model="gpt-4o", attempt=1),
    }
    return make_forest(s("agent", *(calls[name] for name in order)))


FIRST = run(37003, "0b7c5f4e-6a59-4b7e-9f8c-2d5a8e1f3c11", ["embed", "llm"])
NEXT = run(60202, "9e2d4c1a-7f3b-4c8e-a1d2-5b6c7d8e9f00", ["llm", "embed"])


def test_volatile_values_print_as_matchers_and_pass_on_the_next_run() -> None:
    rendered = render_tree(FIRST)
    assert rendered.splitlines()[1] == (
        "  POST {http.url: /^http:\\/\\/127\\.0\\.0\\.1:\\d+\\/embed$/, server.port: int, "
        "net.peer.name: /^(127\\.\\d+\\.\\d+\\.\\d+|::1|localhost)$/, "
        "request.id: /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
        "[0-9a-fA-F]{12}$/, started: /^\\d{4}-\\d\\d-\\d\\d[T ]\\d\\d:\\d\\d/, "
        "trace.parent: /^[0-9a-fA-F]{32}$/}"
    )
    assert_trace_tree(NEXT, rendered)


def test_a_failure_prints_volatile_actual_values_as_matchers() -> None:
    message = fails(NEXT, "agent\n  POST {server.port: 37003}\n  chat")
    line = message.splitlines()[3]
    assert line.startswith("  POST {server.port: int}")
    assert "# ✗ server.port: expected 37003, got 60202" in line
    assert_trace_tree(FIRST, message.split("\n\n")[1])


def test_extra_volatile_keys_and_stable_keys() -> None:
    rendered = render_tree(FIRST, volatile=["gen_ai.request.model", "!http.url"])
    assert '  POST {http.url: "http://127.0.0.1:37003/embed", server.port: int,' in rendered
    assert "  chat {gen_ai.request.model: str, attempt: 1}" in rendered
    with pytest.raises(ExpectedTreeError, match="volatile=: '!': '!' needs a key glob"):
        assert_trace_tree(FIRST, "x", volatile=["!"])


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("db.statement", "SELECT 1", "SELECT 1"),
        ("tool", "search:3", "search:3"),  # not an address: no dotted host
        ("server.address", "api.openai.com:443", "/^api\\.openai\\.com:\\d+$/"),
        ("id", "deadbeefdeadbeef", "/^[0-9a-fA-F]{16}$/"),
        ("count", "1234567890123456", "1234567890123456"),  # digits only: a number
        ("process.pid", 4242, "int"),
        ("messaging.message.id", "abc", "str"),
        ("exception.stacktrace", "Traceback (most recent call last): ...", "str"),
    ],
)
def test_the_rules(key: str, value: Any, shown: str) -> None:
    result = VolatileRules().shown(key, value)
    assert (result if isinstance(result, str) else repr(result)) == shown


def test_the_default_list_is_documented() -> None:
    from pathlib import Path

    page = (Path(__file__).parents[2] / "docs" / "syntax.md").read_text(encoding="utf-8")
    for glob in DEFAULT_VOLATILE_ATTRIBUTES:
        assert f"`{glob}`" in page, glob


def test_an_unexpected_span_prints_with_its_attributes() -> None:
    forest = make_forest(s("agent", s("tool", s("POST", kind_code=1), tool__name="search")))
    message = fails(forest, "agent")
    tree = message.split("\n\n")[1]
    assert tree.splitlines()[1] == ('  tool {tool.name: "search"}   # ✗ unexpected span')
    # pasted back, the attribute check is kept: another tool fails it
    other = make_forest(s("agent", s("tool", s("POST", kind_code=1), tool__name="fetch")))
    with pytest.raises(AssertionError, match='tool.name: expected "search", got "fetch"'):
        assert_trace_tree(other, tree)


def test_a_mark_keeps_two_spaces_from_a_long_line() -> None:
    name = "a_very_long_span_name_" * 4
    forest = make_forest(s("root", s(name, status_code=1)))
    message = fails(forest, f"root\n  {name} {{status_code: 2}}")
    line = message.splitlines()[3]
    assert line == f"  {name} {{status_code: 1}}  # ✗ status_code: expected 2, got 1"


def test_unordered_siblings_print_in_canonical_order() -> None:
    first = fails(FIRST, "agent")
    again = fails(NEXT, "agent")
    assert first.split("\n\n")[1] == again.split("\n\n")[1]
    assert [line.split(" {")[0] for line in first.splitlines()[3:5]] == ["  POST", "  chat"]


def test_ordered_levels_keep_start_order() -> None:
    message = fails(NEXT, "agent [ordered]\n  x")
    assert [line.split(" {")[0] for line in message.splitlines()[3:5]] == ["  chat", "  POST"]


def test_ini_volatile_attributes(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        dedent(
            """
            [pytest]
            agenttrace_volatile_attributes =
                agent.run
                !server.port
            """
        )
    )
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace

            tracer = trace.get_tracer("test")

            def test_agent(agenttrace):
                attributes = {"agent.run": 7, "server.port": 8080}
                with tracer.start_as_current_span("agent", attributes=attributes):
                    pass
                agenttrace.assert_tree("agent {agent.run: 1, server.port: 1}")
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       agent {agent.run: int, server.port: 8080}   "
            "# ✗ agent.run: expected 1, got 7; ✗ server.port: expected 1, got 8080"
        ]
    )


def test_a_bad_ini_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_volatile_attributes = !\n")
    pytester.makepyfile("def test_nothing(agenttrace):\n    pass\n")
    result = pytester.runpytest()
    result.stderr.fnmatch_lines(
        ["ERROR: *agenttrace_volatile_attributes*'!': '!' needs a key glob after it*"]
    )


PROMPT = "You are a helpful agent. " + "p" * 1_000_000


def test_a_long_value_prints_as_a_short_matcher_that_holds_on_the_next_run() -> None:
    forest = make_forest(s("agent", s("llm", prompt=PROMPT, tags=("t",) * 1_000)))
    message = fails(forest, "agent")
    assert len(message) < 1_000
    line = message.splitlines()[3]
    # `starts "…"` of 200 characters in all
    assert line.startswith(f'  llm {{prompt: starts "{PROMPT[:191]}", tags: list}}')
    # pasted back, it holds for the next run's prompt too, whose end differs
    tree = message.split("\n\n")[1]
    assert_trace_tree(make_forest(s("agent", s("llm", prompt=PROMPT + "!", tags=("u",)))), tree)
    assert len(render_tree(forest)) < 300


def test_a_long_value_that_matched_its_expectation_prints_short_too() -> None:
    forest = make_forest(s("agent", s("llm", prompt=PROMPT), s("tool")))
    message = fails(forest, f"agent\n  llm {{prompt: {json.dumps(PROMPT)}}}")
    assert message.splitlines()[3] == f'  llm {{prompt: starts "{PROMPT[:191]}"}}'


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        # volatile starts stay matchers, with a port or a time of their own
        ("http://127.0.0.1:37003/" + "a" * 300, "/^http:\\/\\/127\\.0\\.0\\.1:\\d+\\/aaaa"),
        ("2026-12-01T11:49:19 " + "x" * 300, "/^\\d{4}-\\d\\d-\\d\\d[T ]\\d\\d:\\d\\d/"),
        # escapes count: the printed text stays short
        ("\x00" * 300, 'starts "\\u0000\\u0000'),
    ],
)
def test_long_values_print_within_the_bound(value: str, shown: str) -> None:
    printed = repr(VolatileRules().shown("key", value))
    assert printed.startswith(shown)
    assert len(printed) <= 200


def test_a_cut_value_keeps_its_line_breaks_escaped() -> None:
    forest = make_forest(s("agent", note="line\u2028" * 100))
    rendered = render_tree(forest)
    assert len(rendered.splitlines()) == 1
    assert_trace_tree(forest, rendered)
