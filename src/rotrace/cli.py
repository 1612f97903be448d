"""The command line: thin, imports what each command needs only when it runs."""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
from typing import Any

import click

from rotrace import __version__
from rotrace.errors import EXIT_INTERNAL, EXIT_OUTPUT_CLOSED, EXIT_STATUSES, BadOption, failure, say
from rotrace.export import FORMATS
from rotrace.patterns import Lazy
from rotrace.tracer.signals import DEFAULT_GRACE

EXIT_HELP = "\b\nExit status:\n" + "\n".join(f"  {status:<4} {meaning}" for status, meaning in EXIT_STATUSES)


def _not_ours(path: str) -> bool:
    """A directory there that another user owns and this one may not write."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return False
    return st.st_uid != os.geteuid() and not os.access(path, os.W_OK)


def _a_number(value: float, option: str) -> float:
    """click's FloatRange lets NaN through (every comparison with it is false)."""
    if math.isnan(value):
        raise click.BadParameter("is not a number", param_hint=option)
    return value


# A file to read (a trace, a policy, a manifest): its reader says in one line why it cannot be
# read (exit 3, bad input), as for every other fault of an input, not click (a usage error).
_INPUT = click.Path(readable=False)
_INPUT_OR_DASH = click.Path(readable=False, allow_dash=True)
_ALLOW_HELP = "Also allow writes to PATH (a directory: it and everything below it) or a glob. Repeatable."


# `allowlist` and `kube harden`: a place the user knows keeps data (uploads), which a trace cannot tell
_PERSISTENT = click.option(
    "--persistent",
    "persistent",
    multiple=True,
    metavar="PATH",
    help="Data written under PATH must survive a restart: a claim (k8s) or named volume there, not an "
    "emptyDir or tmpfs (a relative PATH is read against the traced directory; an image's path under a "
    "--map IMAGE works too). Repeatable.",
)

# words people reach for that name no command: the command that does it
_ASKED_FOR = {"export": "allowlist", "plan": "allowlist"}  # the docs' words for `allowlist --format`


class _OutputGone(Exception):
    """stdout or stderr was closed by its reader (`| head`, `| true`): click would make it exit
    status 1, which says "violations"; rotrace's is 141, as a shell says a SIGPIPE."""


class _Commands(click.Group):
    """The commands; a word people reach for that names none says which one does it."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise _OutputGone from None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name in _ASKED_FOR and self.get_command(ctx, name) is None:
            formats = "|".join(FORMATS)
            raise click.UsageError(
                f"No such command {name!r}: a trace's security context (mounts, settings, a policy) is"
                f" written by `rotrace {_ASKED_FOR[name]} TRACE --format {formats}`",
                ctx,
            )
        return super().resolve_command(ctx, args)


@click.group(cls=_Commands, epilog=EXIT_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rotrace")
def cli() -> None:
    """Which paths does this command write, and may it?

    rotrace runs a command under ptrace, records every file it writes or tries to write
    (following every fork, thread and exec) and checks each write against an allowlist.
    """


@cli.command(
    epilog=EXIT_HELP,
    context_settings={"allow_interspersed_args": False},
)
@click.option("--allow", "allow", multiple=True, metavar="PATH", help=_ALLOW_HELP)
@click.option(
    "--policy",
    type=_INPUT,
    help="A policy TOML file: rotrace.toml, or a pyproject.toml's [tool.rotrace] (see docs/usage.md).",
)
@click.option(
    "--json",
    "json_path",
    metavar="FILE",
    help="Write the JSON trace to FILE ('-': stdout, and the command's stdout goes to stderr).",
)
@click.option("--all-opens", is_flag=True, help="Also record read-only opens.")
@click.option(
    "--no-seccomp",
    is_flag=True,
    help="Stop on every syscall instead of filtering with seccomp (slower; no no_new_privs, so setuid "
    "programs keep their privilege when rotrace runs as root).",
)
@click.option(
    "--read-only",
    is_flag=True,
    help="Run inside a bubblewrap sandbox like `docker run --read-only --tmpfs /tmp`: the root "
    "read-only, each allowed directory a writable tmpfs.",
)
@click.option(
    "--enforce",
    is_flag=True,
    help="Enforce the allowlist with Landlock (Linux >= 5.13, no root, no namespaces): the kernel refuses "
    "writes outside it (EACCES), each recorded; one that goes through is reported so. chmod, chown, utime "
    "and xattrs are not Landlock rights.",
)
@click.option(
    "--allow-fd",
    "allow_fds",
    multiple=True,
    type=click.IntRange(min=0),
    metavar="N",
    help="With --enforce or --read-only: let the command inherit fd N although it is open for writing "
    "outside the allowlist (else refused, exit 5); the report says it was not enforced. Repeatable.",
)
@click.option(
    "--keep-writes",
    is_flag=True,
    help="With --read-only: bind-mount the allowed directories instead of a tmpfs, keeping what is written.",
)
@click.option(
    "--emit",
    type=click.Choice(FORMATS),
    help="After the run, print the allowlist this command needs to stdout, in this format "
    "(the command's stdout goes to stderr).",
)
@click.option(
    "--baseline",
    type=_INPUT,
    metavar="TRACE",
    help="Compare with an earlier JSON trace: show writes that appeared or disappeared; new violations fail.",
)
@click.option("-v", "--verbose", is_flag=True, help="List every write, allowed ones too.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the verdict line.")
@click.option(
    "--command-status",
    is_flag=True,
    help="Exit with the command's own status (128+N if killed by signal N) whatever the verdict, as a "
    "container's entry point should (0 when it succeeded, violations or not).",
)
@click.option(
    "-p",
    "--attach",
    "attach",
    type=click.IntRange(min=1),
    metavar="PID",
    help="Attach to a running process (and the children it makes from then on) instead of starting "
    "COMMAND; until it exits or Ctrl-C, which lets it go, still running.",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    callback=lambda _ctx, _param, value: _a_number(value, "--grace"),
    default=DEFAULT_GRACE,
    show_default=True,
    metavar="SECONDS",
    help="After a signal to rotrace, how long the command has to stop before rotrace kills what is left "
    "(keep it below the runtime's stop timeout: Docker's and podman's is 10 s).",
)
@click.option(
    "--label",
    "labels",
    multiple=True,
    metavar="KEY=VALUE",
    help="Record KEY=VALUE in the trace's header (app=web, job=test): `rotrace merge` refuses to mix "
    "apps and can group by a label. Repeatable.",
)
@click.option(
    "--checkpoint",
    metavar="SECONDS",
    help="With --json FILE: write the trace so far to FILE every SECONDS (60, 60s, 5m, 1h), replacing it "
    "whole (a new file renamed over it), so that a killed run (SIGKILL, OOM) loses at most that much; "
    "SIGUSR1 to rotrace writes one at once. A checkpoint says it is one (no exit status).",
)
@click.argument("command", nargs=-1, required=False, type=click.UNPROCESSED)
def run(
    allow: tuple[str, ...],
    policy: str | None,
    json_path: str | None,
    all_opens: bool,
    no_seccomp: bool,
    read_only: bool,
    enforce: bool,
    allow_fds: tuple[int, ...],
    keep_writes: bool,
    emit: str | None,
    baseline: str | None,
    verbose: bool,
    quiet: bool,
    command_status: bool,
    attach: int | None,
    grace: float,
    labels: tuple[str, ...],
    checkpoint: str | None,
    command: tuple[str, ...],
) -> int:
    """Trace COMMAND and report the paths it writes.

    \b
    Examples:  rotrace run --json trace.json -- uv run python --version
               rotrace run -p 4242        (a running service; Ctrl-C lets it go)
    """
    from rotrace.policy.allowlist import build_allowlist
    from rotrace.report.view import View
    from rotrace.run.launch import run as run_traced
    from rotrace.run.request import RunRequest
    from rotrace.tracer import TraceOptions

    if keep_writes and not read_only:
        raise click.UsageError("--keep-writes only applies with --read-only")
    if allow_fds and not (enforce or read_only):
        raise click.UsageError("--allow-fd only applies with --enforce or --read-only")
    if attach is not None and (command or read_only or enforce):
        raise click.UsageError("-p PID traces a running process: give no COMMAND, --read-only or --enforce")
    if enforce and read_only:
        raise click.UsageError("--enforce and --read-only are two ways to refuse writes: choose one")
    if attach is None and not command:
        raise click.UsageError("give a COMMAND to run (after --), or -p PID to attach to a running process")
    if emit and json_path == "-":
        raise click.UsageError("--emit and --json - both write to stdout: give --json a file")
    every = _interval(checkpoint, "--checkpoint") if checkpoint is not None else None
    if every is not None and json_path in (None, "-"):
        raise click.UsageError("--checkpoint writes the trace so far to a file: give --json FILE")
    from rotrace.policy.allowlist import enforceable, load_policy

    loaded = load_policy(policy) if policy is not None else None
    if loaded is not None:
        from rotrace.escape import safe_text
        from rotrace.pathnames import is_under

        given = _env_assignments(command)
        policy_env = loaded.settings()  # (`./dist`: the project's, against the policy's directory)
        unset = {
            n: v for n, v in loaded.env.items() if given.get(n, os.environ.get(n)) not in (v, policy_env[n])
        }
        if unset:  # the plan's settings are the command's environment's to carry, not run's
            settings = " ".join(f"{n}={v}" for n, v in sorted(unset.items()))
            note = f"rotrace: note: the policy's [env] is not set here, and run does not set it: {settings}"
            say(safe_text(note))
        own_tmp = read_only and not keep_writes  # the sandbox's /tmp is the run's own tmpfs
        for name, value in sorted(policy_env.items()):
            # a place a plan names for a container's own /tmp, met on a shared machine: another's
            if own_tmp and is_under(value, "/tmp"):
                continue
            if name not in unset and value.startswith("/") and _not_ours(value):
                say(safe_text(
                    f"rotrace: note: the policy's {name}={value} is a directory another user owns here,"
                    " which the command may not write: the plan names it for a container's own /tmp;"
                    f" on a shared machine set {name} to a place of this user's"
                ))  # fmt: skip
        if loaded.relative and os.path.realpath(loaded.home) != os.path.realpath(os.getcwd()):
            # a plan written out of the project (`allowlist ... > ../plan.toml`): its relative
            # entries are read against where it is, which may be nowhere the command writes
            for entry, path in zip(loaded.allow, loaded.resolve(), strict=True):
                if not entry.removeprefix("=").startswith(("/", "~")) and not os.path.lexists(path):
                    say(
                        safe_text(
                            f"rotrace: note: the policy's entry {entry!r} is read against the policy's"
                            f" directory ({loaded.home}), not the working directory: {path}, which does"
                            " not exist"
                        )
                    )
    allowlist = build_allowlist(list(allow), loaded)
    if read_only and any(r.path == "/" and not (r.is_glob or r.is_exact) for r in allowlist.rules):
        made = "every host file" if keep_writes else "an empty tmpfs, hiding the machine"
        raise BadOption(
            f"--read-only with / allowed: the sandbox would make the whole root writable ({made});"
            " allow the directories the command writes"
        )
    persistent = tuple(loaded.places()) if loaded is not None else ()
    grants = enforceable(allowlist) if enforce else None
    options = TraceOptions(
        seccomp=not no_seccomp,
        all_opens=all_opens,
        stdout_to_stderr=json_path == "-" or bool(emit),
        writable=grants.paths if grants else None,
        writable_notes=grants.notes if grants else (),
        confined=enforce or read_only,
        host_files=enforce or read_only,  # --read-only's too: the command's stdout may be a host file
        grace=grace,
    )
    view = View(verbose=verbose, quiet=quiet, stdout_taken=json_path == "-" or bool(emit))
    json_path = _references(json_path) if json_path else json_path
    request = RunRequest(
        argv=list(command),
        allowlist=allowlist,
        options=options,
        json_path=json_path,
        read_only=read_only,
        keep_writes=keep_writes,
        emit=emit,
        baseline=baseline,
        view=view,
        command_status=command_status,
        attach=attach,
        allow_fds=allow_fds,
        labels=tuple(_labels(labels).items()),
        checkpoint=every,
        persistent=persistent,
    )
    return run_traced(request)


_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}


def _env_assignments(command: tuple[str, ...]) -> dict[str, str]:
    """The variables a command sets for what it runs through env(1) (`env NAME=VALUE... CMD`,
    its options read: -i, -u NAME, -C DIR): the environment its program gets, where rotrace's
    own does not say it."""
    if not command or os.path.basename(command[0]) != "env":
        return {}
    found: dict[str, str] = {}
    args = iter(command[1:])
    for arg in args:
        if arg in ("-u", "--unset", "-C", "--chdir"):
            next(args, None)
        elif arg.startswith("-"):
            continue
        elif "=" in arg and not arg.startswith("="):
            name, _, value = arg.partition("=")
            found[name] = value
        else:
            break
    return found


def _interval(value: str, option: str) -> float:
    """SECONDS as 60, 60s, 1.5m or 1h: more than 0 and finite."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)\s*", value)
    seconds = float(found[1]) * _UNITS[found[2]] if found else 0.0
    if not found or not 0 < seconds < 10**9:
        raise click.BadParameter(f"{value!r}: expected a time above 0: 60, 60s, 5m, 1h", param_hint=option)
    return seconds


def _labels(values: tuple[str, ...]) -> dict[str, str]:
    """--label KEY=VALUE, each KEY once and not empty."""
    labels: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key or key in labels:
            why = "given twice" if key in labels else "expected KEY=VALUE"
            from rotrace.redact import redact_argv  # a value may be a secret (only for this error)

            shown = redact_argv([f"--label={value}"])[0].removeprefix("--label=")
            raise click.BadParameter(f"{shown!r}: {why}", param_hint="--label")
        labels[key] = _references(text)
    return labels


_REFERENCE = Lazy(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _references(value: str) -> str:
    """`$(NAME)` is the variable's value, as Kubernetes expands a container's command (for the
    runtimes that do not: podman 4.3's `kube play`): `$$` is `$`, an unset NAME stays as written."""

    def expand(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        return os.environ.get(name, match.group())

    return _REFERENCE.sub(expand, value)


def _view(verbose: bool, quiet: bool, fmt: str, json_path: str | None = None) -> Any:
    """`stdout_taken`: a document goes to stdout (`--format json`, `--json -`), so the GitHub
    annotations go to stderr."""
    from rotrace.report.view import View

    taken = fmt == "json" or json_path == "-"
    return View(verbose=verbose, quiet=quiet, json=fmt == "json", stdout_taken=taken)


_REPORT_FORMAT = click.option(
    "--format",
    "report_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: the report on stderr; json: a document on stdout (docs/trace-format.md).",
)
_QUIET = click.option("-q", "--quiet", is_flag=True, help="Print only the verdict line.")


@cli.command(epilog=EXIT_HELP)
@click.argument("trace", type=_INPUT)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="policy",
    show_default=True,
    help="What to generate.",
)
@click.option(
    "--container",
    default="app",
    show_default=True,
    help="The container's (k8s) or service's (compose) name in the manifest.",
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="HOST=IMAGE",
    help="Write paths under HOST (where the trace was taken: a CI checkout) as under IMAGE (where the "
    "export runs: the image's /app); the longest HOST wins. Repeatable.",
)
@_PERSISTENT
def allowlist(
    trace: str, fmt: str, container: str, maps: tuple[str, ...], persistent: tuple[str, ...]
) -> int:
    """Print the smallest allowlist that makes TRACE clean: mounts, never over a venv.

    \b
    policy   rotrace's own TOML (for --policy), with [env] and persistent
    k8s      a pod spec fragment: readOnlyRootFilesystem, emptyDir volumes,
             claims for persistent mounts, env
    docker   docker run flags, one per line: --read-only --mount=type=tmpfs,...
             (named volumes for persistent mounts), --env=NAME=VALUE
             (mapfile -t f < <(rotrace allowlist t.json --format docker)
             then docker run "${f[@]}" IMAGE; never an unquoted $(...))
    compose  a service fragment: read_only, tmpfs and named volumes, environment
    bwrap    bubblewrap arguments, one per line (read them as docker's): missing
             mount points made in the sandbox, --setenv; runs on the tree before the
             trace too (the directories the command made are made in the sandbox);
             make them where the application is installed (they list its directories)
    apparmor an AppArmor profile: reads (as recorded with --all-opens, else
             everywhere), the programs run, writes only where mounts are, the
             venvs denied; with how to load it for Docker and Kubernetes
    Notes (what no mount can fix, settings that avoid a mount) go to stderr.
    Exit status 1 when some writes cannot be fixed by a mount (it says what to change instead),
    renames between two of its mounts would fail (EXDEV) with no setting to keep them on one,
    or a mount could not be written in the format (a note says which).
    """
    from rotrace.commands import allowlist as make_allowlist

    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", container):
        raise click.BadParameter("must be an RFC 1123 label (a-z, 0-9, '-')", param_hint="--container")
    from rotrace.export.mapping import parse_map

    return make_allowlist(trace, fmt, container, [parse_map(m) for m in maps], persistent)


@cli.command(epilog=EXIT_HELP)
@click.argument("old", type=_INPUT)
@click.argument("new", type=_INPUT)
@click.option("-v", "--verbose", is_flag=True, help="List every change (else a few per directory).")
@_REPORT_FORMAT
@_QUIET
def diff(old: str, new: str, verbose: bool, report_format: str, quiet: bool) -> int:
    """Writes that appeared or disappeared between two JSON traces (exit 1 on new violations),
    and what changed in the environment that decides them (UV_*, PYTHON*, HOME...)."""
    from rotrace.commands import diff as diff_traces

    return diff_traces(old, new, _view(verbose, quiet, report_format))


@cli.command(epilog=EXIT_HELP)
@click.argument("trace", type=_INPUT)
@click.option("-v", "--verbose", is_flag=True, help="List every write, allowed ones too.")
@_QUIET
@_REPORT_FORMAT
def report(trace: str, verbose: bool, quiet: bool, report_format: str) -> int:
    """Render a saved JSON trace again (the same report as `run`)."""
    from rotrace.commands import report as render_report

    return render_report(trace, _view(verbose, quiet, report_format))


@cli.command(epilog=EXIT_HELP)
@click.argument("traces", metavar="TRACE...", nargs=-1, required=True)
@click.option("--allow", "allow", multiple=True, metavar="PATH", help=_ALLOW_HELP)
@click.option(
    "--policy",
    type=_INPUT,
    help="A policy TOML file: rotrace.toml, or a pyproject.toml's [tool.rotrace] (see docs/usage.md). "
    "Default, with no --allow: the first found from this directory upward.",
)
@click.option(
    "--update",
    is_flag=True,
    help="Widen the policy file in place with what the runs need (comments and order kept, new entries "
    "sorted at the end), print its diff, then check. Never on traces of untrusted code.",
)
@click.option(
    "--json", "json_path", metavar="FILE", help="Write the re-classified trace to FILE (one TRACE)."
)
@click.option("-v", "--verbose", is_flag=True, help="List every write, allowed ones too.")
@_QUIET
@_REPORT_FORMAT
def check(
    traces: tuple[str, ...],
    allow: tuple[str, ...],
    policy: str | None,
    update: bool,
    json_path: str | None,
    verbose: bool,
    quiet: bool,
    report_format: str,
) -> int:
    """Re-classify saved JSON traces under another allowlist. TRACE may be a file, a glob or a
    directory (its *.json: a CI job's traces, one per matrix cell). Relative entries (--allow, a
    policy's) mean the project directory each trace was taken in (its working directory).
    With a policy file, also says which run wrote outside it (exit 1) and which rules no run
    used (a note: the policy could narrow)."""
    from rotrace.commands import check as check_traces

    if json_path == "-" and report_format == "json":
        raise click.UsageError("--json - and --format json both write to stdout: give --json a file")
    if len(traces) > 1 and (json_path or report_format == "json"):
        raise click.UsageError("--json and --format json take one TRACE")
    if update and report_format == "json":
        raise click.UsageError("--update prints a diff to stdout, --format json a document: choose one")
    view = _view(verbose, quiet, report_format, json_path)
    return check_traces(list(traces), list(allow), policy, json_path, view, update)


@cli.command(epilog=EXIT_HELP)
@click.argument("traces", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="FILE",
    help="The merged trace ('-': stdout; a directory with --group-by).",
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="HOST=IMAGE",
    help="Write paths under HOST as under IMAGE in the merged trace (runs taken in different checkouts). "
    "Repeatable.",
)
@click.option(
    "--group-by",
    metavar="label:KEY|cwd|command",
    help="Traces of different applications: one merged trace per value, in the directory -o names.",
)
def merge(traces: tuple[str, ...], output: str, maps: tuple[str, ...], group_by: str | None) -> int:
    """Merge the JSON traces of many runs of one application into one trace (and so one plan).

    TRACE may be a file, a glob or a directory (its *.json). Identical writes become one event
    with a count and the runs it came from; per-run names of one shape (tmpk3j_9x2a, .tmpAbC123,
    pids, UUIDs) become one glob, each said on stderr; a name written in every run stays literal.
    Traces of different applications (working directory, `app` label) are refused (exit 3)
    unless --group-by splits them.

    \b
    Example:  rotrace merge runs/ -o merged.json && rotrace allowlist merged.json
    """
    from rotrace.export.mapping import parse_map
    from rotrace.merge.combine import merge_command

    return merge_command(list(traces), output, [parse_map(m) for m in maps], group_by)


@cli.group(epilog=EXIT_HELP)
def kube() -> None:
    """Record an application in its own Pods, then harden its manifest (docs/kubernetes.md).

    \b
    rotrace kube record app.yaml > recording.yaml     (apply; run; stop)
    rotrace merge traces/ -o merged.json
    rotrace kube harden app.yaml --from merged.json > hardened.yaml
    """


@kube.command("record", epilog=EXIT_HELP)
@click.argument("manifest", type=_INPUT_OR_DASH)
@click.option(
    "--container",
    "containers",
    multiple=True,
    metavar="NAME",
    help="Record this container (every workload's container of that name). Repeatable. "
    "Default: every container.",
)
@click.option(
    "--entrypoint",
    metavar="JSON",
    help='The image\'s ENTRYPOINT (["/app/start"], or one path) for a container that sets no command; '
    "default: a local `podman image inspect` or `docker image inspect`.",
)
@click.option(
    "--image",
    default=None,
    metavar="IMAGE",
    help="The image that provides the standalone rotrace (scripts/build-standalone).",
)
@click.option(
    "--traces",
    default=None,
    metavar="pvc:CLAIM|hostPath:/DIR",
    help="Where each container writes its trace (POD-CONTAINER.json), a volume that outlives the Pod "
    "[default: pvc:rotrace-traces].",
)
@click.option(
    "--all-opens",
    is_flag=True,
    help="Record the reads too (run --all-opens): files the app reads back (uploads served again) are "
    "data a volume must keep.",
)
def kube_record(
    manifest: str,
    containers: tuple[str, ...],
    entrypoint: str | None,
    image: str | None,
    traces: str | None,
    all_opens: bool,
) -> int:
    """The manifest (Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob; every document of
    the file) with its containers run under `rotrace run`, to stdout; nothing else changed."""
    from rotrace.kube.record import (
        DEFAULT_IMAGE,
        DEFAULT_TRACES,
        RecordOptions,
        parse_entrypoint,
        parse_image,
        record,
    )

    options = RecordOptions(
        containers=containers,
        entrypoint=parse_entrypoint(entrypoint) if entrypoint is not None else None,
        image=parse_image(image) if image is not None else DEFAULT_IMAGE,
        traces=traces or DEFAULT_TRACES,
        all_opens=all_opens,
    )
    text = record(_read_manifest(manifest), options)
    sys.stdout.write(text)
    return 0


@kube.command("harden", epilog=EXIT_HELP)
@click.argument("manifest", type=_INPUT_OR_DASH)
@click.option(
    "--from",
    "trace",
    required=True,
    type=_INPUT,
    metavar="TRACE",
    help="The trace of the recorded runs (`rotrace merge` of the Pods' traces, or one trace).",
)
@click.option(
    "--container",
    "containers",
    multiple=True,
    metavar="NAME",
    help="Harden this container. Repeatable. Default: the one the trace names (its `container` "
    "label), else the only one.",
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="HOST=IMAGE",
    help="Write paths under HOST (a trace taken outside the image) as under IMAGE. Repeatable.",
)
@_PERSISTENT
def kube_harden(
    manifest: str, trace: str, containers: tuple[str, ...], maps: tuple[str, ...], persistent: tuple[str, ...]
) -> int:
    """The manifest with what a read-only root needs for the traced writes, to stdout:
    readOnlyRootFilesystem, emptyDir volumes and mounts (a claim where data must survive a
    restart), the settings that avoid writes; a comment on each volume says who wrote there.
    Everything else is untouched. Exit status 1 when some writes cannot be fixed by a mount
    (stderr says what to change instead)."""
    from rotrace.export.mapping import parse_map
    from rotrace.kube.harden import harden

    for m in containers:
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", m):
            raise click.BadParameter("must be an RFC 1123 label (a-z, 0-9, '-')", param_hint="--container")
    hardened = harden(_read_manifest(manifest), trace, containers, [parse_map(m) for m in maps], persistent)
    sys.stdout.write(hardened.text)
    sys.stdout.flush()
    for note in hardened.notes:
        click.echo(f"rotrace: {note}", err=True)
    return hardened.status


def _read_manifest(path: str) -> Any:
    from rotrace.kube.manifest import Manifest

    return Manifest.read("/dev/stdin" if path == "-" else path)


@kube.command("provide", hidden=True)
@click.argument("destination", type=click.Path(file_okay=False))
def kube_provide(destination: str) -> int:
    """Copy the standalone rotrace into DESTINATION (the init container's job)."""
    from rotrace.kube.provide import provide

    provide(destination)
    return 0


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors with distinct exit statuses, never a traceback."""
    try:
        status: Any = cli.main(args=argv, prog_name="rotrace", standalone_mode=False)
    except click.exceptions.Exit as exc:
        status = exc.exit_code
    except click.ClickException as exc:
        with contextlib.suppress(OSError, ValueError):  # stderr full or closed: the status says it
            exc.show()
        status = exc.exit_code
    except click.exceptions.Abort:
        say("rotrace: aborted")
        status = 130
    except _OutputGone:
        for stream in ("stdout", "stderr"):  # what is left to flush goes nowhere, as the reader left
            setattr(sys, stream, open(os.devnull, "w"))  # noqa: SIM115 - open until the process exits
        status = EXIT_OUTPUT_CLOSED
    except Exception as exc:
        line, status = failure(exc)
        if line:
            say(line)
        if status == EXIT_INTERNAL and os.environ.get("ROTRACE_DEBUG"):
            raise
    sys.exit(status if isinstance(status, int) else 0)
