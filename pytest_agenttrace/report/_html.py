"""The HTML trace report: one test's spans as plain data, and the self-contained page.

A test becomes one JSON object (`trace_record`); the page is `page.html` with
`waterfall.css`, `waterfall.js` and the records inlined, so the file opens
anywhere with no network (its Content-Security-Policy forbids every fetch). The
same page with one record is the pytest-html extra.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._fixture import AgentTrace
    from ..capture._query import CapturedSpan
    from ..tree._match import TreeMark

__all__ = ["MESSAGE_LIMIT", "page_html", "record_json", "trace_record", "write_page"]

# A failure message longer than this is cut (the full text is in the terminal).
MESSAGE_LIMIT = 20_000
_DATA_MARKER = "__AGENTTRACE_DATA__"


def trace_record(
    capture: AgentTrace,
    *,
    nodeid: str,
    outcome: str,
    duration: float,
    message: str,
    traceback: str = "",
) -> dict[str, Any] | None:
    """The test's spans (finished and open) for the page; None when it captured none."""
    capture._refresh()  # the forest of finished AND open spans, linked
    forest = capture._all_forest
    if forest is None or not forest.spans:
        return None
    ordered = _depth_first(forest.traces)
    origin = min(span.start_time for span in ordered)
    index = {(span.trace_id, span.span_id): position for position, span in enumerate(ordered)}
    tables = _Tables()
    marks = _marks_by_span(capture._tree_marks)
    spans = [_span_record(span, origin, index, tables, marks) for span in ordered]
    return {
        "id": nodeid,
        "outcome": outcome,
        "duration": round(duration, 6),
        "message": _bounded(message),
        "traceback": _bounded(traceback),
        "startedAt": origin // 1_000_000,  # ms since the epoch, for the page's clock
        "traces": tables.traces,
        "resources": tables.resources,
        "scopes": tables.scopes,
        "spans": spans,
        "missing": marks.get(None, ([], []))[1],  # top-level lines nothing matched
    }


def record_json(record: Mapping[str, Any]) -> str:
    """One record as a line of JSON that is safe inside a `<script>` element."""
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
    # `<` only occurs inside JSON strings, where `\u003c` means the same: no `</script>`
    return text.replace("<", "\\u003c")


def write_page(out: IO[str], records_json: Iterable[str], *, title: str) -> None:
    """Write the page with the given records (JSON texts, in display order)."""
    head, tail = page_template().split(_DATA_MARKER)
    out.write(head.replace("__AGENTTRACE_TITLE__", _escape_text(title)))
    out.write(f'{{"generatedAt":{time.time_ns() // 1_000_000},"tests":[')
    for position, text in enumerate(records_json):
        if position:
            out.write(",")
        out.write(text)
    out.write("]}")
    out.write(tail)


def page_html(records: Sequence[Mapping[str, Any]], *, title: str) -> str:
    """The whole page as a string (the pytest-html extra, tests)."""
    import io

    buffer = io.StringIO()
    write_page(buffer, (record_json(record) for record in records), title=title)
    return buffer.getvalue()


@cache
def page_template() -> str:
    """page.html with the stylesheet and the script inlined, the data still a marker."""
    folder = resources.files(__package__)
    page = (folder / "page.html").read_text(encoding="utf-8")
    css = (folder / "waterfall.css").read_text(encoding="utf-8")
    script = (folder / "waterfall.js").read_text(encoding="utf-8")
    return page.replace("__AGENTTRACE_CSS__", css).replace("__AGENTTRACE_JS__", script)


# --------------------------------------------------------------------------- spans


class _Tables:
    """Values many spans share (trace ids, resources, scopes), stored once per test."""

    def __init__(self) -> None:
        self.traces: list[str] = []
        self.resources: list[dict[str, Any]] = []
        self.scopes: list[list[str | None]] = []
        self._trace_at: dict[int, int] = {}
        self._resource_at: dict[int, int] = {}
        self._scope_at: dict[tuple[str | None, str | None], int] = {}

    def trace(self, trace_id: int) -> int:
        found = self._trace_at.get(trace_id)
        if found is None:
            found = self._trace_at[trace_id] = len(self.traces)
            self.traces.append(f"{trace_id:032x}")
        return found

    def resource(self, span: CapturedSpan) -> int:
        resource = span.readable.resource
        key = id(resource)  # the SDK shares one Resource per provider or request
        found = self._resource_at.get(key)
        if found is None:
            found = self._resource_at[key] = len(self.resources)
            self.resources.append(_attributes(span.resource))
        return found

    def scope(self, span: CapturedSpan) -> int:
        scope = span.readable.instrumentation_scope
        key = (scope.name, scope.version) if scope is not None else (None, None)
        found = self._scope_at.get(key)
        if found is None:
            found = self._scope_at[key] = len(self.scopes)
            self.scopes.append(list(key))
        return found


def _depth_first(traces: Iterable[Any]) -> list[CapturedSpan]:
    """Trace by trace, each root's subtree depth first, children in start order."""
    ordered: list[CapturedSpan] = []
    for trace in traces:
        pending = list(reversed(trace.roots))
        while pending:  # an explicit stack: agent loops nest thousands deep
            span = pending.pop()
            ordered.append(span)
            pending.extend(reversed(span.children))
    return ordered


def _span_record(
    span: CapturedSpan,
    origin: int,
    index: Mapping[tuple[int, int], int],
    tables: _Tables,
    marks: Mapping[tuple[int, int] | None, tuple[list[str], list[str]]],
) -> dict[str, Any]:
    def offset(ns: int) -> int:  # µs since the test's first span started
        return (ns - origin) // 1000

    parent = span.parent
    record: dict[str, Any] = {
        "n": span.name,
        "p": -1 if parent is None else index[(parent.trace_id, parent.span_id)],
        "t": tables.trace(span.trace_id),
        "id": f"{span.span_id:016x}",
        "k": span.kind.name.lower(),
        "s": span.status.name.lower(),
        "b": offset(span.start_time),
        "e": None if span.end_time is None else offset(span.end_time),
        "r": tables.resource(span),
        "c": tables.scope(span),
    }
    if span.parent_span_id is not None and parent is None:
        record["ps"] = f"{span.parent_span_id:016x}"  # a parent that was not captured
    if span.status_description:
        record["sd"] = span.status_description
    if span.attributes:
        record["a"] = _attributes(span.attributes)
    if span.events:
        record["ev"] = [
            [event.name, offset(event.timestamp), _attributes(event.attributes or {})]
            for event in span.events
        ]
    if span.links:
        record["ln"] = [_link(link, index) for link in span.links]
    if span.received:
        record["x"] = 1
    found = marks.get((span.trace_id, span.span_id))
    if found is not None:
        own, missing = found
        if own:
            record["m"] = own
        if missing:
            record["mm"] = missing
    return record


def _link(link: Any, index: Mapping[tuple[int, int], int]) -> list[Any]:
    context = link.context
    target = index.get((context.trace_id, context.span_id), -1)
    return [
        f"{context.trace_id:032x}",
        f"{context.span_id:016x}",
        target,
        _attributes(link.attributes or {}),
    ]


def _marks_by_span(
    marks: Sequence[TreeMark],
) -> dict[tuple[int, int] | None, tuple[list[str], list[str]]]:
    """Per span key: its own marks, and the lines missing under it (None: top level)."""
    grouped: dict[tuple[int, int] | None, tuple[list[str], list[str]]] = {}
    for mark in marks:
        own, missing = grouped.setdefault(mark.span, ([], []))
        (missing if mark.missing else own).append(mark.text)
    return grouped


def _attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {str(key): _plain(value) for key, value in attributes.items()}


def _plain(value: Any) -> Any:
    """An attribute value as JSON: sequences as lists, NaN and infinities as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    return str(value)  # bytes and the like, which the SDK lets through


def _bounded(text: str) -> str:
    if len(text) <= MESSAGE_LIMIT:
        return text
    return text[:MESSAGE_LIMIT] + f"\n… ({len(text) - MESSAGE_LIMIT} more characters)"


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
