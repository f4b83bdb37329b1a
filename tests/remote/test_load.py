"""Stored traces: OTLP JSON (ours, Tempo's, Jaeger v2's) and Jaeger JSON into a SpanForest."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from pytest_agenttrace import (
    SpanForest,
    StoredTraceError,
    assert_trace_tree,
    load_jaeger_json,
    load_otlp_json,
    render_tree,
)
from pytest_agenttrace.remote._codec import encode_json_document, encode_protobuf


def record(build: Any) -> list[ReadableSpan]:
    """Spans made by a real SDK provider (not attached to any capture)."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "pipeline"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    build(provider.get_tracer("pipeline", "1.2"))
    return list(exporter.get_finished_spans())


def pipeline(tracer: Any) -> None:
    with tracer.start_as_current_span("process_document", attributes={"document.id": "42"}):
        with tracer.start_as_current_span("retrieval_agent") as agent:
            agent.add_event("cache_miss", {"key": "doc-42"})
            with tracer.start_as_current_span("POST", kind=SpanKind.CLIENT):
                pass
        with tracer.start_as_current_span(
            "llm_agent", links=[Link(agent.get_span_context(), {"why": "reads"})]
        ) as llm:
            llm.set_status(Status(StatusCode.ERROR, "rate limited"))


EXPECTED = """
    process_document {document.id: "42"} [service=pipeline]
      retrieval_agent
        POST [client]
      llm_agent [error]
"""


def same_span(a: ReadableSpan, b: ReadableSpan) -> None:
    assert (a.name, a.kind, a.start_time, a.end_time) == (b.name, b.kind, b.start_time, b.end_time)
    assert a.context.trace_id == b.context.trace_id and a.context.span_id == b.context.span_id
    assert (a.parent.span_id if a.parent else None) == (b.parent.span_id if b.parent else None)
    assert dict(a.attributes or {}) == dict(b.attributes or {})
    assert a.status.status_code == b.status.status_code
    assert a.status.description == b.status.description
    assert [(e.name, dict(e.attributes or {}), e.timestamp) for e in a.events] == [
        (e.name, dict(e.attributes or {}), e.timestamp) for e in b.events
    ]
    assert [(link.context.span_id, dict(link.attributes or {})) for link in a.links] == [
        (link.context.span_id, dict(link.attributes or {})) for link in b.links
    ]
    assert dict(a.resource.attributes) == dict(b.resource.attributes)
    assert a.instrumentation_scope.name == b.instrumentation_scope.name


def test_otlp_json_round_trip_keeps_every_field(tmp_path: Path) -> None:
    spans = record(pipeline)
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(encode_json_document(spans)))
    loaded = load_otlp_json(path)
    assert_trace_tree(loaded, EXPECTED)
    originals = sorted(spans, key=lambda span: span.start_time or 0)
    for original, back in zip(originals, (span.readable for span in loaded.spans), strict=True):
        same_span(back, original)
    assert all(span.received for span in loaded.spans)


def test_otlp_json_is_the_specifications_encoding() -> None:
    document = encode_json_document(record(pipeline))
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert len(span["traceId"]) == 32 and int(span["traceId"], 16)  # hex, not base64
    assert isinstance(span["kind"], int)  # enums as integers


attribute_values = st.one_of(
    st.text(max_size=20),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.lists(st.integers(min_value=0, max_value=9), max_size=3).map(tuple),
)


@given(
    names=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=6),
    attributes=st.dictionaries(st.text(min_size=1, max_size=8), attribute_values, max_size=4),
    kind=st.sampled_from(list(SpanKind)),
)
def test_any_chain_of_spans_survives_export_and_load(
    names: list[str], attributes: dict[str, Any], kind: SpanKind
) -> None:
    def chain(tracer: Any) -> None:
        def nest(depth: int) -> None:
            if depth == len(names):
                return
            with tracer.start_as_current_span(names[depth], kind=kind, attributes=attributes):
                nest(depth + 1)

        nest(0)

    spans = record(chain)
    for encoded in (json.dumps(encode_json_document(spans)),):
        loaded = load_otlp_json(encoded)
        assert render_tree(loaded) == render_tree(SpanForest(spans))
        for original, back in zip(
            sorted(spans, key=lambda s: s.start_time or 0), loaded.spans, strict=True
        ):
            same_span(back.readable, original)


def test_protobuf_encoding_decodes_to_the_same_spans() -> None:
    from pytest_agenttrace.remote._codec import decode_protobuf

    spans = record(pipeline)
    decoded = decode_protobuf(encode_protobuf(spans))
    assert decoded.rejected == 0
    assert_trace_tree(SpanForest(decoded.spans), EXPECTED)


def test_tempo_and_jaeger_v2_answers_load(tmp_path: Path) -> None:
    document = encode_json_document(record(pipeline))
    tempo = {"batches": document["resourceSpans"]}
    for batch in tempo["batches"]:  # Tempo's API: base64 ids, old field names
        batch["instrumentationLibrarySpans"] = batch.pop("scopeSpans")
        for scope in batch["instrumentationLibrarySpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    assert_trace_tree(load_otlp_json(json.dumps(tempo)), EXPECTED)
    assert_trace_tree(load_otlp_json(json.dumps({"result": document}).encode()), EXPECTED)


def test_json_lines_as_the_collectors_file_exporter_writes() -> None:
    spans = sorted(record(pipeline), key=lambda span: span.start_time or 0)
    lines = "\n".join(json.dumps(encode_json_document([span])) for span in spans)
    assert_trace_tree(load_otlp_json(lines), EXPECTED)


JAEGER = {
    "data": [
        {
            "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
            "spans": [
                {
                    "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
                    "spanID": "00f067aa0ba902b7",
                    "operationName": "process_document",
                    "references": [],
                    "startTime": 1700000000000000,
                    "duration": 2000000,
                    "tags": [
                        {"key": "document.id", "type": "string", "value": "42"},
                        {"key": "document.size", "type": "int64", "value": 1200},
                        {"key": "otel.scope.name", "type": "string", "value": "pipeline"},
                    ],
                    "logs": [],
                    "processID": "p1",
                },
                {
                    "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
                    "spanID": "a3ce929d0e0e4736",
                    "operationName": "POST",
                    "references": [
                        {
                            "refType": "CHILD_OF",
                            "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
                            "spanID": "00f067aa0ba902b7",
                        }
                    ],
                    "startTime": 1700000000100000,
                    "duration": 500000,
                    "tags": [
                        {"key": "span.kind", "type": "string", "value": "client"},
                        {"key": "otel.status_code", "type": "string", "value": "ERROR"},
                        {"key": "otel.status_description", "type": "string", "value": "503"},
                        {"key": "error", "type": "bool", "value": True},
                    ],
                    "logs": [
                        {
                            "timestamp": 1700000000200000,
                            "fields": [
                                {"key": "event", "type": "string", "value": "exception"},
                                {"key": "exception.type", "type": "string", "value": "E"},
                            ],
                        }
                    ],
                    "processID": "p2",
                },
            ],
            "processes": {
                "p1": {"serviceName": "orchestrator", "tags": []},
                "p2": {
                    "serviceName": "retrieval",
                    "tags": [{"key": "host.name", "type": "string", "value": "worker-1"}],
                },
            },
        }
    ]
}


def test_jaeger_ui_download_loads_with_services_kinds_status_and_logs() -> None:
    forest = load_jaeger_json(json.dumps(JAEGER))
    assert_trace_tree(
        forest,
        """
        process_document {document.id: "42", document.size: 1200} [service=orchestrator]
          POST [client, error, service=retrieval]
        """,
    )
    post = forest.one("POST")
    assert post.status_description == "503"
    assert "error" not in post.attributes and "span.kind" not in post.attributes
    assert post.resource == {"host.name": "worker-1", "service.name": "retrieval"}
    assert [(event.name, dict(event.attributes)) for event in post.events] == [
        ("exception", {"exception.type": "E"})
    ]
    assert post.duration == 0.5


def _one_span(**fields: Any) -> str:
    span = {
        "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
        "spanId": "00f067aa0ba902b7",
        "name": "agent",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000000000100",
        **fields,
    }
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})


def test_gzip_bom_and_path_sources(tmp_path: Path) -> None:
    import gzip

    document = json.dumps(encode_json_document(record(pipeline)))
    (tmp_path / "trace.json.gz").write_bytes(gzip.compress(document.encode()))
    assert_trace_tree(load_otlp_json(tmp_path / "trace.json.gz"), EXPECTED)
    assert_trace_tree(load_otlp_json("\ufeff" + document), EXPECTED)
    assert_trace_tree(load_otlp_json(b"\xef\xbb\xbf" + document.encode()), EXPECTED)
    (tmp_path / "trace.json").write_text(document, encoding="utf-8-sig")
    assert_trace_tree(load_otlp_json(str(tmp_path / "trace.json")), EXPECTED)


def test_jaeger_flat_parent_span_id_is_the_parent() -> None:
    flat = json.loads(json.dumps(JAEGER))
    child = flat["data"][0]["spans"][1]
    child["parentSpanID"] = child.pop("references")[0]["spanID"]
    assert load_jaeger_json(json.dumps(flat)).one("POST").parent is not None


@pytest.mark.parametrize(
    ("loader", "source", "message"),
    [
        (load_otlp_json, "{broken", "not JSON"),
        (load_otlp_json, '{"resourceSpans": "x"}', "not OTLP/JSON trace data"),
        (
            load_otlp_json,
            '{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "zz"}]}]}]}',
            "span '': spanId 'zz' is neither 16 hex digits nor base64 of 8 bytes",
        ),
        (load_otlp_json, "[" * 10_000 + "]" * 10_000, "nested"),
        (load_jaeger_json, '{"resourceSpans": []}', 'must be an object with a "data" list'),
        (load_jaeger_json, '{"data": [{"spans": [{"spanID": 1}]}]}', "is not a Jaeger span"),
        (load_otlp_json, "/no/such/trace.json", "cannot read /no/such/trace.json"),
        (load_otlp_json, "", "empty source"),
        (load_otlp_json, "{}", 'not OTLP JSON: no "resourceSpans"'),
        (load_otlp_json, '{"data": []}', "use load_jaeger_json()"),
        (load_otlp_json, b"\xe9\xe9", "is not UTF-8 text"),
        (load_otlp_json, b"\x1f\x8bxx", "broken gzip data"),
        (load_otlp_json, _one_span(kind=9), "unknown kind 9"),
        (load_otlp_json, _one_span(status={"code": 7}), "unknown status code 7"),
        (load_otlp_json, _one_span(name=""), "no name"),
        (load_otlp_json, _one_span(endTimeUnixNano="1"), "ends before it starts"),
        (
            load_jaeger_json,
            '{"data": [{"spans": [{"traceID": "ab", "spanID": "cd", '
            '"operationName": "x", "startTime": 1, "processID": "p9"}], "processes": {}}]}',
            "processID 'p9' is not among",
        ),
    ],
)
def test_unreadable_stored_traces_raise_a_specific_error(
    loader: Any, source: str, message: str
) -> None:
    with pytest.raises(StoredTraceError, match=re.escape(message)):
        loader(source)
