"""Capture under zero-code set-up: `opentelemetry-instrument` and opentelemetry-distro
configure the SDK from environment variables before pytest starts."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from textwrap import dedent

import pytest

INSTRUMENT = Path(sys.executable).with_name("opentelemetry-instrument")

pytestmark = pytest.mark.skipif(
    not INSTRUMENT.exists() and shutil.which("opentelemetry-instrument") is None,
    reason="opentelemetry-instrument comes with opentelemetry-distro (the test extra)",
)

# No line of OpenTelemetry set-up: the requests span comes from the auto-instrumentation
# opentelemetry-instrument turns on, the service name from OTEL_SERVICE_NAME.
UNINSTRUMENTED_APP = """
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import requests
    from opentelemetry import trace


    class Search(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args):
            pass


    def test_retrieval(agenttrace):
        server = HTTPServer(("127.0.0.1", 0), Search)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with trace.get_tracer("app").start_as_current_span("retrieval_agent"):
                requests.get(f"http://127.0.0.1:{server.server_port}/search", timeout=5)
        finally:
            server.shutdown()
        agenttrace.assert_tree('''
            retrieval_agent       [service=agents]
              GET                 [client]
        ''')
        agenttrace.assert_single_trace()
"""


@pytest.mark.parametrize("exporter", ["none", "console"])
def test_an_sdk_configured_from_the_environment_is_captured(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, exporter: str
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", exporter)
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "none")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "agents")
    pytester.makepyfile(dedent(UNINSTRUMENTED_APP))
    instrument = INSTRUMENT if INSTRUMENT.exists() else shutil.which("opentelemetry-instrument")
    result = pytester.run(instrument, sys.executable, "-m", "pytest", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    if exporter == "console":  # the distro's exporter gets every span too
        result.stdout.fnmatch_lines(['*"name": "retrieval_agent"*'])
