"""An HTTP agent service in another process, started once per session, called with requests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from opentelemetry import trace

from pytest_agenttrace import AgentTrace, OtlpReceiver

AGENTS = Path(__file__).parent / "agents"
tracer = trace.get_tracer("tests.http")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_service(receiver: OtlpReceiver, **extra_env: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, **receiver.otlp_env(service_name="llm-service"), **extra_env}
    env["PYTHONPATH"] = str(AGENTS)
    command = [sys.executable, "-m", "uvicorn", "llm_service:app", "--port", str(port)]
    process = subprocess.Popen([*command, "--log-level", "warning"], env=env, cwd=AGENTS)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/health", timeout=1)
            return process, url
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"the LLM service did not start on {url}")


@pytest.fixture(scope="session")
def llm_service(agenttrace_receiver: OtlpReceiver) -> Iterator[dict[str, str]]:
    """The service, and a misconfigured copy that reads baggage but not traceparent."""
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    instrumentor = RequestsInstrumentor()
    already = instrumentor.is_instrumented_by_opentelemetry
    if not already:
        instrumentor.instrument()
    good, good_url = start_service(agenttrace_receiver)
    broken, broken_url = start_service(agenttrace_receiver, OTEL_PROPAGATORS="baggage")
    try:
        yield {"good": good_url, "broken": broken_url}
    finally:
        for process in (good, broken):
            process.terminate()
            process.wait(timeout=30)
        if not already:
            instrumentor.uninstrument()


def test_the_services_spans_join_the_calling_tests_trace(
    agenttrace: AgentTrace, llm_service: dict[str, str]
) -> None:
    with tracer.start_as_current_span("orchestrator"):
        reply = requests.post(llm_service["good"] + "/answer", json={"text": "why?"}, timeout=10)
    assert reply.json() == {"answer": "why?"}
    agenttrace.wait_for(name="POST /answer")  # the server span ends after the response
    agenttrace.assert_tree(
        """
        orchestrator
          POST [client]
            POST /answer [server, service=llm-service]
              llm_agent {gen_ai.request.model: "stub"}
              ...
        """
    )
    agenttrace.assert_single_trace()


def test_each_test_gets_only_its_own_calls(
    agenttrace: AgentTrace, llm_service: dict[str, str]
) -> None:
    # the same session service as above: nothing of that test's call is here
    with tracer.start_as_current_span("second_caller"):
        requests.post(llm_service["good"] + "/answer", json={"text": "again"}, timeout=10)
    agenttrace.wait_for(name="POST /answer")
    assert len(agenttrace.find("llm_agent")) == 1
    assert {span.trace_id for span in agenttrace.spans} == {
        agenttrace.one("second_caller").trace_id
    }


def test_a_service_that_ignores_traceparent_is_a_broken_hop(
    agenttrace: AgentTrace, llm_service: dict[str, str]
) -> None:
    with tracer.start_as_current_span("orchestrator"):
        requests.post(llm_service["broken"] + "/answer", json={"text": "why?"}, timeout=10)
    agenttrace.wait_for(name="POST /answer")
    (hop,) = agenttrace.broken_hops
    assert hop.span.name == "POST /answer" and hop.span.service == "llm-service"
    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_single_trace()
    assert "`POST /answer` [server] (service 'llm-service')" in str(failure.value)
    assert "most likely sender: `POST` [client]" in str(failure.value)
