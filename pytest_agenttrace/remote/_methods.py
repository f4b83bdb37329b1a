"""The fixture's remote side: where other processes send spans, and what went wrong."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._errors import message
from ._settings import MAX_BODY_SETTING

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from ..capture._router import ReceiverProblem
    from ._receiver import OtlpReceiver

_BETWEEN_TESTS = " (between tests, before this one)"
_SEE = "See docs/remote.md#bad-input"
_REJECTED_FIX = (
    "Fix the span data where the sender makes it: its instrumentation, or its code "
    "that sets span ids, kinds, status codes, names or times"
)


class RemoteMethods:
    """Mixed into AgentTrace: the process's OTLP receiver, as seen from one test."""

    if TYPE_CHECKING:
        _receiver_problems: list[ReceiverProblem]

    @property
    def otlp_receiver(self) -> OtlpReceiver:
        __tracebackhide__ = True
        from ._receiver import process_receiver_or_fail

        return process_receiver_or_fail()

    @property
    def otlp_endpoint(self) -> str:
        """Base URL of the receiver's OTLP/HTTP side (exporters append `/v1/traces`)."""
        return self.otlp_receiver.otlp_endpoint

    @property
    def otlp_grpc_endpoint(self) -> str:
        """`http://127.0.0.1:<port>` of the receiver's OTLP/gRPC side (extra `[grpc]`)."""
        __tracebackhide__ = True
        from ._receiver import or_fail

        return or_fail(lambda: self.otlp_receiver.otlp_grpc_endpoint)

    def otlp_env(
        self,
        service_name: str | None = None,
        *,
        protocol: str = "http/protobuf",
        propagate: bool = False,
    ) -> dict[str, str]:
        """Environment for a child process whose OpenTelemetry SDK should export here."""
        __tracebackhide__ = True
        from ._receiver import or_fail

        receiver = self.otlp_receiver
        return or_fail(
            lambda: receiver.otlp_env(service_name, protocol=protocol, propagate=propagate)
        )

    def _receiver_findings(self) -> list[str]:
        problems = self._receiver_problems
        if not problems:
            return []
        before = any(problem.between_tests for problem in problems)
        when = "before or during this test" if before else "during this test"
        findings = []
        refused, rejected = _split(problems)
        if refused:
            fix = "Fix the sender's exporter configuration (agenttrace.otlp_env() sets it up)"
            if any(MAX_BODY_SETTING in problem.text for problem in refused):
                fix += f"; for larger exports raise {MAX_BODY_SETTING}"
            lines = [_line(problem) for problem in refused]
            findings.append(message(f"{_refused_header(refused, when)}:", lines, f"{fix}. {_SEE}"))
        if rejected:
            lines = [_line(problem) for problem in rejected]
            header = f"{_rejected_header(rejected, when)}:"
            findings.append(message(header, lines, f"{_REJECTED_FIX}. {_SEE}"))
        return findings


def _split(
    problems: Sequence[ReceiverProblem],
) -> tuple[list[ReceiverProblem], list[ReceiverProblem]]:
    """Exports refused as a whole, and exports taken with some spans rejected."""
    refused = [problem for problem in problems if not problem.rejected_spans]
    return refused, [problem for problem in problems if problem.rejected_spans]


def _line(problem: ReceiverProblem) -> str:
    return problem.text + (_BETWEEN_TESTS if problem.between_tests else "")


def _refused_header(refused: Sequence[ReceiverProblem], when: str) -> str:
    return f"The OTLP receiver refused {len(refused)} export(s) {when}; spans in them were lost"


def _rejected_header(rejected: Sequence[ReceiverProblem], when: str) -> str:
    spans = sum(problem.rejected_spans for problem in rejected)
    return (
        f"The OTLP receiver rejected {spans} span(s) for bad span data in "
        f"{len(rejected)} export(s) {when}; it took their other spans"
    )


def session_warnings(
    pending: Sequence[ReceiverProblem],
    unreported: Sequence[ReceiverProblem],
    unclaimed: Sequence[ReadableSpan],
) -> list[str]:
    """What no test reported, for the session's end: findings after the last capture
    or while tests ran that don't capture, and spans that no capture took."""
    texts = []
    if pending:
        texts += _problems_warning(pending, _AFTER_LAST)
    if unreported:
        texts += _problems_warning(unreported, "while tests ran that don't capture")
    if unclaimed:
        texts.append(_unclaimed_warning(unclaimed))
    return texts


_AFTER_LAST = "while no test was capturing, after the last test that could report them"


def _problems_warning(problems: Sequence[ReceiverProblem], when: str) -> list[str]:
    texts = []
    refused, rejected = _split(problems)
    if refused:
        lines = "".join(f"\n- {_said_late(problem)}" for problem in refused)
        texts.append(f"{_refused_header(refused, when)}:{lines}")
    if rejected:
        lines = "".join(f"\n- {_said_late(problem)}" for problem in rejected)
        texts.append(f"{_rejected_header(rejected, when)}:{lines}\n\n{_REJECTED_FIX}.")
    return texts


def _said_late(problem: ReceiverProblem) -> str:
    return problem.text + (f" (during {problem.during})" if problem.during else "")


def _unclaimed_warning(spans: Sequence[ReadableSpan]) -> str:
    by_service: dict[str, list[str]] = {}
    for span in spans:
        service = str(span.resource.attributes.get("service.name", "unknown_service"))
        by_service.setdefault(service, []).append(span.name)
    lines = []
    for service, names in by_service.items():
        distinct = list(dict.fromkeys(names))
        shown = ", ".join(distinct[:5]) + (", …" if len(distinct) > 5 else "")
        lines.append(f"{len(names)} from service {service!r}: {shown}")
    return message(
        f"The OTLP receiver received {len(spans)} span(s) {_AFTER_LAST}; no test saw them:",
        lines,
        "Have each sender flush before its test ends: shut down (or force_flush()) the "
        "child's TracerProvider before the test returns, or agenttrace.wait_for(...) "
        "the spans the test expects from a service. See docs/remote.md#the-receivers-rules",
    )
