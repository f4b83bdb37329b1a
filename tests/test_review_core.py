"""Defects found reviewing the core (capture, query, expected-tree syntax, matcher)."""

from __future__ import annotations

from textwrap import dedent

import pytest
from span_trees import fails, make_forest, s

from pytest_agenttrace import ExpectedTreeError
from pytest_agenttrace.tree._match import assert_trace_tree, trace_tree_matches
from pytest_agenttrace.tree._render import render_tree


def pasted_tree(message: str) -> str:
    return message.split("\n\n")[1]


# --------------------------------------------------------------------------- attributes


def test_bool_and_int_attributes_are_different_values() -> None:
    # OTel keeps bool and int apart; Python's True == 1 must not leak into matching.
    forest = make_forest(s("root", flag=True, attempts=1))
    assert not trace_tree_matches(forest, "root {flag: 1}")
    assert not trace_tree_matches(forest, "root {attempts: true}")
    assert not trace_tree_matches(forest, "root {flag: [true]}") and trace_tree_matches(
        make_forest(s("root", flags=[True, False])), "root {flags: [true, false]}"
    )
    assert not trace_tree_matches(
        make_forest(s("root", flags=[True, False])), "root {flags: [1, 0]}"
    )
    assert forest.find(attributes={"flag": 1}) == []
    assert trace_tree_matches(forest, "root {flag: true, attempts: 1}")


def test_a_nan_attribute_matches_its_own_rendering() -> None:
    forest = make_forest(s("validate", score=float("nan")))
    assert trace_tree_matches(forest, render_tree(forest))


# --------------------------------------------------------------------------- parser


def test_a_trailing_tab_is_whitespace_not_part_of_the_name() -> None:
    forest = make_forest(s("agent", s("POST")))
    assert_trace_tree(forest, "agent\n  POST\t")
    assert_trace_tree(forest, "agent\t# the orchestrator\n  POST")


# --------------------------------------------------------------------------- ordered


def test_global_ordered_rejects_descendant_lines_up_front() -> None:
    # Whether or not the parent line matches, the malformed expectation is named.
    forest = make_forest(s("other"))
    with pytest.raises(ExpectedTreeError, match="ordered"):
        assert_trace_tree(forest, "root\n  >> x", ordered=True)
    with pytest.raises(ExpectedTreeError, match="ordered"):
        trace_tree_matches(forest, "root\n  >> x", ordered=True)


def test_ordered_failure_names_the_trailing_extra_not_the_order() -> None:
    forest = make_forest(s("root", s("a"), s("x"), s("b"), s("c")))
    message = fails(forest, "root [ordered]\n  a\n  ...\n  b")
    # "a, b" is the order they have: the message must show where `...` may match
    # (the trailing `c` is outside it), and place the unlisted spans in the tree.
    assert "children not in the expected order: a, ..., b" in message
    assert pasted_tree(message).splitlines()[1:] == ["  a", "  ...", "  b", "  ..."]
    assert trace_tree_matches(forest, pasted_tree(message))


def test_ordered_failure_tree_keeps_ellipsis_in_place_so_it_pastes_back() -> None:
    forest = make_forest(s("root", s("a"), s("x"), s("b"), s("a")))
    message = fails(forest, "root [ordered]\n  a\n  ...\n  b")
    assert trace_tree_matches(forest, pasted_tree(message))


def test_global_ordered_roots_out_of_order_show_a_difference() -> None:
    forest = make_forest(s("first"), s("second"))
    message = fails(forest, "second\nfirst", ordered=True)
    assert "(0 differences)" not in message
    assert "✗" in message


# --------------------------------------------------------------------------- messages


def test_count_difference_is_kept_for_a_span_paired_by_name() -> None:
    forest = make_forest(s("root", s("retry", ok=False)))
    message = fails(forest, "root\n  retry {ok: true} [x2]")
    assert "count: expected x2, got 1" in message
    assert "(2 differences)" in message


# --------------------------------------------------------------------------- API


def test_render_tree_documented_in_syntax_md_is_public() -> None:
    import pytest_agenttrace

    assert pytest_agenttrace.render_tree is render_tree


# --------------------------------------------------------------------------- plugin


def test_disabled_sdk_is_reported_instead_of_capturing_nothing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace

            def test_it(agenttrace):
                with trace.get_tracer(__name__).start_as_current_span("root"):
                    pass
                agenttrace.assert_tree("root")
            """
        )
    )
    result = pytester.runpytest_subprocess()
    result.stdout.fnmatch_lines(["*OTEL_SDK_DISABLED*"])


def test_tree_with_a_name_paired_span_beside_ellipsis_pastes_back() -> None:
    # Both retries failed: hiding the second under `...` would make the pasted
    # `retry {ok: false}` line count two spans, so both are shown under the line.
    forest = make_forest(s("agent", s("retry", ok=False), s("retry", ok=False)))
    message = fails(forest, "agent\n  retry {ok: true}\n  ...")
    assert "retry {ok: false} [x2]" in message
    assert trace_tree_matches(forest, pasted_tree(message))
