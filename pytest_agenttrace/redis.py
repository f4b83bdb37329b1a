"""Carry trace context through Redis: pub/sub, list work queues and streams.

The field-notes pattern: the sender wraps its payload as
``{"payload": ..., "trace_context": carrier}`` after ``propagate.inject(carrier)``
inside a ``publish {destination}`` PRODUCER span; the receiver extracts the
carrier and does its work in a ``process {destination}`` CONSUMER span, either
as a child of the sender (``link=False``, the default) or in its own trace with
a span link to the sender (``link=True``). Attributes follow the OpenTelemetry
messaging conventions (``messaging.system=redis``,
``messaging.destination.name``, ``messaging.operation.*``).

Every function takes any redis-py compatible client (``redis.Redis``,
``fakeredis.FakeRedis``); receiving never raises on a malformed message: the
message's payload is what could be read, and its context is empty, so the
propagator spy's diagnosis says what was wrong.
"""

from __future__ import annotations

from .propagation._redis import (
    Message,
    ack,
    decode,
    encode,
    pop,
    publish,
    push,
    receive,
    unwrap,
    wrap,
    xadd,
    xreadgroup,
)

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
