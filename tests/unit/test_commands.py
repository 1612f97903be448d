"""What the commands say of their inputs (commands.py)."""

from __future__ import annotations

from collections import Counter

import pytest

from rotrace.commands import _conclude_policy
from rotrace.report.view import View


def test_a_policys_settings_are_said_to_move_or_to_avoid_what_they_do(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`check --policy` on traces made without the policy's [env]: a setting whose value is a
    path moves the writes to a writable place; an off switch (PYTHONDONTWRITEBYTECODE=1)
    avoids them, and moves nothing."""
    avoided = Counter({"PYTHONDONTWRITEBYTECODE=1": 450, "IPYTHONDIR=/tmp/ipython": 4})
    _conclude_policy("rotrace.toml", [], [], View(github=False), avoided)
    said = capsys.readouterr().err.splitlines()
    assert any("450 writes outside it that its [env] PYTHONDONTWRITEBYTECODE=1 avoids:" in s for s in said), (
        said
    )
    assert any("4 writes outside it that its [env] IPYTHONDIR=/tmp/ipython moves to a writable place:" in s
               for s in said), said  # fmt: skip
