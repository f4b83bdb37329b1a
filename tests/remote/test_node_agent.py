"""A real Node.js agent (the OpenTelemetry JS SDK, OTLP/JSON over HTTP) in the test's tree."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from opentelemetry import trace

from pytest_agenttrace import AgentTrace

NODE_AGENT = Path(__file__).parent / "node"
tracer = trace.get_tracer("tests.node")


def missing_node() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (NODE_AGENT / "node_modules" / "@opentelemetry" / "sdk-trace-node").is_dir():
        return f"the Node.js agent's packages are not installed: cd {NODE_AGENT} && npm install"
    return None


@pytest.fixture
def node_agent() -> object:
    reason = missing_node()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set: .ci/run installs them)", pytrace=False)
        pytest.skip(reason)

    def run(env: dict[str, str], *args: str) -> None:
        command = ["node", str(NODE_AGENT / "agent.js"), *args]
        subprocess.run(command, env={**os.environ, **env}, check=True, timeout=60)

    return run


def test_a_node_agent_is_a_child_of_the_python_span(agenttrace: AgentTrace, node_agent) -> None:
    with tracer.start_as_current_span("invoke_agent planner"):
        node_agent(agenttrace.otlp_env(service_name="node-tool", propagate=True))
    agenttrace.assert_tree(
        """
        invoke_agent planner
          execute_tool search {gen_ai.tool.name: "search"} [server, service=node-tool]
            GET /index [client]
        """
    )
    agenttrace.assert_single_trace()
    tool = agenttrace.one("execute_tool search")
    assert tool.received and tool.readable.instrumentation_scope.name == "node-tool"
    assert tool.has_remote_parent


def test_a_node_agent_that_drops_the_context_is_named(agenttrace: AgentTrace, node_agent) -> None:
    with tracer.start_as_current_span("invoke_agent planner", kind=trace.SpanKind.CLIENT):
        node_agent(
            agenttrace.otlp_env(service_name="node-tool", propagate=True), "--ignore-context"
        )
    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_single_trace()
    text = str(failure.value)
    assert "`execute_tool search` [server] (service 'node-tool')" in text
    assert "ran in another process" in text
