"""pytest-agenttrace benchmarks: one command, figures and ratios from the same run.

    python benchmarks/run.py            # print the table
    python benchmarks/run.py --check    # ... and exit 1 if a target is missed

Cases:
1. capture cost per span as a real test sees it: 20,000 and 200,000 spans
   (nested pairs) per variant, each in a fresh process with GC on and the spans
   kept (capture_child.py): a bare SDK provider, a plain `list.append` on_end
   processor (the floor for any capture that keeps spans),
   SimpleSpanProcessor + InMemorySpanExporter, and our capture. Interleaved
   rounds, best of N, with the share of the time spent in GC and the spread of
   ours / floor round by round. Checked: the instructions per span of ours and
   of the floor, the same processes counted under valgrind (instructions.py),
   and the memory per span held after a query against InMemorySpanExporter's.
2. fixture set-up + teardown per test (what the `agenttrace` fixture runs).
3. `assert_trace_tree` on a 10,000-span trace: the full 10,000-line
   expectation (the pasted-back rendering) and the compact form with counts.
4. 20 sibling spans matched by 20 overlapping glob lines (greedy assignment
   would fail here; bipartite matching must not).
5. a child process exporting 100,000 spans (BatchSpanProcessor, OTLP/HTTP
   protobuf) to our receiver, capturing, vs to a sink that answers 200 unparsed.
6. receiving one span: decoding an OTLP protobuf request of 10,000 spans and
   filing them with a capture, per span, vs the in-process capture of 1c.
7. (--scaling) the shapes wide, deep, agents, binary and fragments at 10,000 and
   100,000 spans, each in a fresh process: assert_tree passing and failing,
   render, assert_single_trace, broken_hops, strict teardown with every policy;
   seconds at 100k and the growth exponent between the two sizes.
8. whole pytest sessions in fresh processes (session.py): 5,000 five-span tests
   with `agenttrace` against the same tests with an empty yield fixture (CPU
   time, printed); instructions per test, the same sessions counted under
   valgrind (checked); and the RSS a 20,000-test session grows by.
9. the --agenttrace-html page for one 10,000-span test: write time and file size.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import subprocess
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import instructions  # benchmarks/, beside this script
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pytest_agenttrace._fixture import start_capture
from pytest_agenttrace._options import AgentTraceOptions

INFORMATIONAL = float("inf")  # a row's target when it is printed, not checked


@dataclass
class Row:
    case: str
    figure: float
    unit: str
    target: float  # the figure (or ratio) must be <= target
    ratio: float | None = None  # for relative targets, the measured ratio
    note: str = ""

    @property
    def passed(self) -> bool:
        value = self.ratio if self.ratio is not None else self.figure
        return value <= self.target


def best_of(
    function: Callable[[], Any], *, number: int, repeat: int, setup: Callable[[], Any] | None = None
) -> float:
    """Best time per call in seconds, as `timeit` recommends (the minimum is the signal)."""
    timer = timeit.Timer(function, setup=setup or (lambda: None))
    return min(timer.repeat(repeat=repeat, number=number)) / number


# ------------------------------------------------------------------------- 1. capture

CAPTURE_VARIANTS = ("bare", "append", "in_memory", "ours")


def run_capture_child(child: Path, variant: str, count: int, *flags: str) -> dict[str, float]:
    """The figures capture_child.py prints for one variant, in a fresh process."""
    done = subprocess.run(
        [sys.executable, str(child), variant, str(count), *flags],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def bench_capture(sizes: tuple[int, ...], rounds: int) -> list[Row]:
    """Each variant in a fresh process (capture_child.py), GC on, spans kept:
    times in interleaved rounds, best of N, then the checked figures: the
    instructions per span of ours against the floor (instructions.py) and the
    memory held per span against InMemorySpanExporter's."""
    child = Path(__file__).with_name("capture_child.py")
    rows = []
    for count in sizes:
        best = {variant: (float("inf"), 0.0) for variant in CAPTURE_VARIANTS}
        per_round = []  # ours / floor within one round: how far time moves run to run
        for _ in range(rounds):
            seconds_now = {}
            for variant in CAPTURE_VARIANTS:
                figures = run_capture_child(child, variant, count)
                seconds_now[variant] = figures["seconds"]
                if figures["seconds"] < best[variant][0]:
                    best[variant] = (figures["seconds"], figures["gc_seconds"])
            per_round.append(seconds_now["ours"] / seconds_now["append"])
        floor = best["append"][0]
        for variant, label in (
            ("bare", "bare SDK span, nothing kept"),
            ("append", "plain list.append on_end (the floor)"),
            ("in_memory", "SimpleSpanProcessor+InMemory"),
            ("ours", "pytest-agenttrace capture"),
        ):
            seconds, collecting = best[variant]
            note = f"GC {collecting / seconds:.0%}; time vs the floor"
            if variant == "ours":
                note += f", {min(per_round):.2f}-{max(per_round):.2f} round by round"
            rows.append(
                Row(
                    f"1 {count:,} spans: {label}",
                    seconds / count * 1e6,
                    "µs/span",
                    INFORMATIONAL,
                    seconds / floor,
                    note,
                )
            )
        rows.append(capture_instructions(child, count))
        rows.append(capture_memory(child, count))
    return rows


def capture_memory(child: Path, count: int) -> Row:
    """Bytes per span still held once the spans were queried, ours against
    InMemorySpanExporter's (tracemalloc in each child: sizes, not times, so one
    run each)."""

    ours, exporter = (
        run_capture_child(child, variant, count, "--memory")["bytes_per_span"]
        for variant in ("ours", "in_memory")
    )
    return Row(
        f"1 {count:,} spans: pytest-agenttrace capture, memory after queries",
        ours,
        "B/span",
        1.1,
        ours / exporter,
        f"InMemorySpanExporter {exporter:,.0f} B/span",
    )


def capture_instructions(child: Path, count: int) -> Row:
    """Instructions per span of ours and of the floor: spans made, minus none made."""
    case = f"1 {count:,} spans: pytest-agenttrace capture, instructions"
    if not instructions.available():
        return missing_instructions(case, 1.05)
    runs = [(variant, spans) for variant in ("ours", "append") for spans in (count, 0)]
    command = [sys.executable, str(child)]
    counted = [instructions.Run([*command, v, str(n), "--exit-after-spans"]) for v, n in runs]
    totals = dict(zip(runs, instructions.count_all(counted), strict=True))
    ours, floor = ((totals[v, count] - totals[v, 0]) / count for v in ("ours", "append"))
    return Row(
        case,
        ours,
        "instr/span",
        1.05,
        ours / floor,
        f"floor {floor:,.0f} instr/span",
    )


def missing_instructions(case: str, target: float) -> Row:
    """A checked row that can't be measured here: it fails, and says why."""
    return Row(case, float("nan"), "instr", target, float("nan"), instructions.MISSING)


# ------------------------------------------------------------------------- 2. fixture


def fixture_cycle(options: AgentTraceOptions) -> None:
    capture = start_capture(options)
    capture._stop()
    capture._teardown_problems()


def bench_fixture(number: int, repeat: int) -> Row:
    options = AgentTraceOptions()
    fixture_cycle(options)  # first use installs the global provider; not per-test cost
    per_test = best_of(lambda: fixture_cycle(options), number=number, repeat=repeat)
    return Row("2  fixture set-up + teardown", per_test * 1e6, "µs/test", 50.0)


# ------------------------------------------------------------------------- 3./4. trees


def make_spans(build: Callable[[trace.Tracer], None]) -> list[ReadableSpan]:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    build(provider.get_tracer("bench"))
    spans = list(exporter.get_finished_spans())
    provider.shutdown()
    return spans


def child_of(parent: trace.Span) -> otel_context.Context:
    return trace.set_span_in_context(parent)


AGENTS, TOOLS = 99, 100  # 1 root + 99 agents + 99 * 100 tool calls = 10,000 spans


def big_trace(tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span("process_document", attributes={"document.id": "42"}):
        for a in range(AGENTS):
            with tracer.start_as_current_span(f"agent_{a:02d}", attributes={"agent.index": a}):
                for t in range(TOOLS):
                    tracer.start_span("tool_call", attributes={"tool.index": t}).end()


def big_expectation_full() -> str:
    lines = ['process_document {document.id: "42"}']
    for a in range(AGENTS):
        lines.append(f"  agent_{a:02d} {{agent.index: {a}}}")
        lines.extend(f"    tool_call {{tool.index: {t}}}" for t in range(TOOLS))
    return "\n".join(lines)


BIG_EXPECTATION_COMPACT = f"""
process_document {{document.id: "42"}}
  agent_* {{agent.index: *}} [x{AGENTS}]
    tool_call {{tool.index: *}} [x{TOOLS}]
"""


SIBLINGS = 20


def overlapping_siblings(tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span("orchestrator"):
        for i in range(SIBLINGS):
            with tracer.start_as_current_span(f"llm_call_{i:02d}", attributes={"attempt": i}):
                tracer.start_span("POST", kind=trace.SpanKind.CLIENT).end()


# The catch-all lines come first, so a greedy left-to-right assignment hands them
# llm_call_00..09 and leaves the specific `llm_call_0?` lines nothing to match.
OVERLAPPING_EXPECTATION = "orchestrator\n" + "".join(
    f"  {pattern} {{attempt: *}}\n    POST [client]\n"
    for pattern in ["llm_*"] * 10 + ["llm_call_1*"] * 5 + ["llm_call_0?"] * 5
)


def bench_trees(repeat: int) -> list[Row]:
    from pytest_agenttrace import assert_trace_tree

    big = make_spans(big_trace)
    assert len(big) == 10_000, len(big)
    full = big_expectation_full()
    siblings = make_spans(overlapping_siblings)

    def check(spans: list[ReadableSpan], expected: str) -> Callable[[], None]:
        # From raw spans each time: linking, parsing and matching all count.
        return lambda: assert_trace_tree(spans, expected)

    return [
        Row(
            "3  assert_tree, 10k spans, full",
            best_of(check(big, full), number=1, repeat=repeat),
            "s",
            0.2,
            note="10,000 expected lines",
        ),
        Row(
            "3b assert_tree, 10k spans, counts",
            best_of(check(big, BIG_EXPECTATION_COMPACT), number=1, repeat=repeat),
            "s",
            0.2,
            note="3 lines with [xN]",
        ),
        Row(
            "4  20 overlapping glob siblings",
            best_of(check(siblings, OVERLAPPING_EXPECTATION), number=5, repeat=repeat),
            "s",
            0.05,
        ),
    ]


# ------------------------------------------------------------------------- 9. HTML report


def bench_html(repeat: int) -> list[Row]:
    """One 10k-span test (the trace of case 3, captured for real, one assert_tree
    difference marked) into the --agenttrace-html page: record, JSON, page."""
    import tempfile

    from pytest_agenttrace.report._html import record_json, trace_record, write_page

    capture = start_capture(AgentTraceOptions())
    big_trace(trace.get_tracer("bench"))
    capture._stop()
    # the failure's marks on the capture are part of what the page carries
    with contextlib.suppress(AssertionError):
        capture.assert_tree(BIG_EXPECTATION_COMPACT.replace("[x99]", "[x98]"))
    assert len(capture.spans) == 10_000 and capture._tree_marks
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.html"

        def write() -> None:
            record = trace_record(
                capture, nodeid="test_big", outcome="failed", duration=1.0, message="failed"
            )
            assert record is not None
            with open(path, "w", encoding="utf-8") as out:
                write_page(out, [record_json(record)], title="bench")

        seconds = best_of(write, number=1, repeat=repeat)
        size = path.stat().st_size
    return [
        Row("9  HTML report, 10k-span test: write", seconds, "s", 1.0, note="record + page"),
        Row("9b HTML report, 10k-span test: file size", size / 1e6, "MB", 5.0),
    ]


# ------------------------------------------------------------------------- 5, 6. remote


def bench_remote(spans: int, rounds: int, in_process_per_span: float) -> list[Row]:
    import remote

    ours, sink = remote.child_export(spans, rounds)
    per_span = remote.receive_cost(10_000, repeat=rounds * 2)
    return [
        Row(
            f"5 child exports {spans:,} spans to our receiver",
            ours,
            "s",
            1.1,
            ours / sink,
            f"vs sink {sink:.2f} s",
        ),
        Row(
            "6 receive + decode one span",
            per_span * 1e6,
            "µs/span",
            1.0,
            per_span / in_process_per_span,
            "ratio vs our capture at 20k",
        ),
    ]


# ------------------------------------------------------------------------- 8. sessions


def bench_sessions(
    time_tests: int, memory_tests: int, rounds: int, counted_tests: tuple[int, int]
) -> list[Row]:
    """Whole pytest sessions in fresh processes (session.py): the fixture against an
    empty yield fixture, in CPU time and in instructions per test, and in the RSS
    the session grows by."""
    import session

    timed = session.measure(time_tests, rounds=rounds, variants=("plain", "agenttrace"))
    ours = min(figures["seconds"] for figures in timed["agenttrace"])
    floor = min(figures["seconds"] for figures in timed["plain"])
    per_round = [
        mine["seconds"] / plain["seconds"]
        for mine, plain in zip(timed["agenttrace"], timed["plain"], strict=True)
    ]
    counted_case = "8 session, instructions per test: agenttrace vs an empty yield fixture"
    if instructions.available():
        counted = session.instructions_per_test(counted_tests)
        counted_row = Row(
            counted_case,
            counted["agenttrace"],
            "instr/test",
            1.08,
            ratio=counted["agenttrace"] / counted["plain"],
            note=f"floor {counted['plain']:,.0f} instr/test; "
            f"{counted_tests[1]:,}- minus {counted_tests[0]:,}-test sessions",
        )
    else:
        counted_row = missing_instructions(counted_case, 1.08)
    rows = [
        Row(
            f"8 {time_tests:,}-test session: agenttrace vs an empty yield fixture",
            ours / time_tests * 1e6,
            "µs/test",
            INFORMATIONAL,
            ratio=ours / floor,
            note=f"floor {floor / time_tests * 1e6:.0f} µs/test; "
            f"{min(per_round):.2f}-{max(per_round):.2f} round by round",
        ),
        counted_row,
    ]
    grown = session.measure(memory_tests, rounds=1, variants=("plain", "agenttrace"))
    ours_mb = grown["agenttrace"][0]["rss_growth"] / 2**20
    floor_mb = grown["plain"][0]["rss_growth"] / 2**20
    rows.append(
        Row(
            f"8 {memory_tests:,}-test session: RSS growth vs an empty yield fixture",
            ours_mb,
            "MB",
            1.1,
            ratio=ours_mb / floor_mb,
            note=f"floor {floor_mb:.1f} MB",
        )
    )
    return rows


# ------------------------------------------------------------------------- 7. scaling


def bench_scaling() -> list[Row]:
    import scaling

    rows = []
    for shape, operation, seconds, exponent in scaling.measure():
        rows.append(Row(f"7 {shape}: {operation} (100k)", seconds, "s", 3.0))
        rows.append(Row(f"7 {shape}: {operation} (growth exponent)", exponent, "", 1.2))
    return rows


def format_figure(row: Row) -> str:
    if row.unit == "s":
        return f"{row.figure * 1000:10.2f} ms"
    if row.unit.startswith("instr"):
        return f"{row.figure:10,.0f} {row.unit}"
    return f"{row.figure:10.3f} {row.unit}"


def format_target(row: Row) -> str:
    if row.target == INFORMATIONAL:
        return "-"
    if row.ratio is not None:
        return f"≤ {row.target:g}×"
    if row.unit == "s":
        return f"≤ {row.target * 1000:g} ms"
    return f"≤ {row.target:g} {row.unit.split('/')[0]}"


def format_ratio(row: Row) -> str:
    if row.ratio is not None and row.unit.startswith("instr"):
        return f"{row.ratio:.3f}×"  # counts repeat to 5 digits: the third is signal
    if row.ratio is not None:
        return f"{row.ratio:.2f}×"
    return f"{row.figure / row.target:.2f} of target"


def print_table(rows: list[Row]) -> None:
    header = ("case", "measured", "target", "ratio", "result")
    table = [
        (
            row.case + (f" ({row.note})" if row.note else ""),
            format_figure(row),
            format_target(row),
            format_ratio(row),
            "-" if row.target == INFORMATIONAL else ("PASS" if row.passed else "FAIL"),
        )
        for row in rows
    ]
    widths = [max(len(str(r[i])) for r in [header, *table]) for i in range(len(header))]
    for line in [header, tuple("-" * w for w in widths), *table]:
        print("  ".join(str(line[i]).ljust(widths[i]) for i in range(len(widths))).rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if any target is missed")
    parser.add_argument(
        "--quick", action="store_true", help="fewer iterations (a smoke run, noisier figures)"
    )
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="also case 7: every trace shape at 10k and 100k spans, growth exponents (minutes)",
    )
    args = parser.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    gc.collect()
    rows = bench_capture(sizes=(20_000,) if args.quick else (20_000, 200_000), rounds=3)
    rows.append(bench_fixture(number=max(200, int(5_000 * scale)), repeat=7))
    rows.extend(bench_trees(repeat=3 if args.quick else 5))
    rows.extend(bench_html(repeat=3 if args.quick else 5))
    in_process = next(
        row for row in rows if row.case == "1 20,000 spans: pytest-agenttrace capture"
    )
    in_process_per_span = in_process.figure / 1e6
    rows.extend(
        bench_remote(
            spans=10_000 if args.quick else 100_000,
            rounds=3,
            in_process_per_span=in_process_per_span,
        )
    )
    rows.extend(
        bench_sessions(
            time_tests=1_000 if args.quick else 5_000,
            memory_tests=2_000 if args.quick else 20_000,
            rounds=2 if args.quick else 5,  # a shared machine's bursts: more rounds, not longer
            counted_tests=(100, 600) if args.quick else (200, 1_200),
        )
    )
    if args.scaling:
        rows.extend(bench_scaling())
    print(f"pytest-agenttrace benchmarks (Python {sys.version.split()[0]}, best of N)\n")
    print_table(rows)
    failed = [row.case for row in rows if not row.passed]
    print(f"\n{len(rows) - len(failed)} of {len(rows)} within target" if not failed else "")
    if failed:
        print("missed: " + "; ".join(failed))
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
