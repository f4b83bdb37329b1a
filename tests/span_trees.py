"""Real SDK span trees for matcher tests, written as nested `s(...)` calls."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from pytest_agenttrace.capture._query import SpanForest
from pytest_agenttrace.tree._match import assert_trace_tree


@dataclass
class Node:
    """A span to emit: name, children, and the options the SDK takes."""

    name: str
    children: list[Node] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    kind: SpanKind = SpanKind.INTERNAL
    status: StatusCode = StatusCode.UNSET
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # links to nodes emitted earlier (in depth-first start order), with attributes
    links: list[tuple[Node, dict[str, Any]]] = field(default_factory=list)


def s(
    name: str,
    *children: Node,
    kind: SpanKind = SpanKind.INTERNAL,
    status: StatusCode = StatusCode.UNSET,
    **attributes: Any,
) -> Node:
    """`s("agent", s("POST", kind=SpanKind.CLIENT), document__id="42")`: `__` is `.`."""
    keys = {key.replace("__", "."): value for key, value in attributes.items()}
    return Node(name, list(children), keys, kind, status)


def make_forest(*roots: Node) -> SpanForest:
    """Emit the trees as real SDK spans, children started in the order given."""
    return emit(roots)


def emit(roots: Iterable[Node]) -> SpanForest:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    clock = itertools.count(1_000_000, 10)  # explicit: start order is the order given
    contexts: dict[int, trace.SpanContext] = {}

    def visit(node: Node, parent: Context) -> None:
        started = tracer.start_span(
            node.name,
            context=parent,
            kind=node.kind,
            attributes=node.attributes,
            start_time=next(clock),
            links=[
                trace.Link(contexts[id(target)], dict(a))
                for target, a in getattr(node, "links", ())
            ],
        )
        contexts[id(node)] = started.get_span_context()
        for name, attributes in getattr(node, "events", ()):  # a Node's; a SpanTree has none
            started.add_event(name, attributes, timestamp=next(clock))
        inner = trace.set_span_in_context(started, Context())
        for child in node.children:
            visit(child, inner)
        if node.status is not StatusCode.UNSET:
            started.set_status(Status(node.status))
        started.end(end_time=next(clock))

    for root in roots:
        visit(root, Context())
    return SpanForest(exporter.get_finished_spans())


def fails(spans: Any, expected: Any, **options: Any) -> str:
    """The failure message of an assert_trace_tree call that must fail."""
    with pytest.raises(AssertionError) as raised:
        assert_trace_tree(spans, expected, **options)
    return str(raised.value)
