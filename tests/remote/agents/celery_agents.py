"""A Celery app whose validation task runs in a real worker process.

The worker (role `worker`) exports its spans with the OTLP exporter configured by
`agenttrace_receiver.otlp_env()`; both sides use opentelemetry-instrumentation-celery,
with span links instead of parent-child when AGENTTRACE_CELERY_LINKS=1.
"""

from __future__ import annotations

import os

from celery import Celery
from opentelemetry import trace

BROKER = os.environ.get("AGENTTRACE_CELERY_BROKER", "redis://127.0.0.1:6379/14")
app = Celery("celery_agents", broker=BROKER, backend=BROKER)
app.conf.update(task_default_queue=os.environ.get("AGENTTRACE_CELERY_QUEUE", "agenttrace"))
tracer = trace.get_tracer("validator")


@app.task(name="validate")
def validate(document_id: str) -> str:
    with tracer.start_as_current_span(
        "validate_citations", attributes={"document.id": document_id}
    ):
        return "ok"


@app.task(name="reject")
def reject(document_id: str) -> str:
    raise ValueError(f"document {document_id} has no citations")


def instrument(use_span_links: bool) -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    CeleryInstrumentor().instrument(use_span_links=use_span_links)


if os.environ.get("AGENTTRACE_CELERY_ROLE") == "worker":
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    instrument(os.environ.get("AGENTTRACE_CELERY_LINKS") == "1")
