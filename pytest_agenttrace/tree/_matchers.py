"""Value matchers: what the text form writes as `/regex/`, `starts "x"`, `> 0`, `int`.

Each matcher's `repr` is its text form, so a rendering or a failure message that
shows one parses back to the same matcher. `__eq__` never raises: a value of the
wrong type is simply not equal (dirty-equals' rule), and two matchers are equal
when they have the same text.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = [
    "Between",
    "Contains",
    "EndsWith",
    "Ge",
    "Gt",
    "IsBool",
    "IsFloat",
    "IsInt",
    "IsList",
    "IsNumber",
    "IsStr",
    "Le",
    "Lt",
    "Matcher",
    "Regex",
    "StartsWith",
]


class Matcher:
    """Base class: subclasses set `text` and implement `matches`."""

    text: str = ""

    def matches(self, value: Any) -> bool:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Matcher):
            return type(other) is type(self) and other.text == self.text
        try:
            return bool(self.matches(other))
        except Exception:  # a matcher must never turn a comparison into a crash
            return False

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.text))

    def __repr__(self) -> str:
        return self.text


# JSON leaves these line breaks raw; a matcher's text must stay on its line
_RAW_BREAKS = {ord(char): f"\\u{ord(char):04x}" for char in "\x85\u2028\u2029"}


def _quoted(text: str | int | float | bool) -> str:
    return json.dumps(text, ensure_ascii=False).translate(_RAW_BREAKS)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value: Any, who: str) -> int | float:
    if not _is_number(value):
        raise TypeError(f"{who} takes a number (int or float, not bool), got {value!r}")
    return value  # type: ignore[no-any-return]


def _text(value: Any, who: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{who} takes a str, got {value!r}")
    return value


class Regex(Matcher):
    """A str in which the pattern is found (`re.search`; anchor with `^…$`): `/^SELECT /`."""

    def __init__(self, pattern: str | re.Pattern[str]) -> None:
        source = pattern.pattern if isinstance(pattern, re.Pattern) else _text(pattern, "Regex")
        try:
            self.pattern = re.compile(source)
        except re.error as error:
            raise ValueError(f"Regex({source!r}): invalid regular expression: {error}") from None
        self.text = "/" + _escape_slashes(source) + "/"

    def matches(self, value: Any) -> bool:
        return isinstance(value, str) and self.pattern.search(value) is not None


def _escape_slashes(source: str) -> str:
    """The pattern between `/.../`: a bare `/` becomes `\\/`; escapes stay as written."""
    out, position = [], 0
    while position < len(source):
        char = source[position]
        if char == "\\":
            out.append(source[position : position + 2])
            position += 2
            continue
        out.append("\\/" if char == "/" else char)
        position += 1
    return "".join(out)


class StartsWith(Matcher):
    """A str that starts with the prefix: `starts "SELECT"`."""

    def __init__(self, prefix: str) -> None:
        self.prefix = _text(prefix, "StartsWith")
        self.text = "starts " + _quoted(self.prefix)

    def matches(self, value: Any) -> bool:
        return isinstance(value, str) and value.startswith(self.prefix)


class EndsWith(Matcher):
    """A str that ends with the suffix: `ends "/embed"`."""

    def __init__(self, suffix: str) -> None:
        self.suffix = _text(suffix, "EndsWith")
        self.text = "ends " + _quoted(self.suffix)

    def matches(self, value: Any) -> bool:
        return isinstance(value, str) and value.endswith(self.suffix)


class Contains(Matcher):
    """A str holding the substring, or a list (OTel: tuple) holding the item:
    `contains "users"`, `contains 3`."""

    def __init__(self, item: str | int | float | bool) -> None:
        if not isinstance(item, (str, int, float)):
            raise TypeError(f"Contains takes a str, number or bool, got {item!r}")
        self.item = item
        self.text = "contains " + _quoted(item)

    def matches(self, value: Any) -> bool:
        if isinstance(value, str):
            return isinstance(self.item, str) and self.item in value
        if isinstance(value, (list, tuple)):
            # bool and number differ, as everywhere in attribute comparison
            return any(type(each) is type(self.item) and each == self.item for each in value)
        return False


class _Comparison(Matcher):
    symbol = ""

    def __init__(self, bound: int | float) -> None:
        self.bound = _number(bound, type(self).__name__)
        self.text = f"{self.symbol} {json.dumps(self.bound)}"

    def matches(self, value: Any) -> bool:
        return _is_number(value) and self._holds(value)

    def _holds(self, value: int | float) -> bool:
        raise NotImplementedError


class Gt(_Comparison):
    """A number greater than the bound: `> 0`."""

    symbol = ">"

    def _holds(self, value: int | float) -> bool:
        return value > self.bound


class Ge(_Comparison):
    """A number at least the bound: `>= 1`."""

    symbol = ">="

    def _holds(self, value: int | float) -> bool:
        return value >= self.bound


class Lt(_Comparison):
    """A number less than the bound: `< 100`."""

    symbol = "<"

    def _holds(self, value: int | float) -> bool:
        return value < self.bound


class Le(_Comparison):
    """A number at most the bound: `<= 5`."""

    symbol = "<="

    def _holds(self, value: int | float) -> bool:
        return value <= self.bound


class Between(Matcher):
    """A number in the inclusive range: `1..10` (as counts write `x1..10`)."""

    def __init__(self, low: int | float, high: int | float) -> None:
        self.low = _number(low, "Between")
        self.high = _number(high, "Between")
        if self.high < self.low:
            raise ValueError(f"Between({low!r}, {high!r}): the maximum is below the minimum")
        self.text = f"{json.dumps(self.low)}..{json.dumps(self.high)}"

    def matches(self, value: Any) -> bool:
        return _is_number(value) and self.low <= value <= self.high


class _Type(Matcher):
    """Any value of one type; the text form is the bare word (`int`, `str`, ...)."""

    def __init__(self, word: str, test: Any) -> None:
        self.text = word
        self._test = test

    def matches(self, value: Any) -> bool:
        return bool(self._test(value))

    def __call__(self) -> _Type:
        return self  # `IsInt` and `IsInt()` are the same matcher


IsInt = _Type("int", lambda v: isinstance(v, int) and not isinstance(v, bool))
IsFloat = _Type("float", lambda v: isinstance(v, float))
IsNumber = _Type("number", _is_number)
IsStr = _Type("str", lambda v: isinstance(v, str))
IsBool = _Type("bool", lambda v: isinstance(v, bool))
IsList = _Type("list", lambda v: isinstance(v, (list, tuple)))

TYPE_WORDS: dict[str, Matcher] = {
    m.text: m for m in (IsInt, IsFloat, IsNumber, IsStr, IsBool, IsList)
}
STRING_WORDS: dict[str, Any] = {
    "starts": StartsWith,
    "ends": EndsWith,
    "contains": Contains,
}
COMPARISONS: dict[str, type[_Comparison]] = {">=": Ge, "<=": Le, ">": Gt, "<": Lt}
