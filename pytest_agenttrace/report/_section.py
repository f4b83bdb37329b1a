"""The "Captured agenttrace" report section: the trace of a test, as text.

The trees, then the spans still open, then one line per trace id (a link when
`agenttrace_trace_url` is set). Bounded by the `output_lines` setting: past it
the tree is cut, the complete section goes to a file (`_full_text`) and the last
line names it, while the open spans and the trace ids stay in view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .._full_text import write_full_text
from ..tree._bound import bounded_tree
from ..tree._render import RenderLine, plain_lines, walk
from ..tree._volatile import rules_for
from ._settings import trace_link

if TYPE_CHECKING:
    from .._fixture import AgentTrace

SHOWN_TRACES = 5  # trace id lines in a bounded section
SHOWN_OPEN = 10  # "still open" lines in a bounded section
MIN_TREE_LINES = 3  # a bounded section shows at least the top of the tree


def describe_capture(capture: AgentTrace, node_id: str, trace_url: str | None = None) -> str:
    """The section's text; never raises (it runs in a report hook)."""
    try:
        tree = capture.render().split("\n") if capture.spans else ["(no finished spans)"]
        still_open = []
        for span in capture.unfinished:
            chain = span.ancestor_chain()
            still_open.append(f"still open: {span.name}" + (f" (under {chain})" if chain else ""))
        traces = _trace_lines(capture, trace_url)
    except Exception as error:  # a report section must never turn into an INTERNALERROR
        return f"(pytest-agenttrace could not render the captured spans: {error!r})"
    return bounded_section(
        tree,
        still_open,
        traces,
        capture.options.output_lines,
        node_id,
        focus=lambda room: _around_marks(capture, room),
    )


def _around_marks(capture: AgentTrace, room: int) -> list[str] | None:
    """The tree cut around what the last failed assert_tree marked (None: it marked
    nothing): the first lines of a 10,000-span tree rarely hold the difference."""
    marks = capture._tree_marks
    if not marks or len(marks) >= room:  # a count problem marks every twin: no focus
        return None
    rules = rules_for(capture.options.volatile_attributes)  # as capture.render() does
    lines = plain_lines(capture.roots, all_attributes=True, rules=rules)
    by_span = {(line.span.trace_id, line.span.span_id): line for line in walk(lines) if line.span}
    for mark in marks:
        line = by_span.get(mark.span) if mark.span is not None else None
        if mark.missing:
            comment = RenderLine(head=mark.text, is_comment=True)
            (line.children if line is not None else lines).append(comment)
        elif line is not None:
            line.marks.append(mark.text)
    text, _ = bounded_tree(lines, room, style="box")
    return text.split("\n")


def _trace_lines(capture: AgentTrace, trace_url: str | None) -> list[str]:
    counts: dict[int, int] = {}
    for span in capture.spans:
        counts[span.trace_id] = counts.get(span.trace_id, 0) + 1
    for span in capture.unfinished:
        counts[span.trace_id] = counts.get(span.trace_id, 0) + 1
    lines = []
    for trace_id, count in counts.items():
        line = f"trace {trace_id:032x} ({count} span{'' if count == 1 else 's'})"
        lines.append(line + (f": {trace_link(trace_url, trace_id)}" if trace_url else ""))
    return lines


def bounded_section(
    tree: list[str],
    still_open: list[str],
    traces: list[str],
    limit: int,
    node_id: str,
    focus: Callable[[int], list[str] | None] = lambda room: None,
) -> str:
    """All of it within `limit` lines (0: no limit); else a cut and the file with the rest.

    `focus(room)` may give the cut tree instead of its first lines.
    """
    complete = tree + still_open + traces
    if not limit or len(complete) <= limit:
        return "\n".join(complete)
    open_shown = _cut(still_open, SHOWN_OPEN, "still open")
    traces_shown = _cut(traces, SHOWN_TRACES, "traces")
    room = max(limit - len(open_shown) - len(traces_shown) - 1, MIN_TREE_LINES)
    tree_shown = focus(room) or tree[:room]
    hidden = len(tree) - sum(
        1 for line in tree_shown if "# … " not in line and "# ✗ missing" not in line
    )
    hidden += max(len(still_open) - SHOWN_OPEN, 0) + max(len(traces) - SHOWN_TRACES, 0)
    try:
        path = write_full_text("\n".join(complete), node_id, "report")
        where = f"the complete section is in {path}"
    except OSError as error:
        where = f"the complete section could not be written: {error.strerror or error}"
    cut = f"… {hidden:,} of {len(complete):,} lines not shown (setting output_lines = {limit})"
    footer = f"{cut}: {where}"
    return "\n".join([*tree_shown, *open_shown, *traces_shown, footer])


def _cut(lines: list[str], keep: int, what: str) -> list[str]:
    if len(lines) <= keep:
        return lines
    return [*lines[:keep], f"… and {len(lines) - keep:,} more {what}"]
