"""The cyclic garbage collector paused while a tree is matched or rendered.

Matching, explaining and rendering build a few container objects per span (lines,
their lists, rows) that all stay alive until the text is done. Every so many such
objects CPython runs a full collection, which walks every live object (the
captured spans too) and frees nothing: at 100,000 spans three of them took longer
than the rendering itself, and their cost grows faster than the trace. What these
steps leave behind is freed by reference counting when they return.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside the block; the collector on again after it if it
    was on before (a block entered while another thread's is open leaves it alone)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
