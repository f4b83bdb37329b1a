"""Output too long to print: the complete text goes to a file, the short text names it.

It imports nothing from the package, so any layer can bound its output with it (the
report section does; an assertion message can). The plugin points it at the
session's temporary directory, `<basetemp>/agenttrace/`: pytest keeps the last
three runs' and `--basetemp` moves it (for a CI artifact), and nothing is written
into the project. Outside a pytest session it writes under the system's
temporary directory.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

_MAX_READABLE = 120  # characters (all ASCII) of the node id kept in a file name
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# names Windows reserves for devices, with any extension (NUL.txt is NUL)
_RESERVED = {"con", "prn", "aux", "nul"} | {
    f"{port}{n}" for port in ("com", "lpt") for n in "0123456789"
}
_directories: list[Callable[[], Path]] = []  # innermost session last (pytester nests them)


def file_stem(node_id: str) -> str:
    """A file name (without extension) for a test, safe on any file system, one per node id.

    The readable part is the node id with `::` as `--` and every run of characters
    outside `[A-Za-z0-9._-]` as `_`: no path separators, nothing Windows refuses,
    no unicode that file systems normalise differently; cut to 120 characters.
    A hash of the whole node id follows, so ids that read the same after that
    (`[a/b]` and `[a_b]`, `A` and `a` on a case-insensitive disk, long ids cut
    short) still get files of their own.
    """
    readable = _UNSAFE.sub("_", node_id.replace("::", "--"))[:_MAX_READABLE].strip("._-")
    if readable.split(".", 1)[0].lower() in _RESERVED:
        readable = "_" + readable
    digest = hashlib.sha256(node_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{readable or 'test'}-{digest}"


def use_directory(directory: Callable[[], Path]) -> None:
    """Write complete texts under `directory()` (called on first use) until released."""
    _directories.append(directory)


def release_directory(directory: Callable[[], Path]) -> None:
    if directory in _directories:
        _directories.remove(directory)


def full_text_directory() -> Path:
    if _directories:
        return _directories[-1]()
    return Path(tempfile.gettempdir()) / "pytest-agenttrace"


FILES_PER_TEST = 20  # files of one kind for one test at most


def write_full_text(text: str, node_id: str, kind: str = "report") -> Path:
    """Write `text` to a new file `<directory>/<file_stem(node_id)>.<kind>.txt`; its path.

    Every call gets a file of its own, so the path an earlier message printed still
    holds that message's text: the next for the same test and kind (a second
    failing assertion, a rerun) is `<stem>.2.<kind>.txt`, and so on, up to
    FILES_PER_TEST (the last one then holds the latest text). Files are
    created exclusively, so two processes never write one file. Outside a session
    (the shared temporary folder) the name also carries the process id, so one
    run's files do not push the next run's numbers up.
    Raises OSError when the file cannot be written; the caller says so in its output.
    """
    directory = full_text_directory()
    directory.mkdir(parents=True, exist_ok=True)
    stem = file_stem(node_id)
    if not _directories:
        stem += f".pid{os.getpid()}"
    text = text if text.endswith("\n") else text + "\n"
    for number in range(1, FILES_PER_TEST + 1):
        path = directory / (stem + (f".{kind}.txt" if number == 1 else f".{number}.{kind}.txt"))
        try:
            with path.open("x", encoding="utf-8") as file:
                file.write(text)
            return path
        except FileExistsError:
            continue
    # A Hypothesis test fails once per example it shrinks through, each failure a
    # tree of up to megabytes: past the cap, the last file holds the latest text.
    path.write_text(text, encoding="utf-8")
    return path
