"""The targets table that ends the benchmark: each speed target, what was measured for it, the
ratio it bounds and whether it was met, one row per rotrace (this checkout's, and with
--before the other one); a target whose measurement was not asked for says how to ask for it."""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks.attach import Served
from benchmarks.harness import Sample

# (workload, variant, the most it may cost against strace --seccomp-bpf), in the order.
RELATIVE = (
    ("W2", "rotrace", 1.0),
    ("W4", "rotrace", 1.0),
    ("W3", "rotrace --all-opens", 1.2),
    ("W1", "rotrace", 1.5),
)
MEMORY_GROWTH = 1.25  # peak RSS at 10^6 events over that at 10^4: "flat"
STARTUP_MS = 40.0  # `rotrace run -q -- /bin/true` over `python -c pass`, same venv
STARTUP_ROUNDS = 15  # the start-up's medians are of at least this many interleaved runs
AFTER_MS = 10.0  # W2: from the command's exit to rotrace's (JSON, plan, report)
PLACEMENT_PER_WRITE = 1.0  # W2: the tracer's placement system calls per recorded write
CPU_WORKLOADS = ("W2", "W4")  # the heavy writers: CPU per write below strace's
ATTACH_WHY = (
    "no: a seccomp filter cannot be taken back from a process rotrace did not start "
    "(docs/performance.md, Attaching to a running process)"
)

Row = tuple[str, str, str, str, str]  # target, rotrace, measured, ratio, met


@dataclass
class Measured:
    """What one run of the benchmark measured, by rotrace ("rotrace", "rotrace (before)"); None
    for a check that was not asked for."""

    rotraces: list[str]
    results: dict[str, dict[str, Sample]] = field(default_factory=dict)  # W1..W4, F: by variant
    attach: dict[str, Served] | None = None  # A, by variant
    startup: dict[str, tuple[float, float]] | None = None  # rotrace's median s, python -c pass's
    memory: dict[str, tuple[int, int]] | None = None  # peak RSS KiB at 10^4 and 10^6 events
    phases: dict[str, dict[str, tuple[float, float, float]]] | None = None  # workload: tracer: ms
    syscalls: dict[str, dict[str, dict[str, float]]] | None = None  # workload: rotrace: kind: per write
    cpu: dict[str, dict[str, float]] | None = None  # workload: tracer: µs per write


def _suffix(key: str) -> str:
    return key.removeprefix("rotrace")  # "" or " (before)"


def _met(ok: bool) -> str:
    return "yes" if ok else "no"


def _missing(target: str, *how: str) -> list[Row]:
    return [(target, "", "not measured: " + " and ".join(h for h in how if h), "", "")]


def _only(m: Measured, name: str) -> str:
    return "" if name in m.results else f"add {name} to --only"


def relative_rows(m: Measured, name: str, variant: str, most: float) -> list[Row]:
    target = f"{name} `{variant}` ≤ {most:.1f}× strace --seccomp-bpf"
    if name not in m.results:
        return _missing(target, _only(m, name))
    samples = m.results[name]
    bpf = samples["strace --seccomp-bpf"].median
    rows = []
    for key in m.rotraces:
        mine = samples[variant + _suffix(key)].median
        ratio = mine / bpf
        rows.append((target, key, f"{mine:.3f} s vs {bpf:.3f} s", f"{ratio:.2f}×", _met(ratio <= most)))
    return rows


def memory_rows(m: Measured) -> list[Row]:
    target = f"memory flat in events: peak RSS at 10^6 events ≤ {MEMORY_GROWTH:.2f}× at 10^4"
    if m.memory is None:
        return _missing(target, "add --memory")
    rows = []
    for key in m.rotraces:
        low, high = m.memory[key]
        ratio = high / max(low, 1)
        measured = f"{low / 1024:.0f} MiB → {high / 1024:.0f} MiB"
        rows.append((target, key, measured, f"{ratio:.2f}×", _met(ratio <= MEMORY_GROWTH)))
    return rows


def startup_rows(m: Measured) -> list[Row]:
    target = f"`rotrace run -q -- /bin/true` ≤ {STARTUP_MS:.0f} ms over `python -c pass` (same venv's python)"
    if m.startup is None:
        return _missing(target, "add F to --only")
    rows = []
    for key in m.rotraces:
        rotrace, python = m.startup[key]
        over = (rotrace - python) * 1000
        measured = f"{over:.0f} ms over ({rotrace * 1000:.0f} ms vs {python * 1000:.0f} ms)"
        rows.append((target, key, measured, f"{over / STARTUP_MS:.2f}×", _met(over <= STARTUP_MS)))
    return rows


def after_rows(m: Measured) -> list[Row]:
    target = f"W2 work after the command (JSON, plan, report) ≤ {AFTER_MS:.0f} ms"
    if m.phases is None or "W2" not in m.phases:
        return _missing(target, _only(m, "W2"), "add --phases" if m.phases is None else "")
    rows = []
    for key in m.rotraces:
        after = m.phases["W2"][key][2]
        rows.append((target, key, f"{after:.0f} ms", f"{after / AFTER_MS:.2f}×", _met(after <= AFTER_MS)))
    return rows


def placement_rows(m: Measured) -> list[Row]:
    target = (
        f"W2 placement ≤ {PLACEMENT_PER_WRITE:.0f} tracer system call per write (all but the ptrace core, "
        "tracee memory, report pipe and runtime)"
    )
    if m.syscalls is None or "W2" not in m.syscalls:
        return _missing(target, _only(m, "W2"), "add --syscalls" if m.syscalls is None else "")
    rows = []
    for key in m.rotraces:
        per = m.syscalls["W2"][key]
        placement = per["placement"]
        measured = f"{placement:.2f} per write ({per['all']:.2f} in all)"
        ratio = f"{placement / PLACEMENT_PER_WRITE:.2f}×"
        rows.append((target, key, measured, ratio, _met(placement <= PLACEMENT_PER_WRITE)))
    return rows


def cpu_rows(m: Measured, name: str) -> list[Row]:
    target = f"{name} CPU per write < strace --seccomp-bpf's (rotrace's two processes)"
    if m.cpu is None or name not in m.cpu:
        return _missing(target, _only(m, name), "add --per-write" if m.cpu is None else "")
    used = m.cpu[name]
    strace = used["strace --seccomp-bpf"]
    rows = []
    for key in m.rotraces:
        ratio = used[key] / strace
        measured = f"{used[key]:.0f} µs vs {strace:.0f} µs"
        rows.append((target, key, measured, f"{ratio:.2f}×", _met(ratio < 1)))
    return rows


def attach_rows(m: Measured) -> list[Row]:
    """The CPU of the worker and the tracer over the requests is what the ratio compares: the
    client's wall time on a loopback moves with how fast idle cores wake, more than with the
    tracer's cost."""
    target = "attach: `rotrace run -p` at the filtered cost (the server started under `rotrace run`)"
    if m.attach is None:
        return _missing(target, "add A to --only")
    cpu = {key: s.cpu() for key, s in m.attach.items()}
    wall = {key: s.median for key, s in m.attach.items()}
    rows = []
    for key in m.rotraces:
        attached, filtered = "rotrace run -p" + _suffix(key), "rotrace run" + _suffix(key)
        ratio = cpu[attached] / cpu[filtered]
        measured = (
            f"CPU (worker + tracer) {cpu[attached]:.2f} s vs {cpu[filtered]:.2f} s filtered "
            f"({cpu['untraced']:.2f} s untraced, {cpu['strace -f -p']:.2f} s strace -f -p); "
            f"wall {wall[attached]:.3f} s vs {wall[filtered]:.3f} s"
        )
        rows.append((target, key, measured, f"{ratio:.2f}×", "yes" if ratio <= 1 else ATTACH_WHY))
    return rows


def rows(m: Measured) -> list[Row]:
    """Every target, in the order the project states them."""
    found = [r for name, variant, most in RELATIVE for r in relative_rows(m, name, variant, most)]
    found += memory_rows(m) + startup_rows(m) + after_rows(m) + placement_rows(m)
    found += [r for name in CPU_WORKLOADS for r in cpu_rows(m, name)]
    return found + attach_rows(m)


def lines(m: Measured) -> list[str]:
    """The table: the ratio is to strace --seccomp-bpf for the workloads' targets, to the
    target's own bound otherwise (ms, system calls, strace's CPU, the filtered run)."""
    out = [
        "",
        "Targets (ratio: to strace --seccomp-bpf, or to the target's own bound)",
        "| target | rotrace | measured | ratio | met |",
        "|---|---|---:|---:|---|",
    ]
    return out + ["| " + " | ".join(row) + " |" for row in rows(m)]
