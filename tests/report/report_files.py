"""Reading the data of a written HTML report back, for the report tests."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_DATA = re.compile(r'<script type="application/json" id="agenttrace-data">(.*?)</script>', re.S)


def report_data(path: Path) -> dict[str, Any]:
    """The JSON the page draws from: {"generatedAt": ms, "tests": [record, ...]}."""
    found = _DATA.search(path.read_text(encoding="utf-8"))
    assert found is not None, f"{path} has no agenttrace-data script"
    data: dict[str, Any] = json.loads(found.group(1))
    return data
