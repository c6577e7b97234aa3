"""Lab 4: the C litmus runner, fence costs and the compiler-hoisting demo.

The lab's rule: an outcome the hardware model forbids must never be seen; if
one shows up, the runner (or the CPU) is broken.  Allowed outcomes may or may
not show up in a short run, so nothing is asserted about them.
"""

from __future__ import annotations

import os
import platform
import re
import shutil

import pytest

pytestmark = pytest.mark.cimpl

# imported plainly: a C library that does not load (a layout that C and Python
# disagree on raises at import) must fail the run, not skip the file
import cimpl.memory_ordering as mo  # noqa: E402

X86 = platform.machine() in ("x86_64", "AMD64")
# outcome index (2*a + b) forbidden by x86-TSO for each test; SB is allowed (0,0)
# only without a fence: with one, (0,0) is forbidden too
FORBIDDEN_X86 = {
    "SB:fence": 0, "SB:seq_cst": 0,
    "MP:relaxed": 2, "MP:release_acquire": 2,  # flag seen (1) but data not (0)
    "LB:relaxed": 3,  # both loads see the other thread's later store
    "2+2W:relaxed": 0,  # finally x == 1 and y == 1
}
USABLE = sorted(os.sched_getaffinity(0))
CPUS = (USABLE[0], USABLE[1]) if len(USABLE) >= 2 else None


@pytest.mark.parametrize("test", list(mo.TESTS))
def test_histogram_counts_every_instance(test):
    hist = mo.litmus(test, 20_000, CPUS)
    assert hist.sum() == 20_000 and (hist >= 0).all()


@pytest.mark.skipif(not X86, reason="the forbidden sets here are x86-TSO's")
@pytest.mark.parametrize("test", list(FORBIDDEN_X86))
def test_no_outcome_forbidden_by_x86_tso(test):
    hist = mo.litmus(test, 100_000, CPUS)
    assert hist[FORBIDDEN_X86[test]] == 0, f"{test}: an outcome x86-TSO forbids was observed: {hist.tolist()}"


def test_runs_longer_than_a_chunk_count_every_instance():
    """Runs reuse one chunk of 64 Ki instances: 150 000 is three chunks, the last partial."""
    hist = mo.litmus("SB:relaxed", 150_000, CPUS)
    assert hist.sum() == 150_000


@pytest.mark.parametrize("op", list(mo.OPS))
def test_op_costs_are_positive(op):
    assert mo.op_ns(op, 100_000) > 0


@pytest.mark.skipif(CPUS is None, reason="needs two usable CPUs")
@pytest.mark.parametrize("op", list(mo.OPS))
def test_contended_op_costs_are_positive(op):
    assert mo.op_ns(op, 100_000, contended=CPUS) > 0


@pytest.mark.parametrize("cpus", [(0,), (0, -1), ("0", 1), 5])
def test_bad_cpus(cpus):
    with pytest.raises(ValueError, match="cpus must be two CPU numbers"):
        mo.litmus("SB:relaxed", 10, cpus)
    with pytest.raises(ValueError, match="cpus must be two CPU numbers"):
        mo.op_ns("fetch_add", 10, contended=cpus)


def test_cpu_outside_the_allowed_set_is_an_error_not_a_hang():
    with pytest.raises(OSError, match="cannot pin"):
        mo.litmus("SB:relaxed", 10, (USABLE[0], 4095))


def test_atomic_flag_wait_sees_the_store():
    ns, early = mo.flag_wait("atomic", 0.005)
    assert not early and 0 <= ns < 1_000_000_000


def test_bad_flag_wait_arguments():
    with pytest.raises(ValueError, match="unknown flag kind"):
        mo.flag_wait("volatile")
    with pytest.raises(ValueError, match="delay_s"):
        mo.flag_wait("atomic", -1)


@pytest.mark.slow
def test_plain_flag_loop_hangs_and_atomic_one_terminates():
    """The issue's check: the plain wait is hoisted into an endless loop (the
    watchdog kills it), the atomic one sees the flag."""
    from labs import memory_ordering as lab

    assert lab.flag_loop("c", "plain")["outcome"] == "hung"
    got = lab.flag_loop("c", "atomic")
    assert got["outcome"] == "terminated" and got["seen_after_ns"] >= 0


@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs binutils' objdump")
def test_disassembly_shows_the_hoisted_load():
    """The plain loop has one load and a jump to itself; the atomic one jumps
    back to its load."""
    def self_jumps(asm: str) -> list[str]:
        return [ln for ln in asm.splitlines()
                if (m := re.match(r"\s*([0-9a-f]+):\s+jmp\s+([0-9a-f]+)\b", ln)) and m[1] == m[2]]

    plain, atomic = mo.disassembly("plain"), mo.disassembly("atomic")
    assert "<ll_wait_plain>:" in plain and "<ll_wait_atomic>:" in atomic
    if X86:
        assert self_jumps(plain), plain
        assert not self_jumps(atomic), atomic
    with pytest.raises(ValueError, match="unknown flag kind"):
        mo.disassembly("nope")


@pytest.mark.parametrize("args, match", [
    (("nope", 10, None), "unknown litmus test"),
    (("SB:relaxed", 0, None), "n must be"),
    (("SB:relaxed", mo.MAX_N + 1, None), "n must be"),
])
def test_bad_litmus_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        mo.litmus(*args)


def test_bad_op_arguments():
    with pytest.raises(ValueError, match="unknown operation"):
        mo.op_ns("mfence-please")
    with pytest.raises(ValueError, match="n must be"):
        mo.op_ns("plain_store", 0)


def test_verdict_table_agrees_with_the_tests_and_the_runner():
    """labs.memory_ordering.VERDICTS is the one table of verdicts: it covers every
    test the C runner has, and the forbidden-on-x86 outcomes asserted above."""
    from labs import memory_ordering as lab

    assert set(lab.VERDICTS) == set(mo.TESTS)
    for test, (outcome, _meaning, x86_ok, c11_ok) in lab.VERDICTS.items():
        assert outcome in range(4)
        if not x86_ok:
            assert FORBIDDEN_X86[test] == outcome
        assert not (x86_ok and not c11_ok), "C11 allows at least what x86-TSO allows for these tests"


@pytest.mark.skipif(CPUS is None, reason="needs two usable CPUs")
@pytest.mark.parametrize("impl", ["c", "python"])
def test_litmus_workload_records(monkeypatch, impl):
    from labs import memory_ordering as lab

    monkeypatch.setitem(lab._N[impl], "quick", 5_000)
    out = lab.run_litmus(impl, "quick")
    tests = lab.VERDICTS if impl == "c" else lab.PY_TESTS
    assert [m.metric for m in out] == [f"litmus:{t}" for t in tests]
    for m in out:
        assert m.extra["iterations"] == 5_000 and sum(m.extra["histogram"].values()) == 5_000
        assert m.value == m.extra["histogram"][m.extra["outcome"]]
        verdict = lab.VERDICTS[m.metric.removeprefix("litmus:")]
        assert (m.extra["allowed_x86tso"], m.extra["allowed_c11"]) == verdict[2:]


def test_litmus_workload_fails_loudly_on_a_forbidden_outcome(monkeypatch):
    """If the runner ever reports an outcome x86-TSO forbids, the run is an error, not a figure."""
    from labs import memory_ordering as lab

    if not X86 or CPUS is None:
        pytest.skip("x86 with two CPUs only")
    import numpy as np

    monkeypatch.setattr(mo, "litmus", lambda test, n, cpus: np.array([1, 0, 0, n - 1]))  # (0,0) once
    with pytest.raises(RuntimeError, match="forbidden by x86-TSO"):
        lab.run_litmus("c", "quick")


def test_fence_workload_records(monkeypatch):
    from labs import memory_ordering as lab

    monkeypatch.setitem(lab._OP_N, "quick", 50_000)
    fences = lab.run_fences("c", "quick")
    expected = set(mo.OPS) | ({f"{op}/contended" for op in mo.OPS} if CPUS else set())
    assert {m.variant for m in fences} == expected and all(m.value > 0 for m in fences)
    assert set(lab.OPS) == set(mo.OPS)
