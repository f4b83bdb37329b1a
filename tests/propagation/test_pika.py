"""A third-party instrumented queue: RabbitMQ through pika + opentelemetry-instrumentation-pika.

The instrumentation injects the context into the AMQP message headers on
publish and extracts it on consume; these tests prove the propagation
assertions on its real spans, against the RabbitMQ server on 127.0.0.1:5672,
in parent-child mode (its consumer span is a child of the publish span) and in
span-link mode (the consumer starts its own trace with a link).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanKind

pika = pytest.importorskip("pika")
PikaInstrumentor = pytest.importorskip("opentelemetry.instrumentation.pika").PikaInstrumentor

AMQP_URL = os.environ.get("AGENTTRACE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
tracer = trace.get_tracer("tests.pika")


@pytest.fixture
def connection() -> Iterator[object]:
    try:
        conn = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    except pika.exceptions.AMQPConnectionError as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no RabbitMQ at {AMQP_URL} (set AGENTTRACE_AMQP_URL): {error!r}")
    yield conn
    conn.close()


@pytest.fixture
def queue_name(connection) -> str:
    name = f"agenttrace-{uuid.uuid4().hex[:12]}"
    connection.channel().queue_declare(name, auto_delete=True)
    return name


def instrumented_channel(connection):
    channel = connection.channel()
    PikaInstrumentor.instrument_channel(channel)
    return channel


def consume_one(connection, channel, queue: str, on_message) -> None:
    received = []

    def callback(ch, method, properties, body):
        on_message(properties, body)
        received.append(body)

    channel.basic_consume(queue, callback, auto_ack=True)
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.1)
    assert received, "no message arrived within 5 s"


def get_one(channel, queue: str):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is not None:
            return properties, body
        time.sleep(0.01)
    raise AssertionError("no message arrived within 5 s")


def test_parent_child_through_rabbitmq(agenttrace, connection, queue_name):
    channel = instrumented_channel(connection)
    with tracer.start_as_current_span("orchestrator"):
        channel.basic_publish("", queue_name, b'{"doc": "42"}')

    def validate(properties, body):
        with tracer.start_as_current_span("validation_agent"):
            pass

    consume_one(connection, channel, queue_name, validate)
    send = agenttrace.one(f"{queue_name} send", kind="producer")
    receive = agenttrace.one(f"{queue_name} receive", kind="consumer")
    assert send.attributes["messaging.system"] == "rabbitmq"
    assert receive.parent is send
    agenttrace.assert_single_trace()
    agenttrace.assert_propagated("orchestrator", "validation_agent", via="parent")
    agenttrace.assert_propagated(send, receive)
    (inject,) = agenttrace.propagator_spy.injects
    assert inject.active_span is not None and inject.active_span.name == f"{queue_name} send"
    assert agenttrace.propagation_problems() == []


def test_span_link_through_rabbitmq(agenttrace, connection, queue_name):
    channel = instrumented_channel(connection)
    with tracer.start_as_current_span("orchestrator"):
        channel.basic_publish("", queue_name, b"batch item")
    properties, _ = get_one(channel, queue_name)
    sender = trace.get_current_span(propagate.extract(properties.headers)).get_span_context()
    assert sender.is_valid, "the pika instrumentation injected no context"
    with tracer.start_as_current_span(
        f"process {queue_name}", context=Context(), kind=SpanKind.CONSUMER, links=[Link(sender)]
    ):
        pass
    agenttrace.assert_propagated(f"{queue_name} send", f"process {queue_name}", via="link")
    agenttrace.assert_propagated("orchestrator", f"process {queue_name}", via="link")
    agenttrace.assert_trace_count(2)
    assert agenttrace.broken_hops == []
    assert agenttrace.propagation_problems() == []
    with pytest.raises(AssertionError, match="reached only through a span link"):
        agenttrace.assert_propagated("orchestrator", f"process {queue_name}", via="parent")


def test_uninstrumented_publisher_is_diagnosed(agenttrace, connection, queue_name):
    publisher = connection.channel()  # a legacy service: no instrumentation, no inject
    consumer = instrumented_channel(connection)
    with tracer.start_as_current_span(f"publish {queue_name}", kind=SpanKind.PRODUCER):
        publisher.basic_publish(
            "", queue_name, b"job", pika.BasicProperties(headers={"x-source": "legacy"})
        )
    consume_one(connection, consumer, queue_name, lambda properties, body: None)
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_propagated(f"publish {queue_name}", f"{queue_name} receive")
    text = str(error.value)
    assert f"`{queue_name} receive` [consumer] has no parent: it is the root of trace" in text
    assert (
        f"- propagator spy: inject() was never called while `publish {queue_name}` [producer] "
        "was active"
    ) in text
    assert (
        "- propagator spy: extract() in thread 'MainThread': the carrier had no traceparent "
        "(keys: x-source)" in text
    )
    assert [hop.span.name for hop in agenttrace.broken_hops] == [f"{queue_name} receive"]
