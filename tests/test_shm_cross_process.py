"""Lab 1 across processes (and languages): a writer process and a reader process
sharing one segment, in every combination of C and Python.

Children are started with the `spawn` context (a fresh interpreter: nothing
inherited by fork, as two independent programs would be); their target
functions live at module level so spawn can find them by name.  At most one
child runs at a time, every join has a timeout, and a child still alive when
a test ends is killed.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import signal
import time

import numpy as np
import pytest

from conftest import shm_path
from pyimpl.shm_basics import Quote

pytestmark = pytest.mark.slow

SPAWN = mp.get_context("spawn")
STOP = 2**32 - 1  # instrument of the writer's last quote (k % 97 never is)
START_TIMEOUT = 15.0  # a spawned child imports numpy and the libraries first


def quote_for(k: int, stop: bool = False) -> Quote:
    """The k-th quote: every field derived from k, so a torn quote is detectable."""
    bid_size = k % 1000 + 1
    return Quote(STOP if stop else k % 97, k, k + 1, bid_size, bid_size + 1, 3 * k)


def check_quote_for(seq: int, q: Quote) -> int:
    """Assert `q` is whole (one write's fields, published under `seq`); return its k."""
    k = q.bid
    assert q.instrument in (k % 97, STOP), q
    assert q == quote_for(k, stop=q.instrument == STOP), q
    assert seq == 2 * k + 2, (seq, q)  # the k-th write (from 0) on a fresh segment ends at seq 2k+2
    return k


def _pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def _stop_child(p) -> None:
    if p.is_alive():
        p.kill()
    p.join(5)


def two_cpus() -> tuple[int, int] | None:
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else None


# ----------------------------------------------------------- child targets


def _hammer_writer(module: str, name: str, duration: float, cpu: int | None) -> None:
    """Write quote_for(0), quote_for(1), ... for `duration` s, then a STOP quote."""
    _pin(cpu)
    m = importlib.import_module(module)
    q = m.SharedQuote.attach(name)
    try:
        write = q.write
        k = 0
        end = time.monotonic() + duration
        while time.monotonic() < end:
            for _ in range(256):
                write(quote_for(k))
                k += 1
        write(quote_for(k, stop=True))
    finally:
        q.close()


def _visibility_writer(module: str, name: str, n: int) -> None:
    m = importlib.import_module(module)
    q = m.SharedQuote.attach(name)
    try:
        m.visibility_writer(q, n, gap_ns=2000, timeout=START_TIMEOUT)
    finally:
        q.close()


def _create_and_hang(module: str, name: str, ready) -> None:
    m = importlib.import_module(module)
    seg = m.Segment.create(name, 4096)
    seg.write(0, b"alive")
    ready.set()
    time.sleep(60)  # killed long before this


# ------------------------------------------------------------------- tests


def test_hammer_quotes_across_processes(impl_pair, shm_name):
    """A writer process publishes as fast as it can; this process reads all the while.
    Every read must be one whole quote and k must never go backwards."""
    wmod, rmod = impl_pair
    cpus = two_cpus()
    writer_cpu, reader_cpu = cpus if cpus else (None, None)
    q = rmod.SharedQuote.create(shm_name)
    p = SPAWN.Process(target=_hammer_writer, args=(wmod.__name__, shm_name, 0.5, writer_cpu), daemon=True)
    old_affinity = os.sched_getaffinity(0)
    try:
        p.start()
        _pin(reader_cpu)
        deadline = time.monotonic() + START_TIMEOUT
        while q.seq == 0:  # wait for the child to get going
            assert p.is_alive() or q.seq != 0, f"writer exited early with code {p.exitcode}"
            assert time.monotonic() < deadline, "writer did not start"
            time.sleep(0.001)

        reads = distinct = 0
        last_k = -1
        while True:
            seq, got = q.read_with_seq(timeout=2.0)
            k = check_quote_for(seq, got)
            assert k >= last_k, f"k went backwards: {last_k} -> {k}"
            distinct += k != last_k
            last_k = k
            reads += 1
            if got.instrument == STOP:
                break
            if reads % 4096 == 0:
                assert time.monotonic() < deadline + 10, "writer never finished"
        p.join(10)
        assert p.exitcode == 0
        # the reads overlapped the writes: the STOP quote is written last, so
        # every read before it happened while the writer was running
        assert reads > 1000, reads
        assert distinct > 10, distinct
        assert q.read() == quote_for(last_k, stop=True)
    finally:
        os.sched_setaffinity(0, old_affinity)
        _stop_child(p)
        q.close()
        q.unlink()


def test_visibility_across_processes(impl_pair, shm_name):
    """The visibility benchmark's writer in a child, its reader here: n latencies, all plausible."""
    wmod, rmod = impl_pair
    # spinning writer and reader need a CPU each; on one CPU each hand-off costs a time slice
    n = 2000 if two_cpus() else 20
    q = rmod.SharedQuote.create(shm_name)
    p = SPAWN.Process(target=_visibility_writer, args=(wmod.__name__, shm_name, n), daemon=True)
    try:
        p.start()
        lat = rmod.visibility_reader(q, n, timeout=START_TIMEOUT)
        p.join(10)
        assert p.exitcode == 0
        assert isinstance(lat, np.ndarray) and lat.dtype == np.int64 and lat.shape == (n,)
        assert (lat > 0).all(), lat.min()
        assert (lat < 1_000_000_000).all(), lat.max()
        assert q.seq == 2 * n
    finally:
        _stop_child(p)
        q.close()
        q.unlink()


def test_clean_removes_segment_of_killed_process(impl, shm_name):
    """A segment outlives its SIGKILLed creator; `latencylab clean` removes it, and only ours."""
    try:
        from labs.cleanup import clean_segments
    except ImportError as e:
        pytest.skip(f"labs.cleanup.clean_segments is not there yet ({e})")
    ready = SPAWN.Event()
    p = SPAWN.Process(target=_create_and_hang, args=(impl.__name__, shm_name, ready), daemon=True)
    notours = f"/dev/shm/notours-{os.getpid()}"
    try:
        p.start()
        assert ready.wait(START_TIMEOUT), "child did not create its segment"
        os.kill(p.pid, signal.SIGKILL)
        p.join(10)
        assert p.exitcode == -signal.SIGKILL
        assert os.path.exists(shm_path(shm_name)), "the segment should outlive its creator"
        with impl.Segment.attach(shm_name) as seg:
            assert seg.creator_pid == p.pid
            assert seg.read(0, 5) == b"alive"

        with open(notours, "wb") as f:
            f.write(b"someone else's")
        removed = clean_segments()
        assert not os.path.exists(shm_path(shm_name))
        assert any(r in (shm_name, "latencylab-" + shm_name, shm_path(shm_name)) for r in removed), removed
        assert os.path.exists(notours), "clean must only remove latencylab-* segments"
        with open(notours, "rb") as f:
            assert f.read() == b"someone else's"
    finally:
        _stop_child(p)
        try:
            os.unlink(notours)
        except FileNotFoundError:
            pass


def test_clean_keeps_live_and_young_headerless_segments(shm_name):
    """clean never pulls a segment from under a running process: ours with a
    live creator, or a young file without our header (a peer's scratch file)."""
    from labs.cleanup import clean_segments

    import pyimpl.shm_basics as py_shm

    with py_shm.Segment.create(shm_name, 64):
        scratch = shm_path(shm_name + "-scratch")
        fd = os.open(scratch, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        os.close(fd)
        try:
            removed = clean_segments()
            assert os.path.exists(shm_path(shm_name)), "a segment of a live process was removed"
            assert os.path.basename(scratch) not in removed and os.path.exists(scratch)
            old = time.time() - 3600
            os.utime(scratch, (old, old))
            assert os.path.basename(scratch) in clean_segments()
        finally:
            if os.path.exists(scratch):
                os.unlink(scratch)
