"""pytest-html: a failed test's entry gets its waterfall as an extra.

pytest-html inserts an html extra with `insertAdjacentHTML`, which never runs
scripts, so the waterfall goes in as an `<iframe srcdoc>`: the same
self-contained page as `--agenttrace-html`, holding only this test.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .._fixture import AgentTrace

__all__ = ["add_waterfall_extra"]

_ADDED = pytest.StashKey[bool]()
FRAME_HEIGHT_PX = 520


def wants_extra(config: pytest.Config) -> bool:
    """pytest-html is installed and writing a report in this run."""
    return config.pluginmanager.hasplugin("html") and bool(getattr(config.option, "htmlpath", None))


def add_waterfall_extra(item: pytest.Item, report: pytest.TestReport, capture: AgentTrace) -> None:
    """On the first failed phase of a test with spans, append the waterfall to report.extras."""
    if not report.failed or item.stash.get(_ADDED, False) or not wants_extra(item.config):
        return
    try:
        from pytest_html import extras
    except ImportError:
        return
    from ._html import page_html, trace_record

    record = trace_record(
        capture,
        nodeid=item.nodeid,
        outcome="failed" if report.when == "call" else "error",
        duration=report.duration,
        message="",  # pytest-html shows the failure itself, next to the extra
    )
    if record is None:
        return
    item.stash[_ADDED] = True
    page = page_html([record], title=f"agenttrace: {item.nodeid}")
    frame = (
        f'<iframe class="agenttrace-waterfall" title="agenttrace waterfall of '
        f'{escape(item.nodeid)}" style="width:100%;height:{FRAME_HEIGHT_PX}px;'
        f'border:1px solid #e3e6ee;border-radius:4px" srcdoc="{escape(page, quote=True)}">'
        f"</iframe>"
    )
    # pytest-html reads `report.extras` (a plain attribute xdist carries to the controller)
    setattr(report, "extras", [*getattr(report, "extras", []), extras.html(frame)])  # noqa: B010
