"""The validation agent in a worker process of its own, exporting its spans over OTLP.

`ProcessValidator.validate` is a drop-in for `validation.validate`: it sends the
job to `python -m pipeline.validation_process` as the field notes' message,
`{"payload": ..., "trace_context": carrier}`, on standard input, and reads the
verdict back. The worker extracts the context and does the work in a
`process validation` CONSUMER span; its OpenTelemetry SDK is configured from the
`OTEL_*` variables it is started with (in the tests: `agenttrace.otlp_env()`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from opentelemetry import propagate, trace

from .retrieval import Passage
from .validation import Verdict, validate

tracer = trace.get_tracer(__name__)
EXAMPLES = Path(__file__).resolve().parent.parent


class ProcessValidator:
    def __init__(self, env: Mapping[str, str], *, drop_context: bool = False) -> None:
        self.env = {**os.environ, **env, "PYTHONPATH": str(EXAMPLES)}
        self.drop_context = drop_context  # the broken variant: the worker ignores it

    def validate(self, document_id: str, answer: str, passages: Sequence[Passage]) -> Verdict:
        with tracer.start_as_current_span(
            "submit validation",
            kind=trace.SpanKind.PRODUCER,
            attributes={"messaging.destination.name": "validation"},
        ):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            job = {
                "payload": {
                    "document_id": document_id,
                    "answer": answer,
                    "passages": [[p.source, p.text, p.score] for p in passages],
                },
                "trace_context": {} if self.drop_context else carrier,
            }
            done = subprocess.run(
                [sys.executable, "-m", "pipeline.validation_process"],
                input=json.dumps(job),
                env=self.env,
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            )
        verdict = json.loads(done.stdout)
        return Verdict(score=verdict["score"], passed=verdict["passed"])


def work(job: Mapping[str, object]) -> dict[str, object]:
    """The worker's side: one job, under the context the message carried."""
    payload = job["payload"]
    assert isinstance(payload, dict)
    context = propagate.extract(job.get("trace_context") or {})
    with tracer.start_as_current_span(
        "process validation",
        context=context,
        kind=trace.SpanKind.CONSUMER,
        attributes={"messaging.destination.name": "validation"},
    ):
        passages = [Passage(*fields) for fields in payload["passages"]]
        verdict = validate(payload["document_id"], payload["answer"], passages)
    return {"score": verdict.score, "passed": verdict.passed}


def main() -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create())  # OTEL_SERVICE_NAME
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # OTEL_EXPORTER_OTLP_*
    trace.set_tracer_provider(provider)
    try:
        print(json.dumps(work(json.load(sys.stdin))))
    finally:
        provider.shutdown()  # flush before the orchestrator reads the verdict


if __name__ == "__main__":
    main()
