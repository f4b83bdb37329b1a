"""What every layer may raise or warn with, and the layout of a finding message.

It imports nothing from the package, so any module may import it. The public types
print under `pytest_agenttrace`, their importable name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


class AgentTraceWarning(UserWarning):
    """Something in the test's tracing set-up means spans may not be what it expects."""

    __module__ = "pytest_agenttrace"  # as reports print it: the public, importable name


class ExpectedTreeError(ValueError):
    """A malformed expectation (text or builder); the message says where and why."""

    __module__ = "pytest_agenttrace"


class StoredTraceError(ValueError):
    """A stored trace (OTLP JSON, Jaeger JSON) that cannot be read; the message says why."""

    __module__ = "pytest_agenttrace"


class OtlpDecodeError(StoredTraceError):
    """OTLP trace data (protobuf or JSON) that does not decode."""

    __module__ = "pytest_agenttrace"


class ProviderNotSupportedError(RuntimeError):
    """The code's TracerProvider is not an OpenTelemetry SDK provider."""


# Bullets a finding shows: a policy broken by every span of a 100,000-span trace
# still fails with a message a person can read (the header counts them all).
MAX_BULLETS = 100


def message(header: str, bullets: Iterable[str], fix: str) -> str:
    """Header line, one `- ` bullet per offending span, a blank line, the fix."""
    lines = [header]
    shown = 0
    for bullet in bullets:
        shown += 1
        if shown <= MAX_BULLETS:
            lines.append(f"- {bullet}")
    lines += more_line(shown)
    lines += ["", fix]
    return "\n".join(lines)


# Bullets a hint under a failed assertion shows: the assertion's own message is the
# news, so what it adds stays a few lines however many spans it concerns.
HINT_BULLETS = 10


def hint_bullets(items: Sequence[T], write: Callable[[T], str]) -> list[str]:
    """The first HINT_BULLETS items as `- ` bullets, then one counting the rest."""
    lines = [f"- {write(item)}" for item in items[:HINT_BULLETS]]
    if len(items) > HINT_BULLETS:
        lines.append(f"- … and {len(items) - HINT_BULLETS:,} more")
    return lines


def more_line(count: int) -> list[str]:
    """The bullet that counts those of `count` past the ones shown (none if all are)."""
    return [f"- … and {count - MAX_BULLETS} more"] if count > MAX_BULLETS else []


def written_bullets(items: Iterable[T], write: Callable[[T], str]) -> Iterator[str]:
    """`write(item)` for each bullet `message` shows; past MAX_BULLETS an item is
    counted (the `… and N more` line) but not written: 100,000 offending spans would
    cost 100,000 bullets' text to show 100."""
    for index, item in enumerate(items):
        yield write(item) if index < MAX_BULLETS else ""
