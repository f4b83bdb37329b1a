"""What happens to a test's spans once its last report is made: export and forwarding.

Both run after the teardown report exists, so the outcome they name is final
(a teardown check that errors a passed test counts). Neither may fail the suite:
a problem becomes one AgentTraceWarning for the session, and that half stops.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ._warning import warn_for_session

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan

    from .._fixture import AgentTrace
    from ._forward import Forwarder
    from ._settings import SeeingSettings

# resource attributes that name the test: OpenTelemetry's test.* conventions, and
# pytest's own outcome word (they have pass / fail only)
TEST_NAME = "test.case.name"
TEST_STATUS = "test.case.result.status"
TEST_OUTCOME = "agenttrace.test.outcome"
UNFINISHED = "agenttrace.unfinished"  # on a span still open when the test ended
_STATUS = {"passed": "pass", "xpassed": "pass", "failed": "fail", "error": "fail"}


def phase_outcome(report: Any) -> str:
    """pytest's word for one phase's report: passed, failed, error, skipped, xfailed, xpassed."""
    xfail = hasattr(report, "wasxfail")
    if report.passed:
        return "xpassed" if xfail else "passed"
    if report.skipped:
        return "xfailed" if xfail else "skipped"
    return "failed" if report.when == "call" else "error"


def combined_outcome(previous: str | None, report: Any) -> str:
    """The test's outcome so far: the first phase that did not pass decides."""
    if previous not in (None, "passed"):
        return previous
    return phase_outcome(report)


def spans_for_export(capture: AgentTrace, node_id: str, outcome: str) -> list[ReadableSpan]:
    """The test's spans (in-process and received) with the test named on each resource.

    A span still open is sent too, ended now and marked `agenttrace.unfinished`:
    a hung agent is what one opens the trace to see.
    """
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan

    test = {TEST_NAME: node_id, TEST_STATUS: _STATUS.get(outcome, "skipped"), TEST_OUTCOME: outcome}
    resources: dict[int, Resource] = {}

    def named(resource: Resource | None) -> Resource:
        key = id(resource)
        if key not in resources:
            resources[key] = (resource or Resource.get_empty()).merge(Resource(test))
        return resources[key]

    spans = []
    now = time.time_ns()
    for captured in capture.spans + capture.unfinished:
        span = captured.readable
        attributes = span.attributes
        if span.end_time is None:
            attributes = {**(attributes or {}), UNFINISHED: True}
        spans.append(
            ReadableSpan(
                name=span.name,
                context=span.context,
                parent=span.parent,
                resource=named(span.resource),
                attributes=attributes,
                events=span.events,
                links=span.links,
                kind=span.kind,
                status=span.status,
                start_time=span.start_time,
                end_time=span.end_time
                if span.end_time is not None
                else max(now, span.start_time or 0),
                instrumentation_scope=span.instrumentation_scope,
            )
        )
    return spans


class AfterTest:
    """The session's export directory and forwarder, fed once per captured test."""

    def __init__(self, settings: SeeingSettings) -> None:
        self.settings = settings
        self._export_problem: str | None = None
        self._forwarder: Forwarder | None = None
        if settings.forward is not None:
            from ._forward import Forwarder

            self._forwarder = Forwarder(settings.forward)

    @property
    def active(self) -> bool:
        return self.settings.export_dir is not None or self._forwarder is not None

    def finish(self, capture: AgentTrace, node_id: str, outcome: str) -> None:
        if not self.active or not (capture.spans or capture.unfinished):
            return
        try:
            spans = spans_for_export(capture, node_id, outcome)
            if self.settings.export_dir is not None and self._export_problem is None:
                self._export(node_id, spans)
            if self._forwarder is not None:
                self._forwarder.send(spans)
        except Exception as error:  # a report hook must never turn into an INTERNALERROR
            warn_for_session(f"pytest-agenttrace could not export {node_id}'s spans: {error!r}")

    def _export(self, node_id: str, spans: list[ReadableSpan]) -> None:
        from ._export import write_export

        assert self.settings.export_dir is not None
        try:
            write_export(self.settings.export_dir, node_id, spans)
        except OSError as error:
            self._export_problem = error.strerror or str(error)
            warn_for_session(
                f"--agenttrace-export: could not write {node_id}'s spans to "
                f"{self.settings.export_dir}: {self._export_problem}; no further "
                f"files are written this session"
            )

    def close(self) -> None:
        if self._forwarder is not None:
            self._forwarder.close()
