"""Lab 1, shm-basics: the declaration and the workloads.

The workloads are the only timing code of this lab.  `latencylab run`, the asv
suite (bench/suites.py) and the pytest-benchmark suite (bench/pytest/) all call
them.  Implementations: cimpl.shm_basics (C, loops timed inside C) and
pyimpl.shm_basics (pure Python); peers: what a Python user would reach for
instead (multiprocessing.shared_memory, mmap).
"""

from __future__ import annotations

import mmap
import os
import struct
import time

from . import machine, stats
from .lab import Lab, Measurement, Metric, Size, Skip, Workload, impl_module
from .procs import Child, Pinned, report

# ------------------------------------------------------------------ access
# Operations per repeat: enough for the loop to dwarf the clock reads and the
# ctypes call around it (C: ~4 ns/op, Python: ~1 us/op).
_ACCESS_N = {"c": {"quick": 1_000_000, "full": 5_000_000}, "python": {"quick": 50_000, "full": 300_000}}
_REPEATS = {"quick": 5, "full": 15}

# The peers move the same 48 bytes (seq + quote) with struct, without a
# seqlock: the bare cost of each Python access path (and unsafe across
# processes: a reader can see half of a write).
_PEER_QUOTE = struct.Struct("@QIIqqIIQ")
_PEER_VALUE = (0, 7, 0, 1_000_000, 1_000_100, 100, 200, 0)


def _peer_access_ns(buf, n: int) -> int:
    pack, unpack, value = _PEER_QUOTE.pack_into, _PEER_QUOTE.unpack_from, _PEER_VALUE
    t0 = time.perf_counter_ns()
    for _ in range(n):
        pack(buf, 0, *value)
        unpack(buf, 0)
    return time.perf_counter_ns() - t0


def _scratch_name(tag: str) -> str:
    return f"bench-{tag}-{os.getpid()}"


def run_access(impl: str, size: Size) -> list[Measurement]:
    """access_ns: one seqlock write + one read of the quote in one process."""
    repeats = _REPEATS[size]
    if impl.startswith("peer:"):
        return [_run_peer_access(impl, size)]
    mod = impl_module("shm_basics", impl)
    n = _ACCESS_N[impl][size]
    out = []
    with mod.SharedQuote.create(_scratch_name(f"access-{impl}")) as q:
        mod.bench_access(q, n // 10)  # warm up: page in, train the branch predictor
        summary = stats.repeat_summary([mod.bench_access(q, n) / n for _ in range(repeats)])
        out.append(Measurement("access_ns", summary["median"], extra={"n": n, **summary}))
        if impl == "c":
            # The same C functions called once per operation from a Python loop
            # (the Python kernel works with either module's SharedQuote): what a
            # Python user pays to reach C through ctypes.
            from pyimpl.shm_basics import bench_access as python_loop

            m = _ACCESS_N["python"][size]
            summary = stats.repeat_summary([python_loop(q, m) / m for _ in range(repeats)])
            out.append(Measurement("access_ns", summary["median"], variant="ctypes-per-call", extra={"n": m, **summary}))
    return out


def _run_peer_access(impl: str, size: Size) -> Measurement:
    n = _ACCESS_N["python"][size]
    repeats = _REPEATS[size]
    peer = impl.removeprefix("peer:")
    if peer == "multiprocessing.shared_memory":
        from multiprocessing import shared_memory

        shm = shared_memory.SharedMemory(name=f"latencylab-{_scratch_name('peer-mp')}", create=True, size=64)
        try:
            _peer_access_ns(shm.buf, n // 10)  # warm up, as for c and python
            per_op = [_peer_access_ns(shm.buf, n) / n for _ in range(repeats)]
        finally:
            shm.close()
            shm.unlink()
    elif peer == "mmap":
        path = f"/dev/shm/latencylab-{_scratch_name('peer-mmap')}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, 64)
            mm = mmap.mmap(fd, 64)
        finally:
            os.close(fd)
            os.unlink(path)  # the mapping lives on; the name is gone at once
        try:
            _peer_access_ns(mm, n // 10)
            per_op = [_peer_access_ns(mm, n) / n for _ in range(repeats)]
        finally:
            mm.close()
    else:
        raise Skip(f"unknown peer {peer}")
    summary = stats.repeat_summary(per_op)
    return Measurement("access_ns", summary["median"], extra={"n": n, "note": "struct pack/unpack, no seqlock", **summary})


# -------------------------------------------------------------- visibility
_VIS_N = {"quick": 20_000, "full": 200_000}
_VIS_GAP_NS = 2_000  # pause between quotes: the reader is back spinning when the next one lands
_VIS_TIMEOUT_S = 30.0  # covers the reader process's start (imports, the editable rebuild check)


def _visibility_reader_main(impl: str, name: str, n: int, cpu: int, ready, results) -> None:
    """Child process: pin, attach, read n quotes, send the latencies back."""
    os.sched_setaffinity(0, {cpu})
    mod = impl_module("shm_basics", impl)
    with mod.SharedQuote.attach(name) as q:
        ready.set()
        report(results, mod.visibility_reader, q, n, _VIS_TIMEOUT_S)


def run_visibility(impl: str, size: Size) -> list[Measurement]:
    """visibility_p50_ns / _p99_ns: a quote written in this process, seen by a
    reader process pinned on the other core; one-way ns from the writer's clock
    read to the reader's (both CLOCK_MONOTONIC)."""
    pair = machine.cpu_pair()
    if pair is None:
        raise Skip("the visibility benchmark needs two usable CPUs")
    writer_cpu, reader_cpu = pair
    mod = impl_module("shm_basics", impl)
    n = _VIS_N[size]
    with mod.SharedQuote.create(_scratch_name(f"vis-{impl}")) as q:
        child = Child(_visibility_reader_main, impl, q.segment.name, n, reader_cpu, timeout=_VIS_TIMEOUT_S)
        try:
            with Pinned(writer_cpu):
                mod.visibility_writer(q, n, _VIS_GAP_NS, _VIS_TIMEOUT_S)
            latencies = child.result()
        except TimeoutError:
            reason = child.failure()  # the reader may have failed first: its reason is the better message
            if reason:
                raise RuntimeError(f"visibility reader ({impl}) failed: {reason}") from None
            raise
        finally:
            child.stop()
    return stats.latency_measurements(latencies, "visibility", cpus=[writer_cpu, reader_cpu], gap_ns=_VIS_GAP_NS)


LAB = Lab(
    number=1,
    id="shm-basics",
    title="Shared-memory basics",
    summary="POSIX shared memory and a seqlock-protected quote in one cache line, shared by C and Python",
    metrics=(
        Metric("access_ns", "ns", "lower", "one seqlock write + one read of the quote, same process"),
        Metric("visibility_p50_ns", "ns", "lower", "one-way time until a reader on the other core sees a new quote, median",
               floor="c2c_rtt_ns", floor_scale=0.5, outcome=True),
        Metric("visibility_p99_ns", "ns", "lower", "the same, 99th percentile", floor="c2c_rtt_ns", floor_scale=0.5),
    ),
    workloads=(
        Workload("access", run_access, ("c", "python", "peer:mmap", "peer:multiprocessing.shared_memory"), ("access_ns",),
                 "write + read of the quote, n times, in one process", variants=(None, "ctypes-per-call")),
        Workload("visibility", run_visibility, ("c", "python"), ("visibility_p50_ns", "visibility_p99_ns"),
                 "writer process -> reader process on the other core", cross_core=True),
    ),
)
