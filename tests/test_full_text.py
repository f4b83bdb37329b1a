"""Complete texts too long to print, written to a file named after the test."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_agenttrace import _full_text
from pytest_agenttrace._full_text import (
    FILES_PER_TEST,
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


def test_every_text_gets_a_file_of_its_own(tmp_path: Path) -> None:
    def directory() -> Path:
        return tmp_path

    node_id = "tests/test_a.py::test_b"
    stem = file_stem(node_id)
    (tmp_path / f"{stem}.3.assert_tree.txt").write_text("another process's\n")
    use_directory(directory)
    try:
        paths = [write_full_text(f"tree {n}", node_id, "assert_tree") for n in range(4)]
        report = write_full_text("report", node_id)
    finally:
        release_directory(directory)
    # the path a message printed keeps that message's text
    assert [path.read_text(encoding="utf-8") for path in paths] == [f"tree {n}\n" for n in range(4)]
    assert [path.name for path in paths] == [
        f"{stem}.assert_tree.txt",
        f"{stem}.2.assert_tree.txt",
        f"{stem}.4.assert_tree.txt",  # .3 was taken: never overwritten
        f"{stem}.5.assert_tree.txt",
    ]
    assert (tmp_path / f"{stem}.3.assert_tree.txt").read_text() == "another process's\n"
    assert report.name == f"{stem}.report.txt"  # numbered per kind


def test_outside_a_session_the_name_carries_the_process_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_full_text, "_directories", [])
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    first = write_full_text("one", "assert_trace_tree", "assert_tree")
    second = write_full_text("two", "assert_trace_tree", "assert_tree")
    stem = f"{file_stem('assert_trace_tree')}.pid{os.getpid()}"
    assert first == tmp_path / "pytest-agenttrace" / f"{stem}.assert_tree.txt"
    assert second == tmp_path / "pytest-agenttrace" / f"{stem}.2.assert_tree.txt"
    assert (first.read_text(), second.read_text()) == ("one\n", "two\n")


def test_past_the_cap_the_last_file_holds_the_latest_text(tmp_path: Path) -> None:
    # a Hypothesis test fails once per example it shrinks through: files stay bounded
    def directory() -> Path:
        return tmp_path

    use_directory(directory)
    try:
        paths = [
            write_full_text(f"tree {n}", "t.py::test_x", "assert_tree")
            for n in range(FILES_PER_TEST + 5)
        ]
    finally:
        release_directory(directory)
    assert len(list(tmp_path.iterdir())) == FILES_PER_TEST
    assert paths[-1] == paths[FILES_PER_TEST - 1]
    assert paths[-1].read_text(encoding="utf-8") == f"tree {FILES_PER_TEST + 4}\n"
