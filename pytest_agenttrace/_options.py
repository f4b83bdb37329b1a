"""Settings: default < ini `agenttrace_*` < command line `--agenttrace-*` < marker.

Every setting is one field of `AgentTraceOptions`; its metadata says how to read
it from text (ini and command line) and how to check a marker value, so adding
a setting is adding a field.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest

Parse = Callable[[Any], Any]


def choice(*valid: str) -> Parse:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in valid:
            raise ValueError(f"{_shown(value)} is not one of: {', '.join(valid)}")
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
    raise ValueError(f"{_shown(value)} is not a boolean (true/false)")


def non_negative_int(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"{_shown(value)} is not a whole number")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{_shown(value)} is not a whole number") from None
    if number < 0:
        raise ValueError(f"{_shown(value)} is negative")
    return number


def line_count(value: Any) -> int:
    """A number of output lines: a whole number, 0 for no bound."""
    number = non_negative_int(value)
    if number is None:
        raise ValueError(f"{_shown(value)} is not a whole number of lines (0: no bound)")
    return number


def _entries(value: Any, what: str) -> list[tuple[str, Any]]:
    """(pattern, raw value) pairs from a mapping (marker) or text (ini, command line).

    Text is a JSON object, or one `pattern: value` entry per line (`;` also
    separates entries, `=` also separates pattern from value). The pattern is
    split off at the last separator, so span names with spaces or `/` work.
    """
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [(str(key), item) for key, item in value.items()]
    if isinstance(value, (list, tuple)) and all(
        isinstance(item, (list, tuple)) and len(item) == 2 for item in value
    ):
        return [(str(key), item) for key, item in value]
    if not isinstance(value, str):
        raise ValueError(f"{_shown(value)} is not a mapping of span name patterns to {what}")
    text = value.strip()
    if not text or text.lower() == "none":
        return []
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{_shown(text)} is not valid JSON: {error}") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"{_shown(text)} is not a JSON object")
        return [(str(key), item) for key, item in loaded.items()]
    entries = []
    for raw in re.split(r"[;\n]", text):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        cut = max(line.rfind(":"), line.rfind("="))
        pattern, item = line[:cut].strip(), line[cut + 1 :].strip()
        if cut <= 0 or not pattern or not item:
            raise ValueError(
                f"{_shown(line)} is not `span-name-pattern: {what}` (one entry per line or `;`)"
            )
        entries.append((pattern, item))
    return entries


def attribute_rules(value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`{"agent.*": ["agent.version"]}` or text lines `agent.*: agent.version, agent.name`."""
    rules = []
    for pattern, keys in _entries(value, "attribute keys"):
        if isinstance(keys, str):
            keys = [key.strip() for key in keys.split(",")]
        if not isinstance(keys, (list, tuple, set, frozenset)) or not all(
            isinstance(key, str) and key for key in keys
        ):
            raise ValueError(f"{_shown(pattern)}: {_shown(keys)} is not a list of attribute keys")
        rules.append((pattern, tuple(keys)))
    return tuple(rules)


def seconds(value: Any) -> float:
    """A duration in seconds: a number, or text like `4`, `4s`, `250ms`."""
    if isinstance(value, bool):
        raise ValueError(f"{_shown(value)} is not a duration")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s)?\s*", str(value))
        if match is None:
            raise ValueError(f"{_shown(value)} is not a duration (seconds, e.g. 4, 4s or 250ms)")
        number = float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)
    if number != number:  # NaN compares false with everything: the check would never fire
        raise ValueError(f"{_shown(value)} is not a duration (seconds, e.g. 4, 4s or 250ms)")
    if number < 0:
        raise ValueError(f"{_shown(value)} is negative")
    return number


def optional_seconds(value: Any) -> float | None:
    if value is None or str(value).strip().lower() in ("", "none"):
        return None
    return seconds(value)


def budget_map(value: Any) -> tuple[tuple[str, float], ...]:
    """`{"orchestrator": 4, "risk_*": 3}` or text lines `orchestrator: 4s`."""
    budgets = []
    for pattern, item in _entries(value, "seconds"):
        try:
            budgets.append((pattern, seconds(item)))
        except ValueError as error:
            raise ValueError(f"{_shown(pattern)}: {error}") from None
    return tuple(budgets)


def retry_limits(value: Any) -> tuple[tuple[str, int], ...]:
    """A whole number (every operation) or `{"embed*": 2}` / text lines `embed*: 2`."""
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        number = non_negative_int(value)
        return () if number is None else (("*", number),)
    limits = []
    for pattern, item in _entries(value, "a whole number"):
        try:
            number = non_negative_int(item)
        except ValueError as error:
            raise ValueError(f"{_shown(pattern)}: {error}") from None
        if number is not None:
            limits.append((pattern, number))
    return tuple(limits)


def key_globs(value: Any) -> tuple[str, ...]:
    """Lines or comma-separated attribute-key globs; `!glob` marks keys as stable."""
    if isinstance(value, str):
        entries = [part for line in value.splitlines() for part in line.split(",")]
    elif isinstance(value, (list, tuple)):
        entries = list(value)
    else:
        raise ValueError(f"expected key globs (lines, or a list of str), got {_shown(value)}")
    found = []
    for entry in entries:
        if not isinstance(entry, str):
            raise ValueError(f"entries must be key globs (str), got {_shown(entry)}")
        entry = entry.strip()
        if entry == "!" or (entry.startswith("!") and not entry[1:].strip()):
            raise ValueError(f"{_shown(entry)}: '!' needs a key glob after it (!http.url)")
        if entry:
            found.append(entry)
    return tuple(found)


def setting(default: Any, parse: Parse, help: str) -> Any:
    return dataclasses.field(default=default, metadata={"parse": parse, "help": help})


DEFAULT_OUTPUT_LINES = 150  # failure output's length at most, by default


@dataclasses.dataclass(frozen=True)
class AgentTraceOptions:
    """The resolved settings for one test."""

    report: str = setting(
        "failed",
        choice("failed", "always", "never"),
        "when to add the captured trace to the test report: failed (default), always, never",
    )
    output_lines: int = setting(
        DEFAULT_OUTPUT_LINES,
        line_count,
        "most lines of failure output (the report section) before the rest goes to a "
        "file whose path it prints: default 150, 0 for no bound",
    )
    strict: bool = setting(
        False,
        boolean,
        "fail tests whose capture shows broken context propagation (see docs/propagation.md)",
    )
    # -- policies (checked at teardown; see docs/policies.md) --------------------
    unfinished_spans: str = setting(
        "fail",
        choice("fail", "warn", "ignore"),
        "spans still open when the test body returns: fail (default), warn, ignore",
    )
    require_attributes: tuple[tuple[str, tuple[str, ...]], ...] = setting(
        (),
        attribute_rules,
        "attributes spans must carry: lines `span-glob: key, key` (or a JSON object)",
    )
    max_spans_per_trace: int | None = setting(
        None,
        non_negative_int,
        "fail when one trace has more spans than this (the field notes suggest 50)",
    )
    max_retries: tuple[tuple[str, int], ...] = setting(
        (),
        retry_limits,
        "most retries allowed per operation: a number, or lines `span-glob: number`",
    )
    span_errors: str = setting(
        "allow",
        choice("allow", "fail"),
        "spans with ERROR status or exception events: allow (default), fail",
    )
    timeout_budgets: tuple[tuple[str, float], ...] = setting(
        (),
        budget_map,
        "per-span timeout budgets checked against the captured critical path: "
        "lines `span-glob: seconds`",
    )
    max_duration: float | None = setting(
        None,
        optional_seconds,
        "fail when any span lasts longer than this many seconds",
    )
    outliving_children: str = setting(
        "ignore",
        choice("fail", "ignore"),
        "spans that end after their parent ended (leaked tasks): fail, ignore (default)",
    )
    partial_sampling: str = setting(
        "ignore",
        choice("fail", "ignore"),
        "a sampled span whose parent was dropped by the sampler: fail, ignore (default)",
    )
    genai_conventions: str = setting(
        "off",
        choice("off", "required", "recommended"),
        "check OpenTelemetry GenAI semantic conventions: off (default), required, recommended",
    )
    volatile_attributes: tuple[str, ...] = setting(
        (),
        key_globs,
        "attribute keys (globs) whose values a failure's tree prints as matchers, not "
        "literals, besides the default list; !glob prints those keys literally",
    )
    genai_deprecated: str = setting(
        "warn",
        choice("warn", "fail", "allow"),
        "deprecated GenAI attribute names (gen_ai.system): warn (default), fail, allow",
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
        problem = str(error)
    except OverflowError:  # max_duration=10**400: no float holds it
        problem = f"{_shown(value)} is too large"
    except RecursionError:  # JSON nested thousands deep
        problem = "the value is nested too deeply to read"
    except Exception as error:  # a marker value whose __str__ or __eq__ raises
        problem = f"the value could not be read ({type(error).__name__}: {error})"
    raise pytest.UsageError(f"{source}: {problem}")


def _shown(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__: name the type instead
        return f"a {type(value).__name__}"
    return text if len(text) <= 60 else f"{text[:57]}... ({len(text):,} characters)"


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
    if item.get_closest_marker("agenttrace") is None:
        return suite  # most tests: no marker, nothing to merge (frozen, so shared)
    fields = {field.name: field for field in _fields()}
    values: dict[str, Any] = {}
    # iter_markers yields closest first: keep the first value seen for each key.
    for marker in item.iter_markers("agenttrace"):
        if marker.args:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.agenttrace takes keyword arguments only, "
                f"got positional {_shown(marker.args)}. Valid: {', '.join(fields)}"
            )
        for key, value in marker.kwargs.items():
            if key not in fields:
                close = difflib.get_close_matches(key, fields, n=1)
                suggestion = f" Did you mean {close[0]!r}?" if close else ""
                raise pytest.UsageError(
                    f"{item.nodeid}: unknown @pytest.mark.agenttrace argument {key!r}."
                    f"{suggestion} Valid arguments: {', '.join(fields)}"
                )
            if key not in values:
                values[key] = _parse(
                    fields[key], value, f"{item.nodeid}: @pytest.mark.agenttrace({key}=...)"
                )
    return dataclasses.replace(suite, **values)


def marker_help() -> str:
    names = ", ".join(f"{field.name}=..." for field in _fields())
    return f"agenttrace({names}): per-test pytest-agenttrace settings (override ini and flags)"
