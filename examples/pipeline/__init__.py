"""A small multi-agent document pipeline, instrumented with OpenTelemetry.

The orchestrator (`process_document`) asks a retrieval agent for supporting
passages (an embedding API over HTTP, then a vector search), an LLM agent for a
summary (an LLM API over HTTP, with retries) and a validation agent for a
grounding score. HTTP calls are traced by `opentelemetry-instrumentation-requests`;
everything else by the agents' own spans. The code never configures a
TracerProvider: that is the application's (or the test suite's) business.
"""

from .config import Services
from .llm import Completion, LLMUnavailableError, generate
from .orchestrator import Result, process_document
from .retrieval import Passage, retrieve
from .validation import Verdict, validate

__all__ = [
    "Completion",
    "LLMUnavailableError",
    "Passage",
    "Result",
    "Services",
    "Verdict",
    "generate",
    "process_document",
    "retrieve",
    "validate",
]
