"""The `agenttrace` fixture finds the test it serves (plugin.py reads it from the
running protocol, not from `request`)."""

from __future__ import annotations

from textwrap import dedent

import pytest

pytest_plugins = ["pytester"]


def test_a_runner_that_bypasses_the_protocol_hook_gets_a_clear_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        dedent(
            """
            from _pytest.runner import runtestprotocol

            def pytest_runtestloop(session):  # a custom runner, as some plugins have
                for item in session.items:
                    runtestprotocol(item, nextitem=None)
                return True
            """
        )
    )
    pytester.makepyfile("def test_it(agenttrace):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        ["*agenttrace: no test is running through pytest_runtest_protocol*"]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
