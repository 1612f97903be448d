"""`rotrace kube record`: the user's manifest with the chosen containers run under rotrace, and
nothing else changed. Per pod spec it adds:

- an init container from the image that provides the standalone rotrace, which copies it into an
  emptyDir (`rotrace kube provide`), mounted read-only at /rotrace in each recorded container;
- in each recorded container: `command` = `rotrace run` wrapping the original entrypoint (no
  shell: the original command stays a list of arguments; `args` are untouched), the pod's name in
  the environment from a fieldRef (ROTRACE_POD, read by `rotrace run` as `$(ROTRACE_POD)`: the
  kubelet expands it, and rotrace does where the runtime does not, as podman 4.3), the tool and
  trace volumes mounted;
- the trace volume: a claim (default) or a hostPath, which outlives the Pod: each container writes
  /rotrace-traces/POD-CONTAINER.json when it stops.

rotrace's grace period follows the Pod's terminationGracePeriodSeconds, less a margin to write the
trace; the container exits with the command's own status (`--command-status`), so that a recorded
Deployment never crash-loops on its violations."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rotrace import __version__
from rotrace.errors import BadInput, BadOption
from rotrace.escape import kubelet_literal, safe_text
from rotrace.kube.manifest import (
    Document,
    Manifest,
    Workload,
    append,
    chosen,
    containers,
    mapping,
    sequence,
    writable_mounts,
)
from rotrace.patterns import Lazy
from rotrace.policy.allowlist import escape_glob

TOOL_VOLUME = "rotrace"
TOOL_DIR = "/rotrace"
TRACES_VOLUME = "rotrace-traces"
TRACES_DIR = "/rotrace-traces"
POD_ENV = "ROTRACE_POD"
PROVIDER = "rotrace"  # the init container's name
PROVIDED_FROM = "/opt/rotrace"  # where the provider image holds the standalone build
DEFAULT_IMAGE = f"localhost/rotrace:{__version__}"
DEFAULT_TRACES = "pvc:rotrace-traces"
DEFAULT_TERMINATION_GRACE = 30  # Kubernetes' default terminationGracePeriodSeconds

Inspector = Callable[[str], "tuple[list[str], list[str]] | None"]


@dataclass(frozen=True)
class RecordOptions:
    containers: tuple[str, ...] = ()  # empty: every container
    entrypoint: list[str] | None = None  # the image's ENTRYPOINT, for a container without `command`
    image: str = DEFAULT_IMAGE  # the image that provides rotrace
    traces: str = DEFAULT_TRACES  # pvc:CLAIM or hostPath:/DIR
    all_opens: bool = False  # record the reads too (`run --all-opens`): uploads served back are kept data


def parse_entrypoint(value: str) -> list[str]:
    """A JSON array of strings (a Dockerfile's exec form), or one program's path. Each an
    argument a manifest and exec(2) can hold: UTF-8 text (not a lone surrogate, not bytes
    that are not UTF-8), no NUL."""
    if not value.lstrip().startswith("["):
        if not value:
            raise BadOption("--entrypoint: empty")
        parsed: Any = [value]
    else:
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):  # not JSON; nested past the parser's recursion
            parsed = None
    if not isinstance(parsed, list) or not parsed or not all(isinstance(a, str) for a in parsed):
        raise BadOption('--entrypoint: expected a JSON array of strings (["/app/start", "--serve"])')
    for argument in parsed:
        if "\0" in argument or not _is_utf8(argument):
            raise BadOption(
                f"--entrypoint: '{safe_text(argument)}' holds a NUL or is not UTF-8: no argument can"
            )
    return parsed


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def traces_volume(value: str) -> dict[str, Any]:
    """The trace volume's source: `pvc:CLAIM` or `hostPath:/DIR`."""
    kind, sep, where = value.partition(":")
    if sep and kind == "pvc" and _CLAIM.fullmatch(where):
        return {"persistentVolumeClaim": {"claimName": where}}
    if sep and kind == "hostPath" and where.startswith("/") and "\0" not in where and _is_utf8(where):
        return {"hostPath": {"path": where, "type": "DirectoryOrCreate"}}
    raise BadOption(
        f"--traces '{safe_text(value)}': expected pvc:CLAIM (a DNS-1123 subdomain: lower-case letters,"
        " digits, '-' and '.') or hostPath:/DIR"
    )


# a claim's name, as Kubernetes requires it (a DNS-1123 subdomain)
_CLAIM = re.compile(r"(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def parse_image(value: str) -> str:
    """An image reference: one word of printable ASCII (no space, no control character)."""
    if not value or not all("!" <= c <= "~" for c in value):
        raise BadOption(f"--image '{safe_text(value)}': expected an image reference (registry/name:tag)")
    return value


def _seconds(value: Any) -> float | None:
    """A Pod's terminationGracePeriodSeconds (an int64 to Kubernetes) as seconds; None for what
    it would refuse (a string, a negative, infinite or non-number, past 2^63-1)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int):
        return float(value) if 0 <= value < 1 << 63 else None
    return value if math.isfinite(value) and 0 <= value < 2.0**63 else None


def grace_for(termination_grace: float) -> float:
    """rotrace's grace for a Pod's terminationGracePeriodSeconds: what is left after a margin to
    write the trace (a fifth of it, 1 to 5 s), half of it when that leaves nothing."""
    margin = min(5.0, max(1.0, termination_grace / 5))
    grace = termination_grace - margin
    return grace if grace > 0 else termination_grace / 2


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


# an image reference as Kubernetes and the runtimes read it: [host[:port]/]name[:tag][@digest],
# printable, never an option (`-...`)
_IMAGE = Lazy(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,4095}")


def image_config(image: str) -> tuple[list[str], list[str]] | None:
    """The image's ENTRYPOINT and CMD from a local `podman image inspect` or `docker image
    inspect`; None when neither has it."""
    for tool in ("podman", "docker"):
        path = shutil.which(tool)
        if path is None:
            continue
        try:
            # `--`: a manifest's image starting with `-` is no option of the tool's
            # (`--conmon=PROGRAM` would have podman run PROGRAM)
            argv = [path, "image", "inspect", "--", image]
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
            config = json.loads(proc.stdout)[0]["Config"] if proc.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired, ValueError, LookupError, TypeError, RecursionError):
            config = None
        if isinstance(config, dict):
            entrypoint, cmd = config.get("Entrypoint") or [], config.get("Cmd") or []
            if isinstance(entrypoint, list) and isinstance(cmd, list):
                return [str(a) for a in entrypoint], [str(a) for a in cmd]
    return None


def _original_command(
    container: Any, workload: Workload, options: RecordOptions, inspect: Inspector
) -> list[Any]:
    """What the container runs before its `args`: its `command`, else the image's ENTRYPOINT
    (and its CMD, which Kubernetes drops once `command` is set, when there are no `args`)."""
    command = container.get("command")
    where = f"{workload.describe()}, container {container['name']}"
    if command is not None and not isinstance(command, list):
        raise BadInput(f"{where}: its command is not a list")
    if command:
        return list(command)
    image = container.get("image")
    cmd: list[str] = []
    if options.entrypoint is not None:
        entrypoint = options.entrypoint
    else:
        if isinstance(image, str) and not _IMAGE.fullmatch(image):
            raise BadInput(f"{where}: its image {image!r} is no image reference")
        found = inspect(image) if isinstance(image, str) else None
        if found is None:
            raise BadInput(
                f"{where} sets no command and its image is not known here: give the image's "
                "ENTRYPOINT with --entrypoint, or pull the image (podman or docker image inspect)"
            )
        entrypoint, cmd = found
    program = entrypoint if "args" in container else [*entrypoint, *cmd]
    if not program and "args" not in container:
        raise BadInput(f"{where}: its image has neither ENTRYPOINT nor CMD: give --entrypoint")
    return [kubelet_literal(arg) for arg in program]  # the image's: no one expands it


# how often a recorded container's trace so far is written: a SIGKILL or an OOM kill loses at most this
CHECKPOINT = "60s"


def _wrap(command: list[Any], name: str, grace: float, writable: list[str], all_opens: bool = False) -> Any:
    """rotrace run around the container's command. `writable`: the mounts the manifest makes
    writable, allowed (each a literal path, `$` as the kubelet reads `$$`): writes there are the
    manifest's choice, and go through under its read-only root (a hardened Pod recorded again
    holds no violation there)."""
    pod = f"$({POD_ENV})"
    allowed = [arg for path in writable for arg in ("--allow", escape_glob(path).replace("$", "$$"))]
    wrapper = [
        f"{TOOL_DIR}/rotrace", "run", "--command-status", "-q", "--checkpoint", CHECKPOINT,
        "--grace", _number(grace), *(["--all-opens"] if all_opens else []), *allowed,
        "--label", f"pod={pod}", "--label", f"container={name}",
        "--json", f"{TRACES_DIR}/{pod}-{name}.json", "--",
    ]  # fmt: skip
    return sequence([*wrapper, *command])


def recording_names(workload: Workload) -> list[str]:
    """The names `record` adds (its volumes, its provider initContainer) that the pod spec
    holds: a recording's, not the application's own manifest."""
    volumes = {v.get("name") for v in containers(workload.spec, "volumes") if isinstance(v, dict)}
    inits = {c.get("name") for c in containers(workload.spec, "initContainers") if isinstance(c, dict)}
    apps = {c.get("name") for c in containers(workload.spec) if isinstance(c, dict)}
    return sorted(str(n) for n in ({TOOL_VOLUME, TRACES_VOLUME} & volumes) | ({PROVIDER} & (inits | apps)))


def is_recording(workload: Workload) -> bool:
    """Whether the pod spec is one `record` made: its traces volume, or its provider
    initContainer (named so, running `rotrace kube provide`)."""
    volumes = {v.get("name") for v in containers(workload.spec, "volumes") if isinstance(v, dict)}
    providers = [
        c for c in containers(workload.spec, "initContainers")
        if isinstance(c, dict) and c.get("name") == PROVIDER and "provide" in (c.get("command") or ())
    ]  # fmt: skip
    return TRACES_VOLUME in volumes or bool(providers)


def _check_free(workload: Workload) -> None:
    """A name rotrace adds that the pod spec already uses: a recorded manifest recorded again."""
    taken = recording_names(workload)
    if taken:
        raise BadInput(
            f"{workload.describe()} already has {', '.join(sorted(taken))}: is it recorded already? "
            "Record the manifest without rotrace in it"
        )


def record(manifest: Manifest, options: RecordOptions, inspect: Inspector = image_config) -> str:
    """The manifest's text with the chosen containers recorded."""
    traces = traces_volume(options.traces)
    done: set[int] = set()

    def change(_document: Document, workload: Workload, container: Any) -> None:
        spec = workload.spec
        if id(spec) not in done:
            _check_free(workload)
            done.add(id(spec))
            provider = mapping(
                name=PROVIDER,
                image=options.image,
                command=sequence([f"{PROVIDED_FROM}/rotrace", "kube", "provide", TOOL_DIR]),
                volumeMounts=sequence([mapping(name=TOOL_VOLUME, mountPath=TOOL_DIR)]),
                securityContext=mapping(
                    allowPrivilegeEscalation=False,
                    capabilities=mapping(drop=sequence(["ALL"])),
                    readOnlyRootFilesystem=True,
                    runAsNonRoot=True,
                ),
            )
            # the first to run: the Pod's own initContainers are recorded too, with the tool it provides
            append(spec, "initContainers", provider, before="containers", first=True)
            append(spec, "volumes", mapping(name=TOOL_VOLUME, emptyDir=mapping()))
            append(spec, "volumes", mapping(name=TRACES_VOLUME, **traces))
        termination = _seconds(spec.get("terminationGracePeriodSeconds", DEFAULT_TERMINATION_GRACE))
        if termination is None:
            raise BadInput(
                f"{workload.describe()}: terminationGracePeriodSeconds is not a number of seconds"
                " (an integer from 0 to 2^63-1, as Kubernetes takes it)"
            )
        command = _original_command(container, workload, options, inspect)
        own = writable_mounts(workload, container)  # (before rotrace's own are added)
        wrapped = _wrap(command, container["name"], grace_for(termination), own, options.all_opens)
        if "command" in container:
            container["command"] = wrapped
        else:
            container.insert(list(container).index("image") + 1 if "image" in container else 1,
                             "command", wrapped)  # fmt: skip
        pod_name = mapping(name=POD_ENV, valueFrom=mapping(fieldRef=mapping(fieldPath="metadata.name")))
        append(container, "env", pod_name)
        append(container, "volumeMounts", mapping(name=TOOL_VOLUME, mountPath=TOOL_DIR, readOnly=True))
        append(container, "volumeMounts", mapping(name=TRACES_VOLUME, mountPath=TRACES_DIR))

    chosen(manifest, options.containers, change, inits=True)
    return manifest.dump()
