"""Bounded bipartite assignment by augmenting paths (the matcher's core).

Used for a level's children (spans to sibling lines) and for a span's events and
links (to its `@` and `->` lines).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


class _Flow:
    """Bounded bipartite assignment of items (spans) to lines by augmenting paths.

    Items belong to groups (the direct child whose subtree holds them); in exact
    mode each group needs at least one assigned item. For plain children each
    group is one item; `>>` lines add deeper items to their ancestor's group.
    """

    def __init__(
        self,
        low: list[int],
        high: list[float],
        line_items: list[list[int]],
        item_groups: list[int],
        group_count: int,
    ) -> None:
        self.low = low
        self.high = high
        self.line_items = line_items
        self.item_group = item_groups
        self.item_lines: list[list[int]] = [[] for _ in item_groups]
        for line, items in enumerate(line_items):
            for item in items:
                self.item_lines[item].append(line)
        self.group_items: list[list[int]] = [[] for _ in range(group_count)]
        for item, group in enumerate(item_groups):
            self.group_items[group].append(item)
        self.assigned = [-1] * len(item_groups)
        self.members: list[dict[int, None]] = [{} for _ in low]  # insertion-ordered sets
        self.load = [0] * len(low)
        self.group_load = [0] * group_count

    # -- bookkeeping -------------------------------------------------------------
    def _assign(self, item: int, line: int) -> None:
        self.assigned[item] = line
        self.members[line][item] = None
        self.load[line] += 1
        self.group_load[self.item_group[item]] += 1

    def _unassign(self, item: int) -> None:
        line = self.assigned[item]
        self.assigned[item] = -1
        del self.members[line][item]
        self.load[line] -= 1
        self.group_load[self.item_group[item]] -= 1

    def _has_room(self, line: int) -> bool:
        return self.load[line] < self.high[line]

    # -- phase 1: every line reaches its minimum -----------------------------------
    def meet_minimums(self) -> bool:
        for line, items in enumerate(self.line_items):
            for item in items:
                if self.load[line] >= self.low[line]:
                    break
                if self.assigned[item] < 0:
                    self._assign(item, line)
        ok = True
        dead: set[int] = set()  # lines proven stuck; valid until the next success
        for line in range(len(self.low)):
            while self.load[line] < self.low[line]:
                if not self._fill(line, dead):
                    ok = False
                    break
                dead.clear()
        return ok

    def _fill(self, line: int, visited: set[int]) -> bool:
        """Give `line` one more item, moving others along an augmenting path."""
        visited.add(line)
        for item in self.line_items[line]:
            if self.assigned[item] < 0:
                self._assign(item, line)
                return True
        for item in self.line_items[line]:
            holder = self.assigned[item]
            if holder == line or holder in visited:
                continue
            visited.add(holder)
            if self.load[holder] > self.low[holder] or self._fill(holder, visited):
                self._unassign(item)
                self._assign(item, line)
                return True
        return False

    # -- phase 2: every group (direct child) is accounted for ----------------------
    def cover_groups(self) -> bool:
        """Give each empty group an item without dropping any line below its load.

        Loads never decrease along these paths: an item leaves a line only when
        another takes its place.
        """
        for group, items in enumerate(self.group_items):
            if self.group_load[group]:
                continue
            for item in items:
                room = next((ln for ln in self.item_lines[item] if self._has_room(ln)), None)
                if room is not None:
                    self._assign(item, room)
                    break
        ok = True
        dead: set[int] = set()
        for group in range(len(self.group_items)):
            if self.group_load[group] == 0:
                if self._cover(group, dead):
                    dead.clear()
                else:
                    ok = False
        return ok

    def _cover(self, group: int, visited: set[int]) -> bool:
        return any(
            self.assigned[item] < 0 and self._place(item, visited)
            for item in self.group_items[group]
        )

    def _place(self, item: int, visited: set[int]) -> bool:
        lines = [line for line in self.item_lines[item] if line not in visited]
        for line in lines:
            if self._has_room(line):
                self._assign(item, line)
                return True
        for line in lines:
            if line in visited:
                continue
            visited.add(line)
            for other in list(self.members[line]):
                if self.group_load[self.item_group[other]] >= 2:  # its group stays covered
                    self._unassign(other)
                    self._assign(item, line)
                    return True
            for other in list(self.members[line]):
                self._unassign(other)
                self._assign(item, line)
                if self._cover(self.item_group[other], visited):
                    return True
                self._unassign(item)
                self._assign(other, line)
        return False

    # -- phase 3: a direct child that matches a line counts toward it -------------
    def take_required(self, required: Iterable[int], *, gaps: bool) -> bool:
        """Assign every required item (a direct child matching some line).

        Without this, `llm_call [x2]` beside `...` would let a third `llm_call`
        slip through as an "extra" sibling. Deeper `>>` candidates are optional:
        one may give up its line to a required item if its group stays covered
        (or nothing needs covering, under `...`).
        """
        must = set(required)

        def droppable(other: int) -> bool:
            return other not in must and (gaps or self.group_load[self.item_group[other]] >= 2)

        ok = True
        dead: set[int] = set()
        for item in sorted(must):
            if self.assigned[item] >= 0 or not self.item_lines[item]:
                continue
            if self._augment(item, dead, droppable):
                dead.clear()
            else:
                ok = False
        return ok

    # -- diagnostics: assign as many items as possible ------------------------------
    def assign_leftovers(self) -> None:
        dead: set[int] = set()
        for item in range(len(self.assigned)):
            if (
                self.assigned[item] < 0
                and self.item_lines[item]
                and self._augment(item, dead, droppable=lambda other: False)
            ):
                dead.clear()

    def _augment(self, item: int, visited: set[int], droppable: Callable[[int], bool]) -> bool:
        """Find `item` a line: one with room, one holding a droppable item, or one
        whose item can move on (loads never decrease along the path)."""
        lines = [line for line in self.item_lines[item] if line not in visited]
        for line in lines:
            if self._has_room(line):
                self._assign(item, line)
                return True
        for line in lines:
            other = next((o for o in self.members[line] if droppable(o)), None)
            if other is not None:
                self._unassign(other)
                self._assign(item, line)
                return True
        for line in lines:
            if line in visited:
                continue
            visited.add(line)
            for other in list(self.members[line]):
                self._unassign(other)
                self._assign(item, line)
                if self._augment(other, visited, droppable):
                    return True
                self._unassign(item)
                self._assign(other, line)
        return False
