"""Instruction counts of a whole process, under valgrind's cachegrind.

Cases 1 and 8 compare our capture with a floor that differs from it by a few
per cent, and on a shared 2-core machine the time of one fresh process moves by
10-40 % from run to run: no number of rounds makes a best-of-N time ratio
repeatable at that resolution. The instructions a process executes are (the
same binary, the same inputs, a fixed hash seed): the same count whatever else
the machine is doing. So those two targets are checked on instructions, as
SQLite's and rustc's performance tracking do, and the times are printed beside
them.

A per-span or per-test figure is the difference of two runs of one variant, a
large and a small workload, so that start-up (interpreter, imports, plugin
loading) cancels out and only the work that grows with the workload remains.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

MISSING = "valgrind is not installed (apt-get install valgrind): not measured"


class InstructionsUnavailable(RuntimeError):
    """valgrind is not installed: the checked figures of cases 1 and 8 can't be measured."""


def available() -> bool:
    return shutil.which("valgrind") is not None


@dataclass(frozen=True)
class Run:
    """One process to count: its command line, environment and working directory."""

    command: Sequence[str]
    env: Mapping[str, str] | None = None
    cwd: Path | None = None


def count(run: Run) -> int:
    """The instructions `run` executes, start to exit (children not followed)."""
    if not available():
        raise InstructionsUnavailable(MISSING)
    env = dict(os.environ if run.env is None else run.env)
    # a fixed hash seed: set and dict layouts, and so the instructions that walk
    # them, are the same in every run
    env["PYTHONHASHSEED"] = "0"
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "cachegrind.out"
        valgrind = [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            f"--cachegrind-out-file={out}",
        ]
        done = subprocess.run(
            [*valgrind, *run.command], env=env, cwd=run.cwd, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(run.command)} failed under valgrind:\n{done.stderr[-3000:]}"
            )
        return summary(out.read_text())


def count_all(runs: Sequence[Run]) -> list[int]:
    """`count` of each run, side by side on every core: unlike times, instruction
    counts don't change with what else the machine runs."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(count, runs))


def summary(text: str) -> int:
    """The `summary:` line of a cachegrind out file (events: Ir only, with --cache-sim=no)."""
    for line in text.splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise ValueError("cachegrind wrote no summary line")
