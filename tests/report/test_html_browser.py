"""The HTML report in a real browser: Debian's chromium, driven by Playwright.

Reports are written by pytester runs of real test files on the real SDK, then
opened from disk. Every test checks that the page logged no console error and
fetched nothing but itself, and leaves a screenshot under its tmp_path (the path
is printed: `pytest -s` or the captured stdout of a failure shows it).

Skipped when chromium or Playwright is missing, unless CI is set (then it fails:
`.ci/run` installs chromium), as the Node.js agent tests do.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from report_files import report_data

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "images" / "report.png"

SUITE = dedent(
    """
    from opentelemetry import trace
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode

    tracer = trace.get_tracer("pipeline", "1.2")

    def test_passes(agenttrace):
        with tracer.start_as_current_span("healthy", attributes={"document.id": "7"}):
            pass

    def test_tree_differs(agenttrace):
        attributes = {"document.id": "41", "user.id": "u-17"}
        with tracer.start_as_current_span("process_document", attributes=attributes) as root:
            with tracer.start_as_current_span("retrieval_agent", kind=SpanKind.CLIENT) as call:
                call.add_event("cache miss", {"cache.key": "k1"})
                with tracer.start_as_current_span("embed"):
                    pass
            with tracer.start_as_current_span(
                "llm_agent", links=[Link(root.get_span_context(), {"reason": "fan-in"})]
            ) as llm:
                llm.set_status(Status(StatusCode.ERROR, "model overloaded"))
            with tracer.start_as_current_span("cache_lookup"):
                pass
        agenttrace.assert_tree('''
            process_document {document.id: "42"}
              retrieval_agent [client]
                embed
              llm_agent
              validation_agent
        ''')
    """
)

WIDE = dedent(
    """
    from opentelemetry import trace

    tracer = trace.get_tracer("load")

    def test_ten_thousand_spans(agenttrace):
        with tracer.start_as_current_span("orchestrator"):
            for agent in range(100):
                with tracer.start_as_current_span(f"agent {agent}", attributes={"agent.n": agent}):
                    for call in range(99):
                        tracer.start_span(f"call {agent}-{call}").end()
        assert False, "fails, so the page opens it"
    """
)


class OpenedReport:
    """A report open in a browser tab, with what the tab logged and fetched."""

    def __init__(self, browser: Any, path: Path, shots: Path) -> None:
        self.path = path
        self.shots = shots
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.goto(path.as_uri())

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console.{message.type}: {message.text}")

    def span_rows(self, test: str = "") -> Any:
        scope = f'.test[data-nodeid$="{test}"] ' if test else ""
        return self.page.locator(f"{scope}.span-row")

    def row(self, name: str) -> Any:
        return self.page.locator(".span-row", has=self.page.locator(".span-name", has_text=name))

    def names(self, test: str = "") -> list[str]:
        names: list[str] = self.span_rows(test).locator(".span-name").all_text_contents()
        return names

    def check(self, name: str) -> Path:
        """Save a screenshot, then assert nothing went wrong in the tab."""
        shot = self.shots / f"{name}.png"
        self.page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
        assert self.problems == []
        assert set(self.requests) == {self.path.as_uri()}  # nothing fetched but the file
        return shot


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("playwright (pip install 'pytest-agenttrace-otel[test]')")
    if missing:
        reason = "the browser tests need " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set: .ci/run installs chromium)", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture
def open_report(browser: Any, tmp_path: Path) -> Iterator[Any]:
    opened: list[OpenedReport] = []

    def open_(path: Path) -> OpenedReport:
        report = OpenedReport(browser, path, tmp_path)
        opened.append(report)
        return report

    yield open_
    for report in opened:
        report.page.close()


def _report(pytester: pytest.Pytester, source: str, *args: str) -> Path:
    pytester.makepyfile(test_suite=source)
    pytester.runpytest("--agenttrace-html=trace.html", "-p", "no:cacheprovider", *args)
    return pytester.path / "trace.html"


def test_rows_are_nested_and_the_marked_spans_say_why(
    pytester: pytest.Pytester, open_report: Any
) -> None:
    report = open_report(_report(pytester, SUITE))
    page = report.page
    # failed first and open; the passed test folded
    nodeids = page.locator(".test").evaluate_all("els => els.map(e => [e.dataset.nodeid, e.open])")
    assert nodeids == [
        ["test_suite.py::test_tree_differs", True],
        ["test_suite.py::test_passes", False],
    ]
    assert report.names("test_tree_differs") == [
        "process_document",
        "retrieval_agent",
        "embed",
        "llm_agent",
        "cache_lookup",
    ]
    depths = report.span_rows("test_tree_differs").evaluate_all(
        "rows => rows.map(r => [r.dataset.depth, parseFloat(r.firstChild.style.paddingLeft)])"
    )
    assert [depth for depth, _ in depths] == ["0", "1", "2", "1", "1"]
    indents = [indent for _, indent in depths]
    assert indents[0] < indents[1] < indents[2] and indents[1] == indents[3]

    root, llm, extra = (
        report.row("process_document"),
        report.row("llm_agent"),
        report.row("cache_lookup"),
    )
    assert "marked" in root.get_attribute("class")
    assert root.locator(".mark").inner_text() == '✗ document.id: expected "42", got "41"'
    assert extra.locator(".mark").inner_text() == "✗ unexpected span"
    assert "marked" not in report.row("embed").get_attribute("class")
    assert page.locator(".missing-row").all_inner_texts() == ["✗ missing: validation_agent"]
    # errors stand out: the row, a badge, a red bar
    assert "status-error" in llm.get_attribute("class")
    assert llm.locator(".badge.error").inner_text() == "error"
    bar_colour = llm.locator(".bar").evaluate("bar => getComputedStyle(bar).backgroundColor")
    assert bar_colour == "rgb(208, 49, 45)"
    assert report.row("retrieval_agent").locator(".kind").inner_text().lower() == "client"
    # bars on one time axis: a child starts no earlier and ends no later than its parent
    root_box = root.locator(".bar").bounding_box()
    embed_box = report.row("embed").locator(".bar").bounding_box()
    assert root_box["x"] <= embed_box["x"]
    assert embed_box["x"] + embed_box["width"] <= root_box["x"] + root_box["width"] + 1
    report.check("rows")


def test_a_subtree_collapses_and_expands(pytester: pytest.Pytester, open_report: Any) -> None:
    report = open_report(_report(pytester, SUITE))
    report.row("process_document").locator(".toggle").click()
    assert report.names("test_tree_differs") == ["process_document"]
    assert "(4 hidden)" in report.row("process_document").inner_text()
    assert report.page.locator(".missing-row").count() == 0  # it was under the folded span
    report.row("process_document").locator(".toggle").click()
    assert len(report.names("test_tree_differs")) == 5
    report.row("retrieval_agent").locator(".toggle").click()
    assert "embed" not in report.names("test_tree_differs")
    # the keyboard does the same: → unfolds, ← folds, ↓ moves, Enter selects
    report.row("retrieval_agent").focus()
    report.page.keyboard.press("ArrowRight")
    assert "embed" in report.names("test_tree_differs")
    report.page.keyboard.press("ArrowDown")
    report.page.keyboard.press("Enter")
    panel = report.page.locator('.test[data-nodeid$="test_tree_differs"] .details h3')
    assert panel.inner_text() == "embed"
    report.row("process_document").focus()
    report.page.keyboard.press("ArrowLeft")
    assert report.names("test_tree_differs") == ["process_document"]
    report.check("collapse")


def test_a_click_shows_the_span_and_a_link_leads_to_its_target(
    pytester: pytest.Pytester, open_report: Any
) -> None:
    report = open_report(_report(pytester, SUITE))
    panel = report.page.locator('.test[data-nodeid$="test_tree_differs"] .details')
    report.row("retrieval_agent").click()
    assert panel.locator("h3").inner_text() == "retrieval_agent"
    text = panel.inner_text()
    assert "cache miss" in text and '"k1"' in text  # the event and its attributes
    assert "pipeline 1.2" in text  # the scope
    assert "telemetry.sdk.language" in text  # the resource

    report.row("llm_agent").click()
    text = panel.inner_text()
    assert "error: model overloaded" in text
    assert "selected" in report.row("llm_agent").get_attribute("class")
    link = panel.locator("button.link")
    assert link.inner_text().startswith("process_document (")
    link.click()  # the link's target span is selected and shown
    assert panel.locator("h3").inner_text() == "process_document"
    assert "selected" in report.row("process_document").get_attribute("class")
    text = panel.inner_text()
    assert '"41"' in text and "u-17" in text
    assert 'document.id: expected "42", got "41"' in text
    assert "missing: validation_agent (under this span)" in text
    report.check("details")


def test_the_search_box_filters_by_name_and_attribute_value(
    pytester: pytest.Pytester, open_report: Any
) -> None:
    from playwright.sync_api import expect

    report = open_report(_report(pytester, SUITE))
    search = report.page.locator("#search")
    count = report.page.locator("#search-count")
    rows = report.span_rows("test_tree_differs").locator(".span-name")
    search.fill("embed")
    # the match, with its ancestors for context
    expect(rows).to_have_text(["process_document", "retrieval_agent", "embed"])
    expect(count).to_have_text("1 match")
    search.fill("u-17")  # an attribute value
    expect(rows).to_have_text(["process_document"])
    search.fill("no such span")
    expect(count).to_have_text("0 matches")
    expect(report.page.locator(".test:visible")).to_have_count(0)
    expect(report.page.locator("#tests > p.empty")).to_have_text(
        "No span in any test matches the filter."
    )
    search.fill("")
    expect(rows).to_have_count(5)
    expect(report.page.locator("#tests > p.empty")).to_be_hidden()
    report.check("search")


def test_the_search_opens_folded_tests_with_matches_and_hides_the_others(
    pytester: pytest.Pytester, open_report: Any
) -> None:
    from playwright.sync_api import expect

    report = open_report(_report(pytester, SUITE))
    page, search = report.page, report.page.locator("#search")
    passed = page.locator('.test[data-nodeid$="test_passes"]')
    failed = page.locator('.test[data-nodeid$="test_tree_differs"]')
    assert passed.evaluate("e => e.open") is False  # folded: its waterfall not drawn yet
    search.fill("healthy")
    expect(page.locator("#search-count")).to_have_text("1 match")
    expect(report.span_rows("test_passes").locator(".span-name")).to_have_text(["healthy"])
    assert passed.evaluate("e => e.open") is True
    expect(failed).to_be_hidden()  # no match in it
    search.fill("7")  # healthy's document.id "7"; "u-17" in the failed test
    expect(page.locator("#search-count")).to_have_text("2 matches")
    expect(failed).to_be_visible()
    search.fill("validation_agent")  # the line assert_tree found missing
    expect(page.locator("#search-count")).to_have_text("1 match")
    expect(page.locator(".missing-row")).to_have_text(["✗ missing: validation_agent"])
    expect(passed).to_be_hidden()
    search.fill("")  # as before the filter: the passed test folded again
    expect(passed).to_be_visible()
    expect(failed).to_be_visible()
    assert passed.evaluate("e => e.open") is False
    assert failed.evaluate("e => e.open") is True
    expect(report.span_rows("test_tree_differs")).to_have_count(5)
    report.check("search-folded")


def test_a_span_left_open_runs_to_the_end_of_the_axis(
    pytester: pytest.Pytester, open_report: Any
) -> None:
    suite = dedent(
        """
        import time
        from opentelemetry import trace

        tracer = trace.get_tracer("t")

        def test_hangs(agenttrace):
            with tracer.start_as_current_span("orchestrator"):
                tracer.start_span("hung_agent")  # never ended: an error at teardown
                time.sleep(0.01)
        """
    )
    report = open_report(_report(pytester, suite))
    hung = report.row("hung_agent")
    assert hung.locator(".badge.open").inner_text() == "open"
    bar = hung.locator(".bar")
    assert "open" in bar.get_attribute("class")
    # hatched: the stripes are drawn over the service colour
    image = bar.evaluate("bar => getComputedStyle(bar).backgroundImage")
    assert image.startswith("repeating-linear-gradient("), image
    assert bar.evaluate("bar => getComputedStyle(bar).backgroundColor") != "rgba(0, 0, 0, 0)"
    closed = report.row("orchestrator").locator(".bar")
    assert closed.evaluate("bar => getComputedStyle(bar).backgroundImage") == "none"
    cell = hung.locator(".cell-bar").bounding_box()
    box = bar.bounding_box()
    assert abs((box["x"] + box["width"]) - (cell["x"] + cell["width"])) < 2  # to the end
    hung.click()
    assert "still open" in report.page.locator(".details").inner_text()
    assert "[error at teardown]" in report.page.locator(".message").first.inner_text()
    report.check("open-span")


def test_ten_thousand_spans_open_quickly_with_a_row_cap(
    pytester: pytest.Pytester, open_report: Any
) -> None:
    from playwright.sync_api import expect

    path = _report(pytester, WIDE)
    (test,) = report_data(path)["tests"]
    assert len(test["spans"]) == 1 + 100 + 100 * 99
    began = time.perf_counter()
    report = open_report(path)
    report.page.wait_for_selector(".span-row")
    opened = time.perf_counter() - began
    assert report.span_rows().count() == 500
    assert report.page.locator(".more-count").inner_text() == "… 9501 more spans"
    assert opened < 10, f"the 10k-span page took {opened:.1f}s to open"
    report.page.locator("button[data-more=next]").click()
    assert report.span_rows().count() == 1000
    # the filter searches all spans, not only the rendered ones
    report.page.locator("#search").fill("call 97-42")
    expect(report.page.locator("#search-count")).to_have_text("1 match")
    expect(report.span_rows().locator(".span-name")).to_have_text(
        ["orchestrator", "agent 97", "call 97-42"]
    )
    report.page.locator("#search").fill("")
    expect(report.page.locator("#search-count")).to_have_text("")
    report.page.locator("button[data-more=all]").click()
    assert report.span_rows().count() == 10_001
    report.row("call 50-50").click()  # with every row drawn, a click restyles two rows
    assert report.page.locator(".span-row.selected .span-name").all_inner_texts() == ["call 50-50"]
    assert report.page.locator(".details h3").inner_text() == "call 50-50"
    report.row("orchestrator").locator(".toggle").click()
    assert report.names() == ["orchestrator"]
    print(f"10k spans: {path.stat().st_size / 1e6:.1f} MB, opened in {opened:.2f}s")
    report.check("ten-thousand")


LATE_MARKS = dedent(
    """
    from opentelemetry import trace

    tracer = trace.get_tracer("load")

    def test_late_mismatch(agenttrace):
        with tracer.start_as_current_span("orchestrator"):
            for n in range(600):
                attributes = {"tool.name": f"t{n}", "call.n": n, "a": 1, "b": 2}
                tracer.start_span("tool_call", attributes=attributes).end()
            with tracer.start_as_current_span("summarise", attributes={"model": "small"}):
                pass
        agenttrace.assert_tree('''
            orchestrator
              tool_call [x600]
              summarise {model: "large"}
              validation_agent
        ''')
    """
)


def test_marks_beyond_the_row_cap_are_drawn_with_the_gap_counted(
    pytester: pytest.Pytester, open_report: Any
) -> None:
    from playwright.sync_api import expect

    report = open_report(_report(pytester, LATE_MARKS))
    page = report.page
    names = report.names()
    # the first 500 rows, then the marked span past the cap (its parent is row 1)
    assert len(names) == 501
    assert names[:2] == ["orchestrator", "tool_call"] and names[-1] == "summarise"
    assert page.locator(".more-count").all_inner_texts() == ["… 101 more spans"]
    assert report.row("summarise").locator(".mark").inner_text() == (
        '✗ model: expected "large", got "small"'
    )
    assert page.locator(".missing-row").all_inner_texts() == ["✗ missing: validation_agent"]
    order = page.locator(".waterfall > .row").evaluate_all(
        "rows => rows.map(r => r.classList.contains('more-row') ? 'gap'"
        " : r.classList.contains('missing-row') ? 'missing' : r.querySelector('.span-name')"
        " ? r.querySelector('.span-name').textContent : null).filter(Boolean)"
    )
    assert order[-3:] == ["gap", "summarise", "missing"]
    assert "showing 501 rows" in page.locator(".wf-status").inner_text()
    # same-name siblings told apart: their first attributes, dimmed, in the row
    fourth = report.span_rows().nth(4).locator(".attrs")
    assert fourth.inner_text() == 'tool.name="t3" call.n=3 a=1 …'
    assert fourth.evaluate("e => getComputedStyle(e).color") == "rgb(163, 168, 184)"
    page.locator("#search").fill("validation_agent")  # a missing line is found too
    expect(page.locator("#search-count")).to_have_text("1 match")
    expect(page.locator(".missing-row")).to_have_text(["✗ missing: validation_agent"])
    page.locator("#search").fill("")
    expect(page.locator(".more-row")).to_have_count(1)
    page.locator("button[data-more=all]").click()
    assert len(report.names()) == 602 and page.locator(".more-row").count() == 0
    report.check("late-marks")


def test_multi_line_values_are_shown_as_written(
    pytester: pytest.Pytester, open_report: Any
) -> None:
    suite = dedent(
        """
        from opentelemetry import trace

        tracer = trace.get_tracer("t")

        def test_raises(agenttrace):
            prompt = "You are a planner.\\nAnswer briefly."
            with tracer.start_as_current_span("llm_call", attributes={"prompt": prompt}) as span:
                try:
                    raise ValueError("model said no")
                except ValueError as error:
                    span.record_exception(error)
        """
    )
    report = open_report(_report(pytester, suite))
    report.row("llm_call").click()
    details = report.page.locator(".details")
    blocks = details.locator("pre.multiline")
    assert blocks.count() == 2  # the prompt, and the exception event's stack trace
    assert blocks.nth(0).inner_text() == "You are a planner.\nAnswer briefly."
    trace_text = blocks.nth(1).inner_text()
    assert trace_text.startswith("Traceback (most recent call last):\n")
    assert "ValueError: model said no" in trace_text
    assert "\\n" not in details.inner_text()  # no JSON-escaped newline anywhere
    report.check("multi-line")


def test_each_row_is_one_tab_stop(pytester: pytest.Pytester, open_report: Any) -> None:
    report = open_report(_report(pytester, SUITE))
    page = report.page
    report.row("process_document").focus()
    visited = []
    for _ in range(4):
        page.keyboard.press("Tab")
        visited.append(
            page.evaluate(
                "() => document.activeElement.classList.contains('span-row')"
                " ? document.activeElement.querySelector('.span-name').textContent"
                " : document.activeElement.tagName"
            )
        )
    assert visited == ["retrieval_agent", "embed", "llm_agent", "cache_lookup"]
    report.check("tab-stops")


def test_sections_are_in_node_id_order_within_an_outcome(
    pytester: pytest.Pytester, open_report: Any
) -> None:
    suite = dedent(
        """
        import pytest
        from opentelemetry import trace

        tracer = trace.get_tracer("t")

        def test_zeta(agenttrace):
            tracer.start_span("z").end()

        @pytest.mark.parametrize("n", [10, 2, 1])
        def test_agent(agenttrace, n):
            tracer.start_span(f"agent {n}").end()
            assert n != 2

        def test_alpha(agenttrace):
            tracer.start_span("a").end()
        """
    )
    path = _report(pytester, suite, "-n", "2")
    report = open_report(path)
    ids = report.page.locator(".test").evaluate_all("els => els.map(e => e.dataset.nodeid)")
    assert ids == [
        "test_suite.py::test_agent[2]",
        "test_suite.py::test_agent[1]",
        "test_suite.py::test_agent[10]",
        "test_suite.py::test_alpha",
        "test_suite.py::test_zeta",
    ]
    report.check("order")


def test_a_failed_test_in_pytest_html_has_the_waterfall(
    pytester: pytest.Pytester, open_report: Any
) -> None:
    pytest.importorskip("pytest_html")
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest(
        "--html=html/report.html", "--self-contained-html", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1, failed=1)
    report = open_report(pytester.path / "html" / "report.html")
    frames = report.page.locator("iframe.agenttrace-waterfall")
    frames.first.wait_for()
    assert frames.count() == 1  # the failed test's entry only
    # in the failed row's log box, which grows to show the whole frame
    box = frames.first.evaluate("f => getComputedStyle(f.closest('.logwrapper')).maxHeight")
    assert box == "none"
    assert frames.first.evaluate("f => f.closest('tbody').classList.contains('failed')")
    waterfall = report.page.frame_locator("iframe.agenttrace-waterfall")
    waterfall.locator(".span-row").first.wait_for()
    names = waterfall.locator(".span-name").all_text_contents()
    assert names == ["process_document", "retrieval_agent", "embed", "llm_agent", "cache_lookup"]
    assert waterfall.locator(".mark").first.inner_text() == '✗ document.id: expected "42", got "41"'
    waterfall.locator(".span-row", has_text="llm_agent").click()
    assert "error: model overloaded" in waterfall.locator(".details").inner_text()
    report.requests = [url for url in report.requests if url != "about:srcdoc"]
    report.check("pytest-html")


def _copy_examples(pytester: pytest.Pytester) -> None:
    examples = REPO / "examples"
    shutil.copytree(examples / "pipeline", pytester.path / "pipeline")
    for name in ("conftest.py", "stub_api.py"):
        shutil.copy(examples / name, pytester.path / name)


SCREENSHOT_SUITE = dedent(
    '''
    """A multi-agent pipeline whose validation runs in a worker process."""
    from pipeline import orchestrator, process_document
    from pipeline.validation_process import ProcessValidator

    DOCUMENT = {"id": "42", "content": "Refunds are issued within 14 days. When do orders ship?"}

    def test_pipeline_passes(agenttrace, services):
        process_document(DOCUMENT, services)
        agenttrace.assert_single_trace()

    def test_pipeline_with_a_worker_process(agenttrace, services, stub_api, monkeypatch):
        worker = ProcessValidator(agenttrace.otlp_env(service_name="validation-worker"))
        monkeypatch.setattr(orchestrator, "validate", worker.validate)
        stub_api.fail_next("/v1/completions", status=503)
        process_document(DOCUMENT, services)
        agenttrace.assert_tree("""
            process_document {document.id: "42", validation.score: *}
              parse_intent
              retrieval_agent {agent.version: "2.0"}
                POST [client]
                vector_search
              llm_agent
                llm_call [x1]
                  POST [client]
              submit validation [producer]
                process validation [consumer, service=validation-worker]
                  validation_agent {validation.passed: true}
              cache_answer
        """)
    '''
)


def test_the_readme_screenshot(pytester: pytest.Pytester, open_report: Any) -> None:
    """A realistic report; AGENTTRACE_UPDATE_SNIPPETS=1 saves it as docs/images/report.png."""
    _copy_examples(pytester)
    path = _report(pytester, SCREENSHOT_SUITE)
    tests = report_data(path)["tests"]
    assert [test["outcome"] for test in tests] == ["failed", "passed"]
    report = open_report(path)
    page = report.page
    page.set_viewport_size({"width": 1280, "height": 800})
    report.row("validation_agent").click()
    # the waterfall at the top, under the sticky header (the message is above it)
    legend = page.locator(".test[open] .legend").bounding_box()
    page.mouse.wheel(0, legend["y"] - 60)
    page.wait_for_timeout(200)
    assert page.locator(".test[open] .span-row.marked").count() >= 2
    assert page.locator(".badge.received").count() >= 2  # the worker process's spans
    shot = report.check("report")
    if os.environ.get("AGENTTRACE_UPDATE_SNIPPETS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=False)
        print(f"updated {SCREENSHOT} (from {shot})")
