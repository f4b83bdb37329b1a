"""One capture variant in a fresh process, as a real test runs: GC on, spans kept.

    python capture_child.py VARIANT SPANS   ->   {"seconds": ..., "gc_seconds": ...}
    python capture_child.py VARIANT SPANS --exit-after-spans
    python capture_child.py VARIANT SPANS --memory   ->   {"bytes_per_span": ...}

The second form ends the process as soon as the spans are made, for counting
instructions (instructions.py): what follows (the check, freeing the spans at
exit) would otherwise be counted as capture cost. The third traces allocations
(tracemalloc) from the first span on and reports what is still held once the
spans have been queried (our `spans`, the exporter's `get_finished_spans()`)
and garbage collected: the memory a test's capture costs.

Variants: `bare` (an SDK provider, no processor), `append` (a processor whose
on_end is a plain list.append: the floor for any capture that keeps spans),
`in_memory` (SimpleSpanProcessor + InMemorySpanExporter) and `ours` (the
plugin's router with a capture started as the fixture starts it).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import tracemalloc
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider


class AppendProcessor(SpanProcessor):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def main(
    variant: str, count: int, *, exit_after_spans: bool = False, memory: bool = False
) -> dict[str, float]:
    # As in a real test run, pytest and the plugin are loaded whichever processor
    # keeps the spans: the same heap for the garbage collector to walk in every
    # variant, so the ratios compare the processors alone.
    import pytest  # noqa: F401

    import pytest_agenttrace._fixture  # noqa: F401

    provider = TracerProvider()
    kept: Any = None
    if variant == "append":
        kept = AppendProcessor()
        provider.add_span_processor(kept)
    elif variant == "in_memory":
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        kept = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(kept))
    elif variant == "ours":
        from pytest_agenttrace._fixture import start_capture
        from pytest_agenttrace._options import AgentTraceOptions
        from pytest_agenttrace.capture._router import INSTALLATION

        INSTALLATION.attach(provider)
        kept = start_capture(AgentTraceOptions())
    elif variant != "bare":
        raise SystemExit(f"unknown variant {variant!r}")
    tracer = provider.get_tracer("bench")
    collecting = [0.0]
    started_gc = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started_gc[0] = time.perf_counter()
        else:
            collecting[0] += time.perf_counter() - started_gc[0]

    gc.collect()  # the same start for every variant: nothing pending from the set-up
    if memory:
        tracemalloc.start()
    gc.callbacks.append(on_gc)
    started = time.perf_counter()
    for _ in range(count // 2):  # a nested pair: an agent and its call
        with tracer.start_as_current_span("agent"), tracer.start_as_current_span("call"):
            pass
    seconds = time.perf_counter() - started
    if exit_after_spans:
        os._exit(0)
    gc.callbacks.remove(on_gc)
    if variant == "ours":
        assert len(kept.spans) == count // 2 * 2, "the capture missed spans"
    elif variant == "in_memory":
        assert len(kept.get_finished_spans()) == count // 2 * 2
    if memory:
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
        return {"bytes_per_span": held / count}
    return {"seconds": seconds, "gc_seconds": collecting[0]}


if __name__ == "__main__":
    print(
        json.dumps(
            main(
                sys.argv[1],
                int(sys.argv[2]),
                exit_after_spans="--exit-after-spans" in sys.argv,
                memory="--memory" in sys.argv,
            )
        )
    )
