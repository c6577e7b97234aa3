"""Lab 2, pure Python: false sharing between worker processes.

W worker processes, each pinned to its own CPU, each increments its OWN
counter n times.  The counters live in a lab-1 shared-memory segment, laid out
packed (8 bytes apart: all in one cache line), or padded to 64 or 128 bytes.
The same API as `cimpl.false_sharing`, whose workers are threads running a C
loop.  Read this side by side with cimpl/false_sharing.c.

Python processes, not threads: threads would take turns on the GIL, so two
Python threads never increment at the same time and there is nothing to
share falsely.  Processes run in parallel, as C threads do.

Only the "plain" increment (a load and a store) exists in pure Python: there
is no atomic read-modify-write on shared memory in the language.  Each counter
has a single writer, so a plain increment loses nothing.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import struct
import time

from . import errors, shm_basics

LAYOUTS = {"packed": 8, "padded64": 64, "padded128": 128}  # layout -> bytes from one counter to the next
KINDS = ("plain", "atomic")
MAX_WORKERS = 256
# The payload: a 128-byte description (workers, stride), then the counters, so
# the description's line is never one of the counters' lines.
DESC_SIZE = 128
_DESC = struct.Struct("<II")
_COUNTER = struct.Struct("<q")
NO_ATOMIC = "pure Python has no atomic read-modify-write on shared memory: use kind='plain' (or the C side)"


def check_params(workers: object = 1, layout: object = "packed", n: object = 1, kind: object = "plain") -> None:
    """ValueError naming the first bad parameter."""
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be an integer in 1..{MAX_WORKERS}, got {workers!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 2**62:
        raise ValueError(f"n must be a positive integer (increments per worker), got {n!r}")
    if kind not in KINDS:
        raise ValueError(f"unknown increment kind {kind!r}: expected one of {', '.join(KINDS)}")


def check_cpu(cpu: object) -> None:
    """None (don't pin) or a CPU this process may use; ValueError otherwise."""
    if cpu is None:
        return
    usable = os.sched_getaffinity(0)
    if not isinstance(cpu, int) or isinstance(cpu, bool) or cpu not in usable:
        raise ValueError(f"cpu must be None or one of this process's usable CPUs {sorted(usable)}, got {cpu!r}")


def cpus_for(workers: int, pin: bool = True) -> list[int] | None:
    """The CPUs to pin `workers` workers to (the first usable ones), or None
    when not pinning.  ValueError if there are fewer usable CPUs than workers."""
    if not pin:
        return None
    usable = sorted(os.sched_getaffinity(0))
    if workers > len(usable):
        raise ValueError(
            f"{workers} workers pinned to distinct CPUs need {workers} usable CPUs; "
            f"this process may use {len(usable)} ({usable}): use fewer workers or pin=False"
        )
    return usable[:workers]


class CountersAPI(shm_basics.SegmentHolder):
    """Per-worker int64 counters in a lab-1 segment, `stride` bytes apart.
    Shared by both implementations; a subclass sets `_shm`, its lab-1 module."""

    _shm = shm_basics

    def __init__(self, segment) -> None:
        workers, stride = _DESC.unpack(segment.read(0, _DESC.size))
        if stride not in LAYOUTS.values() or not 1 <= workers <= MAX_WORKERS or \
                DESC_SIZE + workers * stride > segment.size:
            segment.close()
            raise errors.bad_layout(segment.name)
        self.segment = segment
        self.workers = workers
        self.stride = stride
        self.layout = next(k for k, v in LAYOUTS.items() if v == stride)

    @classmethod
    def create(cls, name: str, workers: int, layout: str = "packed"):
        check_params(workers, layout)
        stride = LAYOUTS[layout]
        size = DESC_SIZE + -(-workers * stride // 128) * 128  # whole 128-byte blocks
        seg = cls._shm.Segment.create(name, size, shm_basics.KIND_COUNTERS)
        seg.write(0, _DESC.pack(workers, stride))
        return cls(seg)

    @classmethod
    def attach(cls, name: str):
        return cls(cls._shm.Segment.attach(name, shm_basics.KIND_COUNTERS))

    @property
    def name(self) -> str:
        return self.segment.name

    def offset(self, index: int) -> int:
        """Payload offset of counter `index`."""
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < self.workers:
            raise ValueError(f"counter index {index!r} out of range 0..{self.workers - 1}")
        return DESC_SIZE + index * self.stride

    def value(self, index: int) -> int:
        return _COUNTER.unpack(self.segment.read(self.offset(index), 8))[0]

    def values(self) -> list[int]:
        return [self.value(i) for i in range(self.workers)]

    def reset(self) -> None:
        for i in range(self.workers):
            self.segment.write(self.offset(i), _COUNTER.pack(0))

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.Counters {self.name!r} {self.workers} x {self.layout}>"


class Counters(CountersAPI):
    _shm = shm_basics


def increment(counters: Counters, index: int, n: int, kind: str = "plain", cpu: int | None = None) -> int:
    """Increment counter `index` n times in this thread (pinned to `cpu` for
    the duration, if given); return the loop's elapsed ns."""
    check_params(counters.workers, counters.layout, n, kind)
    if kind == "atomic":
        raise ValueError(NO_ATOMIC)
    check_cpu(cpu)
    off = counters.offset(index)
    window = counters.segment.buf[off : off + 8]  # before pinning: raises if the segment is closed
    counter = window.cast("q")  # one item: get/set is one aligned 8-byte load/store
    old = os.sched_getaffinity(0) if cpu is not None else None
    try:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})  # pid 0 = this thread
        t0 = time.perf_counter_ns()
        for _ in range(n):
            counter[0] += 1  # load, add, store: a plain increment
        return time.perf_counter_ns() - t0
    finally:
        counter.release()
        window.release()
        if old is not None:
            os.sched_setaffinity(0, old)


def _worker_main(name: str, index: int, n: int, cpu: int | None, start, results) -> None:
    """A worker process: pin, attach, wait for the others, count, report."""
    try:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        with Counters.attach(name) as c:
            start.wait(60)  # every worker attached and pinned before anyone counts
            results.put((index, increment(c, index, n)))
    except BaseException as e:  # report, don't die silently: the parent would wait for nothing
        results.put((index, f"{type(e).__name__}: {e}"))


def run_workers(counters: Counters, n: int, kind: str = "plain", pin: bool = True) -> list[int]:
    """One worker process per counter (pinned to distinct CPUs unless pin=False),
    started together; each increments its own counter n times.  Returns each
    worker's loop time in ns."""
    check_params(counters.workers, counters.layout, n, kind)
    if kind == "atomic":
        raise ValueError(NO_ATOMIC)
    counters.segment._check_open()  # the workers attach by name: check ours is still open
    cpus = cpus_for(counters.workers, pin)
    ctx = mp.get_context("spawn")  # no fork: the parent may have threads
    start = ctx.Barrier(counters.workers)
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker_main, daemon=True,
                         args=(counters.name, i, n, cpus[i] if cpus else None, start, results))
             for i in range(counters.workers)]
    for p in procs:
        p.start()
    elapsed: dict[int, int] = {}
    try:
        deadline = time.monotonic() + 60 + n * 2e-6  # start-up plus a generous 2 us per increment
        while len(elapsed) < counters.workers:
            try:
                index, value = results.get(timeout=0.2)
            except queue.Empty:
                dead = [i for i, p in enumerate(procs) if p.exitcode is not None and i not in elapsed]
                if dead and results.empty():
                    raise RuntimeError(f"false-sharing worker(s) {dead} exited without reporting "
                                       f"(exit codes {[procs[i].exitcode for i in dead]})") from None
                if time.monotonic() > deadline:
                    raise errors.peer_timeout(
                        f"false-sharing workers ({len(elapsed)} of {counters.workers} reported)") from None
                continue
            if isinstance(value, str):
                raise RuntimeError(f"worker {index} failed: {value}")
            elapsed[index] = value
    finally:
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join()
    return [elapsed[i] for i in range(counters.workers)]
