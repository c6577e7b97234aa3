"""The machine: who it is (for results/<machine-id>/) and its physical floors.

Floors are measured in C where the figure is below a microsecond; the ctypes
call overhead is, by its nature, timed from Python.  `latencylab run` measures
them in the same run as the labs, because only ratios within one run compare.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import socket
import subprocess
import sys
import time

import numpy as np

from .lab import Size


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpus() -> list[int]:
    """The CPUs this process may run on (cgroup/affinity aware)."""
    return sorted(os.sched_getaffinity(0))


def machine_id() -> str:
    """A stable folder name for this machine's results: $LATENCYLAB_MACHINE, or
    the CPU model and the count of usable CPUs, e.g. intel-xeon-processor-2cpu."""
    override = os.environ.get("LATENCYLAB_MACHINE")
    if override:
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", override).strip("-")
    model = re.sub(r"\((r|tm)\)|\bcpu\b|@.*$", "", cpu_model(), flags=re.I)
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")
    return f"{slug}-{len(usable_cpus())}cpu"


def git_commit() -> str | None:
    """HEAD's short hash, with "-dirty" when the working tree has changes (the
    figures then come from code no commit holds)."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
                              timeout=5).stdout.strip()
        if not head:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _compiler() -> str | None:
    try:
        out = subprocess.run(["cc", "--version"], capture_output=True, text=True, timeout=5)
        return out.stdout.splitlines()[0] if out.stdout else None
    except (OSError, subprocess.SubprocessError):
        return None


def info() -> dict:
    """Facts about the machine and software, stored under results.json "machine"."""
    import numpy

    return {
        "id": machine_id(),
        "hostname": socket.gethostname(),
        "cpu_model": cpu_model(),
        "cpus_usable": usable_cpus(),
        "cpus_online": os.cpu_count(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "compiler": _compiler(),
        "cpu_pair": pair_topology(),
        "git_commit": git_commit(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def cpu_pair() -> tuple[int, int] | None:
    """Two CPUs for cross-core work: the first two usable, or None with fewer.
    They may be two hyper-threads of one core (pair_topology() says): then a
    "cross-core" figure moves lines through one core's L1/L2, not between cores."""
    cpus = usable_cpus()
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else None


def _cpu_fact(cpu: int, name: str) -> str | None:
    try:
        with open(f"/sys/devices/system/cpu/cpu{cpu}/topology/{name}") as f:
            return f.read().strip()
    except OSError:
        return None


def _cpu_list(text: str | None) -> set[int] | None:
    """'0-2,5' -> {0, 1, 2, 5}"""
    if not text:
        return None
    out: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def pair_topology(pair: tuple[int, int] | None = None) -> dict:
    """Where the two CPUs of a pair sit, from /sys (the kernel's view; in a VM,
    the hypervisor's story, which may not be the host's truth): `smt_siblings`
    (True: two hyper-threads of one physical core; None: unknown), their core
    and package ids.  Recorded beside every cross-core figure."""
    pair = pair or cpu_pair()
    if pair is None:
        return {"cpus": None, "smt_siblings": None}
    a, b = pair
    siblings = _cpu_list(_cpu_fact(a, "thread_siblings_list"))
    return {
        "cpus": list(pair),
        "smt_siblings": None if siblings is None else b in siblings,
        "core_ids": [_cpu_fact(a, "core_id"), _cpu_fact(b, "core_id")],
        "package_ids": [_cpu_fact(a, "physical_package_id"), _cpu_fact(b, "physical_package_id")],
    }


def c2c_now() -> float | None:
    """A quick c2c round trip (median of 3 batches of 20 k), for bracketing a
    cross-core workload (lab.Workload.measure); None where it cannot be taken."""
    pair = cpu_pair()
    if pair is None:
        return None
    from cimpl import floors as cf

    try:
        return float(np.median(cf.c2c_rtt_ns(*pair, n=20_000, batches=3)))
    except (OSError, ValueError):
        return None


def _per_iteration_ns(body, reps: int, n: int) -> float:
    """Median over `reps` of the time per call of body(i) in a Python loop."""
    per = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        for i in range(n):
            body(i)
        per.append((time.perf_counter_ns() - t0) / n)
    return float(np.median(per))


def _ctypes_call_ns(reps: int, n: int) -> float:
    from cimpl import floors

    return _per_iteration_ns(floors.noop, reps, n)


def _python_loop_ns(reps: int, n: int) -> float:
    """The same loop calling a trivial Python builtin: what part of the ctypes figure is the loop."""
    return _per_iteration_ns(abs, reps, n)


def _python_timer_ns(n: int) -> float:
    clock = time.perf_counter_ns
    t0 = clock()
    for _ in range(n):
        clock()
    return (clock() - t0) / n


def floors(size: Size = "quick") -> dict:
    """Measure the floors.  Keys (stable, used by metrics' `floor`):
    c2c_rtt_ns, ctypes_call_ns, timer_ns, python_timer_ns, memcpy_gbps."""
    from cimpl import floors as cf

    full = size == "full"
    out: dict = {}
    pair = cpu_pair()
    if pair is None:
        out["c2c_rtt_ns"] = None
        out["c2c_note"] = "needs two usable CPUs"
    else:
        try:
            batches = cf.c2c_rtt_ns(*pair, n=200_000 if full else 50_000, batches=9 if full else 5)
        except (OSError, ValueError) as e:  # e.g. a CPU we may not pin to: a note, not a failed run
            out["c2c_rtt_ns"] = None
            out["c2c_note"] = str(e)
        else:
            out["c2c_rtt_ns"] = float(np.median(batches))
            out["c2c_rtt_min_ns"] = float(batches.min())
            out["c2c_cpus"] = list(pair)
            out["c2c_smt_siblings"] = pair_topology(pair)["smt_siblings"]
    reps, n = (7, 200_000) if full else (5, 50_000)
    measures = {
        "ctypes_call_ns": lambda: _ctypes_call_ns(reps, n),
        "python_loop_ns": lambda: _python_loop_ns(reps, n),
        "timer_ns": lambda: float(np.median([cf.timer_ns(200_000) for _ in range(5)])),
        "python_timer_ns": lambda: float(np.median([_python_timer_ns(100_000) for _ in range(5)])),
        "memcpy_gbps": lambda: cf.memcpy_gbps(128 << 20, reps=8 if full else 3),
    }
    for key, measure in measures.items():
        try:
            out[key] = measure()
        except (OSError, ValueError, MemoryError) as e:  # a floor we cannot take is a note, not a failed run
            out[key] = None
            out[f"{key}_note"] = f"{type(e).__name__}: {e}"
    return out


FLOOR_LABELS = {
    "c2c_rtt_ns": ("core-to-core round trip, one cache line, 2 pinned threads", "ns"),
    "ctypes_call_ns": ("ctypes call of an empty C function (argtypes set), from a Python loop", "ns"),
    "python_loop_ns": ("one iteration of a Python for loop calling a builtin (abs)", "ns"),
    "timer_ns": ("clock_gettime(CLOCK_MONOTONIC) in C", "ns"),
    "python_timer_ns": ("time.perf_counter_ns() in Python", "ns"),
    "memcpy_gbps": ("single-thread memcpy of 128 MiB", "GB/s"),
}
