"""One line of the tree syntax as a span selector, for policies and queries.

`POST [client, service=llm-service]` or `embed {server.address: starts "embed"}`
selects spans the way a line of an expected tree matches them: name glob,
attributes with matchers, kind, status, service, scope, resource, remote. A plain
name glob (`execute_tool *`) keeps meaning what it always did; text is read as a
line only when it has attributes or flags (a space before `{` or `[`) or starts
with a quoted name, so `llm_[0-9]` is still a character class.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from .._errors import ExpectedTreeError
from ..capture._query import LINE_SELECTOR, CapturedSpan, NamePattern, name_matches
from ._match import _Matcher
from ._model import ExpectedSpan
from ._parse import parse_root

_LINE_PARTS = re.compile(r"\s[\[{]")
_MATCHER = _Matcher(ordered_everywhere=False)


def is_selector_line(text: str) -> bool:
    return bool(_LINE_PARTS.search(text)) or text.lstrip().startswith('"')


@functools.lru_cache(maxsize=1024)
def parse_selector(text: str) -> ExpectedSpan | None:
    """The line a selector text is, or None for a plain name glob.

    Raises ExpectedTreeError (with line and caret) for a line that does not parse,
    or that is more than one line of a tree.
    """
    if not is_selector_line(text):
        return None
    root = parse_root(text)
    lines = [*root.children, *root.absent]
    if len(lines) != 1 or root.gaps:
        raise ExpectedTreeError(
            f"selector {text!r}: one line of the tree syntax (name {{attributes}} [flags]), "
            f"not a tree"
        )
    (line,) = lines
    problem = (
        "children"
        if line.children
        else "'>>'"
        if line.descendant
        else "'!>>'"
        if line.absent_line
        else "a count"
        if (line.min_count, line.max_count) != (1, 1)
        else None
    )
    if problem is not None:
        raise ExpectedTreeError(f"selector {text!r}: {problem} can't select a span")
    return line


def selects(pattern: NamePattern, span: CapturedSpan) -> bool:
    """Whether `pattern` (a name glob or regex, or a selector line) picks `span`."""
    line = parse_selector(pattern) if isinstance(pattern, str) else None
    if line is None:
        return name_matches(pattern, span.name)
    return _MATCHER.own_match(line, span)


def selector_problem(patterns: list[str]) -> str | None:
    """The first selector among `patterns` that does not parse, said for a person."""
    for pattern in patterns:
        try:
            parse_selector(pattern)
        except ExpectedTreeError as error:
            return str(error)
    return None


def _line_predicate(text: str) -> Callable[[CapturedSpan], bool] | None:
    line = parse_selector(text)
    if line is None:
        return None
    return lambda span: _MATCHER.own_match(line, span)


LINE_SELECTOR[:] = [_line_predicate]  # find(), one() and wait_for(name=) read it
