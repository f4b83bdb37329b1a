"""Executed examples for docs/failures.md."""

import pytest
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from policy_messages import check_message

tracer = trace.get_tracer(__name__)


# --8<-- [start:retrying_agent]
def embedding_agent(failures):
    """Retries the embedding API until it answers (the incident: nobody noticed)."""
    with tracer.start_as_current_span("embedding_agent"):
        for attempt in range(6):
            try:
                with tracer.start_as_current_span("embed_text"):
                    if attempt < failures:
                        raise TimeoutError("read timed out after 0.5 s")
                    return "vector"
            except TimeoutError:
                continue
        raise TimeoutError("embedding API unavailable")


# --8<-- [end:retrying_agent]


# --8<-- [start:assert_retries]
def test_embedding_retries_are_capped(agenttrace):
    embedding_agent(failures=1)

    retries = agenttrace.assert_retries("embed_text", at_most=2)
    assert retries == {"embed_text": 1}


# --8<-- [end:assert_retries]


def test_retry_chain_failure(agenttrace):
    with pytest.raises(TimeoutError):
        embedding_agent(failures=6)
    with pytest.raises(AssertionError) as failure:
        # --8<-- [start:retry_chain]
        agenttrace.assert_retries("embed_text", at_most=2)
        # --8<-- [end:retry_chain]
    check_message(str(failure.value), "assert_retries")


# --8<-- [start:max_retries_marker]
@pytest.mark.agenttrace(max_retries={"embed_*": 2})
def test_pipeline_retries_little(agenttrace):
    embedding_agent(failures=2)


# --8<-- [end:max_retries_marker]


# --8<-- [start:agents]
class RateLimitedError(Exception):
    pass


def llm_agent(fail):
    with tracer.start_as_current_span("llm_agent"):
        if fail:
            raise RateLimitedError("429 from provider")


def validation_agent(score):
    with tracer.start_as_current_span("validation_agent") as span:
        if score < 0.5:
            span.set_status(Status(StatusCode.ERROR, "score below threshold"))


# --8<-- [end:agents]


# --8<-- [start:assert_error]
def test_rate_limit_is_recorded(agenttrace):
    with pytest.raises(RateLimitedError):
        llm_agent(fail=True)

    [span] = agenttrace.assert_error("llm_agent", RateLimitedError, message="429")
    assert span.status_description == "RateLimitedError: 429 from provider"


# --8<-- [end:assert_error]


def test_assert_no_errors_failure(agenttrace):
    with tracer.start_as_current_span("orchestrator"):
        with pytest.raises(RateLimitedError):
            llm_agent(fail=True)
        validation_agent(score=0.2)
    with pytest.raises(AssertionError) as failure:
        # --8<-- [start:assert_no_errors]
        agenttrace.assert_no_errors()
        # --8<-- [end:assert_no_errors]
    check_message(str(failure.value), "assert_no_errors")


def test_assert_error_failure(agenttrace):
    validation_agent(score=0.2)
    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_error("validation_agent", TimeoutError)
    check_message(str(failure.value), "assert_error")


# --8<-- [start:span_errors_marker]
@pytest.mark.agenttrace(span_errors="fail")
def test_happy_path_records_no_error(agenttrace):
    llm_agent(fail=False)
    validation_agent(score=0.9)


# --8<-- [end:span_errors_marker]
