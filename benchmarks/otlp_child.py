"""A child process that exports N spans over OTLP/HTTP protobuf (BatchSpanProcessor).

Prints the seconds from the first span to the end of provider.shutdown(), which
returns once every batch was answered: the export time a receiver imposes.
"""

from __future__ import annotations

import sys
import time

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def main() -> None:
    count = int(sys.argv[1])
    provider = TracerProvider()
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(), max_queue_size=count, max_export_batch_size=512)
    )
    tracer = provider.get_tracer("bench")
    started = time.perf_counter()
    with tracer.start_as_current_span("root"):
        for number in range(count - 1):
            with tracer.start_as_current_span("tool_call", attributes={"n": number}):
                pass
    provider.shutdown()
    print(time.perf_counter() - started)


if __name__ == "__main__":
    main()
