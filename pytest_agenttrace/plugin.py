"""pytest entry point: options, the `agenttrace` marker, the fixture and report hooks.

OpenTelemetry is imported inside the hooks, so suites that never use the
fixture pay nothing for the plugin being installed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._options import AgentTraceOptions, add_options, marker_help, options_for_test, suite_options
from .remote._settings import add_receiver_options, receiver_settings, starts_at_session
from .report._html_session import add_html_options, configure_html, record_phase, records_phases
from .report._settings import add_seeing_options, seeing_settings

if TYPE_CHECKING:
    from ._fixture import AgentTrace
    from .remote._receiver import OtlpReceiver
    from .report._after_test import AfterTest

_SUITE_OPTIONS = pytest.StashKey[AgentTraceOptions]()
_CAPTURE = pytest.StashKey["AgentTrace"]()
# collection found no agenttrace marker on the test, which then had this many own markers
_UNMARKED_AT = pytest.StashKey[int]()
_SHOWN = pytest.StashKey[bool]()  # a report section showed this test's capture
_OUTCOME = pytest.StashKey[str]()  # the test's outcome so far, for export and forwarding
_AFTER_TEST: pytest.StashKey[AfterTest] = pytest.StashKey()
# what each phase's report of a captured test feeds: (a report's records, export or forwarding)
_PHASE_WORK: pytest.StashKey[tuple[bool, bool]] = pytest.StashKey()
_FULL_TEXT_DIR: pytest.StashKey[Callable[[], Path]] = pytest.StashKey()
_REDIS_ENV = "AGENTTRACE_REDIS_URL"
_OPEN_SESSIONS: list[int] = []  # configs of this process that are configured now
# The tests being run, innermost last (pytester's in-process runs nest one inside
# a test): the fixture reads its test here, since asking for `request` makes
# pytest build a fixture definition for it on each use.
_RUNNING: list[pytest.Item] = []
_ROUTER_MODULE = f"{__package__}.capture._router"  # read only once something loaded it


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)
    group = parser.getgroup("agenttrace")
    group.addoption(
        "--agenttrace-redis-url",
        default=None,
        dest="agenttrace_redis_url",
        help=f"Redis server for the agenttrace_redis fixture (default: ${_REDIS_ENV}, "
        "then ini agenttrace_redis_url, else an in-memory fakeredis)",
    )
    parser.addini("agenttrace_redis_url", "Redis server for the agenttrace_redis fixture")
    add_receiver_options(parser)
    add_html_options(parser)
    add_seeing_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    _OPEN_SESSIONS.append(id(config))
    config.addinivalue_line("markers", marker_help())
    config.stash[_SUITE_OPTIONS] = suite_options(config)
    _check_selectors(config.stash[_SUITE_OPTIONS], "ini option or flag")
    _check_redis_url(config)
    receiver_settings(config)  # validated now: a bad value stops the run before any test
    configure_html(config)
    _configure_seeing(config)
    config.stash[_PHASE_WORK] = (records_phases(config), config.stash[_AFTER_TEST].active)
    if config.pluginmanager.has_plugin("pytest_opentelemetry"):  # it imported OTel already
        from .capture._router import AMBIENT_TRACERS, INSTALLATION

        # for the rest of the process: its spans may outlive this session
        INSTALLATION.router.ambient_tracers = AMBIENT_TRACERS


def _configure_seeing(config: pytest.Config) -> None:
    """Export, forwarding, trace links, and where over-long output goes."""
    from ._full_text import use_directory
    from .report._after_test import AfterTest

    config.stash[_AFTER_TEST] = AfterTest(seeing_settings(config))

    def full_text_directory() -> Path:
        # the session's basetemp (per xdist worker); tmpdir's factory is set in its
        # pytest_configure, which ran before this hook's first use
        factory = getattr(config, "_tmp_path_factory", None)
        if factory is None:
            import tempfile

            return Path(tempfile.gettempdir()) / "pytest-agenttrace"
        return Path(factory.getbasetemp()) / "agenttrace"

    config.stash[_FULL_TEXT_DIR] = full_text_directory
    use_directory(full_text_directory)


def _check_selectors(options: AgentTraceOptions, where: str) -> None:
    """Rule keys written as lines of the tree syntax parse, or the run stops here."""
    keyed = (options.timeout_budgets, options.max_retries, options.require_attributes)
    patterns = [pattern for rules in keyed for pattern, _ in rules]
    if not patterns:
        return  # the usual case: nothing to import (the tree imports OpenTelemetry)
    from .tree._select import selector_problem

    problem = selector_problem(patterns)
    if problem is not None:
        raise pytest.UsageError(f"{where}: {problem}")


def _test_options(item: pytest.Item) -> AgentTraceOptions:
    """The test's resolved options, its marker's selectors checked too."""
    suite = item.config.stash[_SUITE_OPTIONS]
    if item.stash.get(_UNMARKED_AT, -1) == len(item.own_markers):
        return suite  # unmarked at collection, and no marker added to it since
    options = options_for_test(item, suite)
    if options is not suite:
        _check_selectors(options, f"{item.nodeid}: @pytest.mark.agenttrace")
    return options


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    # under xdist the controller runs no test: only the workers need a receiver
    controller = bool(getattr(config.option, "numprocesses", None)) and not hasattr(
        config, "workerinput"
    )
    if starts_at_session(config) and not controller:
        from .remote._receiver import ReceiverStartError, start_for_session

        try:
            start_for_session()
        except ReceiverStartError as error:
            raise pytest.UsageError(str(error)) from None


def pytest_sessionfinish(session: pytest.Session) -> None:
    module = sys.modules.get(_ROUTER_MODULE)
    if module is None:
        return
    router = module.INSTALLATION.router
    router.wait_filed()  # an export answered last is filed, its findings made
    # after the last capture, or while tests ran that don't capture: no test reports them
    pending, unreported = router.pending_problems, router.unreported_problems
    unclaimed = router.take_unclaimed_received() if router.stray else []
    if not (pending or unreported or unclaimed):
        return
    from .remote._methods import session_warnings
    from .report._warning import warn_for_session

    texts = session_warnings(list(pending), list(unreported), unclaimed)
    pending.clear()
    unreported.clear()
    for text in texts:
        warn_for_session(text)


def pytest_unconfigure(config: pytest.Config) -> None:
    _OPEN_SESSIONS.remove(id(config))
    if _AFTER_TEST in config.stash:
        from ._full_text import release_directory

        config.stash[_AFTER_TEST].close()
        release_directory(config.stash[_FULL_TEXT_DIR])
    receiver = sys.modules.get(f"{__package__}.remote._receiver")
    # pytester's in-process runs configure and unconfigure inside the outer
    # session: the receiver closes with the outermost session only
    if receiver is not None and not _OPEN_SESSIONS:
        receiver.close_process_receiver()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A bad marker stops the run before any test does, like a bad ini value. Not in
    # an xdist worker, where a UsageError becomes an INTERNALERROR: there the
    # fixture fails the marked test with the same message instead.
    validate = not hasattr(config, "workerinput")
    for item in items:
        names = getattr(item, "fixturenames", None)
        marked = item.get_closest_marker("agenttrace") is not None
        if marked and validate:
            _test_options(item)
        if not marked:  # the fixture then skips looking for a marker
            item.stash[_UNMARKED_AT] = len(item.own_markers)
        # A marked test, or one using agenttrace_redis, gets its capture even without
        # asking for the fixture: otherwise @pytest.mark.agenttrace(strict=True) and
        # the suite's ini policies would silently check nothing. Appended last, it
        # starts after the other fixtures (a Redis PING is not the test's span).
        wants_capture = marked or (isinstance(names, list) and "agenttrace_redis" in names)
        if wants_capture and isinstance(names, list) and "agenttrace" not in names:
            names.append("agenttrace")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    _RUNNING.append(item)
    _note_running_test()
    try:
        return (yield)
    finally:
        _RUNNING.pop()
        _note_running_test()


def _note_running_test() -> None:
    """Tell the span router (once loaded) whether the running test is one that never
    captures: a receiver finding made meanwhile is no later test's to fail with."""
    module = sys.modules.get(_ROUTER_MODULE)
    if module is None or not module.INSTALLATION.router.receivers_running:
        return  # no receiver, no findings: the usual suite pays one lookup per test
    item = _RUNNING[-1] if _RUNNING else None
    if item is not None and "agenttrace" in getattr(item, "fixturenames", ()):
        item = None  # captures: what the receiver finds is its, or the next capture's
    module.INSTALLATION.router.uncaptured_test = None if item is None else item.nodeid


_START_CAPTURE: Callable[[AgentTraceOptions], AgentTrace] | None = None


def _import_start_capture() -> Callable[[AgentTraceOptions], AgentTrace]:
    """The capture's entry, imported at first use (not with the plugin), then kept:
    an import statement in the fixture costs every test a trip through importlib."""
    global _START_CAPTURE
    from ._fixture import start_capture

    _START_CAPTURE = start_capture
    return start_capture


@pytest.fixture
def agenttrace() -> Iterator[AgentTrace]:
    """A fresh capture of the OpenTelemetry spans this test produces."""
    start_capture = _START_CAPTURE or _import_start_capture()
    if not _RUNNING:
        pytest.fail(
            "agenttrace: no test is running through pytest_runtest_protocol, so the "
            "fixture cannot tell which test it serves (a plugin running tests with "
            "runtestprotocol() directly?)",
            pytrace=False,
        )
    item = _RUNNING[-1]
    bad_marker: str | None = None
    try:
        options = _test_options(item)
    except pytest.UsageError as error:  # the marker's fault, not the plugin's: no traceback
        bad_marker = str(error)
    if bad_marker is not None:  # failed outside the except: no "During handling of..."
        pytest.fail(bad_marker, pytrace=False)
    capture = start_capture(options)
    item.stash[_CAPTURE] = capture
    try:
        yield capture
    finally:
        capture._stop()
    problems = capture._teardown_problems()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def agenttrace_receiver() -> OtlpReceiver:
    """The session's OTLP receiver, for services that session fixtures start.

    Spans it receives join whichever test's capture is running when they arrive.
    """
    from .remote._receiver import process_receiver_or_fail

    receiver = process_receiver_or_fail()
    _note_running_test()  # the router may have loaded just now, in a test that doesn't capture
    return receiver


_REDIS_SCHEMES = ("redis", "rediss", "unix")  # what redis-py's from_url takes


def _check_redis_url(config: pytest.Config) -> None:
    """A configured URL that no Redis client takes stops the run before any test."""
    import urllib.parse

    url, source = _redis_setting(config)
    if url is not None and urllib.parse.urlsplit(url).scheme not in _REDIS_SCHEMES:
        raise pytest.UsageError(
            f"{source}: {url!r} is not a Redis URL; it starts with "
            f"{', '.join(f'{scheme}://' for scheme in _REDIS_SCHEMES)} "
            f"(e.g. redis://127.0.0.1:6379/0)"
        )


def redis_url(config: pytest.Config) -> str | None:
    """The configured real Redis server: flag, then environment, then ini; None for fakeredis."""
    return _redis_setting(config)[0]


def _redis_setting(config: pytest.Config) -> tuple[str | None, str]:
    """The configured URL and where it was set, in that order of precedence."""
    flag = config.getoption("agenttrace_redis_url")
    if flag:
        return flag, "--agenttrace-redis-url"
    if os.environ.get(_REDIS_ENV):
        return os.environ[_REDIS_ENV], f"${_REDIS_ENV}"
    return config.getini("agenttrace_redis_url") or None, "ini option agenttrace_redis_url"


@pytest.fixture
def agenttrace_redis(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A Redis client: in-memory fakeredis, or the server of --agenttrace-redis-url."""
    try:
        import redis
    except ImportError:
        pytest.skip("agenttrace_redis needs redis: pip install 'pytest-agenttrace-otel[redis]'")
    url = redis_url(request.config)
    client: Any
    if url is None:
        try:
            import fakeredis
        except ImportError:
            pytest.skip(
                "agenttrace_redis needs fakeredis when no server is configured "
                f"(--agenttrace-redis-url / ${_REDIS_ENV}): "
                "pip install 'pytest-agenttrace-otel[redis]'"
            )
        client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    else:
        problem = None
        try:
            client = redis.Redis.from_url(url)
        except ValueError as error:  # not a redis:// URL
            problem = f"agenttrace_redis: {url!r} is not a Redis URL ({error})"
        else:
            try:
                client.ping()
            except redis.RedisError as error:
                client.close()
                problem = f"agenttrace_redis: cannot reach the configured Redis at {url}: {error}"
        if problem is not None:  # failed outside the except: one line, no chained traceback
            pytest.fail(problem, pytrace=False)
    try:
        yield client
    finally:
        client.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    capture = item.stash.get(_CAPTURE, None)
    if capture is None:
        return report
    records, exports = item.config.stash[_PHASE_WORK]
    if records:  # --agenttrace-html, pytest-html's extra
        record_phase(item, report, capture)
    if exports:
        from .report._after_test import combined_outcome

        item.stash[_OUTCOME] = combined_outcome(item.stash.get(_OUTCOME, None), report)
    report_when = capture.options.report
    wanted = report_when == "always" or (report_when == "failed" and report.failed)
    # Every phase that fails shows the trace (a teardown check, strict mode or a
    # policy, failing a passed call; a fixture failing after the capture began),
    # once: after a failed call, the call's section already did.
    if wanted and (call.when == "call" or (report.failed and not item.stash.get(_SHOWN, False))):
        from .report._section import describe_capture

        trace_url = item.config.stash[_AFTER_TEST].settings.trace_url
        text = describe_capture(capture, item.nodeid, trace_url)
        report.sections.append((f"Captured agenttrace {call.when}", text))
        item.stash[_SHOWN] = True
    if call.when == "teardown":
        if exports:
            item.config.stash[_AFTER_TEST].finish(capture, item.nodeid, item.stash[_OUTCOME])
        del item.stash[_CAPTURE]  # nothing outlives its test: the spans go with it
    return report
