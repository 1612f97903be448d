"""`rotrace kube record`: the user's manifest back with the chosen containers wrapped in `rotrace
run`, the tool's init container, the trace volume and the pod's name, and every other byte as it
was (comments, key order, quoting, the app's own init containers, documents of other kinds)."""

from __future__ import annotations

import difflib
import io
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from ruamel.yaml import YAML

from rotrace.errors import BadInput, BadOption
from rotrace.kube.manifest import Manifest
from rotrace.kube.record import RecordOptions, grace_for, parse_entrypoint, record, traces_volume
from tests.support.tracing import rotrace_cli

MANIFEST = textwrap.dedent("""\
    # the shop's web tier
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web   # the front end
      labels: {app: web, tier: "front"}
    spec:
      replicas: 2
      selector:
        matchLabels:
          app: web
      template:
        metadata:
          labels:
            app: web
        spec:
          terminationGracePeriodSeconds: 10
          initContainers:
            - name: migrate   # schema first
              image: "shop:1.2"
              command: ['python', 'migrate.py']
          containers:
            - name: web
              image: shop:1.2
              # the server, on 8000
              command: ["uv", "run", "server.py"]
              args: ["--port", '8000']
              env:
                - name: MODE
                  value: "prod"
              ports:
                - containerPort: 8000
            - name: metrics
              image: exporter:3
              command:
              - /bin/exporter
    ---
    # not a workload: as it is
    apiVersion: v1
    kind: Service
    metadata:
      name: web
    spec:
      ports:
      - port: 80    # http
        targetPort: 8000
    ---
    apiVersion: batch/v1
    kind: CronJob
    metadata:
      name: nightly
    spec:
      schedule: "0 3 * * *"
      jobTemplate:
        spec:
          template:
            spec:
              restartPolicy: OnFailure
              containers:
              - name: report
                image: shop:1.2
                command: [python, report.py]
    """)


def _load_all(text: str) -> list[Any]:
    return list(YAML(typ="safe").load_all(text))


def _recorded(text: str = MANIFEST, **options: Any) -> str:
    return record(Manifest(text), RecordOptions(image="registry.example/rotrace:1", **options))


def _containers(doc: Any, *path: str) -> dict[str, Any]:
    spec = doc
    for key in path:
        spec = spec[key]
    return spec


WRAPPER = ["/rotrace/rotrace", "run", "--command-status", "-q", "--checkpoint", "60s", "--grace"]


def test_outside_the_changed_parts_every_byte_is_kept() -> None:
    out = _recorded()
    diff = [d for d in difflib.ndiff(MANIFEST.splitlines(), out.splitlines()) if d[:2] in ("- ", "+ ")]
    removed = [d[2:] for d in diff if d.startswith("- ")]
    # only the recorded containers' command lines go (the block list's item too)
    assert removed == [
        '          command: ["uv", "run", "server.py"]',
        "          - /bin/exporter",
        "            command: [python, report.py]",
    ]
    # the document that holds no workload is untouched, byte for byte
    service = MANIFEST.split("---\n")[1]
    assert service in out
    # the original lines are all there, in their order (the kept ones: a subsequence)
    kept = [line for line in MANIFEST.splitlines() if line not in removed]
    it = iter(out.splitlines())
    assert all(line in it for line in kept)


def test_the_recorded_pod_spec() -> None:
    deployment, _service, cronjob = _load_all(_recorded())
    spec = _containers(deployment, "spec", "template", "spec")
    # the tool's first, so that an initContainer recorded (named, or a native sidecar) finds it
    assert [c["name"] for c in spec["initContainers"]] == ["rotrace", "migrate"]
    assert spec["initContainers"][1]["command"] == ["python", "migrate.py"]  # the app's own, kept
    provider = spec["initContainers"][0]
    assert provider["image"] == "registry.example/rotrace:1"
    assert provider["command"] == ["/opt/rotrace/rotrace", "kube", "provide", "/rotrace"]
    assert provider["securityContext"]["runAsNonRoot"] is True
    web = spec["containers"][0]
    assert web["command"] == [
        *WRAPPER, "8", "--label", "pod=$(ROTRACE_POD)", "--label", "container=web",
        "--json", "/rotrace-traces/$(ROTRACE_POD)-web.json", "--", "uv", "run", "server.py",
    ]  # fmt: skip
    assert web["args"] == ["--port", "8000"]  # args untouched: Kubernetes appends them
    assert web["env"] == [
        {"name": "MODE", "value": "prod"},
        {"name": "ROTRACE_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    ]
    assert web["volumeMounts"] == [
        {"name": "rotrace", "mountPath": "/rotrace", "readOnly": True},
        {"name": "rotrace-traces", "mountPath": "/rotrace-traces"},
    ]
    assert spec["volumes"] == [
        {"name": "rotrace", "emptyDir": {}},
        {"name": "rotrace-traces", "persistentVolumeClaim": {"claimName": "rotrace-traces"}},
    ]
    assert spec["containers"][1]["command"][-2:] == ["--", "/bin/exporter"]
    job = _containers(cronjob, "spec", "jobTemplate", "spec", "template", "spec")
    command = job["containers"][0]["command"]
    assert command[command.index("--grace") + 1] == "25"  # the default 30 s, less a margin
    assert job["containers"][0]["command"][-3:] == ["--", "python", "report.py"]
    assert [c["name"] for c in job["initContainers"]] == ["rotrace"]


def test_the_manifests_own_writable_mounts_are_allowed_where_it_is_recorded() -> None:
    """A hardened Pod recorded again: its emptyDir and claim mounts, writable by the manifest's
    choice under its read-only root, held "violations" that would fail (EROFS), though the
    writes went through there. Each writable mount is allowed (as a literal path, `$` doubled
    for the kubelet); a configMap, a secret and a readOnly mount are not."""
    pod = textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: app}
        spec:
          containers:
          - name: app
            image: app:1
            command: [python3, serve.py]
            volumeMounts:
            - {name: data, mountPath: /srv/app/data/}
            - {name: odd, mountPath: "/srv/app/$(HOME)[1]"}
            - {name: config, mountPath: /etc/app}
            - {name: keys, mountPath: /srv/keys, readOnly: true}
          volumes:
          - {name: data, persistentVolumeClaim: {claimName: data}}
          - {name: odd, emptyDir: {}}
          - {name: config, configMap: {name: app}}
          - {name: keys, emptyDir: {}}
        """)
    (recorded,) = _load_all(_recorded(pod))
    command = recorded["spec"]["containers"][0]["command"]
    allowed = [command[i + 1] for i, arg in enumerate(command) if arg == "--allow"]
    assert allowed == ["/srv/app/data", r"/srv/app/$$(HOME)\[1\]"], command


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("Pod", ("spec",)),
        ("StatefulSet", ("spec", "template", "spec")),
        ("DaemonSet", ("spec", "template", "spec")),
        ("Job", ("spec", "template", "spec")),
        ("ReplicaSet", ("spec", "template", "spec")),
    ],
)
def test_each_workload_kind_is_recorded(kind: str, path: tuple[str, ...]) -> None:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "i", "command": ["run"]}]}
    doc: dict[str, Any] = spec
    for key in reversed(path):
        doc = {key: doc}
    buffer = io.StringIO()
    YAML().dump({"apiVersion": "v1", "kind": kind, "metadata": {"name": "x"}, **doc}, buffer)
    (out,) = _load_all(_recorded(buffer.getvalue()))
    container = _containers(out, *path)["containers"][0]
    assert container["command"][:2] == ["/rotrace/rotrace", "run"]
    assert container["command"][-2:] == ["--", "run"]


def test_only_the_chosen_container_is_recorded() -> None:
    deployment, _, cronjob = _load_all(_recorded(containers=("web",)))
    spec = _containers(deployment, "spec", "template", "spec")
    assert spec["containers"][1]["command"] == ["/bin/exporter"]
    assert "initContainers" not in _containers(cronjob, "spec", "jobTemplate", "spec", "template", "spec")
    with pytest.raises(BadInput, match="no container named nope"):
        _recorded(containers=("nope",))


POD = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata:
      name: app
    spec:
      containers:
      - name: app
        image: localhost/app:1
    """)


def test_a_container_without_command_takes_the_image_entrypoint_and_cmd() -> None:
    def inspect(image: str) -> tuple[list[str], list[str]]:
        assert image == "localhost/app:1"
        return ["/entry"], ["serve", "--fast"]

    (pod,) = _load_all(record(Manifest(POD), RecordOptions(), inspect))
    command = pod["spec"]["containers"][0]["command"]
    assert command[command.index("--") :] == ["--", "/entry", "serve", "--fast"]
    # with args, the image's CMD is theirs to replace: the entrypoint alone
    with_args = POD.replace("image: localhost/app:1", "image: localhost/app:1\n    args: [x]")
    (pod,) = _load_all(record(Manifest(with_args), RecordOptions(), inspect))
    command = pod["spec"]["containers"][0]["command"]
    assert command[command.index("--") :] == ["--", "/entry"]
    assert pod["spec"]["containers"][0]["args"] == ["x"]
    # --entrypoint wins over the image
    (pod,) = _load_all(record(Manifest(POD), RecordOptions(entrypoint=["/other"]), inspect))
    assert pod["spec"]["containers"][0]["command"][-2:] == ["--", "/other"]


def test_a_manifest_in_flow_style_stays_yaml_to_a_yaml_1_1_reader() -> None:
    """A flow collection's arguments, image and trace directory holding `?`, `,` or `:` were
    plain scalars there, which PyYAML's pure reader (YAML 1.1) ends at them: quoted."""
    flow = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: app, image: i, command: [x]}]\n"
    options = RecordOptions(image="reg/img?x", entrypoint=["/e", "a? b", "k:v,w"], traces="hostPath:/tr?x")
    for text in (flow, flow.replace(", command: [x]", "")):
        (pod,) = list(yaml.load_all(record(Manifest(text), options), Loader=yaml.SafeLoader))
        command = pod["spec"]["containers"][0]["command"]
        assert (
            command[:1] == ["/rotrace/rotrace"] and pod["spec"]["initContainers"][0]["image"] == "reg/img?x"
        )
        assert {"path": "/tr?x", "type": "DirectoryOrCreate"} in [
            v.get("hostPath") for v in pod["spec"]["volumes"]
        ]
    assert command[command.index("--") :] == ["--", "/e", "a? b", "k:v,w"]


def test_a_container_without_command_and_no_known_image_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"sets no command.*--entrypoint"):
        record(Manifest(POD), RecordOptions(), lambda _image: None)
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(POD.replace("localhost/app:1", "localhost/rotrace-no-such-image:0"))
    proc = rotrace_cli("kube", "record", str(manifest))
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "--entrypoint" in proc.stderr


@pytest.mark.parametrize("image", ["--conmon=./hack.sh", "--root=/tmp/x", "-x", "a b", "img\nx", ""])
def test_an_image_that_is_no_reference_is_never_given_to_the_runtime(tmp_path: Path, image: str) -> None:
    """A manifest's image is handed to `podman image inspect`: `--conmon=./hack.sh` made podman
    run hack.sh (as whoever records). An image that is no reference is one clear line (exit 3),
    and the runtime never sees it: a podman on PATH that records its arguments is not run."""
    import os
    import stat

    tools = tmp_path / "bin"
    tools.mkdir()
    called = tmp_path / "called"
    for tool in ("podman", "docker"):
        (tools / tool).write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {called}\nexit 125\n')
        (tools / tool).chmod(stat.S_IRWXU)
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(POD.replace("localhost/app:1", json.dumps(image)))
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}"}
    proc = rotrace_cli("kube", "record", str(manifest), env=env)
    assert (proc.returncode, proc.stdout, proc.stderr.count("\n")) == (3, "", 1), proc.stderr
    assert "is no image reference" in proc.stderr, proc.stderr
    assert not called.exists(), called.read_text()


def test_the_runtime_reads_an_image_after_the_end_of_its_options(tmp_path: Path) -> None:
    """`podman image inspect -- IMAGE`: whatever the image, never an option of the tool's."""
    import os
    import stat

    from rotrace.kube.record import image_config

    tools = tmp_path / "bin"
    tools.mkdir()
    called = tmp_path / "called"
    (tools / "podman").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {called}\nexit 125\n')
    (tools / "podman").chmod(stat.S_IRWXU)
    old = os.environ["PATH"]
    os.environ["PATH"] = str(tools)
    try:
        assert image_config("localhost/app:1") is None
    finally:
        os.environ["PATH"] = old
    assert called.read_text() == "image inspect -- localhost/app:1\n"


@pytest.mark.parametrize(
    "text",
    [
        "a: [\n",  # not YAML
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n",  # no workload
        "kind: Pod\nmetadata: {name: p}\nspec: 3\n",  # no pod spec
        "kind: Pod\nspec:\n  containers:\n  - name: Bad_Name\n    command: [x]\n",
        "kind: Pod\nspec:\n  containers:\n  - name: app\n    command: run --fast\n",  # not a list
    ],
)
def test_bad_manifests_are_one_line_exit_3(text: str, tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(text)
    proc = rotrace_cli("kube", "record", str(manifest))
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_a_workload_without_containers_is_refused() -> None:
    with pytest.raises(BadInput, match="no container"):
        _recorded("kind: Pod\nmetadata: {name: p}\nspec:\n  containers: []\n")


def test_provide_is_the_standalone_builds_only() -> None:
    proc = rotrace_cli("kube", "provide", "/nonexistent/dir")
    assert proc.returncode == 3
    assert "kube provide copies the standalone rotrace" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_a_recorded_manifest_is_not_recorded_again() -> None:
    with pytest.raises(BadInput, match="already has rotrace"):
        _recorded(_recorded())


def test_the_grace_leaves_time_to_write_the_trace() -> None:
    assert grace_for(30) == 25
    assert grace_for(10) == 8
    assert 0 < grace_for(1) < 1
    assert grace_for(0) == 0


def test_options() -> None:
    assert parse_entrypoint('["/a", "b c"]') == ["/a", "b c"]
    assert parse_entrypoint("/app/start") == ["/app/start"]
    for bad in ("[1]", "[", "[]", ""):
        with pytest.raises(BadOption):
            parse_entrypoint(bad)
    assert traces_volume("hostPath:/srv/t") == {"hostPath": {"path": "/srv/t", "type": "DirectoryOrCreate"}}
    for bad in ("pvc:", "hostPath:rel", "nfs:x"):
        with pytest.raises(BadOption):
            traces_volume(bad)


def test_strings_reach_the_yaml_escaped() -> None:
    """A name the emitter must quote (a line break, a `#`) stays one value, read back equal."""
    hostile = "/app/x\n# injected: true"
    text = POD.replace("image: localhost/app:1", "image: localhost/app:1\n    command: [python]")
    (pod,) = _load_all(record(Manifest(text), RecordOptions(image=hostile, traces=f"hostPath:{hostile} #b")))
    assert pod["spec"]["initContainers"][0]["image"] == hostile
    assert pod["spec"]["volumes"][1]["hostPath"]["path"] == f"{hostile} #b"
    assert "injected" not in pod["spec"]


@pytest.mark.parametrize(("mapping", "offset"), [(2, 0), (2, 2), (4, 0), (4, 2), (3, 1)])
def test_each_indentation_is_kept(mapping: int, offset: int) -> None:
    m, d = " " * mapping, " " * offset
    text = (
        f"kind: Pod\nmetadata:\n{m}name: p   # mine\nspec:\n{m}containers:\n"
        f"{m}{d}- name: app\n{m}{d}  image: i\n{m}{d}  command: [run]\n"
        f"{m}{d}  env:\n{m}{d}  {d}- name: A\n{m}{d}  {d}  value: '1'\n"
    )
    out = _recorded(text)
    diff = [x for x in difflib.ndiff(text.splitlines(), out.splitlines()) if x.startswith("- ")]
    assert diff == [f"- {m}{d}  command: [run]"]
    (pod,) = _load_all(out)
    assert pod["spec"]["containers"][0]["env"][1]["name"] == "ROTRACE_POD"


def _kubelet_expand(value: str, env: dict[str, str]) -> str:
    """What the kubelet runs for one element of a container's `command` (Kubernetes'
    third_party/forked/golang/expansion): `$$` is `$`, `$(NAME)` NAME's value when it is set."""
    out, i = [], 0
    while i < len(value):
        if value[i] == "$" and i + 1 < len(value):
            if value[i + 1] == "$":
                out.append("$")
                i += 2
                continue
            if value[i + 1] == "(" and ")" in value[i + 2 :]:
                end = value.index(")", i + 2)
                name = value[i + 2 : end]
                out.append(env.get(name, value[i : end + 1]))
                i = end + 1
                continue
        out.append(value[i])
        i += 1
    return "".join(out)


def test_the_image_entrypoint_means_what_it_meant_once_in_the_command() -> None:
    """The kubelet expands `$(NAME)` and `$$` in `command`, never in the image's ENTRYPOINT and
    CMD: moved into `command`, they are escaped so that the kubelet gives back the image's own."""
    image = (["/bin/sh", "-c", "echo $(MODE) $$ $$(MODE) $(UNSET) $ x$"], ["$(MODE)", "$$"])
    app = "image: localhost/app:1"
    with_env = POD.replace(app, f"{app}\n    env: [{{name: MODE, value: prod}}]")
    for options in (RecordOptions(), RecordOptions(entrypoint=image[0])):
        (pod,) = _load_all(record(Manifest(with_env), options, lambda _image: image))
        command = pod["spec"]["containers"][0]["command"]
        env = {e["name"]: e.get("value", "web-1") for e in pod["spec"]["containers"][0]["env"]}
        ran = [_kubelet_expand(a, env) for a in command]
        expected = image[0] if options.entrypoint else [*image[0], *image[1]]
        assert ran[ran.index("--") + 1 :] == expected
        assert ran[ran.index("--json") + 1] == "/rotrace-traces/web-1-app.json"
    # the manifest's own command is expanded as it was: kept as written
    own = with_env.replace(app, f'{app}\n    command: ["echo", "$(MODE) $$"]')
    (pod,) = _load_all(record(Manifest(own), RecordOptions(), lambda _image: image))
    command = pod["spec"]["containers"][0]["command"]
    assert command[command.index("--") :] == ["--", "echo", "$(MODE) $$"]


def test_a_hostile_command_stays_its_own_arguments_escaped() -> None:
    """Each argument of the manifest's command stays one element, read back as itself by PyYAML
    and libyaml, with nothing raw that reorders or breaks a line (bidirectional overrides, U+2028,
    NEL): one document, no key added but rotrace's."""
    hostile = [
        "/bin/sh",
        "-c",
        "echo $(HOME) 'a\nb' \"#: {x}\"\n---\nhostPID: true",
        "x\u2028y\x85z\u202e\u200b",
    ]
    manifest = POD.replace(
        "image: localhost/app:1", f"image: localhost/app:1\n    command: {json.dumps(hostile)}"
    )
    text = record(Manifest(manifest), RecordOptions())
    assert not re.search(
        "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]", text
    )
    loaders = [yaml.SafeLoader] + ([yaml.CSafeLoader] if yaml.__with_libyaml__ else [])
    for loader in loaders:
        (pod,) = list(yaml.load_all(text, Loader=loader))
        assert set(pod["spec"]) == {"initContainers", "containers", "volumes"}
        (container,) = pod["spec"]["containers"]
        assert set(container) == {"name", "image", "command", "env", "volumeMounts"}
        assert container["command"][container["command"].index("--") + 1 :] == hostile


SHARED = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata: {name: p}
    spec:
      containers:
      - name: app
        image: "x:1"
        command: ["/app/run"]
        env: &e
        - {name: A, value: "1"}
        volumeMounts: &vm
        - {name: data, mountPath: /data}
      - name: side
        image: "y:1"
        command: ["/side"]
        env: *e
        volumeMounts: *vm
      volumes: [{name: data, emptyDir: {}}]
    """)


MERGED = textwrap.dedent("""\
    apiVersion: v1
    kind: Pod
    metadata: {name: p}
    spec:
      containers:
      - &app
        name: app
        image: "x:1"
        command: ["/app/run"]
        env: [{name: A, value: "1"}]
      - <<: *app
        name: side
        args: [worker]
      - <<: [*app]
        name: third
      volumes: [{name: data, emptyDir: {}}]
    """)


def test_a_container_that_merges_the_chosen_one_keeps_what_it_merged() -> None:
    """`- <<: *app` / `name: side`: rotrace changed the mapping `side` merged, so `side`, not
    chosen, was wrapped as `container=app` and wrote app's trace file. What a container merges
    becomes its own keys; only the chosen container changes, and the others read as before."""
    before = {c["name"]: c for c in _load_all(MERGED)[0]["spec"]["containers"]}
    (pod,) = _load_all(_recorded(MERGED, containers=("app",)))
    after = {c["name"]: c for c in pod["spec"]["containers"]}
    assert after["side"] == before["side"] and after["third"] == before["third"], after
    assert after["app"]["command"][0] != "/app/run" and "volumeMounts" in after["app"], after["app"]


@pytest.mark.parametrize("chosen", [("app",), ()], ids=["one", "both"])
def test_containers_sharing_a_list_through_an_alias_are_changed_apart(chosen: tuple[str, ...]) -> None:
    """An alias is its anchor's very list: rotrace's mounts added to `app` reached `side`, which
    was not chosen, and recording both added them twice to each (duplicate mount paths, which
    Kubernetes refuses). Each container gets its own copy; the one not chosen keeps the user's."""
    (pod,) = _load_all(_recorded(SHARED, containers=chosen))
    by_name = {c["name"]: c for c in pod["spec"]["containers"]}
    for name, container in by_name.items():
        paths = [m["mountPath"] for m in container["volumeMounts"]]
        assert len(paths) == len(set(paths)), paths
        recorded = not chosen or name in chosen
        assert ("/rotrace" in paths) == recorded, (name, paths)
        assert container["env"][0]["name"] == "A"
        assert (len(container["env"]) > 1) == recorded, container["env"]


def test_all_opens_records_the_reads_too() -> None:
    """`kube record --all-opens`: each recorded container runs `rotrace run --all-opens`, so the
    trace has the reads (uploads served back are kept data, a claim); without it, no such run."""
    for all_opens in (False, True):
        (deployment, *_) = list(yaml.safe_load_all(_recorded(all_opens=all_opens)))
        spec = _containers(deployment, "spec", "template", "spec")
        command = spec["containers"][0]["command"]
        assert ("--all-opens" in command[: command.index("--")]) is all_opens, command


def test_an_init_container_named_and_a_native_sidecar_are_recorded() -> None:
    """`--container migrate` named an initContainer ("no container named migrate", which was
    false), and a native sidecar (an initContainer with `restartPolicy: Always`, which runs
    beside the containers) was left unrecorded without a word by the default "all of them"."""
    spec = _containers(_load_all(_recorded(containers=("migrate",)))[0], "spec", "template", "spec")
    migrate = spec["initContainers"][1]
    assert migrate["command"][-3:] == ["--", "python", "migrate.py"]
    assert "container=migrate" in migrate["command"]
    assert spec["containers"][0]["command"] == ["uv", "run", "server.py"]  # not chosen: as it was
    sidecar = MANIFEST.replace(
        "          command: ['python', 'migrate.py']",
        "          restartPolicy: Always\n          command: ['python', 'beat.py']",
    )
    spec = _containers(_load_all(_recorded(sidecar))[0], "spec", "template", "spec")
    assert [c["name"] for c in spec["initContainers"]] == ["rotrace", "migrate"]
    assert "container=migrate" in spec["initContainers"][1]["command"]
    plain = _containers(_load_all(_recorded())[0], "spec", "template", "spec")["initContainers"][1]
    assert plain["command"] == ["python", "migrate.py"]  # one that runs to its end first: only when named
