"""Policy checks: attributes, span budgets, retries, errors, timing, unfinished spans."""

from __future__ import annotations


class PolicyChecks:
    """Mixed into AgentTrace: assertions about what a healthy trace looks like."""

    def _policy_problems(self) -> list[str]:
        return []
