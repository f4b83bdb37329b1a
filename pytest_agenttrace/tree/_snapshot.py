"""`agenttrace.assert_tree(snapshot())`: the trace's shape as an inline-snapshot.

inline-snapshot (extra `[snapshot]`) writes the value into the test file with
`pytest --inline-snapshot=create` and updates it with `--inline-snapshot=fix`; a
plain run compares, and a difference fails with a diff of the two shapes.
"""

from __future__ import annotations

import difflib
from typing import Any

EXTRA_HINT = (
    "snapshots of trace shapes need inline-snapshot: pip install 'pytest-agenttrace-otel[snapshot]'"
)


def is_snapshot(value: Any) -> bool:
    """An inline-snapshot `snapshot(...)` (told by its type's home, so that checking
    costs no import of inline-snapshot)."""
    return type(value).__module__.split(".")[0] == "inline_snapshot"


def snapshot_value(value: Any) -> Any:
    try:
        from inline_snapshot import get_snapshot_value
    except ImportError:  # pragma: no cover - a snapshot object implies the package
        raise ImportError(EXTRA_HINT) from None
    try:
        return get_snapshot_value(value, which="old")  # what the source shows
    except TypeError:  # an inline-snapshot without `which`: only one value to give
        return get_snapshot_value(value)


def assert_shape(shape: str, expected: Any) -> None:
    """Compare the shape with the snapshot; inline-snapshot records creations and fixes."""
    __tracebackhide__ = True
    if shape == expected:
        return
    stored = snapshot_value(expected)
    if not isinstance(stored, str):
        raise AssertionError(
            f"the trace's shape is text, but the snapshot holds {type(stored).__name__}: "
            "run pytest --inline-snapshot=fix to replace it"
        )
    diff = difflib.unified_diff(
        stored.splitlines(), shape.splitlines(), "snapshot", "captured", lineterm=""
    )
    raise AssertionError(
        "Trace shape differs from the snapshot:\n\n"
        + "\n".join(diff)
        + "\n\nRun pytest --inline-snapshot=fix to accept the captured shape (review the diff)."
    )
