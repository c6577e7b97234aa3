"""Lab 4, memory-ordering: the declaration and the workloads (work in progress:
not yet in the registry - the Python litmus tests, the compiler-hoisting demo,
the guide and the notebook are still to come).

Each litmus test is run many times on two pinned threads and every outcome is
counted (cimpl/memory_ordering.c).  VERDICTS says, for each test's
interesting outcome, whether x86-TSO and the C11 model allow it: one table,
with its sources.  An outcome the hardware model forbids must never be seen;
the workload fails loudly if one is.
"""

from __future__ import annotations

import platform

from . import machine
from .lab import Lab, Measurement, Metric, Size, Skip, Workload

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
_N = {"quick": 100_000, "full": 2_000_000}
_OP_N = {"quick": 2_000_000, "full": 20_000_000}


def _is_x86() -> bool:
    return platform.machine() in ("x86_64", "AMD64", "i686")


def run_litmus(impl: str, size: Size) -> list[Measurement]:
    """litmus:<TEST>:<variant>: times the interesting outcome was observed, with
    the whole histogram and both models' verdicts."""
    from cimpl import memory_ordering as mo

    pair = machine.cpu_pair()
    if pair is None:
        raise Skip("litmus tests need two usable CPUs")
    n = _N[size]
    out = []
    for test, (outcome, meaning, x86_ok, c11_ok) in VERDICTS.items():
        hist = mo.litmus(test, n, pair)
        seen = int(hist[outcome])
        if _is_x86() and not x86_ok and seen:
            raise RuntimeError(f"{test}: outcome {OUTCOME_NAMES[outcome]} ({meaning}) is forbidden by x86-TSO "
                               f"but was observed {seen} times in {n}: the runner or the machine is broken")
        out.append(Measurement(f"litmus:{test}", seen, extra={
            "iterations": n, "outcome": OUTCOME_NAMES[outcome], "meaning": meaning,
            "histogram": dict(zip(OUTCOME_NAMES, (int(h) for h in hist), strict=True)),
            "allowed_x86tso": x86_ok, "allowed_c11": c11_ok, "cpus": list(pair)}))
    return out


def run_fences(impl: str, size: Size) -> list[Measurement]:
    """fence_ns: ns per operation in a single-thread loop, one record per kind."""
    from cimpl import memory_ordering as mo

    n = _OP_N[size]
    return [Measurement("fence_ns", mo.op_ns(op, n), variant=op, extra={"n": n}) for op in mo.OPS]


LAB = Lab(
    number=4,
    id="memory-ordering",
    title="Memory ordering",
    summary="litmus tests on the real CPU against the x86-TSO and C11 models; the cost of fences",
    metrics=tuple(Metric(f"litmus:{t}", "count", "lower", f"times {v[1]} was observed") for t, v in VERDICTS.items())
    + (Metric("fence_ns", "ns", "lower", "ns per operation in a single-thread loop, by kind"),),
    workloads=(
        Workload("litmus", run_litmus, ("c",), tuple(f"litmus:{t}" for t in VERDICTS),
                 "each litmus test on two pinned threads, every outcome counted"),
        Workload("fences", run_fences, ("c",), ("fence_ns",), "plain, release, acquire, seq_cst, locked ops",
                 variants=("plain_store", "seq_cst_fence", "fetch_add", "seq_cst_store", "release_store",
                           "acquire_load")),
    ),
)
