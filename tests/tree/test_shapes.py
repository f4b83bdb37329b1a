"""Subtree shapes, and the matcher sharing answers among alike subtrees: spans that
differ in anything a line can check must never share one."""

from __future__ import annotations

import math
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode
from span_trees import Node, make_forest, s

from pytest_agenttrace import span
from pytest_agenttrace.capture._query import CapturedSpan
from pytest_agenttrace.tree._match import trace_tree_matches
from pytest_agenttrace.tree._shapes import MAX_SHARED_CHILDREN, SubtreeShapes


def numbers(*trees: Node) -> list[int]:
    """The shape number of each tree, all emitted as children of one root."""
    (root,) = make_forest(s("root", *trees)).roots
    shapes = SubtreeShapes()
    return [shapes.of(child) for child in root.children]


def jobs(*steps: Node) -> Any:
    """One `job` over the steps, in both start orders: whichever sibling the
    matcher answers first, its answer must not be taken for the other."""
    return [make_forest(s("job", *steps)), make_forest(s("job", *reversed(steps)))]


# --------------------------------------------------------------------------- numbers


def test_alike_subtrees_share_a_number() -> None:
    a, b = numbers(s("step", s("tool", n=1), k="v"), s("step", s("tool", n=1), k="v"))
    assert a == b


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (True, 1),  # equal in Python, different attribute values in OTel
        (1, 1.0),
        (0.0, -0.0),
        ("1", 1),
        ((1, 2), (2, 1)),
        ((True,), (1,)),
    ],
)
def test_attribute_values_of_other_types_or_signs_differ(first: Any, second: Any) -> None:
    a, b = numbers(s("step", s("tool", v=first)), s("step", s("tool", v=second)))
    assert a != b


def test_a_deeper_child_a_name_a_kind_or_the_child_order_differ() -> None:
    base = s("step", s("a"), s("b"))
    others = [
        s("step", s("a", s("c")), s("b")),  # a deeper child
        s("step", s("a"), s("x")),  # a name
        s("step", s("a", kind=SpanKind.CLIENT), s("b")),  # a kind
        s("step", s("a", status=StatusCode.ERROR), s("b")),  # a status
        s("step", s("b"), s("a")),  # the children's start order
        s("step", s("a")),  # a child fewer
    ]
    first, *rest = numbers(base, *others)
    assert first not in rest
    assert len(set(rest)) == len(rest)


def test_a_span_with_a_wide_fan_out_has_a_number_of_its_own() -> None:
    wide = [s("leaf") for _ in range(MAX_SHARED_CHILDREN + 1)]
    a, b = numbers(s("fan", *wide), s("fan", *wide))
    assert a != b


def test_a_chain_deeper_than_the_recursion_limit() -> None:
    (root,) = make_forest(s("planner")).roots
    chain = [CapturedSpan(root.readable) for _ in range(5_000)]
    for parent, child in zip(chain, chain[1:], strict=False):
        child.parent = parent
        parent._children = [child]
    shapes = SubtreeShapes()
    assert len({shapes.of(link) for link in chain}) == len(chain)  # each height its own


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # alike but for an attribute's type two levels down
        ((s("step", s("tool", flag=True)), s("step", s("tool", flag=1))), "tool {flag: true}"),
        # alike but for a child of the child
        ((s("step", s("tool", s("retry"))), s("step", s("tool"))), "tool\n      retry"),
        # alike but for a deeper span a `>>` line finds
        ((s("step", s("tool", s("POST"))), s("step", s("tool", s("GET")))), ">> POST"),
    ],
)
def test_alike_steps_do_not_share_an_answer(steps: tuple[Node, ...], expected: str) -> None:
    for forest in jobs(*steps):
        assert trace_tree_matches(forest, f"job\n  step\n    {expected}\n  step\n    ...")
        assert not trace_tree_matches(forest, f"job\n  step [x2]\n    {expected}")


def test_child_order_under_an_ordered_line_is_not_shared() -> None:
    for forest in jobs(s("step", s("a"), s("b")), s("step", s("b"), s("a"))):
        assert trace_tree_matches(forest, "job\n  step [x2]\n    a\n    b")
        assert not trace_tree_matches(forest, "job\n  step [x2, ordered]\n    a\n    b")


def test_events_below_a_line_keep_alike_spans_apart() -> None:
    with_event = Node("tool", events=[("retry", {})])
    for forest in jobs(s("step", with_event), s("step", s("tool"))):
        assert trace_tree_matches(forest, "job\n  step [x2]\n    tool")
        assert not trace_tree_matches(forest, "job\n  step [x2]\n    tool\n      @ retry")
        assert not trace_tree_matches(forest, "job\n  step [x2]\n    tool [no events]")
        assert not trace_tree_matches(
            forest, "job\n  step [x2]\n    tool\n    !>> tool [no events]"
        )


class _NegativeZero:
    """A matcher that tells -0.0 from 0.0 (a literal 0.0 takes both)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, float) and other == 0.0 and math.copysign(1, other) < 0

    def __repr__(self) -> str:
        return "negative zero"


def test_a_matcher_that_tells_negative_zero_apart() -> None:
    line = span("job", span("step", span("tool", attributes={"v": _NegativeZero()}), count=2))
    for forest in jobs(s("step", s("tool", v=-0.0)), s("step", s("tool", v=0.0))):
        assert trace_tree_matches(forest, "job\n  step [x2]\n    tool {v: 0.0}")
        assert not trace_tree_matches(forest, line)
    assert trace_tree_matches(make_forest(s("job", *[s("step", s("tool", v=-0.0))] * 2)), line)
