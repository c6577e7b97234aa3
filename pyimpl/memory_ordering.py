"""Lab 4, pure Python: the SB and MP litmus tests between two pinned processes
over a lab-1 segment, and the hoisting demo's flag loop.

The same call as cimpl.memory_ordering.litmus, for the tests Python can
express: Python has no memory orders, so its plain loads and stores are the
"relaxed" variants.  Each instance has fresh variables (x at +0, y at +64 of
its own 128 bytes); the two processes meet at a start line (one counter each,
on its own 128 bytes) before each instance, as in cimpl/memory_ordering.c.

What to expect: the store buffer that lets C's SB show (0,0) drains in tens of
nanoseconds, while the interpreter spends about as long between a store and
the next load; the odds of catching the window are far lower than in C.
"""

from __future__ import annotations

import multiprocessing as mp
import os

import numpy as np

from . import shm_basics

TESTS = ("SB:relaxed", "MP:relaxed")
_BLOCK = 128  # bytes per start-line counter and per instance
_START = 2 * _BLOCK  # instances start after the two counters


def _side(name: str, test: str, n: int, side: int, cpu: int | None) -> np.ndarray:
    """One thread of the test over all instances; returns what it read (r0 or r1)."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    with shm_basics.Segment.attach(name, shm_basics.KIND_RAW) as seg:
        words = seg.buf.cast("q")  # int64 items: offset // 8
        mine, other = (side * _BLOCK) // 8, ((1 - side) * _BLOCK) // 8
        reads = np.zeros(n, dtype=np.int64)
        try:
            for i in range(n):
                words[mine] = i + 1  # ready for instance i
                while words[other] < i + 1:
                    pass
                x = (_START + i * _BLOCK) // 8
                y = x + 64 // 8
                if test == "SB:relaxed":  # x=1; r0=y  ||  y=1; r1=x
                    if side == 0:
                        words[x] = 1
                        reads[i] = words[y]
                    else:
                        words[y] = 1
                        reads[i] = words[x]
                else:  # MP: data(x)=1; flag(y)=1  ||  r0=flag; r1=data - side 1 reads both
                    if side == 0:
                        words[x] = 1
                        words[y] = 1
                    else:
                        flag = words[y]
                        reads[i] = flag * 2 + words[x]  # the outcome index 2*a + b
        finally:
            words.release()
    return reads


def _child(name: str, test: str, n: int, cpu: int | None, results) -> None:
    try:
        results.put(("ok", _side(name, test, n, 1, cpu)))
    except BaseException as e:  # report, don't die silently
        results.put(("error", f"{type(e).__name__}: {e}"))


def litmus(test: str, n: int, cpus: tuple[int, int] | None) -> np.ndarray:
    """Run `test` n times between this process (thread 0) and a child process
    (thread 1); the histogram of outcomes, indexed 2*a + b."""
    if test not in TESTS:
        raise ValueError(f"unknown litmus test {test!r} for pure Python: expected one of {', '.join(TESTS)}")
    if not isinstance(n, int) or not 0 < n <= 1_000_000:
        raise ValueError(f"n must be in 1..1000000 (instances per run), got {n!r}")
    cpu0, cpu1 = cpus if cpus else (None, None)
    name = f"litmus-{os.getpid()}"
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    with shm_basics.Segment.create(name, _START + n * _BLOCK, shm_basics.KIND_RAW):
        proc = ctx.Process(target=_child, args=(name, test, n, cpu1, results), daemon=True)
        proc.start()
        old = os.sched_getaffinity(0)
        try:
            r0 = _side(name, test, n, 0, cpu0)
            status, r1 = results.get(timeout=60 + n * 1e-4)
        finally:
            os.sched_setaffinity(0, old)
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()
    if status != "ok":
        raise RuntimeError(f"litmus {test}: the second process failed: {r1}")
    index = r1 if test == "MP:relaxed" else r0 * 2 + r1
    return np.bincount(index, minlength=4).astype(np.int64)


def flag_wait(kind: str = "plain", delay_s: float = 0.01) -> tuple[int, bool]:
    """The hoisting demo's Python side, the same call as cimpl.memory_ordering.
    flag_wait: wait in a loop on a flag that a second thread sets after
    delay_s; (ns from the store until the waiter saw it, True if the wait
    returned before the store).

    Python has only the "plain" flag, and it can never be hoisted: the
    interpreter executes the load of `flag[0]` on every iteration, and the
    waiting thread gives up the GIL every switch interval (5 ms) so the
    setter can run."""
    import threading
    import time

    if kind != "plain":
        raise ValueError(f"unknown flag kind {kind!r} for pure Python: expected 'plain' (Python has no atomics)")
    if not 0 <= delay_s <= 10:
        raise ValueError(f"delay_s must be in 0..10 s, got {delay_s!r}")
    flag = [0]
    set_at = [0]

    def setter() -> None:
        time.sleep(delay_s)
        set_at[0] = time.perf_counter_ns()
        flag[0] = 1

    th = threading.Thread(target=setter)
    th.start()
    while not flag[0]:
        pass
    seen = time.perf_counter_ns()
    th.join()
    return seen - set_at[0], False
