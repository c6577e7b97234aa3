"""Lab 4, C: ctypes bindings to libmemory_ordering.so (cimpl/memory_ordering.c):
litmus tests on the real CPU, the cost of the instructions that order memory,
and the compiler-hoisting demo.

    >>> litmus("SB:relaxed", 100_000, (0, 1))      # histogram of (r0, r1) outcomes
    array([   412, 49701, 49860,    27])
    >>> op_ns("seq_cst_fence")                     # ns per store + full fence, one thread
    >>> op_ns("fetch_add", contended=(0, 1))       # ... two threads on one line
    >>> flag_wait("atomic", 0.01)                  # (ns to see the flag, early?)
"""

from __future__ import annotations

import shutil
import subprocess
from ctypes import POINTER, byref, c_int, c_int64, c_void_p

import numpy as np

from . import _lib

TESTS = {  # name -> the C enum (cimpl/memory_ordering.h)
    "SB:relaxed": 1, "SB:fence": 2, "SB:seq_cst": 3,
    "MP:relaxed": 4, "MP:release_acquire": 5,
    "LB:relaxed": 6, "2+2W:relaxed": 7,
}
OPS = {"plain_store": 1, "seq_cst_fence": 2, "fetch_add": 3, "seq_cst_store": 4, "release_store": 5,
       "acquire_load": 6}
MAX_N = 100_000_000  # instances per run (memory is one 64 Ki-instance chunk whatever n)
WAITS = {"plain": 0, "atomic": 1}  # the flag of the hoisting demo
WAIT_SYMBOLS = {"plain": "ll_wait_plain", "atomic": "ll_wait_atomic"}

_run = _lib.bind("memory_ordering", "ll_litmus_run", c_int, c_int, c_int64, c_int, c_int, c_void_p)
_cost = _lib.bind("memory_ordering", "ll_fence_cost", c_int64, c_int, c_int64)
_cost2 = _lib.bind("memory_ordering", "ll_fence_cost_contended", c_int64, c_int, c_int64, c_int, c_int)
_wait = _lib.bind("memory_ordering", "ll_flag_wait", c_int64, c_int, c_int64, POINTER(c_int))


def _check_cpus(cpus) -> tuple[int, int]:
    if cpus is None:
        return -1, -1
    if (not isinstance(cpus, tuple | list) or len(cpus) != 2
            or not all(isinstance(c, int) and c >= 0 for c in cpus)):
        raise ValueError(f"cpus must be two CPU numbers (or None for unpinned), got {cpus!r}")
    return cpus[0], cpus[1]


def litmus(test: str, n: int, cpus: tuple[int, int] | None) -> np.ndarray:
    """Run litmus test `test` n times, thread 0 on cpus[0] and thread 1 on
    cpus[1]; the histogram of outcomes, indexed 2*a + b for the outcome
    (a, b) = (r0, r1) (for 2+2W: the final (x - 1, y - 1))."""
    if test not in TESTS:
        raise ValueError(f"unknown litmus test {test!r}: expected one of {', '.join(TESTS)}")
    if not isinstance(n, int) or not 0 < n <= MAX_N:
        raise ValueError(f"n must be in 1..{MAX_N} (instances per run), got {n!r}")
    cpu0, cpu1 = _check_cpus(cpus)
    hist = np.zeros(4, dtype=np.int64)
    _lib.check(_run(TESTS[test], n, cpu0, cpu1, hist.ctypes.data), f"litmus {test} on CPUs {cpus}")
    return hist


def op_ns(op: str, n: int = 10_000_000, contended: tuple[int, int] | None = None) -> float:
    """ns per operation of `op` in a loop timed inside C: one thread, or with
    `contended=(cpu0, cpu1)` two threads doing the same on one shared cache
    line (the slower thread's time)."""
    if op not in OPS:
        raise ValueError(f"unknown operation {op!r}: expected one of {', '.join(OPS)}")
    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if contended is None:
        return _lib.check(_cost(OPS[op], n), op) / n
    cpu0, cpu1 = _check_cpus(contended)
    return _lib.check(_cost2(OPS[op], n, cpu0, cpu1), f"{op} on CPUs {contended}") / n


def flag_wait(kind: str, delay_s: float = 0.01) -> tuple[int, bool]:
    """The hoisting demo: wait on a `kind` ("plain" or "atomic") flag that a
    second thread sets after delay_s.  Returns (ns from the store until the
    waiter saw it, True if the wait returned before the store).

    The plain wait, compiled with optimisation, never returns: call it only in
    a child process that a watchdog can kill (labs/memory_ordering.py does)."""
    if kind not in WAITS:
        raise ValueError(f"unknown flag kind {kind!r}: expected one of {', '.join(WAITS)}")
    if not 0 <= delay_s <= 10:
        raise ValueError(f"delay_s must be in 0..10 s, got {delay_s!r}")
    early = c_int(0)
    ns = _lib.check(_wait(WAITS[kind], int(delay_s * 1e9), byref(early)), f"{kind} flag wait")
    return ns, bool(early.value)


def disassembly(kind: str) -> str:
    """The machine code of the `kind` wait loop, as objdump shows it in the
    loaded library (needs binutils' objdump)."""
    if kind not in WAIT_SYMBOLS:
        raise ValueError(f"unknown flag kind {kind!r}: expected one of {', '.join(WAIT_SYMBOLS)}")
    objdump = shutil.which("objdump")
    if objdump is None:
        raise FileNotFoundError("objdump not found: install binutils to see the generated code")
    path = _lib.load("memory_ordering")._name
    out = subprocess.run([objdump, "-d", "--no-show-raw-insn", f"--disassemble={WAIT_SYMBOLS[kind]}", path],
                         capture_output=True, text=True, check=True).stdout
    body = out[out.index(f"<{WAIT_SYMBOLS[kind]}>:"):]
    lines = [ln for ln in body.splitlines() if ln.strip() and "nop" not in ln and not ln.startswith("Disassembly")]
    return "\n".join(lines)
