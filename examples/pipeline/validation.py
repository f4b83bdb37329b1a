"""The validation agent: scores how well an answer is grounded in the passages.

`validate()` is the agent's whole interface: the orchestrator calls nothing else,
so the transport in front of it (in-process today, a message queue tomorrow) can
change without touching the orchestrator or the scoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry import trace

from .retrieval import Passage

AGENT_VERSION = "0.9.2"
PASS_THRESHOLD = 0.2

tracer = trace.get_tracer(__name__)


@dataclass(frozen=True)
class Verdict:
    score: float
    passed: bool


def validate(document_id: str, answer: str, passages: Sequence[Passage]) -> Verdict:
    """Agent entry point: the grounding verdict for `answer`."""
    with tracer.start_as_current_span(
        "validation_agent",
        attributes={
            "agent.name": "validation",
            "agent.version": AGENT_VERSION,
            "document.id": document_id,
        },
    ) as span:
        score = grounding_score(answer, passages)
        verdict = Verdict(score=score, passed=score >= PASS_THRESHOLD)
        span.set_attribute("validation.score", score)
        span.set_attribute("validation.passed", verdict.passed)
        return verdict


def grounding_score(answer: str, passages: Sequence[Passage]) -> float:
    """Share of the answer's words that appear in some passage (0.0 to 1.0)."""
    words = {w.strip(".,;:!?").lower() for w in answer.split()} - {""}
    if not words:
        return 0.0
    known = {w.strip(".,;:!?").lower() for p in passages for w in p.text.split()}
    return round(len(words & known) / len(words), 3)
