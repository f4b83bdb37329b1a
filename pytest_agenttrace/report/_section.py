"""The "Captured agenttrace" report section: the trace of a test, as text."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._fixture import AgentTrace


def describe_capture(capture: AgentTrace) -> str:
    """The captured trees and the spans still open; never raises (it runs in a report hook)."""
    try:
        lines = [capture.render()] if capture.spans else ["(no finished spans)"]
        for span in capture.unfinished:
            chain = span.ancestor_chain()
            lines.append(f"still open: {span.name}" + (f" (under {chain})" if chain else ""))
    except Exception as error:  # a report section must never turn into an INTERNALERROR
        return f"(pytest-agenttrace could not render the captured spans: {error!r})"
    return "\n".join(lines)
