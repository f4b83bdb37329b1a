"""Match captured span trees against expected trees, and explain mismatches.

At each level, assigning actual children to expected lines is a bipartite
b-matching: every line takes between `min_count` and `max_count` spans, every span
goes to at most one line, and (unless a `...` is present) every child must be
accounted for. Greedy assignment is wrong as soon as patterns overlap (`llm_*` and
`llm_call`), so `_Flow` uses augmenting paths; compatibility of a line with a span
(which recurses into the subtree) is memoised, keeping the whole match polynomial;
for lines with no details below them, per subtree shape (`_shapes`), so alike
subtrees are compared once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Union

from .._errors import ExpectedTreeError
from .._options import DEFAULT_OUTPUT_LINES, _shown, key_globs, line_count
from ..capture._query import (
    MISSING,
    CapturedSpan,
    attribute_mismatches,
    is_glob,
    name_matches,
    roots_of,
)
from ._bound import UNEXPECTED, bounded_tree, keep_in_test_file
from ._collector import collector_paused
from ._details import detail_differences, details_match, link_fits
from ._flow import _Flow
from ._model import (
    ELLIPSIS_LINE,
    ExpectedSpan,
    check_ordered_children,
    format_count,
    format_cut_value,
    format_expected_line,
    format_name,
    format_value,
)
from ._parse import to_expected_roots
from ._render import (
    LineBudget,
    RenderLine,
    collapse,
    count_marks,
    detail_lines,
    ellipsis_line,
    missing_line,
    natural_key,
    plain_lines,
    span_line,
    walk,
)
from ._shapes import SubtreeShapes
from ._volatile import DEFAULT_RULES, VolatileRules, rules_for

__all__ = [
    "MARKS_ATTRIBUTE",
    "TreeMark",
    "_Flow",
    "assert_trace_tree",
    "roots_of",
    "trace_tree_matches",
]

EXPLAIN_LINE_LIMIT = 20_000
# and at most this many levels of indentation in all: a chain 20,000 deep would be
# 400 MB of text, cut this way near 4,500 levels (about 20 MB)
EXPLAIN_INDENT_LIMIT = 10_000_000
# failing subtrees below that cut whose first difference is looked for and said
_CUT_DIFFERENCES = 5
HINT = (
    "Paste the tree above into the test to accept the current shape; "
    "lines marked ✗ differ from the expectation."
)


class _VirtualRoot:
    """Parent of the top-level spans, so top-level lines match like any children."""

    def __init__(self, roots: Sequence[CapturedSpan]) -> None:
        self.children = list(roots)

    def descendants(self) -> list[CapturedSpan]:
        found: list[CapturedSpan] = []
        for root in self.children:
            found.append(root)
            found.extend(root.descendants())
        return found


_Parent = Union[CapturedSpan, _VirtualRoot]  # noqa: UP007  (runtime alias, 3.9)
# a span whose children are still to explain: its line, the span, its rendering,
# and how many marks its own line had (before count marks were added)
_Shell = tuple[ExpectedSpan, CapturedSpan, RenderLine, int]


@dataclasses.dataclass(frozen=True)
class TreeMark:
    """One difference of a failed match, tied to a span for the HTML report.

    `span` is the (trace id, span id) of the marked span; for a missing line it is
    the parent the line was expected under (None: at the top level).
    """

    span: tuple[int, int] | None
    text: str
    missing: bool = False


# The AssertionError of a failed match carries its marks here. Not a subclass:
# pytest would print its dotted name instead of "AssertionError".
MARKS_ATTRIBUTE = "agenttrace_marks"


def _tree_marks(lines: Sequence[RenderLine]) -> list[TreeMark]:
    """The marks of an explained tree, in rendering order (no recursion)."""
    marks: list[TreeMark] = []
    pending: list[tuple[RenderLine, tuple[int, int] | None]] = [
        (line, None) for line in reversed(lines)
    ]
    while pending:
        line, parent = pending.pop()
        if line.is_comment:
            marks.append(TreeMark(parent, line.head, missing=line.head.startswith("missing: ")))
            continue
        key = (line.span.trace_id, line.span.span_id) if line.span is not None else parent
        marks += [TreeMark(key, text) for text in line.marks]
        pending.extend((child, key) for child in reversed(line.children))
    return marks


# --------------------------------------------------------------------------- public


def assert_trace_tree(
    spans: Any,
    expected: Any,
    *,
    ordered: bool = False,
    volatile: Iterable[str] | str | None = None,
    output_lines: int = DEFAULT_OUTPUT_LINES,
    keep_full_text: Callable[[str], str] | None = None,
) -> None:
    """Assert that the captured spans form exactly the expected tree.

    `spans`: the `agenttrace` capture (anything with `.forest`), a `SpanForest`, a
    `CapturedSpan` (its subtree), or an iterable of `ReadableSpan`/`CapturedSpan`.
    `expected`: the text form, `span(...)`, or a list of `span(...)` and `...`.
    `ordered=True` makes every level ordered (children in start order).
    `volatile`: key globs added to the default volatile list of the failure's
    rendering (`!glob`: print literally), as ini `agenttrace_volatile_attributes`.
    `output_lines`: the failure message's length at most (0: no limit); a longer
    one shows the differences with their context, and the complete message goes
    to `keep_full_text(text)`, which returns where it went (default: a file named
    after the running test in `<basetemp>/agenttrace/`).
    A wrong type of argument is a TypeError, a bad value a ValueError, naming it.
    """
    __tracebackhide__ = True
    globs = check_tree_arguments(
        "assert_trace_tree()",
        ordered=ordered,
        volatile=volatile,
        output_lines=output_lines,
        keep_full_text=keep_full_text,
    )
    with collector_paused():
        try:
            root_line = _expected_root(expected, ordered)
        except ExpectedTreeError as error:
            # The parser's frames say nothing to the user: the message names the line.
            raise error.with_traceback(None) from None
        try:
            rules = rules_for(globs)
        except ValueError as error:
            raise ExpectedTreeError(f"assert_trace_tree(): volatile=: {error}") from None
        actual = _VirtualRoot(roots_of(spans))
        matcher = _Matcher(ordered_everywhere=ordered, universe=actual, rules=rules)
        if matcher.matches(root_line, actual):
            return
        marks: list[TreeMark] = []
        message = matcher.failure_message(
            root_line, actual, output_lines, keep_full_text or keep_in_test_file, marks
        )
    failure = AssertionError(message)
    setattr(failure, MARKS_ATTRIBUTE, tuple(marks))
    raise failure


def trace_tree_matches(spans: Any, expected: Any, *, ordered: bool = False) -> bool:
    """The boolean form of `assert_trace_tree`."""
    __tracebackhide__ = True
    check_tree_arguments("trace_tree_matches()", ordered=ordered)
    with collector_paused():
        actual = _VirtualRoot(roots_of(spans))
        return _Matcher(ordered_everywhere=ordered, universe=actual).matches(
            _expected_root(expected, ordered), actual
        )


def check_tree_arguments(
    where: str,
    *,
    ordered: Any,
    volatile: Any = None,
    output_lines: Any = DEFAULT_OUTPUT_LINES,
    keep_full_text: Any = None,
) -> tuple[str, ...]:
    """Refuse what a marker or the command line would refuse, at the call; the globs.

    Unchecked, `ordered="no"` is truthy (ordered), a str `output_lines` fails deep
    in the matcher and a negative one means no bound. A wrong type is a TypeError,
    a bad value a ValueError, each naming the argument and what it takes.
    """
    __tracebackhide__ = True
    if not isinstance(ordered, bool):  # "no" and "false" are truthy: never guess
        raise TypeError(f"{where}: ordered= must be True or False, got {_shown(ordered)}")
    if isinstance(output_lines, bool) or not isinstance(output_lines, int):
        raise TypeError(
            f"{where}: output_lines= must be a whole number of lines (an int; 0: no bound), "
            f"got {_shown(output_lines)}"
        )
    try:
        line_count(output_lines)
    except ValueError as error:
        raise ValueError(
            f"{where}: output_lines={error}; give the most lines a failure prints, "
            f"or 0 for no bound"
        ) from None
    if keep_full_text is not None and not callable(keep_full_text):
        raise TypeError(
            f"{where}: keep_full_text= must be a function taking the complete text and "
            f"returning where it went, got {_shown(keep_full_text)}"
        )
    return _volatile_globs(where, volatile)


def _volatile_globs(where: str, volatile: Any) -> tuple[str, ...]:
    __tracebackhide__ = True
    if volatile is None:
        return ()
    if isinstance(volatile, str):  # one str reads as the ini's text: lines or commas
        entries: str | list[Any] = volatile
    else:
        takes = "key globs: a list of str (or one str, comma-separated)"
        if isinstance(volatile, (bytes, Mapping)) or not isinstance(volatile, Iterable):
            raise TypeError(f"{where}: volatile= must be {takes}, got {_shown(volatile)}")
        entries = list(volatile)  # once: it may be a generator
        for entry in entries:
            if not isinstance(entry, str):
                raise TypeError(f"{where}: volatile= must be {takes}, got entry {_shown(entry)}")
    try:
        return key_globs(entries)
    except ValueError as error:
        raise ExpectedTreeError(f"{where}: volatile=: {error}") from None


def _expected_root(expected: Any, ordered: bool) -> ExpectedSpan:
    root_line = to_expected_roots(expected)
    if ordered:
        # Checked before matching: lazily, only the levels reached would object.
        pending = [root_line]
        while pending:
            node = pending.pop()
            check_ordered_children(node, ordered_everywhere=True)
            pending.extend(node.children)
    return _merge_identical_siblings(root_line, ordered_everywhere=ordered)


def _merge_identical_siblings(root: ExpectedSpan, *, ordered_everywhere: bool) -> ExpectedSpan:
    """A copy where identical lines under an unordered parent are one line with
    their counts added (`job` written 1,000 times is `job [x1000]`); the
    expectation itself when no level has identical lines (the usual case).

    Matching n identical lines against n identical spans compares every line with
    every span, n**2 subtree comparisons, which in a balanced tree compounds level
    by level; one counted line against n spans is n. Built bottom-up, each
    subtree's shape reduced to a small int, so it costs O(lines).
    """
    order: list[ExpectedSpan] = []
    pending = [root]
    while pending:
        node = pending.pop()
        order.append(node)
        pending.extend(node.children)
    shapes: dict[tuple[Any, ...], int] = {}
    shape_of: dict[int, int] = {}  # id(line) -> its shape, its own count left out
    repeated = False
    for node in reversed(order):  # children before their parents
        children = node.children
        if len(children) > 1 and not (node.ordered or ordered_everywhere):
            seen = {shape_of[id(child)] for child in children}
            repeated = repeated or len(seen) < len(children)
        key = (
            _own_shape(node),
            tuple((shape_of[id(c)], c.min_count, c.max_count) for c in children),
            bool(node.gaps) if not (node.ordered or ordered_everywhere) else node.gaps,
        )
        shape_of[id(node)] = shapes.setdefault(key, len(shapes))
    if not repeated:
        return root
    copies: dict[int, ExpectedSpan] = {}
    for node in reversed(order):
        children = [copies[id(child)] for child in node.children]
        gaps = node.gaps
        if not (node.ordered or ordered_everywhere) and len(children) > 1:
            first_of: dict[int, ExpectedSpan] = {}
            merged: list[ExpectedSpan] = []
            for original, child in zip(node.children, children, strict=True):
                first = first_of.get(shape_of[id(original)])
                if first is None:
                    first_of[shape_of[id(original)]] = child
                    merged.append(child)
                    continue
                first.min_count += child.min_count
                high = child.max_count
                first.max_count = (
                    None if first.max_count is None or high is None else first.max_count + high
                )
            if len(merged) < len(children):
                children = merged
                gaps = (len(children),) if gaps else ()  # unordered: only "extra allowed"
        copies[id(node)] = dataclasses.replace(node, children=children, gaps=gaps)
    return copies[id(root)]


_PLAIN = (str, int, float, bool, type(None))


def _own_shape(line: ExpectedSpan) -> tuple[Any, ...]:
    if line.has_details or line.absent or line.label is not None:
        return ("unique", id(line))  # links may point at it, events differ: never merged
    name = line.name if isinstance(line.name, str) else ("re", line.name.pattern, line.name.flags)
    attributes = tuple(
        # the type too: True and 1 are equal keys, and different expectations
        (key, type(value), value if type(value) in _PLAIN else format_value(value))
        for key, value in line.attributes.items()
    )
    return (name, attributes, line.kind, line.status, line.service, line.ordered, line.descendant)


# --------------------------------------------------------------------------- matcher


class _Level:
    """The assignment problem for one expected line's children under one actual parent."""

    def __init__(self, lines: list[ExpectedSpan], parent: _Parent, matcher: _Matcher) -> None:
        self.lines = lines
        self.children = parent.children
        self.items: list[CapturedSpan] = list(self.children)
        groups = list(range(len(self.children)))
        line_items: list[list[int]] = []
        deep_index: dict[int, int] = {}
        for line in lines:
            candidates = []
            for group, span in matcher.candidates(line, parent):
                if not matcher.compatible(line, span):
                    continue
                if span is self.children[group]:
                    candidates.append(group)
                    continue
                index = deep_index.get(id(span))  # a `>>` line's deeper span
                if index is None:
                    index = deep_index[id(span)] = len(self.items)
                    self.items.append(span)
                    groups.append(group)
                candidates.append(index)
            line_items.append(candidates)
        self.flow = _Flow(
            low=[line.min_count for line in lines],
            high=[float("inf") if line.max_count is None else line.max_count for line in lines],
            line_items=line_items,
            item_groups=groups,
            group_count=len(self.children),
        )


class _ChildIndex:
    """Narrows the children worth a full comparison by literal name and attribute values.

    Without it, n expected siblings against n actual ones costs n^2 subtree
    comparisons, which dominates on wide traces (100 `tool_call {tool.index: N}`
    lines under each of 100 agents).
    """

    _LITERALS = (str, int, float, bool)

    def __init__(self, children: list[CapturedSpan]) -> None:
        self.children = children
        self._by_name: dict[str, list[int]] | None = None
        self._name_sets: dict[str, set[int]] = {}
        self._by_attribute: dict[str, dict[Any, list[int]]] = {}
        # id(line) -> its candidates: asked once while warming, once by its level
        self._answers: dict[int, Sequence[int]] = {}

    def candidates(self, line: ExpectedSpan) -> Sequence[int]:
        if len(self.children) < 8:  # indexing costs more than it saves
            return range(len(self.children))
        found = self._answers.get(id(line))
        if found is None:
            found = self._answers[id(line)] = self._narrowed(line)
        return found

    def _narrowed(self, line: ExpectedSpan) -> Sequence[int]:
        pool: Sequence[int] | None = None  # None: every child
        members: set[int] | None = None
        if isinstance(line.name, str) and not is_glob(line.name):
            pool = self._names().get(line.name, [])
            members = self._name_members(line.name)
        for key, value in (line.attributes or {}).items():
            if pool is not None and len(pool) <= 1:
                break
            literal = _literal(value, self._LITERALS)
            if literal is _NOT_LITERAL:
                continue
            narrowed = self._values(key).get(literal, [])
            # Walk the smaller side: n same-name siblings with distinct attribute
            # values are n lines of one candidate each, not n scans of n.
            if pool is None:
                pool = narrowed
            elif members is not None and len(narrowed) < len(pool):
                pool = [j for j in narrowed if j in members]
            else:
                keep = set(narrowed)
                pool = [j for j in pool if j in keep]
            members = None
        return range(len(self.children)) if pool is None else pool

    def _name_members(self, name: str) -> set[int]:
        found = self._name_sets.get(name)
        if found is None:
            found = self._name_sets[name] = set(self._names().get(name, []))
        return found

    def _names(self) -> dict[str, list[int]]:
        if self._by_name is None:
            self._by_name = {}
            for j, child in enumerate(self.children):
                self._by_name.setdefault(child.name, []).append(j)
        return self._by_name

    def _values(self, key: str) -> dict[Any, list[int]]:
        values = self._by_attribute.get(key)
        if values is None:
            values = self._by_attribute[key] = {}
            for j, child in enumerate(self.children):
                value = child.attributes.get(key, _NOT_LITERAL)
                if value is not _NOT_LITERAL:
                    # An unhashable value can't be indexed: such spans are then
                    # never candidates for a literal, and never equal to one either.
                    with contextlib.suppress(TypeError):
                        values.setdefault(value, []).append(j)
        return values


_NOT_LITERAL: Any = object()


def _literal(value: Any, kinds: tuple[type, ...]) -> Any:
    """The hashable form of a plain expected value, or _NOT_LITERAL for matchers."""
    if type(value) in kinds:
        return value
    if isinstance(value, (list, tuple)) and all(type(item) in kinds for item in value):
        return tuple(value)
    return _NOT_LITERAL


class _Matcher:
    def __init__(
        self,
        *,
        ordered_everywhere: bool,
        universe: _VirtualRoot | None = None,
        rules: VolatileRules = DEFAULT_RULES,
    ) -> None:
        self.ordered_everywhere = ordered_everywhere
        self.rules = rules
        # the spans a link may point at (a `-> label` line), indexed on first use
        self._universe = universe
        self._by_context: dict[tuple[int, int], CapturedSpan] | None = None
        self._linking: set[tuple[int, int]] = set()
        self._linked: dict[tuple[int, int], bool] = {}
        self._compatible: dict[tuple[int, int], bool] = {}  # by _pair_key
        self._shapes = SubtreeShapes()
        self._shared: dict[int, bool] = {}  # id(line) -> its answers are shared by span shape
        self._indexes: dict[int, _ChildIndex] = {}
        # A failure explanation renders at most this many span lines: `>>` lines can
        # pair spans whose subtrees overlap, which would repeat a deep chain per pair.
        self._budget = LineBudget(EXPLAIN_LINE_LIMIT, indent=EXPLAIN_INDENT_LIMIT)

    def child_index(self, parent: _Parent) -> _ChildIndex:
        index = self._indexes.get(id(parent))
        if index is None:
            index = self._indexes[id(parent)] = _ChildIndex(parent.children)
        return index

    # -- does it match? -------------------------------------------------------------
    def matches(self, line: ExpectedSpan, parent: _Parent) -> bool:
        """children_match for the top level, with every deeper answer computed first."""
        self.warm(line, parent)
        return self.children_match(line, parent)

    def warm(self, line: ExpectedSpan, parent: _Parent) -> None:
        """Fill the compatibility cache bottom-up with an explicit stack.

        `compatible` recurses through `children_match` one tree level per call;
        with every deeper pair already known, no call goes deeper than one level,
        whatever the depth of the trace (agent loops reach thousands of levels).
        """
        self._note_shared_lines(line)
        known = self._compatible
        # (line, parent, the pair's memo key (None: the top), children already pushed)
        pending: list[tuple[ExpectedSpan, _Parent, tuple[int, int] | None, bool]] = [
            (line, parent, None, False)
        ]
        while pending:
            line, parent, key, expanded = pending.pop()
            if key is not None and key in known:  # an alike subtree answered it since
                continue
            if expanded:
                if key is not None:
                    known[key] = self.children_match(line, parent)
                continue
            pending.append((line, parent, key, True))
            for child_line, span in self._needed_pairs(line, parent):
                if (id(child_line), id(span)) in known:
                    continue
                if not self.own_match(child_line, span):
                    known[(id(child_line), id(span))] = False
                elif _checks_below(child_line):
                    child_key = self._pair_key(child_line, span)
                    if child_key not in known:
                        pending.append((child_line, span, child_key, False))
                else:  # a leaf line: answered here, not by a second own_match later
                    known[(id(child_line), id(span))] = self.children_match(child_line, span)

    def _note_shared_lines(self, root: ExpectedSpan) -> None:
        """Which lines share their answers among spans of one subtree shape: those
        that look below their own span (for the others sharing saves nothing) and
        have no details anywhere in their subtree, `!>>` lines included (events,
        links, scope... tell alike spans apart)."""
        if id(root) in self._shared:
            return
        order: list[ExpectedSpan] = []
        pending = [root]
        while pending:
            node = pending.pop()
            order.append(node)
            pending += node.children
            if node.absent:
                pending += node.absent
        shared = self._shared  # leaves are left out: never shared
        if not any(node.has_details for node in order):  # the usual expectation
            shared.update((id(node), True) for node in order if _checks_below(node))
            shared.setdefault(id(root), False)
            return
        detail_free: dict[int, bool] = {}
        for node in reversed(order):  # children before their parents
            free = not node.has_details and all(
                detail_free[id(below)] for below in (*node.children, *node.absent)
            )
            detail_free[id(node)] = free
            shared[id(node)] = free and _checks_below(node)

    def _pair_key(self, line: ExpectedSpan, span: CapturedSpan) -> tuple[int, int]:
        """The memo key of compatible(line, span) when the span's own line matches:
        the span's shape for a shared line (negative, so never a span's id), else
        the span itself. A mismatch of the span itself is memoised by the span:
        numbering its subtree would cost more than comparing it again."""
        if self._shared.get(id(line), False):
            return id(line), -1 - self._shapes.of(span)
        return id(line), id(span)

    def _needed_pairs(
        self, line: ExpectedSpan, parent: _Parent
    ) -> Iterator[tuple[ExpectedSpan, CapturedSpan]]:
        """The (line, span) pairs children_match(line, parent) asks `compatible` about."""
        if line.absent:
            below = parent.descendants()
            for absent_line in line.absent:
                for span in below:
                    yield absent_line, span
        if not line.children and not line.allows_extra:
            return
        children = parent.children
        if self.is_ordered(line):
            for child_line in line.children:
                for child in children:
                    yield child_line, child
            return
        for child_line in line.children:
            for _, span in self.candidates(child_line, parent):
                yield child_line, span

    def candidates(self, line: ExpectedSpan, parent: _Parent) -> Iterator[tuple[int, CapturedSpan]]:
        """(direct child's index, span) worth comparing with `line` under an unordered
        parent: children narrowed by name and attributes, or for a `>>` line each
        child and everything below it."""
        children = parent.children
        if not line.descendant:
            for j in self.child_index(parent).candidates(line):
                yield j, children[j]
            return
        for group, child in enumerate(children):
            yield group, child
            for deep in child.descendants():
                yield group, deep

    def compatible(self, line: ExpectedSpan, span: CapturedSpan) -> bool:
        key = (id(line), id(span))
        known = self._compatible.get(key)
        if known is not None:
            return known
        if not self.own_match(line, span):
            self._compatible[key] = False
            return False
        if self._shared.get(id(line), False):
            key = self._pair_key(line, span)
            known = self._compatible.get(key)
            if known is not None:
                return known
        if _checks_below(line):
            # A pair no warming reached (a failure explanation pairs spans by name
            # below a mismatch): warm it first, or children_match would recurse
            # one level per call down a deep chain.
            self.warm(line, span)
        known = self._compatible[key] = self.children_match(line, span)
        return known

    def own_match(self, line: ExpectedSpan, span: CapturedSpan) -> bool:
        return (
            name_matches(line.name, span.name)
            and (line.kind is None or span.kind is line.kind)
            and (line.status is None or span.status is line.status)
            and (line.service is None or fnmatch.fnmatchcase(span.service or "", line.service))
            and not (line.attributes and attribute_mismatches(line.attributes, span.attributes))
            and (not line.has_details or details_match(line, span, self.target_matches))
        )

    def target_matches(self, target: ExpectedSpan, context: Any) -> bool:
        """Whether a link's span context is a captured span matching `target`'s own
        line (its name, flags, attributes; not its children, so one difference
        further down is not repeated on every link to it)."""
        if context is None:
            return False
        if self._by_context is None:
            spans = self._universe.descendants() if self._universe is not None else []
            self._by_context = {(span.trace_id, span.span_id): span for span in spans}
        span = self._by_context.get((context.trace_id, context.span_id))
        if span is None:
            return False
        key = (id(target), id(span))
        known = self._linked.get(key)
        if known is None:
            if key in self._linking:  # lines whose links point at each other
                return True
            self._linking.add(key)
            try:
                known = self._linked[key] = self.own_match(target, span)
            finally:
                self._linking.discard(key)
        return known

    def none_absent(self, line: ExpectedSpan, parent: _Parent) -> bool:
        """No span below `parent` matches one of the line's `!>>` lines."""
        below = parent.descendants()
        return not any(self.compatible(absent, span) for absent in line.absent for span in below)

    def absent_found(self, line: ExpectedSpan, parent: _Parent) -> list[str]:
        marks = []
        below = parent.descendants()
        for absent in line.absent:
            found = [span for span in below if self.compatible(absent, span)]
            if found:
                first = found[0]
                chain = first.ancestor_chain(limit=3)
                where = f" ({first.name} < {chain})" if chain else ""
                marks.append(f"{format_expected_line(absent)}: found {len(found)}{where}")
        return marks

    def is_ordered(self, line: ExpectedSpan) -> bool:
        return line.ordered or self.ordered_everywhere

    def children_match(self, line: ExpectedSpan, parent: _Parent) -> bool:
        if line.absent and not self.none_absent(line, parent):
            return False
        if not line.children:  # the common leaf case and `...` alone, without a level
            return line.allows_extra or not parent.children
        if self.is_ordered(line):
            return self.ordered_match(line, parent.children)
        level = _Level(line.children, parent, self)
        flow = level.flow
        if not flow.meet_minimums():
            return False
        if not line.allows_extra and not flow.cover_groups():
            return False
        return flow.take_required(range(len(level.children)), gaps=line.allows_extra)

    def ordered_match(self, line: ExpectedSpan, children: list[CapturedSpan]) -> bool:
        """Children in start order must spell the lines in order; `...` skips any run.

        reachable[k]: the lines so far can consume exactly the first k children.
        """
        for child_line in line.children:
            if child_line.descendant:
                raise ExpectedTreeError(
                    f"'>> {format_expected_line(child_line)[3:]}' cannot be a child of an "
                    "ordered span (ordered=True orders every level): '>>' matches at any "
                    "depth, so it has no position among ordered siblings"
                )
        size = len(children)
        reachable = [True] + [False] * size
        for position, child_line in enumerate(line.children):
            if position in line.gaps:
                reachable = _extend_by_any_run(reachable)
            reachable = self._consume_runs(child_line, children, reachable)
        if len(line.children) in line.gaps:
            reachable = _extend_by_any_run(reachable)
        return reachable[size]

    def _consume_runs(
        self, line: ExpectedSpan, children: list[CapturedSpan], reachable: list[bool]
    ) -> list[bool]:
        # Prefix sums over `reachable` make each cell O(1): O(lines x children) in all.
        size = len(children)
        prefix = [0]
        for flag in reachable:
            prefix.append(prefix[-1] + flag)
        after = [False] * (size + 1)
        run = 0  # consecutive children compatible with `line` ending at k
        high = size if line.max_count is None else line.max_count
        for end in range(size + 1):
            if end > 0:
                run = run + 1 if self.compatible(line, children[end - 1]) else 0
            shortest, longest = line.min_count, min(high, run)
            if shortest > longest:
                continue
            first, last = end - longest, end - shortest  # start positions allowed
            after[end] = prefix[last + 1] - prefix[first] > 0
        return after

    # -- why not? ---------------------------------------------------------------------
    def failure_message(
        self,
        root_line: ExpectedSpan,
        actual: _VirtualRoot,
        output_lines: int,
        keep_full_text: Callable[[str], str],
        marks: list[TreeMark] | None = None,
    ) -> str:
        lines = self.explain_tree(root_line, actual)
        order = self._order_difference(root_line, actual, lines)
        if order:
            lines.append(RenderLine(head=f"roots {order}", is_comment=True))
        if marks is not None:  # before collapsing: merged twins each keep their span
            marks += _tree_marks(lines)
        lines = collapse(lines)
        differences = count_marks(lines)
        noun = "difference" if differences == 1 else "differences"
        header = f"Trace tree does not match the expectation ({differences} {noun}):"
        if not lines:
            return "\n".join([header, "", "(no spans captured)", "", HINT])
        frame = 6  # the header, the hint, where the complete tree is, blank lines
        # a bound smaller than the frame still bounds (the tree keeps a few lines)
        tree_lines = max(output_lines - frame, 1) if output_lines > 0 else 0
        tree, complete = bounded_tree(lines, tree_lines)
        if complete is None:
            return "\n".join([header, "", tree, "", HINT])
        where = keep_full_text(complete)  # the tree alone: it pastes back as it is
        total = complete.count("\n")
        return "\n".join(
            [
                header,
                "",
                tree,
                "",
                f"The tree has {total:,} lines; shown are its differences with their paths "
                f"and some context.",
                f"The complete tree, to paste back, is in {where}",
                "(agenttrace_output_lines = 0 prints it all here)",
            ]
        )

    def explain_tree(self, root_line: ExpectedSpan, actual: _VirtualRoot) -> list[RenderLine]:
        """The marked actual tree, level by level from a worklist (no recursion)."""
        self.warm(root_line, actual)
        shells: list[_Shell] = []
        top = self.explain_children(root_line, actual, shells)
        if root_line.absent:
            top += [
                RenderLine(head=mark, is_comment=True)
                for mark in self.absent_found(root_line, actual)
            ]
        done = 0
        depths = [0] * len(shells)  # of each shell's line
        cut: list[tuple[ExpectedSpan, CapturedSpan, int]] = []  # failing pairs not explained
        while done < len(shells):  # each level appends the shells of the next
            line, span, rendered, own = shells[done]
            depth = depths[done]
            if self._budget.take(depth):
                if line.children or span.children:  # a leaf on both sides has nothing below
                    rendered.children = self.explain_children(line, span, shells, depth + 1)
                    depths += [depth + 1] * (len(shells) - len(depths))
            elif span.children:
                rendered.children = [ellipsis_line()]
                if not own and len(cut) < _CUT_DIFFERENCES and not self.compatible(line, span):
                    cut.append((line, span, depth + 1))
            done += 1
        top += [RenderLine(head=self._below_the_cut(*each), is_comment=True) for each in cut]
        # Children before parents: an order difference is told only where nothing
        # below already explains the failure.
        for line, span, rendered, own in reversed(shells):
            order = self._order_difference(line, span, rendered.children)
            if order and not own:
                rendered.marks.insert(0, f"children {order}")
        return top

    def _below_the_cut(self, line: ExpectedSpan, span: CapturedSpan, depth: int) -> str:
        """The first difference under a failing pair the rendering stopped above,
        found level by level (a chain thousands deep would print as hundreds of
        megabytes of indentation): said as one comment, so it is never lost."""
        while True:
            shells: list[_Shell] = []
            children = self.explain_children(line, span, shells, depth)
            marked = [child for child in children if child.marks or child.is_comment]
            marked += [rendered for _, _, rendered, own in shells if own]
            if marked:
                first = marked[0]
                found = first.head if first.is_comment else first.text()
                found += f" ({'; '.join(first.marks)})" if first.marks else ""
                break
            failing = [(ln, sp) for ln, sp, _, _ in shells if not self.compatible(ln, sp)]
            if not failing:  # nothing marked below: the order of the children
                found = "the order of its children"
                break
            line, span = failing[0]
            depth += 1
        return (
            f"below the part shown (it stops at {EXPLAIN_LINE_LIMIT:,} span lines or "
            f"{EXPLAIN_INDENT_LIMIT:,} columns of indentation), at depth {depth:,} under "
            f"{span_line(span, line, rules=self.rules).text()}: {found}"
        )

    def _shell(self, line: ExpectedSpan, span: CapturedSpan, shells: list[_Shell]) -> RenderLine:
        """A span's own line and marks; its children come when the worklist gets to it."""
        rendered = span_line(span, line, rules=self.rules)
        rendered.marks = own_differences(line, span, self.target_matches)
        if line.has_details:
            rendered.details = detail_lines(
                span, line, lambda each, lk: link_fits(each, lk, self.target_matches), self.rules
            )
        if line.absent:
            rendered.marks += self.absent_found(line, span)
        shells.append((line, span, rendered, len(rendered.marks)))
        return rendered

    def _order_difference(
        self, line: ExpectedSpan, parent: _Parent, rendered: list[RenderLine]
    ) -> str | None:
        """When only the order is wrong, say so (other marks already explain a failure)."""
        if not self.is_ordered(line):
            return None
        for child in rendered:
            child.collapsible = False
        if any(_has_marks(child) for child in rendered) or self.ordered_match(
            line, parent.children
        ):
            return None
        names = [format_expected_line(child) for child in line.children]
        for gap in reversed(line.gaps):
            names.insert(gap, ELLIPSIS_LINE)
        return f"not in the expected order: {', '.join(names)}"

    def explain_children(
        self, line: ExpectedSpan, parent: _Parent, shells: list[_Shell], depth: int = 0
    ) -> list[RenderLine]:
        """The children's lines (`depth` levels deep), their shells added to `shells`."""
        level = _Level(line.children, parent, self)
        flow = level.flow
        flow.meet_minimums()
        if not line.allows_extra:
            flow.cover_groups()
        flow.assign_leftovers()

        group_of = _group_finder(level.children)
        near = self._pair_by_name(level)
        covered = {flow.item_group[item] for item, owner in enumerate(flow.assigned) if owner >= 0}
        covered.update(group_of(span) for span, _ in near.values())
        placed: list[tuple[CapturedSpan, RenderLine]] = []
        extras: list[CapturedSpan] = []
        by_line: dict[int, list[RenderLine]] = {}
        for item, span in enumerate(level.items):
            owner = flow.assigned[item]
            if owner >= 0:
                rendered = self._shell(level.lines[owner], span, shells)
                by_line.setdefault(owner, []).append(rendered)
                placed.append((span, rendered))
        for span, owner in near.values():
            rendered = self._shell(level.lines[owner], span, shells)
            by_line.setdefault(owner, []).append(rendered)  # so a count difference shows
            placed.append((span, rendered))
        name_paired = sorted({owner for _, owner in near.values()})
        for group, child in enumerate(level.children):
            if group in covered:
                continue
            overflow = self._overflowing_line(level, child)
            renamed = self._same_shown_line(level, name_paired, near, child)
            if overflow is None and renamed is not None:
                # Printed apart from its twin under `...`, the twin's pasted line
                # would take this span too and fail on count: show it as that line's.
                rendered = self._shell(level.lines[renamed], child, shells)
                by_line.setdefault(renamed, []).append(rendered)
                placed.append((child, rendered))
            elif overflow is None and line.allows_extra:
                extras.append(child)
            elif overflow is not None:
                rendered = self._shell(level.lines[overflow], child, shells)
                by_line.setdefault(overflow, []).append(rendered)
                placed.append((child, rendered))
            else:
                rendered = _plain(child, self._budget, self.rules, depth)
                rendered.marks.append(UNEXPECTED)
                placed.append((child, rendered))
        missing = self._mark_counts(level, by_line)
        if self.is_ordered(line):
            # In order, a `...` stands where the unlisted spans are, so the tree pastes back.
            placed += [(child, ellipsis_line()) for child in extras]
        if self.is_ordered(line):
            placed.sort(key=lambda entry: entry[0].start_time)
        else:  # canonical: the same trace prints the same text whichever sibling started first
            placed.sort(key=lambda e: (e[0].name, natural_key(e[1].head), e[0].start_time))
        result: list[RenderLine] = []
        for _, rendered in placed:
            if not (rendered.head == ELLIPSIS_LINE and result and result[-1].head == ELLIPSIS_LINE):
                result.append(rendered)
        if extras and not self.is_ordered(line):
            result.append(ellipsis_line())
        return result + missing

    def _same_shown_line(
        self,
        level: _Level,
        lines: list[int],
        near: dict[int, tuple[CapturedSpan, int]],
        child: CapturedSpan,
    ) -> int | None:
        """The name-paired line whose span prints exactly as `child` would under it."""
        for index in lines:
            line = level.lines[index]
            if line.descendant or not name_matches(line.name, child.name):
                continue
            shown = span_line(child, line, rules=self.rules).text()
            if any(
                owner == index and span_line(span, line, rules=self.rules).text() == shown
                for span, owner in near.values()
            ):
                return index
        return None

    def _pair_by_name(self, level: _Level) -> dict[int, tuple[CapturedSpan, int]]:
        """Leftover spans named like a line short of its minimum: shown as that line's
        span with the differences marked, rather than as missing plus unexpected."""
        flow = level.flow
        taken = {id(span) for item, span in enumerate(level.items) if flow.assigned[item] >= 0}
        near: dict[int, tuple[CapturedSpan, int]] = {}
        for index, line in enumerate(level.lines):
            shortfall = line.min_count - flow.load[index]
            if shortfall <= 0:
                continue
            pool: Iterable[CapturedSpan] = (
                _VirtualRoot(level.children).descendants() if line.descendant else level.children
            )
            for span in pool:
                if shortfall == 0:
                    break
                if id(span) in taken or id(span) in near:
                    continue
                if name_matches(line.name, span.name):
                    near[id(span)] = (span, index)
                    shortfall -= 1
        return near

    def _overflowing_line(self, level: _Level, child: CapturedSpan) -> int | None:
        for index, line in enumerate(level.lines):
            if not line.descendant and self.compatible(line, child):
                return index
        return None

    def _mark_counts(self, level: _Level, by_line: dict[int, list[RenderLine]]) -> list[RenderLine]:
        missing = []
        for index, line in enumerate(level.lines):
            rendered = by_line.get(index, [])
            got = len(rendered)
            if line.min_count <= got and (line.max_count is None or got <= line.max_count):
                continue
            if got == 0:
                missing.append(missing_line(format_expected_line(line)))
                continue
            wanted = format_count(line.min_count, line.max_count)
            for each in rendered:
                each.marks.append(f"count: expected {wanted}, got {got}")
        return missing


def _checks_below(line: ExpectedSpan) -> bool:
    """Whether matching the line compares lines with spans below its own (a `...`
    alone takes any children)."""
    return bool(line.children or line.absent)


def _group_finder(children: list[CapturedSpan]) -> Any:
    """Maps a span to the index of the direct child whose subtree holds it."""
    index_of = {id(child): index for index, child in enumerate(children)}

    def group_of(span: CapturedSpan) -> int:
        current: CapturedSpan | None = span
        while current is not None and id(current) not in index_of:
            current = current.parent
        return index_of[id(current)] if current is not None else -1

    return group_of


def _extend_by_any_run(reachable: list[bool]) -> list[bool]:
    seen = False
    extended = []
    for flag in reachable:
        seen = seen or flag
        extended.append(seen)
    return extended


def _plain(span: CapturedSpan, budget: LineBudget, rules: VolatileRules, depth: int) -> RenderLine:
    """An unexpected span (`depth` levels deep), printed as a rendering prints it:
    pasted back, the expectation checks its attributes too."""
    rendered = span_line(span, all_attributes=True, rules=rules)
    rendered.children = plain_lines(
        span.children, all_attributes=True, budget=budget, rules=rules, depth=depth + 1
    )
    return rendered


def _has_marks(line: RenderLine) -> bool:
    return any(each.marks or each.is_comment for each in walk([line]))


def own_differences(
    line: ExpectedSpan, span: CapturedSpan, target_matches: Any = None
) -> list[str]:
    """What differs between one expected line and one span, ignoring children.

    `target_matches(target_line, span_context)` checks `-> label` links (the
    matcher's); without it, no link counts as pointing at its target.
    """
    differences = []
    if not name_matches(line.name, span.name):
        differences.append(f"name: expected {format_name(line.name)}")
    if line.kind is not None and span.kind is not line.kind:
        differences.append(f"kind: expected {line.kind.name.lower()}, got {span.kind.name.lower()}")
    if line.status is not None and span.status is not line.status:
        differences.append(
            f"status: expected {line.status.name.lower()}, got {span.status.name.lower()}"
        )
    if line.service is not None and not fnmatch.fnmatchcase(span.service or "", line.service):
        differences.append(f"service: expected {line.service}, got {span.service}")
    if line.attributes:
        for key, want, got in attribute_mismatches(line.attributes, span.attributes):
            if got is MISSING:
                differences.append(f"{key}: expected {format_cut_value(want)}, attribute missing")
            else:
                differences.append(
                    f"{key}: expected {format_cut_value(want)}, got {format_cut_value(got)}"
                )
    if line.has_details:
        differences += detail_differences(line, span, target_matches or (lambda *_: False))
    return differences
