"""`--agenttrace-export=DIR`: one OTLP JSON file per captured test.

The document is the OTLP/JSON encoding of one `ExportTraceServiceRequest` (the
same codec the receiver and `load_otlp_json` use): `resourceSpans` / `scopeSpans`,
hex ids, integer enums, 64-bit integers as strings. Jaeger v2 opens it, a collector
takes it as the body of `POST /v1/traces`, `load_otlp_json` reads it back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .._full_text import file_stem
from ..remote._codec import encode_json_document

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan


def export_path(directory: Path, node_id: str) -> Path:
    """The test's file: its node id made safe for any file system, unique per test."""
    return directory / f"{file_stem(node_id)}.json"


def write_export(directory: Path, node_id: str, spans: Sequence[ReadableSpan]) -> Path:
    """Write the spans as OTLP JSON; a reader never sees a half-written file."""
    path = export_path(directory, node_id)
    text = json.dumps(encode_json_document(spans), ensure_ascii=False, separators=(",", ":"))
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path
