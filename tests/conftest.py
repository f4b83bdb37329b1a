import pytest
from hypothesis import settings

import pytest_agenttrace.capture._router  # noqa: F401  one router for in-process pytester runs

pytest_plugins = ["pytester"]

# Shared CI machines stall now and then: time limits per example only make flakes.
settings.register_profile("agenttrace", deadline=None)
settings.load_profile("agenttrace")


# pytest-opentelemetry (in the test extra) sets the process's global TracerProvider in
# every session it is active in, pytester's in-process runs included: tests of code
# that sets no provider, or sets its own, could not mean what they say. It is off in
# this suite (addopts in pyproject.toml) and in the pytest runs the tests start
# (below; the same in examples/ and docs/conftest.py); tests/capture/test_ambient.py
# turns it on, in subprocesses only. Not one conftest.py at the root: that would put
# the root on sys.path, and with an editable install the inner pytester runs would
# then warn that pytest_agenttrace was imported before it could be rewritten.
@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # pytester clears PYTEST_ADDOPTS as it starts: set after it, this reaches its
    # in-process and subprocess runs alike
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:pytest_opentelemetry")
    return pytester
