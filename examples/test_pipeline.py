"""The document pipeline's traces, asserted with pytest-agenttrace.

Each test gets a fresh capture from the `agenttrace` fixture; the pipeline code
configures no TracerProvider of its own and its HTTP calls are traced by
`opentelemetry-instrumentation-requests` (see conftest.py).
"""

from __future__ import annotations

import contextvars

import pytest
from opentelemetry.trace import SpanKind, StatusCode
from pipeline import LLMUnavailableError, Services, orchestrator, process_document
from stub_api import StubAPI

from pytest_agenttrace import AgentTrace

DOCUMENT = {"id": "42", "content": "Refunds are issued within 14 days. When do orders ship?"}


def test_pipeline_trace_shape(agenttrace: AgentTrace, services: Services) -> None:
    result = process_document(DOCUMENT, services)

    assert result.passed
    # Without a `...` line the listed children are all the children: a new,
    # unreviewed span anywhere in the pipeline fails this test.
    agenttrace.assert_tree("""
        process_document {document.id: "42", document.size: 55, llm.tokens: *, validation.score: *}
          parse_intent {intent: "answer"}
          retrieval_agent {agent.name: "retrieval", agent.version: *}
            POST [client]
            vector_search {retrieval.top_k: 2}
          llm_agent {agent.name: "llm", agent.version: *, llm.attempts: 1}
            llm_call {llm.attempt: 1}
              POST [client]
          validation_agent {agent.name: "validation", agent.version: *}
    """)


def test_root_span_carries_the_searchable_attributes(
    agenttrace: AgentTrace, services: Services
) -> None:
    result = process_document(DOCUMENT, services)

    root = agenttrace.one("process_document")
    assert root.is_root
    assert root.attributes["document.id"] == "42"
    assert root.attributes["document.size"] == len(DOCUMENT["content"])
    assert root.attributes["llm.tokens"] == result.tokens
    assert root.attributes["validation.score"] == result.score
    # Every agent span says which agent, in which version, handled the document.
    for agent in agenttrace.find("*_agent"):
        assert agent.parent is root
        assert set(agent.attributes) >= {"agent.name", "agent.version"}, agent.name


def test_http_calls_are_client_spans_under_their_agent(
    agenttrace: AgentTrace, services: Services, stub_api: StubAPI
) -> None:
    process_document(DOCUMENT, services)

    calls = agenttrace.find("POST", kind=SpanKind.CLIENT)
    assert len(calls) == len(stub_api.requests) == 2
    embedding = agenttrace.one("POST", attributes={"http.url": f"{stub_api.url}/v1/embeddings"})
    assert embedding.parent is agenttrace.one("retrieval_agent")
    assert embedding.attributes["http.status_code"] == 200


def test_llm_agent_retries_a_503_and_the_retry_is_traced(
    agenttrace: AgentTrace, services: Services, stub_api: StubAPI
) -> None:
    stub_api.fail_next("/v1/completions", status=503)

    result = process_document(DOCUMENT, services)

    assert result.tokens > 0
    agenttrace.assert_tree("""
        process_document
          ...
          llm_agent {llm.attempts: 2}
            llm_call [x2]
              POST [client]
    """)
    failed = agenttrace.one("llm_call", status=StatusCode.ERROR)
    assert failed.attributes["llm.attempt"] == 1
    assert failed.children[0].attributes["http.status_code"] == 503
    assert agenttrace.one("llm_call", status=StatusCode.UNSET).attributes["llm.attempt"] == 2


def test_llm_outage_fails_the_document_visibly(
    agenttrace: AgentTrace, services: Services, stub_api: StubAPI
) -> None:
    stub_api.fail_next("/v1/completions", status=503, times=services.llm_attempts)

    with pytest.raises(LLMUnavailableError):
        process_document(DOCUMENT, services)

    # No validation ran, every attempt is there, and the error reaches the root.
    agenttrace.assert_tree("""
        process_document {document.id: "42"} [error]
          parse_intent
          retrieval_agent
            ...
          llm_agent [error]
            llm_call [x3, error]
              POST [client, error]
    """)


def test_concurrent_agents_stay_in_one_trace(
    agenttrace: AgentTrace, services: Services, stub_api: StubAPI
) -> None:
    # The stub holds each request until both are in flight: this passes only if
    # retrieval and generation really run at the same time.
    stub_api.rendezvous(parties=2)

    process_document(DOCUMENT, services, concurrent=True)

    # Which agent starts first varies from run to run; sibling order is ignored.
    agenttrace.assert_tree("""
        process_document
          parse_intent
          llm_agent
            llm_call
              POST [client]
          retrieval_agent
            >> POST [client]
            ...
          validation_agent
    """)
    assert len(agenttrace.traces) == 1
    retrieval, llm = agenttrace.one("retrieval_agent"), agenttrace.one("llm_agent")
    assert retrieval.start_time < llm.end_time and llm.start_time < retrieval.end_time


def test_a_lost_context_in_a_worker_thread_fragments_the_trace(
    agenttrace: AgentTrace, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulate the classic bug: the worker threads run without the caller's context.
    monkeypatch.setattr(orchestrator, "copy_context", contextvars.Context)

    process_document(DOCUMENT, services, concurrent=True)

    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_tree("""
            process_document
              ...
              retrieval_agent
              llm_agent
        """)
    assert "missing: retrieval_agent" in str(failure.value)
    # The agents became roots of traces of their own: "fragmented spaghetti".
    assert {root.name for root in agenttrace.roots} == {
        "process_document",
        "retrieval_agent",
        "llm_agent",
    }
    assert len(agenttrace.traces) == 3
