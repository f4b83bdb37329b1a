"""Policy checks: attributes, span budgets, retries, errors, timing, unfinished spans, GenAI.

Each check is a method here (raising AssertionError with a message written for a
person) and, where it makes sense suite-wide, a setting that `_policy_problems`
applies at teardown. The logic lives in small modules; this mixin only wires it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import AgentTraceWarning
from . import _attributes, _outcomes, _sampling, _timing
from ._findings import Selector, describe_selector, select

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from .._options import AgentTraceOptions
    from ..capture._query import CapturedSpan, NamePattern, SpanForest


def _fail(problems: Sequence[str]) -> None:
    __tracebackhide__ = True
    if problems:
        raise AssertionError("\n\n".join(problems))


class PolicyChecks:
    """Mixed into AgentTrace: assertions about what a healthy trace looks like."""

    if TYPE_CHECKING:
        options: AgentTraceOptions
        _started: list[ReadableSpan]
        _open_at_stop: bool

        @property
        def forest(self) -> SpanForest: ...

        @property
        def unfinished(self) -> list[CapturedSpan]: ...

    # -- attributes ----------------------------------------------------------------
    def assert_attributes(
        self, selector: Selector, expected: Mapping[str, Any] | Iterable[str]
    ) -> list[CapturedSpan]:
        """Every span matching `selector` carries `expected`.

        `expected` is a list of keys that must be present, or a mapping of key to
        value (or matcher, e.g. `PRESENT`). Returns the matching spans.
        """
        __tracebackhide__ = True
        from ._attributes import attribute_problems

        spans = select(self.forest, selector)
        problem = attribute_problems(spans, expected, describe_selector(selector))
        _fail([problem] if problem else [])
        return spans

    def assert_required_attributes(self, rules: Mapping[str, Sequence[str]] | None = None) -> None:
        """Apply `require_attributes` rules now (default: the resolved setting)."""
        __tracebackhide__ = True
        from .._options import attribute_rules
        from ._attributes import required_attribute_problems

        resolved = self.options.require_attributes if rules is None else attribute_rules(rules)
        _fail(required_attribute_problems(self.forest, resolved))

    # -- span budgets ----------------------------------------------------------------
    def assert_span_count(
        self,
        name: NamePattern | None = None,
        *,
        exactly: int | None = None,
        at_most: int | None = None,
        at_least: int | None = None,
    ) -> int:
        """The number of finished spans matching `name` (all when None) is within bounds."""
        __tracebackhide__ = True
        from ._attributes import span_count_problem

        spans = select(self.forest, name)
        problem = span_count_problem(
            spans, name, exactly=exactly, at_most=at_most, at_least=at_least
        )
        _fail([problem] if problem else [])
        return len(spans)

    def assert_max_spans_per_trace(self, limit: int | None = None) -> None:
        """No trace has more than `limit` spans (default: the max_spans_per_trace setting)."""
        __tracebackhide__ = True
        from ._attributes import trace_cap_problems

        limit = self.options.max_spans_per_trace if limit is None else limit
        if limit is None:
            raise TypeError("assert_max_spans_per_trace() needs a limit (or the setting)")
        _fail(trace_cap_problems(self.forest.traces, limit))

    # -- retries ---------------------------------------------------------------------
    def assert_retries(
        self,
        name: NamePattern | None = None,
        *,
        at_most: int | None = None,
        exactly: int | None = None,
    ) -> dict[str, int]:
        """Repeated attempts of one operation are capped.

        Attempts are spans of the same name under the same parent (or numbered by
        `http.request.resend_count`). Returns {operation: retries} for `name`.
        """
        __tracebackhide__ = True
        from ._outcomes import retry_groups, retry_problems

        if (at_most is None) == (exactly is None):
            raise TypeError("assert_retries() takes exactly one of at_most= or exactly=")
        spans = select(self.forest, name)
        if not spans:
            raise AssertionError(
                f"No finished span matches {describe_selector(name)}, so no retries could "
                f"be counted.\n\nCheck the span name pattern (globs: `embed*`)."
            )
        pattern = "*" if name is None or not isinstance(name, str) else name
        limit = at_most if exactly is None else exactly
        assert limit is not None
        _fail(
            retry_problems(
                spans,
                [(pattern, limit)],
                exactly=exactly is not None,
                source=f" (matching {describe_selector(name)})",
            )
        )
        return {group.name: group.retries for group in retry_groups(spans)}

    # -- errors ----------------------------------------------------------------------
    def assert_no_errors(self, selector: Selector = None) -> None:
        """No span has status ERROR or an `exception` event."""
        __tracebackhide__ = True
        from ._outcomes import no_errors_problem

        problem = no_errors_problem(select(self.forest, selector), "")
        _fail([problem] if problem else [])

    def assert_error(
        self,
        selector: Selector,
        exception_type: type[BaseException] | str | None = None,
        *,
        message: str | None = None,
    ) -> list[CapturedSpan]:
        """A span matching `selector` failed (with that exception type / message text)."""
        __tracebackhide__ = True
        from ._outcomes import error_bullet, recorded_errors, type_matches

        spans = select(self.forest, selector)
        what = describe_selector(selector)
        if not spans:
            raise AssertionError(f"No finished span matches {what}, so none recorded an error.")
        wanted_type = (
            None
            if exception_type is None
            else exception_type
            if isinstance(exception_type, str)
            else exception_type.__name__
        )

        def fits(span: CapturedSpan) -> bool:
            return any(
                (exception_type is None or type_matches(exception_type, error.type))
                and (message is None or message in str(error.message))
                for error in recorded_errors(span)
            )

        matched = [span for span in spans if fits(span)]
        if matched:
            return matched
        wanted = "an error"
        if wanted_type is not None:
            wanted += f" of type {wanted_type}"
        if message is not None:
            wanted += f" with message containing {message!r}"
        errors = [span for span in spans if recorded_errors(span)]
        lines = [
            f"Expected {wanted} on a span matching {what}; "
            + ("the errors recorded were:" if errors else "none of them recorded an error:")
        ]
        lines += [f"- {error_bullet(span)}" for span in (errors or spans)]
        lines += [
            "",
            "Errors are status ERROR or an `exception` event (span.record_exception, or an "
            "exception leaving a `with tracer.start_as_current_span(...)` block).",
        ]
        raise AssertionError("\n".join(lines))

    # -- timing ----------------------------------------------------------------------
    def assert_duration(
        self,
        selector: Selector,
        *,
        at_most: float | None = None,
        at_least: float | None = None,
    ) -> list[CapturedSpan]:
        """Every finished span matching `selector` lasted within the bounds (seconds)."""
        __tracebackhide__ = True
        from ._timing import duration_problem

        spans = select(self.forest, selector)
        problem = duration_problem(
            spans, at_most=at_most, at_least=at_least, what=describe_selector(selector)
        )
        _fail([problem] if problem else [])
        return spans

    def assert_timeout_budgets(self, budgets: Mapping[str, float] | None = None) -> None:
        """Spans fit their timeout budgets, and each parent's budget fits its children's.

        `budgets` maps span name globs to seconds (default: the timeout_budgets
        setting). Fails when a span took longer than its budget (showing the
        critical path that used the time), or when the budgets of the children on
        a parent's critical path add up to more than the parent's own.
        """
        __tracebackhide__ = True
        from .._options import budget_map
        from ._timing import budget_problems

        resolved = self.options.timeout_budgets if budgets is None else budget_map(budgets)
        _fail(budget_problems(self.forest.spans, resolved))

    def critical_path(self, span: CapturedSpan) -> list[CapturedSpan]:
        """The chain of `span`'s children that ran one after another and took longest."""
        from ._timing import critical_path, observed

        return critical_path(span, observed)[1]

    def assert_no_outliving_children(self) -> None:
        """No span ended after its parent ended (except consumers of messages)."""
        __tracebackhide__ = True
        from ._timing import outliving_problems

        _fail(outliving_problems(self.forest.spans))

    def assert_all_ended(self) -> None:
        """Every span started during the test has ended (no hung agent)."""
        __tracebackhide__ = True
        from ._timing import unfinished_problems

        _fail(unfinished_problems(self.unfinished))

    # -- sampling --------------------------------------------------------------------
    def assert_sampled_whole(
        self, workflow: Callable[[], Any], *, runs: int = 200, same_shape: bool = True
    ) -> int:
        """Run `workflow` `runs` times; fail if any trace was only partly sampled.

        Use it with the code's own samplers (a TracerProvider passed to
        `agenttrace.attach`). A child kept while its parent was dropped is seen
        from the child's parent context; a child dropped while its trace was kept
        is seen by comparing runs (`same_shape=False` for workflows whose span
        names differ between runs). Returns how many runs were kept whole.
        """
        __tracebackhide__ = True
        from ._sampling import run_workflow, sampling_runs_problem

        per_run = run_workflow(self._started, workflow, runs)
        problem, whole = sampling_runs_problem(per_run, same_shape)
        _fail([problem] if problem else [])
        return whole

    # -- GenAI -----------------------------------------------------------------------
    def assert_genai_conventions(
        self,
        selector: Selector = None,
        *,
        level: str = "required",
        structure: bool = True,
        workflow: NamePattern | None = None,
        deprecated: str | None = None,
    ) -> None:
        """GenAI spans (chat, embeddings, invoke_agent, execute_tool, ...) follow the conventions.

        level: "required" (required attributes, conditionally required ones the
        span itself shows are due, span name shape and kind) or "recommended"
        (also token usage and other recommended attributes). structure: tools
        under agents, model calls under an agent or `workflow` span, sub-agents
        under the tool that called them. deprecated: "warn" (default setting),
        "fail" or "allow" for renamed attributes such as gen_ai.system.
        """
        __tracebackhide__ = True
        from ._genai import genai_problems

        failures, notes = genai_problems(
            select(self.forest, selector),
            level=level,
            deprecated=self.options.genai_deprecated if deprecated is None else deprecated,
            structure=structure,
            workflow=workflow,
        )
        _warn(notes)
        _fail(failures)

    # -- teardown ----------------------------------------------------------------------
    def _policy_problems(self) -> list[str]:
        """Findings of the policies the resolved options switch on (run after the test body)."""
        options = self.options
        # the forest is built only if a policy reads it: most tests switch none on
        problems: list[str] = []
        if options.unfinished_spans != "ignore" and self._open_at_stop:
            found = _timing.unfinished_problems(self.unfinished, setting=options.unfinished_spans)
            if options.unfinished_spans == "fail":
                problems += found
            else:
                _warn(found)
        if options.require_attributes:
            problems += _attributes.required_attribute_problems(
                self.forest, options.require_attributes
            )
        if options.max_spans_per_trace is not None:
            problems += _attributes.trace_cap_problems(
                self.forest.traces, options.max_spans_per_trace
            )
        if options.max_retries:
            problems += _outcomes.retry_problems(
                self.forest.spans, options.max_retries, source=" (max_retries)"
            )
        if options.span_errors == "fail":
            problem = _outcomes.no_errors_problem(self.forest.spans, " (span_errors = fail)")
            problems += [problem] if problem else []
        if options.max_duration is not None:
            problem = _timing.duration_problem(
                self.forest.spans, at_most=options.max_duration, at_least=None, what="any span"
            )
            problems += [problem] if problem and self.forest.spans else []
        if options.timeout_budgets:
            problems += _timing.budget_problems(self.forest.spans, options.timeout_budgets)
        if options.outliving_children == "fail":
            problems += _timing.outliving_problems(
                self.forest.spans, " (outliving_children = fail)"
            )
        if options.partial_sampling == "fail":
            problems += _sampling.partial_sampling_problems(
                list(self._started), " (partial_sampling = fail)"
            )
        if options.genai_conventions != "off":
            from ._genai import genai_problems

            failures, notes = genai_problems(
                self.forest.spans,
                level=options.genai_conventions,
                deprecated=options.genai_deprecated,
                source=f" (genai_conventions = {options.genai_conventions})",
            )
            _warn(notes)
            problems += failures
        return problems


def _warn(notes: Sequence[str]) -> None:
    if not notes:
        return
    for note in notes:
        warnings.warn(AgentTraceWarning(note), stacklevel=3)
