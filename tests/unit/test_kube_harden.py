"""`rotrace kube harden`: the user's manifest with the plan of a merged trace (the k8s export's)
written into it: readOnlyRootFilesystem, emptyDirs, a claim for the data, the settings, a comment
per volume naming who wrote there in how many runs; every other byte kept. A place no mount can
fix is refused as `allowlist` refuses it."""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from rotrace.errors import BadInput
from rotrace.events import DirState, FileEvent, ProcessInfo
from rotrace.kube.harden import harden
from rotrace.kube.manifest import Manifest
from rotrace.kube.record import RecordOptions, record
from rotrace.record import Source, TraceHeader
from tests.support.tracing import rotrace_cli
from tests.unit.factories import classify, event, written_trace

DEPLOYMENT = textwrap.dedent("""\
    # the shop
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      replicas: 1
      template:
        spec:
          securityContext:
            runAsUser: 1000   # app
          containers:
          - name: web
            image: shop:1   # pinned
            command: [python3, server.py]
            env:
            - name: MODE
              value: prod
          volumes:
          - name: config
            configMap: {name: web}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web}
    """)


def _merged(
    tmp_path: Path,
    *extra: FileEvent,
    container: str | None = "web",
    environment: dict[str, str] | None = None,
    processes: list[ProcessInfo] | None = None,
) -> str:
    """A merged trace of two runs of a server: a sqlite database in /app/data, scratch in /tmp,
    a log in /var/log/app."""
    events = [
        event("/app/data", op="mkdir", result=0, syscall="mkdir"),
        event("/app/data/app.db"),
        event("/app/data/app.db-journal"),
        event("/tmp/tmpab12cd", exe=b"/usr/bin/python3.11"),
        event("/var/log/app/server.log", exe=b"/usr/local/bin/server"),
        *extra,
    ]
    verdicts = [dataclasses.replace(v, count=2, runs=(0, 1)) for v in classify(*events)]
    labels = {"container": container} if container else {}
    sources = [
        Source(["python3", "server.py"], "/app", 0, labels={**labels, "pod": f"web-{i}"}) for i in (0, 1)
    ]
    directories = {b"/app": DirState.CONTENT, b"/tmp": DirState.EMPTY, b"/var/log/app": DirState.EMPTY}
    header = TraceHeader(["python3", "server.py"], "/app", 0, labels=labels, sources=sources,
                         directories=directories, environment=environment or {},
                         processes=processes or [])  # fmt: skip
    path = tmp_path / "merged.json"
    path.write_text(written_trace(header, verdicts))
    return str(path)


def _docs(text: str) -> list[Any]:
    return list(YAML(typ="safe").load_all(text))


def test_the_plan_is_written_into_the_users_manifest(tmp_path: Path) -> None:
    hardened = harden(Manifest(DEPLOYMENT), _merged(tmp_path), (), [])
    assert hardened.status == 0
    deployment, service, claim = _docs(hardened.text)
    spec = deployment["spec"]["template"]["spec"]
    (web,) = spec["containers"]
    assert web["securityContext"] == {"readOnlyRootFilesystem": True}
    assert web["volumeMounts"] == [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "var-log-app", "mountPath": "/var/log/app"},
        {"name": "app-data", "mountPath": "/app/data"},
    ]
    assert spec["volumes"] == [
        {"name": "config", "configMap": {"name": "web"}},
        {"name": "tmp", "emptyDir": {}},
        {"name": "var-log-app", "emptyDir": {}},
        {"name": "app-data", "persistentVolumeClaim": {"claimName": "app-data"}},
    ]
    assert service == {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}}
    assert claim["kind"] == "PersistentVolumeClaim" and claim["metadata"]["name"] == "app-data"
    # who wrote where, in how many of the merged runs
    lines = hardened.text.splitlines()
    assert (
        "      - name: tmp  # rotrace: written by python3.11 (2 writes over the runs) in 2 of 2 runs: /tmp"
        in lines
    )
    assert any(
        "- name: var-log-app  # rotrace: written by server (2 writes over the runs) in 2 of 2 runs" in x
        for x in lines
    )


def test_a_manifest_in_flow_style_stays_yaml_to_a_yaml_1_1_reader(tmp_path: Path) -> None:
    """`containers: [{name: web, ...}]`: a place written of a name holding `?` (or `,`, `[`,
    `{`...) was a plain scalar in the flow collection, where PyYAML's pure reader (YAML 1.1, as
    Go's yaml.v2) ends it: the hardened manifest was no YAML there. Quoted in flow context."""
    import yaml

    flow = "kind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: web, image: shop:1}]\n"
    odd = ["/app/q?m", "/app/a,b", "/app/[x]", "/app/{y}", "/app/h#1"]
    made = [event(f"{d}/f") for d in odd]
    hardened = harden(Manifest(flow), _merged(tmp_path, *made), (), [])
    assert hardened.status == 0
    (pod, *_) = list(yaml.load_all(hardened.text, Loader=yaml.SafeLoader))  # the pure reader
    mounts = [m["mountPath"] for m in pod["spec"]["containers"][0]["volumeMounts"]]
    assert set(odd) <= set(mounts), mounts


def test_every_other_byte_is_kept(tmp_path: Path) -> None:
    hardened = harden(Manifest(DEPLOYMENT), _merged(tmp_path), (), [])
    diff = list(difflib.ndiff(DEPLOYMENT.splitlines(), hardened.text.splitlines()))
    assert [d for d in diff if d.startswith("- ")] == []  # nothing removed or rewritten: only added
    assert hardened.text.startswith(DEPLOYMENT.split("---\n")[0].split("        - name: MODE")[0])


def test_a_place_no_mount_can_fix_is_refused_with_the_fix(tmp_path: Path) -> None:
    trace = _merged(tmp_path, event("/etc/app.conf"))
    manifest = tmp_path / "app.yaml"
    manifest.write_text(DEPLOYMENT)
    proc = rotrace_cli("kube", "harden", str(manifest), "--from", trace)
    assert proc.returncode == 1
    assert (
        "cannot be made writable by a mount: /etc (2 writes, e.g. /etc/app.conf): /etc is a system directory"
        in proc.stderr  # the merged event stands for a write in each run
    )
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("flow", [False, True])
def test_a_refused_manifest_says_in_itself_which_places_it_leaves_out(tmp_path: Path, flow: bool) -> None:
    """harden exits 1 for a place no mount can fix and still prints the manifest, complete-looking
    (readOnlyRootFilesystem, nothing for the place): read without rotrace's stderr, it says
    nothing of the writes that fail there. A comment on readOnlyRootFilesystem names them; the
    manifest stays valid YAML, a flow-style securityContext too."""
    import yaml

    trace = _merged(tmp_path, event("/etc/app.conf"))
    text = DEPLOYMENT
    if flow:
        text = text.replace("      securityContext:\n        runAsUser: 1000   # app\n", "").replace(
            "        image: shop:1   # pinned\n",
            "        image: shop:1   # pinned\n        securityContext: {runAsUser: 1}\n",
        )
        assert "{runAsUser: 1}" in text and "runAsUser: 1000" not in text
    refused = harden(Manifest(text), trace, (), [])
    assert refused.status == 1
    (line,) = [line for line in refused.text.splitlines() if "readOnlyRootFilesystem" in line]
    assert "# rotrace: NOT MOUNTABLE: /etc: writes there fail" in line, refused.text
    (deployment, *_) = list(yaml.safe_load_all(refused.text))
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_a_place_no_mount_can_fix_that_the_manifest_mounts_already_is_no_refusal(tmp_path: Path) -> None:
    """The manifest's own volume at /etc (a ConfigMap the app rewrites, say): its writes go
    through as the manifest chose; not refused, said."""
    trace = _merged(tmp_path, event("/etc/app.conf"))
    mine = DEPLOYMENT.replace(
        "        env:\n", "        volumeMounts:\n        - {name: etc, mountPath: /etc}\n        env:\n"
    ).replace("      - name: config\n", "      - name: etc\n        emptyDir: {}\n      - name: config\n")
    hardened = harden(Manifest(mine), trace, (), [])
    assert hardened.status == 0, hardened.notes
    assert not any("cannot be made writable" in n for n in hardened.notes)
    assert any("/etc is on a volume the manifest mounts: kept as it is" in n for n in hardened.notes)
    refused = harden(Manifest(DEPLOYMENT), trace, (), [])
    assert refused.status == 1 and any("cannot be made writable by a mount: /etc" in n for n in refused.notes)


def test_a_check_no_mount_can_meet_is_refused_as_allowlist_refuses_it(tmp_path: Path) -> None:
    """The app checks it may write /etc (access W_OK) and writes nothing there: no mount can
    make the check pass, and `allowlist` exits 1; harden wrote the manifest and exited 0 (a CI
    gate on harden passed what allowlist failed). On the manifest's own volume there it passes."""
    trace = _merged(tmp_path, event("/etc", "access", 0, syscall="access"))
    refused = harden(Manifest(DEPLOYMENT), trace, (), [])
    assert refused.status == 1 and any("access W_OK" in n for n in refused.notes), refused.notes
    assert rotrace_cli("allowlist", trace, "--format", "k8s").returncode == 1
    mine = DEPLOYMENT.replace(
        "        env:\n", "        volumeMounts:\n        - {name: etc, mountPath: /etc}\n        env:\n"
    ).replace("      - name: config\n", "      - name: etc\n        emptyDir: {}\n      - name: config\n")
    hardened = harden(Manifest(mine), trace, (), [])
    assert hardened.status == 0, hardened.notes
    assert any("/etc is on a volume the manifest mounts: the check" in n for n in hardened.notes)


def test_what_the_manifest_has_already_is_kept(tmp_path: Path) -> None:
    mine = DEPLOYMENT.replace(
        "        env:\n", "        volumeMounts:\n        - {name: scratch, mountPath: /tmp}\n        env:\n"
    ).replace("      - name: config\n", "      - name: scratch\n        emptyDir: {}\n"
              "      - name: app-data\n        emptyDir: {}\n      - name: config\n")  # fmt: skip
    hardened = harden(Manifest(mine), _merged(tmp_path), (), [])
    spec = _docs(hardened.text)[0]["spec"]["template"]["spec"]
    mounts = spec["containers"][0]["volumeMounts"]
    assert [m["mountPath"] for m in mounts] == ["/tmp", "/var/log/app", "/app/data"]  # /tmp: theirs
    assert mounts[-1]["name"] == "app-data-2"  # their app-data is another volume
    assert any("/tmp is mounted already" in n for n in hardened.notes)


def test_the_container_is_the_one_the_trace_names(tmp_path: Path) -> None:
    two = DEPLOYMENT.replace("      volumes:\n", "      - name: side\n        image: s\n      volumes:\n")
    hardened = harden(Manifest(two), _merged(tmp_path), (), [])
    web, side = _docs(hardened.text)[0]["spec"]["template"]["spec"]["containers"]
    assert "volumeMounts" in web and "volumeMounts" not in side
    with pytest.raises(BadInput, match="--container"):
        harden(Manifest(two), _merged(tmp_path, container=None), (), [])


STATEFULSET = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: StatefulSet
    metadata:
      name: web
    spec:
      replicas: 3
      template:
        spec:
          containers:
          - name: web
            image: shop:1
    """)


def test_a_statefulset_gets_a_claim_per_replica(tmp_path: Path) -> None:
    hardened = harden(Manifest(STATEFULSET), _merged(tmp_path), (), [])
    (statefulset,) = _docs(hardened.text)  # no shared claim document
    (template,) = statefulset["spec"]["volumeClaimTemplates"]
    assert template["metadata"]["name"] == "app-data"
    assert template["spec"]["accessModes"] == ["ReadWriteOnce"]
    spec = statefulset["spec"]["template"]["spec"]
    assert [v["name"] for v in spec["volumes"]] == ["tmp", "var-log-app"]
    assert {"name": "app-data", "mountPath": "/app/data"} in spec["containers"][0]["volumeMounts"]
    assert (
        "name: app-data  # rotrace: written by python3 (6 writes over the runs) in 2 of 2 runs: /app/data"
        in hardened.text
    )


def test_replicas_sharing_a_claim_are_said(tmp_path: Path) -> None:
    deployment = STATEFULSET.replace("StatefulSet", "Deployment")
    hardened = harden(Manifest(deployment), _merged(tmp_path), (), [])
    assert any("the claim for /app/data is shared by its Pods" in n for n in hardened.notes)


def test_a_new_claim_for_a_non_root_pod_without_fsgroup_is_said(tmp_path: Path) -> None:
    """A claim a provisioner makes is usually root's: uid 1000 with no fsGroup cannot write it."""
    hardened = harden(Manifest(DEPLOYMENT), _merged(tmp_path), (), [])
    said = [n for n in hardened.notes if "fsGroup" in n]
    assert said and "/app/data" in said[0] and "uid 1000" in said[0]
    with_group = DEPLOYMENT.replace(
        "runAsUser: 1000   # app", "runAsUser: 1000   # app\n        fsGroup: 1000"
    )
    assert not [n for n in harden(Manifest(with_group), _merged(tmp_path), (), []).notes if "fsGroup" in n]


def test_a_new_claim_gets_the_fsgroup_the_app_writes_as(tmp_path: Path) -> None:
    """The image's user (no runAsUser: uid 1000 in the trace) got a new claim, which Kubernetes
    makes root's, without a word: its database, and the initContainer filling the claim, could
    not write there. The Pod's fsGroup is set: the container's runAsGroup, else the group the
    trace ran with; none for a run as root, and none over the manifest's own."""
    users = {"uid": "1000", "gid": "1000"}
    image_user = DEPLOYMENT.replace("securityContext:\n        runAsUser: 1000   # app\n      ", "")
    assert "runAsUser" not in image_user
    hardened = harden(Manifest(image_user), _merged(tmp_path, environment=users), (), [])
    spec = _docs(hardened.text)[0]["spec"]["template"]["spec"]
    assert spec["securityContext"] == {"fsGroup": 1000}, spec
    assert any("fsGroup is set to 1000" in n for n in hardened.notes), hardened.notes
    grouped = DEPLOYMENT.replace(
        "runAsUser: 1000   # app", "runAsUser: 1000   # app\n        runAsGroup: 3000"
    )
    spec = _docs(harden(Manifest(grouped), _merged(tmp_path, environment=users), (), []).text)[0]
    assert spec["spec"]["template"]["spec"]["securityContext"]["fsGroup"] == 3000
    as_root = harden(Manifest(image_user), _merged(tmp_path, environment={"uid": "0", "gid": "0"}), (), [])
    assert "securityContext" not in _docs(as_root.text)[0]["spec"]["template"]["spec"]
    assert not [n for n in as_root.notes if "fsGroup" in n]


def test_a_container_working_elsewhere_than_the_trace_asks_for_map(tmp_path: Path) -> None:
    """Traced in a checkout (/app here), run in the image from /srv/shop: the mounts name the
    checkout's paths unless --map says where they are in the image."""
    moved = DEPLOYMENT.replace(
        "command: [python3, server.py]", "command: [python3, server.py]\n        workingDir: /srv/shop"
    )
    notes = harden(Manifest(moved), _merged(tmp_path), (), []).notes
    assert any(
        "works in /srv/shop, the trace was taken in /app" in n and "--map /app=/srv/shop" in n for n in notes
    )
    mapped = harden(Manifest(moved), _merged(tmp_path), (), [("/app", "/srv/shop")])
    assert not [n for n in mapped.notes if "--map" in n]
    assert "mountPath: /srv/shop/data" in mapped.text


SEED = "ls -A /seed | read -r _ || ! test -d /app/data || cp -a /app/data/. /seed/"


def test_a_claim_over_a_directory_that_held_files_is_filled_once_from_the_image(tmp_path: Path) -> None:
    """data/ held the shipped database: the claim starts empty in Kubernetes, so an
    initContainer of the app's image fills it, only while it is empty (never over the data)."""
    app = tmp_path / "app"
    (app / "data").mkdir(parents=True)
    (app / "data" / "app.db").write_bytes(b"SQLite format 3\0")
    opened = FileEvent(1, 1, b"/usr/bin/python3", "openat", "create", f"{app}/data/app.db".encode(), None,
                       "O_RDWR|O_CREAT", 0o644, 3, True)  # fmt: skip
    events = [opened, event(f"{app}/data/app.db-journal")]
    states = {bytes(app): DirState.CONTENT, bytes(app / "data"): DirState.CONTENT}
    header = TraceHeader(
        ["python3", "server.py"], str(app), 0, labels={"container": "web"}, directories=states
    )
    trace = tmp_path / "t.json"
    trace.write_text(written_trace(header, classify(*events)))
    hardened = harden(Manifest(DEPLOYMENT), str(trace), (), [(str(app), "/app")])
    spec = _docs(hardened.text)[0]["spec"]["template"]["spec"]
    assert list(spec)[:2] == ["securityContext", "initContainers"]  # before the containers
    assert spec["initContainers"] == [{
        "name": "rotrace-seed-app-data", "image": "shop:1",
        "command": ["/bin/sh", "-c", SEED],
        "volumeMounts": [{"name": "app-data", "mountPath": "/seed"}],
        "securityContext": {"readOnlyRootFilesystem": True},  # the container's: no more privilege
    }]  # fmt: skip
    assert "rotrace: fills the claim once with the image's /app/data" in hardened.text
    # the plan's note on it says the claim is filled, not "copy them in first" (done here)
    (note,) = [n for n in hardened.notes if n.startswith("/app/data holds data")]
    assert "its initContainer rotrace-seed-app-data fills once" in note and "copy them in" not in note, note


def test_a_container_that_runs_as_another_user_than_the_trace_is_said(tmp_path: Path) -> None:
    """Traced as root (HOME=/root), run as uid 1000: a program that writes in its home writes in
    another one (ansible's ~/.ansible), which the plan does not mount. Said; not where the
    users are the same, nor where the manifest does not say."""
    as_root = _merged(tmp_path, environment={"uid": "0", "HOME": "/root"})
    (note,) = [n for n in harden(Manifest(DEPLOYMENT), as_root, (), []).notes if "the trace was made as" in n]
    assert "runs as uid 1000, the trace was made as uid 0 (HOME=/root)" in note, note
    as_app = _merged(tmp_path, environment={"uid": "1000", "HOME": "/home/app"})
    assert not [n for n in harden(Manifest(DEPLOYMENT), as_app, (), []).notes if "the trace was made as" in n]
    unsaid = DEPLOYMENT.replace("runAsUser: 1000   # app", "runAsNonRoot: true")
    assert not [n for n in harden(Manifest(unsaid), as_root, (), []).notes if "the trace was made as" in n]


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ("- name: web\n", "- name: [web]\n", "containers[0] is not a mapping with a string name"),
        ("- name: config\n", "- name: {a: 1}\n", "volumes[0] is not a mapping with a string name"),
        ("env:\n        - name: MODE\n          value: prod\n", "env: 7\n",
         "containers[0].env is not a list"),
        ("- name: MODE\n", "- name: [MODE]\n", "containers[0].env[0] is not a mapping with a string name"),
        ("image: shop:1", "volumeMounts: [{name: [x], mountPath: /d}]\n        image: shop:1",
         "containers[0].volumeMounts[0] is not a mapping with a string name and mountPath"),
        ("securityContext:\n        runAsUser: 1000   # app\n", "securityContext: [1]\n",
         "securityContext is not a mapping"),
    ],
)  # fmt: skip
def test_a_value_of_another_type_than_kubernetes_gives_it_is_bad_input(
    tmp_path: Path, old: str, new: str, said: str
) -> None:
    """A hand-edited manifest whose names are lists or mappings, or whose env is a number, was
    an internal error ("unhashable type: 'CommentedSeq'", exit 70): one line naming where."""
    text = DEPLOYMENT.replace(old, new)
    assert text != DEPLOYMENT, old
    with pytest.raises(BadInput, match=re.escape(f"Deployment web: {said}")):
        harden(Manifest(text), _merged(tmp_path), (), [])


@pytest.mark.parametrize("text", ["", "# the app goes here\n", "\n\n# two\n# comments\n"])
def test_a_manifest_with_no_document_is_no_workload(tmp_path: Path, text: str) -> None:
    with pytest.raises(BadInput, match="no workload in the manifest"):
        harden(Manifest(text), _merged(tmp_path), (), [])


@pytest.mark.parametrize(
    "recursive",
    ["command: &c [python3, *c]", "env: &e [{name: A, value: x, self: *e}]"],
)
def test_a_collection_that_holds_itself_is_refused(tmp_path: Path, recursive: str) -> None:
    """Read back, a recursive alias is null: the hardened manifest would change the user's
    command without a word."""
    text = DEPLOYMENT.replace("command: [python3, server.py]", recursive)
    with pytest.raises(BadInput, match="aliases a collection inside itself"):
        harden(Manifest(text), _merged(tmp_path), (), [])


def test_aliases_that_hold_no_cycle_are_kept(tmp_path: Path) -> None:
    aliased = "command: &c [python3, server.py]\n        args: *c"
    text = DEPLOYMENT.replace("command: [python3, server.py]", aliased)
    hardened = harden(Manifest(text), _merged(tmp_path), (), [])
    container = _docs(hardened.text)[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == container["args"] == ["python3", "server.py"]


def test_a_container_that_merges_the_hardened_one_keeps_what_it_merged(tmp_path: Path) -> None:
    """A sidecar written as `<<: *web` took the mounts and settings rotrace gave `web`, which it
    was not chosen for (emptyDirs over its paths). It keeps what it merged, as its own keys."""
    anchored = DEPLOYMENT.replace("- name: web\n", "- &web\n        name: web\n").replace(
        "      volumes:", "      - <<: *web\n        name: side\n      volumes:"
    )
    before = {c["name"]: c for c in _docs(anchored)[0]["spec"]["template"]["spec"]["containers"]}
    assert before["side"]["image"] == "shop:1"  # the merge as written
    hardened = harden(Manifest(anchored), _merged(tmp_path), ("web",), [])
    after = {c["name"]: c for c in _docs(hardened.text)[0]["spec"]["template"]["spec"]["containers"]}
    assert after["side"] == before["side"], after["side"]
    assert after["web"]["volumeMounts"] and after["web"] != before["web"], after["web"]


def test_aliases_of_aliases_that_expand_past_a_bound_are_refused_at_once(tmp_path: Path) -> None:
    """A "billion laughs" of six levels (377 bytes, 531,441 nodes expanded) took a minute and
    made 5.9 MB; eight levels ran on for good: `kube harden` and `kube record` expand aliases."""
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    levels += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(8)]
    bomb = DEPLOYMENT.replace("metadata:", "x-laughs:\n  " + "\n  ".join(levels) + "\nmetadata:", 1)
    with pytest.raises(BadInput, match="its aliases expand to more than 10,000 nodes"):
        harden(Manifest(bomb), _merged(tmp_path), (), [])


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x7f"])
def test_a_character_yaml_does_not_allow_is_bad_input(tmp_path: Path, character: str) -> None:
    with pytest.raises(BadInput, match=r"^not YAML: unacceptable character .*\(character \d+\)$"):
        harden(Manifest(DEPLOYMENT.replace("prod", f"pr{character}od")), _merged(tmp_path), (), [])


@pytest.mark.parametrize(
    ("volume", "mount", "why"),
    [
        ("emptyDir: {}", ", readOnly: true", "its volumeMount says readOnly: true"),
        ("configMap: {name: logs}", "", "a configMap volume, which Kubernetes mounts read-only"),
        ("persistentVolumeClaim: {claimName: logs, readOnly: true}", "", "its volume says readOnly: true"),
    ],
)
@pytest.mark.parametrize("at", ["/var/log/app", "/var/log", "/var//log/./app/"])
def test_a_place_written_that_the_manifest_mounts_read_only_is_refused(
    tmp_path: Path, volume: str, mount: str, why: str, at: str
) -> None:
    """The app writes /var/log/app/server.log: a mount of the manifest's own that is read-only
    there (or above it) is not kept as if it held the writes: they would fail."""
    mine = DEPLOYMENT.replace(
        "        env:\n",
        f"        volumeMounts:\n        - {{name: logs, mountPath: {at}{mount}}}\n        env:\n",
    ).replace("      - name: config\n", f"      - name: logs\n        {volume}\n      - name: config\n")
    hardened = harden(Manifest(mine), _merged(tmp_path), (), [])
    assert hardened.status == 1, hardened.notes
    holder = os.path.normpath(at.replace("//", "/"))  # as the runtime reads it
    said = f"the app writes in /var/log/app, which the manifest mounts read-only at {holder} ({why})"
    assert sum(said in n for n in hardened.notes) == 1, hardened.notes  # once
    mounts = _docs(hardened.text)[0]["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert sorted(m["mountPath"] for m in mounts) == sorted([at, "/app/data", "/tmp"])  # none added there


@pytest.mark.parametrize("read_only", ["true", "yes", "On"])
def test_a_read_only_mount_below_the_plans_mount_is_refused(tmp_path: Path, read_only: str) -> None:
    """The plan mounts /var/log/app; the app writes in archive/ under it, which the manifest
    mounts read-only (`yes`, `On`: true to Kubernetes' YAML 1.1 reader): those writes fail."""
    mine = DEPLOYMENT.replace(
        "        env:\n",
        "        volumeMounts:\n"
        f"        - {{name: old, mountPath: /var/log/app/archive, readOnly: {read_only}}}\n"
        "        env:\n",
    ).replace("      - name: config\n", "      - name: old\n        emptyDir: {}\n      - name: config\n")
    trace = _merged(tmp_path, event("/var/log/app/archive/2025.log", exe=b"/usr/local/bin/server"))
    hardened = harden(Manifest(mine), trace, (), [])
    assert hardened.status == 1, hardened.notes
    said = (
        "the app writes in /var/log/app/archive, which the manifest mounts read-only at /var/log/app/archive"
    )
    assert any(said in n for n in hardened.notes), hardened.notes


def test_home_is_set_only_where_the_container_gets_a_mount_of_the_plan_in_it(tmp_path: Path) -> None:
    """HOME=/srv/home in the trace (podman sets a uid without a passwd entry one) and the app's
    writes in /srv/home/uploads, which the manifest mounts already: the plan's HOME (set where it
    mounts places in the run's home) was added all the same, with a note of a mount it did not
    make."""
    mine = DEPLOYMENT.replace(
        "        env:\n",
        "        volumeMounts:\n        - {name: uploads, mountPath: /srv/home/uploads}\n        env:\n",
    ).replace("      - name: config\n", "      - name: uploads\n        emptyDir: {}\n      - name: config\n")
    uploads = event("/srv/home/uploads/tmpab12cd34")
    trace = _merged(tmp_path, uploads, environment={"uid": "1000", "HOME": "/srv/home"})
    hardened = harden(Manifest(mine), trace, (), [])
    (web,) = _docs(hardened.text)[0]["spec"]["template"]["spec"]["containers"]
    assert "HOME" not in [e["name"] for e in web["env"]], web["env"]
    assert not [n for n in hardened.notes if "HOME=/srv/home" in n], hardened.notes
    hardened = harden(Manifest(DEPLOYMENT), trace, (), [])  # the plan mounts the uploads: HOME kept
    (web,) = _docs(hardened.text)[0]["spec"]["template"]["spec"]["containers"]
    assert {"name": "HOME", "value": "/srv/home"} in web["env"], web["env"]


@pytest.mark.parametrize("security", ["[1]", "'no'", "7"])
def test_a_security_context_that_is_no_mapping_is_bad_input(tmp_path: Path, security: str) -> None:
    """`securityContext: [1]` was replaced by the hardened one without a word."""
    mine = DEPLOYMENT.replace("        env:\n", f"        securityContext: {security}\n        env:\n")
    with pytest.raises(BadInput, match="securityContext is not a mapping"):
        harden(Manifest(mine), _merged(tmp_path), (), [])


def test_seeding_init_containers_of_long_names_are_named_apart(tmp_path: Path) -> None:
    """Two seeded directories whose volume names share their first 50 characters: their
    initContainers' names (at most 63) must differ, or Kubernetes refuses the Pod."""
    app = tmp_path / "app"
    long = "persistent-data-store-of-the-application-that-is-long"
    events, states = [], {bytes(app): DirState.CONTENT}
    for end in ("a", "b"):
        data = app / f"{long}-{end}"
        data.mkdir(parents=True)
        (data / "app.db").write_bytes(b"SQLite format 3\0")
        events += [
            FileEvent(1, 1, b"/usr/bin/python3", "openat", "create", f"{data}/app.db".encode(), None,
                      "O_RDWR|O_CREAT", 0o644, 3, True),
            event(f"{data}/app.db-journal"),
        ]  # fmt: skip
        states[bytes(data)] = DirState.CONTENT
    header = TraceHeader(["python3", "s.py"], str(app), 0, labels={"container": "web"}, directories=states)
    trace = tmp_path / "t.json"
    trace.write_text(written_trace(header, classify(*events)))
    hardened = harden(Manifest(DEPLOYMENT), str(trace), (), [(str(app), "/app")])
    spec = _docs(hardened.text)[0]["spec"]["template"]["spec"]
    names = [c["name"] for c in [*spec["initContainers"], *spec["containers"]]]
    assert len(names) == 3 and len(set(names)) == 3, names
    assert all(n.startswith("rotrace-seed-app-persistent") and len(n) <= 63 for n in names[:2]), names
    seeded = {c["volumeMounts"][0]["name"] for c in spec["initContainers"]}
    assert len(seeded) == 2


def test_a_recording_is_not_hardened(tmp_path: Path) -> None:
    """`kube record`'s manifest given by mistake: hardened, rotrace would stay around the app."""
    recording = record(Manifest(DEPLOYMENT), RecordOptions(image="registry.example/rotrace:1"))
    with pytest.raises(BadInput, match=r"is a recording .* harden the application's own manifest"):
        harden(Manifest(recording), _merged(tmp_path), (), [])


def test_a_place_on_a_writable_volume_of_the_manifest_gets_no_mount_inside_it(tmp_path: Path) -> None:
    """The manifest's own claim at /app holds /app/data, where the app keeps its database: a
    claim of the plan's at /app/data (seeded from the image) would hide the data on theirs."""
    mine = DEPLOYMENT.replace(
        "        env:\n", "        volumeMounts:\n        - {name: state, mountPath: /app}\n        env:\n"
    ).replace(
        "      - name: config\n",
        "      - name: state\n        persistentVolumeClaim: {claimName: state}\n      - name: config\n",
    )
    hardened = harden(Manifest(mine), _merged(tmp_path), (), [])
    assert hardened.status == 0, hardened.notes
    spec = _docs(hardened.text)[0]["spec"]["template"]["spec"]
    paths = [m["mountPath"] for m in spec["containers"][0]["volumeMounts"]]
    assert "/app/data" not in paths and "/app" in paths, paths
    assert "initContainers" not in spec
    assert any("/app/data is on the manifest's volume at /app: kept as it is" in n for n in hardened.notes)


def test_writes_a_setting_avoids_are_no_refusal_on_a_read_only_mount(tmp_path: Path) -> None:
    """The bytecode of a module in lib/, which the manifest mounts from a configMap: the plan
    avoids those writes with PYTHONDONTWRITEBYTECODE (no mount), so under it nothing is written
    there: no refusal."""
    mine = DEPLOYMENT.replace(
        "        env:\n", "        volumeMounts:\n        - {name: lib, mountPath: /app/lib}\n        env:\n"
    ).replace(
        "      - name: config\n", "      - name: lib\n        configMap: {name: lib}\n      - name: config\n"
    )
    trace = _merged(tmp_path, event("/app/lib/__pycache__/mod.cpython-311.pyc", exe=b"/usr/bin/python3.11"))
    hardened = harden(Manifest(mine), trace, (), [])
    assert hardened.status == 0, hardened.notes
    env = _docs(hardened.text)[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"} in env


def test_settings_are_strings_to_kubernetes_yaml_1_1_reader(tmp_path: Path) -> None:
    """PIP_NO_CACHE_DIR=off: the round-trip emitter writes YAML 1.2, where `off` is a string,
    plain; Kubernetes reads YAML 1.1 (go-yaml), where it is a boolean, and refuses the
    Deployment (EnvVar.value must be a string). Quoted in the hardened manifest; and `y`, `n`
    (booleans to go-yaml, not to PyYAML) in every YAML rotrace writes."""
    import yaml

    from rotrace.export.formats import yaml_document

    settings = {"PIP_NO_CACHE_DIR": "off", "PIP_DISABLE_PIP_VERSION_CHECK": "on"}
    pip = ProcessInfo(1, 0, 0, b"/usr/bin/pip", ("pip",))
    hardened = harden(Manifest(DEPLOYMENT), _merged(tmp_path, environment=settings, processes=[pip]), (), [])
    (deployment, *_) = list(yaml.load_all(hardened.text, Loader=yaml.SafeLoader))  # YAML 1.1
    env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert {n: env.get(n) for n in settings} == settings, hardened.text
    assert yaml_document({"a": "y", "b": "N", "c": "yes", "d": "you"}) == "a: 'y'\nb: 'N'\nc: 'yes'\nd: you\n"


@pytest.mark.parametrize("quoted", ['"off"', "'off'", "off"])
def test_a_setting_the_manifest_has_already_keeps_its_line(tmp_path: Path, quoted: str) -> None:
    """The plan sets PIP_NO_CACHE_DIR=off, which the manifest sets already: its line is kept as
    written (harden had rewritten `value: "off"` as `value: 'off'`); where it is a YAML 1.1
    boolean (plain `off`), it is not the string the plan needs, and is quoted."""
    settings = {"PIP_NO_CACHE_DIR": "off"}
    pip = ProcessInfo(1, 0, 0, b"/usr/bin/pip", ("pip",))
    line = f"        - name: PIP_NO_CACHE_DIR\n          value: {quoted}\n"
    mine = DEPLOYMENT.replace("        - name: MODE\n", line + "        - name: MODE\n")
    assert line in mine
    hardened = harden(Manifest(mine), _merged(tmp_path, environment=settings, processes=[pip]), (), [])
    assert (line in hardened.text) == (quoted != "off"), hardened.text
    assert not any("PIP_NO_CACHE_DIR set to" in n for n in hardened.notes), hardened.notes


@pytest.mark.parametrize(
    ("value", "avoided"),
    [
        ("'1'", True),
        ('"true"', True),
        ('"false"', False),
        (None, False),
        # a later entry of the name is the one Kubernetes reads: from elsewhere, not known here
        ("'1'\n        - name: UV_NO_SYNC\n          valueFrom: {configMapKeyRef: {name: c, key: k}}", False),
    ],
)
def test_a_venv_write_the_manifests_setting_avoids_is_no_refusal(
    tmp_path: Path, request: pytest.FixtureRequest, value: str | None, avoided: bool
) -> None:
    """`uv run` locked the environment (.venv/.lock) in runs recorded without UV_NO_SYNC: no mount
    can fix it. A manifest that sets UV_NO_SYNC (what the refusal's fix says) avoids the write:
    harden said "fix: set UV_NO_SYNC=true" all the same and exited 1. Now it says the manifest
    avoids it and to record again; a manifest without it (or set false) is still refused."""
    import tempfile

    app = Path(tempfile.mkdtemp(prefix="rotrace-uv-app-", dir="/var/tmp"))  # outside /tmp, allowed
    request.addfinalizer(lambda: shutil.rmtree(app))
    venv = app / ".venv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    verdicts = classify(event(str(venv / ".lock"), exe=b"/usr/local/bin/uv"))
    header = TraceHeader(["uv", "run", "app"], str(app), 0, allowlist=["/tmp"], labels={"container": "web"})
    trace = tmp_path / "t.json"
    trace.write_text(written_trace(header, verdicts))
    setting = "" if value is None else f"        - name: UV_NO_SYNC\n          value: {value}\n"
    mine = DEPLOYMENT.replace("        - name: MODE\n", setting + "        - name: MODE\n")
    hardened = harden(Manifest(mine), str(trace), (), [])
    said = [n for n in hardened.notes if "which avoids these writes" in n]
    refused = [n for n in hardened.notes if "cannot be made writable by a mount" in n]
    got = (hardened.status, bool(said), bool(refused))
    assert got == (0 if avoided else 1, avoided, not avoided), hardened.notes
    assert not avoided or f"{venv}: the manifest sets UV_NO_SYNC=" in said[0]


def test_a_setting_named_twice_in_the_manifest_is_set_where_kubernetes_reads_it(tmp_path: Path) -> None:
    """Of two `env` entries of one name, Kubernetes takes the last: harden set the plan's value
    in the first, and the Pod ran with the old one."""
    settings = {"PIP_NO_CACHE_DIR": "off"}
    pip = ProcessInfo(1, 0, 0, b"/usr/bin/pip", ("pip",))
    twice = "        - name: PIP_NO_CACHE_DIR\n          value: 'on'\n" * 2
    mine = DEPLOYMENT.replace("        - name: MODE\n", twice + "        - name: MODE\n")
    hardened = harden(Manifest(mine), _merged(tmp_path, environment=settings, processes=[pip]), (), [])
    env = _docs(hardened.text)[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["value"] for e in env if e["name"] == "PIP_NO_CACHE_DIR"][-1] == "off", hardened.text


def test_the_workloads_of_a_list_are_hardened(tmp_path: Path) -> None:
    """`kubectl get deploy -o yaml` writes a `kind: List`: its items were left as they were, with
    exit 0 and nothing said. Its workload is hardened in place, the other items kept."""
    items = textwrap.indent(DEPLOYMENT.split("---\n")[0].replace("# the shop\n", ""), "  ")
    listed = "apiVersion: v1\nkind: List\nitems:\n- " + items.lstrip() + "- {apiVersion: v1, kind: Service}\n"
    hardened = harden(Manifest(listed), _merged(tmp_path), (), [])
    (listing, *_) = _docs(hardened.text)
    deployment, service = listing["items"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"] == {
        "readOnlyRootFilesystem": True
    }, hardened.text
    assert service == {"apiVersion": "v1", "kind": "Service"}


def test_uv_sync_writes_no_setting_of_the_manifest_avoids_stay_refused(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """UV_NO_SYNC is `uv run`'s: a container that runs `uv sync` locks and installs into its
    environment whatever it says. Harden dropped the refusal of a `uv sync` trace's venv writes
    where the manifest set it."""
    import tempfile

    from rotrace.policy.allowlist import build_allowlist
    from rotrace.policy.verdict import Classifier

    app = Path(tempfile.mkdtemp(prefix="rotrace-uv-app-", dir="/var/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(app))
    (app / ".venv").mkdir()
    (app / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    classifier = Classifier(build_allowlist(["/tmp"], None))
    classifier.know([ProcessInfo(100, 1, 0, b"/usr/local/bin/uv", ("uv", "sync"))])
    lock = event(str(app / ".venv" / ".lock"), exe=b"/usr/local/bin/uv")
    classifier.learn(lock)
    verdict = classifier.classify(lock)
    assert verdict.explanation is not None and verdict.explanation.id == "uv-sync-command"
    header = TraceHeader(["uv", "sync"], str(app), 0, allowlist=["/tmp"], labels={"container": "web"})
    trace = tmp_path / "t.json"
    trace.write_text(written_trace(header, [verdict]))
    setting = "        - name: UV_NO_SYNC\n          value: 'true'\n"
    mine = DEPLOYMENT.replace("        - name: MODE\n", setting + "        - name: MODE\n")
    hardened = harden(Manifest(mine), str(trace), (), [])
    assert hardened.status == 1 and not any("which avoids these writes" in n for n in hardened.notes)


def test_an_env_entry_from_elsewhere_is_kept_as_the_manifest_gives_it(tmp_path: Path) -> None:
    """HOME from a ConfigMap (valueFrom) was replaced by the run's HOME, its source dropped, and
    the note said "(was None)"."""
    home = DEPLOYMENT.replace(
        "        - name: MODE\n",
        "        - name: HOME\n          valueFrom: {configMapKeyRef: {name: web, key: home}}\n"
        "        - name: MODE\n",
    )
    trace = _merged(
        tmp_path, event("/srv/home/.cache/x/y", exe=b"/usr/bin/python3"), environment={"HOME": "/srv/home"}
    )
    hardened = harden(Manifest(home), trace, (), [])
    (web,) = _docs(hardened.text)[0]["spec"]["template"]["spec"]["containers"]
    (entry,) = [e for e in web["env"] if e["name"] == "HOME"]
    assert entry == {"name": "HOME", "valueFrom": {"configMapKeyRef": {"name": "web", "key": "home"}}}
    assert not any("(was None)" in n for n in hardened.notes), hardened.notes


def test_a_new_claim_is_no_claim_the_manifest_has(tmp_path: Path) -> None:
    """The manifest mounts a claim named as the one harden makes for the data (another volume's
    data: a secrets store): the app's data directory became that claim, silently."""
    taken = DEPLOYMENT.replace(
        "      - name: config\n        configMap: {name: web}\n",
        "      - name: store\n        persistentVolumeClaim: {claimName: app-data}\n",
    )
    hardened = harden(Manifest(taken), _merged(tmp_path), (), [])
    docs = _docs(hardened.text)
    spec = docs[0]["spec"]["template"]["spec"]
    claims = [
        v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v
    ]
    assert claims == ["app-data", "app-data-2"], spec["volumes"]
    assert [d["metadata"]["name"] for d in docs if d.get("kind") == "PersistentVolumeClaim"] == ["app-data-2"]


CRONJOB_AND_UI = textwrap.dedent("""\
    apiVersion: batch/v1
    kind: CronJob
    metadata: {name: web}
    spec:
      schedule: "0 * * * *"
      jobTemplate:
        spec:
          template:
            spec:
              containers:
              - {name: web, image: shop:1}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web-ui}
    spec:
      template:
        spec:
          containers:
          - {name: web, image: shop:1}
          - {name: side, image: side:1}
    """)


def test_only_the_workload_the_traces_were_recorded_in_is_hardened(tmp_path: Path) -> None:
    """A CronJob and a Deployment with a container of one name: the CronJob's traces (its Pods
    web-0, web-1) hardened the Deployment too, silently; the Deployment's sidecar kept its
    writable root unsaid."""
    hardened = harden(Manifest(CRONJOB_AND_UI), _merged(tmp_path), (), [])
    job, ui = _docs(hardened.text)[:2]
    (batch,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert batch["securityContext"] == {"readOnlyRootFilesystem": True}
    assert all("securityContext" not in c for c in ui["spec"]["template"]["spec"]["containers"])
    assert any(n.startswith("Deployment web-ui: it has the container too") for n in hardened.notes), (
        hardened.notes
    )
    ui_trace = tmp_path / "ui"
    ui_trace.mkdir()
    text = (
        Path(_merged(ui_trace))
        .read_text()
        .replace('"web-0"', '"web-ui-7d9f-x2k4q"')
        .replace('"web-1"', '"web-ui-7d9f-a1b2c"')
    )
    (ui_trace / "merged.json").write_text(text)
    hardened = harden(Manifest(CRONJOB_AND_UI), str(ui_trace / "merged.json"), (), [])
    job, ui = _docs(hardened.text)[:2]
    assert "securityContext" not in job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    web, side = ui["spec"]["template"]["spec"]["containers"]
    assert web["securityContext"] == {"readOnlyRootFilesystem": True} and "securityContext" not in side
    said = "Deployment web-ui: its container side keeps a writable root: record it and harden it from its own"
    assert f"{said} traces (--container side)" in hardened.notes, hardened.notes


def test_a_plan_of_a_failed_run_says_it_may_fall_short(tmp_path: Path) -> None:
    """A run that failed stops short of what it would write: the plan said nothing of it."""
    trace = Path(_merged(tmp_path))
    failed = trace.read_text().replace('"exit_code": 0', '"exit_code": 1')
    trace.write_text(failed)
    hardened = harden(Manifest(DEPLOYMENT), str(trace), (), [])
    assert any(
        "runs failed (exit status 1)" in n and "trace a run that succeeds" in n for n in hardened.notes
    )


def test_a_statefulsets_new_claim_template_gets_the_fsgroup_and_its_own_note(tmp_path: Path) -> None:
    """A StatefulSet run as uid 1000 got a claim template and no fsGroup (a Deployment's claim
    got both), and the note pointed at "the last document", which harden did not add."""
    as_user = STATEFULSET.replace(
        "      containers:\n",
        "      securityContext: {runAsUser: 1000, runAsGroup: 1000}\n      containers:\n",
    )
    hardened = harden(Manifest(as_user), _merged(tmp_path), (), [])
    (statefulset,) = _docs(hardened.text)
    assert statefulset["spec"]["template"]["spec"]["securityContext"]["fsGroup"] == 1000
    assert not any("the last document" in n for n in hardened.notes), hardened.notes
    assert any("(its claim: a volumeClaimTemplate of the StatefulSet)" in n for n in hardened.notes)


def test_a_claim_in_a_lists_items_is_the_manifests(tmp_path: Path) -> None:
    """`kubectl get -o yaml` writes a List: its PersistentVolumeClaim item named app-data was
    not seen, the Deployment mounted that claim for its data and a second one of that name was
    appended."""
    items = textwrap.indent(DEPLOYMENT.split("---\n")[0].replace("# the shop\n", ""), "  ")
    listed = (
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: PersistentVolumeClaim\n"
        "  metadata: {name: app-data}\n- " + items.lstrip()
    )
    docs = _docs(harden(Manifest(listed), _merged(tmp_path), (), []).text)
    spec = docs[0]["items"][1]["spec"]["template"]["spec"]
    claims = [
        v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v
    ]
    assert claims == ["app-data-2"] and [d["metadata"]["name"] for d in docs[1:]] == ["app-data-2"]


def test_traces_of_two_workloads_or_of_no_pod_are_said(tmp_path: Path) -> None:
    """Merged runs of the CronJob's and the Deployment's Pods gave each workload everything
    either wrote; a trace with no pod label hardened every workload with the container, silently."""
    both = Path(_merged(tmp_path)).read_text().replace('"web-1"', '"web-ui-7d9f-a1b2c"')
    (tmp_path / "both.json").write_text(both)
    with pytest.raises(BadInput, match="Pods of CronJob web, Deployment web-ui"):
        harden(Manifest(CRONJOB_AND_UI), str(tmp_path / "both.json"), (), [])
    nopod = (
        Path(_merged(tmp_path))
        .read_text()
        .replace('"pod": "web-0"', '"x": "0"')
        .replace('"pod": "web-1"', '"x": "1"')
    )
    (tmp_path / "nopod.json").write_text(nopod)
    hardened = harden(Manifest(CRONJOB_AND_UI), str(tmp_path / "nopod.json"), (), [])
    assert any(n.startswith("CronJob web, Deployment web-ui each have the container") for n in hardened.notes)


def test_a_plan_from_a_checkpoint_says_it_may_fall_short(tmp_path: Path) -> None:
    trace = Path(_merged(tmp_path))
    when = '"checkpoint": "2026-12-07T10:00:00Z",'
    data = trace.read_text().replace('"exit_code": 0,', f'"exit_code": 0, {when}', 1)
    assert data != trace.read_text()
    trace.write_text(data)
    hardened = harden(Manifest(DEPLOYMENT), str(trace), (), [])
    assert any(n.startswith("a run had not ended when its trace was written") for n in hardened.notes)


def test_an_init_container_hardened_from_its_trace_names_the_containers_left_writable(tmp_path: Path) -> None:
    """A native sidecar hardened from its own trace: the Pod's app container kept its writable
    root unsaid (the workload's containers were looked for among `containers` alone)."""
    pod = textwrap.dedent("""\
        apiVersion: v1
        kind: Pod
        metadata: {name: web}
        spec:
          initContainers:
          - {name: beat, image: shop:1, restartPolicy: Always}
          containers:
          - {name: web, image: shop:1}
        """)
    hardened = harden(Manifest(pod), _merged(tmp_path, container="beat"), (), [])
    spec = _docs(hardened.text)[0]["spec"]
    assert spec["initContainers"][0]["securityContext"] == {"readOnlyRootFilesystem": True}
    assert "securityContext" not in spec["containers"][0]
    assert any(n.startswith("Pod web: its container web keeps a writable root") for n in hardened.notes)
