"""`--agenttrace-html`: one self-contained page with every test's trace (data and wiring).

What the page does with the data in a browser is tests/report/test_html_browser.py.
"""

from __future__ import annotations

import os
import re
import socket
import stat
from pathlib import Path
from textwrap import dedent

import pytest
from report_files import report_data

VALIDATOR = Path(__file__).parents[1] / "remote" / "agents" / "validator.py"

SUITE = dedent(
    """
    import pytest
    from opentelemetry import trace
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode

    tracer = trace.get_tracer("pipeline", "1.2")

    def test_passes(agenttrace):
        with tracer.start_as_current_span("healthy", attributes={"document.id": "7"}):
            pass

    def test_tree_differs(agenttrace):
        attributes = {"document.id": "41"}
        with tracer.start_as_current_span("process_document", attributes=attributes) as root:
            with tracer.start_as_current_span("retrieval_agent", kind=SpanKind.CLIENT) as call:
                call.add_event("cache miss", {"key": "k1"})
            with tracer.start_as_current_span(
                "llm_agent", links=[Link(root.get_span_context(), {"reason": "fan-in"})]
            ) as llm:
                llm.set_status(Status(StatusCode.ERROR, "model overloaded"))
            with tracer.start_as_current_span("cache_lookup"):
                pass
        agenttrace.assert_tree('''
            process_document {document.id: "42"}
              retrieval_agent [client]
              llm_agent
              validation_agent
            audit
        ''')

    def test_no_spans(agenttrace):
        pass

    def test_hangs(agenttrace):
        with tracer.start_as_current_span("orchestrator"):
            tracer.start_span("hung_agent")  # never ended: an error at teardown
    """
)


def _run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, Path]:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("--agenttrace-html=out/trace.html", *args)
    return result, pytester.path / "out" / "trace.html"


def test_every_test_with_spans_is_in_the_page_failed_first(pytester: pytest.Pytester) -> None:
    result, path = _run(pytester)
    result.assert_outcomes(passed=3, failed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*agenttrace HTML report (3 tests with spans): file://*trace.html*"]
    )
    tests = report_data(path)["tests"]
    # test_no_spans captured nothing: not in the page; the failures come first
    assert [(test["id"], test["outcome"]) for test in tests] == [
        ("test_suite.py::test_tree_differs", "failed"),
        ("test_suite.py::test_hangs", "error"),
        ("test_suite.py::test_passes", "passed"),
    ]
    differs, hangs, passes = tests
    assert differs["message"].startswith("AssertionError: Trace tree does not match")
    assert "def test_tree_differs(agenttrace):" in differs["traceback"]  # the full report
    assert "[error at teardown]" in hangs["message"] and "hung_agent" in hangs["message"]
    assert passes["message"] == passes["traceback"] == "" and passes["duration"] > 0


def test_a_span_carries_what_the_details_panel_shows(pytester: pytest.Pytester) -> None:
    _, path = _run(pytester)
    (differs,) = [test for test in report_data(path)["tests"] if test["id"].endswith("differs")]
    spans = {span["n"]: span for span in differs["spans"]}
    root, call, llm = spans["process_document"], spans["retrieval_agent"], spans["llm_agent"]
    assert [span["n"] for span in differs["spans"]] == [
        "process_document",
        "retrieval_agent",
        "llm_agent",
        "cache_lookup",
    ]  # depth first, children in start order: the rows of the waterfall
    assert root["p"] == -1 and call["p"] == 0 and llm["p"] == 0
    assert root["a"] == {"document.id": "41"}
    assert call["k"] == "client" and root["k"] == "internal"
    assert call["ev"][0][0] == "cache miss" and call["ev"][0][2] == {"key": "k1"}
    assert llm["s"] == "error" and llm["sd"] == "model overloaded"
    assert llm["ln"] == [[differs["traces"][0], root["id"], 0, {"reason": "fan-in"}]]
    assert differs["scopes"][root["c"]] == ["pipeline", "1.2"]
    assert differs["resources"][root["r"]]["telemetry.sdk.language"] == "python"
    assert 0 == root["b"] <= call["b"] < call["e"] <= root["e"]
    assert "x" not in root  # made in this process, not received


def test_the_spans_a_failed_assert_tree_marked_carry_its_wording(
    pytester: pytest.Pytester,
) -> None:
    _, path = _run(pytester)
    (differs,) = [test for test in report_data(path)["tests"] if test["id"].endswith("differs")]
    marks = {span["n"]: (span.get("m", []), span.get("mm", [])) for span in differs["spans"]}
    assert marks == {
        "process_document": (
            ['document.id: expected "42", got "41"'],
            ["missing: validation_agent"],
        ),
        "retrieval_agent": ([], []),
        "llm_agent": ([], []),
        "cache_lookup": (["unexpected span"], []),
    }
    assert differs["missing"] == ["missing: audit"]  # a top-level line nothing matched
    for wording in ['document.id: expected "42", got "41"', "unexpected span", "missing: audit"]:
        assert wording in differs["message"]  # the same words as the failure message


def test_an_open_span_has_no_end(pytester: pytest.Pytester) -> None:
    _, path = _run(pytester)
    (hangs,) = [test for test in report_data(path)["tests"] if test["id"].endswith("hangs")]
    spans = {span["n"]: span for span in hangs["spans"]}
    assert spans["hung_agent"]["e"] is None and spans["hung_agent"]["p"] == 0
    assert spans["orchestrator"]["e"] is not None


def test_the_page_fetches_nothing(pytester: pytest.Pytester) -> None:
    _, path = _run(pytester)
    page = path.read_text(encoding="utf-8")
    assert "default-src 'none'" in page  # the browser refuses any fetch the page might try
    fetches = re.findall(
        r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""",
        page,
    )
    assert fetches == []
    assert re.findall(r"https?://", page) == []


def test_names_cannot_close_the_script_or_inject_markup(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace

            def test_it(agenttrace):
                name = "</script><script>alert(1)</script> <b>"
                tracer = trace.get_tracer("t")
                with tracer.start_as_current_span(name, attributes={"nan": float("nan")}):
                    pass
            """
        )
    )
    pytester.runpytest("--agenttrace-html=r.html").assert_outcomes(passed=1)
    page = (pytester.path / "r.html").read_text(encoding="utf-8")
    assert "alert(1)" in page and "<script>alert" not in page
    (test,) = report_data(pytester.path / "r.html")["tests"]
    assert test["spans"][0]["n"] == "</script><script>alert(1)</script> <b>"
    assert test["spans"][0]["a"] == {"nan": "nan"}  # JSON has no NaN: shown as text


def test_received_spans_appear_with_their_service(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        dedent(
            f"""
            import json
            import os
            import subprocess
            import sys
            from opentelemetry import propagate, trace

            def test_it(agenttrace):
                tracer = trace.get_tracer("orchestrator")
                with tracer.start_as_current_span("llm_agent"):
                    carrier = {{}}
                    propagate.inject(carrier)
                    env = {{**os.environ, **agenttrace.otlp_env(service_name="validator")}}
                    subprocess.run(
                        [sys.executable, {str(VALIDATOR)!r}, json.dumps(carrier)],
                        env=env, check=True, timeout=60,
                    )
            """
        )
    )
    pytester.runpytest_subprocess("--agenttrace-html=r.html").assert_outcomes(passed=1)
    (test,) = report_data(pytester.path / "r.html")["tests"]
    spans = {span["n"]: span for span in test["spans"]}
    assert [span["n"] for span in test["spans"]] == ["llm_agent", "validate_citations", "POST"]
    validate = spans["validate_citations"]
    assert validate.get("x") == 1 and "x" not in spans["llm_agent"]
    assert validate["p"] == 0 and validate["k"] == "consumer"
    assert test["resources"][validate["r"]]["service.name"] == "validator"
    assert test["resources"][spans["llm_agent"]["r"]]["service.name"] != "validator"


def test_under_xdist_every_worker_s_tests_end_up_in_one_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_agents=dedent(
            """
            import pytest
            from opentelemetry import trace

            tracer = trace.get_tracer(__name__)

            @pytest.mark.parametrize("n", range(6))
            def test_agents(agenttrace, n):
                with tracer.start_as_current_span(f"workflow {n}"):
                    for i in range(n):
                        tracer.start_span(f"agent {i}").end()
                assert n != 4
            """
        )
    )
    result = pytester.runpytest_subprocess("-n", "2", "--agenttrace-html=out/r.html")
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(["*agenttrace HTML report (6 tests with spans): file://*r.html*"])
    tests = report_data(pytester.path / "out" / "r.html")["tests"]
    assert tests[0]["id"] == "test_agents.py::test_agents[4]" and tests[0]["outcome"] == "failed"
    assert sorted(test["id"] for test in tests) == [
        f"test_agents.py::test_agents[{n}]" for n in range(6)
    ]
    assert {test["id"]: len(test["spans"]) for test in tests} == {
        f"test_agents.py::test_agents[{n}]": n + 1 for n in range(6)
    }
    assert not list((pytester.path / "out").glob("*.partial"))


def test_the_ini_key_names_the_file_relative_to_the_ini_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\nagenttrace_html = reports/trace.html\n")
    pytester.makepyfile(
        dedent(
            """
            from opentelemetry import trace

            def test_it(agenttrace):
                trace.get_tracer("t").start_span("one").end()
            """
        )
    )
    monkeypatch.chdir(pytester.mkdir("elsewhere"))
    pytester.runpytest(str(pytester.path)).assert_outcomes(passed=1)
    assert not (pytester.path / "elsewhere" / "reports").exists()
    (test,) = report_data(pytester.path / "reports" / "trace.html")["tests"]
    assert test["spans"][0]["n"] == "one"


def test_the_command_line_beats_the_ini_key(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_html = from-ini.html\n")
    pytester.makepyfile("def test_it(agenttrace):\n    agenttrace.tracer.start_span('x').end()\n")
    pytester.runpytest("--agenttrace-html=from-flag.html").assert_outcomes(passed=1)
    assert (pytester.path / "from-flag.html").exists()
    assert not (pytester.path / "from-ini.html").exists()


def test_no_option_no_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_it(agenttrace):\n    agenttrace.tracer.start_span('x').end()\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "agenttrace HTML report" not in result.stdout.str()
    assert not list(pytester.path.rglob("*.html"))


def test_a_session_without_spans_writes_a_page_that_says_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_it():\n    pass\n")
    result = pytester.runpytest("--agenttrace-html=r.html")
    result.stdout.fnmatch_lines(["*agenttrace HTML report (0 tests with spans)*"])
    assert report_data(pytester.path / "r.html")["tests"] == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            ".",
            "*--agenttrace-html: '.' is a directory; give the report's file name, e.g. *",
        ),
        ("", "*--agenttrace-html: needs a file path, e.g. --agenttrace-html=trace-report.html*"),
        (
            "a-file.txt/r.html",
            "*--agenttrace-html: cannot create the folder *a-file.txt for the report*",
        ),
    ],
)
def test_a_bad_path_is_a_usage_error(pytester: pytest.Pytester, value: str, expected: str) -> None:
    pytester.path.joinpath("a-file.txt").write_text("not a folder")
    pytester.makepyfile("def test_it():\n    pass\n")
    result = pytester.runpytest(f"--agenttrace-html={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_a_bad_ini_path_is_a_usage_error_naming_the_ini_key(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagenttrace_html = .\n")
    pytester.makepyfile("def test_it():\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini option agenttrace_html: '.' is a directory*"])


def test_a_file_that_cannot_be_written_at_the_end_is_one_clear_line(
    pytester: pytest.Pytester,
) -> None:
    # the folder disappears during the run: the report cannot be written, the run goes on
    pytester.makepyfile(
        dedent(
            """
            import shutil

            def test_it(agenttrace):
                agenttrace.tracer.start_span("x").end()
                shutil.rmtree("gone")
            """
        )
    )
    pytester.mkdir("gone")
    result = pytester.runpytest("--agenttrace-html=gone/r.html")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*agenttrace HTML report NOT written: cannot write *r.html*"])
    assert "INTERNALERROR" not in result.stdout.str()


def test_a_run_stopped_by_a_failure_still_writes_the_page(pytester: pytest.Pytester) -> None:
    result, path = _run(pytester, "-x")
    result.assert_outcomes(passed=1, failed=1)
    ids = [test["id"] for test in report_data(path)["tests"]]
    assert ids == ["test_suite.py::test_tree_differs", "test_suite.py::test_passes"]


def test_the_help_names_the_option(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--agenttrace-html=PATH*", "*agenttrace_html*"])


def _make_special(kind: str, path: Path) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(path.name)  # relative: pytester's folder is the cwd, paths stay short
        server.close()
    else:  # the same device as /dev/null, made here: a real /dev path is never touched
        try:
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("mknod needs root (the FIFO and socket cases cover non-root)")


@pytest.mark.parametrize(
    ("kind", "called"),
    [("fifo", "a named pipe (FIFO)"), ("socket", "a socket"), ("device", "a character device")],
)
@pytest.mark.parametrize("through_link", [False, True], ids=["direct", "symlink"])
def test_a_path_that_is_not_a_regular_file_is_a_usage_error(
    pytester: pytest.Pytester, kind: str, called: str, through_link: bool
) -> None:
    special = pytester.path / "special"
    _make_special(kind, special)
    before = special.lstat()
    if through_link:
        (pytester.path / "link.html").symlink_to("special")
    pytester.makepyfile("def test_it(agenttrace):\n    agenttrace.tracer.start_span('x').end()\n")
    result = pytester.runpytest(f"--agenttrace-html={'link.html' if through_link else 'special'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    shown = f"'link.html' (a link to {special})" if through_link else "'special'"
    result.stderr.fnmatch_lines(
        [
            f"ERROR: --agenttrace-html: {shown} is {called}, not a regular file; "
            "give the path of a report file, e.g. --agenttrace-html=trace-report.html"
        ]
    )
    after = special.lstat()
    assert (after.st_mode, after.st_ino, after.st_rdev) == (
        before.st_mode,
        before.st_ino,
        before.st_rdev,
    )  # untouched
    assert not list(pytester.path.glob("*.partial"))


def test_a_symlink_is_followed_and_stays_a_link(pytester: pytest.Pytester) -> None:
    pytester.mkdir("reports")
    (pytester.path / "reports" / "latest.html").write_text("the old report")
    (pytester.path / "link.html").symlink_to("reports/latest.html")
    (pytester.path / "dangling.html").symlink_to("reports/new.html")
    pytester.makepyfile("def test_it(agenttrace):\n    agenttrace.tracer.start_span('x').end()\n")
    for link, target in (("link.html", "latest.html"), ("dangling.html", "new.html")):
        result = pytester.runpytest(f"--agenttrace-html={link}")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines([f"*agenttrace HTML report (1 test with spans): *{target}*"])
        assert (pytester.path / link).is_symlink()
        (test,) = report_data(pytester.path / "reports" / target)["tests"]
        assert test["spans"][0]["n"] == "x"
    assert sorted(path.name for path in pytester.path.joinpath("reports").iterdir()) == [
        "latest.html",
        "new.html",
    ]


def test_a_write_that_fails_at_the_end_says_not_written(pytester: pytest.Pytester) -> None:
    # a file size limit below the page's size: the write itself fails (EFBIG), like a full disk
    pytester.makeconftest(
        dedent(
            """
            import resource

            def pytest_sessionfinish(session):
                hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
                resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
            """
        )
    )
    pytester.path.joinpath("r.html").write_text("the previous report")
    pytester.makepyfile("def test_it(agenttrace):\n    agenttrace.tracer.start_span('x').end()\n")
    result = pytester.runpytest_subprocess("--agenttrace-html=r.html")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*agenttrace HTML report NOT written: cannot write *r.html: *"])
    assert "agenttrace HTML report (" not in result.stdout.str()
    assert pytester.path.joinpath("r.html").read_text() == "the previous report"
    assert not list(pytester.path.glob("*.partial"))


@pytest.mark.parametrize("where", ["sysfs", "read-only folder"])
def test_an_unwritable_path_stops_the_run_before_any_test(
    pytester: pytest.Pytester, where: str
) -> None:
    if where == "sysfs":
        path = Path("/sys/agenttrace-report.html")  # exists, refuses new files even to root
        if not Path("/sys").is_dir():
            pytest.skip("no /sys on this system (the read-only folder case covers it)")
        folder = path.parent
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders (the sysfs case covers root)")
        folder = pytester.mkdir("locked")
        folder.chmod(0o555)
        path = folder / "r.html"
    pytester.makepyfile("def test_it(agenttrace):\n    open('ran', 'w').close()\n")
    result = pytester.runpytest(f"--agenttrace-html={path}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: --agenttrace-html: cannot write a file in {folder} (*); choose another path"]
    )
    assert not (pytester.path / "ran").exists()  # no test ran
    assert not path.exists()


def test_the_check_leaves_no_file_and_keeps_the_old_report_until_the_end(
    pytester: pytest.Pytester,
) -> None:
    pytester.path.joinpath("r.html").write_text("the previous report")
    pytester.makepyfile(
        test_it=dedent(
            """
            import os

            def test_it(agenttrace):
                agenttrace.tracer.start_span("x").end()
                assert [name for name in os.listdir() if "r.html" in name] == ["r.html"]
                with open("r.html") as report:
                    assert report.read() == "the previous report"
            """
        )
    )
    pytester.runpytest("--agenttrace-html=r.html", "-p", "no:cacheprovider").assert_outcomes(
        passed=1
    )
    (test,) = report_data(pytester.path / "r.html")["tests"]
    assert test["spans"][0]["n"] == "x"
    assert [path.name for path in pytester.path.iterdir() if "r.html" in path.name] == ["r.html"]
