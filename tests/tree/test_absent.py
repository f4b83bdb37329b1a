"""`!>>` lines: no span matching the line at any depth below its parent."""

from __future__ import annotations

from span_trees import fails, make_forest, s

from pytest_agenttrace import span
from pytest_agenttrace.tree._match import assert_trace_tree, trace_tree_matches
from pytest_agenttrace.tree._model import format_expected
from pytest_agenttrace.tree._parse import parse_expected

FOREST = make_forest(
    s(
        "handle",
        s("cache_hit", s("serialize", s("encode"))),
        s("cache_miss", s("fetch", s("retry", attempt=1), s("retry", attempt=2))),
    ),
    s("invoke_agent", s("execute_tool", tool="search")),
)


def test_no_span_below_matches() -> None:
    assert_trace_tree(
        FOREST,
        """
        handle
          cache_hit
            !>> retry
            ...
          cache_miss
            !>> retry {attempt: > 2}
            ...
        invoke_agent
          ...
        """,
    )


def test_a_span_below_at_any_depth_fails_and_is_named() -> None:
    message = fails(FOREST, "handle\n  !>> retry\n  ...\ninvoke_agent\n  ...")
    assert message.splitlines()[2] == (
        "handle   # ✗ !>> retry: found 2 (retry < fetch < cache_miss < handle)"
    )
    assert not trace_tree_matches(FOREST, "handle\n  !>> encode\n  ...\ninvoke_agent\n  ...")


def test_at_the_top_level_it_covers_every_span() -> None:
    assert trace_tree_matches(FOREST, "!>> chat\nhandle\n  ...\ninvoke_agent\n  ...")
    message = fails(FOREST, '!>> execute_tool {tool: "search"}\nhandle\n  ...\ninvoke_agent\n  ...')
    assert '# ✗ !>> execute_tool {tool: "search"}: found 1 (execute_tool < invoke_agent)' in (
        message
    )


def test_absent_lines_are_not_children_nor_positions() -> None:
    # the listed children stay exact, and an ordered parent may hold a `!>>` line
    assert trace_tree_matches(
        FOREST,
        "handle [ordered]\n  !>> x\n  cache_hit\n    ...\n  cache_miss\n    ...\n"
        "invoke_agent\n  ...",
    )
    assert not trace_tree_matches(
        FOREST, "handle\n  !>> x\n  cache_hit\n    ...\ninvoke_agent\n  ..."
    )


def test_the_builder_and_the_text_form_agree() -> None:
    built = span("cache_hit", span("retry", absent=True), ...)
    text = "cache_hit\n  !>> retry\n  ..."
    assert format_expected([built]) == text
    assert format_expected(parse_expected(text)) == text
    forest = make_forest(s("cache_hit", s("serialize")))
    assert_trace_tree(forest, built)
    assert not trace_tree_matches(make_forest(s("cache_hit", s("a", s("retry")))), built)
