"""`--agenttrace-export=DIR`: one OTLP JSON file per captured test, read back unchanged."""

from __future__ import annotations

import itertools
import json
import re
import string
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from pytest_agenttrace import SpanForest, load_otlp_json, render_tree
from pytest_agenttrace.report._export import export_path, write_export

TESTS = """
    import pytest
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    tracer = trace.get_tracer("pipeline", "1.0")

    @pytest.mark.parametrize("doc", ["a/b", "c:d", "ü"])
    def test_documents(agenttrace, doc):
        with tracer.start_as_current_span("process_document", attributes={"document.id": doc}):
            with tracer.start_as_current_span("POST", kind=SpanKind.CLIENT):
                pass

    def test_fails(agenttrace):
        tracer.start_span("evidence", attributes={"big": 2**62}).end()
        assert False

    def test_no_spans(agenttrace):
        pass

    def test_no_capture():
        tracer.start_span("not captured").end()
"""


def exported(directory: Path) -> dict[str, dict[str, Any]]:
    """Each exported document by the test it names (resource attribute test.case.name)."""
    found = {}
    for path in sorted(directory.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        resource = document["resourceSpans"][0]["resource"]["attributes"]
        names = [
            item["value"]["stringValue"] for item in resource if item["key"] == "test.case.name"
        ]
        found[names[0]] = document
    return found


def spans_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        span
        for resource_spans in document["resourceSpans"]
        for scope_spans in resource_spans["scopeSpans"]
        for span in scope_spans["spans"]
    ]


def resource_of(document: dict[str, Any]) -> dict[str, Any]:
    attributes = document["resourceSpans"][0]["resource"]["attributes"]
    return {item["key"]: next(iter(item["value"].values())) for item in attributes}


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_one_file_per_test_that_captured_spans(pytester: pytest.Pytester, xdist: bool) -> None:
    pytester.makepyfile(dedent(TESTS))
    args = ["-n", "2"] if xdist else []
    result = pytester.runpytest_subprocess(
        "--agenttrace-export=out", "-p", "no:cacheprovider", *args
    )
    result.assert_outcomes(passed=5, failed=1)
    documents = exported(pytester.path / "out")
    module = "test_one_file_per_test_that_captured_spans.py"
    assert sorted(documents) == sorted(
        [
            f"{module}::test_documents[a/b]",
            f"{module}::test_documents[c:d]",
            f"{module}::test_documents[\\xfc]",  # pytest's node id escapes non-ASCII
            f"{module}::test_fails",
        ]
    )
    for node_id, document in documents.items():
        # the file's name is made from its node id
        assert (pytester.path / "out" / export_path(Path(), node_id)).is_file()
        outcome = resource_of(document)
        assert outcome["test.case.result.status"] == ("fail" if "fails" in node_id else "pass")
        assert outcome["agenttrace.test.outcome"] == ("failed" if "fails" in node_id else "passed")
    names = {span["name"] for span in spans_of(documents[f"{module}::test_documents[c:d]"])}
    assert names == {"process_document", "POST"}


def test_the_file_is_otlp_json_as_the_specification_writes_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace
            from opentelemetry.trace import Link, SpanKind, Status, StatusCode

            def test_it(agenttrace):
                tracer = trace.get_tracer("pipeline", "1.0")
                with tracer.start_as_current_span("root", kind=SpanKind.SERVER) as root:
                    root.set_attribute("n", 2**62)
                    root.add_event("started", {"k": "v"})
                    with tracer.start_as_current_span(
                        "llm", kind=SpanKind.CLIENT, links=[Link(root.get_span_context())]
                    ) as llm:
                        llm.set_status(Status(StatusCode.ERROR, "rate limited"))
            """
        )
    )
    pytester.runpytest("--agenttrace-export=out").assert_outcomes(passed=1)
    (document,) = exported(pytester.path / "out").values()
    assert list(document) == ["resourceSpans"]
    assert list(document["resourceSpans"][0]) == ["resource", "scopeSpans"]
    scope_spans = document["resourceSpans"][0]["scopeSpans"][0]
    assert scope_spans["scope"] == {"name": "pipeline", "version": "1.0"}
    by_name = {span["name"]: span for span in scope_spans["spans"]}
    root, llm = by_name["root"], by_name["llm"]
    hex_id = re.compile(r"[0-9a-f]+")
    for span in (root, llm):
        assert len(span["traceId"]) == 32 and hex_id.fullmatch(span["traceId"])
        assert len(span["spanId"]) == 16 and hex_id.fullmatch(span["spanId"])
        # 64-bit integers are strings in the JSON mapping of protobuf
        assert isinstance(span["startTimeUnixNano"], str)
        assert int(span["endTimeUnixNano"]) >= int(span["startTimeUnixNano"])
    assert "parentSpanId" not in root and llm["parentSpanId"] == root["spanId"]
    # enums are integers: SPAN_KIND_SERVER = 2, SPAN_KIND_CLIENT = 3, STATUS_CODE_ERROR = 2
    assert (root["kind"], llm["kind"]) == (2, 3)
    assert llm["status"] == {"code": 2, "message": "rate limited"}
    assert root["attributes"] == [{"key": "n", "value": {"intValue": str(2**62)}}]
    assert root["events"][0]["name"] == "started"
    assert llm["links"][0]["spanId"] == root["spanId"]
    assert llm["links"][0]["traceId"] == root["traceId"]


def test_received_and_unfinished_spans_are_exported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor

            def test_it(agenttrace):
                # another service, exporting over OTLP/HTTP to the plugin's receiver
                remote = TracerProvider(resource=Resource.create({"service.name": "validator"}))
                remote.add_span_processor(
                    SimpleSpanProcessor(OTLPSpanExporter(agenttrace.otlp_endpoint + "/v1/traces"))
                )
                remote.get_tracer("validator").start_span("validate").end()
                remote.shutdown()
                trace.get_tracer("t").start_span("hung_agent")  # never ended
            """
        )
    )
    result = pytester.runpytest("--agenttrace-export=out")
    result.assert_outcomes(passed=1, errors=1)  # the unfinished span fails at teardown
    (document,) = exported(pytester.path / "out").values()
    services = {
        resource_of({"resourceSpans": [part]})["service.name"]: [
            span["name"] for scope in part["scopeSpans"] for span in scope["spans"]
        ]
        for part in document["resourceSpans"]
    }
    assert services == {"validator": ["validate"], "pytest": ["hung_agent"]}
    (hung,) = [span for span in spans_of(document) if span["name"] == "hung_agent"]
    assert {"key": "agenttrace.unfinished", "value": {"boolValue": True}} in hung["attributes"]
    assert resource_of(document)["agenttrace.test.outcome"] == "error"
    assert [
        span.name for span in load_otlp_json(next((pytester.path / "out").iterdir())).spans
    ] == [
        "validate",
        "hung_agent",
    ]


def test_the_ini_key_is_relative_to_the_ini_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\nagenttrace_export = traces/otlp\n")
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace

            def test_it(agenttrace):
                trace.get_tracer("t").start_span("one").end()
            """
        )
    )
    monkeypatch.chdir(pytester.mkdir("elsewhere"))  # run from another directory
    result = pytester.runpytest(str(pytester.path))
    result.assert_outcomes(passed=1)
    assert len(list((pytester.path / "traces" / "otlp").glob("*.json"))) == 1
    assert not (pytester.path / "elsewhere" / "traces").exists()


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("a_file", "it is a file, not a directory"),
        ("a_file/below", "it cannot be written (Not a directory)"),
        ("/proc/agenttrace-export", "it cannot be written (No such file or directory)"),
    ],
)
def test_a_directory_that_cannot_be_written_is_a_usage_error(
    pytester: pytest.Pytester, target: str, problem: str
) -> None:
    pytester.makefile("", a_file="")
    pytester.makepyfile("def test_it(agenttrace): pass")
    result = pytester.runpytest(f"--agenttrace-export={target}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: --agenttrace-export: cannot export OTLP JSON to *: {problem}. *"]
    )
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


# -- the round trip: export, then load_otlp_json, gives the same spans -----------------
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
SCALARS = st.one_of(
    TEXT,
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(TEXT, min_size=1, max_size=3).map(tuple),
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=3).map(tuple),
)
ATTRIBUTES = st.dictionaries(
    st.text(string.ascii_letters + "._", min_size=1, max_size=6), VALUES, max_size=3
)


class _Ids(IdGenerator):
    """Drawn, distinct ids (the SDK's own generator uses `random`, which Hypothesis refuses)."""

    def __init__(self, span_base: int, trace_base: int) -> None:
        self._spans = itertools.count(span_base)
        self._traces = itertools.count(trace_base)

    def generate_span_id(self) -> int:
        return next(self._spans)

    def generate_trace_id(self) -> int:
        return next(self._traces)


@st.composite
def span_trees(draw: st.DrawFn) -> list[ReadableSpan]:
    """Real SDK spans: random tree shape, names, kinds, statuses, attributes, events,
    links (to spans made earlier) and explicit times."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": draw(TEXT)}),
        id_generator=_Ids(
            draw(st.integers(1, 2**64 - 2**20)), draw(st.integers(1, 2**128 - 2**20))
        ),
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer(
        draw(st.text(string.ascii_letters, min_size=1)), draw(st.sampled_from([None, "1.0"]))
    )
    made: list[Any] = []
    clock = [draw(st.integers(0, 2**62))]

    def tick() -> int:
        clock[0] += draw(st.integers(0, 10**9))
        return clock[0]

    def make(parent: Context, depth: int) -> None:
        links = [
            Link(target.get_span_context(), draw(ATTRIBUTES))
            for target in draw(st.lists(st.sampled_from(made), max_size=2) if made else st.just([]))
        ]
        span = tracer.start_span(
            draw(TEXT.filter(bool)),
            context=parent,
            kind=draw(st.sampled_from(list(SpanKind))),
            attributes=draw(ATTRIBUTES),
            links=links,
            start_time=tick(),
        )
        made.append(span)
        for _ in range(draw(st.integers(0, 2))):
            span.add_event(draw(TEXT.filter(bool)), draw(ATTRIBUTES), timestamp=tick())
        code = draw(st.sampled_from(list(StatusCode)))
        if code is not StatusCode.UNSET:
            span.set_status(Status(code, draw(TEXT) if code is StatusCode.ERROR else None))
        if depth < 3:
            for _ in range(draw(st.integers(0, 3))):
                make(trace.set_span_in_context(span, Context()), depth + 1)
        span.end(end_time=tick())

    for _ in range(draw(st.integers(1, 2))):
        make(Context(), 0)
    return list(exporter.get_finished_spans())


def comparable(forest: SpanForest) -> list[Any]:
    """Everything OTLP carries about each span, in a form that compares by value."""

    def values(attributes: Any) -> dict[str, Any]:
        return {
            key: (list(v) if isinstance(v, tuple) else v) for key, v in dict(attributes).items()
        }

    return [
        (
            span.trace_id,
            span.span_id,
            span.parent_span_id,
            span.name,
            span.kind,
            span.status,
            span.status_description or None,  # OTLP: "" is no description
            span.start_time,
            span.end_time,
            values(span.attributes),
            [(event.name, event.timestamp, values(event.attributes)) for event in span.events],
            [
                (link.context.trace_id, link.context.span_id, values(link.attributes))
                for link in span.links
            ],
            span.readable.instrumentation_scope.name,
            span.readable.instrumentation_scope.version or None,  # OTLP: "" is no version
            dict(span.resource),
        )
        for span in forest.spans
    ]


@settings(max_examples=60)
@given(spans=span_trees(), node_id=st.text(max_size=40))
def test_export_then_load_gives_the_same_spans(
    tmp_path_factory: pytest.TempPathFactory, spans: list[ReadableSpan], node_id: str
) -> None:
    directory = tmp_path_factory.mktemp("export")
    path = write_export(directory, node_id, spans)
    assert path.parent == directory and path.is_file()
    loaded = load_otlp_json(path)
    original = SpanForest(spans)
    assert render_tree(loaded) == render_tree(original)
    assert comparable(loaded) == comparable(original)


def test_the_outcome_is_the_tests_final_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            import pytest
            from opentelemetry import trace

            tracer = trace.get_tracer("t")

            @pytest.mark.xfail(reason="known")
            def test_xfailed(agenttrace):
                tracer.start_span("x").end()
                assert False

            @pytest.mark.xfail(reason="fixed?", strict=False)
            def test_xpassed(agenttrace):
                tracer.start_span("x").end()

            def test_skipped_midway(agenttrace):
                tracer.start_span("x").end()
                pytest.skip("no backend")
            """
        )
    )
    result = pytester.runpytest("--agenttrace-export=out")
    result.assert_outcomes(xfailed=1, xpassed=1, skipped=1)
    outcomes = {
        node_id.split("::")[1]: (
            resource_of(document)["agenttrace.test.outcome"],
            resource_of(document)["test.case.result.status"],
        )
        for node_id, document in exported(pytester.path / "out").items()
    }
    assert outcomes == {
        "test_xfailed": ("xfailed", "skipped"),
        "test_xpassed": ("xpassed", "pass"),
        "test_skipped_midway": ("skipped", "skipped"),
    }


def test_a_directory_that_goes_away_warns_once_and_fails_nothing(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(
        dedent(
            """
            import shutil
            import pytest
            from opentelemetry import trace

            @pytest.mark.parametrize("n", range(3))
            def test_it(agenttrace, n):
                shutil.rmtree("out", ignore_errors=True)
                trace.get_tracer("t").start_span("work").end()
            """
        )
    )
    result = pytester.runpytest("--agenttrace-export=out")
    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*AgentTraceWarning: --agenttrace-export: could not write "
            "test_a_directory_that_goes_away_warns_once_and_fails_nothing.py::test_it[[]0[]]'s "
            "spans to */out: No such file or directory; no further files are written this session"
        ]
    )
