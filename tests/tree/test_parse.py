from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.trace import SpanKind, StatusCode
from span_trees import make_forest, s

from pytest_agenttrace import ExpectedSpan, ExpectedTreeError, parse_expected, span
from pytest_agenttrace.capture._query import PRESENT
from pytest_agenttrace.tree._match import assert_trace_tree
from pytest_agenttrace.tree._model import format_expected
from pytest_agenttrace.tree._parse import _Parser, plain_span_line, to_expected_roots

FULL = """
    process_document {document.id: "42", agent.version: *}
      retrieval_agent
        POST [client]          # auto-instrumented
      llm_agent [x2]
      "GET /users/{id}" [server, error]
      ...
"""


def shape(nodes: list[ExpectedSpan]) -> list[tuple[object, ...]]:
    """Everything that matters about parsed lines, for comparisons."""
    return [
        (
            node.name,
            node.attributes,
            node.kind,
            node.status,
            node.min_count,
            node.max_count,
            node.ordered,
            node.descendant,
            node.gaps,
            shape(node.children),
        )
        for node in nodes
    ]


def test_parses_every_element() -> None:
    (root,) = parse_expected(FULL)
    assert root.name == "process_document"
    assert root.attributes == {"document.id": "42", "agent.version": PRESENT}
    assert root.attributes["agent.version"] is PRESENT
    retrieval, llm, get = root.children
    assert root.gaps == (3,)
    assert retrieval.children[0].name == "POST"
    assert retrieval.children[0].kind is SpanKind.CLIENT
    assert (llm.min_count, llm.max_count) == (2, 2)
    assert get.name == "GET /users/{id}"
    assert (get.kind, get.status) == (SpanKind.SERVER, StatusCode.ERROR)
    assert root.line_number == 2


def test_names_with_spaces_and_globs() -> None:
    (node,) = parse_expected("chat gpt-4o *  [client]")
    assert node.name == "chat gpt-4o *"


@pytest.mark.parametrize(
    ("flag", "low", "high"),
    [("x3", 3, 3), ("x2..5", 2, 5), ("x2..", 2, None), ("x0..1", 0, 1), ("X1..1", 1, 1)],
)
def test_count_flags(flag: str, low: int, high: int | None) -> None:
    (node,) = parse_expected(f"retry [{flag}]")
    assert (node.min_count, node.max_count) == (low, high)


def test_every_kind_and_status_flag() -> None:
    for kind in SpanKind:
        assert parse_expected(f"a [{kind.name.lower()}]")[0].kind is kind
    for status in StatusCode:
        assert parse_expected(f"a [{status.name}]")[0].status is status


def test_flags_combine_and_may_precede_attributes() -> None:
    (node,) = parse_expected("a [consumer, ok, x2, ordered] {k: 1}")
    assert (node.kind, node.status, node.min_count, node.ordered) == (
        SpanKind.CONSUMER,
        StatusCode.OK,
        2,
        True,
    )
    assert node.attributes == {"k": 1}


def test_attribute_values_are_json() -> None:
    (node,) = parse_expected(
        'a {n: 3, f: 1.5, yes: true, none: null, tags: ["x", 2], "odd key!": "v", s: "a}b"}'
    )
    assert node.attributes == {
        "n": 3,
        "f": 1.5,
        "yes": True,
        "none": None,
        "tags": ["x", 2],
        "odd key!": "v",
        "s": "a}b",
    }


def test_quoted_names_may_hold_syntax_characters() -> None:
    names = [node.name for node in parse_expected('"a {b}"\n"c [d]"\n"e # f"\n" padded "')]
    assert names == ["a {b}", "c [d]", "e # f", " padded "]


def test_comments_blank_lines_and_common_indent() -> None:
    text = """

        # a leading comment
        root   # trailing

          child
        # between
          ...
    """
    (root,) = parse_expected(text)
    assert [child.name for child in root.children] == ["child"]
    assert root.gaps == (1,)


def test_any_consistent_indentation() -> None:
    assert shape(parse_expected("a\n    b\n        c\n    d")) == shape(
        parse_expected("a\n b\n  c\n d")
    )


def test_ellipsis_positions_are_kept() -> None:
    (node,) = parse_expected("r\n  ...\n  a\n  ...\n  ...\n  b\n  ...")
    assert node.gaps == (0, 1, 2)


def test_top_level_ellipsis() -> None:
    assert to_expected_roots("a\n...").gaps == (1,)


def test_descendant_prefix() -> None:
    (node,) = parse_expected("agent\n  >> POST [client]\n  >>GET")
    assert [(child.name, child.descendant) for child in node.children] == [
        ("POST", True),
        ("GET", True),
    ]


BOX = """
process_document {document.id: "42"}
├── retrieval_agent
│   └── POST [client]
│
├── llm_agent [x2]
│   ├── chat
│   └── tool
│       └── ...
└── "GET /users/{id}" [server, error]
"""

INDENTED = """
process_document {document.id: "42"}
  retrieval_agent
    POST [client]
  llm_agent [x2]
    chat
    tool
      ...
  "GET /users/{id}" [server, error]
"""


def test_box_drawn_tree_parses_like_the_indented_one() -> None:
    assert shape(parse_expected(BOX)) == shape(parse_expected(INDENTED))


def test_format_expected_round_trips() -> None:
    parsed = parse_expected(FULL)
    again = format_expected(parsed)
    assert shape(parse_expected(again)) == shape(parsed)
    assert again.splitlines()[0] == 'process_document {document.id: "42", agent.version: *}'


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a\n    b\n  c",
            "line 3, column 3: inconsistent indentation: matches no outer level\n      c\n      ^",
        ),
        (
            "a [clinet]",
            "line 1, column 4: unknown flag 'clinet'; valid flags: internal, server, client, "
            "producer, consumer, unset, ok, error, ordered, x<N>, x<MIN>..<MAX>, x<MIN>.., "
            "service=<glob>, scope=<glob>, resource={...}, remote, no events, no links, "
            "as <label>\n"
            "    a [clinet]\n       ^",
        ),
        (
            "a {x: }",
            "line 1, column 7: invalid attribute value: Expecting value (values are JSON: "
            '"text", 42, true, ["a", "b"]; or * for any value; or a matcher: /regex/, '
            'starts "x", ends "x", contains "x", > 0, <= 9, 1..5, int, str, ...)'
            "\n    a {x: }\n          ^",
        ),
        ("  a\nb", "line 1, column 3: unexpected indentation of the first line\n      a\n      ^"),
        ("a\n\tb", "line 2, column 1: tab in indentation; indent with spaces\n    \tb\n    ^"),
        (
            "a {x: 1, x: 2}",
            "line 1, column 10: attribute 'x' given twice\n    a {x: 1, x: 2}\n             ^",
        ),
        (
            "a [client, server]",
            "line 1, column 12: kind given twice ('client' and 'server')\n    a [client, server]\n               ^",  # noqa: E501
        ),
        ("a\n  ...\n    b", "line 3, column 5: '...' cannot have children\n        b\n        ^"),
        (
            "a [ordered]\n  >> b",
            "line 2, column 3: a '>>' line cannot be a child of an [ordered] span: it matches "
            "at any depth, so it has no position among ordered siblings\n      >> b\n      ^",
        ),
        (
            "a {x 1}",
            "line 1, column 6: expected ':' after attribute key 'x'\n    a {x 1}\n         ^",
        ),
        (
            "a {x: 1 y: 2}",
            "line 1, column 9: expected ',' or '}' in the attributes\n    a {x: 1 y: 2}\n            ^",  # noqa: E501
        ),
        (
            "a [client",
            "line 1, column 10: unclosed '[': expected ']'\n    a [client\n             ^",
        ),
        ("a [client,]", "line 1, column 11: empty flag\n    a [client,]\n              ^"),
        ("{x: 1}", "line 1, column 1: expected a span name\n    {x: 1}\n    ^"),
        ('a "b"', 'line 1, column 3: quote the whole name: "..."\n    a "b"\n      ^'),
        (
            "a [x0]",
            "line 1, column 4: count x0: the maximum must be at least 1 (use x0..1 for an optional span)\n    a [x0]\n       ^",  # noqa: E501
        ),
        (
            "a [x3..2]",
            "line 1, column 4: count x3..2: the maximum 2 is below the minimum 3\n    a [x3..2]\n       ^",  # noqa: E501
        ),
        (
            "a {x: 1} junk",
            "line 1, column 10: unexpected text; a line is: name {attributes} [flags]\n    a {x: 1} junk\n             ^",  # noqa: E501
        ),
        (
            "a {1x: 1}",
            'line 1, column 4: expected an attribute key (dotted name or "quoted")\n    a {1x: 1}\n       ^',  # noqa: E501
        ),
        (">> ...", "line 1, column 1: '>>' cannot prefix '...'\n    >> ...\n    ^"),
        (
            "agent_[ab]",
            "line 1, column 7: '[' right after the name: put a space before flags, or quote "
            'a name that contains it ("agent_[...")\n    agent_[ab]\n          ^',
        ),
        (
            '"unterminated',
            'line 1, column 1: invalid quoted name: Unterminated string starting at\n    "unterminated\n    ^',  # noqa: E501
        ),
    ],
)
def test_errors_name_line_and_column(text: str, message: str) -> None:
    with pytest.raises(ExpectedTreeError) as raised:
        parse_expected(text)
    assert str(raised.value) == message


def test_error_is_a_value_error() -> None:
    assert issubclass(ExpectedTreeError, ValueError)


# --------------------------------------------------------------------------- builder


def test_builder_matches_the_text_form() -> None:
    built = span(
        "process_document",
        span("retrieval_agent", span("POST", kind="client")),
        span("llm_agent", count=2),
        span("GET /users/{id}", kind=SpanKind.SERVER, status="error"),
        ...,
        attributes={"document.id": "42", "agent.version": PRESENT},
    )
    assert shape([built]) == shape(parse_expected(FULL))


def test_builder_options() -> None:
    node = span(re.compile("a.*"), ..., span("b", descendant=True), count=(2, None), ordered=False)
    assert node.gaps == (0,)
    assert (node.min_count, node.max_count) == (2, None)
    assert node.children[0].descendant


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: span("a", kind="clinet"), "span('a'): kind=: unknown span kind 'clinet'"),
        (lambda: span("a", status="bad"), "span('a'): status=: unknown span status 'bad'"),
        (lambda: span("a", count=0), "span('a'): count 0: the maximum must be at least 1"),
        (lambda: span("a", count=(3, 2)), "span('a'): count (3, 2): the maximum 2 is below"),
        (lambda: span("a", count="2"), "span('a'): count must be an int or a (min, max) tuple"),
        (lambda: span("a", "b"), "span('a'): child #1 must be span(...) or ..., got 'b'"),
        (lambda: span(3), "span(): name must be a str or re.Pattern, got 3"),
        (lambda: span("a", attributes=[1]), "span('a'): attributes must be a mapping"),
        (lambda: span("a", attributes={1: 2}), "span('a'): attribute keys must be str"),
        (
            lambda: span("a", span("b", descendant=True), ordered=True),
            "descendant line '>> b' cannot be a child of an ordered parent",
        ),
    ],
)
def test_builder_errors_name_the_argument(call: object, message: str) -> None:
    with pytest.raises(ExpectedTreeError) as raised:
        call()  # type: ignore[operator]
    assert str(raised.value).startswith(message)


def test_expected_span_repr_is_the_text_form() -> None:
    assert repr(span("a", kind="client", count=(1, 3))) == "<ExpectedSpan 'a [client, x1..3]'>"


# --------------------------------------------------------------------------- parser


def test_a_trailing_tab_is_whitespace_not_part_of_the_name() -> None:
    forest = make_forest(s("agent", s("POST")))
    assert_trace_tree(forest, "agent\n  POST\t")
    assert_trace_tree(forest, "agent\t# the orchestrator\n  POST")


# -- '[' glued to a name ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind", "count"),
    [
        ("POST[client]", SpanKind.CLIENT, 1),
        ("retry[x3]", None, 3),
        ("a[server, x2]", SpanKind.SERVER, 2),
    ],
)
def test_valid_flags_glued_to_the_name_still_parse(
    text: str, kind: SpanKind | None, count: int
) -> None:
    # Accepted before the "'[' right after the name" error was added: still accepted.
    (node,) = parse_expected(text)
    assert node.kind is kind
    assert (node.min_count, node.max_count) == (count, count)


@pytest.mark.parametrize("text", ["agent_[ab]", "agent_[ab", "a[]", "a[client, bogus]"])
def test_a_glob_class_glued_to_the_name_gets_the_specific_error(text: str) -> None:
    with pytest.raises(ExpectedTreeError, match=r"'\[' right after the name"):
        parse_expected(text)


def test_glued_valid_flags_keep_their_own_errors() -> None:
    with pytest.raises(ExpectedTreeError, match="kind given twice"):
        parse_expected("a[client, server]")


# -- hostile input: only ExpectedTreeError, with line and caret ------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("root [x" + "9" * 5000 + "]", "too large"),
        ("root {n: " + "9" * 5000 + "}", "the number is too long"),
        ("root {n: " + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
    ],
    ids=["huge-count", "huge-integer", "deep-json"],
)
def test_hostile_values_are_expected_tree_errors(text: str, message: str) -> None:
    with pytest.raises(ExpectedTreeError, match=message) as raised:
        parse_expected(text)
    assert str(raised.value).startswith("line 1, column ")


@pytest.mark.parametrize(
    ("argument", "value"), [("ordered", "no"), ("descendant", "false"), ("ordered", 1)]
)
def test_builder_flags_must_be_booleans(argument: str, value: object) -> None:
    with pytest.raises(TypeError, match=f"span\\('root'\\): {argument}= must be True or False"):
        span("root", **{argument: value})


def test_builder_counts_must_not_be_booleans() -> None:
    with pytest.raises(ExpectedTreeError, match="count must be an int or a"):
        span("root", count=(True, 2))


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=60))
def test_any_text_parses_or_raises_expected_tree_error(text: str) -> None:
    with contextlib.suppress(ExpectedTreeError):  # anything else fails the test
        parse_expected(text)


@given(
    st.lists(
        st.sampled_from(
            ["a", "  b", ">> c", "...", "[x2]", "{k: 1}", "[", "{", '"q', "├── d", "#"]
        ),
        max_size=8,
    ).map("\n".join)
)
def test_near_miss_expectations_parse_or_raise_expected_tree_error(text: str) -> None:
    with contextlib.suppress(ExpectedTreeError):  # anything else fails the test
        parse_expected(text)


# The plain-line fast path (`plain_span_line`) must read a line exactly as the
# scanner does, or step aside: lines built mostly from plain pieces, some near
# misses among them, read by both.
PLAIN_PIECES = {
    "name": ["tool_call", "a", "agent.run", "db:query", "_", "a-b/c"],
    "key": ["k", "tool.index", "a_b", "x-y"],
    "value": ['"42"', '""', '"a, b: 1"', '"é ü"', "0", "-0", "7", "-12", "9" * 15],
    "space": ["", " ", "  ", "\t"],
    "end": [""],
}
NEAR_MISSES = {
    "name": ["GET /x", "*", "é", "a[b]", '"q"', ">> a", "..."],
    "key": ['"k"', "k k", "1k", ""],
    "value": [
        '"\\n"',
        "01",
        "1.5",
        "1e3",
        "1..3",
        "*",
        "true",
        "null",
        "int",
        '"x"y',
        "9" * 16,
        '"\t"',
        "[1]",
    ],
    "space": ["\u00a0"],
    "end": [" [x2]", " # note", "}", ","],
}


@st.composite
def near_plain_lines(draw: st.DrawFn) -> str:
    def piece(kind: str) -> str:
        near = draw(st.integers(min_value=0, max_value=9)) == 0
        return draw(st.sampled_from((NEAR_MISSES if near else PLAIN_PIECES)[kind]))

    line = piece("space") + piece("name")
    pairs = draw(st.integers(min_value=0, max_value=3))
    if pairs:
        written = [
            piece("space") + piece("key") + piece("space") + ":" + piece("space") + piece("value")
            for _ in range(pairs)
        ]
        line += " " + piece("space") + "{" + ",".join(written) + piece("space") + "}"
    return line + piece("space") + piece("end")


@given(near_plain_lines())
def test_plain_lines_read_as_the_scanner_reads_them(line: str) -> None:
    column = len(line) - len(line.lstrip(" \t"))
    fast = plain_span_line(line, column, 1)
    if fast is None:
        return  # not plain: the scanner alone reads it
    slow = _Parser(line)._scan_line(1, line, column)
    assert isinstance(slow, ExpectedSpan)
    assert shape([fast]) == shape([slow])
    assert [type(value) for value in fast.attributes.values()] == [
        type(value) for value in slow.attributes.values()
    ]


@pytest.mark.parametrize(
    ("line", "plain"),
    [
        ('tool_call {tool.index: 5, document.id: "42"}', True),
        ("  agent_01", True),
        ("a {k: 1, k: 2}", False),  # the scanner says "given twice"
        ("a {k: 1..3}", False),
        ("a [client]", False),
        ("a # note", False),
    ],
)
def test_plain_line_fast_path_takes_plain_lines_only(line: str, plain: bool) -> None:
    column = len(line) - len(line.lstrip(" "))
    assert (plain_span_line(line, column, 1) is not None) is plain


def _parse_error(text: str) -> str:
    with pytest.raises(ExpectedTreeError) as raised:
        parse_expected(text)
    return str(raised.value)


def test_a_long_line_shows_a_window_with_the_caret_under_the_fault() -> None:
    line = "agent {" + ", ".join(f"k{n}: {n}" for n in range(2_000)) + ", bad: @}"
    message = _parse_error(line)
    _, shown, caret = message.splitlines()
    assert len(shown) < 300
    assert shown[caret.index("^")] == "@"
    assert shown.startswith("    …")


def test_a_number_too_long_to_read_says_so_in_the_syntax_terms() -> None:
    message = _parse_error("agent {n: " + "9" * 5_000 + "}")
    assert len(message) < 600
    assert "the number is too long (more than 4,300 digits) for an attribute value" in message
    assert "sys.set_int_max_str_digits" not in message
    _, shown, caret = message.splitlines()
    assert shown[caret.index("^")] == "9" and shown[caret.index("^") - 2] == ":"


def test_a_count_too_large_names_the_largest() -> None:
    message = _parse_error("agent [x99999999999]")
    assert "count x99999999999…: too large (the largest count is 999,999,999)" in message
    parse_expected("agent [x999999999]")
