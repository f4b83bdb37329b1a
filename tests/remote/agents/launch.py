"""Start the validator agent in a child process (used by conftest.py and pytester runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from opentelemetry import propagate

AGENTS = Path(__file__).parent


def run_validator(
    env: dict[str, str], *args: str, carrier: Any = None, zero_code: bool = False
) -> None:
    """Run the validator agent in a child process and wait for it to exit."""
    if carrier is None:
        carrier = {}
        propagate.inject(carrier)
    argument = carrier if carrier == "-" else json.dumps(carrier)  # "-": from TRACEPARENT
    command = [sys.executable, str(AGENTS / "validator.py"), argument, *args]
    if zero_code:
        command = [str(Path(sys.executable).with_name("opentelemetry-instrument")), *command]
    subprocess.run(command, env={**os.environ, **env}, check=True, timeout=60)
