"""Propagation checks: fragments, orphans, broken hops, the propagator spy."""

from __future__ import annotations


class PropagationChecks:
    """Mixed into AgentTrace: assertions about context propagation."""

    def _start_propagation_checks(self) -> None:
        pass

    def _stop_propagation_checks(self) -> None:
        pass

    def _propagation_problems(self) -> list[str]:
        return []
