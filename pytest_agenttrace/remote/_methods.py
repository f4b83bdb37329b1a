"""The fixture's remote side: where other processes send spans, and what went wrong."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._errors import message
from ..capture._router import BETWEEN_TESTS

if TYPE_CHECKING:
    from ._receiver import OtlpReceiver


class RemoteMethods:
    """Mixed into AgentTrace: the process's OTLP receiver, as seen from one test."""

    if TYPE_CHECKING:
        _receiver_problems: list[str]

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
        before = any(problem.endswith(BETWEEN_TESTS) for problem in problems)
        fix = "Fix the sender's exporter configuration (agenttrace.otlp_env() sets it up)"
        if any("(413)" in problem or "RESOURCE_EXHAUSTED" in problem for problem in problems):
            fix += "; for larger exports raise agenttrace_otlp_max_body"
        return [
            message(
                f"The OTLP receiver refused {len(problems)} export(s) "
                f"{'before or during' if before else 'during'} this test; spans in them "
                "were lost:",
                problems,
                f"{fix}. See docs/remote.md#bad-input",
            )
        ]
