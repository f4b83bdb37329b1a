"""Complete texts too long to print, written to a file named after the test."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from pytest_agenttrace._full_text import (
    file_stem,
    release_directory,
    use_directory,
    write_full_text,
)

SAFE = re.compile(r"[A-Za-z0-9._-]+")
WINDOWS_RESERVED = (
    {"con", "prn", "aux", "nul"} | {f"com{n}" for n in range(10)} | {f"lpt{n}" for n in range(10)}
)
NODE_IDS = st.text(max_size=300) | st.builds(
    lambda path, name, param: f"{path}::{name}[{param}]",
    st.text(max_size=40),
    st.text(max_size=40),
    st.text(max_size=80),
)


@given(NODE_IDS)
def test_a_stem_is_safe_on_any_file_system(node_id: str) -> None:
    stem = file_stem(node_id)
    assert SAFE.fullmatch(stem), stem
    assert len(stem.encode()) <= 140  # far below NAME_MAX (255), with room for suffixes
    assert not stem.startswith(".")  # not hidden
    assert stem.split(".", 1)[0].lower() not in WINDOWS_RESERVED


@given(NODE_IDS, NODE_IDS)
def test_different_node_ids_get_different_stems_even_on_a_case_insensitive_disk(
    first: str, second: str
) -> None:
    if first != second:
        assert file_stem(first).lower() != file_stem(second).lower()


def test_a_stem_reads_like_its_node_id() -> None:
    assert file_stem("tests/test_a.py::test_b[x/y-ü]").startswith("tests_test_a.py--test_b_x_y-")
    assert file_stem("con.py::test").startswith("_con.py--test-")
    assert file_stem("../..").startswith("test-")


def test_the_text_goes_to_the_directory_in_use(tmp_path: Path) -> None:
    def directory() -> Path:
        return tmp_path / "session"

    use_directory(directory)
    try:
        path = write_full_text("line 1\nline 2", "tests/test_a.py::test_b[1]")
    finally:
        release_directory(directory)
    assert path.parent == tmp_path / "session"
    assert path.name == file_stem("tests/test_a.py::test_b[1]") + ".report.txt"
    assert path.read_text(encoding="utf-8") == "line 1\nline 2\n"
