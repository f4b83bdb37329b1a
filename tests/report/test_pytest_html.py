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
    """Per test, the waterfall frames in its rows (in the extras or in a row's own HTML)."""
    return {
        nodeid: [frame for _, frames in _rows(entries) for frame in frames]
        for nodeid, entries in tests.items()
    }


def _rows(entries: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """Each row of one test: its result, and the waterfall frames it carries."""
    found = []
    for entry in entries:
        html_texts = [extra["content"] for extra in entry["extras"]] + [entry.get("log", "")]
        frames = [
            frame
            for text in html_texts
            for frame in re.findall(r'<iframe class="agenttrace-waterfall".*?</iframe>', text)
        ]
        found.append((entry["result"], frames))
    return found


def _page(frame: str) -> dict[str, Any]:
    """The data of the page in a frame's srcdoc."""
    page = html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))  # type: ignore[union-attr]
    data = re.search(r'id="agenttrace-data">(.*?)</script>', page, re.S).group(1)  # type: ignore[union-attr]
    assert "default-src 'none'" in page
    result: dict[str, Any] = json.loads(data)
    return result


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
    (test,) = _page(frame)["tests"]
    assert [span["n"] for span in test["spans"]] == ["orchestrator", "llm_agent"]
    assert test["spans"][0]["mm"] == ["missing: validation_agent"]
    assert test["duration"] > 0


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


def test_a_test_failed_at_teardown_gets_one_waterfall_in_its_error_row(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_hangs=dedent(
            """
            import time
            from opentelemetry import trace

            def test_hangs(agenttrace):
                tracer = trace.get_tracer("t")
                with tracer.start_as_current_span("orchestrator"):
                    tracer.start_span("hung_agent")  # never ended: an error at teardown
                    time.sleep(0.2)

            def test_fails_twice(agenttrace):
                tracer = trace.get_tracer("t")
                tracer.start_span("left_open")
                assert False
            """
        )
    )
    result = pytester.runpytest_subprocess("--html=report.html")
    result.assert_outcomes(failed=1, passed=1, errors=2)
    tests = _results(pytester.path / "report.html")
    rows = {
        nodeid: [(row, len(frames)) for row, frames in _rows(entries)]
        for nodeid, entries in tests.items()
    }
    # the passed call row of the teardown error carries nothing; a call failure that also
    # errors at teardown has its one waterfall in the first failed row
    assert rows == {
        "test_hangs.py::test_hangs": [("Passed", 0), ("Error", 1)],
        "test_hangs.py::test_fails_twice": [("Failed", 1), ("Error", 0)],
    }
    (frame,) = _waterfalls(tests)["test_hangs.py::test_hangs"]
    (test,) = _page(frame)["tests"]
    assert test["outcome"] == "error" and {span["n"] for span in test["spans"]} == {
        "orchestrator",
        "hung_agent",
    }
    assert test["duration"] >= 0.2  # the whole test's, as pytest-html's own column
    (frame,) = _waterfalls(tests)["test_hangs.py::test_fails_twice"]
    assert _page(frame)["tests"][0]["outcome"] == "failed"
