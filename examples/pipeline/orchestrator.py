"""The orchestrator: owns the root span and calls each agent once."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass

from opentelemetry import trace

from .config import Services
from .llm import Completion, generate
from .retrieval import Passage, retrieve
from .validation import Verdict, validate

tracer = trace.get_tracer(__name__)

INTENTS = {"summarise": "Summarise the document.", "answer": "Answer the question."}


@dataclass(frozen=True)
class Result:
    document_id: str
    answer: str
    tokens: int
    score: float
    passed: bool


def process_document(
    document: Mapping[str, str], services: Services, *, concurrent: bool = False
) -> Result:
    """Run the whole pipeline for one document: `{"id": ..., "content": ...}`.

    With `concurrent=True` retrieval and generation run side by side in worker
    threads (the LLM then works without the passages; validation still uses them).
    """
    content = document["content"]
    with tracer.start_as_current_span(
        "process_document",
        attributes={"document.id": document["id"], "document.size": len(content)},
    ) as root:
        intent = parse_intent(content)
        if concurrent:
            passages, completion = _retrieve_and_generate_concurrently(intent, content, services)
        else:
            passages = retrieve(content, services)
            completion = generate(INTENTS[intent], content, passages, services)
        root.set_attribute("llm.tokens", completion.tokens)
        verdict: Verdict = validate(document["id"], completion.text, passages)
        root.set_attribute("validation.score", verdict.score)
        return Result(
            document["id"], completion.text, completion.tokens, verdict.score, verdict.passed
        )


def parse_intent(content: str) -> str:
    """A decision point, so it gets a span: which intent the orchestrator chose."""
    with tracer.start_as_current_span("parse_intent") as span:
        intent = "answer" if content.rstrip().endswith("?") else "summarise"
        span.set_attribute("intent", intent)
        return intent


def _retrieve_and_generate_concurrently(
    intent: str, content: str, services: Services
) -> tuple[list[Passage], Completion]:
    # Worker threads do not inherit contextvars: each task runs in a copy of the
    # caller's context, or its spans would start new traces.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="agent") as pool:
        passages = pool.submit(copy_context().run, retrieve, content, services)
        completion = pool.submit(
            copy_context().run, generate, INTENTS[intent], content, [], services
        )
        return passages.result(), completion.result()
