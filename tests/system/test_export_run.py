"""The exports, run: a real program writes into directories whose names hold `,` `:` `=`, a
space, a quote and `$`; the flags and the compose fragment rotrace prints are read the way the
documentation says (`mapfile -t flags < <(rotrace allowlist ...)`) and given to podman
(`--read-only --read-only-tmpfs=false`, as Docker runs it), podman-compose and bubblewrap. Each
tmpfs lands exactly on its directory, with the runtime's usual options and nothing a name
added (no suid, dev or mode=4777 from `cache:exec,suid,dev,mode=4777`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.containers import podman_wrapper
from tests.support.tracing import PY, rotrace_cli

# The name the red team used (mount options after a colon), with a space, quotes and `=`; and
# one without a colon, with `$` (compose interpolates it), a comma and a quote.
OPTIONS = 'cache:exec,suid,dev,mode=4777 "q" =x'
DOLLAR = 'dir,$HOME "q" =${X}y'

WORKLOAD = """
import os, sys
for name in sys.argv[1:]:
    os.makedirs(f"../base/{name}/sub", exist_ok=True)
    open(f"../base/{name}/sub/f", "w").close()
"""

# Inside the container: the mount table, each directory's mode, and whether a file can be made
# in it. Static: the image holds nothing else.
PROBE = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char buf[65536];
    ssize_t n;
    int fd = open("/proc/self/mountinfo", O_RDONLY);
    while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)n, stdout);
    for (int i = 1; i < argc; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/probe", argv[i]);
        int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        printf("probe %d %o\n", f >= 0 ? 0 : errno, stat(argv[i], &st) == 0 ? (unsigned)st.st_mode : 0u);
        if (f >= 0) close(f);
    }
    return 0;
}
"""


@pytest.fixture
def traced() -> Iterator[Path]:
    """A trace of a program that made the two directories (base/ held a file before: only the
    directories it made can be mounted), outside /tmp; the app directory is next to them."""
    top = Path(tempfile.mkdtemp(prefix="rotrace-run-export-", dir="/var/tmp"))
    try:
        (top / "app").mkdir()
        (top / "base").mkdir()
        (top / "base" / "kept").touch()
        argv = ["run", "--json", "t.json", "--", sys.executable, "-c", WORKLOAD, OPTIONS, DOLLAR]
        proc = rotrace_cli(*argv, cwd=top / "app")
        assert proc.returncode == 1, proc.stderr  # writes outside the allowlist
        yield top
    finally:
        shutil.rmtree(top)


def _unmangle(field: str) -> str:
    """A mount point as /proc/self/mountinfo writes it (space, tab, newline, backslash octal)."""
    for code in ("040", "011", "012", "134"):
        field = field.replace("\\" + code, chr(int(code, 8)))
    return field


def _mounts(output: str) -> dict[str, tuple[set[str], str, set[str]]]:
    """mount point -> (per-mount options, filesystem type, superblock options)."""
    table = {}
    for line in output.splitlines():
        if " - " in line and not line.startswith("probe "):
            left, right = line.split(" - ", 1)
            fields, (fstype, _source, sb) = left.split(" "), right.split(" ", 2)
            table[_unmangle(fields[4])] = (set(fields[5].split(",")), fstype, set(sb.split(",")))
    return table


def _probes(output: str) -> list[tuple[int, int]]:
    return [
        (int(e), int(m, 8))
        for _, e, m in (line.split() for line in output.splitlines() if line.startswith("probe "))
    ]


def _assert_exact_tmpfs(output: str, directories: list[str], executable: tuple[str, ...] = ()) -> None:
    """`executable`: those the flags mount `exec` (Docker's tmpfs is noexec by default)."""
    mounts = _mounts(output)
    for directory in directories:
        options, fstype, sb = mounts[directory]
        assert fstype == "tmpfs", mounts
        assert {"rw", "nosuid", "nodev"} <= options, options  # the runtime's; no suid/dev from the name
        if directory in executable:
            assert "noexec" not in options, options
        assert not any(o.startswith("mode=") and o != "mode=1777" for o in sb), sb
    # nothing mounted at a prefix of a name cut at its colon, comma or space
    base = os.path.dirname(directories[0])
    assert not [m for m in mounts if m.startswith(base + "/") and m not in directories], mounts
    assert _probes(output) == [(0, 0o41777)] * len(directories)  # writable, 1777, a directory


@pytest.mark.needs("bwrap")
def test_bwrap_arguments_read_as_lines_mount_exactly_those_directories(traced: Path) -> None:
    check = textwrap.dedent("""
        import os, sys
        for d in sys.argv[1:]:
            open(d + "/f", "w").close()
        try:
            open(os.path.dirname(sys.argv[1]) + "/f", "w")
        except OSError as e:
            print(e.strerror)
        print(open("/proc/self/mountinfo").read())
        """)
    dirs = [str(traced / "base" / n) for n in (OPTIONS, DOLLAR)]
    script = (
        'mapfile -t args < <("$0" -m rotrace allowlist t.json --format bwrap) && bwrap "${args[@]}" -- "$@"'
    )
    proc = subprocess.run(["bash", "-c", script, PY, PY, "-c", check, *dirs], cwd=traced / "app",
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Read-only file system\n")  # base/ itself stays read-only
    mounts = _mounts(proc.stdout)
    assert [mounts[d][1] for d in dirs] == ["tmpfs", "tmpfs"]
    # the command made them: they are made again in a read-only shadow of base/ (what it held bound
    # again), so that the arguments run on a tree without them too; nothing else is mounted
    shadow = [str(traced / "base"), str(traced / "base" / "kept")]
    assert not [m for m in mounts if m.startswith(str(traced / "base")) and m not in [*dirs, *shadow]], mounts


# -- podman ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A podman that runs here (see the containers doc): in a mount namespace with cgroup2 only,
    no cgroups for containers, ulimits within the host's, no network; and a root filesystem
    holding a static probe. Yields the directory with `podman` (the wrapper) and `root/`."""
    if os.geteuid() != 0:
        pytest.skip("podman here runs as root (a private mount namespace for cgroup2)")
    work = tmp_path_factory.mktemp("podman")
    (work / "probe.c").write_text(PROBE)
    (work / "root").mkdir()
    subprocess.run(
        ["gcc", "-static", "-O", "-o", str(work / "root" / "probe"), str(work / "probe.c")], check=True
    )
    podman_wrapper(work)  # podman-compose asks for a network (--net, --network-alias): dropped
    yield work


@pytest.mark.needs("podman", "gcc")
def test_docker_flags_read_as_lines_mount_exactly_those_directories(traced: Path, podman: Path) -> None:
    """The documented way to paste the flags, with podman as Docker runs them."""
    dirs = [str(traced / "base" / n) for n in (OPTIONS, DOLLAR)]
    script = (
        'mapfile -t flags < <("$0" -m rotrace allowlist t.json --format docker)\n'
        'exec "$PODMAN" run --rm "${flags[@]}" --read-only-tmpfs=false --rootfs "$ROOT" /probe "$@"'
    )
    env = {**os.environ, "PODMAN": str(podman / "podman"), "ROOT": str(podman / "root")}
    proc = subprocess.run(["bash", "-c", script, PY, *dirs], cwd=traced / "app", capture_output=True,
                          text=True, env=env, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    _assert_exact_tmpfs(proc.stdout, dirs, executable=(dirs[1],))  # (the name with `:`: --mount, a note)
    assert _mounts(proc.stdout)["/"][0] >= {"ro"}  # the root stays read-only


@pytest.mark.needs("podman", "podman-compose", "gcc")
def test_compose_fragment_merged_into_a_service_mounts_exactly_that_directory(
    traced: Path, podman: Path
) -> None:
    """podman-compose runs a service with the fragment's volumes; a name with a colon, which it
    would hand to `podman --tmpfs DIR:OPTIONS`, is left out (exit status 1, a note)."""
    proc = rotrace_cli("allowlist", "t.json", "--format", "compose", cwd=traced / "app")
    assert proc.returncode == 1 and "left out" in proc.stderr and "podman-compose" in proc.stderr
    fragment = yaml.safe_load(proc.stdout)
    service = fragment["services"]["app"]
    dollar = str(traced / "base" / DOLLAR)
    assert service["tmpfs"] == [dollar.replace("$", "$$") + ":exec"]
    image = f"localhost/rotrace-probe:{os.getpid()}"
    buffer = traced / "probe.tar"
    with tarfile.open(buffer, "w") as tar:
        tar.add(podman / "root" / "probe", "probe")
    wrapper = str(podman / "podman")
    subprocess.run([wrapper, "import", str(buffer), image], check=True, capture_output=True)
    service.update(image=image, command=["/probe", dollar.replace("$", "$$")])
    (traced / "compose.yaml").write_text(yaml.safe_dump(fragment))
    name = f"rotrace{os.getpid()}"
    project = ["podman-compose", "--podman-path", wrapper, "-p", name, "-f", "compose.yaml"]
    try:
        ran = subprocess.run([*project, "run", "--rm", "-T", "app"], cwd=traced, capture_output=True,
                             text=True, timeout=300)  # fmt: skip
        assert ran.returncode == 0, ran.stdout + ran.stderr
        _assert_exact_tmpfs(ran.stdout, [dollar], executable=(dollar,))
    finally:
        subprocess.run([*project, "down"], cwd=traced, capture_output=True, timeout=300)
        subprocess.run([wrapper, "network", "rm", "-f", f"{name}_default"], capture_output=True, timeout=120)
        subprocess.run([wrapper, "rmi", "-f", image], capture_output=True, timeout=120)


@pytest.mark.needs("apparmor_parser")
def test_apparmor_profile_with_hostile_names_compiles_with_exactly_its_rules(tmp_path: Path) -> None:
    """Comment and rule syntax in names (`#`, `@{VAR}`, quotes, braces, a line break) stays in
    its quoted rule or is left out: apparmor_parser compiles the profile, which holds exactly
    one write rule pair per mount it could hold."""
    from rotrace.export.formats import RENDERERS, Target
    from rotrace.policy.mounts import Blocked, MountPlan

    plain = ["/srv/a#b", "/srv/@{HOME}x", "/srv/a}b{", '/srv/a\\"b', "/srv/#include <x>", f"/srv/{OPTIONS}"]
    broken = ['/srv/x" rw,\n/** rwx,\n', "/srv/a\u2028/** rwx,", "/srv/a\x85b"]
    blocked = Blocked(point="/srv/v\n/** rwx,", path="/srv/v/f", reason="r", count=1)
    plan = MountPlan(mounts=sorted(plain + broken), blocked=[blocked])
    programs = ("/usr/bin/a#b", "/opt/tool\\")  # a backslash before the closing quote escapes it
    rendered = RENDERERS["apparmor"](plan, Target(["sh", "-c", "x\u2028/** rwx,"], "app", programs))
    (tmp_path / "app.profile").write_text(rendered.text)
    parser = shutil.which("apparmor_parser") or "/usr/sbin/apparmor_parser"
    parsed = subprocess.run(
        [parser, "-Q", "-K", str(tmp_path / "app.profile")], capture_output=True, text=True
    )
    assert parsed.returncode == 0, parsed.stderr + rendered.text
    rules = [line.strip() for line in rendered.text.splitlines() if line.startswith('  "/srv/')]
    assert len(rules) == 2 * len(plain) and not any("rwx" in line for line in rules)
    assert "rwx" not in "".join(line for line in rendered.text.splitlines() if not line.startswith("#"))
    assert (
        rendered.incomplete and sum("left out of the profile" in n for n in rendered.notes) == len(broken) + 1
    )
    assert '"/usr/bin/a#b" mrix,' in rendered.text and '"/opt/tool' not in rendered.text
