"""The validation agent in a worker process: one trace across the process boundary.

The worker exports its spans over OTLP to the plugin's receiver
(`agenttrace.otlp_env()`), so the same assertions hold as for in-process agents.
"""

from __future__ import annotations

import pytest
from pipeline import Services, orchestrator, process_document
from pipeline.validation_process import ProcessValidator

from pytest_agenttrace import AgentTrace

DOCUMENT = {"id": "42", "content": "Refunds are issued within 14 days. When do orders ship?"}


def test_validation_in_a_worker_process_joins_the_pipeline_trace(
    agenttrace: AgentTrace, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = ProcessValidator(agenttrace.otlp_env(service_name="validation-worker"))
    monkeypatch.setattr(orchestrator, "validate", worker.validate)

    result = process_document(DOCUMENT, services)

    assert result.passed
    agenttrace.assert_single_trace()
    agenttrace.assert_propagated("submit validation", "process validation", via="parent")
    agenttrace.assert_tree("""
        process_document {document.id: "42", validation.score: *}
          parse_intent
          retrieval_agent
            ...
          llm_agent
            ...
          submit validation [producer]
            process validation [consumer, service=validation-worker]
              validation_agent {agent.version: "0.9.2", validation.passed: true}
    """)
    assert agenttrace.one("validation_agent").received


def test_a_worker_that_loses_the_context_is_named(
    agenttrace: AgentTrace, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = ProcessValidator(
        agenttrace.otlp_env(service_name="validation-worker"), drop_context=True
    )
    monkeypatch.setattr(orchestrator, "validate", worker.validate)

    process_document(DOCUMENT, services)

    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_single_trace()
    message = str(failure.value)
    assert "`process validation` [consumer] (service 'validation-worker')" in message
    assert "most likely sender: `submit validation` [producer]" in message
