"""The receiver's session settings: ini `agenttrace_otlp_*`, flags `--agenttrace-otlp-*`.

Per session, not per test (a port or a bind address can't change under a
running service), so there is no marker form. Imports nothing heavy: plugin.py
reads these before any test runs.
"""

from __future__ import annotations

from typing import Any

import pytest

START_CHOICES = ("first-use", "session")
MAX_BODY_SETTING = "agenttrace_otlp_max_body"  # named by every over-the-limit refusal
_SETTINGS = {
    # name: (help, default)
    "otlp_start": (
        "when the OTLP receiver starts: first-use (default; when a test or fixture asks "
        "for its endpoint) or session (at session start, for services started by "
        "session fixtures before any capture exists)",
        "first-use",
    ),
    "otlp_host": ("address the OTLP receiver binds (default 127.0.0.1)", "127.0.0.1"),
    "otlp_http_port": ("OTLP/HTTP port of the receiver (default 0: a free port)", "0"),
    "otlp_grpc_port": ("OTLP/gRPC port of the receiver (default 0: a free port)", "0"),
    "otlp_max_body": (
        "largest OTLP request body the receiver takes, in bytes, after decompression "
        "(default 33554432)",
        "33554432",
    ),
}


def add_receiver_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("agenttrace")
    for name, (help_text, _default) in _SETTINGS.items():
        flag = "--agenttrace-" + name.replace("_", "-")
        group.addoption(flag, default=None, dest=f"agenttrace_{name}", help=help_text)
        parser.addini(f"agenttrace_{name}", help_text)


def _raw(config: pytest.Config, name: str) -> str:
    value = config.getoption(f"agenttrace_{name}")
    if value is None:
        value = config.getini(f"agenttrace_{name}") or _SETTINGS[name][1]
    return str(value).strip()


def _port(config: pytest.Config, name: str) -> int:
    raw = _raw(config, name)
    if not raw.isdigit() or int(raw) > 65535:
        raise pytest.UsageError(
            f"agenttrace_{name} = {raw!r}: a port number from 0 to 65535 (0: a free port)"
        )
    return int(raw)


def receiver_settings(config: pytest.Config) -> dict[str, Any]:
    """Keyword arguments for OtlpReceiver, validated: a bad value is a usage error."""
    start = _raw(config, "otlp_start")
    if start not in START_CHOICES:
        raise pytest.UsageError(
            f"agenttrace_otlp_start = {start!r}: valid values are {', '.join(START_CHOICES)}"
        )
    max_body = _raw(config, "otlp_max_body")
    if not max_body.isdigit() or len(max_body) > 15 or int(max_body) == 0:
        raise pytest.UsageError(
            f"agenttrace_otlp_max_body = {max_body!r}: a positive number of bytes"
        )
    http_port, grpc_port = _port(config, "otlp_http_port"), _port(config, "otlp_grpc_port")
    # both fixed: workers step by more than their distance, so that no worker's port
    # is another's (4318 and 4317: gw1 on 4320 and 4319, not 4319 and 4318)
    step = abs(http_port - grpc_port) + 1 if http_port and grpc_port else 1
    settings = {
        "host": _raw(config, "otlp_host"),
        "http_port": _worker_port(config, http_port, step),
        "grpc_port": _worker_port(config, grpc_port, step),
        "max_body": int(max_body),
    }
    host = str(settings["host"])
    if not is_loopback(host):
        from .._errors import AgentTraceWarning

        config.issue_config_time_warning(AgentTraceWarning(exposed_warning(host)), stacklevel=2)
    SESSION_SETTINGS.clear()
    SESSION_SETTINGS.update(settings)
    return settings


# what receiver_settings() resolved for this session: the receiver starts with these
SESSION_SETTINGS: dict[str, Any] = {}


def _worker_port(config: pytest.Config, port: int, step: int) -> int:
    """A fixed port under xdist: worker gwN listens on port + N * step (each needs its own)."""
    worker = getattr(config, "workerinput", {}).get("workerid", "")
    if port and worker.startswith("gw") and worker[2:].isdigit():
        return port + int(worker[2:]) * step
    return port


def exposed_warning(host: str) -> str:
    return (
        f"the OTLP receiver binds {host}, not loopback (agenttrace_otlp_host): any host "
        f"that reaches this machine can send spans into the running test"
    )


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def starts_at_session(config: pytest.Config) -> bool:
    return _raw(config, "otlp_start") == "session"
