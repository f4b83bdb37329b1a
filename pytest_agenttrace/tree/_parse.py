"""The text form's parser (and what `assert_trace_tree` accepts, normalised).

Errors name the line and column, with a caret under the offending character.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .._errors import ExpectedTreeError
from ..capture._query import KIND_NAMES, PRESENT, STATUS_NAMES
from ._model import (
    BARE_KEY,
    BOX_CHARS,
    BOX_UNITS,
    COUNT_FLAG,
    DESCENDANT_PREFIX,
    ELLIPSIS_LINE,
    SERVICE_FLAG,
    VALID_FLAGS,
    ExpectedSpan,
    count_problem,
    split_children,
)


def to_expected_roots(expected: Any) -> ExpectedSpan:
    """Normalise what `assert_trace_tree` accepts into one synthetic root node."""
    if isinstance(expected, str):
        return _root_of(parse_expected_with_gaps(expected))
    if isinstance(expected, ExpectedSpan):
        return _root_of(([expected], ()))
    if isinstance(expected, (list, tuple)):
        return _root_of(split_children(expected, "expected"))
    raise ExpectedTreeError(
        "expected must be the text form (str), span(...), or a list of span(...) and ..., "
        f"got {type(expected).__name__}"
    )


def _root_of(parsed: tuple[list[ExpectedSpan], tuple[int, ...]]) -> ExpectedSpan:
    children, gaps = parsed
    return ExpectedSpan(name="", children=children, gaps=gaps)


# --------------------------------------------------------------------------- parser


def parse_expected(text: str) -> list[ExpectedSpan]:
    """Parse the text form into its top-level lines.

    A top-level `...` cannot be represented in a plain list; `assert_trace_tree`
    accepts the text directly and keeps it.
    """
    return parse_expected_with_gaps(text)[0]


def parse_expected_with_gaps(text: str) -> tuple[list[ExpectedSpan], tuple[int, ...]]:
    if not isinstance(text, str):
        raise ExpectedTreeError(f"expected text must be a str, got {type(text).__name__}")
    return _Parser(text).parse()


# every box unit is 4 characters wide, so a run's length is its width in columns
_INDENT_RUN = re.compile("(?:" + "|".join(re.escape(unit) for unit in BOX_UNITS) + "| )+")


@dataclass
class _Level:
    indent: int
    owner: ExpectedSpan  # the node whose children this level holds
    gaps: list[int] = field(default_factory=list)


class _Parser:
    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def parse(self) -> tuple[list[ExpectedSpan], tuple[int, ...]]:
        entries = []
        for number, raw in enumerate(self.lines, start=1):
            indent, content_column = self._measure_indent(number, raw)
            if content_column is None:
                continue  # blank, comment-only or bare box-drawing line
            entries.append((number, raw, indent, content_column))
        if not entries:
            return [], ()
        base = min(indent for _, _, indent, _ in entries)
        root = ExpectedSpan(name="")
        levels = [_Level(entries[0][2] - base, root)]
        if levels[0].indent != 0:
            number, raw, indent, column = entries[0]
            raise self._error(number, column, "unexpected indentation of the first line")
        last: ExpectedSpan | None = None
        for number, raw, indent, column in entries:
            indent -= base
            if indent > levels[-1].indent:
                if last is None:
                    raise self._error(number, column, "'...' cannot have children")
                levels.append(_Level(indent, last))
            while indent < levels[-1].indent:
                self._close(levels.pop())
            if indent != levels[-1].indent:
                raise self._error(
                    number, column, "inconsistent indentation: matches no outer level"
                )
            node = self._parse_line(number, raw, column)
            level = levels[-1]
            if node is not None and node.descendant and level.owner.ordered:
                raise self._error(
                    number,
                    column,
                    "a '>>' line cannot be a child of an [ordered] span: it matches at any "
                    "depth, so it has no position among ordered siblings",
                )
            if node is None:
                if not level.gaps or level.gaps[-1] != len(level.owner.children):
                    level.gaps.append(len(level.owner.children))
            else:
                level.owner.children.append(node)
            last = node
        while levels:
            self._close(levels.pop())
        return root.children, root.gaps

    @staticmethod
    def _close(level: _Level) -> None:
        level.owner.gaps = tuple(level.gaps)

    def _measure_indent(self, number: int, raw: str) -> tuple[int, int | None]:
        """Indentation in columns (box units count as 4) and where content starts."""
        # Runs of spaces and box units skip at C speed: a chain thousands of levels
        # deep is indented by tens of thousands of characters per line.
        position = 0
        while position < len(raw):
            run = _INDENT_RUN.match(raw, position)
            if run is not None and run.end() > position:
                position = run.end()
                continue
            if raw.startswith(BOX_UNITS, position):
                position += 4
            elif raw[position] == " ":
                position += 1
            elif raw[position] == "\t":
                raise self._error(number, position, "tab in indentation; indent with spaces")
            elif raw[position] in BOX_CHARS:
                position += 1  # a trailing fragment such as a lone '│'
            else:
                break
        rest = raw[position:]
        if not rest.strip() or rest.startswith("#"):
            return 0, None
        return position, position

    def _parse_line(self, number: int, raw: str, column: int) -> ExpectedSpan | None:
        scanner = _LineScanner(raw, column, lambda col, msg: self._error(number, col, msg))
        descendant = scanner.take(DESCENDANT_PREFIX)
        scanner.skip_spaces()
        if scanner.take(ELLIPSIS_LINE) and scanner.at_end_of_line():
            if descendant:
                raise self._error(number, column, "'>>' cannot prefix '...'")
            return None
        scanner.position = column + (len(DESCENDANT_PREFIX) if descendant else 0)
        scanner.skip_spaces()
        node = ExpectedSpan(name=scanner.name(), descendant=descendant, line_number=number)
        seen_attributes = seen_flags = False
        while not scanner.at_end_of_line():
            if scanner.peek() == "{" and not seen_attributes:
                node.attributes = scanner.attributes()
                seen_attributes = True
            elif scanner.peek() == "[" and not seen_flags:
                glued_at = scanner.position if scanner.glued_name is not None else None
                try:
                    flags = scanner.flags()
                except ExpectedTreeError:
                    if glued_at is None:
                        raise
                    flags = None
                if glued_at is not None and (
                    flags is None or not all(_is_flag_word(flag) for _, flag in flags)
                ):
                    raise scanner.glued_error(glued_at)
                assert flags is not None
                self._apply_flags(node, flags)
                seen_flags = True
            else:
                raise scanner.error("unexpected text; a line is: name {attributes} [flags]")
            scanner.skip_spaces()
        return node

    def _apply_flags(self, node: ExpectedSpan, flags: list[tuple[int, str]]) -> None:
        seen: dict[str, str] = {}
        for column, flag in flags:
            word = flag.lower()
            count = COUNT_FLAG.fullmatch(word)
            if word.startswith(SERVICE_FLAG):
                group, node.service = "service", _service_value(flag[len(SERVICE_FLAG) :])
                if not node.service:
                    raise self._error(
                        node.line_number or 0, column, "service= needs a name (a glob)"
                    )
            elif word in KIND_NAMES:
                group, node.kind = "kind", KIND_NAMES[word]
            elif word in STATUS_NAMES:
                group, node.status = "status", STATUS_NAMES[word]
            elif word == "ordered":
                group, node.ordered = "ordered", True
            elif count:
                group = "count"
                if len(count.group(1)) > 9 or len(count.group(3) or "") > 9:
                    raise self._error(
                        node.line_number or 0, column, f"count {flag[:20]}...: too large"
                    )
                low = int(count.group(1))
                high = None if count.group(2) and not count.group(3) else int(count.group(3) or low)
                problem = count_problem(low, high)
                if problem:
                    raise self._error(node.line_number or 0, column, f"count {flag}: {problem}")
                node.min_count, node.max_count = low, high
            else:
                raise self._error(
                    node.line_number or 0,
                    column,
                    f"unknown flag {flag!r}; valid flags: {', '.join(VALID_FLAGS)}",
                )
            if group in seen:
                raise self._error(
                    node.line_number or 0,
                    column,
                    f"{group} given twice ({seen[group]!r} and {flag!r})",
                )
            seen[group] = flag

    def _error(self, number: int, column: int, message: str) -> ExpectedTreeError:
        raw = self.lines[number - 1] if 0 < number <= len(self.lines) else ""
        return ExpectedTreeError(
            f"line {number}, column {column + 1}: {message}\n    {raw}\n    {' ' * column}^"
        )


def _service_value(text: str) -> str:
    text = text.strip()
    if text.startswith('"'):
        value = json.loads(text)  # the scanner checked the quotes
        return str(value)
    return text


def _is_flag_word(flag: str) -> bool:
    word = flag.lower()
    return (
        word in KIND_NAMES
        or word in STATUS_NAMES
        or word == "ordered"
        or word.startswith(SERVICE_FLAG)
        or COUNT_FLAG.fullmatch(word) is not None
    )


_JSON_HINT = ' (values are JSON: "text", 42, true, ["a", "b"]; or * for any value)'


class _LineScanner:
    """Reads one line's content left to right, keeping the column for errors."""

    def __init__(self, text: str, position: int, fail: Any) -> None:
        self.text = text
        self.position = position
        self._fail = fail
        self.glued_name: str | None = None  # set by name() when '[' follows it directly

    def error(self, message: str, column: int | None = None) -> ExpectedTreeError:
        error: ExpectedTreeError = self._fail(self.position if column is None else column, message)
        return error

    def peek(self) -> str:
        return self.text[self.position] if self.position < len(self.text) else ""

    def take(self, literal: str) -> bool:
        if self.text.startswith(literal, self.position):
            self.position += len(literal)
            return True
        return False

    def skip_spaces(self) -> None:
        # Tabs only make indentation ambiguous; inside a line they are whitespace.
        while self.peek() in (" ", "\t"):
            self.position += 1

    def at_end_of_line(self) -> bool:
        self.skip_spaces()
        return self.peek() in ("", "#")

    def json_value(self, what: str, hint: str = "") -> Any:
        try:
            value, end = json.JSONDecoder().raw_decode(self.text, self.position)
        except json.JSONDecodeError as error:
            raise self.error(f"invalid {what}: {error.msg}{hint}", error.pos) from None
        except RecursionError:
            raise self.error(f"invalid {what}: nested too deeply") from None
        except ValueError as error:  # an integer of more than 4,300 digits
            raise self.error(f"invalid {what}: {error}") from None
        self.position = end
        return value

    def name(self) -> str:
        start = self.position
        if self.peek() == '"':
            value = self.json_value("quoted name")
            if not isinstance(value, str):
                raise self.error("a quoted name must be a string", start)
            return value
        while self.peek() not in ("", "{", "[", "#", '"'):
            self.position += 1
        name = self.text[start : self.position].rstrip(" \t")
        if not name:
            raise self.error("expected a span name", start)
        if self.peek() == '"':
            raise self.error('quote the whole name: "..."')
        # `agent_[ab]` is a glob class, not flags: if its "flags" do not parse, say so
        # instead of "unknown flag". `POST[client]` (valid flags) stays accepted.
        glued = self.peek() == "[" and self.text[self.position - 1] not in " \t"
        self.glued_name = name if glued else None
        return name

    def glued_error(self, column: int) -> ExpectedTreeError:
        return self.error(
            "'[' right after the name: put a space before flags, or quote a name "
            f'that contains it ("{self.glued_name}[...")',
            column,
        )

    def attributes(self) -> dict[str, Any]:
        self.take("{")
        found: dict[str, Any] = {}
        self.skip_spaces()
        if self.take("}"):
            return found
        while True:
            self.skip_spaces()
            key_column = self.position
            key = self._attribute_key()
            if key in found:
                raise self.error(f"attribute {key!r} given twice", key_column)
            self.skip_spaces()
            if not self.take(":"):
                raise self.error(f"expected ':' after attribute key {key!r}")
            self.skip_spaces()
            if self.take("*"):
                found[key] = PRESENT
            else:
                found[key] = self.json_value("attribute value", _JSON_HINT)
            self.skip_spaces()
            if self.take("}"):
                return found
            if not self.take(","):
                raise self.error("expected ',' or '}' in the attributes")

    def _attribute_key(self) -> str:
        if self.peek() == '"':
            start = self.position
            key = self.json_value("quoted attribute key")
            if not isinstance(key, str):
                raise self.error("an attribute key must be a string", start)
            return key
        match = BARE_KEY.match(self.text, self.position)
        if not match:
            raise self.error('expected an attribute key (dotted name or "quoted")')
        self.position = match.end()
        return match.group()

    def flags(self) -> list[tuple[int, str]]:
        self.take("[")
        found = []
        while True:
            self.skip_spaces()
            start = self.position
            while self.peek() not in ("", ",", "]"):
                if self.peek() == '"':  # a quoted value (service="a, b") is one piece
                    try:
                        _, self.position = json.JSONDecoder().raw_decode(self.text, self.position)
                    except ValueError:
                        raise self.error("unclosed quote in a flag", self.position) from None
                    continue
                self.position += 1
            word = self.text[start : self.position].strip()
            if not word:
                raise self.error("empty flag", start)
            found.append((start, word))
            if self.take("]"):
                return found
            if not self.take(","):
                raise self.error("unclosed '[': expected ']'")


# --------------------------------------------------------------------------- formatting
