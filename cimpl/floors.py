"""ctypes bindings to libfloors.so (cimpl/floors.c): the machine's floors."""

from __future__ import annotations

from ctypes import c_int, c_int64, c_void_p

import numpy as np

from . import _lib

noop = _lib.bind("floors", "ll_noop", c_int64, c_int64)
_timer = _lib.bind("floors", "ll_timer_overhead", c_int64, c_int64)
_memcpy = _lib.bind("floors", "ll_memcpy_best_ns", c_int64, c_int64, c_int64)
_c2c = _lib.bind("floors", "ll_c2c_rtt", c_int, c_int, c_int, c_int64, c_int64, c_void_p)


def timer_ns(n: int = 1_000_000) -> float:
    """Mean cost of one clock_gettime(CLOCK_MONOTONIC), from n back-to-back reads."""
    return _lib.check(_timer(n), "timer overhead") / n


def memcpy_gbps(nbytes: int = 128 << 20, reps: int = 5) -> float:
    """Single-thread memcpy bandwidth (GB/s, 1e9 bytes), best of `reps` copies of nbytes."""
    best_ns = _lib.check(_memcpy(nbytes, reps), "memcpy bandwidth")
    return nbytes / best_ns  # bytes per ns == GB/s


def c2c_rtt_ns(cpu_a: int, cpu_b: int, n: int = 100_000, batches: int = 7) -> np.ndarray:
    """Per-batch mean round trip (ns) of one cache line between two threads pinned to cpu_a and cpu_b."""
    if cpu_a == cpu_b:
        raise ValueError("c2c round trip needs two different CPUs")
    out = np.zeros(batches, dtype=np.float64)
    _lib.check(_c2c(cpu_a, cpu_b, n, batches, out.ctypes.data), f"c2c round trip between CPUs {cpu_a} and {cpu_b}")
    return out
