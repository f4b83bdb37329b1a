"""Install the propagator spy when the code under test first imports the propagate API.

Until `opentelemetry.propagate` is imported nobody can inject or extract through
the global propagator, so a capture starting before then has nothing to wrap yet.
Importing it ourselves would cost every test of a suite that never propagates:
its modules add eight loggers, and pytest walks every logger at each phase of
each test. Instead, a finder at the front of `sys.meta_path` waits for that one
import, lets the real loader run it, then calls back the running capture.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

PROPAGATE = "opentelemetry.propagate"


class _ThenCall(importlib.abc.Loader):
    """The module's own loader, then a callback once the module has run."""

    def __init__(self, loader: Any, then: Callable[[], None]) -> None:
        self._loader = loader
        self._then = then

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self._loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        # the module keeps its own loader (tracebacks and resources read it)
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._then()

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, ...: the real loader's
        return getattr(self._loader, name)


class _PropagateImportWatch(importlib.abc.MetaPathFinder):
    """Process-wide: calls `callback` (the running capture's) after the first import."""

    def __init__(self) -> None:
        self.callback: Callable[[], None] | None = None

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != PROPAGATE:
            return None
        sys.meta_path.remove(self)  # one import to watch: done with it either way
        spec: importlib.machinery.ModuleSpec | None = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        if spec is None:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _ThenCall(spec.loader, self._imported)
        return spec

    def _imported(self) -> None:
        callback, self.callback = self.callback, None
        if callback is not None:
            callback()


_WATCH = _PropagateImportWatch()


def when_propagate_imported(callback: Callable[[], None]) -> None:
    """Call `callback` now if the propagate API is imported, else right after its import.

    `cancel_deferred()` drops a deferred call.
    """
    if PROPAGATE in sys.modules:
        callback()
        return
    _WATCH.callback = callback
    if _WATCH not in sys.meta_path:
        sys.meta_path.insert(0, _WATCH)


def cancel_deferred() -> None:
    """The capture ended: a later import installs nothing for it."""
    _WATCH.callback = None
