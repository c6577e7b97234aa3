"""The check of exercises/shm-basics/seqlock-reader (see README.md)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import time
from ctypes import c_int64, c_uint32, c_uint64, c_void_p

from labs import machine
from labs.exercises import Attempt, CheckFailed, Exercise, Verdict
from labs.procs import Pinned

WRITE_MS = 300  # the writer hammers this long: millions of writes, hundreds of thousands of reads
STOP = 0xFFFFFFFF


class Quote(ctypes.Structure):  # struct ll_quote (cimpl/shm_layout.h)
    _fields_ = [("instrument", c_uint32), ("reserved", c_uint32), ("bid", c_int64), ("ask", c_int64),
                ("bid_size", c_uint32), ("ask_size", c_uint32), ("ts_ns", c_uint64)]


class Report(ctypes.Structure):  # ex_report (read_loop.c)
    _fields_ = [("accepted", c_int64), ("distinct", c_int64), ("retries", c_int64), ("torn", c_int64),
                ("backwards", c_int64), ("stopped", c_int64), ("first_bad", Quote), ("first_bad_seq", c_uint64)]


def writer_exe(attempt: Attempt, here: str = "") -> str:
    """quote_writer (this folder's, or `here` + its path from another exercise): lab 1's own
    segment code and seqlock writer in a program of their own."""
    return str(attempt.build_exe(exercise_sources=(here + "quote_writer.c",),
                                 cimpl_sources=("shm_basics.c", "common.c")))


class Hammer:
    """quote_writer in another process, pinned to its own CPU, writing quote k = 0, 1, ...
    into a fresh quote segment for `ms` milliseconds (as fast as it can, or one every
    `gap_ns`), then the STOP quote.  A with block: the writer is killed and the segment
    closed and unlinked whatever happens inside (a BufferError from closing, a learner's
    view still pinning the mapping, is let go: the name is unlinked all the same; in fact
    it is unlinked as soon as the writer has attached)."""

    def __init__(self, exe: str, impl, tag: str, ms: int = WRITE_MS, gap_ns: int = 0) -> None:
        self.exe, self.impl, self.ms, self.gap_ns = exe, impl, ms, gap_ns
        self.name = f"ex-{tag}-{os.getpid()}"
        pair = machine.cpu_pair()
        self.writer_cpu, self.reader_cpu = pair if pair else (-1, None)

    def __enter__(self):
        self.q = self.impl.SharedQuote.create(self.name)
        try:
            self.proc = subprocess.Popen([self.exe, self.name, str(self.writer_cpu), str(self.ms), str(self.gap_ns)],
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 10
            while self.q.seq == 0:  # until the writer has published its first quote
                if self.proc.poll() is not None:
                    raise CheckFailed(f"the exercise's writer did not start: {self.proc.stderr.read().strip()}")
                if time.monotonic() > deadline:
                    raise CheckFailed("the exercise's writer did not start within 10 s")
                time.sleep(0.0005)
            # both ends have it mapped: the name can go now, so that even a check killed by a
            # crashing attempt leaves nothing in /dev/shm (the mappings stay valid)
            self.q.unlink()
        except BaseException:
            self.__exit__()
            raise
        return self

    def pinned(self):
        return Pinned(self.reader_cpu) if self.reader_cpu is not None else _Nothing()

    def finish(self) -> int:
        """Wait for the writer; the number of quotes it wrote."""
        out, err = self.proc.communicate(timeout=self.ms / 1000 + 10)
        if self.proc.returncode != 0 or not out.startswith("ok"):
            raise CheckFailed(f"the exercise's writer failed: {err.strip() or out.strip()}")
        return int(out.split()[1])

    def __exit__(self, *exc) -> None:
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        try:
            self.q.close()
        except BufferError:
            pass  # pyimpl: something made from the segment's buffer is alive; unmapped when it goes
        finally:
            try:
                self.q.unlink()
            except FileNotFoundError:
                pass


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def _describe(q: Quote, seq: int) -> str:
    k = q.bid
    return (f"seq {seq}, instrument {q.instrument}, bid {q.bid}, ask {q.ask}, bid_size {q.bid_size}, "
            f"ask_size {q.ask_size}, ts_ns {q.ts_ns} (write {k} has seq {2 * k + 2}, instrument {k % 97}, "
            f"ask {k + 1}, sizes {k % 1000 + 1}/{k % 1000 + 2}, ts_ns {3 * k})")


def check(attempt: Attempt) -> Verdict:
    from cimpl import shm_basics as c_shm

    lib = attempt.build_c("reader.c", exercise_sources=("read_loop.c",))
    loop = lib.ex_read_loop
    loop.restype, loop.argtypes = c_int64, [c_void_p, c_int64, ctypes.POINTER(Report)]
    rep = Report()
    with Hammer(writer_exe(attempt), c_shm, "seqlock") as h:
        with h.pinned():
            loop(h.q.segment.address, (WRITE_MS + 5000) * 1_000_000, ctypes.byref(rep))
        written = h.finish()
    figures = {k: getattr(rep, k) for k in ("accepted", "distinct", "retries", "torn", "backwards")}
    figures["written"] = written
    if rep.torn:
        return Verdict(False, f"torn quotes accepted: {rep.torn} of the {rep.accepted} quotes your reader "
                              f"returned mix two writes (or carry another write's seq), while the writer published "
                              f"{written}; the first: {_describe(rep.first_bad, rep.first_bad_seq)}", figures=figures)
    if rep.backwards:
        return Verdict(False, f"{rep.backwards} accepted quotes were older than one accepted before them",
                       figures=figures)
    if not rep.stopped:
        return Verdict(False, f"your reader never returned the writer's last quote ({rep.accepted} accepted, "
                              f"{rep.retries} retries in {WRITE_MS + 5000} ms): does it return 0 for a stable, "
                              "even seq?", figures=figures)
    if rep.distinct < 100:
        return Verdict(False, f"only {rep.distinct} distinct quotes read while the writer published {written}: "
                              "the reads did not overlap the writes, so this run proves nothing - run it again",
                       figures=figures)
    return Verdict(True, f"no torn quote: {rep.accepted} quotes accepted ({rep.distinct} distinct, {rep.retries} "
                         f"retries) while a writer in another process published {written}", figures=figures)


EXERCISE = Exercise(
    lab="shm-basics",
    id="seqlock-reader",
    title="A seqlock reader that never accepts a torn quote",
    kind="correctness",
    files=("reader.c",),
    check=check,
    guide="labs/01-shm-basics/README.md#4-the-seqlock",
    start_fails_because="torn quotes accepted",
    languages=("c",),
)
