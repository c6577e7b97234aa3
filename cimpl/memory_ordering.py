"""Lab 4, C (work in progress): ctypes bindings to libmemory_ordering.so
(cimpl/memory_ordering.c) - litmus tests on the real CPU and fence costs."""

from __future__ import annotations

from ctypes import c_int, c_int64, c_void_p

import numpy as np

from . import _lib

TESTS = {  # name -> the C enum (cimpl/memory_ordering.h)
    "SB:relaxed": 1, "SB:fence": 2, "SB:seq_cst": 3,
    "MP:relaxed": 4, "MP:release_acquire": 5,
    "LB:relaxed": 6, "2+2W:relaxed": 7,
}
OPS = {"plain_store": 1, "seq_cst_fence": 2, "fetch_add": 3, "seq_cst_store": 4, "release_store": 5,
       "acquire_load": 6}

_run = _lib.bind("memory_ordering", "ll_litmus_run", c_int, c_int, c_int64, c_int, c_int, c_void_p)
_cost = _lib.bind("memory_ordering", "ll_fence_cost", c_int64, c_int, c_int64)


def litmus(test: str, n: int, cpus: tuple[int, int] | None) -> np.ndarray:
    """Run litmus test `test` n times; the histogram of outcomes, indexed
    2*a + b for the outcome (a, b) (see cimpl/memory_ordering.h)."""
    if test not in TESTS:
        raise ValueError(f"unknown litmus test {test!r}: expected one of {', '.join(TESTS)}")
    if not isinstance(n, int) or not 0 < n <= 10_000_000:
        raise ValueError(f"n must be in 1..10000000 (instances per run), got {n!r}")
    hist = np.zeros(4, dtype=np.int64)
    cpu0, cpu1 = cpus if cpus else (-1, -1)
    _lib.check(_run(TESTS[test], n, cpu0, cpu1, hist.ctypes.data), f"litmus {test} on CPUs {cpus}")
    return hist


def op_ns(op: str, n: int = 10_000_000) -> float:
    """ns per operation of `op` in a single-thread loop, timed inside C."""
    if op not in OPS:
        raise ValueError(f"unknown operation {op!r}: expected one of {', '.join(OPS)}")
    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return _lib.check(_cost(OPS[op], n), op) / n
