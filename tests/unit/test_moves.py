"""policy/moves.py: the run's renames and hard links, grouped by directories, answer what each
move looked up on its own answers: per (kind, source's mount, target's mount, whether the name
made lies under each name asked), the same writes."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from rotrace.pathnames import holder, is_under
from rotrace.policy.moves import Move, Moves

# a small tree, so that names, directories and mount points meet: mount points and names asked
# are often one of the names moved (a directory renamed into place, /tmp itself)
_parts = st.sampled_from(["a", "b", "tmp"])
_paths = st.lists(_parts, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts))
_moves = st.lists(
    st.tuples(st.sampled_from(["rename", "hard link"]), _paths, _paths, st.integers(1, 3)), max_size=30
)


def _key(move: Move, asked: tuple[str, ...]) -> tuple[object, ...]:
    kind, source, target, on_source, on_target, _ = move
    made = target if kind == "hard link" else source
    return kind, on_source, on_target, tuple(is_under(made, name) for name in asked)


@given(_moves, st.lists(_paths, max_size=5), st.lists(_paths, max_size=2))
def test_grouped_moves_answer_as_each_move_alone(
    moves: list[tuple[str, str, str, int]], mounts: list[str], asked: list[str]
) -> None:
    grouped = Moves()
    for kind, source, target, made in moves:
        grouped.add(kind, source, target, made)
    mount_of = holder(mounts)
    alone: Counter[tuple[object, ...]] = Counter()
    for kind, source, target, made in moves:
        alone[_key((kind, source, target, mount_of(source), mount_of(target), made), tuple(asked))] += made
    answered: Counter[tuple[object, ...]] = Counter()
    for move in grouped.between(mounts, *asked):
        assert (move[3], move[4]) == (mount_of(move[1]), mount_of(move[2]))
        answered[_key(move, tuple(asked))] += move[5]
    assert answered == alone


def test_moves_between_a_few_directories_are_a_few_answers() -> None:
    """An installer's thousands of renames from its cache into a venv: one answer per pair of
    directories (the plan's notes ask per answer, after the command)."""
    moves = Moves()
    for i in range(3000):
        moves.add("rename", f"/cache/pkg{i % 3}/f{i}.py", f"/app/.venv/lib/pkg{i % 3}/f{i}.py", 1)
    between = moves.between(["/app/.venv", "/tmp"])
    assert len(between) == 3
    assert sum(m[5] for m in between) == 3000
    assert {(m[3], m[4]) for m in between} == {(None, "/app/.venv")}
