"""An LLM agent behind HTTP: FastAPI on uvicorn, instrumented, exporting OTLP.

Started by a session fixture with `agenttrace_receiver.otlp_env()`; run with
OTEL_PROPAGATORS=baggage (no tracecontext) it is the misconfigured variant that ignores traceparent.
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

provider = TracerProvider(resource=Resource.create())
# one export per span: the answer leaves only after the span is at the receiver
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("llm-service")

app = FastAPI()


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/answer")
def answer(question: dict[str, str]) -> dict[str, str]:
    with tracer.start_as_current_span("llm_agent", attributes={"gen_ai.request.model": "stub"}):
        return {"answer": question.get("text", "")[:20]}


FastAPIInstrumentor.instrument_app(app, excluded_urls="health")
