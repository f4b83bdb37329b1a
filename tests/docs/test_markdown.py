"""The docs pages are their own test modules (docs/conftest.py, docs/pages.py): every
```python block of docs/*.md runs as part of its page, and no page includes its
code from elsewhere."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))

# Written independently of docs/pages.py, so that a block its parser misses shows.
FENCE = re.compile(r"^( *)```python\n(.*?)^\1```$", re.DOTALL | re.MULTILINE)
TEST = re.compile(r"^(?:async )?def (test_\w+)", re.MULTILINE)

PROBE = """
import json, os

def pytest_collectreport(report):
    if report.nodeid.endswith(".md"):
        with open(os.environ["DOCS_PROBE_OUT"], "a", encoding="utf-8") as out:
            names = [node.name for node in report.result]
            out.write(json.dumps([report.nodeid, report.outcome, names]) + "\\n")
"""


def page_tests(page: Path) -> tuple[int, set[str]]:
    """The page's python blocks that belong to its module, and the tests they define."""
    text = page.read_text(encoding="utf-8")
    blocks = [
        code
        for match in FENCE.finditer(text)
        # a block named `<!-- file: ... -->` is a file an example writes, not page code
        if not re.search(r"<!-- file: \S+ -->\s*$", text[: match.start()])
        for code in [re.sub(rf"^{match[1]}", "", match[2], flags=re.MULTILINE)]
    ]
    return len(blocks), {name for code in blocks for name in TEST.findall(code)}


def test_no_page_includes_its_code_from_elsewhere() -> None:
    assert PAGES, "no docs/*.md pages found: has the docs layout changed?"
    including = [page.name for page in PAGES if "--8<--" in page.read_text(encoding="utf-8")]
    assert not including, f"pages with snippet includes: {including}"


def test_every_page_with_python_blocks_is_collected(tmp_path: Path) -> None:
    (tmp_path / "docs_probe.py").write_text(PROBE, encoding="utf-8")
    out = tmp_path / "collected.jsonl"
    pythonpath = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "docs", "--collect-only", "-q"]
        + ["-p", "docs_probe", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": pythonpath, "DOCS_PROBE_OUT": str(out)},
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    collected = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        nodeid, outcome, names = json.loads(line)
        collected[Path(nodeid).name] = (outcome, {name.split("[")[0] for name in names})

    with_code = 0
    for page in PAGES:
        blocks, tests = page_tests(page)
        if not blocks:
            continue
        with_code += 1
        assert page.name in collected, f"docs/{page.name} has python blocks but was not collected"
        outcome, names = collected[page.name]
        assert outcome == "passed", f"docs/{page.name}: {outcome}"
        assert names == tests, f"docs/{page.name}: collected {names}, the page defines {tests}"
    assert with_code >= 10, "fewer pages with python blocks than expected: has the layout changed?"


def test_the_readme_example_is_the_quickstart_page_example() -> None:
    (readme_example,) = [m[2] for m in FENCE.finditer((ROOT / "README.md").read_text())]
    page_examples = [m[2] for m in FENCE.finditer((DOCS / "index.md").read_text())]
    assert readme_example in page_examples, "README.md's example differs from docs/index.md's"


def test_tracebacks_point_into_the_page(pytester: pytest.Pytester) -> None:
    # The collector, on a tiny page of its own: docs/conftest.py collects the pages
    # next to it, and docs/pages.py looks block names up there.
    shutil.copy(DOCS / "conftest.py", pytester.path / "conftest.py")
    shutil.copy(DOCS / "pages.py", pytester.path / "pages.py")
    page = pytester.path / "page.md"
    page.write_text(
        "\n".join(
            [
                "# A page",  # 1
                "",
                "```python",
                "def halve(n):",
                "    assert n % 2 == 0, 'odd'",  # 5
                "    return n // 2",
                "```",
                "",
                "Prose between the blocks.",
                "",  # 10
                "<!-- check",
                "```python",
                "def test_halve():",
                "    assert halve(4) == 2",
                "    assert halve(3) == 1",  # 15
                "```",
                "-->",
                "",
                "```python",
                "def test_plain():",  # 20
                "    assert halve(2) == 3",
                "```",
                "",
            ]
        ),
        encoding="utf-8",
    )
    result = pytester.runpytest_subprocess("page.md")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_halve _*",
            ">       assert halve(3) == 1",
            "page.md:15: ",
            ">       assert n % 2 == 0, 'odd'",
            "E       AssertionError: odd",
            "E       assert (3 % 2) == 0",
            "page.md:5: AssertionError",
            "*_ test_plain _*",
            ">       assert halve(2) == 3",
            "E       assert 1 == 3",
            "page.md:21: AssertionError",
        ]
    )
