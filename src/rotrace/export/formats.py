"""The mount plan in each consumer's format, one renderer per format behind one interface.

Every name reaches a generated file through one escaper (rotrace.escape): comments are
`safe_text` (no line break of any kind survives in them), values are written by real emitters
(tomli-w; PyYAML, with double quotes and escapes for any name that is not plain), and the
command-line formats (docker, bwrap) print one argument per line, raw, so that no shell parses
them: a name no line can hold is left out, with a note. What a person should know goes to
`Rendered.notes`, which the CLI prints on stderr.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from rotrace.escape import (
    NOT_PLAIN,
    EscapingEmitter,
    ci_safe_json,
    code_escape,
    is_plain,
    kubelet_literal,
    not_plain_because,
    safe_text,
)
from rotrace.export import FORMATS
from rotrace.pathnames import holder, is_under, normal
from rotrace.policy.allowlist import DEFAULT_ALLOW, Allowlist, policy_entry
from rotrace.policy.mountpoints import layout
from rotrace.policy.mounts import MountPlan
from rotrace.policy.policyfile import project_entry
from rotrace.policy.runtime import capability_flags


@dataclass
class Rendered:
    text: str  # for stdout
    notes: list[str] = field(default_factory=list)  # for a person, on stderr
    incomplete: bool = False  # a mount of the plan could not be written in this format

    def __post_init__(self) -> None:
        self.notes = list(dict.fromkeys(safe_text(note) for note in self.notes))


@dataclass(frozen=True)
class Target:
    """What the plan is for: the traced command, the container's name in manifests, for the
    AppArmor profile the programs it ran and the directories it read (None: not recorded), and
    the project directory (the traced working directory), which a policy names relatively."""

    command: list[str]
    container: str = "app"
    programs: tuple[str, ...] = ()
    reads: tuple[str, ...] | None = None
    project: str | None = None
    # a merged trace's coverage of each mount ("seen in 3 of 5 runs: uv, pytest"), by mount
    coverage: tuple[tuple[str, str], ...] = ()
    # a merged trace's runs, each by its command: the plan is for all of them, not the first
    merged: tuple[tuple[str, ...], ...] = ()
    user: tuple[int, int] | None = None  # (uid, gid) the command ran as, where known


def _is_utf8(path: str) -> bool:
    try:
        os.fsencode(path).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _notes(plan: MountPlan) -> list[str]:
    notes = [b.describe() for b in plan.blocked] + plan.notes
    for known, count in sorted(plan.settings.items(), key=lambda kv: -kv[1]):
        if known.mounted:  # the fix is the mount itself (a cache in ~/.cache): nothing avoids it
            notes.append(safe_text(f"{known.title} ({count} writes, mounted): {known.fix}"))
            continue
        how = f"{known.remedy} avoids them" if known.remedy else "to avoid them"
        notes.append(safe_text(f"{known.title} ({count} writes, mounted): {how}: {known.fix}"))
    return notes


def _comments(lines: list[str]) -> str:
    """Comment lines, each escaped here: a line break of any kind (`\\n`, `\\r`, NEL, U+2028...)
    in a name would end the comment, and what follows would be read as YAML, TOML or a rule."""
    return "".join(f"# {safe_text(line)}\n" for line in lines)


def _coverage(target: Target) -> list[str]:
    """Per mount, in how many of the merged runs it was written (a place of one run is flagged)."""
    return [f"{mount}: {seen}" for mount, seen in target.coverage]


def _header(plan: MountPlan, target: Target, what: str) -> str:
    if target.merged:
        commands = "; ".join(shlex.join(c) for c in dict.fromkeys(target.merged))
        lines = [f"{what} from rotrace for {len(target.merged)} merged runs: {commands}"]
    else:
        lines = [f"{what} from rotrace for: {shlex.join(target.command)}"]
    lines += [f"NOT MOUNTABLE: {b.describe()}" for b in plan.blocked]
    return _comments(lines + _coverage(target))


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _env(
    plan: MountPlan, line: bool, alone: bool = False, mounted: Iterable[str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """The plan's settings a format can hold, and notes for the rest: a name is a shell
    identifier; a value holds no NUL (no environment can), is UTF-8 (manifests), and for a
    line of arguments (`line`) nothing that would end or hide the line, nor, written alone on
    its line (`alone`), start a CI command there. A setting that names a place on one of the
    plan's mounts the format leaves out (those not `mounted`) is left out with it: TMPDIR on a
    mount a name with `:` kept out would put every temporary file on the read-only root."""
    kept: dict[str, str] = {}
    notes = []
    on_mount = holder(plan.mounts)
    out = set(plan.mounts) - set(plan.mounts if mounted is None else mounted)
    for name, value in plan.env.items():
        if out and value.startswith("/") and (m := on_mount(normal(value))) in out:
            notes.append(f"setting {name}={value}: a place on {m}, which this format leaves out: left out")
            continue
        fits = is_plain(value, starts_line=alone) if line else _is_utf8(value) and "\0" not in value
        if _ENV_NAME.fullmatch(name) and fits:
            kept[name] = value
        else:
            notes.append(f"setting {name}={value}: a name or value this format cannot hold: left out")
    return kept, notes


def _split(plan: MountPlan) -> tuple[list[str], list[str]]:
    """(mounts that start empty each run, mounts whose data must survive a restart)."""
    persistent = list(dict.fromkeys(plan.persistent))
    return [m for m in plan.mounts if m not in persistent], persistent


# Docker fills a new named volume from the image's directory at its mount point: its files, its
# owner and its mode; where the image has none, the volume is root's, and a non-root app's
# writes there fail (EACCES)
_VOLUME_OWNER = (
    "; a new volume takes the owner of the image's directory there, or is root's where the image"
    " has none: for a non-root user, make it in the image (RUN mkdir -p DIR && chown USER DIR)"
)


def _persistent_notes(persistent: list[str], how: str) -> list[str]:
    return [
        f"{p}: its data must survive a restart: {how}; a tmpfs or an emptyDir there would lose it"
        for p in persistent
    ]


def _build_notes(plan: MountPlan) -> list[str]:
    return [f"image build step (Dockerfile RUN, before the root is read-only): {s}" for s in plan.build_steps]


def _env_lines(plan: MountPlan) -> list[str]:
    """Comment lines for the settings, in a format that cannot hold them (AppArmor)."""
    return [f"setting: {name}={value}" for name, value in plan.env.items()]


def _build_lines(plan: MountPlan) -> list[str]:
    """Comment lines for the build steps: no format runs them, the image build does."""
    return [f"image build step (Dockerfile RUN): {step}" for step in plan.build_steps]


# YAML 1.1's booleans that PyYAML's reader leaves out; Kubernetes' (go-yaml) takes them
_YAML11_BOOLS = frozenset({"y", "Y", "n", "N"})


def yaml11_typed(value: str) -> bool:
    """Whether `value`, written plain, is no string to a YAML 1.1 reader (Kubernetes' go-yaml,
    PyYAML): `off`, `yes`, `y`, `0777`, `1:20`, `~`. A YAML 1.2 emitter (ruamel.yaml) writes
    those plain; the Deployment is refused (EnvVar.value must be a string)."""
    import yaml

    if value in _YAML11_BOOLS:
        return True
    tag: str = yaml.resolver.Resolver().resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    return tag != "tag:yaml.org,2002:str"


def yaml_document(doc: Mapping[str, object]) -> str:
    """One YAML document, by PyYAML: a string that is not plain (a line break of any kind, a
    control or invisible character) in double quotes, where every such character is an escape,
    and one a YAML 1.1 reader would take for another type (yaml11_typed) in quotes too.
    (Left to itself PyYAML writes U+2028 raw, reads `\\x85` back as a space, and `y` plain.)"""
    import yaml

    class Dumper(EscapingEmitter, yaml.SafeDumper):
        pass

    def represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = None if is_plain(value) else '"'
        if style is None and value in _YAML11_BOOLS:
            style = "'"
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, represent_str)
    return yaml.dump(doc, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=1 << 30)


def _toml(doc: dict[str, object]) -> str:
    """TOML by tomli-w, which escapes what TOML forbids raw (controls, line breaks) but writes
    the rest of what is not plain as it is (NEL, U+2028, bidirectional overrides: lines and
    reordered text in an editor or a diff under review): those as \\uXXXX too. tomli-w writes
    every string in double quotes, where such an escape means the character, and no raw control
    character but its own line ends."""
    import tomli_w

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return char if char == "\n" else code_escape(char)  # its own line ends stay

    return ci_safe_json(NOT_PLAIN.sub(escape, tomli_w.dumps(doc)))


def _in_project(value: str, project: str | None) -> str:
    """A setting's value, `./PATH` where it is a place below the project (Policy.settings reads
    it back against the project)."""
    if project and project != "/" and value.startswith("/") and value != project and is_under(value, project):
        return "./" + os.path.relpath(value, project)
    return value


def _project_relative(comments: str, project: str | None) -> str:
    """The policy's comments with the project's own path as `.` (`./pkg`): a file committed and
    diffed names no machine's checkout, as its entries do not."""
    if not project or project == "/":
        return comments
    return re.sub(re.escape(project.rstrip("/")) + r"(?=/|\s|$)", ".", comments, flags=re.MULTILINE)


def policy(plan: MountPlan, target: Target) -> Rendered:
    """rotrace's policy TOML: the mounts as `allow` entries (those the defaults do not cover),
    the persistent ones again under `persistent`, the settings in an `[env]` table, the build
    steps as comments. Made to be committed and diffed: every list sorted, no date, and the
    directories under the project written relative to it (they mean the directory the file is
    in, or the traced one for `rotrace check`), not as the machine that traced them named them."""
    defaults = Allowlist(list(DEFAULT_ALLOW))
    doc: dict[str, object] = {"version": 1, "defaults": True, "allow": []}
    mounts, persistent = _split(plan)
    entries: dict[str, list[str]] = {}
    for mount in [*mounts, *persistent]:
        if not defaults.allows(os.fsencode(mount)):
            key, value = policy_entry(project_entry(mount, target.project))
            entries.setdefault(key, []).append(value)
    for key, values in sorted(entries.items()):
        doc[key] = sorted(dict.fromkeys(values))
    skipped = [f"{p}: not valid UTF-8: left out of `persistent` (it is in allow_bytes)" for p in persistent
               if not _is_utf8(p)]  # fmt: skip
    kept = sorted(project_entry(p, target.project) for p in persistent if _is_utf8(p))
    if persistent:
        doc["persistent"] = kept
    env, env_notes = _env(plan, line=False)
    if env:  # a place in the project as `./PATH`: the policy names no machine's paths
        doc["env"] = {name: _in_project(value, target.project) for name, value in sorted(env.items())}
    lines = _build_lines(plan)
    if any(not e.startswith("/") for e in [*entries.get("allow", []), *kept]):
        lines.append(
            "relative entries mean the project: the directory this file is in (for check: the traced one)"
        )
    made = [m for m in plan.created if m in mounts or m in persistent]
    if made:
        names = ", ".join(project_entry(m, target.project) for m in made)
        lines.append(
            "run --enforce --policy: Landlock grants only directories that exist when the run starts;"
            f" the command made {names}: create them first"
        )
    head = _project_relative(_header(plan, target, "policy") + _comments(lines), target.project)
    notes = [*_notes(plan), *_persistent_notes(persistent, "`persistent` records it"), *env_notes, *skipped]
    return Rendered(head + _toml(doc), notes, bool(env_notes or skipped))


_HASHED = re.compile(r"-[0-9a-f]{8}$")  # how a hashed volume name ends


def volume_name(path: str, taken: set[str]) -> str:
    """An RFC 1123 label (lower-case alphanumerics and '-', at most 63, alphanumeric at both ends)
    for the volume behind `path`: readable, and the same for that path in every plan, another
    path's never (a short hash where the label alone could name two: cut, lower-cased, or a '-'
    that a '/' would also give, /srv/x-y against /srv/x/y; and where the label ends as a hashed
    one does, /srv/data/cache/abbbc5d8 against /srv/Data/cache). A named volume outlives the
    plan, so a name is never given by which paths a plan happens to hold."""
    base = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "root"
    if (
        len(base) > 50
        or base != path.strip("/").replace("/", "-")
        or "-" in path
        or _HASHED.search(base) is not None
    ):
        digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:8]
        base = f"{base[:50].rstrip('-')}-{digest}"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


_RENAME = "rename it, or mount its parent"


def _mountable(paths: list[str]) -> tuple[list[str], list[str]]:
    """Mount paths a manifest can hold, and notes for the rest: Kubernetes wants UTF-8, and a
    runtime that turns a mount into `SOURCE:TARGET:OPTIONS` (podman kube play, podman-compose,
    docker's `-v`) reads what follows a ':' in the target as mount options: `/srv/q:ro` mounts
    the volume read-only at /srv/q, `/app:rw` over the application."""
    skipped = []
    for m in paths:
        if not _is_utf8(m):
            skipped.append(f"{m}: not valid UTF-8, which a manifest cannot hold: left out; {_RENAME}")
        elif ":" in m:
            skipped.append(
                f"{m}: holds ':', after which container runtimes (podman kube play, podman-compose) read"
                f" mount options, mounting elsewhere: left out; {_RENAME}"
            )
    return [m for m in paths if _is_utf8(m) and ":" not in m], skipped


def _claim(name: str) -> list[str]:
    """A PersistentVolumeClaim for a persistent volume, as comment lines to adapt (size, class)."""
    claim: dict[str, object] = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    return ["---", *yaml_document(claim).splitlines()]


def seed_command(path: str) -> list[str]:
    """The command of an initContainer mounting a claim at /seed that fills it with the image's
    `path`, only while it is empty, and where the image holds it (a merge of a run that found the
    directory and one that made it). No `$` of its own: the kubelet expands `$(...)` and `$$` in
    a command and podman's `kube play` (4.3) does not, so a `$` written for one breaks the other;
    one in `path` is written for the kubelet."""
    where = shlex.quote(path)
    return [
        "/bin/sh",
        "-c",
        kubelet_literal(
            f"ls -A /seed | read -r _ || ! test -d {where} || cp -a {shlex.quote(path + '/.')} /seed/"
        ),
    ]


def k8s(plan: MountPlan, target: Target) -> Rendered:
    """A pod spec fragment: emptyDir volumes, a persistentVolumeClaim for each persistent mount
    (its claim, to adapt, in a comment), the settings as the container's `env`."""
    mounts, persistent = _split(plan)
    mounts, skipped = _mountable(mounts)
    persistent, skipped_p = _mountable(persistent)
    taken: set[str] = set()
    named = [(volume_name(p, taken), p) for p in mounts]
    claimed = [(volume_name(p, taken), p) for p in persistent]
    container: dict[str, object] = {
        "name": target.container,
        "securityContext": {"readOnlyRootFilesystem": True},
    }
    env, env_notes = _env(plan, line=False, mounted=[*mounts, *persistent])
    if env:  # the kubelet expands `$(NAME)` and `$$` in a value: written to come back as it is
        container["env"] = [{"name": n, "value": kubelet_literal(v)} for n, v in env.items()]
    spec: dict[str, object] = {"containers": [container]}
    owner: list[str] = []
    if claimed and target.user is not None and target.user[0] != 0:
        uid, gid = target.user  # a new claim is root's: the group the run wrote as gets it
        if gid != 0:
            spec["securityContext"] = {"fsGroup": gid}
        owner = [
            f"the run wrote as uid {uid}, and a new claim is root's: "
            + (f"fsGroup {gid} makes it the group's to write" if gid != 0 else "set the Pod's fsGroup")
        ]
    if named or claimed:
        container["volumeMounts"] = [{"name": n, "mountPath": p} for n, p in [*named, *claimed]]
        spec["volumes"] = [{"name": n, "emptyDir": {}} for n, _ in named] + [
            {"name": n, "persistentVolumeClaim": {"claimName": n}} for n, _ in claimed
        ]
    lines = [*_build_lines(plan), *owner]
    for name, path in claimed:
        lines += [f"{path} must survive a restart (an emptyDir would lose it): a claim for it, to adapt:"]
        lines += _claim(name)
        if path in plan.seeded:  # a new claim is empty: the files the image holds there go first
            lines += [
                f"{path} held files before the run, which the app keeps using: the claim starts empty;",
                "fill it with them once, before the app first starts (an initContainer of the app's",
                "image mounting the claim at /seed, copying only into an empty claim, never over data):",
            ]
            if is_plain(path):
                lines += ["  " + line for line in yaml_document({"command": seed_command(path)}).splitlines()]
    head = _header(plan, target, "Pod spec fragment") + _comments(lines)
    how = "a persistentVolumeClaim (its claim in a comment above the fragment)"
    notes = [*_notes(plan), *_persistent_notes([p for _, p in claimed], how), *env_notes]
    owned, fails = _owner_notes(plan, target, [*mounts, *persistent], _EMPTYDIR_OWNER)
    notes += [*_build_notes(plan), *skipped, *skipped_p, *owned]
    incomplete = bool(skipped or skipped_p or env_notes or fails)
    return Rendered(head + yaml_document({"spec": spec}), notes, incomplete)


def compose(plan: MountPlan, target: Target) -> Rendered:
    """Each tmpfs in the short syntax, `tmpfs: DIR:exec` (Docker's tmpfs is noexec by default:
    `_TMPFS_EXEC`), which reads options out of a name holding `:`, as podman-compose's
    `podman run --tmpfs TARGET` (or `-v NAME:TARGET`) does of any: a name with `:` is left
    out (_mountable). Compose interpolates `$` in every value: doubled. A persistent mount is a
    named volume (the long syntax)."""
    tmpfs, persistent = _split(plan)
    mounts, skipped = _mountable([*tmpfs, *persistent])
    service: dict[str, object] = {"read_only": True}
    env, env_notes = _env(plan, line=False, mounted=mounts)
    if env:
        service["environment"] = {n: v.replace("$", "$$") for n, v in env.items()}
    taken: set[str] = set()
    volumes: list[dict[str, str]] = []
    named: dict[str, dict[str, object]] = {}
    scratch = [m for m in mounts if m in tmpfs]
    if scratch:  # the short syntax, which alone says `exec` (_TMPFS_EXEC); no name holds `:` here
        service["tmpfs"] = [f"{m.replace('$', '$$')}:{_TMPFS_EXEC}" for m in scratch]
    for m in mounts:
        if m not in tmpfs:
            name = volume_name(m, taken)
            named[name] = {}
            volumes.append({"type": "volume", "source": name, "target": m.replace("$", "$$")})
    if volumes:
        service["volumes"] = volumes
    doc: dict[str, object] = {"services": {target.container: service}}
    if named:
        doc["volumes"] = named
    head = _header(plan, target, "compose service fragment")
    head += _comments(_build_lines(plan))
    persisted = [m for m in mounts if m not in tmpfs]
    notes = [*_notes(plan), *_persistent_notes(persisted, "a named volume" + _VOLUME_OWNER)]
    owned, fails = _owner_notes(plan, target, mounts, _COMPOSE_OWNER)
    notes += [*env_notes, *_build_notes(plan), *owned]
    notes += skipped
    return Rendered(head + yaml_document(doc), notes, bool(skipped or env_notes or fails))


def csv_field(value: str) -> str:
    """One field of a CSV record as Go's encoding/csv reads it (docker's and podman's `--mount`
    value): in double quotes, each quote doubled, when it holds a comma, a quote or a line
    break or starts with a space; else as it is."""
    if any(c in value for c in ',"\r\n') or value[:1].isspace():
        return '"' + value.replace('"', '""') + '"'
    return value


def _flag_paths(paths: list[str]) -> tuple[list[str], list[str]]:
    """Mount paths a line of flags can hold as they are, and notes for the rest."""
    ok = [m for m in paths if is_plain(m)]
    skipped = [
        f"{m}: holds {not_plain_because(m)}, which no line of flags can hold: left out; rename it, or"
        " mount its parent"
        for m in paths
        if not is_plain(m)
    ]
    return ok, skipped


def _argument_lines(plan: MountPlan, target: Target, args: list[str], notes: list[str], incomplete: bool,
                    tool: str, read: str) -> Rendered:  # fmt: skip
    """Arguments one per line, raw (no shell quoting to undo), and how to read them; what a
    comment would say elsewhere (the coverage of a merged trace) goes with the notes."""
    how = (
        f"{tool} arguments, one per line: read them as lines, never through an unquoted $(...), which"
        f" splits and globs names: {read}"
    )
    notes = [how, *_notes(plan), *notes, *_coverage(target)]
    return Rendered("".join(f"{a}\n" for a in args), notes, incomplete)


# Docker mounts a tmpfs noexec unless told `exec` (moby#35890), which only `--tmpfs DIR:OPTIONS`
# and compose's `tmpfs: DIR:OPTIONS` can say; the run it plans for ran code from such places as
# a Pod's emptyDir, bubblewrap's tmpfs and podman's let it (PyInstaller's onefile unpacks its
# libraries into /tmp/_MEIxxxxxx and maps them)
_TMPFS_EXEC = "exec"


def _owner_notes(plan: MountPlan, target: Target, mounted: list[str], how: str) -> tuple[list[str], bool]:
    """A directory the run made as a non-root user was that user's; the runtime's mount there
    (a tmpfs, an emptyDir) is root's, mode 1777 or 0777: a program that changes its mode fails
    (EPERM), and one that checks it owns it refuses it (git's safe.directory, ssh, gpg). Said for
    each such mount, with `how` the runtime makes it the user's; whether a run's own chmod or
    chown of one fails under the plan (incomplete)."""
    if target.user is None or target.user[0] == 0:
        return [], False
    uid, gid = target.user
    made = [m for m in plan.created if m in mounted]
    notes = [
        f"{m}: the run made it as uid {uid}, its owner{_OWNED if m in plan.reowned else ''}; the plan's"
        " mount there is root's, where changing its mode fails (EPERM) and a program that"
        f" checks it owns it (git, ssh, gpg) refuses it: {how.format(dir=m, uid=uid, gid=gid)}"
        for m in made
    ]
    return notes, any(m in plan.reowned for m in made)


_OWNED = ", and needs to (it changed its mode or owner, or made a git repository there)"
_TMPFS_OWNER = (
    "make it the user's with Docker's `--tmpfs={dir}:exec,uid={uid},gid={gid}`, or podman's"
    " `--mount=type=tmpfs,dst={dir},U=true` (each runtime refuses the other's option); a named"
    " volume there (persistent) is root's too where the image has no such directory: make it in"
    " the image (RUN mkdir -p {dir} && chown {uid}:{gid} {dir}), or podman's `U=true` on it"
)
_COMPOSE_OWNER = (
    "make it the user's with Docker Compose's `tmpfs: {dir}:exec,uid={uid},gid={gid}` (podman-compose"
    " hands it to podman, which refuses uid=: a volume with `U` there); a named volume there is"
    " root's too where the image has no such directory: make it in the image, the user's"
)
_EMPTYDIR_OWNER = (
    "an emptyDir, and a new claim, is root's whatever runAsUser (fsGroup makes it the group's, not"
    " its owner): let the app make it below a mount of its parent, or chown it to {uid}:{gid} in an"
    " initContainer"
)


def _noexec_note(paths: list[str]) -> list[str]:
    return [
        f"{p}: holds `:`, which `--tmpfs` takes for its options: mounted with `--mount=type=tmpfs`, which"
        " Docker makes noexec (a program that runs or maps code it put there fails; podman's runs it)"
        for p in paths
    ]


def docker(plan: MountPlan, target: Target) -> Rendered:
    """`--tmpfs=DIR:exec` (Docker's tmpfs is noexec by default: `_TMPFS_EXEC`); a DIR holding a
    colon, which `--tmpfs` would read options out of, `--mount=type=tmpfs,dst=DIR` (DIR a CSV
    field), noexec. A persistent mount is a named volume (`type=volume,src=NAME`); each setting
    an `--env=NAME=VALUE`."""
    tmpfs, persistent = _split(plan)
    paths, skipped = _flag_paths(tmpfs)
    kept, skipped_p = _flag_paths(persistent)
    env, env_notes = _env(plan, line=True, mounted=[*paths, *kept])
    colons = [p for p in paths if ":" in p]
    flags = ["--read-only"]
    flags += [
        f"--mount=type=tmpfs,{csv_field('dst=' + p)}" if p in colons else f"--tmpfs={p}:{_TMPFS_EXEC}"
        for p in paths
    ]
    skipped = [*_noexec_note(colons), *skipped]
    taken: set[str] = set()
    flags += [f"--mount=type=volume,src={volume_name(p, taken)},{csv_field('dst=' + p)}" for p in kept]
    flags += [f"--env={n}={v}" for n, v in env.items()]
    read = 'mapfile -t flags < <(rotrace allowlist TRACE --format docker); docker run "${flags[@]}" IMAGE'
    shared = (
        "a named volume (one per name on the host: every container naming it shares it, so give "
        "each application's its own `src=`)" + _VOLUME_OWNER
    )
    owned, fails = _owner_notes(plan, target, [*paths, *kept], _TMPFS_OWNER)
    notes = [*_persistent_notes(kept, shared), *env_notes, *_build_notes(plan), *owned]
    notes += [*skipped, *skipped_p]
    incomplete = bool(skipped or skipped_p or env_notes or fails)
    return _argument_lines(plan, target, flags, notes, incomplete, "docker run", read)


def bwrap(plan: MountPlan, target: Target) -> Rendered:
    """A read-only bind of this machine's root with each mount writable: a tmpfs, or for a
    persistent one a bind of the directory itself (what is written stays there). A mount point
    that does not exist (yet) is made in a shadow of its nearest existing parent
    (policy/mountpoints.py): bwrap cannot create it in the read-only root. A mount point the
    traced command made counts as missing even if it is there now (exported right after the
    trace), so that the arguments run on the tree as it was before the run too (a fresh
    checkout); the rest of what exists is decided now, so they are made where the application
    is: a mount point whose parent is not here is left out, with a note."""
    tmpfs, persistent = _split(plan)
    paths, skipped = _flag_paths(tmpfs)
    kept, skipped_p = _flag_paths(persistent)
    # A mount point the kernel placed (the trace's names are real) that is reached through a
    # symbolic link now (the directory, or one above it, swapped for one since the trace): bwrap
    # follows it, and would make the link's target writable, a place the plan never named.
    linked = {p: os.path.realpath(p) for p in [*paths, *kept] if os.path.realpath(p) != p}
    paths = [p for p in paths if p not in linked]
    kept = [p for p in kept if p not in linked]
    made = set(plan.created)
    # persistent: bound to itself; one the command made may be missing where the arguments run
    # (a fresh checkout): a tmpfs there, under the bind of the host's directory where it exists
    tried = [p for p in kept if p in made]
    lost = [p for p in kept if p not in made and not os.path.isdir(p)]
    bound = [p for p in kept if p not in made and p not in lost]
    existing = [p for p in [*paths, *bound] if os.path.isdir(p) and (p in bound or p not in made)]
    missing = [p for p in [*paths, *lost, *tried] if p not in existing]
    # Each mount point's parent was there when it was traced (one the command made sits in a
    # directory it did not make). Not here, the traced tree is elsewhere: a shadow of what is
    # here would list another tree's entries, and hide the application where the arguments run.
    away = [p for p in missing if not os.path.isdir(os.path.dirname(p) or "/")]
    missing = [p for p in missing if p not in away]

    def mount(p: str) -> list[str]:
        if p in bound:
            return ["--bind", p, p]
        return ["--tmpfs", p, "--bind-try", p, p] if p in tried else ["--tmpfs", p]

    placed = layout(existing, missing, mount, is_plain)
    # As root, bwrap keeps every capability (a remount of / would undo the plan): Docker's alone. A
    # pid namespace of its own, as a container has: with the host's /proc, root inside would reach
    # the host's root through /proc/PID/root of bwrap's own process. The command dies with bwrap
    # (a stopped shell, a killed supervisor): no sandboxed server left holding its port. Its own
    # IPC namespace, as a container's: no System V or POSIX message-queue object left behind.
    args = ["--ro-bind", "/", "/", "--dev", "/dev", "--unshare-pid", "--unshare-ipc", "--proc", "/proc",
            *capability_flags(), "--die-with-parent", *placed.args]  # fmt: skip
    env, env_notes = _env(plan, line=True, alone=True, mounted=[*existing, *missing])  # one argument a line
    for name, value in env.items():
        args += ["--setenv", name, value]
    read = 'mapfile -t args < <(rotrace allowlist TRACE --format bwrap); bwrap "${args[@]}" -- COMMAND'
    absent = [p for p in tried if not os.path.isdir(p)]  # (here, where the arguments are made)
    notes = _persistent_notes(bound, "bound to itself on this machine, what is written stays there")
    notes += _persistent_notes(
        [p for p in tried if p not in absent],
        "bound to itself where it exists when the arguments run, what is written stays there; the"
        " command made it, so on a tree without it (a fresh checkout) it is a tmpfs, which loses it:"
        " mkdir -p it first",
    )
    notes += [
        f"{p}: its data must survive a restart, but it does not exist here to be bound: a tmpfs for"
        " now, which loses it; mkdir -p it and export again"
        for p in lost
    ]
    notes += [
        f"{p}: its data must survive a restart, but the command made it, and it does not exist here:"
        " until it is made (mkdir -p it first), the arguments give it a tmpfs, which loses it"
        for p in absent
    ]
    notes += [
        f"{p}: left out: {os.path.dirname(p)}, which held it when it was traced, is not on this machine;"
        " the arguments list what each directory holds where they are made: make them where the"
        " application is installed"
        for p in away
    ]
    notes += [
        f"{p}: left out: it is reached through a symbolic link now (to {to}), which a bind or a tmpfs"
        " there would follow, making another directory writable than the one traced: put the"
        " directory back, and export again"
        for p, to in linked.items()
    ]
    notes += [*placed.notes, *env_notes, *_build_notes(plan), *skipped, *skipped_p]
    incomplete = bool(skipped or skipped_p or lost or absent or away or linked or placed.notes or env_notes)
    return _argument_lines(plan, target, args, notes, incomplete, "bwrap", read)


_AA_SPECIAL = re.compile(r'([*?\[\]{}^,"\\])')
_DEVICES = ("/dev/null rw,", "/dev/tty rw,", "/dev/pts/* rw,", "/dev/shm/ rw,", "/dev/shm/** rwkl,",
            "@{PROC}/@{pid}/** rw,")  # fmt: skip


def _aa_path(path: str, notes: list[str], suffix: str = "") -> str | None:
    """A path as an AppArmor rule names it: quoted, its glob characters escaped; None (with a
    note) for one no profile can hold (not plain: not UTF-8, line breaks, control characters)."""
    if not is_plain(path):
        notes.append(f"{path}: not valid UTF-8 or holds control characters: left out of the profile")
        return None
    if (path + suffix).endswith("\\"):  # apparmor_parser reads `\\"` as `\` and an escaped quote
        notes.append(
            f"{path}: ends with a backslash, which ends no quoted name in a profile: left out of the profile"
        )
        return None
    return '"' + _AA_SPECIAL.sub(r"\\\1", path) + suffix + '"'


def apparmor(plan: MountPlan, target: Target) -> Rendered:
    """A profile in the shape aa-logprof and the Security Profiles Operator write: reads as `r`
    (under the directories the trace read, else everywhere), the programs the command ran as
    `ix`, writes (`w`) only where the mount plan makes room, and `deny` for the venvs."""
    notes = _notes(plan)
    name = f"rotrace-{target.container}"
    rules = ["#include <abstractions/base>", "", "network,", "capability,", "signal,", "unix,", ""]
    if target.reads is None:
        rules += ["# reads: the trace recorded none (rotrace run --all-opens records them)", "/** mr,"]
    else:
        rules.append("# reads, under the directories the trace read")
        rules += [f"{rule} mr," for d in target.reads if (rule := _aa_path(d.rstrip("/"), notes, "/**"))]
    rules += ["", "# the programs the command ran"]
    rules += [f"{rule} mrix," for p in sorted(set(target.programs)) if (rule := _aa_path(p, notes))]
    rules += ["", "# writes: where the mount plan makes room", *_DEVICES]
    for mount in dict.fromkeys([*plan.mounts, *plan.persistent]):
        top, below = _aa_path(mount.rstrip("/"), notes, "/"), _aa_path(mount.rstrip("/"), notes, "/**")
        if top and below:
            rules += [f"{top} rw,", f"{below} rwkl,"]
    venvs = [b.point for b in plan.blocked if b.kind == "venv"]
    if venvs:
        rules += ["", "# virtual environments: no writes (the report says what to change)"]
        rules += [f"deny {rule} wl," for v in venvs if (rule := _aa_path(v.rstrip("/"), notes, "/**"))]
    body = "\n".join(f"  {r}" if r else "" for r in rules)
    loads = [
        f"load: apparmor_parser -r -W {name}.profile",
        f"docker: docker run --security-opt apparmor={name} ...",
        f"k8s: securityContext.appArmorProfile: {{type: Localhost, localhostProfile: {name}}}",
    ]
    settings = [f"{line} (the runtime sets it; a profile cannot)" for line in _env_lines(plan)]
    settings += [f"{line} (the image build runs it; a profile cannot)" for line in _build_lines(plan)]
    head = _header(plan, target, "AppArmor profile") + _comments(loads + settings)
    opening = f"profile {name} flags=(attach_disconnected,mediate_deleted) {{"
    text = f"{head}#include <tunables/global>\n\n{opening}\n{body}\n}}\n"
    return Rendered(text, notes, any(not is_plain(m) for m in [*plan.mounts, *plan.persistent]))


RENDERERS: dict[str, Callable[[MountPlan, Target], Rendered]] = {
    "policy": policy,
    "k8s": k8s,
    "docker": docker,
    "compose": compose,
    "bwrap": bwrap,
    "apparmor": apparmor,
}
assert tuple(RENDERERS) == FORMATS
