"""Every name a traced program can choose, in every generated file: parsed back by the real
parsers (PyYAML, libyaml, tomllib, csv, rotrace's own policy loader), each file is one document
with exactly the expected keys, and each name comes back as itself or is left out with a note,
never as a second document, key, line, flag or mount option.

Names are generated over all code points and all bytes, with the line breaks YAML and TOML
honour (and the other control characters) and their syntax mixed in.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
import tomllib

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rotrace.escape import safe_text
from rotrace.export.formats import RENDERERS, Rendered, Target
from rotrace.policy.allowlist import build_allowlist, load_policy
from rotrace.policy.mounts import Blocked, MountPlan

# Line breaks: YAML 1.1 and libyaml (\n \r \x85 \u2028 \u2029), TOML (\n \r\n), Python's
# str.splitlines (\v \f \x1c-\x1e), and the other controls.
BREAKS = ["\n", "\r", "\r\n", "\x85", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]
CONTROLS = ["\x01", "\x07", "\x08", "\t", "\x1b[31m", "\x7f", "\x9b", "\u202e", "\u2066", "\u200b", "\ufeff",
            "\u00ad", "\u3164", "\ufe0f", "\U000e0061"]  # fmt: skip
SYNTAX = ["---", "...", "# ", ": ", "- ", "? ", "[", "]", "{", "}", "'", '"', "\\", "`", "|", ">", "&a", "*a",
          "!!python/object:os.system", "%YAML", "@", ",", "=", ":", "$", "${HOME}", "$$", " ", "  ",
          "key = 1", "[section]", "hostPID: true", "exec,suid,dev,mode=4777", '"dst=/x"', "*",
          "?"]  # fmt: skip
LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")  # where a YAML 1.1 reader ends a line
# What no line written raw may hold: a line break or another control character, a character
# that reorders or hides text (or shows as nothing: tags, fillers, variation selectors), a
# surrogate (not UTF-8).
MUST_ESCAPE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff\ud800-\udfff"
    "\u00ad\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164\ufe00-\ufe0f\uffa0\u2060-\u206f"
    "\ufff0-\ufffb\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
    "\u0600-\u0605\u06dd\u070f\u0890\u0891\u08e2\U000110bd\U000110cd\U00013430-\U0001343f"
    "\u061c\ufdd0-\ufdef\ufffe\uffff]"  # the Arabic letter mark (bidi), noncharacters
)


# and the workflow commands a CI runner reads: anywhere in a line (`##[`, `##vso[`), or at its
# start after blanks (GitHub's `::`)
CI_COMMAND = re.compile(r"##(?:vso|teamcity)?\[", re.IGNORECASE)


def is_plain(text: str) -> bool:
    return (
        MUST_ESCAPE.search(text) is None
        and CI_COMMAND.search(text) is None
        and not text.lstrip().startswith("::")
    )


piece = st.one_of(
    st.sampled_from(BREAKS + CONTROLS + SYNTAX),
    st.characters(exclude_characters="/\x00", exclude_categories=("Cs",)),
)
text_names = st.lists(piece, min_size=1, max_size=8).map(lambda parts: "".join(parts).encode())
byte_names = st.binary(min_size=1, max_size=10)
names = (
    st.one_of(text_names, byte_names)
    .map(lambda b: b.replace(b"/", b"_").replace(b"\0", b"_"))  # a path component: any byte but these
    .filter(lambda b: b not in (b".", b".."))
)
LOADERS = [yaml.SafeLoader] + ([yaml.CSafeLoader] if yaml.__with_libyaml__ else [])
CASES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _render(fmt: str, name: bytes) -> tuple[str, Rendered]:
    """The plan a hostile directory gives: a mount there (and /tmp), the same directory not
    mountable (a comment line in the files), and the name in the traced command."""
    path = "/srv/" + os.fsdecode(name)
    blocked = Blocked(point=path, path=path + "/f", reason=f"a mount over {path} hides it", count=2)
    plan = MountPlan(mounts=sorted({"/tmp", path}), blocked=[blocked])
    return path, RENDERERS[fmt](plan, Target(["sh", "-c", os.fsdecode(name), path]))


def _one_document(text: str) -> object:
    for loader in LOADERS:
        docs = list(yaml.load_all(text, Loader=loader))
        assert len(docs) == 1, (loader, text)
    return yaml.load(text, Loader=yaml.SafeLoader)


def _comments(text: str, expected: int) -> None:
    """The comment lines are the first `expected` lines, by every reader's idea of a line."""
    lines = LINE_BREAK.split(text)
    assert [line.startswith("# ") for line in lines[: expected + 1]] == [True] * expected + [False]
    assert len(lines) == text.count("\n") + 1 == len(text.splitlines()) + 1  # no break but \\n
    for line in lines[:expected]:
        assert is_plain(line)


def _left_out(rendered: Rendered, path: str) -> None:
    assert rendered.incomplete
    assert any(note.startswith(safe_text(path) + ": ") and "left out" in note for note in rendered.notes)


@CASES
@given(names)
def test_k8s_is_one_pod_spec_with_the_name_as_its_mount_path(name: bytes) -> None:
    path, rendered = _render("k8s", name)
    _comments(rendered.text, 2)
    doc = _one_document(rendered.text)
    assert isinstance(doc, dict) and set(doc) == {"spec"} and set(doc["spec"]) == {"containers", "volumes"}
    (container,) = doc["spec"]["containers"]
    assert set(container) == {"name", "securityContext", "volumeMounts"} and container["name"] == "app"
    assert container["securityContext"] == {"readOnlyRootFilesystem": True}
    # a runtime reads what follows a ':' as mount options (`/srv/q:ro`: /srv/q, read-only)
    holds = ":" not in path and os.fsencode(path).decode("utf-8", "replace") == path
    expected = sorted({"/tmp", path}) if holds else ["/tmp"]
    assert [m["mountPath"] for m in container["volumeMounts"]] == expected
    assert all(set(m) == {"name", "mountPath"} for m in container["volumeMounts"])
    names_ = [m["name"] for m in container["volumeMounts"]]
    assert doc["spec"]["volumes"] == [{"name": n, "emptyDir": {}} for n in names_]
    if not holds:
        _left_out(rendered, path)


@CASES
@given(names)
def test_compose_is_one_service_with_the_name_as_a_tmpfs_target(name: bytes) -> None:
    path, rendered = _render("compose", name)
    _comments(rendered.text, 2)
    doc = _one_document(rendered.text)
    assert isinstance(doc, dict) and set(doc) == {"services"} and set(doc["services"]) == {"app"}
    service = doc["services"]["app"]
    assert set(service) == {"read_only", "tmpfs"} and service["read_only"] is True
    holds = ":" not in path and os.fsencode(path).decode("utf-8", "replace") == path
    expected = sorted({"/tmp", path}) if holds else ["/tmp"]
    # the short syntax, which alone says `exec` (Docker's tmpfs is noexec by default)
    assert service["tmpfs"] == [f"{p.replace('$', '$$')}:exec" for p in expected]
    for mount in service["tmpfs"]:  # compose interpolates `$`: every one of them is doubled
        assert "$" not in mount.replace("$$", "") and mount.count(":") == 1
    if not holds:
        _left_out(rendered, path)


@CASES
@given(names)
def test_the_policy_is_one_table_that_allows_exactly_the_name(name: bytes) -> None:
    path, rendered = _render("policy", name)
    _comments(rendered.text, 2)
    doc = tomllib.loads(rendered.text)
    entries = doc.get("allow", []) + doc.get("allow_bytes", [])
    assert set(doc) <= {"version", "defaults", "allow", "allow_bytes"} and len(entries) == 1
    with tempfile.NamedTemporaryFile("w", suffix=".toml", encoding="utf-8") as f:
        f.write(rendered.text)
        f.flush()
        allowlist = build_allowlist([], load_policy(f.name))
    raw = os.fsencode(path)
    assert allowlist.allows(raw + b"/f") and allowlist.allows(raw + b"/sub/f")
    beside = b"/srv/f" if raw != b"/srv/f" else b"/srv/g"  # a sibling of the directory
    assert not allowlist.allows(beside) and not allowlist.allows(raw + b"x/f")


def _argument_lines(rendered: Rendered) -> list[str]:
    assert rendered.text.endswith("\n")
    lines = rendered.text[:-1].split("\n")
    assert all(is_plain(line) for line in lines)  # so `mapfile -t` reads exactly these
    return lines


def _left_out_or_kept(rendered: Rendered, path: str, kept: list[str]) -> None:
    """The hostile directory is in the output as itself, or left out with a note; a name with
    nothing to escape is never left out."""
    assert "/tmp" in kept and set(kept) <= {"/tmp", path}
    if path not in kept:
        _left_out(rendered, path)
        assert not is_plain(path)


@CASES
@given(names)
def test_docker_flags_are_one_per_line_and_the_name_one_csv_field(name: bytes) -> None:
    path, rendered = _render("docker", name)
    lines = _argument_lines(rendered)
    assert lines[0] == "--read-only"
    kept = []
    for line in lines[1:]:
        prefix, value = line.split("=", 1)
        if prefix == "--tmpfs":  # exec: Docker's tmpfs is noexec by default; a name without `:`
            where, options = value.rsplit(":", 1)
            assert options == "exec" and ":" not in where
            kept.append(where)
            continue
        assert prefix == "--mount"
        (fields,) = list(csv.reader([value], strict=True))
        assert fields[0] == "type=tmpfs" and fields[1].startswith("dst=") and len(fields) == 2
        kept.append(fields[1].removeprefix("dst="))
        assert ":" in kept[-1]  # noexec under Docker: said in a note
        assert any(kept[-1] in n and "noexec" in n for n in rendered.notes)
        last = value.split(",", 1)[1]
        # Go's encoding/csv (docker, podman): a field with `,` `"` or a leading space is quoted
        if any(c in last for c in ',"') or last[:1] == " ":
            assert last.startswith('"') and last.endswith('"') and '"' not in last[1:-1].replace('""', "")
    assert kept == sorted(kept)
    _left_out_or_kept(rendered, path, kept)


@CASES
@given(names)
def test_bwrap_arguments_are_one_per_line(name: bytes) -> None:
    path, rendered = _render("bwrap", name)
    lines = _argument_lines(rendered)
    assert lines[:9] == [
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--unshare-pid",
        "--unshare-ipc",
        "--proc",
        "/proc",
    ]
    _left_out_or_kept(rendered, path, bwrap_writable(lines[9:]))


BWRAP_ARITY = {"--ro-bind": 2, "--ro-bind-try": 2, "--bind": 2, "--bind-try": 2, "--dev": 1, "--proc": 1,
               "--tmpfs": 1, "--dir": 1, "--symlink": 2, "--remount-ro": 1, "--setenv": 2, "--cap-drop": 1,
               "--cap-add": 1, "--unshare-pid": 0, "--unshare-ipc": 0, "--die-with-parent": 0}  # fmt: skip


def bwrap_writable(args: list[str]) -> list[str]:
    """The directories bwrap arguments leave writable: every tmpfs and bind, less those made
    read-only again (a shadow: the room for a mount point that does not exist yet), each
    argument a known option with its operands."""
    ops: list[tuple[str, list[str]]] = []
    i = 0
    while i < len(args):
        option = args[i]
        assert option in BWRAP_ARITY, args
        ops.append((option, args[i + 1 : i + 1 + BWRAP_ARITY[option]]))
        i += 1 + BWRAP_ARITY[option]
    again = {operands[0] for option, operands in ops if option == "--remount-ro"}
    return [
        operands[-1]
        for option, operands in ops
        if option in ("--tmpfs", "--bind", "--bind-try") and operands[-1] not in again
    ]


@CASES
@given(names)
def test_apparmor_profile_has_only_its_own_lines(name: bytes) -> None:
    path, rendered = _render("apparmor", name)
    lines = LINE_BREAK.split(rendered.text)
    head = lines[: lines.index("#include <tunables/global>")]
    assert all(line.startswith("# ") and is_plain(line) for line in head) and len(head) == 5
    body = lines[lines.index("#include <tunables/global>") + 1 :]
    assert body[1].startswith("profile rotrace-app ") and body.count("}") == 1 and body[-2:] == ["}", ""]
    assert all(line == "" or line.startswith("  ") for line in body[2:-2])
    rules = [line for line in body if '"/srv/' in line]
    assert rules or not is_plain(path)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.binary(), st.lists(st.sampled_from(BREAKS + CONTROLS)).map("".join)))
def test_safe_text_is_one_plain_line_and_idempotent(value: str | bytes) -> None:
    text = safe_text(value)
    assert is_plain(text) and safe_text(text) == text
    assert len(text.splitlines()) <= 1 and not LINE_BREAK.search(text)
    text.encode("utf-8")  # no surrogate left


@pytest.mark.parametrize("br", BREAKS)
def test_every_line_break_is_escaped(br: str) -> None:
    assert br not in safe_text(f"a{br}b") and not is_plain(f"a{br}b")


@CASES
@given(st.lists(piece, min_size=1, max_size=8).map("".join))
def test_a_changed_manifest_writes_every_string_escaped_and_as_itself(value: str) -> None:
    """ruamel's round trip (kube record, kube harden), as PyYAML's export: a string with
    anything but a newline or a tab that is not plain is double-quoted with escapes; read back
    by PyYAML and libyaml it is itself, in one document."""
    from rotrace.kube.manifest import Manifest, mapping

    manifest = Manifest("kind: Pod\nmetadata:\n  name: p\n")
    (document,) = manifest.documents
    document.data["value"] = value
    document.data["block"] = mapping(key=value)
    document.changed = True
    text = manifest.dump()
    assert not MUST_ESCAPE.search(text.replace("\n", "").replace("\t", "")), text
    doc = _one_document(text)
    assert isinstance(doc, dict) and set(doc) == {"kind", "metadata", "value", "block"}
    assert doc["value"] == value and doc["block"] == {"key": value}


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("d/##[x]", "a CI log's command"),
        ("x##vso[task.setvariable]y", "a CI log's command"),
        ("x##teamcity[setParameter name='env.X' value='y']", "a CI log's command"),
        ("d\nx", "a line break, a control or invisible character"),
        ("d\u202ex", "a line break, a control or invisible character"),
    ],
)
@pytest.mark.parametrize("fmt", ["docker", "bwrap"])
def test_a_name_left_out_of_a_line_of_flags_is_said_for_what_it_holds(fmt: str, name: str, why: str) -> None:
    """A name holding `##[` is left out (a CI log would run it) but was said to hold a control
    character: what it holds, said as such."""
    path, rendered = _render(fmt, os.fsencode(name))
    (note,) = [n for n in rendered.notes if n.startswith(safe_text(path) + ": ")]
    assert f"holds {why}" in note and "left out" in note, note


def test_persistent_places_are_named_as_the_trace_names_them() -> None:
    """--persistent PATH: relative to the traced directory, an image's path as its host's, the
    longest IMAGE winning; what is no path is a usage error."""
    from rotrace.errors import BadOption
    from rotrace.export.mapping import given_places

    maps = [("/srv/ci/app", "/app"), ("/srv/ci/data", "/app/data")]
    places = ["uploads", "/app/media/x", "/app/data/db", "/var/lib/app", "../up"]
    assert given_places(places, "/srv/ci/app", maps) == [
        "/srv/ci/app/uploads",
        "/srv/ci/app/media/x",
        "/srv/ci/data/db",
        "/var/lib/app",
        "/srv/ci/up",
    ]
    for bad, cwd in (("", "/srv"), ("a\0b", "/srv"), ("rel", None)):
        with pytest.raises(BadOption):
            given_places([bad], cwd, maps)
