"""Lab 4, memory-ordering: the declaration and the workloads.

- litmus: each litmus test run many times on two pinned threads (C,
  cimpl/memory_ordering.c) or two pinned processes (pure Python, SB and MP
  only), every outcome counted.  VERDICTS says, for each test's interesting
  outcome, whether x86-TSO and the C11 model allow it: one table, with its
  sources.  An outcome the hardware model forbids must never be seen; the
  workload fails loudly if one is.
- fences: ns per ordering operation in a loop timed inside C, on one thread
  and with two threads on one shared cache line.
- hoisting: a wait loop on a plain flag, which the optimiser turns into an
  endless loop, against the atomic flag; each in a child process that a
  watchdog kills if it hangs.
"""

from __future__ import annotations

import platform
import queue

from . import machine
from .lab import Lab, Measurement, Metric, Size, Skip, Workload, impl_module
from .procs import Child, report

# The interesting outcome of each test (as the histogram index 2*a + b, see
# cimpl/memory_ordering.h) and whether each model allows it.
#   x86-TSO: Sewell, Sarkar, Owens, Zappa Nardelli, Myreen, "x86-TSO: A Rigorous
#     and Usable Programmer's Model for x86 Multiprocessors", CACM 53(7), 2010:
#     only store->load reordering (the store buffer) is visible; a locked
#     instruction or MFENCE drains the buffer.
#   C11: ISO/IEC 9899:2011 5.1.2.4 and 7.17, as formalised by Batty, Owens,
#     Sarkar, Sewell, Weber, "Mathematizing C++ Concurrency", POPL 2011:
#     relaxed accesses allow every one of these outcomes; release/acquire
#     forbids MP's; seq_cst (accesses, or fences between) forbids SB's.
VERDICTS = {
    # test: (interesting outcome, what it means, allowed by x86-TSO, allowed by C11)
    "SB:relaxed": (0, "r0=0, r1=0: both loads miss the other thread's store", True, True),
    "SB:fence": (0, "r0=0, r1=0", False, False),
    "SB:seq_cst": (0, "r0=0, r1=0", False, False),
    "MP:relaxed": (2, "flag=1, data=0: the flag arrives before the data", False, True),
    "MP:release_acquire": (2, "flag=1, data=0", False, False),
    "LB:relaxed": (3, "r0=1, r1=1: each load sees the other thread's later store", False, True),
    "2+2W:relaxed": (0, "finally x=1, y=1: both second stores lost to the first", False, True),
}
OUTCOME_NAMES = ("(0,0)", "(0,1)", "(1,0)", "(1,1)")
PY_TESTS = ("SB:relaxed", "MP:relaxed")  # what pure Python can express (no memory orders)
_N = {  # instances per test
    "c": {"quick": 1_000_000, "full": 10_000_000},
    "python": {"quick": 200_000, "full": 500_000},  # its segment holds 128 B per instance
}
# the operations timed, cheapest first (the names of cimpl.memory_ordering.OPS)
OPS = ("plain_store", "release_store", "acquire_load", "seq_cst_store", "seq_cst_fence", "fetch_add")
_OP_N = {"quick": 2_000_000, "full": 20_000_000}
HOIST_DELAY_S = 0.02  # the setter stores the flag this long after the wait starts
HOIST_WATCHDOG_S = 2.0  # a wait not over by then is reported "hung" and killed


def _is_x86() -> bool:
    return platform.machine() in ("x86_64", "AMD64", "i686")


def _pair() -> tuple[int, int]:
    pair = machine.cpu_pair()
    if pair is None:
        raise Skip("litmus tests need two usable CPUs")
    return pair


def run_litmus(impl: str, size: Size) -> list[Measurement]:
    """litmus:<TEST>:<variant>: times the interesting outcome was observed, with
    the whole histogram and both models' verdicts."""
    mod = impl_module("memory_ordering", impl)
    pair = _pair()
    n = _N[impl][size]
    out = []
    for test in PY_TESTS if impl == "python" else VERDICTS:
        outcome, meaning, x86_ok, c11_ok = VERDICTS[test]
        hist = mod.litmus(test, n, pair)
        seen = int(hist[outcome])
        if _is_x86() and not x86_ok and seen:
            raise RuntimeError(f"{impl} {test}: outcome {OUTCOME_NAMES[outcome]} ({meaning}) is forbidden by x86-TSO "
                               f"but was observed {seen} times in {n}: the runner or the machine is broken")
        out.append(Measurement(f"litmus:{test}", seen, extra={
            "iterations": n, "rate": seen / n, "outcome": OUTCOME_NAMES[outcome], "meaning": meaning,
            "histogram": dict(zip(OUTCOME_NAMES, (int(h) for h in hist), strict=True)),
            "allowed_x86tso": x86_ok, "allowed_c11": c11_ok, "cpus": list(pair)}))
    return out


def run_fences(impl: str, size: Size) -> list[Measurement]:
    """fence_ns: ns per operation in a loop, one record per kind: variant
    "<op>" on one thread, "<op>/contended" with two threads on one line."""
    from cimpl import memory_ordering as mo

    n = _OP_N[size]
    out = [Measurement("fence_ns", mo.op_ns(op, n), variant=op, extra={"n": n, "threads": 1}) for op in OPS]
    pair = machine.cpu_pair()
    if pair is not None:  # with one CPU there is no contention to measure
        out += [Measurement("fence_ns", mo.op_ns(op, n, contended=pair), variant=f"{op}/contended",
                            extra={"n": n, "threads": 2, "cpus": list(pair)}) for op in OPS]
    return out


def _waiter_main(impl: str, kind: str, ready, results) -> None:
    mod = impl_module("memory_ordering", impl)
    ready.set()
    report(results, mod.flag_wait, kind, HOIST_DELAY_S)


def flag_loop(impl: str, kind: str) -> dict:
    """Run impl's `kind` flag wait in a child process under a watchdog:
    {"outcome": "terminated" | "hung" | "returned early", "seen_after_ns"}."""
    child = Child(_waiter_main, impl, kind)
    try:
        status, value = child.results.get(timeout=HOIST_DELAY_S + HOIST_WATCHDOG_S)
    except queue.Empty:
        return {"outcome": "hung", "seen_after_ns": None}
    finally:
        child.proc.kill()  # a hung waiter spins forever: the watchdog's whole job
        child.proc.join()
    if status != "ok":
        raise RuntimeError(f"{impl} {kind} flag wait failed: {value}")
    ns, early = value
    return {"outcome": "returned early" if early else "terminated", "seen_after_ns": None if early else ns}


def run_hoisting(impl: str, size: Size) -> list[Measurement]:
    """flag_loop_hung: 1 if the wait on the flag was still spinning when the
    watchdog fired, else 0; the outcome and (C) the loop's machine code."""
    out = []
    for kind in ("plain", "atomic") if impl == "c" else ("plain",):
        got = flag_loop(impl, kind)
        extra = {**got, "delay_s": HOIST_DELAY_S, "watchdog_s": HOIST_WATCHDOG_S}
        if impl == "c":
            try:
                extra["disassembly"] = impl_module("memory_ordering", impl).disassembly(kind)
            except (FileNotFoundError, OSError) as e:
                extra["disassembly"] = f"(not available: {e})"
        out.append(Measurement("flag_loop_hung", float(got["outcome"] == "hung"), variant=kind, extra=extra))
    return out


LAB = Lab(
    number=4,
    id="memory-ordering",
    title="Memory ordering",
    summary="litmus tests on the real CPU against the x86-TSO and C11 models; the cost of fences",
    metrics=tuple(Metric(f"litmus:{t}", "count", "lower", f"times {v[1]} was observed",
                         outcome=t == "SB:relaxed") for t, v in VERDICTS.items())
    + (Metric("fence_ns", "ns", "lower", "ns per operation in a loop, one thread or two on one line (/contended)",
              variant_axis=True),
       Metric("flag_loop_hung", "bool", "lower", "1 if a wait loop on the flag never saw it set (watchdog)",
              outcome=True)),
    workloads=(
        # C and Python run different sets of tests, so two workloads: each (asv
        # class) declares exactly the metrics its implementation produces
        Workload("litmus", run_litmus, ("c",), tuple(f"litmus:{t}" for t in VERDICTS),
                 "each litmus test on two pinned threads, every outcome counted", cross_core=True),
        Workload("litmus-processes", run_litmus, ("python",), tuple(f"litmus:{t}" for t in PY_TESTS),
                 "SB and MP between two pinned processes over a lab-1 segment, every outcome counted", cross_core=True),
        Workload("fences", run_fences, ("c",), ("fence_ns",), "plain, release, acquire, seq_cst, locked ops",
                 variants=tuple(v for op in OPS for v in (op, f"{op}/contended")), cross_core=True),
        Workload("hoisting", run_hoisting, ("c", "python"), ("flag_loop_hung",),
                 "a wait loop on a plain flag (hoisted by the optimiser) and on an atomic one",
                 variants=("plain", "atomic")),
    ),
)
