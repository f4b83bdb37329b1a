"""The fixture's remote side: where other processes send spans, and what went wrong."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._errors import message

if TYPE_CHECKING:
    from ._receiver import OtlpReceiver


class RemoteMethods:
    """Mixed into AgentTrace: the process's OTLP receiver, as seen from one test."""

    if TYPE_CHECKING:
        _receiver_problems: list[str]

    @property
    def otlp_receiver(self) -> OtlpReceiver:
        from ._receiver import process_receiver

        return process_receiver()

    @property
    def otlp_endpoint(self) -> str:
        """Base URL of the receiver's OTLP/HTTP side (exporters append `/v1/traces`)."""
        return self.otlp_receiver.otlp_endpoint

    @property
    def otlp_grpc_endpoint(self) -> str:
        """`http://127.0.0.1:<port>` of the receiver's OTLP/gRPC side (extra `[grpc]`)."""
        return self.otlp_receiver.otlp_grpc_endpoint

    def otlp_env(
        self,
        service_name: str | None = None,
        *,
        protocol: str = "http/protobuf",
        propagate: bool = False,
    ) -> dict[str, str]:
        """Environment for a child process whose OpenTelemetry SDK should export here."""
        return self.otlp_receiver.otlp_env(service_name, protocol=protocol, propagate=propagate)

    def _receiver_findings(self) -> list[str]:
        if not self._receiver_problems:
            return []
        return [
            message(
                f"The OTLP receiver refused {len(self._receiver_problems)} export(s) "
                "during this test; spans in them were lost:",
                self._receiver_problems,
                "Fix the sender's exporter configuration (agenttrace.otlp_env() sets it "
                "up). See docs/remote.md#bad-input",
            )
        ]
