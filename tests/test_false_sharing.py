"""Lab 2 (false-sharing): one suite run against both implementations.

Every test taking `fs` runs once with cimpl.false_sharing (pthreads running a
C loop; id `cimpl`) and once with pyimpl.false_sharing (worker processes
running a Python loop; id `pyimpl`); tests taking `fs_pair` run the four
cross-language combinations.  Tests that run C code without taking `fs` carry
the `cimpl` marker, so `pytest -k cimpl` selects every C-backed test.

No timing is checked here (that is the lab's job, not the tests'): only that
every increment lands, that the counters sit where the layout says, and that
bad input is refused with a message naming the problem.  The loops are kept
small: the whole file runs in seconds on a 2-CPU machine.
"""

from __future__ import annotations

import glob
import importlib
import math
import os
import struct
import threading

import pytest
from conftest import SHM_DIR, lab_fixtures, shm_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import labs.false_sharing as lab
import pyimpl.false_sharing as py_fs
import pyimpl.shm_basics as py_shm
from labs.lab import Skip
from pyimpl.errors import LayoutError

FS_MODULES = {"c": "cimpl.false_sharing", "python": "pyimpl.false_sharing"}
# increments per worker: a Python loop does ~50 ns each, a C loop ~1 ns
N = {"c": 1_000_000, "python": 20_000}
LAYOUTS = {"packed": 8, "padded64": 64, "padded128": 128}
USABLE = sorted(os.sched_getaffinity(0))
need_two_cpus = pytest.mark.skipif(
    len(USABLE) < 2, reason=f"needs 2 usable CPUs for 2 pinned workers; this process may use {USABLE}")


def load(key: str):
    return importlib.import_module(FS_MODULES[key])


def key_of(mod) -> str:
    return "c" if mod.__name__.startswith("cimpl.") else "python"


def kinds_of(mod) -> tuple[str, ...]:
    """The increment kinds an implementation supports (pure Python: no atomic RMW)."""
    return ("plain", "atomic") if key_of(mod) == "c" else ("plain",)


def shm_of(mod):
    """The lab-1 module an implementation builds its segments with."""
    return mod.Counters._shm


fs_fixture, fs_pair_fixture = lab_fixtures("false_sharing", "fs", "fs_pair")


@pytest.fixture(autouse=True)
def affinity_unchanged():
    """Every test leaves this thread's CPU set as it found it: a leaked pin would
    silently shrink USABLE for the tests after it.  Restored, then reported."""
    before = os.sched_getaffinity(0)
    yield
    after = os.sched_getaffinity(0)
    if after != before:
        os.sched_setaffinity(0, before)
        pytest.fail(f"the test left this thread pinned to {sorted(after)} (was {sorted(before)})", pytrace=False)


def check_payload(counters, expected: list[int]) -> None:
    """The whole payload: the description intact, counter i == expected[i] at
    its offset, and every other byte (padding, the unused tail) still zero -
    nothing was written at the wrong stride."""
    seg = counters.segment
    raw = bytearray(seg.read(0, seg.size))
    assert struct.unpack_from("<II", raw, 0) == (counters.workers, counters.stride)
    raw[0:8] = bytes(8)
    for i, want in enumerate(expected):
        off = counters.offset(i)
        assert struct.unpack_from("<q", raw, off)[0] == want, f"counter {i}"
        raw[off : off + 8] = bytes(8)
    assert raw == bytes(len(raw)), "bytes outside the counters were written"


# ============================================================ the API


def test_constants_shared(fs):
    assert fs.LAYOUTS == LAYOUTS
    assert fs.KINDS == ("plain", "atomic")
    assert fs.MAX_WORKERS == 256
    assert fs.DESC_SIZE == 128
    assert fs.check_params is py_fs.check_params  # one set of checks, one set of messages


@pytest.mark.cimpl
def test_c_max_workers_matches_header():
    from pathlib import Path

    header = (Path(__file__).resolve().parents[1] / "cimpl" / "false_sharing.h").read_text()
    assert f"#define LL_FS_MAX_WORKERS {py_fs.MAX_WORKERS}" in header


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_create_layout(fs, shm_name, layout):
    stride = LAYOUTS[layout]
    with fs.Counters.create(shm_name, 3, layout) as c:
        assert (c.name, c.workers, c.stride, c.layout) == (shm_name, 3, stride, layout)
        seg = c.segment
        assert seg.kind == py_shm.KIND_COUNTERS
        assert seg.size % 128 == 0 and seg.size >= 128 + 3 * stride
        assert seg.read(0, 8) == struct.pack("<II", 3, stride)  # the description, little-endian
        assert [c.offset(i) for i in range(3)] == [128 + i * stride for i in range(3)]
        assert c.values() == [0, 0, 0]
        assert os.path.exists(shm_path(shm_name))
        assert shm_name in repr(c)
    assert seg.closed
    assert not os.path.exists(shm_path(shm_name))  # the creator's `with` unlinks


def test_create_existing_and_attach_missing(fs, new_shm_name):
    name = new_shm_name()
    with fs.Counters.create(name, 2):
        with pytest.raises(FileExistsError):
            fs.Counters.create(name, 2)
        with pytest.raises(FileExistsError):
            fs.Counters.create(name, 1, "padded128")
    with pytest.raises(FileNotFoundError):
        fs.Counters.attach(new_shm_name())


@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(workers=st.integers(1, py_fs.MAX_WORKERS), layout=st.sampled_from(list(LAYOUTS)))
def test_property_geometry(fs_pair, new_shm_name, workers, layout):
    """Any size: counters 8-aligned, `stride` apart, inside the segment, after
    the description's 128 bytes; a padded layout gives each counter its own
    64- (or 128-) byte block; the other implementation reads the same."""
    a, b = fs_pair
    with a.Counters.create(new_shm_name(), workers, layout) as c:
        offs = [c.offset(i) for i in range(workers)]
        assert offs[0] == 128 and all(o % 8 == 0 for o in offs)
        assert offs[-1] + 8 <= c.segment.size
        assert c.segment.size == 128 + -(-workers * LAYOUTS[layout] // 128) * 128
        if layout != "packed":
            block = LAYOUTS[layout]
            assert len({(128 + o) // block for o in offs}) == workers  # +128: the segment header
        with b.Counters.attach(c.name) as d:
            assert (d.workers, d.stride, d.layout) == (workers, c.stride, layout)
            assert [d.offset(i) for i in range(workers)] == offs


# ==================================================== counting is exact


@need_two_cpus
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_run_workers_exact(fs, shm_name, layout):
    n = N[key_of(fs)]
    with fs.Counters.create(shm_name, 2, layout) as c:
        for round_, kind in enumerate(kinds_of(fs), start=1):
            elapsed = fs.run_workers(c, n, kind)
            assert len(elapsed) == 2
            assert all(isinstance(e, int) and e > 0 for e in elapsed), elapsed
            check_payload(c, [round_ * n] * 2)  # runs add up: nothing reset in between


def test_run_workers_single_worker(fs, shm_name):
    n = N[key_of(fs)] // 4
    with fs.Counters.create(shm_name, 1, "packed") as c:
        (elapsed,) = fs.run_workers(c, n)
        assert elapsed > 0
        check_payload(c, [n])


def test_unpinned_workers_may_outnumber_cpus(fs, shm_name):
    """More workers than usable CPUs: refused when pinning, fine with pin=False."""
    workers = len(USABLE) + 1
    n = N[key_of(fs)] // 4
    with fs.Counters.create(shm_name, workers, "padded64") as c:
        with pytest.raises(ValueError, match="usable CPUs"):
            fs.run_workers(c, n, pin=True)
        assert c.values() == [0] * workers  # nothing ran
        elapsed = fs.run_workers(c, n, pin=False)
        assert len(elapsed) == workers and all(e > 0 for e in elapsed)
        check_payload(c, [n] * workers)


def test_increment_in_calling_thread(fs, shm_name):
    n = 10_000
    with fs.Counters.create(shm_name, 3, "padded128") as c:
        expected = [0, 0, 0]
        for kind in kinds_of(fs):
            for index in (0, 2):
                elapsed = fs.increment(c, index, n, kind)
                assert isinstance(elapsed, int) and elapsed > 0
                expected[index] += n
                assert c.value(index) == expected[index]
        check_payload(c, expected)  # counter 1 untouched


def test_reset(fs, shm_name):
    with fs.Counters.create(shm_name, 2, "packed") as c:
        fs.increment(c, 0, 100)
        fs.increment(c, 1, 7)
        assert c.values() == [100, 7]
        c.reset()
        assert c.values() == [0, 0]
        check_payload(c, [0, 0])  # the description survives a reset


# ============================================================== affinity


def test_increment_restores_affinity(fs, shm_name):
    before = os.sched_getaffinity(0)
    with fs.Counters.create(shm_name, 1) as c:
        for kind in kinds_of(fs):
            for cpu in (min(USABLE), max(USABLE)):
                assert fs.increment(c, 0, 1000, kind, cpu=cpu) > 0
                assert os.sched_getaffinity(0) == before
        assert c.value(0) == 2000 * len(kinds_of(fs))


def test_increment_restores_affinity_of_its_own_thread(fs, shm_name):
    """Affinity is per thread: a pinned increment in another thread restores
    that thread's set and never touches the main thread's."""
    main_before = os.sched_getaffinity(0)
    seen: dict[str, object] = {}
    with fs.Counters.create(shm_name, 1) as c:
        def work() -> None:
            try:
                seen["before"] = os.sched_getaffinity(0)
                seen["elapsed"] = fs.increment(c, 0, 1000, cpu=max(USABLE))
                seen["after"] = os.sched_getaffinity(0)
            except BaseException as e:  # noqa: BLE001 - checked below
                seen["error"] = e

        t = threading.Thread(target=work)
        t.start()
        t.join(30)
        assert "error" not in seen, seen.get("error")
        assert seen["after"] == seen["before"]
        assert seen["elapsed"] > 0
        assert c.value(0) == 1000
    assert os.sched_getaffinity(0) == main_before


def test_increment_on_a_forbidden_cpu(fs, shm_name):
    """A CPU outside the allowed set, or not a CPU number: ValueError, the
    affinity unchanged, nothing counted."""
    before = os.sched_getaffinity(0)
    bad = max(USABLE) + 1
    while bad in before:  # pragma: no cover - USABLE is sorted, so never
        bad += 1
    with fs.Counters.create(shm_name, 1) as c:
        for cpu in (bad, -1, True, 0.5):
            with pytest.raises(ValueError, match="cpu must be None or one of"):
                fs.increment(c, 0, 1000, cpu=cpu)
        assert os.sched_getaffinity(0) == before
        assert c.value(0) == 0


# ======================================================= bad parameters


@pytest.mark.parametrize("workers", [0, -1, py_fs.MAX_WORKERS + 1, True, False, 1.5, "2", None],
                         ids=["0", "-1", "max+1", "True", "False", "float", "str", "None"])
def test_bad_workers(fs, shm_name, workers):
    with pytest.raises(ValueError, match="workers must be an integer"):
        fs.Counters.create(shm_name, workers)
    with pytest.raises(ValueError, match="workers must be an integer"):
        fs.check_params(workers, "packed", 1, "plain")
    assert not os.path.exists(shm_path(shm_name))


@pytest.mark.parametrize("layout", ["padded32", "", "PACKED", 8, None])
def test_bad_layout(fs, shm_name, layout):
    with pytest.raises(ValueError, match="unknown layout"):
        fs.Counters.create(shm_name, 2, layout)
    assert not os.path.exists(shm_path(shm_name))


@pytest.fixture
def counters(fs, shm_name):
    with fs.Counters.create(shm_name, 2, "padded64") as c:
        yield c


@pytest.mark.parametrize("n", [0, -5, 1.5, True, None, "10", 2**62 + 1],
                         ids=["0", "-5", "float", "True", "None", "str", "2**62+1"])
def test_bad_n(fs, counters, n):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        fs.run_workers(counters, n)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        fs.increment(counters, 0, n)
    assert counters.values() == [0, 0]


@pytest.mark.parametrize("kind", ["relaxed", "", "PLAIN", None, 0])
def test_bad_kind(fs, counters, kind):
    with pytest.raises(ValueError, match="unknown increment kind"):
        fs.run_workers(counters, 10, kind)
    with pytest.raises(ValueError, match="unknown increment kind"):
        fs.increment(counters, 0, 10, kind)
    assert counters.values() == [0, 0]


def test_pyimpl_has_no_atomic(shm_name):
    with py_fs.Counters.create(shm_name, 1) as c:
        with pytest.raises(ValueError, match="no atomic"):
            py_fs.run_workers(c, 10, "atomic")
        with pytest.raises(ValueError, match="no atomic"):
            py_fs.increment(c, 0, 10, "atomic")
        assert c.values() == [0]


@pytest.mark.parametrize("index", [2, -1, 100, 1.0, "0", None])
def test_index_out_of_range(fs, counters, index):
    with pytest.raises(ValueError, match="out of range"):
        fs.increment(counters, index, 10)
    with pytest.raises(ValueError, match="out of range"):
        counters.value(index)
    with pytest.raises(ValueError, match="out of range"):
        counters.offset(index)
    assert counters.values() == [0, 0]


def test_cpus_for(fs):
    assert fs.cpus_for(1) == [USABLE[0]]
    assert fs.cpus_for(len(USABLE)) == USABLE
    assert fs.cpus_for(len(USABLE) + 1, pin=False) is None
    with pytest.raises(ValueError, match=f"need {len(USABLE) + 1} usable CPUs"):
        fs.cpus_for(len(USABLE) + 1)


# ================================================ what attach refuses


def test_attach_another_kind(fs, new_shm_name):
    shm = shm_of(fs)
    raw, quote = new_shm_name(), new_shm_name()
    with shm.Segment.create(raw, 1024), shm.SharedQuote.create(quote):
        for name in (raw, quote):
            with pytest.raises(LayoutError, match="another kind"):
                fs.Counters.attach(name)


BAD_DESCRIPTIONS = {
    "zeros": (0, 0),  # created, the description never written
    "workers-0": (0, 8),
    "workers-max+1": (py_fs.MAX_WORKERS + 1, 8),
    "stride-0": (2, 0),
    "stride-12": (2, 12),
    "stride-16": (2, 16),
    "stride-huge": (2, 2**32 - 1),
    "too-many-for-the-size": (3, 128),  # 128 + 3*128 > the 128 + 256 payload
    "workers-huge": (2**32 - 1, 128),
}


@pytest.mark.parametrize("desc", list(BAD_DESCRIPTIONS.values()), ids=list(BAD_DESCRIPTIONS))
def test_attach_bad_description(fs, shm_name, desc):
    """A counters segment written by hand through lab 1's API, with a bad
    (workers, stride) description: refused.  (Across implementations:
    test_attach_corrupted_counters.)"""
    with shm_of(fs).Segment.create(shm_name, 128 + 256, py_shm.KIND_COUNTERS) as seg:
        seg.write(0, struct.pack("<II", *desc))
        with pytest.raises(LayoutError, match="disagree"):
            fs.Counters.attach(shm_name)
        seg.write(0, struct.pack("<II", 2, 128))  # the control: a good description attaches
        with fs.Counters.attach(shm_name) as c:
            assert (c.workers, c.layout) == (2, "padded128")


@pytest.mark.parametrize("field", ["workers", "stride"])
def test_attach_corrupted_counters(fs_pair, shm_name, field):
    """A real Counters segment whose description is overwritten afterwards."""
    a, b = fs_pair
    with a.Counters.create(shm_name, 2, "padded64"):
        with shm_of(b).Segment.attach(shm_name, py_shm.KIND_COUNTERS) as seg:
            seg.write(0 if field == "workers" else 4, struct.pack("<I", 9999))
        with pytest.raises(LayoutError):
            b.Counters.attach(shm_name)


# ====================================================== closed counters


def test_closed_counters_refuse(fs, shm_name):
    before = os.sched_getaffinity(0)
    c = fs.Counters.create(shm_name, 2)
    c.close()
    c.close()  # idempotent
    assert c.segment.closed
    for call in (lambda: c.value(0), c.values, c.reset, lambda: fs.increment(c, 0, 10),
                 lambda: fs.increment(c, 0, 10, cpu=max(USABLE))):
        with pytest.raises(ValueError, match="closed"):
            call()
    assert os.sched_getaffinity(0) == before  # not left pinned by the refused increment
    c.unlink()
    assert not os.path.exists(shm_path(shm_name))


@pytest.mark.cimpl
def test_c_run_workers_on_closed_counters(shm_name):
    c_fs = load("c")
    c = c_fs.Counters.create(shm_name, 1)
    c.close()
    with pytest.raises(ValueError, match="closed"):
        c_fs.run_workers(c, 10)
    c.unlink()


# ====================================================== cross-language


@need_two_cpus
def test_cross_language(fs_pair, shm_name):
    """Counters made by one implementation, counted by the other's workers."""
    a, b = fs_pair
    with a.Counters.create(shm_name, 2, "padded128") as ca:
        with b.Counters.attach(shm_name) as cb:
            assert (cb.workers, cb.stride, cb.layout) == (2, 128, "padded128")
            n = N[key_of(b)]
            total = 0
            for kind in kinds_of(b):
                assert all(e > 0 for e in b.run_workers(cb, n, kind))
                total += n
                assert ca.values() == [total, total]
            a.increment(ca, 1, 5)
            assert cb.values() == [total, total + 5]
            cb.reset()
            assert ca.values() == [0, 0]
        check_payload(ca, [0, 0])


@need_two_cpus
@pytest.mark.cimpl
@pytest.mark.parametrize("layout", ["packed", "padded128"])
@pytest.mark.parametrize("kind", ["plain", "atomic"])
def test_c_kernel_from_python_threads(shm_name, layout, kind):
    """labs.false_sharing's runner: one Python thread per worker, each pinning
    itself and calling the C loop (GIL released) - every increment lands."""
    c_fs = load("c")
    before = os.sched_getaffinity(0)
    n = 200_000
    with c_fs.Counters.create(shm_name, 2, layout) as c:
        elapsed = lab._python_threads_run(c_fs, c, n, kind)
        assert len(elapsed) == 2 and all(e > 0 for e in elapsed)
        check_payload(c, [n, n])
    assert os.sched_getaffinity(0) == before


# ============================================= the lab's workloads, tiny


METRICS = {"packed_ns_per_op", "padded64_ns_per_op", "padded128_ns_per_op", "slowdown"}
TINY_N = {"c": 200_000, "python": 10_000}


@pytest.fixture
def tiny_lab(monkeypatch):
    """labs.false_sharing at a tiny size: one repeat, few increments."""
    monkeypatch.setattr(lab, "_N", {k: {"quick": v, "full": v} for k, v in TINY_N.items()})
    monkeypatch.setattr(lab, "_REPEATS", {"quick": 1, "full": 1})
    if len(USABLE) < 2:
        with pytest.raises(Skip):
            lab.default_workers()
        pytest.skip(f"the workload needs 2 usable CPUs; this process may use {USABLE}")
    yield lab
    left = glob.glob(os.path.join(SHM_DIR, f"latencylab-bench-fs-*-{os.getpid()}"))
    assert not left, f"the workload left segments behind: {left}"


def check_measurements(out, impl: str, variants: dict[str, str], workload_id: str) -> None:
    """`variants`: variant -> the increment kind it measured."""
    workload = next(w for w in lab.LAB.workloads if w.id == workload_id)
    by_variant: dict[str, dict[str, object]] = {}
    for m in out:
        assert m.metric in workload.metrics and m.variant in workload.variants
        assert m.metric not in by_variant.setdefault(m.variant, {}), f"{m.metric} twice for {m.variant}"
        by_variant[m.variant][m.metric] = m
    assert set(by_variant) == set(variants)
    for variant, kind in variants.items():
        ms = by_variant[variant]
        assert set(ms) == METRICS
        for m in ms.values():
            assert math.isfinite(m.value) and m.value > 0, m
            assert m.extra["kind"] == kind and m.extra["workers"] == len(USABLE)
        for layout in LAYOUTS:
            extra = ms[f"{layout}_ns_per_op"].extra
            plain_c = impl == "c" and kind == "plain"  # C's plain loop runs 10x the increments
            assert extra["n"] == TINY_N[impl] * (10 if plain_c else 1) and extra["repeats"] == 1
            assert extra["median"] == ms[f"{layout}_ns_per_op"].value
        assert ms["slowdown"].value == pytest.approx(ms["packed_ns_per_op"].value / ms["padded128_ns_per_op"].value)
        assert ms["slowdown"].extra["padded64_over_padded128"] == pytest.approx(
            ms["padded64_ns_per_op"].value / ms["padded128_ns_per_op"].value)


@pytest.mark.parametrize("impl_key", ["c", "python"], ids=["cimpl", "pyimpl"])
def test_workload_counters(tiny_lab, impl_key):
    out = tiny_lab.run_counters(impl_key, "quick")
    kinds = ("plain", "atomic") if impl_key == "c" else ("plain",)
    check_measurements(out, impl_key, {k: k for k in kinds}, "counters")


@pytest.mark.cimpl
def test_workload_c_from_python_threads(tiny_lab):
    out = tiny_lab.run_c_from_python_threads("c", "quick")
    check_measurements(out, "c", {f"{k}/python-threads": k for k in ("plain", "atomic")}, "python-threads")


def test_workload_python_threads_skips_pyimpl(tiny_lab):
    with pytest.raises(Skip, match="only the C kernel"):
        tiny_lab.run_c_from_python_threads("python", "quick")
