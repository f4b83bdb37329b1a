"""pytest-agenttrace: capture, query and assert the shape of OpenTelemetry traces.

Names are loaded on first use so that installing the plugin costs nothing for
suites that never touch OpenTelemetry.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._capture import AgentTrace, AgentTraceWarning
    from ._expect import ExpectedSpan, ExpectedTreeError, parse_expected, span
    from ._hops import BrokenHop, ContextError
    from ._match import assert_trace_tree
    from ._query import PRESENT, CapturedSpan, SpanForest, Trace
    from ._render import render_tree
    from ._spy import ExtractCall, InjectCall, PropagatorSpy

__all__ = [
    "PRESENT",
    "AgentTrace",
    "AgentTraceWarning",
    "BrokenHop",
    "CapturedSpan",
    "ContextError",
    "ExpectedSpan",
    "ExpectedTreeError",
    "ExtractCall",
    "InjectCall",
    "PropagatorSpy",
    "SpanForest",
    "Trace",
    "assert_trace_tree",
    "parse_expected",
    "render_tree",
    "span",
]

_HOMES = {
    "AgentTrace": "_capture",
    "AgentTraceWarning": "_capture",
    "ExpectedSpan": "_expect",
    "ExpectedTreeError": "_expect",
    "parse_expected": "_expect",
    "span": "_expect",
    "assert_trace_tree": "_match",
    "BrokenHop": "_hops",
    "ContextError": "_hops",
    "ExtractCall": "_spy",
    "InjectCall": "_spy",
    "PropagatorSpy": "_spy",
    "PRESENT": "_query",
    "CapturedSpan": "_query",
    "SpanForest": "_query",
    "Trace": "_query",
    "render_tree": "_render",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'pytest_agenttrace' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
