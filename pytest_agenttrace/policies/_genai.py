"""OpenTelemetry GenAI semantic conventions, checked from the rule table in genai_rules.json."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from opentelemetry.trace import StatusCode

from .._errors import message
from ..capture._query import CapturedSpan, NamePattern, name_matches
from ._findings import collapse_repeats, docs, where

LEVELS = ("required", "recommended")


@functools.cache
def rules() -> Mapping[str, Any]:
    text = resources.files("pytest_agenttrace").joinpath("genai_rules.json").read_text("utf-8")
    loaded: Mapping[str, Any] = json.loads(text)
    return loaded


def operation_of(span: CapturedSpan) -> str | None:
    """The GenAI operation: `gen_ai.operation.name`, else the span name's first word."""
    value = span.attributes.get("gen_ai.operation.name")
    if isinstance(value, str):
        return value
    first = span.name.split(" ", 1)[0]
    return first if first in rules()["operations"] else None


def role_of(span: CapturedSpan, workflow: NamePattern | None = None) -> str | None:
    return _role(span, operation_of(span), workflow)


def _role(span: CapturedSpan, operation: str | None, workflow: NamePattern | None) -> str | None:
    if operation in rules()["workflow_operations"] or (
        workflow is not None and name_matches(workflow, span.name)
    ):
        return "workflow"
    rule = rules()["operations"].get(operation)
    return None if rule is None else str(rule["role"])


class _Lineage:
    """The GenAI roles above each span: all of them, and the nearest one.

    Worked out once per span, from its parent's, without recursion: checking each
    span's ancestors anew costs the square of the depth (an agent calling itself).
    """

    _NOTHING_ABOVE: tuple[frozenset[str], str | None] = (frozenset(), None)

    def __init__(self, workflow: NamePattern | None) -> None:
        self.workflow = workflow
        self.roles: dict[int, str | None] = {}  # span id -> its role
        self._above: dict[int, tuple[frozenset[str], str | None]] = {}

    def role(self, span: CapturedSpan) -> str | None:
        key = id(span)
        if key not in self.roles:
            self.roles[key] = role_of(span, self.workflow)
        return self.roles[key]

    def above(self, span: CapturedSpan) -> tuple[frozenset[str], str | None]:
        """(the roles of the span's ancestors, the nearest ancestor's role)."""
        chain = []
        parent: CapturedSpan | None = span
        while parent is not None and id(parent) not in self._above:
            chain.append(parent)
            parent = parent.parent
        known = self._NOTHING_ABOVE if parent is None else self._above[id(parent)]
        for link in reversed(chain):  # from the top down: `parent` is link's parent
            role = None if parent is None else self.role(parent)
            if role is not None:
                known = (known[0] | {role}, role)
            self._above[id(link)] = known
            parent = link
        return known


def _provider_alias(span: CapturedSpan) -> dict[str, str]:
    """Deprecated attribute -> its replacement, for each replacement the span lacks."""
    found = {}
    for old, info in rules()["deprecated_attributes"].items():
        new = info["replacement"]
        if old in span.attributes and new not in span.attributes:
            found[old] = new
    return found


def span_findings(
    span: CapturedSpan, operation: str | None, level: str, deprecated: str
) -> tuple[list[str], list[str]]:
    """(problems, notes) for one span (of `operation`) against its operation's rule."""
    rule = rules()["operations"].get(operation)
    if rule is None:
        return [], []
    problems: list[str] = []
    notes: list[str] = []
    attributes = span.attributes
    aliases = _provider_alias(span)
    for old, new in aliases.items():
        since = rules()["deprecated_attributes"][old]["since"]
        text = f"uses deprecated {old} instead of {new} (renamed in semantic conventions {since})"
        if deprecated == "fail":
            problems.append(text)
        elif deprecated == "warn":
            notes.append(text)
    present = set(attributes) | set(aliases.values())  # the deprecation finding covers it

    named_value = span.name.split(" ", 1)[1] if " " in span.name else None
    placeholder = rule["span_name"].split(" ", 1)[1].strip("{}")
    for key, spec in rule["attributes"].items():
        if key in present:
            continue
        wanted = spec["level"]
        when = spec.get("when")
        if wanted == "required":
            problems.append(f"missing {key} (required)")
        elif wanted == "conditionally_required":
            if when == "in_span_name" and named_value is not None and key == placeholder:
                problems.append(
                    f"missing {key} (conditionally required: the span name says {named_value!r})"
                )
            elif when == "error" and span.status is StatusCode.ERROR:
                problems.append(f"missing {key} (conditionally required: the span failed)")
        elif wanted == "recommended" and level == "recommended":
            problems.append(f"missing {key} (recommended)")

    actual_operation = attributes.get("gen_ai.operation.name")
    if actual_operation is not None and span.name.split(" ", 1)[0] != actual_operation:
        problems.append(
            f"span name should start with the operation {actual_operation!r} "
            f"(shape {rule['span_name']!r})"
        )
    value = attributes.get(placeholder)
    if value is not None and actual_operation is not None:
        expected_name = f"{actual_operation} {value}"
        if span.name != expected_name:
            problems.append(f"span name should be {expected_name!r} (shape {rule['span_name']!r})")
    kind = span.kind.name.lower()
    if kind not in rule["span_kinds"]:
        problems.append(f"span kind is {kind}, expected {' or '.join(rule['span_kinds'])}")
    return problems, notes


def structure_findings(span: CapturedSpan, lineage: _Lineage) -> list[str]:
    role = lineage.role(span)
    if role is None:
        return []
    above, nearest = lineage.above(span)
    found = []
    for rule in rules()["structure"].values():
        if role not in rule["roles"]:
            continue
        if "ancestor_roles" in rule and above.isdisjoint(rule["ancestor_roles"]):
            found.append(rule["text"])
        if (
            "nearest_roles" in rule
            and not above.isdisjoint(rule["applies_when_ancestor_roles"])
            and nearest not in rule["nearest_roles"]
        ):
            found.append(rule["text"])
    return found


def genai_problems(
    spans: Sequence[CapturedSpan],
    *,
    level: str,
    deprecated: str,
    structure: bool = True,
    workflow: NamePattern | None = None,
    source: str = "",
) -> tuple[list[str], list[str]]:
    """(failure messages, warning-level notes) for the GenAI spans among `spans`."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    bullets = []
    note_bullets = []
    checked = 0
    lineage = _Lineage(workflow)
    for span in spans:
        operation = operation_of(span)  # once per span: it reads the attributes
        problems, notes = span_findings(span, operation, level, deprecated)
        if operation is not None:
            checked += 1
        if structure:
            lineage.roles[id(span)] = _role(span, operation, workflow)
            problems += structure_findings(span, lineage)
        if problems:
            bullets.append(f"{where(span)}: {'; '.join(problems)}")
        if notes:
            note_bullets.append(f"{where(span)}: {'; '.join(notes)}")
    spec = rules()["spec"]
    pointer = (
        f"Rules: pytest_agenttrace/genai_rules.json, encoding GenAI semantic conventions "
        f"v{spec['version']} ({spec['spans']}). See {docs('genai.md')}"
    )
    failures = []
    if bullets:
        failures.append(
            message(
                f"{len(bullets)} of {checked} GenAI span(s) break the OpenTelemetry GenAI "
                f"semantic conventions {source.strip() or f'(level {level})'}:",
                collapse_repeats(bullets),
                pointer,
            )
        )
    warnings = []
    if note_bullets:
        warnings.append(
            message(
                f"{len(note_bullets)} GenAI span(s) use deprecated attribute names "
                f"(accepted; genai_deprecated='fail' rejects them, 'allow' silences this):",
                collapse_repeats(note_bullets),
                pointer,
            )
        )
    return failures, warnings
