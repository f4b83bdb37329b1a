"""Value matchers: the text form, the importable names, repr and equality."""

from __future__ import annotations

import re
from typing import Any

import pytest
from span_trees import fails, make_forest, s

from pytest_agenttrace import (
    PRESENT,
    Between,
    Contains,
    EndsWith,
    ExpectedTreeError,
    Ge,
    Gt,
    IsBool,
    IsFloat,
    IsInt,
    IsList,
    IsNumber,
    IsStr,
    Le,
    Lt,
    Regex,
    StartsWith,
    span,
)
from pytest_agenttrace.tree._match import assert_trace_tree, trace_tree_matches
from pytest_agenttrace.tree._parse import parse_expected

MATCHERS = [
    (Regex(r"^SELECT .* FROM users"), "/^SELECT .* FROM users/"),
    (Regex("^http://127.0.0.1:\\d+/embed$"), "/^http:\\/\\/127.0.0.1:\\d+\\/embed$/"),
    (StartsWith("SELECT"), 'starts "SELECT"'),
    (EndsWith("/embed"), 'ends "/embed"'),
    (Contains("users"), 'contains "users"'),
    (Contains(3), "contains 3"),
    (Gt(0), "> 0"),
    (Ge(1.5), ">= 1.5"),
    (Lt(-2), "< -2"),
    (Le(100), "<= 100"),
    (Between(1, 10), "1..10"),
    (Between(0.5, 1.5), "0.5..1.5"),
    (IsInt, "int"),
    (IsFloat, "float"),
    (IsNumber, "number"),
    (IsStr, "str"),
    (IsBool, "bool"),
    (IsList, "list"),
]


@pytest.mark.parametrize(("matcher", "text"), MATCHERS, ids=[text for _, text in MATCHERS])
def test_repr_is_the_text_form_and_the_text_parses_to_the_matcher(matcher: Any, text: str) -> None:
    assert repr(matcher) == text
    parsed = parse_expected(f"a {{k: {text}}}")[0].attributes["k"]
    assert parsed == matcher
    assert repr(parsed) == text


@pytest.mark.parametrize(
    ("matcher", "good", "bad"),
    [
        (Regex("^SELECT"), "SELECT id FROM t", "select id"),
        (StartsWith("SELECT"), "SELECT 1", " SELECT"),
        (EndsWith(".json"), "a.json", "a.json.gz"),
        (Contains("user"), "get_user_by_id", "get_account"),
        (Contains("b"), ("a", "b"), ("a",)),
        (Contains(1), (0, 1), (True, 2)),  # True is not 1 here, as everywhere
        (Gt(0), 1, 0),
        (Ge(1), 1, 0.99),
        (Lt(5), 4.5, 5),
        (Le(5), 5, 6),
        (Between(1, 3), 3, 4),
        (IsInt, 60202, True),
        (IsFloat, 0.5, 1),
        (IsNumber, 1, "1"),
        (IsStr, "", b""),
        (IsBool, False, 0),
        (IsList, ("a",), "a"),
    ],
)
def test_matches_and_rejects(matcher: Any, good: Any, bad: Any) -> None:
    assert matcher == good
    assert matcher != bad
    assert not matcher.__eq__(bad)


@pytest.mark.parametrize("other", [None, object(), [1, "a"], {"a": 1}, b"x", float("nan"), 1j])
def test_eq_never_raises(other: Any) -> None:
    for matcher, _ in MATCHERS:
        assert (matcher == other) in (True, False)


def test_type_matchers_may_be_called() -> None:
    assert IsInt() is IsInt
    assert span("a", attributes={"port": IsInt()}).attributes["port"] is IsInt


def test_builder_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="Gt takes a number"):
        Gt("1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="StartsWith takes a str"):
        StartsWith(1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Between\\(5, 1\\): the maximum is below the minimum"):
        Between(5, 1)
    with pytest.raises(ValueError, match="invalid regular expression"):
        Regex("(")


def test_text_matchers_in_a_real_tree() -> None:
    forest = make_forest(
        s(
            "db",
            s("POST", http__url="http://127.0.0.1:37003/embed", server__port=37003),
            db__statement="SELECT id FROM users WHERE id = ?",
            gen_ai__usage__input_tokens=120,
            tags=("cached", "fast"),
            ratio=0.25,
            ok=True,
        )
    )
    assert_trace_tree(
        forest,
        """
        db {db.statement: starts "SELECT", gen_ai.usage.input_tokens: > 0, ratio: 0..1}
          POST {http.url: /^http:\\/\\/127\\.0\\.0\\.1:\\d+\\/embed$/, server.port: int}
        """,
    )
    assert_trace_tree(forest, 'db {tags: contains "fast", ok: bool}\n  POST')
    assert not trace_tree_matches(forest, 'db {db.statement: ends "SELECT"}\n  POST')
    assert not trace_tree_matches(forest, "db {gen_ai.usage.input_tokens: < 100}\n  POST")
    assert not trace_tree_matches(forest, "db {ok: int}\n  POST")  # a bool is not an int


def test_a_failing_matcher_shows_expected_as_text_and_a_passing_one_stays() -> None:
    forest = make_forest(s("llm", tokens=0, model="gpt-4o"))
    message = fails(forest, 'llm {tokens: > 0, model: starts "gpt"}')
    assert message.splitlines()[2] == (
        'llm {tokens: 0, model: starts "gpt"}   # ✗ tokens: expected > 0, got 0'
    )
    assert_trace_tree(forest, message.split("\n\n")[1])


def test_matchers_never_make_identical_looking_lines_merge() -> None:
    forest = make_forest(s("root", s("step", n=1), s("step", n=7)))
    assert_trace_tree(forest, "root\n  step {n: < 5}\n  step {n: > 5}")
    assert_trace_tree(forest, "root\n  step {n: int} [x2]")
    assert PRESENT == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a {k: /unclosed}", "line 1, column 7: unclosed regex: expected a closing '/'"),
        ("a {k: /(/}", "line 1, column 7: invalid regular expression: missing ), unterminated"),
        ('a {k: > "1"}', "line 1, column 9: '>' takes a number, got \"1\""),
        ("a {k: starts 3}", 'line 1, column 14: starts takes a quoted string: starts "text"'),
        ("a {k: 5..1}", "line 1, column 10: range 5..1: the maximum is below the minimum"),
        ("a {k: 1..x}", "line 1, column 10: invalid number after '..'"),
        ("a {k: integer}", "line 1, column 7: invalid attribute value: Expecting value"),
        ("a {k: contains [1]}", "line 1, column 16: contains takes a string"),
    ],
)
def test_matcher_errors_name_line_and_column(text: str, message: str) -> None:
    with pytest.raises(ExpectedTreeError) as raised:
        parse_expected(text)
    first, line, caret = str(raised.value).splitlines()
    assert first.startswith(message)
    assert line == f"    {text}"
    column = int(re.search(r"column (\d+)", first).group(1))  # type: ignore[union-attr]
    assert caret == " " * (3 + column) + "^"


def test_a_string_matcher_keeps_line_breaks_escaped_so_it_stays_on_its_line() -> None:
    assert repr(StartsWith("a\u2028b")) == 'starts "a\\u2028b"'
    (line,) = parse_expected('x {k: starts "a\\u2028b"}')
    assert line.attributes["k"] == StartsWith("a\u2028b")
