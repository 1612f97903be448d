"""run/sealed.py: once a confined run is sealed, rotrace loads no module from a place the
command may write (its own code would otherwise run what the command wrote there)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rotrace.errors import EXIT_SANDBOX
from rotrace.policy.allowlist import Allowlist
from rotrace.run.sealed import CodeWritable, seal

NAMES = (
    "rt_sealed_planted",
    "rt_sealed_elsewhere",
    "rt_sealed_package",
    "rt_sealed_linked",
    "rt_sealed_hard",
)


@pytest.fixture
def sealed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Modules in a directory the allowlist lets the command write and in one it does not, both on
    the module path; the finders as they were, afterwards."""
    allowed, elsewhere = tmp_path / "allowed", tmp_path / "elsewhere"
    (allowed / "rt_sealed_package").mkdir(parents=True)
    elsewhere.mkdir()
    (allowed / "rt_sealed_planted.py").write_text("LOADED = True\n")
    (allowed / "rt_sealed_package" / "__init__.py").write_text("LOADED = True\n")
    (elsewhere / "rt_sealed_elsewhere.py").write_text("LOADED = True\n")
    (elsewhere / "target.py").write_text("LOADED = True\n")
    (allowed / "rt_sealed_linked.py").symlink_to(elsewhere / "target.py")
    (elsewhere / "rt_sealed_hard.py").write_text("LOADED = True\n")
    (allowed / "hard-link.py").hardlink_to(elsewhere / "rt_sealed_hard.py")  # uv installs by hard links
    monkeypatch.syspath_prepend(str(elsewhere))
    monkeypatch.syspath_prepend(str(allowed))
    finders = list(sys.meta_path)
    try:
        seal(Allowlist([str(allowed)]))
        yield allowed
    finally:
        sys.meta_path[:] = finders
        for name in NAMES:
            sys.modules.pop(name, None)


@pytest.mark.parametrize("name", ["rt_sealed_planted", "rt_sealed_package", "rt_sealed_linked"])
def test_a_module_found_where_the_command_may_write_is_refused(sealed: Path, name: str) -> None:
    with pytest.raises(CodeWritable, match=f"{name} would be loaded from {sealed}") as refused:
        importlib.import_module(name)
    assert refused.value.exit_status == EXIT_SANDBOX and name not in sys.modules


def test_a_module_whose_file_has_another_name_is_refused(sealed: Path) -> None:
    """Its other name may be where the command writes (a hard link in the allowed directory):
    the same file, changed through it."""
    with pytest.raises(CodeWritable, match=r"rt_sealed_hard would be loaded from .*\(a hard link\)"):
        importlib.import_module("rt_sealed_hard")


def test_modules_elsewhere_load_and_a_missing_one_is_missing(sealed: Path) -> None:
    assert importlib.import_module("rt_sealed_elsewhere").LOADED
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("rt_sealed_nowhere")
