"""The validation agent as a service behind Redis pub/sub: the field notes' async hop.

The orchestrator side publishes ``{"payload": ..., "trace_context": carrier}`` on a
channel after ``propagate.inject(carrier)`` inside a ``publish validation``
PRODUCER span, then waits for the verdict on a reply list. The agent side
(`ValidationWorker`, a thread) extracts the carrier and runs `validate()` under a
``process validation`` CONSUMER span, so the agent's work joins the
orchestrator's trace.

`QueuedValidator.validate` has the signature of `validation.validate`, so the
orchestrator can use either (tests swap it in with monkeypatch).
`ForgetfulValidator` is the deliberately broken variant: it never injects the
context, the bug that fragments traces in production.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from .retrieval import Passage
from .validation import Verdict, validate

tracer = trace.get_tracer(__name__)


def _messaging(channel: str, operation: str) -> dict[str, str]:
    return {
        "messaging.system": "redis",
        "messaging.destination.name": channel,
        "messaging.operation.name": operation,
    }


class QueuedValidator:
    """The orchestrator's side: send the work over pub/sub, wait for the verdict."""

    def __init__(self, client: Any, channel: str = "validation", timeout: float = 5.0) -> None:
        self.client = client
        self.channel = channel
        self.timeout = timeout

    def validate(self, document_id: str, answer: str, passages: Sequence[Passage]) -> Verdict:
        reply_to = f"{self.channel}:verdicts:{document_id}"
        payload = {
            "document_id": document_id,
            "answer": answer,
            "passages": [{"source": p.source, "text": p.text} for p in passages],
            "reply_to": reply_to,
        }
        with tracer.start_as_current_span(
            "publish validation",
            kind=SpanKind.PRODUCER,
            attributes=_messaging(self.channel, "publish"),
        ):
            carrier = self.carrier()
            self.client.publish(
                self.channel, json.dumps({"payload": payload, "trace_context": carrier})
            )
        reply = self.client.brpop([reply_to], timeout=self.timeout)
        if reply is None:
            raise TimeoutError(f"no verdict on {reply_to} within {self.timeout} s")
        verdict = json.loads(reply[1])
        return Verdict(score=verdict["score"], passed=verdict["passed"])

    def carrier(self) -> dict[str, str]:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        return carrier


class ForgetfulValidator(QueuedValidator):
    """The broken variant: builds the carrier but never injects the context into it."""

    def carrier(self) -> dict[str, str]:
        return {}


class ValidationWorker:
    """The agent's side: a thread that serves validation requests from the channel."""

    def __init__(self, client: Any, channel: str = "validation") -> None:
        self.client = client
        self.channel = channel
        self._pubsub = client.pubsub()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="validation-worker", daemon=True)

    def __enter__(self) -> ValidationWorker:
        self._pubsub.subscribe(self.channel)
        # Wait for the subscription to be confirmed, or an early publish is lost.
        self._pubsub.get_message(timeout=1.0)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._pubsub.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            raw = self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
            if raw is not None and raw["type"] == "message":
                self.handle(json.loads(raw["data"]))

    def handle(self, message: dict[str, Any]) -> None:
        ctx = propagate.extract(message["trace_context"])
        with tracer.start_as_current_span(
            "process validation",
            context=ctx,
            kind=SpanKind.CONSUMER,
            attributes=_messaging(self.channel, "process"),
        ):
            work = message["payload"]
            passages = [Passage(p["source"], p["text"], 1.0) for p in work["passages"]]
            verdict = validate(work["document_id"], work["answer"], passages)
            self.client.lpush(
                work["reply_to"], json.dumps({"score": verdict.score, "passed": verdict.passed})
            )
