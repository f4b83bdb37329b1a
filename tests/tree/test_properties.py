"""Properties of render/parse/match over random span trees (Hypothesis)."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.trace import StatusCode
from span_trees import Node, emit

from pytest_agenttrace import strategies as ats
from pytest_agenttrace.strategies import SpanTree
from pytest_agenttrace.tree._match import _Flow, assert_trace_tree, trace_tree_matches
from pytest_agenttrace.tree._model import format_expected
from pytest_agenttrace.tree._parse import parse_expected
from pytest_agenttrace.tree._render import render_tree

NAMES = ["a", "b", "llm_call", "GET /users/{id}", "chat model", "x[1]*"]
KEYS = ["k", "user.id", "odd key"]
VALUES = st.one_of(
    st.integers(-5, 5),
    st.sampled_from(["", "v", 'q"uote', "42"]),
    st.booleans(),
    st.lists(st.sampled_from(["p", "q"]), min_size=1, max_size=2).map(tuple),
)


# span_trees.emit makes real spans of them with explicit start times (the order given)
FORESTS = st.lists(
    ats.span_trees(
        names=st.sampled_from(NAMES),
        statuses=st.sampled_from([StatusCode.UNSET, StatusCode.ERROR, StatusCode.OK]),
        attributes=st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=2),
        max_depth=4,
        max_width=3,
    ),
    min_size=1,
    max_size=2,
)


def all_nodes(roots: list[SpanTree]) -> list[SpanTree]:
    found = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node.children)
    return found


def copy_tree(node: SpanTree) -> SpanTree:
    return replace(
        node, attributes=dict(node.attributes), children=[copy_tree(c) for c in node.children]
    )


@settings(max_examples=100, deadline=None)
@given(FORESTS)
def test_render_parse_render_is_stable(roots: list[SpanTree]) -> None:
    forest = emit(roots)
    text = render_tree(forest)
    assert format_expected(parse_expected(text)) == text
    box = render_tree(forest, "box")
    assert format_expected(parse_expected(box)) == text


@settings(max_examples=100, deadline=None)
@given(FORESTS)
def test_every_trace_matches_its_own_rendering(roots: list[SpanTree]) -> None:
    forest = emit(roots)
    assert_trace_tree(forest, render_tree(forest))
    assert_trace_tree(forest, render_tree(forest, "box"))
    assert_trace_tree(forest, render_tree(forest), ordered=True)


@settings(max_examples=100, deadline=None)
@given(FORESTS, st.data())
def test_a_single_mutation_fails(roots: list[SpanTree], data: st.DataObject) -> None:
    expectation = render_tree(emit(roots))
    mutated = [copy_tree(root) for root in roots]
    candidates = all_nodes(mutated)
    target = data.draw(st.sampled_from(candidates))
    options = ["rename"]
    if target.children:
        options.append("drop_child")
    if target.attributes:
        options.append("change_attribute")
    mutation = data.draw(st.sampled_from(options))
    if mutation == "rename":
        target.name += "_renamed"
    elif mutation == "drop_child":
        target.children.pop(data.draw(st.integers(0, len(target.children) - 1)))
    else:
        key = data.draw(st.sampled_from(sorted(target.attributes)))
        target.attributes[key] = "zz-mutated"
    forest = emit(mutated)
    assert not trace_tree_matches(forest, expectation)
    # ...and the failure message's tree is itself a passing expectation.
    try:
        assert_trace_tree(forest, expectation)
    except AssertionError as error:
        tree = str(error).split("\n\n")[1]
        if "missing:" not in tree:
            assert_trace_tree(forest, tree)


# --------------------------------------------------------------------------- the flow


@st.composite
def assignment_problems(draw: st.DrawFn) -> tuple[Any, ...]:
    line_count = draw(st.integers(1, 3))
    group_sizes = draw(st.lists(st.integers(1, 2), min_size=0, max_size=4))
    groups = [g for g, size in enumerate(group_sizes) for _ in range(size)]
    low, high = [], []
    for _ in range(line_count):
        minimum = draw(st.integers(0, 2))
        maximum = draw(st.one_of(st.none(), st.integers(max(minimum, 1), 3)))
        low.append(minimum)
        high.append(float("inf") if maximum is None else maximum)
    line_items = [
        sorted(draw(st.sets(st.sampled_from(range(len(groups))), max_size=len(groups))))
        if groups
        else []
        for _ in range(line_count)
    ]
    return low, high, line_items, groups, len(group_sizes)


def brute_force(
    low: list[int],
    high: list[float],
    line_items: list[list[int]],
    groups: list[int],
    group_count: int,
    exact: bool,
) -> bool:
    options = [
        [-1] + [line for line, items in enumerate(line_items) if item in items]
        for item in range(len(groups))
    ]
    for choice in itertools.product(*options):
        loads = [choice.count(line) for line in range(len(low))]
        if any(not low[i] <= loads[i] <= high[i] for i in range(len(low))):
            continue
        covered = {groups[item] for item, line in enumerate(choice) if line >= 0}
        if not exact or len(covered) == group_count:
            return True
    return False


@settings(max_examples=300, deadline=None)
@given(assignment_problems(), st.booleans())
def test_flow_agrees_with_brute_force(problem: tuple[Any, ...], exact: bool) -> None:
    low, high, line_items, groups, group_count = problem
    flow = _Flow(low, high, line_items, groups, group_count)
    found = flow.meet_minimums() and (not exact or flow.cover_groups())
    assert found == brute_force(low, high, line_items, groups, group_count, exact)
    if found:
        assert all(low[i] <= flow.load[i] <= high[i] for i in range(len(low)))


def mutate(roots: list[SpanTree], data: st.DataObject) -> list[SpanTree]:
    """A copy with up to two edits: renamed, duplicated or dropped spans, changed values."""
    mutated = [copy_tree(root) for root in roots]
    for _ in range(data.draw(st.integers(0, 2))):
        target = data.draw(st.sampled_from(all_nodes(mutated)))
        edit = data.draw(st.sampled_from(["rename", "duplicate_child", "drop_child", "value"]))
        if edit == "rename":
            target.name = data.draw(st.sampled_from(NAMES))
        elif edit == "duplicate_child" and target.children:
            target.children.append(copy_tree(data.draw(st.sampled_from(target.children))))
        elif edit == "drop_child" and target.children:
            target.children.pop(data.draw(st.integers(0, len(target.children) - 1)))
        elif edit == "value" and target.attributes:
            key = data.draw(st.sampled_from(sorted(target.attributes)))
            target.attributes[key] = data.draw(VALUES)
    return mutated


@settings(max_examples=300, deadline=None)
@given(FORESTS, st.data())
def test_failure_trees_paste_back_with_gaps(roots: list[SpanTree], data: st.DataObject) -> None:
    # An expectation with `...` gaps sprinkled in, against an edited trace: when it
    # fails, the printed tree must be a passing expectation for that trace.
    lines = []
    for line in render_tree(emit(roots)).splitlines():
        lines.append(line)
        if data.draw(st.booleans()):
            indent = len(line) - len(line.lstrip(" "))
            lines.append(" " * (indent + 2) + "...")
    expectation = "\n".join(lines)
    forest = emit(mutate(roots, data))
    try:
        assert_trace_tree(forest, expectation)
    except AssertionError as error:
        tree = str(error).split("\n\n")[1]
        if "missing:" not in tree:
            assert_trace_tree(forest, tree)


def test_characters_that_split_lines_paste_back() -> None:
    # str.splitlines() breaks at \x85 and \u2028, which JSON leaves raw
    tree = SpanTree("a\x85b", attributes={"odd\u2028key": ["\x85"], "k": "x\u2029y\nz"})
    forest = emit([tree])
    text = render_tree(forest)
    assert len(text.splitlines()) == 1
    assert_trace_tree(forest, text)
    assert_trace_tree(forest, render_tree(forest, "box"))


# ------------------------------------------------------------ events, links, matchers

VOLATILE = st.sampled_from(
    [
        "http://127.0.0.1:8080/x",
        "0b7c5f4e-6a59-4b7e-9f8c-2d5a8e1f3c11",
        "deadbeefdeadbeef",
        "2026-12-01T11:00:00Z",
        "localhost",
        "api.example.com:443",
    ]
)
DETAIL_KEYS = ["k", "server.port", "odd key", "exception.stacktrace"]
DETAIL_ATTRIBUTES = st.dictionaries(
    st.sampled_from(DETAIL_KEYS), st.one_of(VALUES, VOLATILE), max_size=2
)
EVENT_NAMES = ["exception", "retry", "gen_ai.choice", "odd*name"]


def preorder(roots: list[Node]) -> list[Node]:
    """The nodes in the order `emit` starts them (a link may point at an earlier one)."""
    found: list[Node] = []
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(reversed(node.children))
    return found


def as_node(tree: SpanTree) -> Node:
    """A strategies.SpanTree as the tests' Node, which also carries events and links."""
    children = [as_node(child) for child in tree.children]
    return Node(tree.name, children, dict(tree.attributes), tree.kind, tree.status)


@st.composite
def detailed_forests(draw: st.DrawFn) -> list[Node]:
    roots = [as_node(tree) for tree in draw(FORESTS)]
    order = preorder(roots)
    for index, node in enumerate(order):
        node.attributes.update(draw(DETAIL_ATTRIBUTES))
        events = st.tuples(st.sampled_from(EVENT_NAMES), DETAIL_ATTRIBUTES)
        node.events = draw(st.lists(events, max_size=2))
        if index:
            links = st.tuples(st.sampled_from(order[:index]), DETAIL_ATTRIBUTES)
            node.links = draw(st.lists(links, max_size=2))
    return roots


@settings(max_examples=100, deadline=None)
@given(detailed_forests())
def test_events_links_and_matchers_round_trip(roots: list[Node]) -> None:
    forest = emit(roots)
    text = render_tree(forest, events=True, links=True)
    assert format_expected(parse_expected(text)) == text
    box = render_tree(forest, "box", events=True, links=True)
    assert format_expected(parse_expected(box)) == text
    assert_trace_tree(forest, text)
    assert_trace_tree(forest, box)
    assert_trace_tree(forest, text, ordered=True)


@settings(max_examples=100, deadline=None)
@given(detailed_forests(), st.data())
def test_a_changed_event_or_link_fails(roots: list[Node], data: st.DataObject) -> None:
    expectation = render_tree(emit(roots), events=True, links=True)
    with_details = [node for node in preorder(roots) if node.events or node.links]
    if not with_details:
        return
    target = data.draw(st.sampled_from(with_details))
    options = (["rename_event", "drop_event"] if target.events else []) + (
        ["drop_link"] if target.links else []
    )
    edit = data.draw(st.sampled_from(options))
    if edit == "rename_event":
        name, attributes = target.events[0]
        target.events[0] = (name + "_renamed", attributes)
    elif edit == "drop_event":
        target.events.pop()
    else:
        target.links.pop()
    assert not trace_tree_matches(emit(roots), expectation)


MATCHER_TEXTS = st.one_of(
    st.builds(lambda p: f"/{p}/", st.sampled_from(["^a", "b$", "a.c", "^http:\\/\\/x", "\\d+"])),
    st.builds(
        lambda word, text: f"{word} {json.dumps(text)}",
        st.sampled_from(["starts", "ends", "contains"]),
        st.text(alphabet='ab/"\\ ', max_size=3),
    ),
    st.builds(
        lambda op, n: f"{op} {json.dumps(n)}",
        st.sampled_from([">", ">=", "<", "<="]),
        st.one_of(st.integers(-3, 3), st.sampled_from([0.5, -1.5])),
    ),
    st.builds(lambda a, b: f"{min(a, b)}..{max(a, b)}", st.integers(-3, 3), st.integers(-3, 3)),
    st.sampled_from(["int", "float", "number", "str", "bool", "list"]),
)
SAMPLE_VALUES = st.one_of(
    st.integers(-4, 4),
    st.floats(-4, 4, allow_nan=False),
    st.booleans(),
    st.text(alphabet='abc/"\\ 1x', max_size=5),
    st.lists(st.sampled_from(["a", "b", 1]), max_size=2).map(tuple),
)


@settings(max_examples=300, deadline=None)
@given(MATCHER_TEXTS, SAMPLE_VALUES)
def test_matcher_text_round_trips_and_agrees_with_its_builder(text: str, value: Any) -> None:
    matcher = parse_expected(f"a {{k: {text}}}")[0].attributes["k"]
    assert (
        repr(matcher) == text
        or parse_expected(f"a {{k: {matcher!r}}}")[0].attributes["k"] == matcher
    )
    again = parse_expected(f"a {{k: {matcher!r}}}")[0].attributes["k"]
    assert (matcher == value) is (again == value)
    forest = emit([Node("a", attributes={"k": value})])
    assert trace_tree_matches(forest, f"a {{k: {text}}}") is (matcher == value)
