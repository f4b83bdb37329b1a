"""The marks of a failed match, tied to spans (`TreeMark`), for the HTML report."""

from __future__ import annotations

from typing import Any

import pytest
from span_trees import make_forest, s

from pytest_agenttrace.tree._match import MARKS_ATTRIBUTE, TreeMark, assert_trace_tree

FOREST = make_forest(
    s(
        "process_document",
        s("retrieval_agent"),
        s("cache_lookup"),
        s("llm_call"),
        document__id="41",
    ),
)


def _failure(expected: str, **options: Any) -> AssertionError:
    with pytest.raises(AssertionError) as raised:
        assert_trace_tree(FOREST, expected, **options)
    return raised.value


def _key(name: str) -> tuple[int, int]:
    (found,) = FOREST.find(name)
    return found.trace_id, found.span_id


def test_every_mark_of_the_message_is_tied_to_its_span() -> None:
    failure = _failure(
        """
        process_document {document.id: "42"}
          retrieval_agent
          llm_call [x2]
          validation_agent
        audit
        """
    )
    assert type(failure) is AssertionError  # pytest prints "AssertionError", not a subclass
    marks = getattr(failure, MARKS_ATTRIBUTE)
    root = _key("process_document")
    assert marks == (
        TreeMark(root, 'document.id: expected "42", got "41"'),
        TreeMark(_key("cache_lookup"), "unexpected span"),
        TreeMark(_key("llm_call"), "count: expected x2, got 1"),
        TreeMark(root, "missing: validation_agent", missing=True),
        TreeMark(None, "missing: audit", missing=True),  # top level: under no span
    )
    for mark in marks:  # the same wording as the message
        assert mark.text in str(failure)


def test_identical_twins_each_keep_their_mark() -> None:
    # merged into one `[x2]` line in the message, still two spans in the report
    twins = make_forest(s("root", s("tool"), s("tool")))
    with pytest.raises(AssertionError) as raised:
        assert_trace_tree(twins, "root")
    marks = getattr(raised.value, MARKS_ATTRIBUTE)
    assert [mark.text for mark in marks] == ["unexpected span", "unexpected span"]
    assert len({mark.span for mark in marks}) == 2
    assert "tool [x2]" in str(raised.value)


def test_the_fixture_keeps_the_last_failure_s_marks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_it(agenttrace):
            agenttrace.tracer.start_span("one").end()
            with pytest.raises(AssertionError):
                agenttrace.assert_tree("two")
            assert [m.text for m in agenttrace._tree_marks] == ["unexpected span", "missing: two"]
            agenttrace.clear()
            assert agenttrace._tree_marks == ()
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
