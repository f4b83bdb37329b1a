from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "agents"))

from launch import run_validator  # noqa: E402


@pytest.fixture
def validator() -> Any:
    """Runs the validator agent in a child process: validator(env, *args, carrier=...)."""
    return run_validator
