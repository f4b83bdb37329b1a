"""The field notes' incidents, caught by policy checks instead of in production."""

from __future__ import annotations

import pytest
from incidents import (
    EmbeddingConfig,
    EmbeddingUnavailableError,
    FraudConfig,
    SimulatedClock,
    embedding_agent,
    fraud_check,
)

from pytest_agenttrace import AgentTrace


# -- fraud detection: 3 s agent timeout, 5 s API, 4 s orchestrator ----------------------
def test_fraud_check_timeouts_cannot_hold(agenttrace: AgentTrace) -> None:
    config = FraudConfig()  # 4 s orchestrator, 3 s (connect-only) agent timeout, 5 s API
    fraud_check("tx-1", config, SimulatedClock())

    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_timeout_budgets(config.budgets())

    assert str(failure.value).splitlines()[:3] == [
        "2 timeout budget problem(s) (timeout_budgets: fraud_check 4 s, risk_scoring_agent 3 s):",
        "- fraud_check took 5.80 s, over its 4 s budget; critical path: parse_transaction "
        "0.20 s -> risk_scoring_agent 5.10 s (budget 3 s) [POST /risk-score 5.00 s] -> "
        "decide 0.50 s",
        "- risk_scoring_agent under fraud_check took 5.10 s, over its 3 s budget; "
        "critical path: POST /risk-score 5.00 s",
    ]


def test_fraud_check_with_the_fix(agenttrace: AgentTrace) -> None:
    # The fix: a 10 s orchestrator timeout and per-agent timeouts that are enforced.
    config = FraudConfig(orchestrator_timeout=10, risk_agent_timeout=6, enforce_read_timeout=True)
    assert fraud_check("tx-1", config, SimulatedClock()) == "allow"

    agenttrace.assert_timeout_budgets(config.budgets())
    agenttrace.assert_no_errors()


def test_an_api_slower_than_the_agent_timeout_now_falls_back(agenttrace: AgentTrace) -> None:
    config = FraudConfig(
        orchestrator_timeout=10, risk_agent_timeout=6, enforce_read_timeout=True, api_latency=9
    )
    fraud_check("tx-1", config, SimulatedClock())

    agenttrace.assert_timeout_budgets(config.budgets())
    agenttrace.assert_error("POST /risk-score", "TimeoutError")


@pytest.mark.agenttrace(timeout_budgets={"fraud_check": 10, "risk_scoring_agent": 6})
def test_fixed_budgets_as_a_policy(agenttrace: AgentTrace) -> None:
    config = FraudConfig(orchestrator_timeout=10, risk_agent_timeout=6, enforce_read_timeout=True)
    fraud_check("tx-1", config, SimulatedClock())  # checked when the test ends


def test_budgets_that_cannot_fit_fail_even_on_a_fast_run(agenttrace: AgentTrace) -> None:
    # A 4 s orchestrator cannot wait for a 6 s agent, even when today's API was quick.
    config = FraudConfig(
        orchestrator_timeout=4, risk_agent_timeout=6, enforce_read_timeout=True, api_latency=1
    )
    fraud_check("tx-1", config, SimulatedClock())

    with pytest.raises(AssertionError, match=r"the budgets below it allow 6\.70 s"):
        agenttrace.assert_timeout_budgets(config.budgets())


# -- the embedding agent retried 5 times silently before failing ---------------------------
def test_silent_retries_are_one_failing_line(agenttrace: AgentTrace) -> None:
    with pytest.raises(EmbeddingUnavailableError):
        embedding_agent("refund policy", EmbeddingConfig(), SimulatedClock())

    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_retries("embed_*", at_most=2)

    assert str(failure.value).splitlines()[1] == (
        "- embed_text under embedding_agent: 5 retries (6 attempt(s), 6 failed, "
        "last: TimeoutError: read timed out); allowed 2"
    )


def test_embedding_with_a_sane_timeout(agenttrace: AgentTrace) -> None:
    config = EmbeddingConfig(max_attempts=3, call_timeout=5)
    assert embedding_agent("refund policy", config, SimulatedClock()) == [0.1, 0.2, 0.3]

    agenttrace.assert_retries("embed_*", exactly=0)
    agenttrace.assert_no_errors()


@pytest.mark.agenttrace(max_retries={"embed_*": 2})
def test_retry_cap_as_a_policy(agenttrace: AgentTrace) -> None:
    # Fails fast after 3 attempts instead of 6: within the cap, and the failure is visible.
    with pytest.raises(EmbeddingUnavailableError):
        embedding_agent("refund policy", EmbeddingConfig(max_attempts=3), SimulatedClock())
    agenttrace.assert_error("embedding_agent", EmbeddingUnavailableError)
