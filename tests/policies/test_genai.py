"""GenAI semantic conventions: hand-built spans, a real agent framework, and the policy."""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from textwrap import dedent

import pytest
from opentelemetry import trace

from pytest_agenttrace import AgentTrace, AgentTraceWarning

GENAI = dedent(
    """
    import pytest
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    tracer = trace.get_tracer("genai")
    CLIENT, INTERNAL = SpanKind.CLIENT, SpanKind.INTERNAL

    def good_agent_run():
        with tracer.start_as_current_span("invoke_agent planner", kind=INTERNAL, attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai",
            "gen_ai.agent.name": "planner",
            "gen_ai.usage.input_tokens": 30, "gen_ai.usage.output_tokens": 12,
        }):
            with tracer.start_as_current_span("chat gpt-4o", kind=CLIENT, attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 30, "gen_ai.usage.output_tokens": 12,
            }):
                pass
            with tracer.start_as_current_span("execute_tool search", kind=INTERNAL, attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search",
                "gen_ai.tool.call.id": "call_1",
            }):
                # A sub-agent called as a tool sits under the execute_tool span.
                with tracer.start_as_current_span("invoke_agent researcher", kind=CLIENT,
                        attributes={
                    "gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai",
                    "gen_ai.agent.name": "researcher",
                    "gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 1,
                }):
                    pass

    def broken_agent_run():
        with tracer.start_as_current_span("invoke_agent planner", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner",
        }):
            with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.SERVER, attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
            }) as chat:
                # A sub-agent under a model call: nobody's tool called it.
                with tracer.start_as_current_span("invoke_agent helper", kind=CLIENT, attributes={
                    "gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai",
                    "gen_ai.agent.name": "assistant",
                }):
                    pass
            with tracer.start_as_current_span("execute_tool search", attributes={
                "gen_ai.tool.name": "search",
            }) as tool:
                tool.set_status(Status(StatusCode.ERROR, "search backend down"))
        # Outside any agent: a stray tool and a stray model call.
        with tracer.start_as_current_span("execute_tool lookup", attributes={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup",
        }):
            pass
        with tracer.start_as_current_span("embeddings", kind=CLIENT, attributes={
            "gen_ai.operation.name": "embeddings", "gen_ai.provider.name": "openai",
        }):
            pass

    def deprecated_chat():
        with tracer.start_as_current_span("invoke_agent planner", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai",
            "gen_ai.agent.name": "planner",
        }):
            with tracer.start_as_current_span("chat gpt-4o", kind=CLIENT, attributes={
                "gen_ai.operation.name": "chat", "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o",
            }):
                pass
    """
)

POINTER = (
    "Rules: pytest_agenttrace/genai_rules.json, encoding GenAI semantic conventions v1.37.0 "
    "(https://github.com/open-telemetry/semantic-conventions/blob/v1.37.0/docs/gen-ai/"
    "gen-ai-spans.md). See docs/genai.md"
)

BROKEN = [
    "6 of 6 GenAI span(s) break the OpenTelemetry GenAI semantic conventions {source}:",
    "- invoke_agent planner: missing gen_ai.provider.name (required)",
    "- chat gpt-4o under invoke_agent planner: missing gen_ai.request.model (conditionally "
    "required: the span name says 'gpt-4o'); span kind is server, expected client or internal",
    "- invoke_agent helper under chat gpt-4o < invoke_agent planner: span name should be "
    "'invoke_agent assistant' (shape 'invoke_agent {{gen_ai.agent.name}}'); is a sub-agent whose "
    "nearest GenAI ancestor is not the execute_tool or agent span that called it",
    "- execute_tool search under invoke_agent planner: missing gen_ai.operation.name "
    "(required); missing error.type (conditionally required: the span failed)",
    "- execute_tool lookup: has no invoke_agent ancestor: a tool runs on behalf of an agent",
    "- embeddings: is not under an agent or workflow span: model calls belong to an agent's run",
    "",
    POINTER,
]


def _e(lines: list[str]) -> list[str]:
    return ["E       AssertionError: " + lines[0]] + [
        "E       " + line if line else "E       " for line in lines[1:]
    ]


def test_conformant_agent_run_passes_at_every_level(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        GENAI
        + dedent(
            """
            def test_it(agenttrace):
                good_agent_run()
                agenttrace.assert_genai_conventions()
                agenttrace.assert_genai_conventions(level="recommended")
            """
        )
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_assert_genai_conventions_lists_every_broken_span(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        GENAI
        + dedent(
            """
            def test_it(agenttrace):
                broken_agent_run()
                agenttrace.assert_genai_conventions()
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    lines = [line.format(source="(level required)") for line in BROKEN]
    result.stdout.fnmatch_lines(_e(lines), consecutive=True)


def test_level_recommended_asks_for_token_usage(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        GENAI
        + dedent(
            """
            def test_it(agenttrace):
                deprecated_chat()
                agenttrace.assert_genai_conventions(deprecated="allow")
                agenttrace.assert_genai_conventions(level="recommended", deprecated="allow")
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       AssertionError: 2 of 2 GenAI span(s) break the OpenTelemetry GenAI semantic "
            "conventions (level recommended):",
            "E       - invoke_agent planner: missing gen_ai.usage.input_tokens (recommended); "
            "missing gen_ai.usage.output_tokens (recommended)",
            "E       - chat gpt-4o under invoke_agent planner: missing gen_ai.response.model "
            "(recommended); missing gen_ai.usage.input_tokens (recommended); missing "
            "gen_ai.usage.output_tokens (recommended)",
        ],
        consecutive=True,
    )


def test_structure_can_be_switched_off_and_workflow_spans_named(agenttrace: AgentTrace) -> None:
    from opentelemetry.trace import SpanKind

    tracer = agenttrace.tracer
    with (
        tracer.start_as_current_span("process_document"),
        tracer.start_as_current_span(
            "chat gpt-4o",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
            },
        ),
    ):
        pass
    with pytest.raises(AssertionError, match="is not under an agent or workflow span"):
        agenttrace.assert_genai_conventions()
    agenttrace.assert_genai_conventions(structure=False)
    agenttrace.assert_genai_conventions(workflow="process_document")


def test_level_must_be_known(agenttrace: AgentTrace) -> None:
    with pytest.raises(ValueError, match="level must be one of required, recommended"):
        agenttrace.assert_genai_conventions(level="everything")


# -- deprecated gen_ai.system -------------------------------------------------------------
def test_deprecated_system_is_a_warning_not_a_failure(agenttrace: AgentTrace) -> None:
    from opentelemetry.trace import SpanKind

    with (
        agenttrace.tracer.start_as_current_span(
            "invoke_agent a",
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.system": "openai",
                "gen_ai.agent.name": "a",
            },
        ),
        agenttrace.tracer.start_as_current_span(
            "chat m",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "openai",
                "gen_ai.provider.name": "openai",  # both names: a transition, nothing to say
                "gen_ai.request.model": "m",
            },
        ),
    ):
        pass
    with pytest.warns(AgentTraceWarning) as record:
        agenttrace.assert_genai_conventions()
    assert str(record[0].message).splitlines()[:2] == [
        "1 GenAI span(s) use deprecated attribute names (accepted; genai_deprecated='fail' "
        "rejects them, 'allow' silences this):",
        "- invoke_agent a: uses deprecated gen_ai.system instead of gen_ai.provider.name "
        "(renamed in semantic conventions 1.37.0)",
    ]
    with pytest.raises(AssertionError, match=r"- invoke_agent a: uses deprecated gen_ai\.system"):
        agenttrace.assert_genai_conventions(deprecated="fail")
    agenttrace.assert_genai_conventions(deprecated="allow")  # no warning: filterwarnings=error


def test_genai_deprecated_setting_marker_ini_and_command_line(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_genai_conventions = required\n")
    pytester.makepyfile(
        GENAI
        + dedent(
            """
            def test_default_warns(agenttrace):
                deprecated_chat()

            @pytest.mark.agenttrace(genai_deprecated="fail")
            def test_marker_fails(agenttrace):
                deprecated_chat()

            @pytest.mark.agenttrace(genai_deprecated="allow")
            def test_marker_allows(agenttrace):
                deprecated_chat()
            """
        )
    )
    result = pytester.runpytest("-W", "default")
    result.assert_outcomes(passed=3, errors=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "1 of 2 GenAI span(s) break the OpenTelemetry GenAI semantic conventions "
            "(genai_conventions = required):",
            "- chat gpt-4o under invoke_agent planner: uses deprecated gen_ai.system instead of "
            "gen_ai.provider.name (renamed in semantic conventions 1.37.0)",
        ],
        consecutive=True,
    )
    result.stdout.fnmatch_lines(["*AgentTraceWarning: 1 GenAI span(s) use deprecated*"])
    result = pytester.runpytest("-W", "default", "--agenttrace-genai-deprecated=fail")
    result.assert_outcomes(passed=3, errors=2)


# -- the policy -----------------------------------------------------------------------------
def test_genai_conventions_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        GENAI
        + dedent(
            """
            @pytest.mark.agenttrace(genai_conventions="required")
            def test_broken(agenttrace):
                broken_agent_run()

            @pytest.mark.agenttrace(genai_conventions="recommended")
            def test_good(agenttrace):
                good_agent_run()

            def test_off_by_default(agenttrace):
                broken_agent_run()
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=3, errors=1)
    lines = [line.format(source="(genai_conventions = required)") for line in BROKEN]
    result.stdout.fnmatch_lines(lines, consecutive=True)


def test_genai_conventions_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_genai_conventions = required\n")
    pytester.makepyfile(GENAI + "\ndef test_it(agenttrace):\n    broken_agent_run()\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    lines = [line.format(source="(genai_conventions = required)") for line in BROKEN]
    result.stdout.fnmatch_lines(lines, consecutive=True)


def test_genai_conventions_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(GENAI + "\ndef test_it(agenttrace):\n    broken_agent_run()\n")
    result = pytester.runpytest("--agenttrace-genai-conventions=required")
    result.assert_outcomes(passed=1, errors=1)
    lines = [line.format(source="(genai_conventions = required)") for line in BROKEN]
    result.stdout.fnmatch_lines(lines, consecutive=True)


def test_genai_conventions_bad_value(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_genai_conventions = strictest\n")
    pytester.makepyfile("def test_it(agenttrace):\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*agenttrace_genai_conventions: 'strictest' is not one of: off, required, recommended*"]
    )


# -- the rule table -----------------------------------------------------------------------------
def test_rule_table_names_the_spec_version_it_encodes() -> None:
    table = json.loads(
        resources.files("pytest_agenttrace").joinpath("genai_rules.json").read_text("utf-8")
    )
    assert table["spec"]["version"] == "1.37.0"
    assert "/v1.37.0/" in table["spec"]["spans"]
    assert "semantic-conventions-genai" in table["spec"]["note"]
    assert table["deprecated_attributes"]["gen_ai.system"]["replacement"] == "gen_ai.provider.name"
    for name, rule in table["operations"].items():
        assert rule["span_name"].startswith(("{gen_ai.operation.name} ", name + " "))
        assert rule["attributes"]["gen_ai.operation.name"]["level"] == "required"
        assert set(rule["span_kinds"]) <= {"client", "internal", "server", "producer", "consumer"}
    assert table["operations"]["execute_tool"]["span_kinds"] == ["internal"]


# -- a real agent framework, offline ------------------------------------------------------------
def test_pydantic_ai_agent_spans(agenttrace: AgentTrace) -> None:
    """pydantic-ai's own instrumentation, with its offline TestModel.

    What it emits (pydantic-ai 2.x): `invoke_agent {name}` (INTERNAL) over
    `chat test` (CLIENT) and `execute_tool {tool}` (INTERNAL) spans carrying
    gen_ai.operation.name / gen_ai.provider.name / gen_ai.request.model /
    gen_ai.tool.name and token usage, plus the deprecated gen_ai.system next to
    gen_ai.provider.name. Its invoke_agent span has no gen_ai.provider.name
    (required for invoke_agent since v1.37.0) and reports usage as
    gen_ai.aggregated_usage.*, so the checks find exactly that, and only while
    the framework still omits it.
    """
    pydantic_ai = pytest.importorskip("pydantic_ai")
    from pydantic_ai.models.instrumented import InstrumentationSettings
    from pydantic_ai.models.test import TestModel

    agent = pydantic_ai.Agent(TestModel(), name="weather_agent")
    agent.instrument = InstrumentationSettings(tracer_provider=agenttrace.tracer_provider)

    @agent.tool_plain
    def get_weather(city: str) -> str:
        return "sunny"

    result = asyncio.run(agent.run("What is the weather in Paris?"))
    assert "sunny" in result.output

    agenttrace.assert_tree(
        """
        invoke_agent weather_agent
          chat test [client]
          execute_tool get_weather
          chat test [client]
        """
    )
    # Model calls and tool executions conform, at both levels.
    agenttrace.assert_genai_conventions("chat *", level="recommended")
    agenttrace.assert_genai_conventions("execute_tool *", level="recommended")

    invoke = agenttrace.one("invoke_agent *")
    if "gen_ai.provider.name" in invoke.attributes:  # a later pydantic-ai fixed it
        agenttrace.assert_genai_conventions()
    else:
        with pytest.raises(AssertionError) as failure:
            agenttrace.assert_genai_conventions()
        assert str(failure.value).splitlines()[:2] == [
            "1 of 4 GenAI span(s) break the OpenTelemetry GenAI semantic conventions "
            "(level required):",
            "- invoke_agent weather_agent: missing gen_ai.provider.name (required)",
        ]


def test_identical_findings_are_reported_once_with_a_count(agenttrace: AgentTrace) -> None:
    tracer = agenttrace.tracer
    with tracer.start_as_current_span(
        "invoke_agent tools",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai"},
    ):
        for _ in range(3):  # three retries of the same broken tool call
            tracer.start_span("execute_tool search").end()
    with pytest.raises(AssertionError) as error:
        agenttrace.assert_genai_conventions("execute_tool *")
    bullets = [line for line in str(error.value).splitlines() if line.startswith("- ")]
    assert len(bullets) == 1
    assert bullets[0].startswith("- execute_tool search under invoke_agent tools: ")
    assert bullets[0].endswith(" (x3)")


tracer = trace.get_tracer(__name__)


# -- GenAI conventions -------------------------------------------------------------------------
def test_execute_tool_name_attribute_is_recommended_not_required(agenttrace: AgentTrace) -> None:
    # GenAI semconv v1.37.0, execute_tool span: gen_ai.tool.name is `Recommended`.
    with (
        tracer.start_as_current_span(
            "invoke_agent planner",
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.provider.name": "openai",
                "gen_ai.agent.name": "planner",
            },
        ),
        tracer.start_as_current_span(
            "execute_tool search", attributes={"gen_ai.operation.name": "execute_tool"}
        ),
    ):
        pass
    agenttrace.assert_genai_conventions("execute_tool *")
    with pytest.raises(AssertionError, match=r"missing gen_ai\.tool\.name \(recommended\)"):
        agenttrace.assert_genai_conventions("execute_tool *", level="recommended")


def test_structure_sees_every_ancestor_of_a_deep_chain_in_any_order(
    agenttrace: AgentTrace,
) -> None:
    """Roles above a span come from its parent's, worked out once: checked deepest first,
    a sub-agent 400 levels down still sees the agents above its model call."""
    from pytest_agenttrace.policies._genai import _Lineage, structure_findings

    names = ["invoke_agent top", *["execute_tool call", "invoke_agent sub"] * 200]
    names += ["chat gpt-4o", "invoke_agent stray", "execute_tool late"]
    opened, context = [], None
    for name in names:
        opened.append(agenttrace.tracer.start_span(name, context=context))
        context = trace.set_span_in_context(opened[-1])
    for span in reversed(opened):
        span.end()
    lineage = _Lineage(workflow=None)
    found = {span.name: structure_findings(span, lineage) for span in reversed(agenttrace.spans)}
    assert found == {
        "execute_tool late": [],
        "invoke_agent stray": [
            "is a sub-agent whose nearest GenAI ancestor is not the execute_tool or agent span "
            "that called it"
        ],
        "chat gpt-4o": [],
        "invoke_agent sub": [],
        "execute_tool call": [],
        "invoke_agent top": [],
    }
