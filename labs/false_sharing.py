"""Lab 2, false-sharing: the declaration and the workloads.

Every worker increments its own counter; only the distance between the
counters changes: 8 bytes (packed, one cache line), 64 bytes, 128 bytes.
Implementations: cimpl.false_sharing (pthreads running a C loop, timed inside
C) and pyimpl.false_sharing (worker processes running a Python loop), plus the
C loop run from Python threads (ctypes releases the GIL).  The only timing
code of this lab is here; the CLI, asv and pytest-benchmark call it.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from . import machine, stats
from .lab import Lab, Measurement, Metric, Size, Skip, Workload, impl_module

LAYOUTS = ("packed", "padded64", "padded128")
# increments per worker: long enough that start-up skew between workers is noise
_N = {"c": {"quick": 5_000_000, "full": 20_000_000}, "python": {"quick": 300_000, "full": 2_000_000}}
_REPEATS = {"quick": 3, "full": 7}


def default_workers() -> int:
    """As many workers as usable CPUs; at least 2 are needed to share anything."""
    n = len(machine.usable_cpus())
    if n < 2:
        raise Skip("false sharing needs two usable CPUs (workers pinned to distinct cores)")
    return n


def _ns_per_op(elapsed_ns: list[int], n: int) -> float:
    """One run's figure: the median worker's loop time per increment."""
    return float(np.median(elapsed_ns)) / n


def _python_threads_run(mod, counters, n: int, kind: str) -> list[int]:
    """The C loop, one Python thread per worker: each thread pins itself (in C)
    and calls the kernel through ctypes, which releases the GIL for the call,
    so the loops run in parallel like C's own threads."""
    cpus = mod.cpus_for(counters.workers)
    start = threading.Barrier(counters.workers)
    elapsed = [0] * counters.workers
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            start.wait(30)
            elapsed[i] = mod.increment(counters, i, n, kind, cpu=cpus[i])
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(counters.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return elapsed


def _measure(impl: str, size: Size, kind: str, workers: int, runner, variant: str) -> list[Measurement]:
    """ns/op for the three layouts (median of repeats) and their slowdown."""
    mod = impl_module("false_sharing", impl)
    # C's plain loop runs ~1 increment per cycle: 10x more of them keeps it long
    # against the start-up skew between workers
    n = _N[impl][size] * (10 if impl == "c" and kind == "plain" else 1)
    repeats = _REPEATS[size]
    out, per_layout = [], {}
    for layout in LAYOUTS:
        with mod.Counters.create(f"bench-fs-{layout}-{os.getpid()}", workers, layout) as counters:
            runs = []
            for _ in range(repeats):
                counters.reset()
                runs.append(_ns_per_op(runner(mod, counters, n, kind), n))
                if counters.values() != [n] * workers:  # the lab's correctness claim, checked on every run
                    raise RuntimeError(f"{impl} {kind} {layout}: lost increments: {counters.values()}")
        summary = stats.repeat_summary(runs)
        per_layout[layout] = summary["median"]
        out.append(Measurement(f"{layout}_ns_per_op", summary["median"], variant=variant,
                               extra={"n": n, "workers": workers, "kind": kind, **summary}))
    out.append(Measurement("slowdown", per_layout["packed"] / per_layout["padded128"], variant=variant,
                           extra={"workers": workers, "kind": kind,
                                  "padded64_over_padded128": per_layout["padded64"] / per_layout["padded128"]}))
    return out


def _run_workers(mod, counters, n, kind):
    return mod.run_workers(counters, n, kind)


def run_counters(impl: str, size: Size) -> list[Measurement]:
    """C: pthreads, plain and atomic increments; Python: processes, plain only.
    A full run on more than 2 CPUs also sweeps 1..N workers."""
    workers = default_workers()
    kinds = ("plain", "atomic") if impl == "c" else ("plain",)
    out = []
    for kind in kinds:
        out += _measure(impl, size, kind, workers, _run_workers, kind)
    if size == "full" and workers > 2:
        for w in range(1, workers):
            for kind in kinds:
                out += _measure(impl, size, kind, w, _run_workers, f"{kind}, {w} worker{'s' if w > 1 else ''}")
    return out


def run_c_from_python_threads(impl: str, size: Size) -> list[Measurement]:
    """The C kernel driven by Python threads (variants '<kind>/python-threads')."""
    if impl != "c":
        raise Skip("only the C kernel can run in parallel Python threads")
    workers = default_workers()
    out = []
    for kind in ("plain", "atomic"):
        out += _measure("c", size, kind, workers, _python_threads_run, f"{kind}/python-threads")
    return out


_METRIC_DOC = "ns per increment, each worker on its own counter, counters {} apart; median of runs"

LAB = Lab(
    number=2,
    id="false-sharing",
    title="False sharing",
    summary="counters packed vs padded to 64 and 128 bytes; the slowdown measured in C and in Python",
    metrics=(
        Metric("packed_ns_per_op", "ns", "lower", _METRIC_DOC.format("8 bytes (one cache line)")),
        Metric("padded64_ns_per_op", "ns", "lower", _METRIC_DOC.format("64 bytes")),
        Metric("padded128_ns_per_op", "ns", "lower", _METRIC_DOC.format("128 bytes")),
        Metric("slowdown", "x", "lower", "packed / padded128: what false sharing costs (the lab's outcome)",
               outcome=True),
    ),
    plot_groups=(("ns per increment, by counter layout",
                  ("packed_ns_per_op", "padded64_ns_per_op", "padded128_ns_per_op")),),
    workloads=(
        Workload("counters", run_counters, ("c", "python"),
                 ("packed_ns_per_op", "padded64_ns_per_op", "padded128_ns_per_op", "slowdown"),
                 "workers pinned to distinct CPUs, each incrementing its own counter",
                 variants=("plain", "atomic"), cross_core=True),
        Workload("python-threads", run_c_from_python_threads, ("c",),
                 ("packed_ns_per_op", "padded64_ns_per_op", "padded128_ns_per_op", "slowdown"),
                 "the C loop run from Python threads (ctypes releases the GIL)",
                 variants=("plain/python-threads", "atomic/python-threads"), cross_core=True),
    ),
)
