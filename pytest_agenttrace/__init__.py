"""pytest-agenttrace: capture, query and assert the shape of OpenTelemetry traces.

Names are loaded on first use so that installing the plugin costs nothing for
suites that never touch OpenTelemetry.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._errors import AgentTraceWarning, ExpectedTreeError, StoredTraceError
    from ._fixture import AgentTrace
    from .capture._query import PRESENT, CapturedSpan, SpanForest, Trace
    from .propagation._hops import BrokenHop, ContextError
    from .propagation._spy import ExtractCall, InjectCall, PropagatorSpy
    from .remote._load import load_jaeger_json, load_otlp_json
    from .remote._receiver import OtlpReceiver
    from .tree._match import assert_trace_tree
    from .tree._matchers import (
        Between,
        Contains,
        EndsWith,
        Ge,
        Gt,
        IsBool,
        IsFloat,
        IsInt,
        IsList,
        IsNumber,
        IsStr,
        Le,
        Lt,
        Regex,
        StartsWith,
    )
    from .tree._model import ExpectedEvent, ExpectedLink, ExpectedSpan, event, link, span
    from .tree._parse import parse_expected
    from .tree._render import render_tree

__all__ = [
    "PRESENT",
    "AgentTrace",
    "AgentTraceWarning",
    "Between",
    "BrokenHop",
    "CapturedSpan",
    "Contains",
    "ContextError",
    "EndsWith",
    "ExpectedEvent",
    "ExpectedLink",
    "ExpectedSpan",
    "ExpectedTreeError",
    "ExtractCall",
    "Ge",
    "Gt",
    "InjectCall",
    "IsBool",
    "IsFloat",
    "IsInt",
    "IsList",
    "IsNumber",
    "IsStr",
    "Le",
    "Lt",
    "OtlpReceiver",
    "PropagatorSpy",
    "Regex",
    "SpanForest",
    "StartsWith",
    "StoredTraceError",
    "Trace",
    "assert_trace_tree",
    "event",
    "link",
    "load_jaeger_json",
    "load_otlp_json",
    "parse_expected",
    "render_tree",
    "span",
]

_HOMES = {
    "AgentTrace": "_fixture",
    "AgentTraceWarning": "_errors",
    "ExpectedTreeError": "_errors",
    "StoredTraceError": "_errors",
    "load_otlp_json": "remote._load",
    "load_jaeger_json": "remote._load",
    "OtlpReceiver": "remote._receiver",
    "ExpectedSpan": "tree._model",
    "span": "tree._model",
    "event": "tree._model",
    "link": "tree._model",
    "ExpectedEvent": "tree._model",
    "ExpectedLink": "tree._model",
    "Between": "tree._matchers",
    "Contains": "tree._matchers",
    "EndsWith": "tree._matchers",
    "Ge": "tree._matchers",
    "Gt": "tree._matchers",
    "IsBool": "tree._matchers",
    "IsFloat": "tree._matchers",
    "IsInt": "tree._matchers",
    "IsList": "tree._matchers",
    "IsNumber": "tree._matchers",
    "IsStr": "tree._matchers",
    "Le": "tree._matchers",
    "Lt": "tree._matchers",
    "Regex": "tree._matchers",
    "StartsWith": "tree._matchers",
    "parse_expected": "tree._parse",
    "assert_trace_tree": "tree._match",
    "render_tree": "tree._render",
    "BrokenHop": "propagation._hops",
    "ContextError": "propagation._hops",
    "ExtractCall": "propagation._spy",
    "InjectCall": "propagation._spy",
    "PropagatorSpy": "propagation._spy",
    "PRESENT": "capture._query",
    "CapturedSpan": "capture._query",
    "SpanForest": "capture._query",
    "Trace": "capture._query",
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
