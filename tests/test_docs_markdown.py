"""Every code example written inline in docs/*.md runs (the others are included
from docs/*_example.py files, which pytest collects directly)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def inline_blocks() -> list[tuple[str, int, str]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        blocks = PYTHON_BLOCK.findall(page.read_text(encoding="utf-8"))
        for index, code in enumerate(blocks, start=1):
            if "--8<--" not in code:
                found.append((page.name, index, code))
    return found


BLOCKS = inline_blocks()


def test_the_docs_have_inline_examples_to_run() -> None:
    assert BLOCKS, "no inline python blocks found: has the docs layout changed?"


@pytest.mark.parametrize(
    "code", [code for *_, code in BLOCKS], ids=[f"{page}-{index}" for page, index, _ in BLOCKS]
)
def test_inline_example_runs(code: str) -> None:
    exec(compile(code, "<docs example>", "exec"), {"__name__": "docs_example"})
