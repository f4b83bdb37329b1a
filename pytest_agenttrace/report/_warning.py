"""A problem of export or forwarding, told once in the session's warnings summary."""

from __future__ import annotations

import warnings

from .._errors import AgentTraceWarning


def warn_for_session(message: str) -> None:
    """One AgentTraceWarning, even under `filterwarnings = error`: a backend that is
    down or a full disk must not fail the user's suite."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", AgentTraceWarning)
        warnings.warn(AgentTraceWarning(message), stacklevel=2)
