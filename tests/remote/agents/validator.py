"""A validation agent in its own process, configured only by OTEL_* variables.

Run as `python validator.py CARRIER_JSON [--ignore-context]`, or under
`opentelemetry-instrument` (zero-code: the distro builds the provider and exporter).
"""

from __future__ import annotations

import json
import os
import sys

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode


def configure() -> trace.TracerProvider | None:
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return None  # opentelemetry-instrument set it up; it flushes at exit
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    provider = TracerProvider(resource=Resource.create())  # OTEL_SERVICE_NAME
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # OTEL_EXPORTER_*
    trace.set_tracer_provider(provider)
    return provider


def main() -> None:
    provider = configure()
    carrier = json.loads(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] != "-" else None
    if carrier is None:  # the environment-variable carrier: TRACEPARENT, TRACESTATE
        carrier = {key.lower(): value for key, value in os.environ.items()}
    context = None if "--ignore-context" in sys.argv else propagate.extract(carrier)
    tracer = trace.get_tracer("validator")
    with tracer.start_as_current_span(
        "validate_citations", context=context, kind=SpanKind.CONSUMER, attributes={"citations": 3}
    ) as span:
        with tracer.start_as_current_span("POST", kind=SpanKind.CLIENT) as call:
            call.set_attribute("http.request.method", "POST")
        span.add_event("checked", {"score": 0.93})
        if "--fail" in sys.argv:
            span.set_status(Status(StatusCode.ERROR, "citation 2 not found"))
    if provider is not None:
        provider.shutdown()  # flush: the receiver holds the spans before this returns


if __name__ == "__main__":
    main()
