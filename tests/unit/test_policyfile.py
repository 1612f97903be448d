"""The committed policy file: found upward (rotrace.toml, then pyproject.toml's [tool.rotrace]),
generated deterministic and relative to the project, widened in place with every comment kept,
and pointed at by GitHub annotations."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from rotrace.errors import BadInput
from rotrace.export.formats import RENDERERS, Target
from rotrace.policy.allowlist import build_allowlist, load_policy
from rotrace.policy.mounts import MountPlan
from rotrace.policy.policyfile import Breach, allow_line, find_policy, project_entry, update
from rotrace.report.github import policy_annotations, policy_summary

PYPROJECT = """\
[project]
name = "app"   # keep me
dependencies = ["rich"]

[tool.rotrace]
# reviewed by the team
defaults = true
allow = ["data"]  # sqlite

[tool.ruff]
allow = ["not-this-one"]
line-length = 100
"""

STANDALONE = """\
# the team's policy
version = 1
allow = [
    "data",  # sqlite
    "/var/cache/app",
]

[env]
APP = "1"
"""


def test_found_upward_rotrace_toml_first_then_a_pyproject_with_the_table(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_policy(str(deep)) is None
    (tmp_path / "a" / "b" / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no table: not it
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    assert find_policy(str(deep)) == str(tmp_path / "pyproject.toml")
    (tmp_path / "a" / "rotrace.toml").write_text(STANDALONE)
    assert find_policy(str(deep)) == str(tmp_path / "a" / "rotrace.toml")
    (tmp_path / "a" / "b" / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "a" / "b" / "rotrace.toml").write_text(STANDALONE)
    assert find_policy(str(deep)) == str(deep / "rotrace.toml")


def test_pyproject_holds_the_policy_in_tool_rotrace(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT)
    policy = load_policy(str(path))
    assert policy.allow == ["data"]  # not [tool.ruff]'s
    assert str(tmp_path / "data") in build_allowlist([], load_policy(str(path))).entries
    assert (
        str(Path("/srv/app/data")) in build_allowlist([], load_policy(str(path)), project="/srv/app").entries
    )
    path.write_text('[project]\nname = "x"\n')
    with pytest.raises(BadInput, match=r"no \[tool.rotrace\] table"):
        load_policy(str(path))
    path.write_text('[tool.rotrace]\nallow = "data"\n')
    with pytest.raises(BadInput, match=r"pyproject.toml \[tool.rotrace\]: 'allow' must be a list"):
        load_policy(str(path))


def test_update_keeps_comments_order_and_everything_else(tmp_path: Path) -> None:
    path = tmp_path / "rotrace.toml"
    path.write_text(STANDALONE)
    os.chmod(path, 0o640)
    done = update(str(path), ["reports", "/srv/z", "data", "/srv/a"])
    after = path.read_text()
    assert done.added == ["/srv/a", "/srv/z", "reports"]  # sorted, the one already there left out
    assert after == STANDALONE.replace(
        '    "/var/cache/app",\n', '    "/var/cache/app",\n    "/srv/a",\n    "/srv/z",\n    "reports",\n'
    )
    assert os.stat(path).st_mode & 0o777 == 0o640
    diff = done.diff("rotrace.toml")
    assert diff.startswith("--- a/rotrace.toml\n+++ b/rotrace.toml\n")
    assert '+    "reports",\n' in diff
    assert not update(str(path), ["reports"]).added  # nothing new: the file is left alone
    assert path.read_text() == after


def test_update_touches_nothing_but_tool_rotrace_in_a_pyproject(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT)
    update(str(path), ["reports"])
    assert path.read_text() == PYPROJECT.replace('allow = ["data"]', 'allow = ["data", "reports"]')
    data = tomllib.loads(path.read_text())
    assert data["tool"]["ruff"]["allow"] == ["not-this-one"]
    path.write_text(PYPROJECT.replace('allow = ["data"]  # sqlite\n', ""))
    update(str(path), ["reports"])
    assert tomllib.loads(path.read_text())["tool"]["rotrace"]["allow"] == ["reports"]
    assert tomllib.loads(path.read_text())["tool"]["ruff"] == data["tool"]["ruff"]


@pytest.mark.parametrize(
    "name",
    ["line\nbreak", "nel\x85x", "sep\u2028x", "rtl\u202eexe.txt", 'quote"and\\back', "tab\tx"],
)
def test_update_escapes_what_a_traced_program_named(tmp_path: Path, name: str) -> None:
    """A directory name chosen by a traced program reaches the file as an escape: one line, what
    it is, and it reads back as the same path."""
    path = tmp_path / "rotrace.toml"
    path.write_text(STANDALONE)
    update(str(path), [f"/srv/{name}"])
    text = path.read_text()
    assert len(text.splitlines()) == len(STANDALONE.splitlines()) + 1
    assert all(c not in text for c in "\x85\u2028\u202e\t")
    assert load_policy(str(path)).allow[-1] == f"/srv/{name}"


def test_update_puts_a_name_that_is_not_utf8_in_allow_bytes(tmp_path: Path) -> None:
    path = tmp_path / "rotrace.toml"
    path.write_text(STANDALONE)
    odd = os.fsdecode(b"/srv/caf\xe9")
    update(str(path), [odd])
    assert tomllib.loads(path.read_text())["allow_bytes"] == ["/srv/caf%E9"]
    assert odd in load_policy(str(path)).allow


def test_update_refuses_a_file_it_would_not_read(tmp_path: Path) -> None:
    path = tmp_path / "rotrace.toml"
    path.write_text('allow = ["data"]\nbogus = 1\n')
    with pytest.raises(BadInput, match="unknown key 'bogus'"):
        update(str(path), ["x"])
    assert path.read_text() == 'allow = ["data"]\nbogus = 1\n'


def test_allow_line_points_at_the_allow_key(tmp_path: Path) -> None:
    standalone = tmp_path / "rotrace.toml"
    standalone.write_text(STANDALONE)
    assert allow_line(str(standalone)) == 3
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(PYPROJECT)
    assert allow_line(str(pyproject)) == 8  # [tool.rotrace]'s, not [tool.ruff]'s
    pyproject.write_text('[project]\nname = "x"\n\n[tool.rotrace]\ndefaults = true\n')
    assert allow_line(str(pyproject)) == 4  # no allow: the table's header
    pyproject.write_text('tool.rotrace.allow = ["x"]\n[tool.ruff]\nallow = 1\n')
    assert allow_line(str(pyproject)) == 1
    standalone.write_text("version = 1\n")
    assert allow_line(str(standalone)) == 1


@pytest.mark.parametrize(
    ("path", "entry"),
    [
        ("/srv/app/data", "data"),
        ("/srv/app", "."),
        ("/srv/app/a/b", "a/b"),
        ("/srv/app/~home", "./~home"),  # not the user's home
        ("/srv/app/=x", "./=x"),  # not an exact entry
        ("/srv/app/c[1]*", r"c\[1\]\*"),  # literal, not a glob
        ("/srv/application", "/srv/application"),  # beside the project, not in it
        ("/var/cache/app", "/var/cache/app"),
    ],
)
def test_project_entries_are_relative(path: str, entry: str) -> None:
    assert project_entry(path, "/srv/app") == entry
    assert build_allowlist([entry], None, defaults=False, project="/srv/app").allows(os.fsencode(path))


def test_generated_policy_is_relative_sorted_and_the_same_on_any_machine() -> None:
    def render(root: str) -> str:
        plan = MountPlan(
            mounts=[f"{root}/z", f"{root}/a/b", "/var/cache/app"],
            persistent=[f"{root}/z"],
            env={"ZED": "1", "ALPHA": "2"},
        )
        return RENDERERS["policy"](plan, Target(["app"], project=root)).text

    text = render("/home/ci/work/app")
    assert text == render("/srv/checkout")
    data = tomllib.loads(text)
    assert data["allow"] == ["/var/cache/app", "a/b", "z"]
    assert data["persistent"] == ["z"]
    assert list(data["env"]) == ["ALPHA", "ZED"]


def test_policy_annotation_on_the_file_line_escaped() -> None:
    breach = Breach("t,1:x.json", "app --x", "py\nthon", "/srv/d", "/srv/d/%0A::error::x", 2)
    (line,) = policy_annotations("conf,ig:/rotrace.toml", 7, [breach])
    assert line.startswith("::error file=conf%2Cig%3A/rotrace.toml,line=7,title=")
    assert "\n" not in line and "\\x0athon" in line  # one line: no command can start in it
    # data: % escaped, so the runner reads no line break; the name's own command shown escaped
    assert "/srv/d/%250A\\x3a:error::x" in line
    summary = policy_summary("rotrace.toml", [breach], ["old|dir"])
    assert "| `t,1:x.json` |" in summary and r"`old|dir`" in summary


def test_a_policy_file_that_holds_nothing_is_refused(tmp_path: Path) -> None:
    """`rotrace allowlist T --format policy > rotrace.toml` that failed leaves an empty file,
    which ran as the defaults alone, silently. A pyproject's empty [tool.rotrace] says the
    project has a policy: the defaults."""
    for text in ("", "# only a comment\n"):
        empty = tmp_path / "rotrace.toml"
        empty.write_text(text)
        with pytest.raises(BadInput, match="holds nothing"):
            load_policy(str(empty))
    project = tmp_path / "pyproject.toml"
    project.write_text("[tool.rotrace]\n")
    assert load_policy(str(project)).allow == []
