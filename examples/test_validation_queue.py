"""The validation agent over Redis pub/sub: context propagated, and the broken variant.

`agenttrace_redis` is fakeredis unless a server is configured
(`--agenttrace-redis-url` / `AGENTTRACE_REDIS_URL`); channels get a unique name
so runs sharing a real server (pytest-xdist) never hear each other.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from textwrap import dedent

import pytest
from pipeline import Services, orchestrator, process_document
from pipeline.validation_queue import QueuedValidator, ValidationWorker

from pytest_agenttrace import AgentTrace

DOCUMENT = {"id": "42", "content": "Refunds are issued within 14 days. When do orders ship?"}
EXAMPLES = Path(__file__).parent

pytest_plugins = ["pytester"]


@pytest.fixture
def channel() -> str:
    return f"validation-{uuid.uuid4().hex[:8]}"


def test_validation_over_pubsub_joins_the_pipeline_trace(
    agenttrace: AgentTrace,
    services: Services,
    agenttrace_redis,
    channel: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        orchestrator, "validate", QueuedValidator(agenttrace_redis, channel).validate
    )

    with ValidationWorker(agenttrace_redis, channel):
        result = process_document(DOCUMENT, services)

    assert result.passed
    agenttrace.assert_single_trace()
    agenttrace.assert_propagated("publish validation", "validation_agent", via="parent")
    agenttrace.assert_tree("""
        process_document {document.id: "42", validation.score: *}
          ...
          publish validation [producer] {messaging.system: "redis"}
            process validation [consumer]
              validation_agent {document.id: "42"}
    """)
    agenttrace_redis.delete(f"{channel}:verdicts:42")


BROKEN = """
    import uuid
    from pipeline import Passage
    from pipeline.validation_queue import ForgetfulValidator, ValidationWorker
    from opentelemetry import trace

    tracer = trace.get_tracer("orchestrator")
    PASSAGES = [Passage("faq", "Orders ship within 2 days.", 0.9)]

    def test_validation_hop(agenttrace, agenttrace_redis):
        channel = f"validation-{uuid.uuid4().hex[:8]}"
        with ValidationWorker(agenttrace_redis, channel):
            with tracer.start_as_current_span("process_document"):
                validator = ForgetfulValidator(agenttrace_redis, channel)
                verdict = validator.validate("42", "Orders ship within 2 days.", PASSAGES)
        assert verdict.passed
        agenttrace_redis.delete(f"{channel}:verdicts:42")
        ASSERTION
"""


def run_broken(pytester: pytest.Pytester, assertion: str, *args: str) -> pytest.RunResult:
    pytester.syspathinsert(EXAMPLES)
    pytester.makepyfile(dedent(BROKEN).replace("ASSERTION", assertion))
    return pytester.runpytest(*args)


def fn(*lines: str) -> list[str]:
    return [line.replace("[", "[[]") for line in lines]


def test_broken_variant_fails_assert_propagated(pytester: pytest.Pytester) -> None:
    result = run_broken(
        pytester, 'agenttrace.assert_propagated("publish validation", "validation_agent")'
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        fn(
            "E       AssertionError: Context was not propagated from `publish validation` "
            "[producer] to `validation_agent`:",
            "E       - not a descendant: `validation_agent` is under `process validation` "
            "[consumer] in trace *",
            "E       - no span link to `publish validation` [producer] (or a span under it) on "
            "`validation_agent` or its ancestors (it has no links)",
            "E       - propagator spy: inject() was never called while `publish validation` "
            "[producer] was active",
            "E       - propagator spy: extract() in thread 'validation-worker': the carrier had no "
            "traceparent (it was empty)",
        ),
        consecutive=True,
    )


def test_broken_variant_fails_strict_mode_without_an_assert(pytester: pytest.Pytester) -> None:
    result = run_broken(pytester, "pass", "--agenttrace-strict")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        fn(
            "Broken context propagation: 1 span(s) started a new trace where context should "
            "have been carried over.",
            "- `process validation` [consumer] started trace *… (2 span(s)): a consumer span "
            "with no parent and no link, while the capture holds producer/client spans",
            "  most likely sender: `publish validation` [producer] in trace *…",
            "  inject() was never called while `publish validation` [producer] was active",
            "  extract() in thread 'validation-worker': the carrier had no traceparent "
            "(it was empty)",
        ),
        consecutive=True,
    )
