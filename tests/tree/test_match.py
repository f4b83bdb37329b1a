from __future__ import annotations

import re
import time

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from span_trees import fails, make_forest, s

from pytest_agenttrace import ExpectedTreeError, span
from pytest_agenttrace.capture._query import SpanForest
from pytest_agenttrace.tree._match import assert_trace_tree, trace_tree_matches
from pytest_agenttrace.tree._render import render_tree

PIPELINE = make_forest(
    s(
        "process_document",
        s("retrieval_agent", s("POST", kind=SpanKind.CLIENT)),
        s("llm_agent"),
        s("llm_retry"),
        s("llm_retry"),
        s("GET /users/{id}", kind=SpanKind.SERVER, status=StatusCode.ERROR),
        document__id="41",
        agent__version="1.2",
    )
)


# --------------------------------------------------------------------------- basics


def test_matching_tree_passes() -> None:
    assert_trace_tree(
        PIPELINE,
        """
        process_document {document.id: "41", agent.version: *}
          retrieval_agent
            POST [client]
          llm_agent
          llm_retry [x2]
          "GET /users/{id}" [server, error]
        """,
    )


def test_sibling_order_is_ignored_by_default() -> None:
    assert_trace_tree(
        PIPELINE,
        """
        process_document
          "GET /users/{id}" [server, error]
          llm_retry [x2]
          llm_agent
          retrieval_agent
            POST [client]
        """,
    )


def test_a_new_span_fails_without_ellipsis() -> None:
    forest = make_forest(s("root", s("a"), s("b")))
    assert fails(forest, "root\n  a") == (
        "Trace tree does not match the expectation (1 difference):\n"
        "\n"
        "root\n"
        "  a\n"
        "  b   # ✗ unexpected span\n"
        "\n"
        "Paste the tree above into the test to accept the current shape; "
        "lines marked ✗ differ from the expectation."
    )


def test_ellipsis_allows_unlisted_siblings() -> None:
    forest = make_forest(s("root", s("a"), s("b"), s("c", s("d"))))
    assert_trace_tree(forest, "root\n  a\n  ...")
    assert_trace_tree(forest, "root\n  ...")


def test_ellipsis_still_requires_the_listed_spans() -> None:
    forest = make_forest(s("root", s("a")))
    assert not trace_tree_matches(forest, "root\n  b\n  ...")


def test_ellipsis_does_not_excuse_spans_a_listed_line_counts() -> None:
    forest = make_forest(s("root", s("retry"), s("retry"), s("retry"), s("other")))
    assert_trace_tree(forest, "root\n  retry [x3]\n  ...")
    assert fails(forest, "root\n  retry [x2]\n  ...") == "\n".join(
        [
            "Trace tree does not match the expectation (1 difference):",
            "",
            "root",
            "  retry [x3]   # ✗ count: expected x2, got 3",
            "  ...",
            "",
            "Paste the tree above into the test to accept the current shape; "
            "lines marked ✗ differ from the expectation.",
        ]
    )


def test_ellipsis_with_overlapping_globs_counts_every_matching_child() -> None:
    forest = make_forest(s("root", s("llm_call"), s("llm_retry"), s("tool")))
    assert_trace_tree(forest, "root\n  llm_*\n  llm_call\n  ...")
    assert not trace_tree_matches(forest, "root\n  llm_*\n  ...")


def test_direct_child_takes_a_line_from_an_optional_deeper_match() -> None:
    # `>> POST` could take the deep POST, but the direct POST child must count.
    forest = make_forest(s("root", s("POST"), s("layer", s("POST"))))
    assert_trace_tree(forest, "root\n  >> POST\n  ...")


def test_leaf_line_means_no_children() -> None:
    forest = make_forest(s("root", s("a", s("hidden"))))
    assert not trace_tree_matches(forest, "root\n  a")
    assert trace_tree_matches(forest, "root\n  a\n    ...")


def test_top_level_lines_are_the_roots() -> None:
    forest = make_forest(s("one"), s("two"))
    assert_trace_tree(forest, "one\ntwo")
    assert not trace_tree_matches(forest, "one")
    assert_trace_tree(forest, "one\n...")
    assert not trace_tree_matches(forest, "one\n  two")


def test_empty_expectation_means_no_spans() -> None:
    assert_trace_tree(make_forest(), "")
    assert not trace_tree_matches(make_forest(s("a")), "")


# --------------------------------------------------------------------------- bipartite


def test_overlapping_globs_need_bipartite_matching() -> None:
    forest = make_forest(s("root", s("llm_call"), s("llm_retry")))
    # Greedy would give llm_call to llm_* and then find nothing for llm_call.
    assert_trace_tree(forest, "root\n  llm_*\n  llm_call")
    assert_trace_tree(forest, "root\n  llm_call\n  llm_*")
    assert_trace_tree(forest, [span("root", span("llm_*"), span("llm_call"))])


def test_overlapping_globs_with_counts() -> None:
    forest = make_forest(s("root", *[s(f"agent_{i}") for i in range(6)]))
    assert_trace_tree(forest, "root\n  agent_* [x3]\n  agent_1\n  agent_2\n  agent_?")
    assert not trace_tree_matches(forest, "root\n  agent_* [x4]\n  agent_1\n  agent_2\n  agent_?")


def test_attributes_decide_which_line_a_span_takes() -> None:
    forest = make_forest(s("root", s("call", n=1), s("call", n=2)))
    assert_trace_tree(forest, "root\n  call\n  call {n: 1}")
    assert not trace_tree_matches(forest, "root\n  call {n: 1}\n  call {n: 1}")


def test_regex_names_from_the_builder() -> None:
    forest = make_forest(s("root", s("llm_call"), s("llm_retry")))
    assert_trace_tree(forest, span("root", span(re.compile(r"llm_(call|retry)"), count=2)))


# --------------------------------------------------------------------------- counts


@pytest.mark.parametrize(
    ("flag", "present", "ok"),
    [
        ("x3", 3, True),
        ("x3", 2, False),
        ("x3", 4, False),
        ("x2..4", 2, True),
        ("x2..4", 4, True),
        ("x2..4", 5, False),
        ("x2..4", 1, False),
        ("x2..", 50, True),
        ("x2..", 1, False),
        ("x0..1", 0, True),
        ("x0..1", 1, True),
        ("x0..1", 2, False),
    ],
)
def test_count_ranges(flag: str, present: int, ok: bool) -> None:
    forest = make_forest(s("root", s("other"), *[s("retry") for _ in range(present)]))
    assert trace_tree_matches(forest, f"root\n  other\n  retry [{flag}]") is ok


def test_count_failure_message() -> None:
    forest = make_forest(s("root", s("retry"), s("retry")))
    assert fails(forest, "root\n  retry [x3]").splitlines()[:4] == [
        "Trace tree does not match the expectation (1 difference):",
        "",
        "root",
        "  retry [x2]   # ✗ count: expected x3, got 2",
    ]


def test_too_many_repetitions_are_reported_as_count() -> None:
    forest = make_forest(s("root", s("retry"), s("retry"), s("retry")))
    assert "  retry [x3]   # ✗ count: expected x2, got 3" in fails(forest, "root\n  retry [x2]")


# --------------------------------------------------------------------------- descendants


LAYERED = make_forest(
    s(
        "agent",
        s("http_layer", s("urllib3", s("POST", kind=SpanKind.CLIENT))),
        s("think"),
    )
)


def test_descendant_line_skips_intermediate_spans() -> None:
    # http_layer is accounted for: it holds the span `>> POST` matched.
    assert_trace_tree(LAYERED, "agent\n  >> POST [client]\n  think")


def test_descendant_line_requires_a_match() -> None:
    assert not trace_tree_matches(LAYERED, "agent\n  >> GET [client]\n  think")
    assert "# ✗ missing: >> GET [client]" in fails(LAYERED, "agent\n  >> GET [client]\n  think")


def test_descendant_line_does_not_excuse_unrelated_children() -> None:
    assert not trace_tree_matches(LAYERED, "agent\n  >> POST [client]")


def test_descendant_line_at_depth_one_and_counts() -> None:
    forest = make_forest(s("root", s("POST"), s("wrap", s("POST"))))
    assert_trace_tree(forest, "root\n  >> POST [x2]")
    assert not trace_tree_matches(forest, "root\n  >> POST [x3]")


def test_descendant_choice_must_cover_the_unlisted_child() -> None:
    # `>> POST` can take either POST; only the one under `a` leaves nothing unaccounted.
    forest = make_forest(s("root", s("a", s("POST")), s("b", s("POST"))))
    assert_trace_tree(forest, "root\n  >> POST\n  b\n    ...")


def test_descendant_lines_from_the_builder() -> None:
    assert_trace_tree(
        LAYERED, span("agent", span("POST", kind="client", descendant=True), span("think"))
    )


def test_descendant_rendered_in_failure_keeps_the_edge() -> None:
    message = fails(LAYERED, "agent\n  >> POST [client]\n  sleep")
    assert message.splitlines()[2:6] == [
        "agent",
        "  >> POST [client]",
        "  think   # ✗ unexpected span",
        "  # ✗ missing: sleep",
    ]


# --------------------------------------------------------------------------- ordered


ORDERED = make_forest(s("root", s("plan"), s("act"), s("act"), s("report")))


def test_ordered_flag_requires_start_order() -> None:
    assert_trace_tree(ORDERED, "root [ordered]\n  plan\n  act [x2]\n  report")
    assert not trace_tree_matches(ORDERED, "root [ordered]\n  report\n  plan\n  act [x2]")
    assert_trace_tree(ORDERED, "root\n  report\n  plan\n  act [x2]")


def test_ordered_with_ellipsis_skips_a_run() -> None:
    assert_trace_tree(ORDERED, "root [ordered]\n  plan\n  ...\n  report")
    assert not trace_tree_matches(ORDERED, "root [ordered]\n  plan\n  report\n  ...")
    assert_trace_tree(ORDERED, "root [ordered]\n  ...\n  report")


def test_ordered_counts_are_runs() -> None:
    forest = make_forest(s("root", s("act"), s("plan"), s("act")))
    assert not trace_tree_matches(forest, "root [ordered]\n  act [x2]\n  plan")
    assert_trace_tree(forest, "root [ordered]\n  act\n  plan\n  act")
    assert_trace_tree(forest, "root [ordered]\n  act [x0..1]\n  plan\n  act [x1..]")


def test_global_ordered_option() -> None:
    assert not trace_tree_matches(ORDERED, "root\n  report\n  plan\n  act [x2]", ordered=True)
    assert_trace_tree(ORDERED, "root\n  plan\n  act [x2]\n  report", ordered=True)


def test_ordered_failure_names_the_expected_order() -> None:
    message = fails(ORDERED, "root [ordered]\n  report\n  plan\n  act [x2]")
    assert message.splitlines()[2] == (
        "root [ordered]   # ✗ children not in the expected order: report, plan, act [x2]"
    )


def test_descendant_under_global_ordered_is_an_error() -> None:
    with pytest.raises(ExpectedTreeError, match="ordered"):
        assert_trace_tree(LAYERED, "agent\n  >> POST\n  think", ordered=True)


# --------------------------------------------------------------------------- kind, status, attributes  # noqa: E501


def test_kind_and_status() -> None:
    assert_trace_tree(PIPELINE, 'process_document\n  ...\n  "GET /users/{id}" [server, error]')
    message = fails(PIPELINE, 'process_document\n  ...\n  "GET /users/{id}" [client, ok]')
    assert (
        '"GET /users/{id}" [server, error]   '
        "# ✗ kind: expected client, got server; ✗ status: expected ok, got error"
    ) in message


def test_unset_status_is_not_ok() -> None:
    forest = make_forest(s("a"))
    assert_trace_tree(forest, "a [unset]")
    assert not trace_tree_matches(forest, "a [ok]")


class Between:
    """A dirty-equals style matcher: compares with ==, never raises."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def __eq__(self, other: object) -> bool:
        return isinstance(other, int) and self.low <= other <= self.high

    def __repr__(self) -> str:
        return f"Between({self.low}, {self.high})"


def test_attribute_matchers_subset_and_lists() -> None:
    forest = make_forest(s("call", tokens=120, tags=("a", "b"), model="gpt"))
    assert_trace_tree(forest, span("call", attributes={"tokens": Between(100, 200)}))
    assert_trace_tree(forest, 'call {tags: ["a", "b"], model: *}')
    assert not trace_tree_matches(forest, span("call", attributes={"tokens": Between(1, 2)}))
    assert not trace_tree_matches(forest, "call {user.id: *}")


def test_attribute_differences_in_message() -> None:
    forest = make_forest(s("call", tokens=120, model="gpt"))
    message = fails(
        forest, span("call", attributes={"tokens": Between(1, 2), "user.id": "7", "model": "gpt"})
    )
    assert message.splitlines()[2] == (
        'call {tokens: 120, model: "gpt"}   # ✗ tokens: expected Between(1, 2), got 120; '
        '✗ user.id: expected "7", attribute missing'
    )


# --------------------------------------------------------------------------- the full failure message  # noqa: E501


def test_failure_message_pinned() -> None:
    message = fails(
        PIPELINE,
        """
        process_document {document.id: "42", agent.version: *}
          retrieval_agent
            POST [client]
          validation_agent
          llm_retry [x3]
          "GET /users/{id}" [server, error]
        """,
    )
    assert message == (
        "Trace tree does not match the expectation (4 differences):\n"
        "\n"
        'process_document {document.id: "41", agent.version: *}   '
        '# ✗ document.id: expected "42", got "41"\n'
        '  "GET /users/{id}" [server, error]\n'
        "  llm_agent                                              # ✗ unexpected span\n"
        "  llm_retry [x2]                                         # ✗ count: expected x3, got 2\n"
        "  retrieval_agent\n"
        "    POST [client]\n"
        "  # ✗ missing: validation_agent\n"
        "\n"
        "Paste the tree above into the test to accept the current shape; "
        "lines marked ✗ differ from the expectation."
    )


def test_failure_tree_pasted_back_matches() -> None:
    message = fails(PIPELINE, 'process_document {document.id: "42"}\n  llm_*\n  ...')
    tree = message.split("\n\n")[1]
    assert_trace_tree(PIPELINE, tree)


def test_nested_difference_is_shown_inside_its_parent() -> None:
    forest = make_forest(s("root", s("agent", s("tool", ok=False))))
    message = fails(forest, "root\n  agent\n    tool {ok: true}")
    assert message.splitlines()[2:5] == [
        "root",
        "  agent",
        "    tool {ok: false}   # ✗ ok: expected true, got false",
    ]


# --------------------------------------------------------------------------- inputs


class FakeCapture:
    def __init__(self, forest: SpanForest) -> None:
        self.forest = forest


def test_accepts_every_span_source() -> None:
    forest = make_forest(s("root", s("child")))
    readables = [captured.readable for captured in forest.spans]
    for source in (forest, FakeCapture(forest), readables, forest.spans, forest.roots[0]):
        assert_trace_tree(source, "root\n  child")
    assert_trace_tree(forest.roots[0].children[0], "child")


def test_rejects_unknown_span_sources() -> None:
    with pytest.raises(TypeError, match="spans must be"):
        assert_trace_tree(42, "root")


def test_accepts_builder_list_with_ellipsis() -> None:
    forest = make_forest(s("one"), s("two"))
    assert_trace_tree(forest, [span("one"), ...])
    assert not trace_tree_matches(forest, [span("one")])


def test_rejects_unknown_expected() -> None:
    with pytest.raises(ExpectedTreeError, match="expected must be"):
        assert_trace_tree(make_forest(), 42)


def test_render_tree_round_trips_through_the_matcher() -> None:
    for style in ("indent", "box"):
        assert_trace_tree(PIPELINE, render_tree(PIPELINE, style))


def test_assert_hides_its_frame() -> None:
    assert assert_trace_tree.__code__.co_varnames[:3] == ("spans", "expected", "ordered")
    assert "__tracebackhide__" in assert_trace_tree.__code__.co_varnames


WRONG_ARGUMENTS = [
    ({"ordered": "no"}, TypeError, "ordered= must be True or False, got 'no'"),
    ({"ordered": "false"}, TypeError, "ordered= must be True or False, got 'false'"),
    ({"ordered": 1}, TypeError, "ordered= must be True or False, got 1"),
    (
        {"output_lines": "10"},
        TypeError,
        "output_lines= must be a whole number of lines (an int; 0: no bound), got '10'",
    ),
    ({"output_lines": 1.5}, TypeError, "output_lines= must be a whole number of lines"),
    ({"output_lines": True}, TypeError, "output_lines= must be a whole number of lines"),
    ({"output_lines": None}, TypeError, "output_lines= must be a whole number of lines"),
    (
        {"output_lines": -1},
        ValueError,
        "output_lines=-1 is negative; give the most lines a failure prints, or 0 for no bound",
    ),
    (
        {"volatile": 3},
        TypeError,
        "volatile= must be key globs: a list of str (or one str, comma-separated), got 3",
    ),
    ({"volatile": [b"http.url"]}, TypeError, "volatile= must be key globs: a list of str"),
    ({"volatile": {"http.url": 1}}, TypeError, "volatile= must be key globs: a list of str"),
    ({"volatile": "http.url, !"}, ExpectedTreeError, "volatile=: '!': '!' needs a key glob"),
    ({"keep_full_text": "tree.txt"}, TypeError, "keep_full_text= must be a function"),
]


@pytest.mark.parametrize(("options", "error", "message"), WRONG_ARGUMENTS)
def test_wrong_arguments_are_refused_at_the_call_naming_the_argument(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    forest = make_forest(s("root"))
    # Checked before matching: a passing tree, or a failing one, refuses them alike.
    for expected in ("root", "other"):
        with pytest.raises(error) as raised:
            assert_trace_tree(forest, expected, **options)  # type: ignore[arg-type]
        assert str(raised.value).startswith(f"assert_trace_tree(): {message}")
        assert type(raised.value) is error
        # the error comes from the call: every frame below it is hidden
        shown = raised.traceback.filter(raised)
        assert shown[-1].frame.code.name == (
            "test_wrong_arguments_are_refused_at_the_call_naming_the_argument"
        )


def test_trace_tree_matches_refuses_a_truthy_non_bool_ordered() -> None:
    with pytest.raises(TypeError, match=r"^trace_tree_matches\(\): ordered= must be True or False"):
        trace_tree_matches(make_forest(s("root")), "root", ordered="no")  # type: ignore[arg-type]


def test_volatile_takes_any_iterable_of_globs_or_one_str_like_the_ini() -> None:
    forest = make_forest(s("root", s("child", session__key="abc")))
    expected = "root\n  child {session.key: 1}"
    for volatile in (["session.*"], ("session.*",), iter(["session.*"]), "other, session.key"):
        message = fails(forest, expected, volatile=volatile)
        assert "child {session.key: str}   # ✗ session.key: expected 1, got \"abc\"" in message


# --------------------------------------------------------------------------- speed


def _wide_and_deep() -> SpanForest:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench")
    with tracer.start_as_current_span("root"):
        for agent in range(100):
            with tracer.start_as_current_span(f"agent_{agent}"):
                for call in range(99):
                    with tracer.start_as_current_span(f"call_{call}"):
                        pass
    return SpanForest(exporter.get_finished_spans())


def test_ten_thousand_spans_match_quickly() -> None:
    forest = _wide_and_deep()
    started = time.perf_counter()
    assert_trace_tree(forest, "root\n  agent_* [x100]\n    call_? [x10]\n    call_* [x89]")
    # Generous bound (the benchmark pins 0.2 s); catches accidental quadratic paths.
    assert time.perf_counter() - started < 1.0


def test_thousands_of_siblings_under_one_line() -> None:
    forest = make_forest(s("root", *[s("worker") for _ in range(3000)]))
    started = time.perf_counter()
    assert_trace_tree(forest, "root\n  work* [x2..]\n  worker [x2000]")
    assert time.perf_counter() - started < 0.5


def test_wide_levels_match_the_same_with_the_child_index() -> None:
    # Eight or more siblings go through the name/attribute index: it must only
    # narrow candidates, never change the verdict.
    children = [s("tool_call", tool__index=i, tags=("a", str(i))) for i in range(12)]
    forest = make_forest(s("agent", *children, s("llm_call", attempt=1.0)))
    listed = "".join(f'  tool_call {{tool.index: {i}, tags: ["a", "{i}"]}}\n' for i in range(12))
    assert_trace_tree(forest, "agent\n" + listed + "  llm_call {attempt: 1}\n")
    assert_trace_tree(forest, "agent\n  tool_call {tool.index: *} [x12]\n  llm_*\n")
    missing_one = listed.replace("{tool.index: 11,", "{tool.index: 12,")
    assert not trace_tree_matches(forest, "agent\n" + missing_one + "  llm_call\n")


def pasted_tree(message: str) -> str:
    return message.split("\n\n")[1]


# --------------------------------------------------------------------------- attributes


def test_bool_and_int_attributes_are_different_values() -> None:
    # OTel keeps bool and int apart; Python's True == 1 must not leak into matching.
    forest = make_forest(s("root", flag=True, attempts=1))
    assert not trace_tree_matches(forest, "root {flag: 1}")
    assert not trace_tree_matches(forest, "root {attempts: true}")
    assert not trace_tree_matches(forest, "root {flag: [true]}") and trace_tree_matches(
        make_forest(s("root", flags=[True, False])), "root {flags: [true, false]}"
    )
    assert not trace_tree_matches(
        make_forest(s("root", flags=[True, False])), "root {flags: [1, 0]}"
    )
    assert forest.find(attributes={"flag": 1}) == []
    assert trace_tree_matches(forest, "root {flag: true, attempts: 1}")


def test_a_nan_attribute_matches_its_own_rendering() -> None:
    forest = make_forest(s("validate", score=float("nan")))
    assert trace_tree_matches(forest, render_tree(forest))


# --------------------------------------------------------------------------- ordered


def test_global_ordered_rejects_descendant_lines_up_front() -> None:
    # Whether or not the parent line matches, the malformed expectation is named.
    forest = make_forest(s("other"))
    with pytest.raises(ExpectedTreeError, match="ordered"):
        assert_trace_tree(forest, "root\n  >> x", ordered=True)
    with pytest.raises(ExpectedTreeError, match="ordered"):
        trace_tree_matches(forest, "root\n  >> x", ordered=True)


def test_ordered_failure_names_the_trailing_extra_not_the_order() -> None:
    forest = make_forest(s("root", s("a"), s("x"), s("b"), s("c")))
    message = fails(forest, "root [ordered]\n  a\n  ...\n  b")
    # "a, b" is the order they have: the message must show where `...` may match
    # (the trailing `c` is outside it), and place the unlisted spans in the tree.
    assert "children not in the expected order: a, ..., b" in message
    assert pasted_tree(message).splitlines()[1:] == ["  a", "  ...", "  b", "  ..."]
    assert trace_tree_matches(forest, pasted_tree(message))


def test_ordered_failure_tree_keeps_ellipsis_in_place_so_it_pastes_back() -> None:
    forest = make_forest(s("root", s("a"), s("x"), s("b"), s("a")))
    message = fails(forest, "root [ordered]\n  a\n  ...\n  b")
    assert trace_tree_matches(forest, pasted_tree(message))


def test_global_ordered_roots_out_of_order_show_a_difference() -> None:
    forest = make_forest(s("first"), s("second"))
    message = fails(forest, "second\nfirst", ordered=True)
    assert "(0 differences)" not in message
    assert "✗" in message


# --------------------------------------------------------------------------- messages


def test_count_difference_is_kept_for_a_span_paired_by_name() -> None:
    forest = make_forest(s("root", s("retry", ok=False)))
    message = fails(forest, "root\n  retry {ok: true} [x2]")
    assert "count: expected x2, got 1" in message
    assert "(2 differences)" in message


def test_tree_with_a_name_paired_span_beside_ellipsis_pastes_back() -> None:
    # Both retries failed: hiding the second under `...` would make the pasted
    # `retry {ok: false}` line count two spans, so both are shown under the line.
    forest = make_forest(s("agent", s("retry", ok=False), s("retry", ok=False)))
    message = fails(forest, "agent\n  retry {ok: true}\n  ...")
    assert "retry {ok: false} [x2]" in message
    assert trace_tree_matches(forest, pasted_tree(message))


# -- identical sibling lines -------------------------------------------------------------
@pytest.mark.parametrize("actual", [1, 2, 3])
def test_identical_lines_count_as_one_line_with_their_counts(actual: int) -> None:
    forest = make_forest(s("job", *[s("step", s("tool")) for _ in range(actual)]))
    repeated = "job\n  step\n    tool\n  step\n    tool"
    assert trace_tree_matches(forest, repeated) is (actual == 2)
    assert trace_tree_matches(forest, "job\n  step [x2]\n    tool") is (actual == 2)


def test_identical_lines_under_an_ordered_parent_stay_apart() -> None:
    forest = make_forest(s("job", s("step", n=1), s("step", n=2)))
    assert trace_tree_matches(forest, "job [ordered]\n  step\n  step")
    assert not trace_tree_matches(forest, "job [ordered]\n  step {n: 2}\n  step {n: 1}")


def test_a_builder_tree_with_identical_lines_is_not_changed_by_matching() -> None:
    expected = span("job", span("step"), span("step"))
    assert_trace_tree(make_forest(s("job", s("step"), s("step"))), expected)
    assert [child.min_count for child in expected.children] == [1, 1]


def test_a_long_value_in_a_mark_is_cut_with_its_length() -> None:
    forest = make_forest(s("agent", s("llm", prompt="p" * 1_000_000)))
    message = fails(forest, 'agent\n  llm {prompt: "x"}')
    assert len(message) < 1_000
    mark = f'# ✗ prompt: expected "x", got "{"p" * 200}…" (1,000,000 characters)'
    assert message.splitlines()[3].endswith(mark)


def test_a_line_with_thousands_of_differences_prints_ten_and_counts_the_rest() -> None:
    keys = ", ".join(f"k{n}: 1" for n in range(20_000))
    message = fails(make_forest(s("agent", s("llm"))), f"agent\n  llm {{{keys}}}")
    assert len(message) < 1_000
    assert message.splitlines()[3].endswith(
        "✗ k9: expected 1, attribute missing; ✗ … 19,990 more differences"
    )


def test_a_long_missing_line_is_cut_with_its_length() -> None:
    expected = f'agent\n  tool {{p: "{"q" * 100_000}"}}'
    message = fails(make_forest(s("agent")), expected)
    line = message.splitlines()[3]
    assert line == f'  # ✗ missing: tool {{p: "{"q" * 581}… (100,021 characters)'
