import ast
import sys
import types
from pathlib import Path

import pytest
from _pytest.assertion.rewrite import rewrite_asserts
from hypothesis import settings

pytest.register_assert_rewrite("pages")
import pages  # noqa: E402  (after registering it for assertion rewriting)

pytest_plugins = ["pytester"]

# Shared CI machines stall now and then: time limits per example only make flakes.
settings.register_profile("agenttrace", deadline=None)
settings.load_profile("agenttrace")


class Page(pytest.Module):
    """A docs page as a test module: its python blocks (shown and hidden, see
    docs/pages.py), compiled with the .md as file name and each block at its own
    lines, so tracebacks point into the page. Fixtures, marks, parametrize and
    Hypothesis work as in any test module."""

    def _getobj(self) -> types.ModuleType:
        try:
            source = pages.page_source(self.path)
            tree = ast.parse(source, filename=str(self.path))
        except (pages.PageError, SyntaxError) as error:
            raise self.CollectError(str(error)) from error
        if self.config.getoption("assertmode") == "rewrite":
            rewrite_asserts(tree, source.encode(), str(self.path), self.config)
        # dont_inherit: no __future__ flags of this file leak into the page.
        code = compile(tree, str(self.path), "exec", dont_inherit=True)
        module = types.ModuleType(pages.module_name(self.path))
        module.__file__ = str(self.path)
        sys.modules[module.__name__] = module
        try:
            exec(code, module.__dict__)
        except BaseException:
            del sys.modules[module.__name__]
            raise
        self.config.pluginmanager.consider_module(module)
        return module


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Page | None:
    if file_path.suffix == ".md" and file_path.parent.resolve() == pages.DOCS:
        return Page.from_parent(parent, path=file_path)
    return None


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytest-opentelemetry off in the runs pytester starts (see tests/conftest.py)."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:pytest_opentelemetry")
    return pytester
