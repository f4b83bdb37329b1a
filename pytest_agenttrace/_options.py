"""Settings: default < ini `agenttrace_*` < command line `--agenttrace-*` < marker.

Every setting is one field of `AgentTraceOptions`; its metadata says how to read
it from text (ini and command line) and how to check a marker value, so adding
a setting is adding a field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import pytest

Parse = Callable[[Any], Any]


def choice(*valid: str) -> Parse:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in valid:
            raise ValueError(f"{value!r} is not one of: {', '.join(valid)}")
        return text

    parse.valid = valid  # type: ignore[attr-defined]
    return parse


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not a boolean (true/false)")


def non_negative_int(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a whole number")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise ValueError(f"{value!r} is negative")
    return number


def setting(default: Any, parse: Parse, help: str) -> Any:
    return dataclasses.field(default=default, metadata={"parse": parse, "help": help})


@dataclasses.dataclass(frozen=True)
class AgentTraceOptions:
    """The resolved settings for one test."""

    report: str = setting(
        "failed",
        choice("failed", "always", "never"),
        "when to add the captured trace to the test report: failed (default), always, never",
    )


def _fields() -> Iterable[dataclasses.Field[Any]]:
    return dataclasses.fields(AgentTraceOptions)


def _flag(name: str) -> str:
    return "--agenttrace-" + name.replace("_", "-")


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("agenttrace", "OpenTelemetry trace assertions (pytest-agenttrace)")
    for field in _fields():
        help_text = field.metadata["help"]
        if field.metadata["parse"] is boolean:
            group.addoption(
                _flag(field.name),
                action="store_const",
                const=True,
                default=None,
                dest=f"agenttrace_{field.name}",
                help=help_text,
            )
            group.addoption(
                "--no-" + _flag(field.name)[2:],
                action="store_const",
                const=False,
                dest=f"agenttrace_{field.name}",
                help=f"turn off {_flag(field.name)}",
            )
        else:
            group.addoption(
                _flag(field.name), default=None, dest=f"agenttrace_{field.name}", help=help_text
            )
        parser.addini(f"agenttrace_{field.name}", help_text, default=None)


def _parse(field: dataclasses.Field[Any], value: Any, source: str) -> Any:
    try:
        return field.metadata["parse"](value)
    except ValueError as error:
        raise pytest.UsageError(f"{source}: {error}") from None


def suite_options(config: pytest.Config) -> AgentTraceOptions:
    """Ini and command line applied over the defaults; invalid values are usage errors."""
    values = {}
    for field in _fields():
        cli = config.getoption(f"agenttrace_{field.name}")
        if cli is not None:
            values[field.name] = _parse(field, cli, _flag(field.name))
            continue
        ini = config.getini(f"agenttrace_{field.name}")
        if ini not in (None, ""):
            values[field.name] = _parse(field, ini, f"ini option agenttrace_{field.name}")
    return AgentTraceOptions(**values)


def options_for_test(item: pytest.Item, suite: AgentTraceOptions) -> AgentTraceOptions:
    """Marker arguments over the suite settings; the marker closest to the test wins."""
    fields = {field.name: field for field in _fields()}
    values: dict[str, Any] = {}
    # iter_markers yields closest first: keep the first value seen for each key.
    for marker in item.iter_markers("agenttrace"):
        if marker.args:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.agenttrace takes keyword arguments only, "
                f"got positional {marker.args!r}. Valid: {', '.join(fields)}"
            )
        for key, value in marker.kwargs.items():
            if key not in fields:
                raise pytest.UsageError(
                    f"{item.nodeid}: unknown @pytest.mark.agenttrace argument {key!r}. "
                    f"Valid arguments: {', '.join(fields)}"
                )
            if key not in values:
                values[key] = _parse(
                    fields[key], value, f"{item.nodeid}: @pytest.mark.agenttrace({key}=...)"
                )
    return dataclasses.replace(suite, **values)


def marker_help() -> str:
    names = ", ".join(f"{field.name}=..." for field in _fields())
    return f"agenttrace({names}): per-test pytest-agenttrace settings (override ini and flags)"
