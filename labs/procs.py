"""Child processes for cross-core workloads: spawn one pinned helper, wait
until it is ready, collect its one result, and never hang or leak it.

Used by every workload that puts its two sides in two processes (lab 1's
visibility reader, lab 3's consumers, echoes and peers)."""

from __future__ import annotations

import multiprocessing as mp
import os
import queue

TIMEOUT = 30.0  # covers a child's start (imports, the editable rebuild check)


class Child:
    """A child process running `target(*args, ready, results)`: it sets `ready`
    once set up and puts one ("ok", value) or ("error", message) on `results`
    (see report()).  Spawned, not forked: the parent may have threads."""

    def __init__(self, target, *args, timeout: float = TIMEOUT) -> None:
        ctx = mp.get_context("spawn")
        self.timeout = timeout
        self.ready, self.results = ctx.Event(), ctx.Queue()
        self.proc = ctx.Process(target=target, args=(*args, self.ready, self.results), daemon=True)
        self.proc.start()
        if not self.ready.wait(timeout):
            self.stop()
            raise TimeoutError("benchmark child process did not start")

    def result(self):
        """The child's value; RuntimeError with its reason if it failed."""
        status, value = self.results.get(timeout=self.timeout)
        if status != "ok":
            raise RuntimeError(f"benchmark child failed: {value}")
        return value

    def failure(self) -> str | None:
        """The child's error message if it has already reported one (to explain
        why the parent's side timed out), else None."""
        try:
            status, value = self.results.get_nowait()
        except queue.Empty:
            return None
        return value if status != "ok" else None

    def stop(self) -> None:
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()


def report(results, fn, *args) -> None:
    """Run fn(*args) in a child and put its outcome on `results`: report, don't
    die silently (the parent would wait for nothing)."""
    try:
        results.put(("ok", fn(*args)))
    except BaseException as e:
        results.put(("error", f"{type(e).__name__}: {e}"))


class Pinned:
    """Pin this thread to one CPU for a with block, then give it back its CPUs."""

    def __init__(self, cpu: int) -> None:
        self.cpu = cpu

    def __enter__(self):
        self.old = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {self.cpu})

    def __exit__(self, *exc) -> None:
        os.sched_setaffinity(0, self.old)
