"""Lab 4 (work in progress): the C litmus runner and fence costs.

The lab's rule: an outcome the hardware model forbids must never be seen; if
one shows up, the runner (or the CPU) is broken.  Allowed outcomes may or may
not show up in a short run, so nothing is asserted about them.
"""

from __future__ import annotations

import os
import platform

import pytest

pytestmark = pytest.mark.cimpl

mo = pytest.importorskip("cimpl.memory_ordering")

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


@pytest.mark.parametrize("op", list(mo.OPS))
def test_op_costs_are_positive(op):
    assert mo.op_ns(op, 100_000) > 0


@pytest.mark.parametrize("args, match", [
    (("nope", 10, None), "unknown litmus test"),
    (("SB:relaxed", 0, None), "n must be"),
    (("SB:relaxed", 10**8, None), "n must be"),
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


def test_litmus_workload_records(monkeypatch):
    from labs import memory_ordering as lab

    if len(USABLE) < 2:
        pytest.skip("needs two usable CPUs")
    monkeypatch.setitem(lab._N, "quick", 5_000)
    out = lab.run_litmus("c", "quick")
    assert {m.metric for m in out} == {f"litmus:{t}" for t in lab.VERDICTS}
    for m in out:
        assert m.extra["iterations"] == 5_000 and sum(m.extra["histogram"].values()) == 5_000
        assert m.value == m.extra["histogram"][m.extra["outcome"]]
    fences = lab.run_fences("c", "quick")
    assert {m.variant for m in fences} == set(mo.OPS) and all(m.value > 0 for m in fences)
