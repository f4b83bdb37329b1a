"""`--agenttrace-html=PATH`: every test's trace into one page at the end of the session.

Each test's record is appended, as one line of JSON, to a part file in a
temporary folder as soon as the test's teardown is reported, so the session
holds no spans in memory. Under xdist the controller names the folder to every
worker (`pytest_configure_node`), the workers append their own part files, and
the controller writes the page from all of them at `pytest_sessionfinish`, after
the last worker is done. Failed tests go to part files that sort first.

Imported by plugin.py at start-up: nothing heavier than the standard library here
(the page's own module is imported when a test is recorded).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .._fixture import AgentTrace

__all__ = ["add_html_options", "configure_html", "record_phase"]

_FLAG = "--agenttrace-html"
_INI = "agenttrace_html"
_WORKER_KEY = "agenttrace_html_parts"  # in xdist's workerinput: the part folder
_SESSION = pytest.StashKey["HtmlSession"]()
_PHASES = pytest.StashKey[list[pytest.TestReport]]()
TITLE = "pytest-agenttrace report"


def add_html_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("agenttrace")
    group.addoption(
        _FLAG,
        default=None,
        dest="agenttrace_html",
        metavar="PATH",
        help="write one self-contained HTML report (a waterfall per test that captured spans) "
        "to PATH at the end of the session",
    )
    parser.addini(_INI, "HTML trace report file (relative to the ini file's folder)", default=None)


def configure_html(config: pytest.Config) -> None:
    """Validate the option and set up the session's collection (a worker joins its controller's)."""
    from ._pytest_html import register_pytest_html_hooks

    register_pytest_html_hooks(config)
    worker_input: dict[str, Any] | None = getattr(config, "workerinput", None)
    if worker_input is not None:
        parts = worker_input.get(_WORKER_KEY)
        if parts:
            config.stash[_SESSION] = HtmlSession(None, Path(parts), str(worker_input["workerid"]))
        return
    path = html_path(config)
    if path is None:
        return
    session = HtmlSession(path, Path(tempfile.mkdtemp(prefix="agenttrace-html-")), "main")
    config.stash[_SESSION] = session
    config.pluginmanager.register(_ControllerHooks(session), "agenttrace-html")


def html_path(config: pytest.Config) -> Path | None:
    """The report file: flag (relative to the invocation folder), else ini; checked now."""
    raw = config.getoption("agenttrace_html")
    source, base = _FLAG, config.invocation_params.dir
    if raw is None:
        raw = config.getini(_INI)
        source = f"ini option {_INI}"
        base = config.inipath.parent if config.inipath is not None else config.rootpath
        if not raw:
            return None
    text = str(raw).strip()
    if not text:
        raise pytest.UsageError(f"{source}: needs a file path, e.g. {_FLAG}=trace-report.html")
    given = Path(os.path.abspath(base / Path(text).expanduser()))
    path = given.resolve()  # a symlink is followed: its target is written, the link stays
    if path.is_dir():
        raise pytest.UsageError(
            f"{source}: {text!r} is a directory; give the report's file name, "
            f"e.g. {Path(text) / 'trace-report.html'}"
        )
    special = _special_file(path)
    if special is not None:
        shown = repr(text) if path == given else f"{text!r} (a link to {path})"
        raise pytest.UsageError(
            f"{source}: {shown} is {special}, not a regular file; "
            f"give the path of a report file, e.g. {_FLAG}=trace-report.html"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise pytest.UsageError(
            f"{source}: cannot create the folder {path.parent} for the report "
            f"({error.strerror or error})"
        ) from None
    problem = _unwritable(path)
    if problem is not None:
        raise pytest.UsageError(f"{source}: {problem}; choose another path")
    return path


def records_phases(config: pytest.Config) -> bool:
    """Whether this run writes a report that record_phase feeds (ours or pytest-html's)."""
    from ._pytest_html import wants_extra

    return _SESSION in config.stash or wants_extra(config)


def record_phase(item: pytest.Item, report: pytest.TestReport, capture: AgentTrace) -> None:
    """Called for each phase's report of a test with a capture when `records_phases`;
    the teardown's records it. Also where a test with a failed phase gets its
    waterfall for pytest-html.
    """
    from ._pytest_html import add_waterfall, wants_extra

    session = item.config.stash.get(_SESSION, None)
    extra = wants_extra(item.config)
    reports = item.stash.setdefault(_PHASES, [])
    reports.append(report)
    if report.when != "teardown":
        return
    del item.stash[_PHASES]
    if extra:
        try:
            add_waterfall(item, report, reports, capture, outcome=outcome_of(reports))
        except Exception as error:  # an extra must never turn into an INTERNALERROR
            report.sections.append(("agenttrace", f"no waterfall for pytest-html: {error!r}"))
    if session is None:
        return
    try:
        session.add(item.nodeid, reports, capture)
    except Exception as error:  # a report must never turn into an INTERNALERROR
        session.problem(f"{item.nodeid}: the trace could not be recorded ({error!r})")


def outcome_of(reports: Sequence[pytest.TestReport]) -> str:
    """One word for the test, as pytest's summary counts it (a failed call wins)."""
    call = next((report for report in reports if report.when == "call"), None)
    if call is not None and hasattr(call, "wasxfail"):
        return "xfailed" if call.skipped else "xpassed"
    if call is not None and call.failed:
        return "failed"
    if any(report.failed for report in reports):
        return "error"
    if any(report.skipped for report in reports):
        return "skipped"
    return "passed"


def message_of(reports: Sequence[pytest.TestReport]) -> tuple[str, str]:
    """The failures' messages (what the exception said), and their full report text."""
    messages, tracebacks = [], []
    for report in reports:
        if report.failed:
            prefix = "" if report.when == "call" else f"[error at {report.when}]\n"
            crash = getattr(getattr(report.longrepr, "reprcrash", None), "message", None)
            messages.append(prefix + (crash if isinstance(crash, str) else report.longreprtext))
            tracebacks.append(prefix + report.longreprtext)
        elif report.skipped and isinstance(report.longrepr, tuple):
            messages.append(str(report.longrepr[2]))
    return "\n\n".join(messages), "\n\n".join(tracebacks)


def _unwritable(path: Path) -> str | None:
    """Why the page could not be written to path at the end, found now (None: it can).

    The page is written beside its target and moved over it, so the folder must take
    a new file: a real probe file is made and removed (os.access misses read-only
    file systems, /sys, and says yes to root). An existing report is left as it is.
    """
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is not writable"
    try:
        handle, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
    except OSError as error:
        return f"cannot write a file in {path.parent} ({error.strerror or error})"
    os.close(handle)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return None


def _special_file(path: Path) -> str | None:
    """What the existing file at path is, when it is not a regular file (None otherwise)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None  # not there yet (a dangling link's target is created)
    for test, name in (
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


class HtmlSession:
    """This process's part of the report; the controller's also writes the page."""

    def __init__(self, path: Path | None, parts: Path, worker: str) -> None:
        self.path = path
        self.parts = parts
        self.worker = worker
        self.written: int | None = None  # tests in the written page
        self.failure: str | None = None

    def add(self, nodeid: str, reports: Sequence[pytest.TestReport], capture: AgentTrace) -> None:
        from ._html import record_json, trace_record

        outcome = outcome_of(reports)
        message, traceback = message_of(reports)
        record = trace_record(
            capture,
            nodeid=nodeid,
            outcome=outcome,
            duration=sum(report.duration for report in reports),
            message=message,
            traceback=traceback,
        )
        if record is None:
            return
        bucket = "0-failed" if outcome in ("failed", "error") else "1-other"
        with open(self.parts / f"{bucket}.{self.worker}.jsonl", "a", encoding="utf-8") as out:
            out.write(record_json(record) + "\n")

    def problem(self, text: str) -> None:
        with open(self.parts / f"problems.{self.worker}.txt", "a", encoding="utf-8") as out:
            out.write(text.replace("\n", " ") + "\n")

    def problems(self) -> list[str]:
        found: list[str] = []
        for part in sorted(self.parts.glob("problems.*.txt")):
            found += part.read_text(encoding="utf-8").splitlines()
        return found

    def _records(self) -> Iterator[str]:
        for part in sorted(self.parts.glob("*.jsonl")):  # "0-failed.*" before "1-other.*"
            with open(part, encoding="utf-8") as lines:
                for line in lines:
                    line = line.rstrip("\n")
                    if line:
                        self.written = (self.written or 0) + 1
                        yield line

    def write(self) -> None:
        from ._html import write_page

        assert self.path is not None
        self.written = 0
        partial = self.path.with_name(self.path.name + ".partial")
        special = _special_file(self.path)
        if special is not None:  # it became one during the run: replacing it would destroy it
            self.failure = f"{self.path} is now {special}, not a regular file"
            return
        try:
            with open(partial, "w", encoding="utf-8") as out:
                write_page(out, self._records(), title=TITLE)
            os.replace(partial, self.path)
        except OSError as error:
            self.failure = f"cannot write {self.path}: {error.strerror or error}"
        except Exception as error:  # never an INTERNALERROR at the end of a run
            self.failure = f"could not build the page ({error!r})"
        if self.failure is not None:
            with contextlib.suppress(OSError):
                partial.unlink()

    def discard(self) -> None:
        shutil.rmtree(self.parts, ignore_errors=True)


class _ControllerHooks:
    """Hooks of the process that writes the page (the only one, or xdist's controller)."""

    def __init__(self, session: HtmlSession) -> None:
        self.session = session

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:  # xdist: tell each worker the folder
        node.workerinput[_WORKER_KEY] = str(self.session.parts)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # written even when tests failed or the run was interrupted: what ran is in it
        self.session.write()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        session = self.session
        for problem in session.problems():
            terminalreporter.write_line(f"agenttrace HTML report: {problem}", yellow=True)
        if session.failure is not None:
            terminalreporter.write_sep(
                "-", f"agenttrace HTML report NOT written: {session.failure}", red=True
            )
        elif session.written is not None and session.path is not None:
            count = session.written
            terminalreporter.write_sep(
                "-",
                f"agenttrace HTML report ({count} test{'s' if count != 1 else ''} with spans): "
                f"{session.path.as_uri()}",
            )

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.session.discard()
        config.pluginmanager.unregister(self)
