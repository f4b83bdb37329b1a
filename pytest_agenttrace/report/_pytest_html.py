"""pytest-html: a failed test's entry gets its waterfall, once, in the failed row.

pytest-html shows a test's `extras` with every row of the test (a teardown error
has a passed call row too), so the waterfall goes in through the per-row hook
`pytest_html_results_table_html` instead, at the first failed row. pytest-html
sets that HTML with `innerHTML`, which never runs scripts, so the waterfall is an
`<iframe srcdoc>`: the same self-contained page as `--agenttrace-html`, holding
only this test. It is built at the test's teardown (the whole test's outcome and
duration known) and carried to the controller on the teardown report (xdist
sends a report's plain attributes along).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .._fixture import AgentTrace

__all__ = ["add_waterfall", "register_pytest_html_hooks", "wants_extra"]

FRAME_HEIGHT_PX = 520
_ATTRIBUTE = "agenttrace_waterfall"  # on the teardown report, until the controller takes it
# pytest-html caps a row's log box at 230px: the box holding a waterfall grows to fit it
_UNCAPPED = "<style>.logwrapper:has(.agenttrace-waterfall){max-height:none}</style>"


def wants_extra(config: pytest.Config) -> bool:
    """pytest-html is installed and writing a report in this run."""
    return config.pluginmanager.hasplugin("html") and bool(getattr(config.option, "htmlpath", None))


def add_waterfall(
    item: pytest.Item,
    teardown: pytest.TestReport,
    reports: Sequence[pytest.TestReport],
    capture: AgentTrace,
    *,
    outcome: str,
) -> None:
    """For a test with a failed phase and spans, put its waterfall on the teardown report."""
    if not any(report.failed for report in reports):
        return
    from ._html import page_html, trace_record

    record = trace_record(
        capture,
        nodeid=item.nodeid,
        outcome=outcome,
        duration=sum(report.duration for report in reports),  # pytest-html's too
        message="",  # pytest-html shows the failure itself, next to the waterfall
    )
    if record is None:
        return
    page = page_html([record], title=f"agenttrace: {item.nodeid}")
    # one line: pytest-html wraps log lines starting with "E" in markup
    source = escape(page, quote=True).replace("\n", "&#10;")
    frame = (
        f'<iframe class="agenttrace-waterfall" title="agenttrace waterfall of '
        f'{escape(item.nodeid)}" style="display:block;width:100%;height:{FRAME_HEIGHT_PX}px;'
        f'margin:0 0 8px;border:1px solid #e3e6ee;border-radius:4px" srcdoc="{source}">'
        f"</iframe>"
    )
    setattr(teardown, _ATTRIBUTE, _UNCAPPED + frame)


def register_pytest_html_hooks(config: pytest.Config) -> None:
    """In the process pytest-html writes its report from (not an xdist worker)."""
    if getattr(config, "workerinput", None) is None and wants_extra(config):
        config.pluginmanager.register(_PytestHtmlHooks(), "agenttrace-pytest-html")


class _PytestHtmlHooks:
    def __init__(self) -> None:
        self.waiting: dict[str, str] = {}  # node id -> the frame for its first failed row

    @pytest.hookimpl(tryfirst=True)  # pytest-html draws a test's rows at its teardown report
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        frame = report.__dict__.pop(_ATTRIBUTE, None)
        if isinstance(frame, str):
            self.waiting[report.nodeid] = frame

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report: Any, data: list[str]) -> None:
        if getattr(report, "failed", False):
            frame = self.waiting.pop(getattr(report, "nodeid", ""), None)
            if frame is not None:
                data.insert(0, frame)
