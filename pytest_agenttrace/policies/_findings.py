"""Shared pieces of policy findings: choosing spans and writing messages for people."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..capture._query import CapturedSpan, NamePattern, SpanForest
from ..tree._select import is_selector_line, selects

# Where each message sends the reader; one constant so a hosted docs site is one edit.
DOCS = "docs/"

Selector = NamePattern | CapturedSpan | Iterable[CapturedSpan] | None


def select(forest: SpanForest, selector: Selector) -> list[CapturedSpan]:
    """Spans chosen by a name glob/regex, one span, an iterable of spans, or None (all)."""
    if selector is None:
        return list(forest.spans)
    if isinstance(selector, CapturedSpan):
        return [selector]
    if isinstance(selector, str) or hasattr(selector, "fullmatch"):
        return [span for span in forest.spans if selects(selector, span)]  # type: ignore[arg-type]
    return list(selector)


def describe_selector(selector: Selector) -> str:
    if selector is None:
        return "any span"
    if isinstance(selector, CapturedSpan):
        return repr(selector.name)
    if isinstance(selector, str):
        return repr(selector)
    pattern = getattr(selector, "pattern", None)
    if pattern is not None:
        return f"re {pattern!r}"
    return "the given spans"


def docs(page_and_anchor: str) -> str:
    return DOCS + page_and_anchor


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def budget(value: float) -> str:
    return f"{value:g} s"


def where(span: CapturedSpan) -> str:
    """`name` plus the parent chain, for bullets: `embed_text under embedding_agent < root`.

    Deep chains (an agent calling itself) name the nearest ancestors only.
    """
    chain = span.ancestor_chain()
    return f"{span.name} under {chain}" if chain else span.name


def has_attributes(span: CapturedSpan, keys: Sequence[str] = ()) -> str:
    """`has {a: 1, b: 'x'}` for a failure bullet; only `keys` when given and present."""
    attributes = span.attributes
    if not attributes:
        return "has no attributes"
    shown = {key: value for key, value in attributes.items() if not keys or key in keys}
    if not shown:
        shown = dict(attributes)
    return "has {" + ", ".join(f"{key}: {_short(value)}" for key, value in shown.items()) + "}"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Rules:
    """(pattern, value) rules; `match` gives the LAST whose selector (a name glob, or a
    line of the tree syntax such as `POST [service=llm]`) picks the span.

    As in .gitignore: write the general rules first and the specific ones after,
    so `{"execute_tool *": 10, "execute_tool search": 1}` caps search at 1.
    Rules that are all name globs pick by name alone, so each name is matched
    once, not each span: a policy asks for every span of the capture.
    """

    def __init__(self, rules: Sequence[tuple[str, Any]]) -> None:
        self.rules = rules
        by_name = not any(
            isinstance(pattern, str) and is_selector_line(pattern) for pattern, _ in rules
        )
        self._by_name: dict[str, tuple[str, Any] | None] | None = {} if by_name else None

    def match(self, span: CapturedSpan) -> tuple[str, Any] | None:
        by_name = self._by_name
        if by_name is None:
            return self._last_match(span)
        name = span.name
        if name not in by_name:
            by_name[name] = self._last_match(span)
        return by_name[name]

    def _last_match(self, span: CapturedSpan) -> tuple[str, Any] | None:
        for pattern, value in reversed(self.rules):
            if selects(pattern, span):
                return pattern, value
        return None


def collapse_repeats(bullets: Sequence[str]) -> list[str]:
    """Identical bullets once each, with a count: five identical retries are one line."""
    counts: dict[str, int] = {}
    for bullet in bullets:
        counts[bullet] = counts.get(bullet, 0) + 1
    return [bullet if n == 1 else f"{bullet} (x{n})" for bullet, n in counts.items()]
