"""Whole pytest sessions, each in a fresh process: what the plugin costs a suite.

Case 8 of run.py. Three variants of one generated suite of N tests that each
make five spans with the real SDK:

- ``plain``: the tests take an empty yield fixture (``fixture_floor``), which is
  the floor any fixture costs;
- ``agenttrace``: the tests take ``agenttrace``;
- ``none``: no fixture at all (context only: what pytest itself costs).

The session's CPU time is read from inside the session (``pytest_sessionstart``
to ``pytest_sessionfinish``, collection included), so interpreter start-up and
plugin loading don't blur the per-test cost, nor do other processes on a busy
machine; RSS is read at the same two points (``/proc/self/statm``), and its
growth is what the suite's tests leave behind.

    python benchmarks/session.py 5000   # prints one JSON line per variant
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

VARIANTS = ("none", "plain", "agenttrace")

CONFTEST = """
import json, os, time
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

trace.set_tracer_provider(TracerProvider())
_start = {}

def _rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def pytest_sessionstart(session):
    _start["t"], _start["rss"] = time.process_time(), _rss()

def pytest_sessionfinish(session):
    seconds = time.process_time() - _start["t"]
    with open(os.environ["SESSION_RESULT"], "w") as out:
        json.dump({"seconds": seconds, "rss_growth": _rss() - _start["rss"],
                   "tests": session.testscollected}, out)

@pytest.fixture
def fixture_floor():
    yield None
"""

TESTS = """
import pytest
from opentelemetry import trace

tracer = trace.get_tracer("bench")

@pytest.mark.parametrize("n", range({count}))
def test_five_spans({fixture}n):
    with tracer.start_as_current_span("orchestrator"):
        for name in ("retrieve", "llm", "validate", "tool"):
            with tracer.start_as_current_span(name):
                pass
"""


def write_suite(folder: Path, count: int, variant: str) -> Path:
    suite = folder / variant
    suite.mkdir(parents=True)
    fixture = {"none": "", "plain": "fixture_floor, ", "agenttrace": "agenttrace, "}[variant]
    (suite / "conftest.py").write_text(CONFTEST)
    (suite / "test_suite.py").write_text(TESTS.format(count=count, fixture=fixture))
    return suite


def bytecode_cached_env() -> dict[str, str]:
    """This environment with Python's bytecode cache on, as an installed package has it.

    A machine that sets PYTHONDONTWRITEBYTECODE (CI images do) makes each session
    compile an editable install's source again: a one-time cost (about 60 ms for
    the fixture's modules) that no user with a normal install pays per session.
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    package = Path(__file__).resolve().parent.parent / "pytest_agenttrace"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], env=env, check=True)
    return env


def pytest_command(suite: Path) -> list[str]:
    # -p no:agenttrace for "none" would also drop the plugin's import; keep it
    # loaded in every variant so only the fixture differs
    # other plugins of the venv off (pytest-opentelemetry would trace every test)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    command += ["-p", "no:pytest_opentelemetry", "-p", "no:logfire", "-p", "no:pytest_logfire"]
    return [*command, "-o", "addopts=", "-W", "ignore", str(suite)]


def run_session(suite: Path, env: dict[str, str]) -> dict[str, float]:
    result = suite / "result.json"
    env = {**env, "SESSION_RESULT": str(result)}
    completed = subprocess.run(
        pytest_command(suite), cwd=suite, env=env, capture_output=True, text=True
    )
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark session failed:\n{completed.stdout[-3000:]}")
    data: dict[str, float] = json.loads(result.read_text())
    return data


def measure(
    count: int, rounds: int = 3, variants: tuple[str, ...] = VARIANTS
) -> dict[str, list[dict[str, float]]]:
    """Each variant's figures in every round, the rounds interleaved."""
    figures: dict[str, list[dict[str, float]]] = {variant: [] for variant in variants}
    with tempfile.TemporaryDirectory() as folder:
        suites = {variant: write_suite(Path(folder), count, variant) for variant in variants}
        env = bytecode_cached_env()
        for _ in range(rounds):
            for variant, suite in suites.items():
                figures[variant].append(run_session(suite, env))
    return figures


def instructions_per_test(
    counts: tuple[int, int], variants: tuple[str, ...] = ("plain", "agenttrace")
) -> dict[str, float]:
    """Instructions per test of each variant: a session of the larger count minus
    one of the smaller, so interpreter start-up and plugin loading cancel out
    (instructions.py says why these, not times, are checked)."""
    import instructions

    small, large = counts
    runs = [(variant, count) for variant in variants for count in counts]
    with tempfile.TemporaryDirectory() as folder:
        env = bytecode_cached_env()
        suites = {run: write_suite(Path(folder) / str(run[1]), run[1], run[0]) for run in runs}
        for suite in suites.values():
            # once untimed: the first session writes the bytecode of every module it
            # imports (the venv's too), which later sessions read
            run_session(suite, env)
        counted = [
            instructions.Run(
                pytest_command(suite), {**env, "SESSION_RESULT": str(suite / "result.json")}, suite
            )
            for suite in suites.values()
        ]
        totals = dict(zip(runs, instructions.count_all(counted), strict=True))
    return {v: (totals[v, large] - totals[v, small]) / (large - small) for v in variants}


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    for variant, rounds in measure(count, rounds=1).items():
        print(json.dumps({"variant": variant, **rounds[0]}))
