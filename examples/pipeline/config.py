"""Where the agents' external services live, and how patient to be with them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Services:
    embedding_url: str
    llm_url: str
    #: Per-request timeout for every external call, in seconds.
    timeout: float = 2.0
    #: Attempts the LLM agent makes before giving up (1 = no retry).
    llm_attempts: int = 3
    #: Pause before a retry, doubled after each failed attempt.
    retry_backoff: float = 0.01
