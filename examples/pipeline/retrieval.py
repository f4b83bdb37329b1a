"""The retrieval agent: embeds the query remotely, then searches a local vector store."""

from __future__ import annotations

import math
from dataclasses import dataclass

import requests
from opentelemetry import trace

from .config import Services

AGENT_VERSION = "1.4.0"

tracer = trace.get_tracer(__name__)


@dataclass(frozen=True)
class Passage:
    source: str
    text: str
    score: float


# A toy knowledge base; its vectors use the same hashing embedding as the stub API.
KNOWLEDGE_BASE = {
    "handbook#refunds": "Refunds are issued within 14 days of a returned order.",
    "handbook#shipping": "Orders ship within two business days from the warehouse.",
    "handbook#warranty": "Hardware carries a two year warranty against defects.",
    "faq#accounts": "Accounts can be closed at any time from the settings page.",
}


def embed_locally(text: str, dimensions: int = 16) -> list[float]:
    """The same bag-of-words hashing the embedding stub uses."""
    vector = [0.0] * dimensions
    for word in text.lower().split():
        vector[sum(map(ord, word.strip(".,;:!?"))) % dimensions] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def retrieve(query: str, services: Services, *, top_k: int = 2) -> list[Passage]:
    """Agent entry point: the `top_k` passages closest to `query`."""
    with tracer.start_as_current_span(
        "retrieval_agent",
        attributes={"agent.name": "retrieval", "agent.version": AGENT_VERSION},
    ) as span:
        response = requests.post(
            f"{services.embedding_url}/v1/embeddings",
            json={"input": query},
            timeout=services.timeout,
        )
        response.raise_for_status()
        passages = _vector_search(response.json()["embedding"], top_k)
        span.set_attribute("retrieval.passages", len(passages))
        return passages


def _vector_search(vector: list[float], top_k: int) -> list[Passage]:
    with tracer.start_as_current_span(
        "vector_search", attributes={"db.system": "in-memory", "retrieval.top_k": top_k}
    ):
        scored = [
            Passage(source, text, _dot(vector, embed_locally(text)))
            for source, text in KNOWLEDGE_BASE.items()
        ]
        scored.sort(key=lambda passage: passage.score, reverse=True)
        return scored[:top_k]


def _dot(a: list[float], b: list[float]) -> float:
    return sum(a[i] * b[i] for i in range(min(len(a), len(b))))
