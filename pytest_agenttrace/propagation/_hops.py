"""Fragment analysis: orphans, hops that started a new trace, and why they did.

A "hop" is any place where work crosses a boundary that context must be
carried over: a message queue, an RPC, a thread pool, an asyncio task. When a
hop loses the context, the receiving side starts a new trace (a fragment).
This module finds such fragments and matches them with what the propagator
spy saw, so a message can say why the hop broke.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.trace import SpanKind

from ..capture._query import CapturedSpan, SpanForest, Trace
from ..capture._router import RawOrigin
from ._spy import ExtractCall, InjectCall, Origin, describe_keys

DOCS = "docs/propagation.md"
RECEIVING_KINDS = (SpanKind.CONSUMER, SpanKind.SERVER)
SENDING_KINDS = (SpanKind.PRODUCER, SpanKind.CLIENT)
_DESTINATION_KEYS = ("messaging.destination.name", "messaging.destination", "server.address")


def label(span: CapturedSpan) -> str:
    """`name` [kind] — how propagation messages name a span."""
    text = f"`{span.name}`"
    if span.kind is not SpanKind.INTERNAL:
        text += f" [{span.kind.name.lower()}]"
    if span.received:
        text += f" ({'service ' + repr(span.service) if span.service else 'another process'})"
    if not span.ended:
        text += " (still open)"
    return text


def short_id(trace_id: int) -> str:
    return f"{trace_id:032x}"[:8]


def link_targets(span: CapturedSpan) -> list[tuple[int, int]]:
    targets = []
    for link in span.links:
        context = getattr(link, "context", None)
        if context is not None and context.is_valid:
            targets.append((context.trace_id, context.span_id))
    return targets


@dataclasses.dataclass
class BrokenHop:
    """A span that started a new trace where context should have been propagated."""

    span: CapturedSpan
    reason: str
    producer: CapturedSpan | None = None
    evidence: list[str] = dataclasses.field(default_factory=list)

    def describe(self) -> str:
        lines = [
            f"{label(self.span)} started trace {short_id(self.span.trace_id)}… "
            f"({len(self.span.trace)} span(s)): {self.reason}"
        ]
        if self.producer is not None:
            lines.append(
                f"  most likely sender: {label(self.producer)} in trace "
                f"{short_id(self.producer.trace_id)}…"
            )
        lines += [f"  {line}" for line in self.evidence]
        return "\n".join(lines)


@dataclasses.dataclass
class ContextError:
    """OpenTelemetry logged a context error (e.g. "Failed to detach context")."""

    message: str
    exception: str | None
    current_span: str | None
    origin: Origin

    def describe(self) -> str:
        span = f"`{self.current_span}`" if self.current_span else "no span"
        text = f"{self.message} in {self.origin.describe()}, current span: {span}"
        return text + (f" ({self.exception})" if self.exception else "")


class Analysis:
    """Propagation facts about one capture (computed on demand, not cached)."""

    def __init__(
        self,
        forest: SpanForest,
        origins: Mapping[int, RawOrigin],
        test_thread: int | None,
        injects: Sequence[InjectCall],
        extracts: Sequence[ExtractCall],
        ambient_parents: Iterable[tuple[int, int]] = (),
        home: RawOrigin | None = None,
    ) -> None:
        self.forest = forest
        self.origins = origins
        # where spans without a noted origin started (the test's thread and task)
        self.home = Origin.of(home) if home is not None else None
        self._origin_of: dict[RawOrigin, Origin] = {}  # one per thread/task pair
        # per mode (test thread only, or any): root span id -> its enclosing span
        self._enclosing: dict[bool, dict[int, CapturedSpan | None]] = {}
        self._first_start: dict[int, int] | None = None  # thread id -> earliest span
        self.test_thread = test_thread
        self.injects = list(injects)
        self.extracts = list(extracts)
        self.extracted_parents = {
            (call.extracted.trace_id, call.extracted.span_id)
            for call in self.extracts
            if call.extracted is not None
        }
        self.ambient_parents = set(ambient_parents)
        # Index for extract_before(): extract() calls per thread/task, in time order.
        self._extracts_by_origin: dict[Origin, tuple[list[int], list[ExtractCall]]] = {}
        for call in sorted(self.extracts, key=lambda call: call.time_ns):
            times, calls = self._extracts_by_origin.setdefault(call.origin, ([], []))
            times.append(call.time_ns)
            calls.append(call)

    @functools.cached_property
    def _threads(self) -> _ThreadIndex:
        return _ThreadIndex(self.forest, self.origins, self._resolve)

    # -- basic facts --------------------------------------------------------------
    def origin(self, span: CapturedSpan) -> Origin | None:
        return self._resolve(self.origins.get(id(span._context)), span)

    def _resolve(self, raw: RawOrigin | None, span: CapturedSpan) -> Origin | None:
        """The origin of `span`, whose noted thread and task are `raw`."""
        if raw is None:
            return None if span.received else self.home
        # equal raw pairs are the same thread and task (both compare by identity)
        known = self._origin_of.get(raw)
        if known is None:
            known = self._origin_of[raw] = Origin.of(raw)
        return known

    def is_orphan(self, span: CapturedSpan) -> bool:
        parent = span.parent_span_id
        return (
            span.parent is None
            and parent is not None
            and (span.trace_id, parent) not in self.extracted_parents
            and (span.trace_id, parent) not in self.ambient_parents
            # another process extracted its parent from a carrier: a caller from
            # outside the test, as an in-process span continuing an extract()
            and not (span.received and span.has_remote_parent)
        )

    def orphans(self) -> list[CapturedSpan]:
        return [span for span in self.forest.roots if self.is_orphan(span)]

    def links_to_captured(self, span: CapturedSpan) -> bool:
        return any(self.forest.get(*target) is not None for target in link_targets(span))

    # -- broken hops ------------------------------------------------------------------
    def broken_hops(self) -> list[BrokenHop]:
        """New-trace roots that strict mode fails on; conservative by design.

        A root counts only with evidence that it should have continued a trace:
        its kind says it received something while the capture also sent
        something, an extract() right before it found nothing usable, or it was
        started in a worker thread while a span of the test's thread was active.
        """
        if len(self.forest.traces) < 2:
            return []
        hops = []
        for root in self.forest.roots:
            if root.parent_span_id is not None or self.links_to_captured(root):
                continue  # orphans are reported separately; links are healthy hops
            reason = self._strict_reason(root)
            if reason is not None:
                hops.append(self._explain(root, reason))
        return hops

    def _strict_reason(self, root: CapturedSpan) -> str | None:
        if root.kind in RECEIVING_KINDS and self.senders_before(root):
            return (
                f"a {root.kind.name.lower()} span with no parent and no link, while the "
                f"capture holds producer/client spans"
            )
        extract = self.extract_before(root)
        if extract is not None and extract.extracted is None and self._sent_before(root):
            return "started right after an extract() that found no usable context"
        enclosing = self.enclosing_span(root, test_thread_only=True)
        if enclosing is not None and not self._busy_before(root, enclosing):
            # The test thread's open span is the evidence; the blame goes to the
            # innermost open span of that trace in any thread: with nested pools
            # (test thread -> worker -> its own worker) the lost hop is the inner one.
            innermost = self.enclosing_span(root, test_thread_only=False)
            if innermost is not None and innermost.trace_id == enclosing.trace_id:
                enclosing = innermost
            return self.worker_reason(root, enclosing)
        injector = self.injected_for(root)
        if injector is not None:
            return (
                f"a span of another process with no parent and no link, started while "
                f"{label(injector)} had injected its context for the hop"
            )
        return None

    def injected_for(self, root: CapturedSpan) -> CapturedSpan | None:
        """For a root received from another process: the span of this process that
        called inject() before it started and was still open then (the context was
        handed over, and not continued)."""
        if not root.received:
            return None
        for call in self.injects:
            active = call.active_span
            if active is None or active.trace_id == root.trace_id or call.time_ns > root.start_time:
                continue
            span = self.forest.get(active.trace_id, active.span_id)
            if span is not None and (span.end_time is None or span.end_time >= root.start_time):
                return span
        return None

    def senders_before(self, root: CapturedSpan) -> list[CapturedSpan]:
        """Sending spans of other traces that `root` could have received from.

        Only spans that started before it (a request is served while its
        client span is still open), and not ones naming another destination:
        a server's own outgoing calls, or an earlier request's, are no evidence.
        """
        found = []
        for span in self.forest.spans:
            if (
                span.kind not in SENDING_KINDS
                or span.trace_id == root.trace_id
                or span.start_time > root.start_time
            ):
                continue
            if root.kind is SpanKind.SERVER and (
                span.kind is not SpanKind.CLIENT
                or (span.end_time is not None and span.end_time < root.start_time)
            ):
                continue
            if any(
                key in root.attributes
                and key in span.attributes
                and root.attributes[key] != span.attributes[key]
                for key in ("messaging.destination.name", "server.address")
            ):
                continue
            found.append(span)
        return found

    def _sent_before(self, root: CapturedSpan) -> bool:
        """Something was sent (a sender span, or an inject() outside one) before `root`."""
        if self.senders_before(root):
            return True
        for call in self.injects:
            active = call.active_span
            if call.time_ns > root.start_time or (active and active.trace_id == root.trace_id):
                continue
            span = None if active is None else self.forest.get(active.trace_id, active.span_id)
            if span is None or span.kind not in SENDING_KINDS:
                return True
        return False

    def _busy_before(self, root: CapturedSpan, enclosing: CapturedSpan) -> bool:
        """Was `root`'s thread already tracing on its own before `enclosing` opened?

        Then it is a background worker (a scheduler, a poller), not one that
        `enclosing` handed work to.
        """
        origin = self.origin(root)
        if origin is None:
            return False
        if self._first_start is None:
            self._first_start = {}
            # in the order the threads/tasks first started a span: the first one stays
            threads = self._threads
            for group, other in enumerate(threads.origins):
                if other.thread_id not in self._first_start:
                    self._first_start[other.thread_id] = threads.first_start(group)
        first = self._first_start.get(origin.thread_id)
        return first is not None and first < enclosing.start_time

    def worker_reason(self, root: CapturedSpan, enclosing: CapturedSpan) -> str:
        origin = self.origin(root)
        where = origin.describe() if origin else "another thread"
        other = self.origin(enclosing)
        return (
            f"started with no parent in {where} while {label(enclosing)} was active in "
            f"{other.describe() if other else 'the test'} (context not carried into the "
            f"worker)"
        )

    def explain_fragment(self, root: CapturedSpan) -> BrokenHop | None:
        """The most likely broken hop behind a fragment root (looser than strict)."""
        if root.parent_span_id is not None or self.links_to_captured(root):
            return None
        reason = self._strict_reason(root)
        if reason is None:
            enclosing = self.enclosing_span(root, test_thread_only=False)
            if enclosing is not None:
                reason = self.worker_reason(root, enclosing)
        if reason is None:
            extract = self.extract_before(root)
            if extract is None:
                return None
            reason = "started right after an extract() in the same thread/task"
        return self._explain(root, reason)

    def _explain(self, root: CapturedSpan, reason: str) -> BrokenHop:
        hop = BrokenHop(root, reason)
        if root.kind in RECEIVING_KINDS or self.extract_before(root) is not None or root.received:
            hop.producer = self.likely_sender(root) or self.injected_for(root)
            hop.evidence = self.spy_evidence(root, hop.producer)
        return hop

    def spy_evidence(self, consumer: CapturedSpan, producer: CapturedSpan | None) -> list[str]:
        """Why the hop into `consumer` broke, from the propagator spy's records."""
        lines = []
        if producer is not None:
            lines += self._sender_evidence(producer)
        if consumer.received:
            # the spy sees this process's propagator only
            lines.append(
                f"{label(consumer)} ran in another process: "
                "check that it extracts the incoming context (the propagator spy sees only "
                "this process's inject() and extract() calls)"
            )
            return lines
        extract = self.extract_before(consumer)
        if extract is None:
            if not self.extracts:
                lines.append("extract() was never called on the consumer side")
            else:
                lines.append(
                    "extract() was never called on the consumer side before "
                    f"{label(consumer)} started (extract() calls elsewhere: "
                    f"{len(self.extracts)})"
                )
        elif extract.extracted is None:
            lines.append(extract.diagnosis())
        else:
            lines.append(
                f"extract() succeeded (traceparent {extract.traceparent!r}) but the consumer "
                f"span was started without the extracted context"
            )
        return lines

    def _sender_evidence(self, producer: CapturedSpan) -> list[str]:
        during = self.injects_during(producer)
        if not during:
            outside = [call for call in self.injects_near(producer) if call.active_span is None]
            if outside:
                return [
                    "inject() was called outside any span (the carrier got no traceparent): "
                    f"{outside[0].describe()}"
                ]
            return [f"inject() was never called while {label(producer)} was active"]
        return [call.describe() for call in during[:1]]

    # -- helpers for diagnosis ------------------------------------------------------------
    def extract_before(self, span: CapturedSpan) -> ExtractCall | None:
        """The extract() in the span's thread/task since the previous span started there."""
        if not self._extracts_by_origin:
            return None  # no extract() at all: the span's origin is not looked up
        origin = self.origin(span)
        if origin is None or origin not in self._extracts_by_origin:
            return None
        group = self._threads.group.get(origin)
        starts = self._threads.starts(group) if group is not None else []
        index = bisect.bisect_left(starts, span.start_time)
        previous_start = starts[index - 1] if index > 0 else 0
        times, calls = self._extracts_by_origin[origin]
        last = bisect.bisect_right(times, span.start_time) - 1
        if last >= 0 and times[last] >= previous_start:
            return calls[last]
        return None

    def enclosing_span(self, root: CapturedSpan, *, test_thread_only: bool) -> CapturedSpan | None:
        """A span of another trace, in another thread/task, open when `root` started:
        the innermost (latest started) one, which should have been its parent."""
        found = self._enclosing.get(test_thread_only)
        if found is None:
            found = self._enclosing[test_thread_only] = self._sweep(test_thread_only)
        return found.get(id(root))

    def _sweep(self, test_thread_only: bool) -> dict[int, CapturedSpan | None]:
        """enclosing_span for every root at once, in one pass over the roots.

        Per thread/task a heap of the spans started so far, latest start on top;
        as the roots' start times only grow, a span found ended is dropped for good.
        A span joins its heap when a root of another thread/task reads it: a worker
        whose own roots are all there is (a pool losing context per job) never pays.
        The roots' origins and starts come from the index, and traces are compared as
        objects (one per trace id): a root's own span data is not read again.
        """
        threads, test_thread = self._threads, self.test_thread
        # the groups whose spans can enclose, in the order they first started a span
        eligible = [
            group
            for group, other in enumerate(threads.origins)
            if not test_thread_only or other.thread_id == test_thread
        ]
        spans = self.forest.spans
        # per eligible group: (-start, position), latest on top, and how many of its
        # spans joined the heap
        heaps: list[list[tuple[int, int]]] = [[] for _ in eligible]
        joined = [0] * len(eligible)
        firsts = [threads.first_start(group) for group in eligible]
        started = 0  # the eligible groups whose first span started by the current root
        result: dict[int, CapturedSpan | None] = {}
        roots = zip(self.forest.roots, threads.root_groups, threads.root_starts, strict=True)
        for root, own, moment in roots:
            if own < 0:
                continue  # no origin: no thread to compare
            if test_thread_only and (
                test_thread is None or threads.origins[own].thread_id == test_thread
            ):
                continue
            while started < len(eligible) and firsts[started] <= moment:
                started += 1
            best: tuple[int, int] | None = None  # the heap key of the latest started
            for slot in range(started):
                group = eligible[slot]
                if group == own:
                    continue
                positions = threads.positions[group]
                heap, count = heaps[slot], joined[slot]
                while count < len(positions):
                    start = spans[positions[count]].start_time
                    if start > moment:
                        break
                    heapq.heappush(heap, (-start, positions[count]))
                    count += 1
                joined[slot] = count
                while heap and (end := spans[heap[0][1]].end_time) is not None and end < moment:
                    heapq.heappop(heap)
                if not heap:
                    continue
                candidate: tuple[int, int] | None = heap[0]
                if spans[heap[0][1]].trace is root.trace:
                    candidate = _open_at(heap, spans, moment, root.trace)
                if candidate is not None and (best is None or candidate[0] < best[0]):
                    best = candidate
            result[id(root)] = None if best is None else spans[best[1]]
        return result

    def likely_sender(self, consumer: CapturedSpan) -> CapturedSpan | None:
        """The producer/client span in another trace this consumer most likely came from."""
        destination = _destination(consumer)
        candidates = [
            span
            for span in self.forest.spans
            if span.kind in SENDING_KINDS
            and span.trace_id != consumer.trace_id
            and span.start_time <= consumer.start_time
        ]
        if destination is not None:
            same = [span for span in candidates if _destination(span) == destination]
            candidates = same or candidates
        return max(candidates, key=lambda span: span.start_time, default=None)

    def injects_during(self, span: CapturedSpan) -> list[InjectCall]:
        return [
            call
            for call in self.injects
            if call.active_span is not None
            and (call.active_span.trace_id, call.active_span.span_id)
            in {(span.trace_id, span.span_id)}
            | {(d.trace_id, d.span_id) for d in span.descendants()}
        ]

    def injects_near(self, span: CapturedSpan) -> list[InjectCall]:
        end = span.end_time if span.end_time is not None else float("inf")
        return [call for call in self.injects if span.start_time <= call.time_ns <= end]

    def unused_extractions(self) -> list[ExtractCall]:
        """extract() calls whose valid context no captured span used (as parent or link)."""
        if all(call.extracted is None for call in self.extracts):
            return []  # nothing to look for in 100,000 spans
        used: set[tuple[int, int]] = set()
        for span in self.forest.spans:
            if span.parent_span_id is not None:
                used.add((span.trace_id, span.parent_span_id))
            used.update(link_targets(span))
        unused, seen = [], set()
        for call in self.extracts:
            if call.extracted is None:
                continue
            key = (call.extracted.trace_id, call.extracted.span_id)
            if key not in used and key not in seen:
                seen.add(key)
                unused.append(call)
        return unused

    def malformed_extractions(self) -> list[ExtractCall]:
        return [
            call
            for call in self.extracts
            if call.defect is not None and call.defect.startswith("traceparent malformed")
        ]


def _open_at(
    heap: list[tuple[int, int]],
    spans: Sequence[CapturedSpan],
    moment: int,
    trace: Trace,
) -> tuple[int, int] | None:
    """The key of the heap's first span in its order (latest start, then earliest in
    the forest) open at `moment` and not of `trace` (the rare case where the heap's
    top belongs to the root's own trace)."""
    first: tuple[int, int] | None = None
    for key in heap:
        span = spans[key[1]]
        if (span.end_time is None or span.end_time >= moment) and span.trace is not trace:
            first = key if first is None else min(first, key)
    return first


class _ThreadIndex:
    """A forest's spans by the thread/task they started in, in one pass over the spans.

    For the sweeps, first starts and extract_before(): at 100,000 spans a pass over
    all spans is bound by memory, not by its few steps per span, so this one reads
    no SDK span's data but a root's start (and the origin noted by its context's id); the
    other starts are read where a sweep or extract_before() needs them. Spans without
    an origin (received ones) are in no group: no sweep reads them.
    """

    def __init__(
        self,
        forest: SpanForest,
        raw_origins: Mapping[int, RawOrigin],
        resolve: Callable[[RawOrigin | None, CapturedSpan], Origin | None],
    ) -> None:
        self.spans = forest.spans
        self.origins: list[Origin] = []  # in the order they first started a span
        self.group: dict[Origin, int] = {}  # origin -> its index in `origins`
        # per group, its spans' positions in forest.spans, in start order
        self.positions: list[list[int]] = []
        self._starts: dict[int, list[int]] = {}  # per group, once read
        # per forest root (in forest.roots order): its group (-1: none) and start
        self.root_groups: list[int] = []
        self.root_starts: list[int] = []
        last: Origin | None = None
        last_raw: RawOrigin | None = None
        group = -1
        positions: list[int] = []
        root_groups, root_starts = self.root_groups, self.root_starts
        for position, span in enumerate(forest.spans):
            raw = raw_origins.get(id(span._context))  # keyed as in Record
            # the same thread and task objects as the span before: the same origin
            # (Analysis.origin), resolved once per run of a worker's spans
            same_run = (
                raw is not None
                and last_raw is not None
                and raw[0] is last_raw[0]
                and raw[1] is last_raw[1]
            )
            if not same_run:
                origin = resolve(raw, span)
            last_raw = raw
            if origin is not last:  # spans run in a row: one lookup per run
                last = origin
                group = -1 if origin is None else self._join(origin)
                if group >= 0:
                    positions = self.positions[group]
            if group >= 0:
                positions.append(position)
            if span.parent is None:
                root_groups.append(group)
                root_starts.append(span.start_time)

    def _join(self, origin: Origin) -> int:
        """The group of `origin`, a new one for its first span."""
        group = self.group.get(origin)
        if group is None:
            group = self.group[origin] = len(self.origins)
            self.origins.append(origin)
            self.positions.append([])
        return group

    def first_start(self, group: int) -> int:
        return self.spans[self.positions[group][0]].start_time

    def starts(self, group: int) -> list[int]:
        """The start of each span of `group`, in start order."""
        found = self._starts.get(group)
        if found is None:
            spans = self.spans
            found = self._starts[group] = [spans[p].start_time for p in self.positions[group]]
        return found


def _destination(span: CapturedSpan) -> Any:
    for key in _DESTINATION_KEYS:
        if key in span.attributes:
            return span.attributes[key]
    return None


def describe_trace(trace: Trace) -> str:
    roots = trace.roots
    names = ", ".join(label(root) for root in roots) or "(no root)"
    return f"trace {short_id(trace.trace_id)}…: {names} ({len(trace)} span(s))"


def orphan_bullet(span: CapturedSpan, extracts: Iterable[ExtractCall] = ()) -> str:
    parent = span.parent_span_id or 0
    if span.received:
        return (
            f"{label(span)} has parent {parent:016x} (trace "
            f"{short_id(span.trace_id)}…) in its own process, which never arrived: did "
            f"that process exit without flushing? (wait_for(complete=True) waits for it)"
        )
    text = (
        f"{label(span)} has parent {parent:016x} (trace {short_id(span.trace_id)}…), "
        f"which was neither captured nor extracted from a carrier"
    )
    return text


def extraction_bullet(call: ExtractCall) -> str:
    return call.diagnosis() + f" ({describe_keys(call.carrier_keys)})"
