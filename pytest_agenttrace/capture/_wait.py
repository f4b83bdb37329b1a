"""`wait_for`: block until spans from other threads, tasks or processes have arrived."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ._query import NamePattern, SpanQueries, describe_query

if TYPE_CHECKING:
    from ._query import CapturedSpan

T = TypeVar("T")

_NOT_YET: Any = object()


class WaitFor(SpanQueries):
    """Mixed into AgentTrace: polling the capture until a condition holds."""

    if TYPE_CHECKING:

        @property
        def spans(self) -> list[CapturedSpan]: ...

        @property
        def unfinished(self) -> list[CapturedSpan]: ...

        @property
        def awaiting_parents(self) -> list[CapturedSpan]: ...

        def render(self, style: str = "box") -> str: ...

    def wait_for(
        self,
        condition: Callable[[Any], T] | None = None,
        *,
        name: NamePattern | None = None,
        count: int | None = None,
        complete: bool = False,
        timeout: float = 5.0,
        interval: float = 0.005,
    ) -> T | Any:
        """Block until the capture satisfies a condition; fail with what was seen on timeout.

        - ``name=``: a finished span matching the glob exists (returns it; with
          ``count=N``, waits for N of them and returns the list);
        - ``count=N`` alone: N finished spans;
        - ``condition``: a callable taking the capture. A falsy result other than
          ``None`` (``False``, ``0``, an empty list) or an AssertionError means
          "not yet"; anything else (``None`` included) is returned, so
          ``wait_for(lambda t: t.assert_tree(...))`` retries a tree assertion;
        - ``complete=True``: additionally (or, given alone, only), every span
          started so far has ended (no agent is still working) and every parent
          that a span received from another process names has arrived, which a
          root-present check cannot tell.
        """
        __tracebackhide__ = True
        check = _build_condition(condition, name, count, complete)
        deadline = time.monotonic() + timeout
        last_error: AssertionError | None = None
        while True:
            try:
                result = check(self)
                last_error = None
            except AssertionError as error:
                result, last_error = _NOT_YET, error
            if result is not _NOT_YET and (not complete or self._all_arrived()):
                return result
            if time.monotonic() >= deadline:
                break
            time.sleep(interval)
            interval = min(interval * 2, 0.05)
        raise AssertionError(
            self._timeout_message(condition, name, count, complete, timeout, last_error)
        )

    def _all_arrived(self) -> bool:
        """Every started span ended, and every parent a received span names has arrived."""
        return not self.unfinished and not self.awaiting_parents

    def _timeout_message(
        self,
        condition: Callable[..., Any] | None,
        name: NamePattern | None,
        count: int | None,
        complete: bool,
        timeout: float,
        last_error: AssertionError | None,
    ) -> str:
        if condition is not None:
            wanted = f"{getattr(condition, '__name__', 'condition')}() to hold"
        elif name is not None:
            wanted = f"{count or 1} finished span(s) matching {describe_query(name)}"
        elif count is not None:
            wanted = f"{count} finished span(s)"
        else:
            wanted = ""
        if complete:
            every = "every started span to end"
            if self.awaiting_parents:  # spans from other processes: their parents too
                every += " and every parent it names to arrive"
            wanted += f" and {every}" if wanted else every
        open_spans = self.unfinished
        lines = [
            f"wait_for() timed out after {timeout:g} s waiting for {wanted}.",
            f"Captured so far: {len(self.spans)} finished span(s), {len(open_spans)} open.",
        ]
        if self.spans:
            lines += ["", self.render()]
        if open_spans:
            lines += ["", "Still open:"]
            now = time.time_ns()
            for span in open_spans:
                chain = span.ancestor_chain()
                age = (now - span.start_time) / 1e9
                lines.append(
                    f"- {span.name} (open {age:.2f} s)" + (f" under {chain}" if chain else "")
                )
        awaiting = self.awaiting_parents if complete else []
        if awaiting:
            lines += ["", "Received from another process, parent never arrived:"]
            lines += [
                f"- {span.name} [service={span.service}] names parent {span.parent_span_id:016x}"
                " (did its process exit without flushing?)"
                for span in awaiting
            ]
        if last_error is not None:
            lines += ["", "Last assertion error:", str(last_error)]
        return "\n".join(lines)


def _build_condition(
    condition: Callable[[Any], Any] | None,
    name: NamePattern | None,
    count: int | None,
    complete: bool,
) -> Callable[[Any], Any]:
    __tracebackhide__ = True
    given = sum(x is not None for x in (condition, name)) + (count is not None and name is None)
    if given == 0 and complete:
        return lambda capture: capture.spans  # only "every started span has ended"
    if given != 1:
        raise TypeError(
            "wait_for() takes exactly one of: a condition callable, name= (optionally "
            "with count=), or count= alone; or complete=True alone"
        )
    if condition is not None:

        def satisfied(capture: Any) -> Any:
            result = condition(capture)
            # None means "ran without complaint" (an assert-style check); any other
            # falsy value (False, 0, an empty list) means "not yet".
            if result is not None and not result:
                return _NOT_YET
            return result

        return satisfied
    if name is not None:
        wanted = count or 1

        def named(capture: Any) -> Any:
            found = capture.find(name)
            if len(found) < wanted:
                return _NOT_YET
            return found[0] if count is None else found

        return named
    assert count is not None
    return lambda capture: capture.spans if len(capture.spans) >= count else _NOT_YET
