"""For the whole suite (tests/, examples/, docs/)."""

import pytest

# pytest-opentelemetry (in the test extra) sets the process's global TracerProvider in
# every session it is active in, pytester's in-process runs included: tests of code
# that sets no provider, or sets its own, could not mean what they say. It is off in
# this suite (addopts in pyproject.toml) and in the pytest runs the tests start
# (below); tests/capture/test_ambient.py turns it on, in subprocesses only.
WITHOUT_CI_TRACING = "-p no:pytest_opentelemetry"


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # pytester clears PYTEST_ADDOPTS as it starts: set after it, this reaches its
    # in-process and subprocess runs alike
    monkeypatch.setenv("PYTEST_ADDOPTS", WITHOUT_CI_TRACING)
    return pytester
