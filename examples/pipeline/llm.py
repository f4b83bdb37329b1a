"""The LLM agent: one span per attempt, so every retry shows up in the trace."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import requests
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from .config import Services
from .retrieval import Passage

AGENT_VERSION = "2.1.0"
MODEL = "stub-llm-small"
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})

tracer = trace.get_tracer(__name__)


@dataclass(frozen=True)
class Completion:
    text: str
    tokens: int
    attempts: int


class LLMUnavailableError(RuntimeError):
    pass


def generate(
    instruction: str, content: str, passages: Sequence[Passage], services: Services
) -> Completion:
    """Agent entry point: ask the LLM API, retrying transient failures."""
    prompt = "\n".join([instruction, content, *(p.text for p in passages)])
    with tracer.start_as_current_span(
        "llm_agent",
        attributes={
            "agent.name": "llm",
            "agent.version": AGENT_VERSION,
            "gen_ai.request.model": MODEL,
        },
    ) as agent_span:
        backoff = services.retry_backoff
        for attempt in range(1, services.llm_attempts + 1):
            with tracer.start_as_current_span(
                "llm_call", attributes={"llm.attempt": attempt}
            ) as call:
                response = requests.post(
                    f"{services.llm_url}/v1/completions",
                    json={"model": MODEL, "prompt": prompt},
                    timeout=services.timeout,
                )
                if response.status_code in RETRYABLE_STATUS:
                    # A retry is a decision worth seeing: the failed attempt ends in error.
                    call.set_status(Status(StatusCode.ERROR, f"HTTP {response.status_code}"))
                    if attempt < services.llm_attempts:
                        time.sleep(backoff)
                        backoff *= 2
                        continue
                    agent_span.set_attribute("llm.attempts", attempt)
                    raise LLMUnavailableError(
                        f"LLM API still failing after {attempt} attempts "
                        f"(last: HTTP {response.status_code})"
                    )
                response.raise_for_status()
                body = response.json()
                usage = body["usage"]
                call.set_attribute("gen_ai.usage.input_tokens", usage["prompt_tokens"])
                call.set_attribute("gen_ai.usage.output_tokens", usage["completion_tokens"])
                agent_span.set_attribute("llm.attempts", attempt)
                return Completion(body["text"], usage["total_tokens"], attempt)
        raise LLMUnavailableError("llm_attempts must be at least 1")
