"""Late review: regressions found in the changes since 05097a9."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from pytest_agenttrace import ExpectedTreeError, parse_expected
from pytest_agenttrace.capture import _router


# -- '[' glued to a name ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "kind", "count"),
    [
        ("POST[client]", SpanKind.CLIENT, 1),
        ("retry[x3]", None, 3),
        ("a[server, x2]", SpanKind.SERVER, 2),
    ],
)
def test_valid_flags_glued_to_the_name_still_parse(
    text: str, kind: SpanKind | None, count: int
) -> None:
    # Accepted before the "'[' right after the name" error was added: still accepted.
    (node,) = parse_expected(text)
    assert node.kind is kind
    assert (node.min_count, node.max_count) == (count, count)


@pytest.mark.parametrize("text", ["agent_[ab]", "agent_[ab", "a[]", "a[client, bogus]"])
def test_a_glob_class_glued_to_the_name_gets_the_specific_error(text: str) -> None:
    with pytest.raises(ExpectedTreeError, match=r"'\[' right after the name"):
        parse_expected(text)


def test_glued_valid_flags_keep_their_own_errors() -> None:
    with pytest.raises(ExpectedTreeError, match="kind given twice"):
        parse_expected("a[client, server]")


# -- spans open outside captures -----------------------------------------------------------
def test_spans_never_ended_outside_a_capture_do_not_grow_memory_without_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_router, "_OPEN_OUTSIDE_LIMIT", 50)
    router = _router.SpanRouter()
    provider = TracerProvider()
    provider.add_span_processor(router)
    tracer = provider.get_tracer("review")
    first = tracer.start_span("session")  # the earliest (a session-long span) is kept
    for _ in range(500):
        tracer.start_span("leaked")  # never ended, dropped
    assert len(router.open_outside) == 50
    assert _router.span_key(first) in router.open_outside
    first.end()
    assert _router.span_key(first) not in router.open_outside
