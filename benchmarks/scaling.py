"""Scaling rows: every shape of trace, 10,000 and 100,000 spans, each in a fresh process.

Run by run.py (case 7). A child process builds one shape through a real capture
(the fixture's `start_capture`, garbage collection on, spans retained), times each
operation once in CPU time and prints the seconds as JSON; the parent computes growth
exponents, log(t(100k) / t(10k)) / log(10): 1.0 is linear.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import json
import math
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

SHAPES = ("wide", "deep", "agents", "binary", "fragments")


def build(shape: str, n: int, tracer: Any) -> None:
    from opentelemetry import trace

    if shape == "wide":  # a fan-out over chunks
        with tracer.start_as_current_span("root"):
            for index in range(n - 1):
                with tracer.start_as_current_span("chunk", attributes={"chunk.index": index}):
                    pass
    elif shape == "deep":  # a planner calling itself
        opened, context = [], None
        for _ in range(n):
            opened.append(tracer.start_span("planner", context=context))
            context = trace.set_span_in_context(opened[-1])
        for span in reversed(opened):
            span.end()
    elif shape == "agents":  # sqrt(n) agents of sqrt(n) tools each
        side = int(math.sqrt(n))
        with tracer.start_as_current_span("root"):
            for agent in range(side):
                with tracer.start_as_current_span("agent", attributes={"agent.index": agent}):
                    for tool in range(side - 1):
                        with tracer.start_as_current_span("tool", attributes={"tool.index": tool}):
                            pass
    elif shape == "binary":  # a balanced tree, built breadth first
        pending: collections.deque[tuple[Any, int]] = collections.deque([(None, 0)])
        for _ in range(n):
            parent, level = pending.popleft()
            context = trace.set_span_in_context(parent) if parent is not None else None
            span = tracer.start_span("node", context=context, attributes={"level": level})
            span.end()
            pending.extend([(span, level + 1), (span, level + 1)])
    elif shape == "fragments":  # n/10 traces rooted in a worker thread: lost context

        def worker() -> None:
            for _ in range(n // 10):
                with tracer.start_as_current_span("job"):
                    for _ in range(9):
                        with tracer.start_as_current_span("step"):
                            pass

        with tracer.start_as_current_span("test_root"):
            thread = threading.Thread(target=worker)
            thread.start()
            thread.join()


def expectation(shape: str, n: int, capture: Any) -> str:
    if shape == "deep":
        return f"planner\n  >> planner [x{n - 1}]\n    ..."
    return str(capture.render(style="indent"))


def timed(operation: Callable[[], Any]) -> float:
    # From a collected heap, GC on: a full collection owed by the build (or by the
    # row before) is not billed to this row; 100k spans leave one due within a few
    # hundred allocations, about 0.3 s, which made the first query look superlinear.
    # CPU time: every timed operation runs in this one thread, and on a shared
    # machine wall time measures the neighbours too.
    gc.collect()
    started = time.process_time()
    with contextlib.suppress(AssertionError):  # failing ones are timed too, message included
        operation()
    return time.process_time() - started


def child(shape: str, n: int) -> dict[str, float]:
    from pytest_agenttrace._fixture import start_capture
    from pytest_agenttrace._options import AgentTraceOptions

    options = AgentTraceOptions(
        strict=True,
        max_spans_per_trace=10 * n,
        max_retries=(("*", 3),),
        span_errors="fail",
        max_duration=3600.0,
        timeout_budgets=(("*", 3600.0),),
        outliving_children="fail",
        genai_conventions="recommended",
    )
    capture = start_capture(options)
    build(shape, n, capture.tracer)
    rows: dict[str, float] = {}
    rows["query"] = timed(lambda: capture.spans)
    expected = expectation(shape, n, capture)
    rows["assert_tree pass"] = timed(lambda: capture.assert_tree(expected))
    wrong = expected.replace(expected.split()[0], "misnamed_root", 1)
    rows["assert_tree fail"] = timed(lambda: capture.assert_tree(wrong))
    if shape != "deep":  # a chain's rendering grows with the square of its depth
        rows["render"] = timed(capture.render)
    rows["assert_single_trace"] = timed(capture.assert_single_trace)
    rows["broken_hops"] = timed(lambda: capture.broken_hops)
    capture._stop()
    rows["teardown (strict, every policy)"] = timed(capture._teardown_problems)
    return rows


def measure(
    sizes: tuple[int, int] = (10_000, 100_000), rounds: int = 3
) -> list[tuple[str, str, float, float]]:
    """(shape, operation, seconds at the larger size, growth exponent) rows.

    Best of `rounds` fresh processes per size, the sizes interleaved: a 10k
    operation takes milliseconds, and one slow run of it moved an exponent by 0.1.
    """
    results = []
    for shape in SHAPES:
        times: list[dict[str, float]] = [{}, {}]
        for _ in range(rounds):
            for best, n in zip(times, sizes, strict=True):
                done = subprocess.run(
                    [sys.executable, __file__, shape, str(n)],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=1800,
                )
                for operation, seconds in json.loads(done.stdout.strip().splitlines()[-1]).items():
                    best[operation] = min(best.get(operation, seconds), seconds)
        small, large = times
        for operation, seconds in large.items():
            ratio = seconds / max(small[operation], 1e-9)
            exponent = math.log(ratio) / math.log(sizes[1] / sizes[0])
            results.append((shape, operation, seconds, exponent))
    return results


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], int(sys.argv[2]))))
