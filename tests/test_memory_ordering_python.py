"""Lab 4, pure Python: SB and MP between two pinned processes; the flag loop."""

from __future__ import annotations

import os
import platform

import pytest

import pyimpl.memory_ordering as pmo

USABLE = sorted(os.sched_getaffinity(0))
CPUS = (USABLE[0], USABLE[1]) if len(USABLE) >= 2 else None
X86 = platform.machine() in ("x86_64", "AMD64")


@pytest.mark.slow
@pytest.mark.parametrize("test", pmo.TESTS)
def test_pyimpl_histogram_counts_every_instance(test):
    hist = pmo.litmus(test, 5_000, CPUS)
    assert hist.sum() == 5_000 and len(hist) == 4


@pytest.mark.slow
@pytest.mark.skipif(not X86, reason="x86-TSO forbids MP's (1,0); weaker CPUs allow it")
def test_pyimpl_mp_never_shows_data_behind_flag():
    hist = pmo.litmus("MP:relaxed", 20_000, CPUS)
    assert hist[2] == 0, f"flag seen before data on x86: {hist.tolist()}"


def test_pyimpl_bad_arguments():
    with pytest.raises(ValueError, match="unknown litmus test"):
        pmo.litmus("LB:relaxed", 10, None)
    with pytest.raises(ValueError, match="n must be"):
        pmo.litmus("SB:relaxed", 0, None)


@pytest.mark.slow
def test_pyimpl_leaves_no_segment():
    before = set(os.listdir("/dev/shm"))
    pmo.litmus("SB:relaxed", 100, CPUS)
    assert set(os.listdir("/dev/shm")) == before


def test_pyimpl_flag_wait_terminates():
    """Python cannot hoist the load: the plain flag loop always sees the store."""
    ns, early = pmo.flag_wait("plain", 0.005)
    assert not early and ns >= 0


def test_pyimpl_flag_wait_bad_arguments():
    with pytest.raises(ValueError, match="Python has no atomics"):
        pmo.flag_wait("atomic")
    with pytest.raises(ValueError, match="delay_s"):
        pmo.flag_wait("plain", 11)


@pytest.mark.slow
def test_pyimpl_hoisting_workload_reports_termination():
    from labs import memory_ordering as lab

    (m,) = lab.run_hoisting("python", "quick")
    assert m.metric == "flag_loop_hung" and m.value == 0.0 and m.extra["outcome"] == "terminated"
