"""Matching and rendering run with the cyclic garbage collector paused, and leave
it as they found it."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

import pytest
from span_trees import make_forest, s

from pytest_agenttrace import span
from pytest_agenttrace.tree import _render
from pytest_agenttrace.tree._match import assert_trace_tree, trace_tree_matches
from pytest_agenttrace.tree._render import render_shape, render_tree

FOREST = make_forest(s("job", *[s("step", s("tool", n=index)) for index in range(20)]))


class CollectorSpy:
    """An attribute matcher that notes whether the collector was on each time it compares."""

    def __init__(self) -> None:
        self.seen: list[bool] = []

    def __eq__(self, other: object) -> bool:
        self.seen.append(gc.isenabled())
        return True

    def __repr__(self) -> str:
        return "spy"


def matching(spy: CollectorSpy) -> dict[str, Callable[[], Any]]:
    expected = span("job", span("step", span("tool", attributes={"n": spy}), count=20))
    wrong = span("job", span("step", span("tool", attributes={"n": spy}), count=19))

    def fail() -> None:
        with pytest.raises(AssertionError):
            assert_trace_tree(FOREST, wrong)

    return {
        "a match": lambda: assert_trace_tree(FOREST, expected),
        "a failure": fail,
        "trace_tree_matches": lambda: trace_tree_matches(FOREST, expected),
    }


@pytest.mark.parametrize("operation", ["a match", "a failure", "trace_tree_matches"])
def test_matching_runs_with_the_collector_paused(operation: str) -> None:
    spy = CollectorSpy()
    matching(spy)[operation]()
    assert spy.seen and not any(spy.seen)
    assert gc.isenabled()


@pytest.mark.parametrize("render", [render_tree, render_shape])
def test_rendering_runs_with_the_collector_paused(
    render: Callable[[Any], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = []
    real = _render.plain_lines

    def spying(*args: Any, **options: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args, **options)

    monkeypatch.setattr(_render, "plain_lines", spying)
    render(FOREST)
    assert seen and not any(seen)
    assert gc.isenabled()


@pytest.mark.parametrize("operation", ["a match", "a failure", "trace_tree_matches"])
def test_a_collector_turned_off_stays_off(operation: str) -> None:
    gc.disable()
    try:
        matching(CollectorSpy())[operation]()
        render_tree(FOREST)
        assert not gc.isenabled()
    finally:
        gc.enable()
