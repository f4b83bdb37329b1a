"""A failure tree cut to what a person reads: the differences, their paths, a little context.

A 10,000-span expectation with one typo must not print 10,000 lines with the one
useful line last. The cut keeps every marked line (a difference or a
`# ✗ missing` comment), the path from its root down to it, and a few lines
around it; each run of lines left out becomes one `# … N matching spans …`
line at its depth. The complete tree is written elsewhere (the caller decides
where) so that nothing is lost and it can still be pasted back.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from .._full_text import write_full_text
from ._model import ELLIPSIS_LINE
from ._render import RenderLine, Row, align_marks, render_rows

UNEXPECTED = "unexpected span"  # the matcher's mark on a span no line accounts for
CONTEXT = 2  # lines kept before and after each difference, as a diff shows them
MIN_TREE_LINES = 10  # a limit smaller than the message's own frame still shows this many
PATH_ENDS = 4  # lines kept at each end of a difference's path from the root


def _is_difference(row: Row) -> bool:
    return bool(row.line.marks) or row.line.is_comment


def bounded_tree(
    lines: Sequence[RenderLine], limit: int, style: str = "indent"
) -> tuple[str, str | None]:
    """(the text to print, the complete text when it was cut, else None).

    `limit` is the number of tree lines to print at most; 0 means no limit. The
    complete text ends with a newline, as a file does: a deep tree's text runs to
    hundreds of megabytes, too big to copy for one more character.
    """
    rows = render_rows(lines, style)
    marked = [(row.prefix, row.own, row.line.marks) for row in rows]
    if limit <= 0 or len(rows) <= limit:
        return align_marks(marked), None
    room = max(limit, MIN_TREE_LINES) - 1  # one line for "N more differences"
    differences = [index for index, row in enumerate(rows) if _is_difference(row)]
    kept = _Selection(len(rows))
    shown = 0
    for index in differences:
        added = kept.add_all(_with_path(rows, index))
        if shown and kept.printed > room:
            kept.remove_all(added)
            break
        shown += 1
    children = _children_of(rows)
    for index in differences[:shown]:  # context, where the budget allows
        for near in _context(rows, children, index):
            added = kept.add_all([near])
            if kept.printed > room:
                kept.remove_all(added)
                break
    if not kept.rows:  # nothing marked (an order problem the header tells): the top
        kept.add_all(range(room - 1))
    printed = _elide(rows, kept.rows)
    left_out = len(differences) - shown
    if left_out:
        printed.append(("", f"# … {left_out:,} more difference(s) in the complete tree", []))
    return align_marks(printed), align_marks(marked, terminated=True)


class _Selection:
    """Rows kept, and how many lines they print: each run of rows left out is one line."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.rows: set[int] = set()
        self.gaps = 1 if total else 0

    @property
    def printed(self) -> int:
        return len(self.rows) + self.gaps

    def _kept(self, index: int) -> bool:  # the ends count as kept: no run beyond them
        return index < 0 or index >= self.total or index in self.rows

    def add_all(self, indexes: Iterable[int]) -> list[int]:
        added = []
        for index in indexes:
            if index in self.rows:
                continue
            before, after = self._kept(index - 1), self._kept(index + 1)
            self.gaps += -1 if before and after else (1 if not before and not after else 0)
            self.rows.add(index)
            added.append(index)
        return added

    def remove_all(self, indexes: list[int]) -> None:
        for index in reversed(indexes):
            self.rows.discard(index)
            before, after = self._kept(index - 1), self._kept(index + 1)
            self.gaps += 1 if before and after else (-1 if not before and not after else 0)


def _children_of(rows: list[Row]) -> dict[int | None, list[int]]:
    children: dict[int | None, list[int]] = {}
    for index, row in enumerate(rows):
        children.setdefault(row.parent, []).append(index)
    return children


def _context(rows: list[Row], children: dict[int | None, list[int]], index: int) -> list[int]:
    """The siblings just before and after a line, then its first children."""
    siblings = children[rows[index].parent]
    position = siblings.index(index)
    before = siblings[max(position - CONTEXT, 0) : position]
    after = siblings[position + 1 : position + 1 + CONTEXT]
    return [*reversed(before), *after, *children.get(index, [])[:CONTEXT]]


def _with_path(rows: list[Row], index: int) -> list[int]:
    """The line and its ancestors; of a long path (a chain hundreds deep) only the
    top and the lines just above the difference, the middle one elided line."""
    path = [index]
    parent = rows[index].parent
    while parent is not None:
        path.append(parent)
        parent = rows[parent].parent
    if len(path) > 2 * PATH_ENDS:
        path = path[:PATH_ENDS] + path[-PATH_ENDS:]
    return path


def _elide(rows: list[Row], kept: set[int]) -> list[tuple[str, str, list[str]]]:
    # A line matches when neither it nor an unexpected span above it differs:
    # the lines under an unexpected span carry no mark, but they match nothing.
    under_unexpected: list[bool] = []
    for row in rows:
        parent = row.parent
        under_unexpected.append(
            parent is not None
            and (under_unexpected[parent] or UNEXPECTED in rows[parent].line.marks)
        )
    differs = [_is_difference(row) or under_unexpected[i] for i, row in enumerate(rows)]
    printed: list[tuple[str, str, list[str]]] = []
    index = 0
    while index < len(rows):
        if index in kept:
            row = rows[index]
            printed.append((row.prefix, row.own, row.line.marks))
            index += 1
            continue
        shallowest = index  # the run's line goes at its shallowest row's depth: a run
        spans = 0  # that leaves a subtree for its parent's later siblings is theirs
        matching = True
        while index < len(rows) and index not in kept:
            if rows[index].depth < rows[shallowest].depth:
                shallowest = index
            line = rows[index].line
            spans += 0 if line.is_comment or line.head == ELLIPSIS_LINE else line.count
            matching = matching and not differs[index]
            index += 1
        what = ("matching " if matching else "") + ("span" if spans == 1 else "spans")
        printed.append((rows[shallowest].prefix, f"# … {spans:,} {what} …", []))
    return printed


def keep_in_test_file(text: str) -> str:
    """Where a complete failure tree goes: a file of its own (a second failure in the
    test gets the next number, so the first message's path keeps its tree) named
    after the running test, in the session's `<basetemp>/agenttrace/` (outside
    pytest, the temporary folder, with the process id in the name)."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "assert_trace_tree")
    node_id = test.rsplit(" (", 1)[0]  # "path::name (call)"
    try:
        return str(write_full_text(text, node_id, "assert_tree"))
    except OSError as error:
        return f"(nowhere: it could not be written: {error.strerror or error})"
