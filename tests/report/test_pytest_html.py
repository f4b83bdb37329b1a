"""pytest-html: the failed test's entry carries the waterfall as an html extra.

The browser half (the iframe draws its rows) is in tests/report/test_html_browser.py.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

pytest.importorskip("pytest_html")

SUITE = dedent(
    """
    from opentelemetry import trace

    tracer = trace.get_tracer("t")

    def test_fails(agenttrace):
        with tracer.start_as_current_span("orchestrator"):
            with tracer.start_as_current_span("llm_agent"):
                pass
        agenttrace.assert_tree("orchestrator\\n  validation_agent")

    def test_passes(agenttrace):
        tracer.start_span("fine").end()

    def test_fails_without_spans(agenttrace):
        assert False
    """
)


def _results(path: Path) -> dict[str, Any]:
    """pytest-html 4's per-test data, from the JSON blob its page draws from."""
    found = re.search(r'data-jsonblob="([^"]*)"', path.read_text(encoding="utf-8"))
    assert found is not None
    blob: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return blob["tests"]


def _waterfalls(tests: dict[str, Any]) -> dict[str, list[str]]:
    return {
        nodeid: [
            extra["content"]
            for entry in entries
            for extra in entry["extras"]
            if "agenttrace-waterfall" in extra["content"]
        ]
        for nodeid, entries in tests.items()
    }


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["in-process", "xdist"])
def test_only_a_failed_test_with_spans_gets_the_waterfall(
    pytester: pytest.Pytester, xdist: tuple[str, ...]
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess("--html=report.html", *xdist)
    result.assert_outcomes(passed=1, failed=2)
    waterfalls = _waterfalls(_results(pytester.path / "report.html"))
    assert {nodeid: len(found) for nodeid, found in waterfalls.items()} == {
        "test_suite.py::test_fails": 1,
        "test_suite.py::test_passes": 0,
        "test_suite.py::test_fails_without_spans": 0,
    }
    (frame,) = waterfalls["test_suite.py::test_fails"]
    assert frame.startswith('<iframe class="agenttrace-waterfall"')
    page = html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))  # type: ignore[union-attr]
    assert "default-src 'none'" in page and '"n":"llm_agent"' in page
    assert '"mm":["missing: validation_agent"]' in page


def test_without_html_no_extra_is_added(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        dedent(
            """
            import pytest

            @pytest.hookimpl(wrapper=True, tryfirst=True)
            def pytest_runtest_makereport(item, call):
                report = yield
                assert not getattr(report, "extras", []), report.extras
                return report
            """
        )
    )
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    assert "INTERNALERROR" not in result.stdout.str()


def test_a_test_failed_at_teardown_gets_the_waterfall_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_hangs=dedent(
            """
            from opentelemetry import trace

            def test_hangs(agenttrace):
                tracer = trace.get_tracer("t")
                with tracer.start_as_current_span("orchestrator"):
                    tracer.start_span("hung_agent")  # never ended: an error at teardown
            """
        )
    )
    result = pytester.runpytest_subprocess("--html=report.html")
    result.assert_outcomes(passed=1, errors=1)
    (frames,) = _waterfalls(_results(pytester.path / "report.html")).values()
    assert frames  # pytest-html shows the test's extras with each of its rows
    page = html.unescape(re.search(r'srcdoc="([^"]*)"', frames[0]).group(1))  # type: ignore[union-attr]
    assert '"n":"hung_agent"' in page and '"outcome":"error"' in page
