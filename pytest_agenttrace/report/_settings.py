"""The session's settings for seeing traces: `--agenttrace-export`, `--agenttrace-forward`,
`--agenttrace-trace-url` (and their ini keys).

Per session, not per test (one directory, one backend), so there is no marker
form. Imports nothing heavy: plugin.py validates these before any test runs, and
a bad value is a `pytest.UsageError` naming the setting.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import string
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

TRACES_PATH = "/v1/traces"
DEFAULT_GRPC_PORT = 4317
TRACE_URL_FIELDS = ("trace_id",)
_SETTINGS = {
    "export": "write each captured test's spans to DIR as one OTLP JSON file per test",
    "forward": "send each captured test's spans to a live OTLP endpoint: "
    "http(s)://host:4318 (OTLP/HTTP) or grpc://host:4317 (OTLP/gRPC), e.g. Jaeger",
    "trace_url": "turn the trace ids of the report section into links, e.g. "
    "http://localhost:16686/trace/{trace_id}",
}
_EXPORTERS = {
    "http": ("opentelemetry.exporter.otlp.proto.http", "opentelemetry-exporter-otlp-proto-http"),
    "grpc": ("opentelemetry.exporter.otlp.proto.grpc", "opentelemetry-exporter-otlp-proto-grpc"),
}


@dataclasses.dataclass(frozen=True)
class ForwardTarget:
    """Where forwarded spans go: an OTLP/HTTP traces URL, or a gRPC `host:port`."""

    protocol: str  # "http" or "grpc"
    endpoint: str
    insecure: bool  # gRPC without TLS (grpc://)
    given: str  # as the user wrote it, for messages


@dataclasses.dataclass(frozen=True)
class SeeingSettings:
    export_dir: Path | None = None
    forward: ForwardTarget | None = None
    trace_url: str | None = None


def add_seeing_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("agenttrace")
    for name, help_text in _SETTINGS.items():
        flag = "--agenttrace-" + name.replace("_", "-")
        metavar = {"export": "DIR", "forward": "URL", "trace_url": "TEMPLATE"}[name]
        group.addoption(
            flag, default=None, dest=f"agenttrace_{name}", metavar=metavar, help=help_text
        )
        parser.addini(f"agenttrace_{name}", help_text)


def _raw(config: pytest.Config, name: str) -> tuple[str | None, str, Path]:
    """(value, where it came from, the directory a relative path is relative to)."""
    value = config.getoption(f"agenttrace_{name}")
    if value is not None:
        flag = "--agenttrace-" + name.replace("_", "-")
        return str(value).strip() or None, flag, config.invocation_params.dir
    ini = config.getini(f"agenttrace_{name}")
    base = config.inipath.parent if config.inipath else config.rootpath
    return (str(ini).strip() or None), f"ini option agenttrace_{name}", base


def seeing_settings(config: pytest.Config) -> SeeingSettings:
    """The validated settings; a bad value is a usage error naming the option."""
    export, export_source, base = _raw(config, "export")
    forward, forward_source, _ = _raw(config, "forward")
    trace_url, trace_url_source, _ = _raw(config, "trace_url")
    return SeeingSettings(
        export_dir=None if export is None else export_directory(export, base, export_source),
        forward=None if forward is None else forward_target(forward, forward_source),
        trace_url=None if trace_url is None else trace_url_template(trace_url, trace_url_source),
    )


def export_directory(value: str, base: Path, source: str) -> Path:
    """The directory, created if need be and checked writable now, not at the first test."""
    directory = (base / Path(value).expanduser()).resolve()
    problem = None
    if directory.exists() and not directory.is_dir():
        problem = "it is a file, not a directory"
    else:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=directory):
                pass
        except OSError as error:
            problem = f"it cannot be written ({error.strerror or error})"
    if problem is not None:
        raise pytest.UsageError(
            f"{source}: cannot export OTLP JSON to {str(directory)!r}: {problem}. "
            f"Give a directory this run may create or write to."
        )
    return directory


def forward_target(value: str, source: str) -> ForwardTarget:
    usage = (
        "use http://host:4318 or https://... (OTLP/HTTP: a base URL, or the full "
        f"{TRACES_PATH} URL) or grpc://host:4317 (OTLP/gRPC; grpcs:// for TLS)"
    )
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as error:
        raise pytest.UsageError(f"{source}: {value!r} is not a URL ({error}); {usage}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "grpc", "grpcs") or not parts.hostname:
        raise pytest.UsageError(f"{source}: {value!r} is not an OTLP endpoint; {usage}")
    protocol = "grpc" if scheme.startswith("grpc") else "http"
    module, package = _EXPORTERS[protocol]
    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:
        found = False
    if not found:
        extra = "grpc" if protocol == "grpc" else "forward"
        raise pytest.UsageError(
            f"{source}: forwarding over OTLP/{protocol.upper()} needs {package}: "
            f"pip install 'pytest-agenttrace-otel[{extra}]'"
        )
    if protocol == "grpc":
        if parts.path not in ("", "/") or parts.query:
            raise pytest.UsageError(
                f"{source}: {value!r}: a gRPC endpoint is host:port only, without a path; {usage}"
            )
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        endpoint = f"{host}:{port or DEFAULT_GRPC_PORT}"
        return ForwardTarget("grpc", endpoint, scheme == "grpc", value)
    path = parts.path.rstrip("/")
    if not path.endswith(TRACES_PATH):
        path += TRACES_PATH  # a base URL, as OTEL_EXPORTER_OTLP_ENDPOINT takes
    endpoint = parts._replace(scheme=scheme, path=path, fragment="").geturl()
    return ForwardTarget("http", endpoint, False, value)


def trace_url_template(value: str, source: str) -> str:
    """A template with `{trace_id}` (and `{{`/`}}` for literal braces), checked now."""
    fix = "the template may use {trace_id} (32 hex digits); write a literal brace as {{ or }}"
    try:
        fields = [
            (name, spec, conversion)
            for _, name, spec, conversion in string.Formatter().parse(value)
            if name is not None
        ]
    except ValueError as error:
        raise pytest.UsageError(f"{source}: {value!r} is not a template ({error}); {fix}") from None
    for name, spec, conversion in fields:
        if name not in TRACE_URL_FIELDS:
            shown = "{}" if name == "" else "{" + name + "}"
            raise pytest.UsageError(f"{source}: unknown placeholder {shown} in {value!r}; {fix}")
        if spec or conversion:
            raise pytest.UsageError(
                f"{source}: {value!r}: write the placeholder as {{trace_id}}, without a "
                f"format or conversion"
            )
    if not fields:
        raise pytest.UsageError(f"{source}: {value!r} has no {{trace_id}} placeholder; {fix}")
    return value


def trace_link(template: str, trace_id: int) -> str:
    return template.format(trace_id=f"{trace_id:032x}")
