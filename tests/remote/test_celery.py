"""A real Celery worker process on the real redis-server, instrumented on both sides."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace

from pytest_agenttrace import AgentTrace, OtlpReceiver
from pytest_agenttrace.plugin import redis_url

AGENTS = Path(__file__).parent / "agents"
tracer = trace.get_tracer("tests.celery")


@pytest.fixture(scope="module", params=["parent", "link"])
def celery_worker(
    request: pytest.FixtureRequest, agenttrace_receiver: OtlpReceiver
) -> Iterator[dict[str, Any]]:
    """A `celery worker --pool=solo` subprocess, one per propagation mode."""
    url = redis_url(request.config)
    if url is None:
        pytest.skip("the Celery worker needs a real Redis: set AGENTTRACE_REDIS_URL")
    pytest.importorskip("celery")
    links = request.param == "link"
    queue = f"agenttrace-{uuid.uuid4().hex[:8]}"
    broker = url.rsplit("/", 1)[0] + "/14"
    env = {
        **os.environ,
        **agenttrace_receiver.otlp_env(service_name="celery-worker"),
        "AGENTTRACE_CELERY_ROLE": "worker",
        "AGENTTRACE_CELERY_LINKS": "1" if links else "0",
        "AGENTTRACE_CELERY_BROKER": broker,
        "AGENTTRACE_CELERY_QUEUE": queue,
        "PYTHONPATH": str(AGENTS),
    }
    command = [sys.executable, "-m", "celery", "-A", "celery_agents", "worker", "--pool=solo"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning"]
    worker = subprocess.Popen(command, env=env, cwd=AGENTS)
    os.environ["AGENTTRACE_CELERY_BROKER"] = broker  # the producer side, imported below
    os.environ["AGENTTRACE_CELERY_QUEUE"] = queue
    sys.path.insert(0, str(AGENTS))
    import celery_agents

    celery_agents.app.conf.update(broker_url=broker, result_backend=broker)
    celery_agents.app.conf.update(task_default_queue=queue)
    celery_agents.instrument(use_span_links=links)
    try:
        # ready once it answers a task (its spans, before any capture, are nobody's)
        assert celery_agents.validate.apply_async(args=["warm-up"]).get(timeout=60) == "ok"
        yield {"module": celery_agents, "links": links}
    finally:
        from opentelemetry.instrumentation.celery import CeleryInstrumentor

        CeleryInstrumentor().uninstrument()
        worker.terminate()
        worker.wait(timeout=30)
        sys.path.remove(str(AGENTS))


def test_a_celery_task_joins_the_tree_in_both_modes(
    agenttrace: AgentTrace, celery_worker: dict[str, Any]
) -> None:
    agents = celery_worker["module"]
    with tracer.start_as_current_span("orchestrator"):
        assert agents.validate.apply_async(args=["42"]).get(timeout=30) == "ok"
    # the worker exports on a timer (OTEL_BSP_SCHEDULE_DELAY): wait for its last span
    agenttrace.wait_for(name="run/validate")
    if celery_worker["links"]:
        agenttrace.assert_tree(
            """
            orchestrator
              apply_async/validate [producer]
              ...
            run/validate [consumer, service=celery-worker]
              validate_citations {document.id: "42"}
            """
        )
        agenttrace.assert_propagated("apply_async/validate", "run/validate", via="link")
    else:
        agenttrace.assert_tree(
            """
            orchestrator
              apply_async/validate [producer]
                run/validate [consumer, service=celery-worker]
                  validate_citations {document.id: "42"}
              ...
            """
        )
        agenttrace.assert_propagated("apply_async/validate", "run/validate", via="parent")
        agenttrace.assert_single_trace()


def test_a_failing_task_shows_its_exception_event_and_in_link_mode_its_link(
    agenttrace: AgentTrace, celery_worker: dict[str, Any]
) -> None:
    agents = celery_worker["module"]
    with tracer.start_as_current_span("orchestrator"), pytest.raises(ValueError, match="citations"):
        agents.reject.apply_async(args=["7"]).get(timeout=30)
    agenttrace.wait_for(name="run/reject")
    if celery_worker["links"]:
        agenttrace.assert_tree(
            """
            orchestrator
              apply_async/reject [producer, no events, as sent]
              ...
            run/reject [consumer, error, scope=opentelemetry.instrumentation.celery]
              @ exception {exception.type: "ValueError", exception.stacktrace: /Traceback/}
              -> sent
            """
        )
    else:
        agenttrace.assert_tree(
            """
            orchestrator
              apply_async/reject [producer, no events, no links]
                run/reject [consumer, error, remote, scope=opentelemetry.instrumentation.celery]
                  @ exception {exception.message: contains "no citations", exception.stacktrace: *}
              ...
            """
        )
