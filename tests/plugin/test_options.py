"""Settings precedence and validation, and the trace in failure reports."""

from __future__ import annotations

import dataclasses
import json
from textwrap import dedent

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_agenttrace._options import AgentTraceOptions, _parse

FAILING_TEST = dedent(
    """
    from opentelemetry import trace

    def test_fails(agenttrace):
        with trace.get_tracer("t").start_as_current_span("orchestrator"):
            trace.get_tracer("t").start_span("agent").end()
        assert False
    """
)


def test_failed_test_report_shows_the_captured_trace_by_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FAILING_TEST)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*- Captured agenttrace call -*", "orchestrator", "└── agent"], consecutive=True
    )


def test_report_never_on_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FAILING_TEST)
    result = pytester.runpytest("--agenttrace-report=never")
    result.assert_outcomes(failed=1)
    result.stdout.no_fnmatch_line("*Captured agenttrace*")


def test_report_never_in_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_report = never\n")
    pytester.makepyfile(FAILING_TEST)
    result = pytester.runpytest()
    result.stdout.no_fnmatch_line("*Captured agenttrace*")


def test_command_line_beats_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_report = never\n")
    pytester.makepyfile(FAILING_TEST)
    result = pytester.runpytest("--agenttrace-report=failed")
    result.stdout.fnmatch_lines(["*- Captured agenttrace call -*"])


def test_marker_beats_command_line_and_closest_marker_wins(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        "import pytest\n"
        "pytestmark = pytest.mark.agenttrace(report='always')\n"
        "@pytest.mark.agenttrace(report='never')\n" + FAILING_TEST.lstrip()
    )
    result = pytester.runpytest("--agenttrace-report=always", "-rA")
    result.stdout.no_fnmatch_line("*Captured agenttrace*")


@pytest.mark.parametrize(
    "where",
    [
        # a fixture set up before agenttrace marks its test
        "@pytest.fixture\ndef marks(request):\n"
        "    request.applymarker(pytest.mark.agenttrace(report='never'))\n",
        # a conftest hook marks tests after the plugin's own collection hook ran
        "@pytest.hookimpl(trylast=True)\ndef pytest_collection_modifyitems(items):\n"
        "    for item in items:\n"
        "        item.add_marker(pytest.mark.agenttrace(report='never'))\n"
        "@pytest.fixture\ndef marks():\n    pass\n",
    ],
    ids=["fixture", "late-collection-hook"],
)
def test_a_marker_added_after_collection_applies(pytester: pytest.Pytester, where: str) -> None:
    pytester.makeconftest("import pytest\n" + where)
    pytester.makepyfile(FAILING_TEST.replace("(agenttrace)", "(marks, agenttrace)"))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.no_fnmatch_line("*Captured agenttrace*")


def test_report_always_shows_passing_tests_traces(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            import pytest
            from opentelemetry import trace

            @pytest.mark.agenttrace(report="always")
            def test_passes(agenttrace):
                trace.get_tracer("t").start_span("only").end()
            """
        )
    )
    result = pytester.runpytest("-rA")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*- Captured agenttrace call -*", "only"], consecutive=True)


def test_unknown_marker_argument_is_a_usage_error_naming_valid_ones(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        dedent(
            """
            import pytest

            @pytest.mark.agenttrace(reprot="never")
            def test_it(agenttrace):
                pass
            """
        )
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: *unknown @pytest.mark.agenttrace argument 'reprot'. "
            "Did you mean 'report'? Valid arguments: *report*"
        ]
    )


def test_bad_marker_value_names_the_valid_values_without_a_traceback(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        dedent(
            """
            import pytest

            @pytest.mark.agenttrace(report="sometimes")
            def test_it(agenttrace):
                pass
            """
        )
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*@pytest.mark.agenttrace(report=...): 'sometimes' is not one of: failed, always, never"]
    )
    for output in (result.stdout, result.stderr):
        output.no_fnmatch_line("*_options.py*")
        output.no_fnmatch_line("*Traceback*")


def test_bad_ini_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_report = sometimes\n")
    pytester.makepyfile("def test_it(): pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*ini option agenttrace_report: 'sometimes' is not one of: failed, always, never"]
    )


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.agenttrace(*report=...*"])


# -- option values -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("max_spans_per_trace=2.7", "*max_spans_per_trace=...): 2.7 is not a whole number*"),
        ('timeout_budgets={"agent": float("nan")}', "*'agent': nan is not a duration*"),
        ("max_duration=10**400", "*max_duration=...): 1000000*... (401 characters) is too large"),
        (
            'timeout_budgets={"a": 10**400}',
            "*timeout_budgets=...): {'a': 1000000*... (408 characters) is too large",
        ),
        # a huge value is cut where it is echoed, and says how long it was
        (
            'report="x" * 100_000',
            "*report=...): 'xxxxx*... (100,002 characters) is not one of: failed, always, never",
        ),
        ("report=Hostile()", "*report=...): the value could not be read (RuntimeError: no str)*"),
    ],
)
def test_marker_values_that_would_be_silently_wrong_are_rejected(
    pytester: pytest.Pytester, argument: str, expected: str
) -> None:
    pytester.makepyfile(
        dedent(
            f"""
            import pytest

            class Hostile:
                def __str__(self):
                    raise RuntimeError("no str")

            @pytest.mark.agenttrace({argument})
            def test_it(agenttrace):
                pass
            """
        )
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])


def test_an_ini_value_nested_thousands_deep_is_a_usage_error(pytester: pytest.Pytester) -> None:
    nested = '{"a": ' + "[" * 5000 + "]" * 5000 + "}"
    pytester.makeini(f"[pytest]\nagenttrace_timeout_budgets = {nested}\n")
    pytester.makepyfile("def test_it(agenttrace):\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*agenttrace_timeout_budgets*nested too deeply*"])
    assert "Traceback" not in result.stderr.str()


# -- any value: a setting or a UsageError naming the option, never anything else -----------
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats()
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
texts = st.one_of(
    st.text(max_size=40),
    json_values.map(json.dumps),
    st.builds(lambda depth: "[" * depth + "]" * depth, st.integers(1000, 5000)),
    st.builds(lambda n: f'{{"a*": {n}}}', st.integers(10**300, 10**400)),
)


@settings(max_examples=300)
@given(
    field=st.sampled_from([field.name for field in dataclasses.fields(AgentTraceOptions)]),
    value=st.one_of(json_values, texts),
)
def test_any_option_value_is_a_setting_or_a_usage_error(field: str, value: object) -> None:
    fields = {f.name: f for f in dataclasses.fields(AgentTraceOptions)}
    try:
        _parse(fields[field], value, f"@pytest.mark.agenttrace({field}=...)")
    except pytest.UsageError as error:
        assert str(error).startswith(f"@pytest.mark.agenttrace({field}=...): ")
