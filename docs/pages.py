"""The docs pages as test modules, and the named blocks on them.

Each docs/*.md page is a test module (docs/conftest.py collects it): its ```python
blocks, in order, make one module, each block at its own lines of the page, so a
traceback points into the .md. Around a fence, HTML comments (hidden on the site
and on the forge) say more:

- `<!-- file: NAME -->` on its own line before a fence (only blank lines between)
  names the block: a file that an example writes (`block(NAME)` returns its
  text), not part of the page module;
- `<!-- pinned: NAME -->` before a ```text fence names a pinned output:
  `check_message(actual, NAME)` compares it with the real one;
- `<!-- check` on the line before a ```python fence and `-->` on the line after
  it hide the block from the page. It is still part of the page module: code that
  exists only to verify, such as the tests of the pinned outputs. Since the blocks
  make one module, a hidden block may open a test that a shown block continues.

Names are unique across docs/. Run with AGENTTRACE_UPDATE_SNIPPETS=1 to rewrite
the pinned blocks with the actual output.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parent

_FENCE = re.compile(r"(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*")
_NAME = re.compile(r" *<!-- (?P<kind>file|pinned): (?P<name>\S+) -->\s*")
_CHECK = re.compile(r"<!-- check\s*")
_PYTHON = {"python", "py"}

# Parts that differ from run to run: trace ids and wall-clock ages.
_VOLATILE = [
    (re.compile(r"\b[0-9a-f]{32}\b"), "<trace id>"),
    (re.compile(r"open for \d+\.\d\d s"), "open for <age> s"),
]


class PageError(Exception):
    """A page whose blocks cannot be read (a marker without its fence, a name twice...)."""


@dataclass(frozen=True)
class Block:
    page: Path
    kind: str  # "code" (shown), "check" (hidden), "file", "pinned" or "other"
    name: str | None
    start: int  # line number (1-based) of the first line of the content
    indent: str  # the fence's indentation, removed from the content lines
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """The content as a file holds it (each line ends in a newline)."""
        return "".join(line + "\n" for line in self.lines)

    @property
    def in_module(self) -> bool:
        return self.kind in ("code", "check")

    @property
    def where(self) -> str:
        return f"{_shown(self.page)}:{self.start - 1}"


def _shown(page: Path) -> str:
    try:
        return str(page.relative_to(DOCS.parent))
    except ValueError:
        return str(page)


def parse(page: Path) -> list[Block]:
    """The fenced blocks of a page, named and classified."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    pending: tuple[str, str, int] | None = None  # kind, name, line number of the marker

    def fail(lineno: int, message: str) -> PageError:
        return PageError(f"{_shown(page)}:{lineno}: {message}")

    def read_fence(i: int) -> tuple[str, str, tuple[str, ...], int]:
        """The fence opening at index i: (indent, info, content, index of its closing line)."""
        match = _FENCE.fullmatch(lines[i])
        assert match is not None
        indent, fence = match["indent"], match["fence"]
        closing = re.compile(rf"{re.escape(indent)}{re.escape(fence[0])}{{{len(fence)},}}\s*")
        content = []
        for j in range(i + 1, len(lines)):
            if closing.fullmatch(lines[j]):
                return indent, match["info"], tuple(content), j
            if lines[j].strip() and not lines[j].startswith(indent):
                raise fail(j + 1, f"a line of the block opened at line {i + 1} is not indented")
            content.append(lines[j][len(indent) :])
        raise fail(i + 1, "the block never ends")

    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.fullmatch(line)
        if _CHECK.fullmatch(line):
            opening = _FENCE.fullmatch(lines[i + 1]) if i + 1 < len(lines) else None
            if pending or not opening or opening["indent"] or opening["info"] not in _PYTHON:
                raise fail(i + 1, "`<!-- check` must stand right before a ```python fence")
            _, _, content, end = read_fence(i + 1)
            if end + 1 >= len(lines) or lines[end + 1].strip() != "-->":
                raise fail(end + 1, "a hidden check block ends with `-->` on the next line")
            if any("-->" in line for line in content):
                raise fail(i + 1, "a hidden check block cannot hold `-->`: it ends the comment")
            blocks.append(Block(page, "check", None, i + 3, "", content))
            i = end + 2
        elif named := _NAME.fullmatch(line):
            if pending:
                raise fail(pending[2], "a name for a block, but no fence follows it")
            pending = (named["kind"], named["name"], i + 1)
            i += 1
        elif fence:
            indent, info, content, end = read_fence(i)
            python = info.split(" ")[0] in _PYTHON if info else False
            if pending:
                kind, name, _ = pending
                pending = None
            else:
                kind, name = ("code" if python else "other"), None
            blocks.append(Block(page, kind, name, i + 2, indent, content))
            i = end + 1
        else:
            if pending and line.strip():
                raise fail(pending[2], "a name for a block, but no fence follows it")
            if line.lstrip().startswith("<!--") and "-->" not in line:
                # A comment: fences in it are commented out.
                while i < len(lines) and "-->" not in lines[i]:
                    i += 1
            i += 1
    if pending:
        raise fail(pending[2], "a name for a block, but no fence follows it")
    return blocks


def named_blocks(docs: Path = DOCS) -> dict[str, Block]:
    """Every named block of the pages in `docs`, by name (names are unique)."""
    found: dict[str, Block] = {}
    for page in sorted(docs.glob("*.md")):
        for block in parse(page):
            if block.name is None:
                continue
            if block.name in found:
                raise PageError(
                    f"two blocks are named {block.name!r}: {found[block.name].where}"
                    f" and {block.where}; names are unique across {_shown(docs)}/"
                )
            found[block.name] = block
    return found


def page_source(page: Path) -> str:
    """The page module's source: its python blocks at their own line numbers."""
    named_blocks(page.parent)  # a page is collected only if every name is unique
    lines = [""] * len(page.read_text(encoding="utf-8").splitlines())
    for block in parse(page):
        if block.in_module:
            lines[block.start - 1 : block.start - 1 + len(block.lines)] = block.lines
    return "\n".join(lines) + "\n"


def module_name(page: Path) -> str:
    """The page module's `__name__`: the name of the example module the page used to
    include, which shows in messages (`failures_example.RateLimitedError`)."""
    return f"{page.stem}_example"


def _find(name: str, kind: str | None = None) -> Block:
    blocks = named_blocks()
    if name not in blocks or (kind and blocks[name].kind != kind):
        raise LookupError(
            f"no {kind or 'named'} block {name!r} in docs/*.md"
            f" (a `<!-- {kind or 'file'}: {name} -->` line before a fence names one)"
        )
    return blocks[name]


def block(name: str) -> str:
    """The text of the block named `name` on any docs page, as a file holds it."""
    return _find(name).text


def _normalise(text: str) -> str:
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return text.rstrip("\n")


def _rewrite(pinned: Block, text: str) -> None:
    new = text.split("\n")
    if any(_FENCE.fullmatch(line) for line in new):
        raise PageError(f"{pinned.where}: the new text has a fence line, it cannot be pinned")
    lines = pinned.page.read_text(encoding="utf-8").splitlines(keepends=True)
    first = pinned.start - 1
    lines[first : first + len(pinned.lines)] = [
        f"{pinned.indent}{line}\n" if line else "\n" for line in new
    ]
    pinned.page.write_text("".join(lines), encoding="utf-8")


def check_message(actual: str, name: str) -> None:
    """The message equals the pinned block `name` (up to trace ids and ages)."""
    pinned = _find(name, "pinned")
    if os.environ.get("AGENTTRACE_UPDATE_SNIPPETS"):
        _rewrite(pinned, actual.rstrip("\n"))
        pinned = _find(name, "pinned")
    assert _normalise(actual) == _normalise(pinned.text), (
        f"the pinned block {name!r} ({pinned.where}) is stale"
        " (AGENTTRACE_UPDATE_SNIPPETS=1 rewrites it)"
    )
