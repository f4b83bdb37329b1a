"""The failure messages the policy pages show, checked verbatim by the docs examples.

Each message lives in docs/snippets/policies/<name>.txt, which the page includes.
Run with AGENTTRACE_UPDATE_SNIPPETS=1 to rewrite the files after changing a message.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

SNIPPETS = Path(__file__).parent / "snippets" / "policies"

# Parts that differ from run to run: trace ids and wall-clock ages.
_VOLATILE = [
    (re.compile(r"\b[0-9a-f]{32}\b"), "<trace id>"),
    (re.compile(r"open for \d+\.\d\d s"), "open for <age> s"),
]


def _normalise(text: str) -> str:
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return text.rstrip("\n")


def check_message(actual: str, name: str) -> None:
    """The message equals the one shown in the docs (up to trace ids and ages)."""
    path = SNIPPETS / f"{name}.txt"
    if os.environ.get("AGENTTRACE_UPDATE_SNIPPETS"):
        path.write_text(actual.rstrip("\n") + "\n", encoding="utf-8")
    shown = path.read_text(encoding="utf-8")
    assert _normalise(actual) == _normalise(shown), f"docs/snippets/policies/{name}.txt is stale"
