"""Volatile attribute values: what a rendering prints as a matcher, not a literal.

A port, a UUID or a timestamp differs on the next run, so a pasted rendering that
spells it out fails there. Such values print as the matcher that describes them
(`server.port: int`, `http.url: /^http://127\\.0\\.0\\.1:\\d+/embed$/`). Two rules:

- by key: attributes whose key matches a glob of `DEFAULT_VOLATILE_ATTRIBUTES` (or an
  extra glob, ini `agenttrace_volatile_attributes`) print as their type (`int`, `str`);
- by value: any str shaped like a URL or address with a port, a loopback address,
  a UUID, a hex id of 16+ digits or an ISO-8601 timestamp prints as a regex of
  that shape.

An extra entry `!glob` marks keys as stable: printed literally whatever their value.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import Any

from ..capture._query import PRESENT
from ._matchers import IsBool, IsFloat, IsInt, IsList, IsStr, Matcher, Regex, StartsWith
from ._model import MAX_SHOWN_CHARS, format_value

DEFAULT_VOLATILE_ATTRIBUTES = (
    "*.port",
    "*.pid",
    "*.uuid",
    "*.timestamp",
    "*.hostname",
    "*.reply_to",
    "host.name",
    "thread.id",
    "thread.name",
    "messaging.message.id",
    "messaging.conversation_id",
    "exception.stacktrace",
)

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX_ID = re.compile(r"(?:0x)?([0-9a-f]{16,}|[0-9A-F]{16,})")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d")
_URL_WITH_PORT = re.compile(
    r"([a-zA-Z][a-zA-Z0-9+.\-]*://(?:[^/:?#@]*@)?(?:\[[^\]]*\]|[^/:?#\[]+)):\d{1,5}"
)
# a host that looks like one: an IPv4 address, [IPv6], localhost, or a dotted name
_ADDRESS_WITH_PORT = re.compile(
    r"(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]|localhost|[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)"
    r":\d{1,5}"
)
_LOOPBACK = re.compile(r"127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost")
_LOOPBACK_MATCHER = Regex(r"^(127\.\d+\.\d+\.\d+|::1|localhost)$")
_TYPES: tuple[tuple[type, Matcher], ...] = (
    (bool, IsBool),  # before int: a bool is an int to isinstance
    (int, IsInt),
    (float, IsFloat),
    (str, IsStr),
    (tuple, IsList),
    (list, IsList),
)


def check_entries(entries: Iterable[str]) -> tuple[str, ...]:
    """Validate extra entries (globs, `!glob` for stable keys); ValueError says why."""
    found = []
    for entry in entries:
        if not isinstance(entry, str):
            raise ValueError(f"entries must be key globs (str), got {entry!r}")
        entry = entry.strip()
        if not entry:
            continue
        if entry == "!" or not entry.lstrip("!").strip():
            raise ValueError(f"{entry!r}: '!' needs a key glob after it (!http.url)")
        found.append(entry)
    return tuple(found)


class VolatileRules:
    """Decides, per attribute, whether a rendering prints a matcher instead of the value."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        entries = check_entries(extra)
        self.keys = DEFAULT_VOLATILE_ATTRIBUTES + tuple(e for e in entries if e[0] != "!")
        self.stable = tuple(e[1:].strip() for e in entries if e[0] == "!")
        self._by_key: dict[str, bool | None] = {}  # True volatile, None stable, False: ask value

    def _key_rule(self, key: str) -> bool | None:
        try:
            return self._by_key[key]
        except KeyError:
            pass
        rule: bool | None
        if any(fnmatch.fnmatchcase(key, glob) for glob in self.stable):
            rule = None
        else:
            rule = any(fnmatch.fnmatchcase(key, glob) for glob in self.keys)
        self._by_key[key] = rule
        return rule

    def shown(self, key: str, value: Any) -> Any:
        """`value`, or the matcher to print in its place."""
        return self.bounded(key, value, self._volatile_shown(key, value))

    def bounded(self, key: str, value: Any, shown: Any) -> Any:
        """`shown` (what prints for `value`), or, when that prints longer than
        MAX_SHOWN_CHARS, a short matcher `value` still fulfils: a prompt of a
        million characters prints as `starts "<its first characters>"`."""
        if not _prints_long(shown):
            return shown
        rule = self._key_rule(key)  # True: a volatile key; None: a stable one (`!glob`)
        if isinstance(value, str) and rule is not True:
            # a stable key prints its plain start; any other, a volatile-looking
            # start (a URL with a port, a timestamp) as its regex
            return long_text_matcher(value, volatile=rule is not None)
        for kind, matcher in _TYPES:
            if isinstance(value, kind):
                return matcher
        return PRESENT

    def _volatile_shown(self, key: str, value: Any) -> Any:
        rule = self._key_rule(key)
        if rule is None:
            return value
        shaped = shape_matcher(value) if isinstance(value, str) else None
        if shaped is not None:
            return shaped
        if rule:
            for kind, matcher in _TYPES:
                if isinstance(value, kind):
                    return matcher
        return value


def shape_matcher(value: str) -> Matcher | None:
    """The regex for a volatile-looking str, None for an ordinary one."""
    if len(value) < 3 or len(value) > 2048:
        return None
    if _LOOPBACK.fullmatch(value):
        return _LOOPBACK_MATCHER
    url = _URL_WITH_PORT.match(value)
    if url is not None:
        rest = value[url.end() :]
        return Regex("^" + re.escape(url.group(1)) + r":\d+" + re.escape(rest) + "$")
    address = _ADDRESS_WITH_PORT.fullmatch(value)
    if address is not None:
        return Regex("^" + re.escape(address.group(1)) + r":\d+$")
    if _UUID.fullmatch(value):
        return Regex(
            r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
        )
    hex_id = _HEX_ID.fullmatch(value)
    if hex_id is not None and not value.isdigit():
        digits = len(hex_id.group(1))
        prefix = "0x" if value.startswith("0x") else ""
        return Regex(f"^{prefix}[0-9a-fA-F]{{{digits}}}$")
    if _TIMESTAMP.match(value):
        return Regex(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d")
    return None


def _prints_long(shown: Any) -> bool:
    kind = type(shown)
    if kind is str:
        # the common case, cheaply: even all escapes (6 characters each) fit
        return len(shown) * 6 > MAX_SHOWN_CHARS and len(format_value(shown)) > MAX_SHOWN_CHARS
    if kind is int:
        return _huge_int(shown)
    if isinstance(shown, Matcher):
        return len(shown.text) > MAX_SHOWN_CHARS
    if isinstance(shown, (list, tuple)):
        if len(shown) > MAX_SHOWN_CHARS or any(
            type(item) is int and _huge_int(item) for item in shown
        ):
            return True
        return len(format_value(shown)) > MAX_SHOWN_CHARS
    return False


def _huge_int(value: int) -> bool:
    return value.bit_length() > 3 * MAX_SHOWN_CHARS  # about MAX_SHOWN_CHARS digits


def long_text_matcher(value: str, *, volatile: bool = True) -> Matcher:
    """A matcher of at most MAX_SHOWN_CHARS characters for a long str: `starts "…"`,
    or (`volatile`) the regex of a volatile start (a URL with a port, a timestamp),
    so that the next run's value still matches."""
    if volatile:
        url = _URL_WITH_PORT.match(value)
        if url is not None and len(url.group(1)) < MAX_SHOWN_CHARS // 4:
            start = "^" + re.escape(url.group(1)) + r":\d+"
            rest = value[url.end() :]
            return _fitting(lambda cut: Regex(start + re.escape(cut)), rest)
        if _TIMESTAMP.match(value):
            return Regex(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d")
    return _fitting(StartsWith, value)


def _fitting(make: Any, text: str) -> Matcher:
    """`make(text[:n])` for the largest n whose printing fits in MAX_SHOWN_CHARS."""
    size = min(len(text), MAX_SHOWN_CHARS)
    while True:
        matcher: Matcher = make(text[:size])
        excess = len(matcher.text) - MAX_SHOWN_CHARS
        if excess <= 0 or size == 0:
            return matcher
        size = max(size - max(excess // 6, 1), 0)  # an escape prints as up to 6 characters


DEFAULT_RULES = VolatileRules()


def rules_for(extra: Iterable[str] | None) -> VolatileRules:
    return DEFAULT_RULES if not extra else VolatileRules(extra)
