import json

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

tracer = trace.get_tracer("agents")


def agent_a():
    with tracer.start_as_current_span("publish validation", kind=SpanKind.PRODUCER):
        carrier = {}  # bug: propagate.inject(carrier) is missing
        return json.dumps({"payload": {"doc": "42"}, "ts": 1, "trace_context": carrier})


def agent_b(raw):
    message = json.loads(raw)
    ctx = propagate.extract(message["trace_context"])
    with tracer.start_as_current_span("agent_b_work", context=ctx, kind=SpanKind.CONSUMER):
        pass


def test_pipeline(agenttrace):
    agent_b(agent_a())  # no trace assertion: strict mode checks propagation anyway
