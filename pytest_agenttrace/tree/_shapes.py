"""Span subtrees numbered by shape, so that alike subtrees share one match answer.

Two spans get the same number when their subtrees agree on everything a line
without details can check: name, kind, status, service, attributes (with their
types: True and 1, 0.0 and -0.0 are different values) and the children's shapes
in start order. A balanced tree of alike siblings (`node {level: k}`) otherwise
compares every span with several lines, each pair on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..capture._query import CapturedSpan

# A span with more children than this gets a number of its own: a wide fan-out is
# rarely repeated, and reading every child's subtree would cost the widest traces most.
MAX_SHARED_CHILDREN = 64


class SubtreeShapes:
    """Numbers span subtrees on first use, bottom-up (no recursion: chains run deep)."""

    def __init__(self) -> None:
        self._owns: dict[Any, int] = {}  # a span's own fields -> their number
        self._numbers: dict[tuple[Any, ...], int] = {}  # own number, children's -> the shape
        self._of: dict[int, int] = {}  # id(span) -> its subtree's number

    def of(self, span: CapturedSpan) -> int:
        of = self._of
        known = of.get(id(span))
        if known is not None:
            return known
        order = [span]  # breadth first: reversed, every child comes before its parent
        for node in order:
            children = node.children
            if children and len(children) <= MAX_SHARED_CHILDREN:
                order.extend([child for child in children if id(child) not in of])
        numbers, owns = self._numbers, self._owns
        for node in reversed(order):
            children = node.children
            key: tuple[Any, ...]
            if len(children) > MAX_SHARED_CHILDREN:
                key = ("span", id(node))
            else:
                # ints only: the garbage collector stops tracking such tuples
                own = owns.setdefault(_own_key(node), len(owns))
                key = (own, *[of[id(child)] for child in children]) if children else (own,)
            of[id(node)] = numbers.setdefault(key, len(numbers))
        return of[id(span)]


def _own_key(span: CapturedSpan) -> Any:
    return (span.name, span.kind, span.status, span.service, _attributes_key(span.attributes))


def _attributes_key(attributes: Mapping[str, Any]) -> Any:
    return tuple([(key, _value_key(value)) for key, value in attributes.items()])


def _value_key(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        return kind, value.hex()  # -0.0 == 0.0, and a matcher may still tell them apart
    if kind is str or kind is int or kind is bool:
        return kind, value
    if kind is tuple or kind is list:
        return kind, tuple([_value_key(item) for item in value])
    return object()  # no other type is an OTel attribute value: equal to nothing, never shared
