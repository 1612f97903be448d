"""The run's renames and hard links, for the plan's notes on moves its mounts would refuse
(EXDEV) and for the TMPDIR that keeps an atomic save on one mount.

Which mount holds a name is a question of its directory, unless the name is itself a mount
point; an installer renames thousands of files between a few directories. So the moves are
kept grouped by the directories of their two names, and a plan asks once per group, one move
at a time only in a group beside one of its mount points.
"""

from __future__ import annotations

from collections.abc import Iterable

from rotrace.pathnames import directory_of, holder

# a rename's or a hard link's kind, its two names, and the mount each is on (None: the root),
# and how many writes it stands for (a merged trace's event: its runs')
Move = tuple[str, str, str, str | None, str | None, int]

_LINKS_KEPT = 1 << 15  # hard links remembered, at most (memory)


class Moves:
    """The renames and hard links a run made, grouped by directories."""

    def __init__(self) -> None:
        # (kind, source's directory, target's directory) -> [writes, its moves: (source, target, writes)]
        self._groups: dict[tuple[str, str, str], tuple[list[int], list[tuple[str, str, int]]]] = {}
        self._links = 0
        self._asked: tuple[tuple[str, ...], list[Move]] | None = None

    def add(self, kind: str, source: str, target: str, made: int) -> None:
        """A rename (`kind` "rename": from `source` to `target`) or a hard link ("hard link":
        `target` a new name of the file `source`) that succeeded, standing for `made` writes."""
        if kind == "hard link":
            if self._links >= _LINKS_KEPT:
                return
            self._links += 1
        key = (kind, directory_of(source), directory_of(target))
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = ([0], [])
        group[0][0] += made
        group[1].append((source, target, made))
        self._asked = None

    def between(self, mounts: Iterable[str], *names: str) -> list[Move]:
        """The moves with the mount each of their names is on (`holder` of `mounts`): one per
        group whose names the mounts hold alike (its first move, with the writes of all), else
        one per move. `names`: paths a caller compares the moves' names with, so that a group
        one of them is in is given move by move too."""
        points = tuple(sorted(set(mounts)))
        key = (*points, "", *names)
        if self._asked is not None and self._asked[0] == key:
            return self._asked[1]
        mount_of = holder(points)
        beside = {directory_of(p) for p in (*points, *names)}  # where a name may be a point, or a name asked
        found: list[Move] = []
        for (kind, from_dir, to_dir), (writes, moves) in self._groups.items():
            if from_dir in beside or to_dir in beside:
                found += [(kind, s, t, mount_of(s), mount_of(t), n) for s, t, n in moves]
            else:
                source, target, _ = moves[0]
                found.append((kind, source, target, mount_of(source), mount_of(target), writes[0]))
        self._asked = (key, found)
        return found
