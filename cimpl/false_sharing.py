"""Lab 2, C: ctypes bindings to libfalse_sharing.so (cimpl/false_sharing.c).

The same API as `pyimpl.false_sharing`: `Counters` (in a lab-1 segment, made
through lab 1's C binding), `increment` and `run_workers`.  Here the workers
are pthreads running a C loop, pinned by C; the loops are timed inside C.
"""

from __future__ import annotations

import ctypes
import os
from ctypes import c_int, c_int64, c_void_p

import numpy as np

from pyimpl.false_sharing import (  # the API's shared half and its checks
    DESC_SIZE,
    KINDS,
    LAYOUTS,
    MAX_WORKERS,
    CountersAPI,
    check_cpu,
    check_params,
    cpus_for,
)

from . import _lib, shm_basics

__all__ = ["DESC_SIZE", "KINDS", "LAYOUTS", "MAX_WORKERS", "Counters", "check_cpu", "check_params", "cpus_for",
           "increment", "run_workers"]

_increment = _lib.bind("false_sharing", "ll_fs_increment", c_int64, c_void_p, c_int64, c_int, c_int)
_run = _lib.bind("false_sharing", "ll_fs_run", c_int, c_void_p, c_int, c_int64, c_int64, c_int, c_void_p, c_void_p)

_KIND_CODE = {"plain": 0, "atomic": 1}  # LL_FS_PLAIN, LL_FS_ATOMIC


class Counters(CountersAPI):
    _shm = shm_basics  # cimpl.shm_basics: the segment is created and mapped by C


def increment(counters: Counters, index: int, n: int, kind: str = "plain", cpu: int | None = None) -> int:
    """Increment counter `index` n times in this thread, in C (ctypes releases
    the GIL for the call, so Python threads can run it in parallel); pinned
    to `cpu` for the duration, if given.  Returns the loop's elapsed ns."""
    check_params(counters.workers, counters.layout, n, kind)
    check_cpu(cpu)
    address = counters.segment.address + counters.offset(index)
    old = os.sched_getaffinity(0) if cpu is not None else None
    try:
        return _lib.check(_increment(address, n, _KIND_CODE[kind], -1 if cpu is None else cpu),
                          f"increment on CPU {cpu}")
    finally:
        if old is not None:
            os.sched_setaffinity(0, old)  # C pinned this thread: give it back its CPUs


def run_workers(counters: Counters, n: int, kind: str = "plain", pin: bool = True) -> list[int]:
    """One pthread per counter (pinned to distinct CPUs unless pin=False),
    started together; each increments its own counter n times.  Returns each
    worker's loop time in ns."""
    check_params(counters.workers, counters.layout, n, kind)
    cpus = cpus_for(counters.workers, pin)
    cpu_arr = np.asarray(cpus, dtype=np.intc) if cpus else None
    elapsed = np.zeros(counters.workers, dtype=np.int64)
    base = counters.segment.address + DESC_SIZE
    _lib.check(_run(base, counters.workers, counters.stride, n, _KIND_CODE[kind],
                    cpu_arr.ctypes.data if cpu_arr is not None else None, elapsed.ctypes.data),
               f"false-sharing run on CPUs {cpus}")
    return elapsed.tolist()


del ctypes
