"""The Redis helpers behind the public `pytest_agenttrace.redis` (documented there)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Link, Span, SpanKind, TracerProvider

__all__ = [
    "Message",
    "ack",
    "decode",
    "encode",
    "pop",
    "publish",
    "push",
    "receive",
    "unwrap",
    "wrap",
    "xadd",
    "xreadgroup",
]

SYSTEM = "redis"
PAYLOAD = "payload"
TRACE_CONTEXT = "trace_context"
_TRACER_NAME = "pytest_agenttrace.redis"


class _TolerantGetter(Getter[Mapping[str, Any]]):
    """Reads any mapping; non-string values become text instead of crashing the propagator."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        if not isinstance(carrier, Mapping):  # a hostile message: the spy says what it was
            return None
        value = carrier.get(key)
        if value is None:
            return None
        if isinstance(value, bytes):
            return [value.decode("utf-8", "replace")]
        if isinstance(value, (list, tuple)):
            return [_text(item) for item in value] or None
        return [_text(value)]

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return [str(key) for key in carrier] if isinstance(carrier, Mapping) else []


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return repr(value)


_GETTER = _TolerantGetter()


def _tracer(tracer_provider: TracerProvider | None) -> trace.Tracer:
    return trace.get_tracer(_TRACER_NAME, tracer_provider=tracer_provider)


def _attributes(destination: str, operation: str, kind: str) -> dict[str, Any]:
    return {
        "messaging.system": SYSTEM,
        "messaging.destination.name": destination,
        "messaging.operation.name": operation,
        "messaging.operation.type": kind,
    }


# -- the message envelope -------------------------------------------------------------
def wrap(payload: Any, *, context: Context | None = None) -> dict[str, Any]:
    """``{"payload": payload, "trace_context": carrier}`` with the current (or given) context."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return {PAYLOAD: payload, TRACE_CONTEXT: carrier}


def encode(payload: Any, *, context: Context | None = None) -> str:
    """The wrapped message as JSON, ready for PUBLISH, LPUSH or a stream field."""
    return json.dumps(wrap(payload, context=context))


def decode(raw: Any) -> Any:
    """JSON text or bytes to Python; anything unreadable is returned as it is."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: "[" * 100000
            return raw
    return raw


def unwrap(raw: Any) -> tuple[Any, Context, Mapping[str, Any]]:
    """(payload, extracted context, carrier) from a wrapped message; never raises.

    A message without ``trace_context`` is itself used as the carrier, so the
    propagator spy reports its keys ("the carrier had no traceparent (keys:
    payload, ts)").
    """
    message = decode(raw)
    if isinstance(message, Mapping):
        carrier = message.get(TRACE_CONTEXT, message)
        payload = message.get(PAYLOAD, message) if TRACE_CONTEXT in message else message
    else:
        carrier, payload = {}, message
    try:
        # a non-mapping carrier goes to extract() as it is, so the propagator spy
        # can say what it was ("the carrier was a str, not a mapping...")
        context = propagate.extract(carrier, getter=_GETTER)
    except Exception:  # a custom propagator choking on a hostile carrier
        context = Context()
    if not isinstance(carrier, Mapping):
        carrier = {TRACE_CONTEXT: carrier}
    return payload, context, carrier


@dataclasses.dataclass
class Message:
    """A received message: its payload and the context its sender injected."""

    payload: Any
    context: Context
    carrier: Mapping[str, Any]
    destination: str
    id: str | None = None

    @property
    def span_context(self) -> trace.SpanContext | None:
        """The sender's span context, or None when the message carried none."""
        span_context = trace.get_current_span(self.context).get_span_context()
        return span_context if span_context.is_valid else None

    @contextlib.contextmanager
    def process(
        self,
        *,
        link: bool = False,
        name: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> Iterator[Span]:
        """The ``process {destination}`` CONSUMER span, made current.

        ``link=False``: a child of the sender's span (one trace). ``link=True``:
        a span in the receiver's own context with a span link to the sender,
        as the messaging conventions recommend for batches and long-lived work.
        """
        span_attributes = _attributes(self.destination, "process", "process")
        if self.id is not None:
            span_attributes["messaging.message.id"] = self.id
        span_attributes.update(attributes or {})
        sender = self.span_context
        if link:
            parent, links = None, [Link(sender)] if sender is not None else []
        else:
            parent, links = self.context, []
        with _tracer(tracer_provider).start_as_current_span(
            name or f"process {self.destination}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=span_attributes,
            links=links,
        ) as span:
            yield span


def _received(raw: Any, destination: Any, message_id: Any = None) -> Message:
    payload, context, carrier = unwrap(raw)
    return Message(
        payload,
        context,
        carrier,
        _text(destination),
        None if message_id is None else _text(message_id),
    )


@contextlib.contextmanager
def _producer_span(destination: str, tracer_provider: TracerProvider | None) -> Iterator[Span]:
    with _tracer(tracer_provider).start_as_current_span(
        f"publish {destination}",
        kind=SpanKind.PRODUCER,
        attributes=_attributes(destination, "publish", "send"),
    ) as span:
        yield span


# -- pub/sub ------------------------------------------------------------------------------
def publish(
    client: Any, channel: str, payload: Any, *, tracer_provider: TracerProvider | None = None
) -> int:
    """PUBLISH the wrapped payload inside a ``publish {channel}`` PRODUCER span.

    Returns the number of subscribers that received it.
    """
    with _producer_span(channel, tracer_provider):
        return int(client.publish(channel, encode(payload)))


def receive(pubsub: Any, *, timeout: float = 1.0) -> Message | None:
    """The next published message on a subscribed ``client.pubsub()``, or None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        # Subscribe confirmations come back as None here: keep waiting for a message.
        raw = pubsub.get_message(
            ignore_subscribe_messages=True, timeout=max(deadline - time.monotonic(), 0.0)
        )
        if raw is not None and raw.get("type") in ("message", "pmessage"):
            return _received(raw.get("data"), raw.get("channel"))
        if time.monotonic() >= deadline:
            return None


# -- lists as work queues (LPUSH / BRPOP) --------------------------------------------------
def push(
    client: Any, queue: str, payload: Any, *, tracer_provider: TracerProvider | None = None
) -> int:
    """LPUSH the wrapped payload inside a ``publish {queue}`` PRODUCER span; the queue length."""
    with _producer_span(queue, tracer_provider):
        return int(client.lpush(queue, encode(payload)))


def pop(client: Any, queue: str, *, timeout: float = 1.0) -> Message | None:
    """BRPOP the oldest job (first in, first out with `push`), or None on timeout.

    ``timeout=0`` polls without waiting (RPOP): to Redis, BRPOP 0 means wait forever.
    """
    if timeout <= 0:
        raw = client.rpop(queue)
        return None if raw is None else _received(raw, queue)
    popped = client.brpop([queue], timeout=timeout)
    if popped is None:
        return None
    key, raw = popped
    return _received(raw, key)


# -- streams (XADD / XREADGROUP) -------------------------------------------------------------
def xadd(
    client: Any, stream: str, payload: Any, *, tracer_provider: TracerProvider | None = None
) -> str:
    """XADD an entry ``{payload: json, trace_context: json}``; returns the entry id."""
    with _producer_span(stream, tracer_provider) as span:
        message = wrap(payload)
        entry_id = _text(
            client.xadd(
                stream,
                {
                    PAYLOAD: json.dumps(message[PAYLOAD]),
                    TRACE_CONTEXT: json.dumps(message[TRACE_CONTEXT]),
                },
            )
        )
        span.set_attribute("messaging.message.id", entry_id)
        return entry_id


def xreadgroup(
    client: Any,
    stream: str,
    group: str,
    consumer: str,
    *,
    count: int = 10,
    block_ms: int | None = 1000,
    create_group: bool = True,
) -> list[Message]:
    """New entries for this consumer group (created at the stream's start if missing)."""
    if create_group:
        _ensure_group(client, stream, group)
    response = client.xreadgroup(group, consumer, {stream: ">"}, count=count, block=block_ms)
    messages = []
    for key, entries in response or []:
        for entry_id, fields in entries:
            fields = {_text(k): v for k, v in (fields or {}).items()}
            message = {
                PAYLOAD: decode(fields.get(PAYLOAD)),
                TRACE_CONTEXT: decode(fields.get(TRACE_CONTEXT, "{}")),
            }
            if TRACE_CONTEXT not in fields:
                message = {key: decode(value) for key, value in fields.items()}
            messages.append(_received(message, key, entry_id))
    return messages


def ack(client: Any, message: Message, group: str) -> int:
    """XACK a stream message for its group."""
    if message.id is None:
        raise ValueError("only stream messages (from xreadgroup) can be acknowledged")
    return int(client.xack(message.destination, group, message.id))


def _ensure_group(client: Any, stream: str, group: str) -> None:
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except Exception as error:  # redis.ResponseError: BUSYGROUP, the group exists
        if "BUSYGROUP" not in str(error):
            raise
