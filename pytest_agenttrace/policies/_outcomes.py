"""Errors (status and exception events) and retries (repeated attempts of one operation)."""

from __future__ import annotations

import collections
import dataclasses
import re
from collections.abc import Sequence

from opentelemetry.trace import StatusCode

from .._errors import message, written_bullets
from ..capture._query import CapturedSpan
from ._findings import Rules, docs, where

# Attributes that count the retries before an attempt. `http.request.resend_count` is
# the OpenTelemetry semantic convention (HTTP clients); `retry.count` is common in
# hand-written retry loops. (Attempt numbers are left out: 0- or 1-based is a guess.)
RETRY_ATTRIBUTES = ("http.request.resend_count", "retry.count")


# -- errors -------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RecordedError:
    type: str | None
    message: str | None

    def __str__(self) -> str:
        if self.type and self.message:
            return f"{self.type}: {self.message}"
        return self.type or self.message or "(no description)"


def recorded_errors(span: CapturedSpan) -> list[RecordedError]:
    """Exception events of the span, or its ERROR status when it recorded no exception."""
    found = []
    for event in span.events:
        if event.name == "exception":
            attributes = event.attributes or {}
            found.append(
                RecordedError(
                    _text(attributes.get("exception.type")),
                    _text(attributes.get("exception.message")),
                )
            )
    if not found and span.status is StatusCode.ERROR:
        description = span.status_description
        error_type = span.attributes.get("error.type")
        if description and ": " in description and error_type is None:
            # The SDK writes "Type: message" when a `with` block raises.
            head, _, tail = description.partition(": ")
            if re.fullmatch(r"[\w.]+", head):
                return [RecordedError(head, tail)]
        found.append(
            RecordedError(_text(error_type), description or "status ERROR, no description")
        )
    return found


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def type_matches(wanted: type[BaseException] | str, recorded: str | None) -> bool:
    if recorded is None:
        return False
    if isinstance(wanted, str):
        names = {wanted}
    else:
        names = {wanted.__name__, wanted.__qualname__, f"{wanted.__module__}.{wanted.__qualname__}"}
    return any(recorded == name or recorded.endswith("." + name) for name in names)


def error_bullet(span: CapturedSpan) -> str:
    errors = "; ".join(str(error) for error in recorded_errors(span))
    if not errors:
        errors = f"status {span.status.name.lower()}, no exception event"
    return f"{where(span)}: {errors}"


def no_errors_problem(spans: Sequence[CapturedSpan], source: str) -> str | None:
    failed = [span for span in spans if recorded_errors(span)]
    if not failed:
        return None
    return message(
        f"{len(failed)} span(s) recorded errors{source}:",
        written_bullets(failed, error_bullet),
        "Fix the failure, or state that it is expected with "
        "agenttrace.assert_error(name, exception_type=...). "
        f"See {docs('failures.md#errors')}",
    )


# -- retries -----------------------------------------------------------------------
@dataclasses.dataclass(slots=True)  # one per operation: 100,000 for as many spans
class RetryGroup:
    """Attempts of one operation: same name under one parent (or numbered by attribute)."""

    attempts: list[CapturedSpan]
    retries: int = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        numbered = [
            int(value)
            for attributes in (span.attributes for span in self.attempts)
            for key in RETRY_ATTRIBUTES
            if isinstance(value := attributes.get(key), (int, float))
        ]
        self.retries = max([len(self.attempts) - 1, *numbered])

    @property
    def name(self) -> str:
        return self.attempts[0].name

    def describe(self) -> str:
        first = self.attempts[0]
        failed = [span for span in self.attempts if recorded_errors(span)]
        parts = [f"{len(self.attempts)} attempt(s)"]
        if failed:
            parts.append(f"{len(failed)} failed")
        last = self.attempts[-1]
        outcome = "; ".join(str(error) for error in recorded_errors(last)) or "ok"
        parts.append(f"last: {outcome}")
        plural = "retry" if self.retries == 1 else "retries"
        return f"{where(first)}: {self.retries} {plural} ({', '.join(parts)})"


def retry_groups(spans: Sequence[CapturedSpan]) -> list[RetryGroup]:
    """Spans grouped by (trace, parent, name), in start order; one group per operation."""
    return [RetryGroup(attempts) for attempts in _operations(spans)]


def _operations(spans: Sequence[CapturedSpan]) -> list[list[CapturedSpan]]:
    """The attempts of each operation, operations in the order of their first attempt."""
    groups: dict[tuple[int, int | None, str], list[CapturedSpan]] = collections.defaultdict(list)
    for span in spans:
        groups[(span.trace_id, span.parent_span_id, span.name)].append(span)
    found = []
    for group in groups.values():
        if len(group) == 1:  # most spans are the only attempt
            found.append(group)
        else:
            found += _chains(sorted(group, key=lambda s: s.start_time))
    return sorted(found, key=lambda attempts: attempts[0].start_time)


def _retry_number(span: CapturedSpan) -> int | None:
    attributes = span.attributes
    for key in RETRY_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
    return None


def _chains(attempts: list[CapturedSpan]) -> list[list[CapturedSpan]]:
    """Split same-name siblings into operations when the spans number their retries.

    HTTP client spans are all named after the method (`POST`): with
    `http.request.resend_count` on the resends, an unnumbered (or 0) span
    starts a new operation instead of counting as a retry of the previous one.
    """
    numbers = [_retry_number(span) for span in attempts]
    if all(number is None for number in numbers):
        return [attempts]
    chains: list[list[CapturedSpan]] = []
    for span, number in zip(attempts, numbers, strict=True):
        if not chains or not number:
            chains.append([span])
        else:
            chains[-1].append(span)
    return chains


def retry_problems(
    spans: Sequence[CapturedSpan],
    limits: Sequence[tuple[str, int]],
    *,
    exactly: bool = False,
    source: str = "",
) -> list[str]:
    """Operations whose retries exceed (or, with exactly, differ from) their limit."""
    rules = Rules(limits)
    wrong: list[tuple[RetryGroup, int]] = []  # with the limit it breaks
    for attempts in _operations(spans):
        rule = rules.match(attempts[0])
        if rule is None:
            continue
        group, limit = RetryGroup(attempts), rule[1]
        if group.retries != limit if exactly else group.retries > limit:
            wrong.append((group, limit))
    if not wrong:
        return []

    def bullet(found: tuple[RetryGroup, int]) -> str:
        group, limit = found
        return f"{group.describe()}; {'expected' if exactly else 'allowed'} {limit}"

    bound = "a different number of times than expected" if exactly else "more than allowed"
    return [
        message(
            f"{len(wrong)} operation(s) retried {bound}{source}:",
            written_bullets(wrong, bullet),
            "Silent retries hide a failing dependency and multiply latency: check the "
            "timeout that triggers them and cap the attempts. See " + docs("failures.md#retries"),
        )
    ]
