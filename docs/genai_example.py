"""Executed examples for docs/genai.md."""

import asyncio

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from policy_messages import check_message

tracer = trace.get_tracer(__name__)


# --8<-- [start:agent]
def run_agent(provider_attribute="gen_ai.provider.name"):
    """An agent run instrumented by hand, following the GenAI conventions."""
    with tracer.start_as_current_span(
        "invoke_agent planner",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            provider_attribute: "openai",
            "gen_ai.agent.name": "planner",
        },
    ):
        with tracer.start_as_current_span(
            "chat gpt-4o",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                provider_attribute: "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 42,
                "gen_ai.usage.output_tokens": 7,
            },
        ):
            pass
        with tracer.start_as_current_span(
            "execute_tool search",
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
        ):
            pass


# --8<-- [end:agent]


# --8<-- [start:assert]
def test_agent_follows_the_conventions(agenttrace):
    run_agent()

    agenttrace.assert_genai_conventions()


# --8<-- [end:assert]


def test_broken_agent_message(agenttrace):
    # --8<-- [start:broken]
    with tracer.start_as_current_span(
        "invoke_agent planner", attributes={"gen_ai.operation.name": "invoke_agent"}
    ):
        with tracer.start_as_current_span(  # a model call as SERVER, model not recorded
            "chat gpt-4o",
            kind=SpanKind.SERVER,
            attributes={"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"},
        ):
            pass
    with tracer.start_as_current_span(  # a tool outside any agent
        "execute_tool search", attributes={"gen_ai.operation.name": "execute_tool"}
    ):
        pass
    # --8<-- [end:broken]
    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_genai_conventions()
    check_message(str(failure.value), "assert_genai_conventions")


def test_recommended_level_message(agenttrace):
    run_agent()
    with pytest.raises(AssertionError) as failure:
        agenttrace.assert_genai_conventions(level="recommended")
    check_message(str(failure.value), "assert_genai_conventions_recommended")


def test_deprecated_name_is_a_warning(agenttrace):
    # --8<-- [start:deprecated]
    run_agent(provider_attribute="gen_ai.system")  # the name before v1.37.0

    with pytest.warns(UserWarning, match="deprecated gen_ai.system") as record:
        agenttrace.assert_genai_conventions()  # passes, with a warning
    # --8<-- [end:deprecated]
    check_message(str(record[0].message), "genai_deprecated")


# --8<-- [start:policy]
@pytest.mark.agenttrace(genai_conventions="required")
def test_checked_at_teardown(agenttrace):
    run_agent()


# --8<-- [end:policy]


# --8<-- [start:pydantic_ai]
def test_pydantic_ai_agent(agenttrace):
    pydantic_ai = pytest.importorskip("pydantic_ai")
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.models.test import TestModel

    agent = pydantic_ai.Agent(TestModel(), name="weather_agent")
    agent.instrument = InstrumentationSettings(tracer_provider=agenttrace.tracer_provider)

    @agent.tool_plain
    def get_weather(city: str) -> str:
        return "sunny"

    asyncio.run(agent.run("What is the weather in Paris?"))

    agenttrace.assert_genai_conventions("chat *", level="recommended")
    agenttrace.assert_genai_conventions("execute_tool *")


# --8<-- [end:pydantic_ai]
