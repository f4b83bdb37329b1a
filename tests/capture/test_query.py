"""Queries: navigation, find() and one() with messages that help."""

from __future__ import annotations

import re

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

from pytest_agenttrace import AgentTrace
from pytest_agenttrace.capture._query import SpanForest

tracer = trace.get_tracer(__name__)


def run_pipeline() -> None:
    with tracer.start_as_current_span("process_document", attributes={"document.id": "42"}):
        with (
            tracer.start_as_current_span("retrieval_agent"),
            tracer.start_as_current_span("POST", kind=SpanKind.CLIENT) as post,
        ):
            post.set_attribute("http.response.status_code", 200)
        with tracer.start_as_current_span("llm_agent") as llm:
            llm.set_status(Status(StatusCode.ERROR, "rate limited"))
        with tracer.start_as_current_span("llm_agent", attributes={"attempt": 2}):
            pass
    with tracer.start_as_current_span("background_job"):
        pass


def test_navigation(agenttrace: AgentTrace) -> None:
    run_pipeline()
    root = agenttrace.one("process_document")
    assert [span.name for span in agenttrace.roots] == ["process_document", "background_job"]
    assert [span.name for span in root.children] == ["retrieval_agent", "llm_agent", "llm_agent"]
    assert [span.name for span in root.descendants()] == [
        "retrieval_agent",
        "POST",
        "llm_agent",
        "llm_agent",
    ]
    post = agenttrace.one("POST")
    assert post.parent is agenttrace.one("retrieval_agent")
    assert post.ancestors() == [post.parent, root]
    assert post.trace is root.trace
    assert len(agenttrace.traces) == 2
    assert post.readable.name == "POST"
    assert post.duration is not None and post.duration >= 0


def test_find_by_glob_regex_kind_status_and_attributes(agenttrace: AgentTrace) -> None:
    run_pipeline()
    assert [s.name for s in agenttrace.find("*_agent")] == [
        "retrieval_agent",
        "llm_agent",
        "llm_agent",
    ]
    assert [s.name for s in agenttrace.find(re.compile(r"(llm|retrieval)_\w+"))] == [
        "retrieval_agent",
        "llm_agent",
        "llm_agent",
    ]
    assert [s.name for s in agenttrace.find(kind="client")] == ["POST"]
    assert [s.name for s in agenttrace.find(kind=SpanKind.CLIENT)] == ["POST"]
    assert agenttrace.one(status="error").status_description == "rate limited"
    assert agenttrace.one("llm_agent", attributes={"attempt": 2}).status is StatusCode.UNSET


def test_find_rejects_unknown_kind_naming_the_valid_ones(agenttrace: AgentTrace) -> None:
    with pytest.raises(ValueError, match="unknown span kind 'clinet'; valid kinds: internal, "):
        agenttrace.find(kind="clinet")


def test_one_with_no_match_lists_near_misses(agenttrace: AgentTrace) -> None:
    run_pipeline()
    with pytest.raises(AssertionError) as error:
        agenttrace.one("llm_agnt")
    assert str(error.value) == (
        "Expected exactly one span matching (name='llm_agnt'), found none.\n"
        "Near misses:\n"
        "- llm_agent [error]\n"
        "- llm_agent {attempt: 2}"
    )


def test_one_with_attributes_that_differ_shows_the_same_named_spans(
    agenttrace: AgentTrace,
) -> None:
    run_pipeline()
    with pytest.raises(AssertionError) as error:
        agenttrace.one("process_document", attributes={"document.id": "41"})
    assert str(error.value).splitlines() == [
        "Expected exactly one span matching (name='process_document', "
        "attributes={'document.id': '41'}), found none.",
        "Near misses:",
        "- process_document {document.id: '42'} -- document.id: expected '41', got '42'",
    ]


def test_one_with_several_matches_lists_them(agenttrace: AgentTrace) -> None:
    run_pipeline()
    with pytest.raises(AssertionError) as error:
        agenttrace.one("llm_agent")
    assert str(error.value).splitlines() == [
        "Expected exactly one span matching (name='llm_agent'), found 2:",
        "- llm_agent [error]",
        "- llm_agent {attempt: 2}",
        "",
        "Narrow the query (attributes=..., kind=...) or use find() for all.",
    ]


def test_attribute_matchers_compare_with_eq_and_lists_match_tuples(
    agenttrace: AgentTrace,
) -> None:
    class Positive:
        def __eq__(self, other: object) -> bool:
            return isinstance(other, int) and other > 0

    class Exploding:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("boom")

    with tracer.start_as_current_span("s", attributes={"n": 3, "tags": ["a", "b"]}):
        pass
    assert agenttrace.find(attributes={"n": Positive(), "tags": ["a", "b"]})
    assert agenttrace.find(attributes={"n": Exploding()}) == []


def test_near_misses_say_what_differs(agenttrace: AgentTrace) -> None:
    run_pipeline()
    with pytest.raises(AssertionError) as error:
        agenttrace.one("POST", kind="server", attributes={"user.id": "u1"})
    assert str(error.value).splitlines()[2] == (
        "- POST [client] {http.response.status_code: 200} -- kind: expected server, got client; "
        "user.id: missing"
    )


def _readable(name: str, trace_id: int, span_id: int, parent: int | None = None) -> ReadableSpan:
    def context(span: int) -> SpanContext:
        return SpanContext(trace_id, span, is_remote=False)

    return ReadableSpan(
        name,
        context(span_id),
        parent=None if parent is None else context(parent),
        start_time=span_id,
        end_time=span_id + 1,
    )


def test_a_span_id_two_traces_share_links_each_child_within_its_own_trace() -> None:
    # span ids are looked up in one dict for the forest: one trace's span must
    # never become another trace's parent
    forest = SpanForest(
        [
            _readable("agent_a", 0xA, 7),
            _readable("agent_b", 0xB, 7),
            _readable("tool_a", 0xA, 8, parent=7),
            _readable("tool_b", 0xB, 9, parent=7),
            _readable("orphan_c", 0xC, 10, parent=7),
        ]
    )
    tools = {span.name: span.parent.name if span.parent else None for span in forest.spans}
    assert tools == {
        "agent_a": None,
        "agent_b": None,
        "tool_a": "agent_a",
        "tool_b": "agent_b",
        "orphan_c": None,
    }
    assert [forest.get(trace_id, 7).name for trace_id in (0xA, 0xB)] == ["agent_a", "agent_b"]
    assert forest.get(0xC, 7) is None
    assert [root.name for root in forest.roots] == ["agent_a", "agent_b", "orphan_c"]


def test_a_span_id_repeated_within_a_trace_takes_the_later_span() -> None:
    forest = SpanForest(
        [_readable("first", 0xA, 7), _readable("second", 0xA, 7), _readable("child", 0xA, 8, 7)]
    )
    assert forest.get(0xA, 7).name == "second"
    assert forest.one("child").parent.name == "second"
