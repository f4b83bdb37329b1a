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
from ._matchers import COMPARISONS, STRING_WORDS, TYPE_WORDS, Between, Regex
from ._model import (
    ABSENT_PREFIX,
    ANY_TARGET,
    BARE_KEY,
    BOX_CHARS,
    BOX_UNITS,
    COUNT_FLAG,
    DESCENDANT_PREFIX,
    ELLIPSIS_LINE,
    EVENT_PREFIX,
    LABEL,
    LABEL_FLAG,
    LINK_PREFIX,
    MAX_SHOWN_CHARS,
    NO_EVENTS_FLAG,
    NO_LINKS_FLAG,
    REMOTE_FLAG,
    RESOURCE_FLAG,
    SCOPE_FLAG,
    SERVICE_FLAG,
    VALID_FLAGS,
    ExpectedEvent,
    ExpectedLink,
    ExpectedSpan,
    count_problem,
    cut_text,
    link_labels,
    split_children,
)


def to_expected_roots(expected: Any) -> ExpectedSpan:
    """Normalise what `assert_trace_tree` accepts into one synthetic root node."""
    if isinstance(expected, str):
        return parse_root(expected)
    if isinstance(expected, ExpectedSpan):
        return _labelled(_root_of(([expected], ())))
    if isinstance(expected, (list, tuple)):
        listed = [e for e in expected if not (isinstance(e, ExpectedSpan) and e.absent_line)]
        root = _root_of(split_children(listed, "expected"))
        root.absent = [e for e in expected if isinstance(e, ExpectedSpan) and e.absent_line]
        return _labelled(root)
    raise ExpectedTreeError(
        "expected must be the text form (str), span(...), or a list of span(...) and ..., "
        f"got {type(expected).__name__}"
    )


def _labelled(root: ExpectedSpan) -> ExpectedSpan:
    """Builder link targets get the label a rendering of the failure writes for them."""
    for target_id, label in link_labels([root]).items():
        _find(root, target_id).label = label
    return root


def _find(root: ExpectedSpan, wanted: int) -> ExpectedSpan:
    pending = [root]
    while pending:
        node = pending.pop()
        if id(node) == wanted:
            return node
        pending.extend(node.children)
        pending.extend(node.absent)
        pending.extend(each.target for each in node.links if each.target is not None)
    raise ExpectedTreeError("a link(...) target must be a span(...) of the same expectation")


def _root_of(parsed: tuple[list[ExpectedSpan], tuple[int, ...]]) -> ExpectedSpan:
    children, gaps = parsed
    return ExpectedSpan(name="", children=children, gaps=gaps)


# --------------------------------------------------------------------------- parser


def parse_expected(text: str) -> list[ExpectedSpan]:
    """Parse the text form into its top-level lines (top-level `!>>` lines last).

    A top-level `...` cannot be represented in a plain list; `assert_trace_tree`
    accepts the text directly and keeps it.
    """
    root = parse_root(text)
    return [*root.children, *root.absent]


def parse_expected_with_gaps(text: str) -> tuple[list[ExpectedSpan], tuple[int, ...]]:
    root = parse_root(text)
    return root.children, root.gaps


def parse_root(text: str) -> ExpectedSpan:
    """The synthetic root line whose children are the text's top-level lines."""
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
        self._labels: dict[str, ExpectedSpan] = {}
        self._links: list[tuple[ExpectedLink, int]] = []

    def parse(self) -> ExpectedSpan:
        entries = []
        for number, raw in enumerate(self.lines, start=1):
            indent, content_column = self._measure_indent(number, raw)
            if content_column is None:
                continue  # blank, comment-only or bare box-drawing line
            entries.append((number, raw, indent, content_column))
        if not entries:
            return ExpectedSpan(name="")
        base = min(indent for _, _, indent, _ in entries)
        root = ExpectedSpan(name="")
        levels = [_Level(entries[0][2] - base, root)]
        if levels[0].indent != 0:
            number, raw, indent, column = entries[0]
            raise self._error(number, column, "unexpected indentation of the first line")
        last: ExpectedSpan | str = "'...'"  # a span, or what the line was (no children)
        for number, raw, indent, column in entries:
            indent -= base
            if indent > levels[-1].indent:
                if isinstance(last, str):
                    raise self._error(number, column, f"{last} cannot have children")
                levels.append(_Level(indent, last))
            while indent < levels[-1].indent:
                self._close(levels.pop())
            if indent != levels[-1].indent:
                raise self._error(
                    number, column, "inconsistent indentation: matches no outer level"
                )
            node = self._parse_line(number, raw, column)
            level = levels[-1]
            if isinstance(node, (ExpectedEvent, ExpectedLink)):
                what = "an event line ('@')" if isinstance(node, ExpectedEvent) else "a link line"
                if level.owner is root:
                    raise self._error(number, column, f"{what} must be indented under a span")
                if isinstance(node, ExpectedEvent):
                    level.owner.events = [*level.owner.events, node]
                else:
                    level.owner.links = [*level.owner.links, node]
                    self._links.append((node, column))
                last = what
                continue
            if node is not None and node.absent_line:
                level.owner.absent = [*level.owner.absent, node]
                last = node
                continue
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
            last = node if node is not None else "'...'"
        while levels:
            self._close(levels.pop())
        self._resolve_links()
        return root

    def _resolve_links(self) -> None:
        for link, column in self._links:
            if link.label is None:
                continue
            target = self._labels.get(link.label)
            if target is None:
                known = ", ".join(sorted(self._labels)) or "none"
                raise self._error(
                    link.line_number or 0,
                    column + len(LINK_PREFIX) + 1,
                    f"no line is labelled {link.label!r} (labels: {known}); label the "
                    f"linked span's line with [as {link.label}], or write '-> *' for a "
                    "link to any span",
                )
            link.target = target

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

    def _parse_line(
        self, number: int, raw: str, column: int
    ) -> ExpectedSpan | ExpectedEvent | ExpectedLink | None:
        plain = plain_span_line(raw, column, number)
        if plain is not None:
            return plain
        return self._scan_line(number, raw, column)

    def _scan_line(
        self, number: int, raw: str, column: int
    ) -> ExpectedSpan | ExpectedEvent | ExpectedLink | None:
        """Any line, read piece by piece (with the column of whatever is wrong)."""
        scanner = _LineScanner(raw, column, lambda col, msg: self._error(number, col, msg))
        first = raw[column]  # one look decides the usual line: a plain span
        if first == "@" and scanner.take(_EVENT_START):
            return self._detail_line(scanner, ExpectedEvent(name="", line_number=number))
        if first == "-" and scanner.take(_LINK_START):
            return self._detail_line(scanner, ExpectedLink(line_number=number))
        absent = first == "!" and scanner.take(ABSENT_PREFIX)
        descendant = first == ">" and scanner.take(DESCENDANT_PREFIX)
        prefix = ABSENT_PREFIX if absent else DESCENDANT_PREFIX if descendant else ""
        scanner.skip_spaces()
        if scanner.take(ELLIPSIS_LINE) and scanner.at_end_of_line():
            if prefix:
                raise self._error(number, column, f"'{prefix}' cannot prefix '...'")
            return None
        scanner.position = column + len(prefix)
        scanner.skip_spaces()
        node = ExpectedSpan(
            name=scanner.name(), descendant=descendant, line_number=number, absent_line=absent
        )
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
                self._apply_flags(node, flags, raw)
                seen_flags = True
            else:
                raise scanner.error("unexpected text; a line is: name {attributes} [flags]")
            scanner.skip_spaces()
        if absent and (node.has_count or node.label is not None):
            raise self._error(
                number, column, "a '!>>' line says 'none at any depth': it takes no count or label"
            )
        return node

    def _detail_line(
        self, scanner: _LineScanner, detail: ExpectedEvent | ExpectedLink
    ) -> ExpectedEvent | ExpectedLink:
        """`@ name {attributes} [xN]` or `-> label {attributes} [xN]`."""
        scanner.skip_spaces()
        if isinstance(detail, ExpectedEvent):
            detail.name = scanner.name()
        else:
            start = scanner.position
            if not scanner.take(ANY_TARGET):
                match = LABEL.match(scanner.text, scanner.position)
                if match is None:
                    raise scanner.error(
                        "expected the label of the linked span's line ([as NAME]) or '*'", start
                    )
                scanner.position = match.end()
                detail.label = match.group()
        seen_attributes = seen_flags = False
        while not scanner.at_end_of_line():
            if scanner.peek() == "{" and not seen_attributes:
                detail.attributes = scanner.attributes()
                seen_attributes = True
            elif scanner.peek() == "[" and not seen_flags:
                for column, flag in scanner.flags():
                    count = COUNT_FLAG.fullmatch(flag.lower())
                    if not count or seen_flags:
                        raise scanner.error(
                            f"{flag!r}: an event or link line takes only a count "
                            "(x<N>, x<MIN>..<MAX>, x<MIN>..)",
                            column,
                        )
                    low, high = self._count(
                        count, flag, detail.line_number or 0, column, detail=True
                    )
                    detail.min_count, detail.max_count = low, high
                    seen_flags = True
                seen_flags = True
            else:
                raise scanner.error("unexpected text; an event line is: @ name {attributes} [xN]")
            scanner.skip_spaces()
        return detail

    def _count(
        self, count: re.Match[str], flag: str, number: int, column: int, *, detail: bool = False
    ) -> tuple[int, int | None]:
        if len(count.group(1)) > _COUNT_DIGITS or len(count.group(3) or "") > _COUNT_DIGITS:
            raise self._error(
                number,
                column,
                f"count {flag[:20]}…: too large (the largest count is {MAX_COUNT:,})",
            )
        low = int(count.group(1))
        high = None if count.group(2) and not count.group(3) else int(count.group(3) or low)
        problem = count_problem(low, high, allow_none=detail)
        if problem:
            raise self._error(number, column, f"count {flag}: {problem}")
        return low, high

    def _apply_flags(self, node: ExpectedSpan, flags: list[tuple[int, str]], raw: str) -> None:
        seen: dict[str, str] = {}
        number = node.line_number or 0
        for column, flag in flags:
            word = flag.lower()
            count = COUNT_FLAG.fullmatch(word)
            if word.startswith(SERVICE_FLAG):
                group, node.service = "service", _flag_text(flag[len(SERVICE_FLAG) :])
                if not node.service:
                    raise self._error(number, column, "service= needs a name (a glob)")
            elif word.startswith(SCOPE_FLAG):
                group, node.scope = "scope", _flag_text(flag[len(SCOPE_FLAG) :])
                if not node.scope:
                    raise self._error(number, column, "scope= needs a name (a glob)")
            elif word.startswith(RESOURCE_FLAG):
                group = "resource"
                brace = raw.find("{", column)
                if not flag[len(RESOURCE_FLAG) :].lstrip().startswith("{") or brace < 0:
                    raise self._error(
                        number, column, "resource= takes attributes: resource={key: value}"
                    )
                scanner = _LineScanner(raw, brace, lambda col, msg: self._error(number, col, msg))
                node.resource = scanner.attributes()
            elif word.startswith(LABEL_FLAG):
                group, label = "label", flag[len(LABEL_FLAG) :].strip()
                if not LABEL.fullmatch(label):
                    raise self._error(
                        number, column, f"label {label!r}: a label is a word (letters, digits, _)"
                    )
                if label in self._labels:
                    earlier = self._labels[label].line_number
                    raise self._error(
                        number, column, f"label {label!r} is already used on line {earlier}"
                    )
                self._labels[label] = node
                node.label = label
            elif word == REMOTE_FLAG:
                group, node.remote_parent = "remote", True
            elif word == NO_EVENTS_FLAG:
                group, node.no_events = "no events", True
            elif word == NO_LINKS_FLAG:
                group, node.no_links = "no links", True
            elif word in KIND_NAMES:
                group, node.kind = "kind", KIND_NAMES[word]
            elif word in STATUS_NAMES:
                group, node.status = "status", STATUS_NAMES[word]
            elif word == "ordered":
                group, node.ordered = "ordered", True
            elif count:
                group = "count"
                node.min_count, node.max_count = self._count(count, flag, number, column)
            else:
                raise self._error(
                    number,
                    column,
                    f"unknown flag {flag!r}; valid flags: {', '.join(VALID_FLAGS)}",
                )
            if group in seen:
                raise self._error(
                    number,
                    column,
                    f"{group} given twice ({seen[group]!r} and {flag!r})",
                )
            seen[group] = flag

    def _error(self, number: int, column: int, message: str) -> ExpectedTreeError:
        raw = self.lines[number - 1] if 0 < number <= len(self.lines) else ""
        shown, caret = _window(raw, column)
        return ExpectedTreeError(
            f"line {number}, column {column + 1}: {cut_text(message, 3 * MAX_SHOWN_CHARS)}"
            f"\n    {shown}\n    {' ' * caret}^"
        )


_COUNT_DIGITS = 9
MAX_COUNT = 10**_COUNT_DIGITS - 1


def _window(raw: str, column: int) -> tuple[str, int]:
    """The part of a long line around `column` (`…` where cut), and the caret's column in it."""
    if len(raw) <= MAX_SHOWN_CHARS:
        return raw, column
    start = max(0, min(column - MAX_SHOWN_CHARS // 2, len(raw) - MAX_SHOWN_CHARS))
    end = start + MAX_SHOWN_CHARS
    head = "…" if start > 0 else ""
    tail = "…" if end < len(raw) else ""
    return head + raw[start:end] + tail, column - start + len(head)


# The usual line, `name {key: "text", key: 42}`, read by two regexes instead of the
# scanner: a 10,000-line expectation (a failure's rendering pasted back) is mostly
# such lines. Bare names and keys, strings without escapes, integers of up to 15
# digits, no flags; anything else (or a key given twice) takes the scanner, which
# gives the same result (a property test holds the two together).
_PLAIN_VALUE = r'"[^"\\\x00-\x1f]*"|-?(?:0|[1-9][0-9]{0,14})'
_PLAIN_PAIR = rf"({BARE_KEY.pattern})[ \t]*:[ \t]*({_PLAIN_VALUE})"
_PLAIN_LINE = re.compile(
    r"([A-Za-z_][A-Za-z0-9_.\-/:]*)"
    rf"(?:[ \t]+\{{[ \t]*((?:{_PLAIN_PAIR})(?:[ \t]*,[ \t]*{_PLAIN_PAIR})*)[ \t]*\}})?"
    r"[ \t]*"
)
_PLAIN_PAIRS = re.compile(_PLAIN_PAIR)


def plain_span_line(raw: str, column: int, number: int) -> ExpectedSpan | None:
    """The span of a plain line (see above), or None for the scanner to read."""
    line = _PLAIN_LINE.fullmatch(raw, column)
    if line is None:
        return None
    name, pairs = line.group(1, 2)
    attributes: dict[str, Any] = {}
    if pairs is not None:
        for key, value in _PLAIN_PAIRS.findall(pairs):
            if key in attributes:
                return None  # the scanner says "given twice", with the column
            attributes[key] = value[1:-1] if value[0] == '"' else int(value)
    return ExpectedSpan(name=name, attributes=attributes, line_number=number)


def _flag_text(text: str) -> str:
    text = text.strip()
    if text.startswith('"'):
        value = json.loads(text)  # the scanner checked the quotes
        return str(value)
    return text


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_flag_word(flag: str) -> bool:
    word = flag.lower()
    return (
        word in KIND_NAMES
        or word in STATUS_NAMES
        or word == "ordered"
        or word.startswith((SERVICE_FLAG, SCOPE_FLAG, RESOURCE_FLAG, LABEL_FLAG))
        or word in (REMOTE_FLAG, NO_EVENTS_FLAG, NO_LINKS_FLAG)
        or COUNT_FLAG.fullmatch(word) is not None
    )


_JSON_HINT = (
    ' (values are JSON: "text", 42, true, ["a", "b"]; or * for any value; or a matcher: '
    '/regex/, starts "x", ends "x", contains "x", > 0, <= 9, 1..5, int, str, ...)'
)
_WORD = re.compile(r"[a-z]+")
_DECODER = json.JSONDecoder()
_EVENT_START = EVENT_PREFIX + " "
_LINK_START = LINK_PREFIX + " "
_NUMBER_START = frozenset("-0123456789")
_SPACES = re.compile(r"[ \t]*")
_BARE_KEY_COLON = re.compile(rf"[ \t]*({BARE_KEY.pattern})[ \t]*:[ \t]*")
_SEPARATOR = re.compile(r"[ \t]*([,}])")
_NAME_RUN = re.compile(r'[^{\[#"]*')  # a bare name runs up to attributes, flags or a comment


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
        self.position = _SPACES.match(self.text, self.position).end()  # type: ignore[union-attr]

    def at_end_of_line(self) -> bool:
        self.skip_spaces()
        return self.position == len(self.text) or self.text[self.position] == "#"

    def json_value(self, what: str, hint: str = "") -> Any:
        try:
            value, end = _DECODER.raw_decode(self.text, self.position)
        except json.JSONDecodeError as error:
            raise self.error(f"invalid {what}: {error.msg}{hint}", error.pos) from None
        except RecursionError:
            raise self.error(f"invalid {what}: nested too deeply") from None
        except ValueError:  # an integer of more than 4,300 digits: Python refuses to read it
            raise self.error(
                f"invalid {what}: the number is too long (more than 4,300 digits) "
                "for an attribute value"
            ) from None
        self.position = end
        return value

    def name(self) -> str:
        start = self.position
        if self.peek() == '"':
            value = self.json_value("quoted name")
            if not isinstance(value, str):
                raise self.error("a quoted name must be a string", start)
            return value
        self.position = _NAME_RUN.match(self.text, start).end()  # type: ignore[union-attr]
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
        text = self.text
        while True:
            # `  key: ` in one step: the usual bare key (a 10,000-line expectation
            # has as many); a quoted key or a mistake takes the step-by-step path
            bare = _BARE_KEY_COLON.match(text, self.position)
            if bare is not None:
                key_column, key = bare.start(1), bare.group(1)
                self.position = bare.end()
            else:
                self.skip_spaces()
                key_column = self.position
                key = self._attribute_key()
                if key not in found:
                    self.skip_spaces()
                    if not self.take(":"):
                        raise self.error(f"expected ':' after attribute key {key!r}")
                    self.skip_spaces()
            if key in found:
                raise self.error(f"attribute {key!r} given twice", key_column)
            found[key] = self.value()
            after = _SEPARATOR.match(text, self.position)
            if after is None:
                self.skip_spaces()
                raise self.error("expected ',' or '}' in the attributes")
            self.position = after.end()
            if after.group(1) == "}":
                return found

    def value(self) -> Any:
        """An attribute value: `*`, a matcher, or JSON."""
        start = self.position
        char = self.peek()
        if char == '"':  # the common cases first: a JSON string is never a matcher
            return self.json_value("attribute value", _JSON_HINT)
        if char in _NUMBER_START:
            return self._json_or_range()
        if self.take("*"):
            return PRESENT
        if char == "/":
            return self._regex()
        for symbol, comparison in COMPARISONS.items():  # ">=" is tried before ">"
            if self.take(symbol):
                self.skip_spaces()
                return comparison(self._number(f"'{symbol}'"))
        word = _WORD.match(self.text, self.position)
        if word and not self.text.startswith(("true", "false", "null"), self.position):
            after = self.text[word.end() : word.end() + 1]
            if word.group() in TYPE_WORDS and after in ("", " ", "\t", ",", "}"):
                self.position = word.end()
                return TYPE_WORDS[word.group()]
            if word.group() in STRING_WORDS:
                self.position = word.end()
                self.skip_spaces()
                return self._string_matcher(word.group(), start)
        return self._json_or_range()

    def _json_or_range(self) -> Any:
        value = self.json_value("attribute value", _JSON_HINT)
        if _is_number(value) and self.take(".."):
            high_at = self.position
            high = self._number("'..'")
            if high < value:
                raise self.error(
                    f"range {value}..{high}: the maximum is below the minimum", high_at
                )
            return Between(value, high)
        return value

    def _number(self, after: str) -> Any:
        start = self.position
        number = self.json_value(f"number after {after}")
        if not _is_number(number):
            raise self.error(f"{after} takes a number, got {json.dumps(number)}", start)
        return number

    def _string_matcher(self, word: str, start: int) -> Any:
        at = self.position
        if self.peek() != '"' and word != "contains":
            raise self.error(f'{word} takes a quoted string: {word} "text"')
        argument = self.json_value(f"argument of {word}")
        if isinstance(argument, (list, dict)) or argument is None:
            raise self.error(f"{word} takes a string (contains: or a number or bool)", at)
        try:
            return STRING_WORDS[word](argument)
        except (TypeError, ValueError) as error:
            raise self.error(str(error), start) from None

    def _regex(self) -> Any:
        """`/pattern/`; inside, only `\\/` needs escaping (it stands for `/`)."""
        start = self.position
        self.position += 1
        pieces = []
        while True:
            char = self.peek()
            if char == "":
                raise self.error("unclosed regex: expected a closing '/'", start)
            if char == "\\" and self.text.startswith("\\/", self.position):
                pieces.append("/")
                self.position += 2
                continue
            if char == "\\":
                pieces.append(self.text[self.position : self.position + 2])
                self.position += 2
                continue
            self.position += 1
            if char == "/":
                break
            pieces.append(char)
        try:
            return Regex("".join(pieces))
        except ValueError as error:
            raise self.error(str(error).split(": ", 1)[1], start) from None

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
                if self.peek() == "{":  # resource={a: 1, b: 2} is one piece
                    inner = _LineScanner(self.text, self.position, self._fail)
                    inner.attributes()
                    self.position = inner.position
                    continue
                if self.peek() == '"':  # a quoted value (service="a, b") is one piece
                    try:
                        _, self.position = _DECODER.raw_decode(self.text, self.position)
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
