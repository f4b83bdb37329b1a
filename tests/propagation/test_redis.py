"""Redis queue helpers on fakeredis and on a real redis-server, with redis instrumentation."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from textwrap import dedent
from typing import Any

import fakeredis
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.trace import SpanKind

from pytest_agenttrace import redis as queue
from pytest_agenttrace.plugin import redis_url

tracer = trace.get_tracer("tests.redis")
MESSAGING = {"messaging.system": "redis"}


@pytest.fixture(params=["fakeredis", "redis-server"])
def client(request: pytest.FixtureRequest) -> Iterator[redis.Redis]:
    if request.param == "fakeredis":
        connection = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    else:
        url = redis_url(request.config)
        if url is None:
            pytest.skip(
                "no Redis server configured: set AGENTTRACE_REDIS_URL or "
                "--agenttrace-redis-url to run against a real redis-server"
            )
        connection = redis.Redis.from_url(url)
    yield connection
    connection.close()


@pytest.fixture
def name() -> str:
    """A destination name no other test (or xdist worker) uses on a shared server."""
    return f"agenttrace-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def cleanup(client: redis.Redis, name: str) -> Iterator[None]:
    yield
    client.delete(name)


@pytest.fixture
def instrumented() -> Iterator[None]:
    RedisInstrumentor().instrument()
    yield
    RedisInstrumentor().uninstrument()


# -- pub/sub ---------------------------------------------------------------------------------------
def test_pubsub_parent_child(agenttrace, client, name):
    subscriber = client.pubsub()
    subscriber.subscribe(name)
    with tracer.start_as_current_span("orchestrator"):
        assert queue.publish(client, name, {"doc": "42"}) == 1
    message = queue.receive(subscriber, timeout=2)
    assert message is not None
    assert message.payload == {"doc": "42"}
    assert message.destination == name
    with message.process(), tracer.start_as_current_span("validation_agent"):
        pass
    subscriber.close()
    agenttrace.assert_single_trace()
    agenttrace.assert_propagated("orchestrator", "validation_agent", via="parent")
    publish = agenttrace.one(f"publish {name}", kind="producer")
    process = agenttrace.one(f"process {name}", kind="consumer")
    assert process.parent is publish
    assert publish.attributes == {
        "messaging.system": "redis",
        "messaging.destination.name": name,
        "messaging.operation.name": "publish",
        "messaging.operation.type": "send",
    }
    assert process.attributes["messaging.operation.type"] == "process"


def test_pubsub_span_link(agenttrace, client, name):
    subscriber = client.pubsub()
    subscriber.subscribe(name)
    queue.publish(client, name, "work")
    message = queue.receive(subscriber, timeout=2)
    assert message is not None
    with tracer.start_as_current_span("consumer loop"), message.process(link=True):
        pass
    subscriber.close()
    agenttrace.assert_propagated(f"publish {name}", f"process {name}", via="link")
    agenttrace.assert_trace_count(2)
    assert agenttrace.broken_hops == []
    assert agenttrace.propagation_problems() == []


def test_receive_times_out(client, name):
    subscriber = client.pubsub()
    subscriber.subscribe(name)
    assert queue.receive(subscriber, timeout=0.05) is None
    subscriber.close()


# -- lists as work queues --------------------------------------------------------------------------
@pytest.mark.usefixtures("cleanup")
def test_list_queue_fifo_and_propagation(agenttrace, client, name):
    with tracer.start_as_current_span("orchestrator"):
        queue.push(client, name, "first")
        queue.push(client, name, "second")
    jobs = [queue.pop(client, name, timeout=1) for _ in range(2)]
    assert [job.payload for job in jobs if job] == ["first", "second"]
    for job in jobs:
        assert job is not None
        with job.process():
            pass
    assert queue.pop(client, name, timeout=0.05) is None
    agenttrace.assert_single_trace()
    processes = agenttrace.find(f"process {name}")
    publishes = agenttrace.find(f"publish {name}")
    assert [p.parent for p in processes] == publishes


@pytest.mark.usefixtures("cleanup")
def test_list_queue_without_context_is_diagnosed(agenttrace, client, name):
    with tracer.start_as_current_span(f"publish {name}", kind=SpanKind.PRODUCER):
        client.lpush(name, json.dumps({"payload": "job", "ts": 1}))  # hand-rolled, no context
    job = queue.pop(client, name)
    assert job is not None and job.payload == {"payload": "job", "ts": 1}
    with job.process():
        pass
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_propagated(f"publish {name}", f"process {name}")
    assert (
        f"- propagator spy: inject() was never called while `publish {name}` [producer] was active"
    ) in str(error.value)
    assert "the carrier had no traceparent (keys: payload, ts)" in str(error.value)
    assert [hop.span.name for hop in agenttrace.broken_hops] == [f"process {name}"]


# -- streams ---------------------------------------------------------------------------------------
@pytest.mark.usefixtures("cleanup")
def test_stream_consumer_group(agenttrace, client, name):
    with tracer.start_as_current_span("orchestrator"):
        first = queue.xadd(client, name, {"doc": 1})
        queue.xadd(client, name, {"doc": 2})
    messages = queue.xreadgroup(client, name, "validators", "v1", block_ms=100)
    assert [m.payload for m in messages] == [{"doc": 1}, {"doc": 2}]
    assert messages[0].id == first
    for message in messages[:1]:
        with message.process():
            pass
    with messages[1].process(link=True):
        pass
    assert [queue.ack(client, m, "validators") for m in messages] == [1, 1]
    assert queue.xreadgroup(client, name, "validators", "v1", block_ms=10) == []
    child, linked = agenttrace.find(f"process {name}")
    agenttrace.assert_propagated("orchestrator", child, via="parent")
    agenttrace.assert_propagated("orchestrator", linked, via="link")
    assert linked.attributes["messaging.message.id"] == messages[1].id
    assert agenttrace.one(f"publish {name}", attributes={"messaging.message.id": first})


def test_ack_needs_a_stream_message(client):
    message = queue.Message("x", trace.set_span_in_context(trace.INVALID_SPAN), {}, "q")
    with pytest.raises(ValueError, match="only stream messages"):
        queue.ack(client, message, "g")


# -- opentelemetry-instrumentation-redis in the same trace -----------------------------------------
@pytest.mark.usefixtures("instrumented", "cleanup")
def test_instrumented_redis_commands_join_the_trace(agenttrace, client, name):
    with tracer.start_as_current_span("orchestrator"):
        queue.push(client, name, {"doc": "42"})
    with tracer.start_as_current_span("worker", context=None):
        job = queue.pop(client, name)
        assert job is not None
        with job.process(), tracer.start_as_current_span("validation_agent"):
            client.set(f"{name}:result", "ok")
    client.delete(f"{name}:result")
    lpush = agenttrace.one("LPUSH")
    assert lpush.kind is SpanKind.CLIENT
    assert lpush.parent is agenttrace.one(f"publish {name}")
    agenttrace.assert_propagated("orchestrator", "SET", via="parent")
    agenttrace.assert_tree(
        f"""
        orchestrator
          publish {name}  [producer]
            LPUSH  [client]
            process {name}  [consumer]
              validation_agent
                SET  [client]
        worker
          BRPOP  [client]
        DEL  [client]
        """
    )
    assert agenttrace.one("BRPOP").parent is agenttrace.one("worker")
    assert agenttrace.one("SET").parent is agenttrace.one("validation_agent")


# -- the agenttrace_redis fixture ------------------------------------------------------------------
FIXTURE_TEST = """
    def test_client(agenttrace_redis):
        agenttrace_redis.set("k", "v")
        print("CLIENT", type(agenttrace_redis).__module__)
        assert agenttrace_redis.get("k") == b"v"
        agenttrace_redis.delete("k")
"""


def test_fixture_defaults_to_fakeredis(pytester, monkeypatch):
    monkeypatch.delenv("AGENTTRACE_REDIS_URL", raising=False)
    pytester.makepyfile(dedent(FIXTURE_TEST))
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*CLIENT fakeredis*"])


def real_url(config: pytest.Config) -> str:
    url = redis_url(config)
    if url is None:
        pytest.skip("no Redis server configured (AGENTTRACE_REDIS_URL / --agenttrace-redis-url)")
    return url


def test_fixture_uses_the_server_from_the_flag(pytester, monkeypatch, request):
    url = real_url(request.config)
    monkeypatch.delenv("AGENTTRACE_REDIS_URL", raising=False)
    pytester.makepyfile(dedent(FIXTURE_TEST))
    result = pytester.runpytest("-s", f"--agenttrace-redis-url={url}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*CLIENT redis.client*"])


def test_fixture_uses_the_server_from_the_environment(pytester, monkeypatch, request):
    monkeypatch.setenv("AGENTTRACE_REDIS_URL", real_url(request.config))
    pytester.makepyfile(dedent(FIXTURE_TEST))
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*CLIENT redis.client*"])


def test_fixture_uses_the_server_from_ini(pytester, monkeypatch, request):
    url = real_url(request.config)
    monkeypatch.delenv("AGENTTRACE_REDIS_URL", raising=False)
    pytester.makeini(f"[pytest]\nagenttrace_redis_url = {url}\n")
    pytester.makepyfile(dedent(FIXTURE_TEST))
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*CLIENT redis.client*"])


def test_fixture_errors_when_the_configured_server_is_down(pytester, monkeypatch):
    monkeypatch.delenv("AGENTTRACE_REDIS_URL", raising=False)
    pytester.makepyfile(dedent(FIXTURE_TEST))
    result = pytester.runpytest("--agenttrace-redis-url=redis://127.0.0.1:1/0")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*agenttrace_redis: cannot reach the configured Redis at redis://127.0.0.1:1/0*"]
    )
    # one line, not redis-py's chained traceback
    assert "During handling" not in result.stdout.str()
    assert "redis/connection.py" not in result.stdout.str()


@pytest.mark.parametrize(
    ("where", "named"),
    [
        ("flag", "--agenttrace-redis-url"),
        ("env", "$AGENTTRACE_REDIS_URL"),
        ("ini", "ini option agenttrace_redis_url"),
    ],
)
def test_a_url_that_is_not_a_redis_url_stops_the_run(pytester, monkeypatch, where, named):
    monkeypatch.delenv("AGENTTRACE_REDIS_URL", raising=False)
    pytester.makepyfile(dedent(FIXTURE_TEST))
    args = []
    if where == "flag":
        args = ["--agenttrace-redis-url=notaurl"]
    elif where == "env":
        monkeypatch.setenv("AGENTTRACE_REDIS_URL", "notaurl")
    else:
        pytester.makeini("[pytest]\nagenttrace_redis_url = notaurl\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: {named}: 'notaurl' is not a Redis URL; it starts with redis://, rediss://*"]
    )


def test_fixture_skips_without_the_redis_extra(pytester, monkeypatch):
    monkeypatch.delenv("AGENTTRACE_REDIS_URL", raising=False)
    pytester.makeconftest(
        dedent(
            """
            import sys
            sys.modules["redis"] = None  # as if the extra were not installed
            """
        )
    )
    pytester.makepyfile(dedent(FIXTURE_TEST))
    result = pytester.runpytest_subprocess("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["*agenttrace_redis needs redis: pip install 'pytest-agenttrace-otel[[]redis]'*"]
    )


def test_the_ci_server_is_configured_in_ci():
    if os.environ.get("CI"):
        assert os.environ.get("AGENTTRACE_REDIS_URL"), "CI must run the real-Redis tests"


def test_suite_policies_apply_to_tests_that_only_use_agenttrace_redis(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENTTRACE_REDIS_URL", raising=False)  # fakeredis is enough here
    pytester.makeini("[pytest]\nagenttrace_max_retries = 1\n")
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace

            def test_queue_worker_retries(agenttrace_redis):
                tracer = trace.get_tracer("t")
                with tracer.start_as_current_span("worker"):
                    for _ in range(3):
                        tracer.start_span("pop job").end()
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*retried more than allowed (max_retries)*"])


# -- Redis helpers -------------------------------------------------------------------------
def test_pop_with_zero_timeout_polls_instead_of_blocking_forever(agenttrace_redis: Any) -> None:
    from pytest_agenttrace import redis as helpers

    queue = "review:empty-queue"
    agenttrace_redis.delete(queue)
    results: list[Any] = []
    worker = threading.Thread(
        target=lambda: results.append(helpers.pop(agenttrace_redis, queue, timeout=0)),
        daemon=True,
    )
    worker.start()
    worker.join(3)
    if worker.is_alive():  # BRPOP 0 blocks forever: release it before failing
        agenttrace_redis.lpush(queue, json.dumps({"payload": "release"}))
        worker.join(3)
    assert results == [None]

    helpers.push(agenttrace_redis, queue, {"doc": 1})
    message = helpers.pop(agenttrace_redis, queue, timeout=0)
    assert message is not None and message.payload == {"doc": 1}
    assert message.destination == queue


# -- hostile messages: receiving never raises --------------------------------------------
@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"payload": 1, "trace_context": ' + "[" * 100_000 + "]" * 100_000 + "}",
        b"\xff\xfe",
        '{"trace_context": "00-abc"}',
    ],
    ids=["deep-list", "deep-carrier", "not-utf8", "string-carrier"],
)
def test_hostile_messages_unwrap_without_raising(raw: object) -> None:
    from pytest_agenttrace.redis import unwrap

    payload, context, carrier = unwrap(raw)
    assert isinstance(carrier, dict)


@given(st.one_of(st.text(max_size=50), st.binary(max_size=50), st.integers(), st.none()))
def test_any_message_unwraps_without_raising(raw: object) -> None:
    from pytest_agenttrace.redis import unwrap

    unwrap(raw)
