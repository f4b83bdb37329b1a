"""The two incidents of the field notes, as small systems on a simulated clock.

Spans get their start and end times from the clock (`start_time=`/`end_time=`
in nanoseconds), so "the API took 5 s" costs no test time.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

S = 1_000_000_000  # nanoseconds per second
tracer = trace.get_tracer("incidents")


class SimulatedClock:
    def __init__(self) -> None:
        self.now_ns = 1_700_000_000 * S

    def sleep(self, seconds: float) -> None:
        self.now_ns += int(seconds * S)

    @contextlib.contextmanager
    def span(self, name: str, **options: object) -> Iterator[trace.Span]:
        """A span whose start and end are read off this clock."""
        span = tracer.start_span(name, start_time=self.now_ns, **options)  # type: ignore[arg-type]
        try:
            # use_span records an escaping exception on the span before it ends.
            with trace.use_span(span, end_on_exit=False):
                yield span
        finally:
            span.end(end_time=self.now_ns)


# -- incident 1: fraud detection -------------------------------------------------------
@dataclasses.dataclass
class FraudConfig:
    orchestrator_timeout: float = 4.0  # the whole workflow
    risk_agent_timeout: float = 3.0  # what the risk agent's HTTP client was given
    enforce_read_timeout: bool = False  # the bug: it only bounded connecting
    api_latency: float = 5.0  # "the API sometimes took 5 s+"

    def budgets(self) -> dict[str, float]:
        """The timeouts, as span budgets for agenttrace.assert_timeout_budgets."""
        return {
            "fraud_check": self.orchestrator_timeout,
            "risk_scoring_agent": self.risk_agent_timeout,
        }


def fraud_check(transaction_id: str, config: FraudConfig, clock: SimulatedClock) -> str:
    with clock.span("fraud_check", attributes={"transaction.id": transaction_id}):
        with clock.span("parse_transaction"):
            clock.sleep(0.2)
        score = risk_scoring_agent(config, clock)
        with clock.span("decide", attributes={"risk.score": score}):
            clock.sleep(0.5)
        return "block" if score > 0.8 else "allow"


def risk_scoring_agent(config: FraudConfig, clock: SimulatedClock) -> float:
    with clock.span("risk_scoring_agent", attributes={"agent.name": "risk_scoring"}):
        with clock.span("POST /risk-score", kind=SpanKind.CLIENT) as call:
            if config.enforce_read_timeout and config.api_latency > config.risk_agent_timeout:
                clock.sleep(config.risk_agent_timeout)
                call.set_status(Status(StatusCode.ERROR, "TimeoutError: read timed out"))
                return 0.5  # fallback score
            clock.sleep(config.api_latency)
        clock.sleep(0.1)
        return 0.3


# -- incident 2: the embedding agent's silent retries ----------------------------------------
class EmbeddingUnavailableError(Exception):
    pass


@dataclasses.dataclass
class EmbeddingConfig:
    max_attempts: int = 6
    call_timeout: float = 0.5  # misconfigured: the API needs about 2 s
    api_latency: float = 2.0


def embedding_agent(text: str, config: EmbeddingConfig, clock: SimulatedClock) -> list[float]:
    with clock.span("embedding_agent", attributes={"agent.name": "embedding"}):
        for attempt in range(config.max_attempts):
            with clock.span(
                "embed_text", kind=SpanKind.CLIENT, attributes={"retry.attempt": attempt}
            ) as call:
                if config.api_latency <= config.call_timeout:
                    clock.sleep(config.api_latency)
                    return [0.1, 0.2, 0.3]
                clock.sleep(config.call_timeout)
                call.set_status(Status(StatusCode.ERROR, "TimeoutError: read timed out"))
        raise EmbeddingUnavailableError(f"gave up after {config.max_attempts} attempts")
