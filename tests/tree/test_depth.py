"""Agent loops that recurse (a planner calling itself) make traces thousands of levels
deep: every operation walks them with explicit stacks, never Python recursion."""

from __future__ import annotations

import sys

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pytest_agenttrace import SpanForest, assert_trace_tree, parse_expected, render_tree, span
from pytest_agenttrace.tree._match import (
    EXPLAIN_INDENT_LIMIT,
    EXPLAIN_LINE_LIMIT,
    trace_tree_matches,
)
from pytest_agenttrace.tree._model import format_expected

DEEP = 10_000  # ten times Python's default recursion limit


def chain(
    depth: int, leaf_attributes: dict[str, int] | None = None, *, numbered: bool = False
) -> list[ReadableSpan]:
    """planner > planner > ...; `numbered`: each `planner {depth: N}`, its own line."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("planner")
    opened = []
    context = None
    for level in range(depth):
        attributes = leaf_attributes if level == depth - 1 and leaf_attributes else {}
        if numbered:
            attributes = {"depth": level}
        opened.append(tracer.start_span("planner", context=context, attributes=attributes))
        context = trace.set_span_in_context(opened[-1])
    for each in reversed(opened):
        each.end()
    return list(exporter.get_finished_spans())


@pytest.fixture(scope="module")
def deep() -> SpanForest:
    assert sys.getrecursionlimit() < DEEP
    return SpanForest(chain(DEEP, {"step": 7}))


def test_a_deep_chain_matches_descendant_and_counted_expectations(deep: SpanForest) -> None:
    assert_trace_tree(deep, f"planner\n  >> planner [x{DEEP - 1}]\n    ...")
    assert_trace_tree(deep, "planner\n  >> planner {step: 7}\n  ...")


def test_a_deep_failure_is_explained_down_to_the_leaf(deep: SpanForest) -> None:
    with pytest.raises(AssertionError) as failure:
        assert_trace_tree(deep, "planner\n  >> planner {step: 8}\n  ...")
    assert "step: expected 8" in str(failure.value)


def test_a_failure_with_overlapping_descendant_pairs_is_bounded(deep: SpanForest) -> None:
    # every planner pairs with the leaf-only `>>` line by name, each with its chain
    # below: rendered in full that is DEEP**2 / 2 lines
    with pytest.raises(AssertionError) as failure:
        assert_trace_tree(deep, f"planner\n  >> planner [x{DEEP - 1}]")
    assert len(str(failure.value).splitlines()) < 2 * EXPLAIN_LINE_LIMIT


def test_the_complete_tree_of_a_deep_failure_is_cut_by_its_indentation(deep: SpanForest) -> None:
    # the misnamed root makes the whole chain unexpected: written out to 20,000
    # lines, each indented by its depth, that was 400 MB for the complete-tree file
    kept: list[str] = []

    def keep(text: str) -> str:
        kept.append(text)
        return "elsewhere"

    with pytest.raises(AssertionError):
        assert_trace_tree(deep, "misnamed_root\n  ...", keep_full_text=keep)
    (complete,) = kept
    lines = complete.splitlines()
    assert lines[0] == "planner   # ✗ unexpected span"
    depth_reached = max(len(line) - len(line.lstrip()) for line in lines) // 2
    # the levels' sum stays under the limit (the `...` one level below the last span)
    assert sum(range(depth_reached)) <= EXPLAIN_INDENT_LIMIT < sum(range(depth_reached + 2))
    assert any(line.strip() == "..." for line in lines)  # the cut pastes back as "more here"
    assert len(complete) < 25_000_000


def test_deep_renderings_parse_back_and_match() -> None:
    # a full rendering grows with the square of the depth (its indentation): 2,500
    # levels are 6 MB of text, and still 2.5 times the recursion limit deep
    depth = 2_500
    forest = SpanForest(chain(depth))
    for style in ("indent", "box"):
        text = render_tree(forest, style=style)
        assert len(text.splitlines()) == depth
        (root,) = parse_expected(text)
        assert trace_tree_matches(forest, text)
    assert format_expected([root]).count("\n") == depth - 1


def test_a_deep_builder_expectation(deep: SpanForest) -> None:
    node = span("planner", attributes={"step": 7})
    for _ in range(DEEP - 1):
        node = span("planner", node)
    assert_trace_tree(deep, node)
    assert_trace_tree(deep, node, ordered=True)


def test_every_capture_operation_on_a_deep_chain(agenttrace) -> None:  # type: ignore[no-untyped-def]
    tracer = agenttrace.tracer
    opened = []
    context = None
    for _ in range(DEEP):
        opened.append(tracer.start_span("planner", context=context))
        context = trace.set_span_in_context(opened[-1])
    for each in reversed(opened):
        each.end()
    agenttrace.assert_tree(f"planner\n  >> planner [x{DEEP - 1}]\n    ...")
    agenttrace.assert_single_trace()
    assert agenttrace.orphans == [] and agenttrace.broken_hops == []
    agenttrace.assert_no_outliving_children()
    agenttrace.assert_duration("planner", at_most=600)
    assert len(agenttrace.critical_path(agenttrace.roots[0])) >= 1
    agenttrace.assert_genai_conventions()
    agenttrace.assert_retries("planner", at_most=0)
    assert len(agenttrace.spans[-1].ancestors()) == DEEP - 1
    assert "planner" in agenttrace.render()


@pytest.mark.parametrize(("depth", "wrong"), [(600, 300), (DEEP, DEEP // 2), (DEEP, DEEP - 2)])
def test_a_wrong_line_deep_in_a_chain_is_found_and_said(depth: int, wrong: int) -> None:
    # Below the mismatch, the explanation pairs lines with spans that no match
    # reached: once answered by recursion, one level per call.
    spans = chain(depth, numbered=True)
    expected = render_tree(spans, style="indent").replace(
        f"planner {{depth: {wrong}}}", "planner {depth: -1}"
    )
    with pytest.raises(AssertionError) as failure:
        assert_trace_tree(spans, expected)
    message = str(failure.value)
    assert message.startswith("Trace tree does not match the expectation (1 difference):")
    assert f"depth: expected -1, got {wrong}" in message
    assert len(message.splitlines()) <= 30  # a path hundreds deep is elided in its middle
    if wrong > 4_000:  # below the part a failure renders: said as one comment, with where
        assert f"at depth {wrong:,} under planner {{depth: {wrong - 1}}}" in message
