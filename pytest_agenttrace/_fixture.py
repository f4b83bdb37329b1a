"""The `agenttrace` fixture's class: the capture with every capability's methods.

The one module that sees all capabilities: the capture at the bottom, the tree,
propagation and policy mixins on top of it. Only plugin.py and the public
`__init__` import it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.sdk.environment_variables import OTEL_SDK_DISABLED

from ._errors import AgentTraceWarning, ProviderNotSupportedError, hint_bullets
from ._options import AgentTraceOptions
from .capture._capture import Capture
from .capture._query import CapturedSpan
from .capture._router import INSTALLATION
from .capture._wait import WaitFor
from .policies._checks import PolicyChecks
from .propagation._checks import PropagationChecks
from .remote._methods import RemoteMethods
from .tree._match import MARKS_ATTRIBUTE, TreeMark, assert_trace_tree, check_tree_arguments
from .tree._render import render_shape, render_tree
from .tree._snapshot import assert_shape, is_snapshot


class AgentTrace(WaitFor, RemoteMethods, PropagationChecks, PolicyChecks, Capture):
    """Spans captured during one test, with queries and assertions.

    Exported for type hints only: get one from the `agenttrace` fixture.
    """

    # the differences the last failed assert_tree marked, for the HTML report
    _tree_marks: tuple[TreeMark, ...] = ()

    # -- lifecycle: the capture first in, last out ----------------------------------
    def _start(self, options: AgentTraceOptions) -> None:
        super()._start(options)
        self._start_propagation_checks()

    def _stop(self) -> None:
        self._stop_propagation_checks()
        super()._stop()
        # said only where it explains something: an empty capture
        if not self._started and os.environ.get(OTEL_SDK_DISABLED, "").strip().lower() == "true":
            warnings.warn(
                AgentTraceWarning(
                    f"{OTEL_SDK_DISABLED}=true: OpenTelemetry's SDK hands out no-op "
                    f"tracers, so no span was recorded and the capture is empty. Unset "
                    f"it for the test run."
                ),
                stacklevel=2,
            )

    def clear(self) -> None:
        """Forget everything captured so far (call at the start of each Hypothesis example)."""
        self._clear_propagation_checks()
        self._tree_marks = ()
        super().clear()

    def _teardown_problems(self) -> list[str]:
        """Findings that fail the test after its body ran (strict mode, policies)."""
        return self._receiver_findings() + self._propagation_problems() + self._policy_problems()

    # -- assertions ---------------------------------------------------------------------
    def assert_tree(
        self,
        expected: Any,
        *,
        ordered: bool = False,
        volatile: Iterable[str] | str | None = None,
        output_lines: int | None = None,
        keep_full_text: Callable[[str], str] | None = None,
    ) -> None:
        """Assert the captured spans form the expected tree (see the syntax reference).

        The keyword arguments are `assert_trace_tree`'s; `volatile` and `output_lines`
        default to the test's settings (ini, command line, marker).
        `expected` may be an inline-snapshot `snapshot(...)`: then the trace's
        `shape()` is compared with it (docs/syntax.md#snapshots).
        """
        __tracebackhide__ = True
        if output_lines is None:
            output_lines = self.options.output_lines
        globs = check_tree_arguments(
            "agenttrace.assert_tree()",
            ordered=ordered,
            volatile=volatile,
            output_lines=output_lines,
            keep_full_text=keep_full_text,
        )
        if is_snapshot(expected):
            assert_shape(self.shape(), expected)
            return
        try:
            assert_trace_tree(
                self,
                expected,
                ordered=ordered,
                volatile=self.options.volatile_attributes if volatile is None else globs,
                output_lines=output_lines,
                keep_full_text=keep_full_text,
            )
            return
        except AssertionError as error:
            self._tree_marks = getattr(error, MARKS_ATTRIBUTE, ())
            hints = [self._open_hint(), self._awaiting_hint(), self._broken_hop_hint()]
            hint = "\n\n".join(text for text in hints if text)
            if not hint:
                raise
            message = f"{error}\n\n{hint}"
        raise AssertionError(message)  # outside the except: no "During handling of..."

    def _open_hint(self) -> str:
        """Open spans are not in the tree: said, since one reads as `missing:` there."""
        still_open = self.unfinished
        if not still_open:
            return ""
        lines = [
            f"{len(still_open)} span(s) had not ended when the tree was compared; "
            f"assert_tree sees finished spans only. End them first, or "
            f"agenttrace.wait_for(complete=True) for spans that other threads end:"
        ]
        lines += hint_bullets(still_open, _named_with_chain)
        return "\n".join(lines)

    def _awaiting_hint(self) -> str:
        awaiting = self.awaiting_parents
        if not awaiting:
            return ""
        lines = [
            f"{len(awaiting)} span(s) received from another process name a parent that "
            f"has not arrived (yet): wait_for(complete=True) before asserting, or did "
            f"that process exit without flushing?"
        ]
        lines += hint_bullets(
            awaiting,
            lambda span: (
                f"{span.name} [service={span.service}] under parent {span.parent_span_id:016x}"
            ),
        )
        return "\n".join(lines)

    def shape(self) -> str:
        """The canonical, volatile-free text of the captured trees, for snapshots:
        `assert agenttrace.shape() == snapshot()`. It parses back as an expectation."""
        return render_shape(self.forest, volatile=self.options.volatile_attributes)

    def render(self, style: str = "box") -> str:
        """The captured trees as text (`box` as in reports, `indent` as in expectations)."""
        return render_tree(self.forest, style=style, volatile=self.options.volatile_attributes)


def _named_with_chain(span: CapturedSpan) -> str:
    chain = span.ancestor_chain()
    return span.name + (f" (under {chain})" if chain else "")


def start_capture(options: AgentTraceOptions) -> AgentTrace:
    """Begin capturing for one test (the fixture's set-up)."""
    try:
        INSTALLATION.ensure_global()
    except ProviderNotSupportedError as error:
        warnings.warn(
            AgentTraceWarning(
                f"{error}\nOnly spans from agenttrace.tracer_provider (or providers "
                f"passed to agenttrace.attach()) will be captured."
            ),
            stacklevel=3,
        )
    stray = INSTALLATION.router.stray
    capture = AgentTrace(_stray=stray)
    stray.clear()
    capture._start(options)
    return capture
