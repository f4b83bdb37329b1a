"""Executed examples for docs/queries.md."""

import re

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, Status, StatusCode

from pytest_agenttrace import PRESENT

tracer = trace.get_tracer(__name__)


# --8<-- [start:pipeline]
def run_pipeline():
    with tracer.start_as_current_span("process_document", attributes={"document.id": "42"}):
        with tracer.start_as_current_span("retrieval_agent", attributes={"agent.version": "1.4"}):
            with tracer.start_as_current_span("POST", kind=SpanKind.CLIENT) as http:
                http.set_attribute("http.status_code", 200)
        for attempt in (1, 2):
            with tracer.start_as_current_span("llm_call") as call:
                call.set_attribute("llm.attempt", attempt)
                if attempt == 1:
                    call.set_status(Status(StatusCode.ERROR, "HTTP 503"))


# --8<-- [end:pipeline]


# --8<-- [start:navigate]
def test_navigate(agenttrace):
    run_pipeline()

    # Finished spans, in start order.
    assert [span.name for span in agenttrace.spans] == [
        "process_document",
        "retrieval_agent",
        "POST",
        "llm_call",
        "llm_call",
    ]
    assert len(agenttrace.traces) == 1
    (root,) = agenttrace.roots
    assert [child.name for child in root.children] == ["retrieval_agent", "llm_call", "llm_call"]
    assert [span.name for span in root.descendants()][:2] == ["retrieval_agent", "POST"]

    post = agenttrace.one("POST")
    assert post.parent.name == "retrieval_agent"
    assert [span.name for span in post.ancestors()] == ["retrieval_agent", "process_document"]
    assert post.trace is root.trace
    assert isinstance(post.readable, ReadableSpan)  # the SDK span, for anything else


# --8<-- [end:navigate]


# --8<-- [start:find]
def test_find(agenttrace):
    run_pipeline()

    assert len(agenttrace.find("llm_*")) == 2  # glob: *, ?, [...]
    assert len(agenttrace.find(re.compile(r"(llm|http)_call"))) == 2  # regex: full match
    assert agenttrace.find(kind="client")[0].name == "POST"  # or SpanKind.CLIENT
    assert len(agenttrace.find("llm_call", status=StatusCode.ERROR)) == 1  # or "error"
    # Attributes: a subset match; PRESENT accepts any value.
    assert agenttrace.find(attributes={"llm.attempt": 2})[0].status is StatusCode.UNSET
    assert len(agenttrace.find(attributes={"agent.version": PRESENT})) == 1


# --8<-- [end:find]


# --8<-- [start:one]
def test_one(agenttrace):
    run_pipeline()

    retry = agenttrace.one("llm_call", attributes={"llm.attempt": 2})
    assert retry.duration >= 0

    with pytest.raises(AssertionError, match="found 2"):
        agenttrace.one("llm_call")  # ambiguous: the message lists both
    with pytest.raises(AssertionError, match="Near misses"):
        agenttrace.one("llm_cal")  # no match: the message lists the closest names


# --8<-- [end:one]
