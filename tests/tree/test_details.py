"""Events, links, remote parents, instrumentation scope and resource in expectations,
against spans from the real SDK."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import propagate
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind
from span_trees import fails

from pytest_agenttrace import ExpectedTreeError, Gt, StartsWith, event, link, span
from pytest_agenttrace.capture._query import SpanForest
from pytest_agenttrace.tree._match import assert_trace_tree, trace_tree_matches
from pytest_agenttrace.tree._parse import parse_expected


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    yield InMemorySpanExporter()


def provider_for(exporter: InMemorySpanExporter, **resource: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create(resource))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def failing_agent(exporter: InMemorySpanExporter) -> SpanForest:
    tracer = provider_for(exporter).get_tracer("agents.llm")
    with tracer.start_as_current_span("llm_agent"):
        with tracer.start_as_current_span("chat") as chat:
            chat.add_event("gen_ai.choice", {"index": 0})
            chat.add_event("gen_ai.choice", {"index": 1})
        with pytest.raises(ValueError), tracer.start_as_current_span("parse_answer"):
            raise ValueError("no JSON in the answer")
        with tracer.start_as_current_span("consumer", kind=SpanKind.CONSUMER):
            pass
    return SpanForest(exporter.get_finished_spans())


# --------------------------------------------------------------------------- events


def test_record_exception_events_match_type_and_a_stacktrace(
    exporter: InMemorySpanExporter,
) -> None:
    forest = failing_agent(exporter)
    assert_trace_tree(
        forest,
        """
        llm_agent
          chat
            @ gen_ai.choice [x2]
          parse_answer [error]
            @ exception {exception.type: "ValueError", exception.stacktrace: /Traceback/}
          consumer [consumer, no events]
        """,
    )


def test_event_attributes_and_counts_must_hold(exporter: InMemorySpanExporter) -> None:
    forest = failing_agent(exporter)
    expectation = """
        llm_agent
          chat
            @ gen_ai.choice {index: 1}
            @ gen_ai.choice {index: > 5}
          parse_answer [error, no events]
          consumer
        """
    message = fails(forest, expectation)
    assert "✗ @ gen_ai.choice {index: > 5}: expected x1, got 0 (index: expected > 5, got 0" in (
        message
    )
    assert "✗ events: expected none, got 1 (exception)" in message
    # the printed tree pastes back as a passing expectation
    assert_trace_tree(forest, message.split("\n\n")[1])


def test_an_event_matching_a_line_counts_toward_it(exporter: InMemorySpanExporter) -> None:
    forest = failing_agent(exporter)
    assert not trace_tree_matches(forest, "llm_agent\n  chat\n    @ gen_ai.*\n  ...")
    assert trace_tree_matches(forest, "llm_agent\n  chat\n    @ gen_ai.* [x2]\n  ...")
    assert trace_tree_matches(forest, "llm_agent\n  chat\n    @ other [x0]\n  ...")


def test_events_with_the_builder(exporter: InMemorySpanExporter) -> None:
    forest = failing_agent(exporter)
    assert_trace_tree(
        forest,
        span(
            "llm_agent",
            span("chat", events=[event("gen_ai.choice", {"index": Gt(0)}), event("gen_ai.choice")]),
            span(
                "parse_answer",
                events=[event("exception", {"exception.message": StartsWith("no JSON")})],
            ),
            span("consumer", no_events=True),
        ),
    )


# --------------------------------------------------------------------------- links


def batch_consumer(exporter: InMemorySpanExporter) -> SpanForest:
    tracer = provider_for(exporter).get_tracer("worker")
    with tracer.start_as_current_span("publish", kind=SpanKind.PRODUCER) as first:
        pass
    with tracer.start_as_current_span("publish", kind=SpanKind.PRODUCER) as second:
        pass
    links = [
        Link(first.get_span_context(), {"messaging.batch.index": 0}),
        Link(second.get_span_context(), {"messaging.batch.index": 1}),
    ]
    with tracer.start_as_current_span("process batch", kind=SpanKind.CONSUMER, links=links):
        pass
    return SpanForest(exporter.get_finished_spans())


def test_links_name_the_linked_spans_line(exporter: InMemorySpanExporter) -> None:
    forest = batch_consumer(exporter)
    assert_trace_tree(
        forest,
        """
        publish [producer, as sent] [x2]
        process batch [consumer]
          -> sent {messaging.batch.index: 0..1} [x2]
        """.replace("] [x2]", ", x2]"),
    )
    assert_trace_tree(forest, "publish [producer, x2]\nprocess batch\n  -> * [x2]")


def test_a_link_to_a_span_not_matching_the_label_fails(exporter: InMemorySpanExporter) -> None:
    forest = batch_consumer(exporter)
    message = fails(
        forest,
        """
        publish [producer, x2]
        process batch [consumer, as self]
          -> self [x2]
        """,
    )
    assert "✗ -> self [x2]: expected x2, got 0" in message
    assert "  -> * [x2]" in message.split("\n\n")[1]
    assert_trace_tree(forest, message.split("\n\n")[1])


def test_link_count_and_no_links(exporter: InMemorySpanExporter) -> None:
    forest = batch_consumer(exporter)
    assert not trace_tree_matches(forest, "publish [x2]\nprocess batch\n  -> *")
    message = fails(forest, "publish [x2, no links]\nprocess batch [no links]")
    assert "✗ links: expected none, got 2" in message


def test_links_with_the_builder(exporter: InMemorySpanExporter) -> None:
    forest = batch_consumer(exporter)
    sent = span("publish", kind="producer", count=2)
    assert_trace_tree(
        forest,
        [sent, span("process batch", links=[link(sent, {"messaging.batch.index": 1}), link(sent)])],
    )
    wrong = span("publish", kind="consumer", count=2)
    message = fails(forest, [wrong, span("process batch", links=[link(wrong, count=2)])])
    # the builder's target gets a label, so the failure names it
    assert "publish [producer, as publish, x2]   # ✗ kind: expected consumer" in message
    assert "✗ -> publish [x2]: expected x2, got 0" in message


# ------------------------------------------------------------------ remote, scope, resource


def test_remote_parent_scope_and_resource(exporter: InMemorySpanExporter) -> None:
    api = provider_for(exporter, **{"service.name": "api", "deployment.environment": "ci"})
    worker = provider_for(exporter, **{"service.name": "worker"})
    carrier: dict[str, str] = {}
    with api.get_tracer("opentelemetry.instrumentation.requests").start_as_current_span("POST"):
        propagate.inject(carrier)
    tracer = worker.get_tracer("agents.worker", "1.0")
    context = propagate.extract(carrier)
    with tracer.start_as_current_span("work", context=context), tracer.start_as_current_span("s"):
        pass
    forest = SpanForest(exporter.get_finished_spans())
    assert_trace_tree(
        forest,
        """
        POST [scope=opentelemetry.instrumentation.*, resource={deployment.environment: "ci"}]
          work [service=worker, remote, scope=agents.worker]
            s
        """,
    )
    message = fails(
        forest,
        """
        POST [resource={deployment.environment: "prod"}]
          work [scope=agents.other]
            s [remote]
        """,
    )
    assert 'resource deployment.environment: expected "prod", got "ci"' in message
    assert "✗ scope: expected agents.other, got agents.worker" in message
    assert "✗ parent: expected a remote (extracted) context, got a local parent" in message
    assert_trace_tree(forest, message.split("\n\n")[1])


# --------------------------------------------------------------------------- the text form


def test_event_and_link_lines_parse_back_to_the_same_text() -> None:
    text = (
        "consumer [consumer, remote, as here]\n"
        '  @ exception {exception.type: "ValueError"} [x1..]\n'
        "  -> here {k: int}\n"
        "  -> * [x0..2]\n"
        "  child"
    )
    from pytest_agenttrace.tree._model import format_expected

    parsed = parse_expected(text)
    assert format_expected(parsed) == text
    assert parsed[0].links[0].target is parsed[0]
    assert [child.name for child in parsed[0].children] == ["child"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("@ exception", "line 1, column 1: an event line ('@') must be indented under a span"),
        ("a\n  @ exception\n    b", "line 3, column 5: an event line ('@') cannot have children"),
        ("a\n  @ exception [error]", "line 2, column 16: 'error': an event or link line takes"),
        ("a\n  -> nowhere", "line 2, column 6: no line is labelled 'nowhere' (labels: none)"),
        ("a [as x]\nb [as x]", "line 2, column 4: label 'x' is already used on line 1"),
        ("a\n  -> 9x", "line 2, column 6: expected the label of the linked span's line"),
        ("a\n  !>> b [x2]", "line 2, column 3: a '!>>' line says 'none at any depth'"),
        ("a [resource=ci]", "line 1, column 4: resource= takes attributes: resource={key: value}"),
        ("a [scope=]", "line 1, column 4: scope= needs a name (a glob)"),
    ],
)
def test_detail_errors_name_line_and_column(text: str, message: str) -> None:
    with pytest.raises(ExpectedTreeError) as raised:
        parse_expected(text)
    assert str(raised.value).startswith(message)
    assert str(raised.value).splitlines()[-1].strip() == "^"


def test_builder_errors_name_the_argument() -> None:
    with pytest.raises(ExpectedTreeError, match=r"span\('a'\): events= items must be event"):
        span("a", events=["exception"])
    with pytest.raises(ExpectedTreeError, match=r"no_events=True contradicts events="):
        span("a", events=[event("x")], no_events=True)
    with pytest.raises(ExpectedTreeError, match=r"link\(\): to= must be a span"):
        link("publish")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"remote_parent= must be True or False"):
        span("a", remote_parent="yes")  # type: ignore[arg-type]
