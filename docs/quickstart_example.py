# --8<-- [start:example]
from opentelemetry import trace

tracer = trace.get_tracer(__name__)  # at import time, before any provider exists: fine


def summarise(document_id: str, text: str) -> str:
    attributes = {"document.id": document_id, "document.size": len(text)}
    with tracer.start_as_current_span("process_document", attributes=attributes):
        with tracer.start_as_current_span("llm_agent"):
            summary = text[:40]
        with tracer.start_as_current_span("validation_agent"):
            assert summary
    return summary


def test_summarise(agenttrace):
    summarise("42", "Refunds are issued within 14 days.")

    agenttrace.assert_tree("""
        process_document {document.id: "42", document.size: *}
          llm_agent
          validation_agent
    """)
    assert agenttrace.one("llm_agent").parent.name == "process_document"


# --8<-- [end:example]
