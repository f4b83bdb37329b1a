"""Fixtures that make the example suite self-contained: a stub API and HTTP tracing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from pipeline import Services
from stub_api import StubAPI


@pytest.fixture(scope="session", autouse=True)
def _trace_requests() -> Iterator[None]:
    """Auto-instrument `requests` once, as an application would at start-up."""
    instrumentor = RequestsInstrumentor()
    already = instrumentor.is_instrumented_by_opentelemetry
    if not already:
        instrumentor.instrument()
    yield
    if not already:
        instrumentor.uninstrument()


@pytest.fixture(scope="session")
def _stub_server() -> Iterator[StubAPI]:
    server = StubAPI().start()
    yield server
    server.stop()


@pytest.fixture
def stub_api(_stub_server: StubAPI) -> Iterator[StubAPI]:
    """The embedding + LLM stub, with no scripted failures left over from other tests."""
    _stub_server.reset()
    yield _stub_server
    _stub_server.reset()


@pytest.fixture
def services(stub_api: StubAPI) -> Services:
    return Services(embedding_url=stub_api.url, llm_url=stub_api.url)


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytest-opentelemetry off in the runs pytester starts (see tests/conftest.py)."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:pytest_opentelemetry")
    return pytester
