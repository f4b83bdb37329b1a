"""The fixture's remote side: where other processes send spans, and what went wrong."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._errors import message
from ._settings import MAX_BODY_SETTING

if TYPE_CHECKING:
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


def session_warning(problems: Sequence[ReceiverProblem]) -> str:
    """Findings made after the last test that could report them, for the session's end."""
    when = "while no test was capturing, after the last test that could report them"
    parts = []
    refused, rejected = _split(problems)
    if refused:
        lines = "".join(f"\n- {problem.text}" for problem in refused)
        parts.append(f"{_refused_header(refused, when)}:{lines}")
    if rejected:
        lines = "".join(f"\n- {problem.text}" for problem in rejected)
        parts.append(f"{_rejected_header(rejected, when)}:{lines}\n\n{_REJECTED_FIX}.")
    return "\n\n".join(parts)
