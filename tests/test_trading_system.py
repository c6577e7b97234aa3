"""Lab 7: the wires (one layout, both languages), the C strategy against the
Python one, the doorbell across processes.  The whole system's runs are in
tests/test_trading_system_run.py."""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyimpl import trading_system as pts

cts = pytest.importorskip("cimpl.trading_system")


# ------------------------------------------------------------ the wires
@pytest.mark.parametrize("struct_name, fmt, fields", [
    ("ll_ts_feed", pts.FEED, ("seq", "send_ns", "msg")),
    ("ll_ts_snapshot", pts.SNAPSHOT, ("seq", "send_ns", "engine_ns", "locate", "flags", "dropped", "bid", "ask",
                                      "bid_size", "ask_size", "features")),
    ("ll_ts_intent", pts.INTENT, ("kind", "side", "locate", "cl_ord_id", "price", "qty", "seq", "send_ns",
                                  "recv_ns", "sent_ns", "signal_ppm")),
    ("ll_ts_report", pts.REPORT, ("kind", "side", "locate", "cl_ord_id", "price", "qty", "leaves", "reason",
                                  "position", "ns")),
    ("ll_ts_wire", pts.WIRE, ("sent_ns", "tick_ns", "len", "msg")),
])
def test_python_formats_are_the_c_structs(struct_name, fmt, fields):
    """Sizes, and every field's offset: the struct format's offsets computed
    from its codes against C's offsetof."""
    assert fmt.size == cts.layout_info(f"sizeof {struct_name}")
    offsets = _offsets(fmt.format)
    for name, off in zip(fields, offsets):
        assert off == cts.layout_info(f"offsetof {struct_name}.{name}"), name


def _offsets(fmt: str) -> list[int]:
    """Offsets of the fields of a '<' struct format, padding ('x') skipped, an
    array (9d, 40s) one field."""
    import re
    import struct

    out, off = [], 0
    for count, code in re.findall(r"(\d*)([a-zA-Z])", fmt.lstrip("<")):
        n = int(count) if count else 1
        size = struct.calcsize("<" + code)
        if code != "x":
            out.append(off)
        off += n * size if code not in "s" else n
    return out


def test_slots_fit_the_messages():
    for ring, fmt in (("feed", pts.FEED), ("snap", pts.SNAPSHOT), ("intent", pts.INTENT), ("report", pts.REPORT),
                      ("wire", pts.WIRE)):
        assert fmt.size <= pts.SLOTS[ring] - 8, ring


def test_control_layout():
    assert cts.CONTROL_SIZE == cts.layout_info("sizeof ll_ts_control")
    assert cts.CONTROL_MAGIC == cts.layout_info("control_magic")
    assert cts._BELL_OFF == cts.layout_info("offsetof ll_ts_control.bell")
    assert cts._POS_OFF == cts.layout_info("offsetof ll_ts_control.positions")
    assert cts._PROC_OFF == cts.layout_info("offsetof ll_ts_control.procs")
    assert (cts._STOP_OFF, cts._KILL_OFF) == (cts.layout_info("offsetof ll_ts_control.stop"),
                                              cts.layout_info("offsetof ll_ts_control.kill"))
    assert cts.layout_info("n_counters") == cts.N_COUNTERS >= len(cts.COUNTERS)
    assert cts.layout_info("engine_samples") == len(cts.ENGINE_SAMPLES)
    assert cts.layout_info("exchange_samples") == len(cts.EXCHANGE_SAMPLES)
    from pyimpl import shm_basics

    assert cts.layout_info("kind_control") == shm_basics.KIND_CONTROL
    import ctypes

    for name, struct_ in (("ll_ts_signal_params", cts.SignalParams), ("ll_ts_engine_cfg", cts.EngineCfg),
                          ("ll_ts_engine_stats", cts.EngineStats), ("ll_ts_exchange_cfg", cts.ExchangeCfg),
                          ("ll_ts_exchange_stats", cts.ExchangeStats)):
        assert ctypes.sizeof(struct_) == cts.layout_info(f"sizeof {name}"), name


def test_control_segment_roundtrip_and_refusals(tmp_path):
    name = f"test-ctl-{os.getpid()}"
    ctl = cts.Control.create(name)
    try:
        other = cts.Control.attach(name)
        ctl.set_proc(2, pid=1234, state="running", feed=7, intents=3)
        p = other.proc(2)
        assert (p["pid"], p["state"], p["feed"], p["intents"]) == (1234, "running", 7, 3)
        assert not other.stopping
        ctl.stop()
        assert other.stopping
        other.close()
        from cimpl import shm_basics

        raw = shm_basics.Segment.create(name + "-raw", cts.CONTROL_SIZE, 5)  # the kind, but no magic
        try:
            with pytest.raises(ValueError, match="not a trading system's control block"):
                cts.Control.attach(name + "-raw")
        finally:
            raw.unlink()
            raw.close()
    finally:
        ctl.unlink()
        ctl.close()


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(1, 65535), st.integers(0, 2**32 - 1),
       st.lists(st.floats(allow_nan=True), min_size=9, max_size=9))
@settings(max_examples=50, deadline=None)
def test_snapshot_round_trip(seq, send, locate, price, feats):
    s = pts.Snapshot(seq, send, send // 2, locate, 1, 3, price, price, 100, 200, tuple(feats))
    back = pts.unpack_snapshot(pts.pack_snapshot(s))
    assert back[:10] == s[:10]
    assert all((a == b) or (math.isnan(a) and math.isnan(b)) for a, b in zip(back.features, s.features))


def test_intent_and_report_round_trip():
    i = pts.Intent(pts.INTENT_NEW, pts.BUY, 3, 42, 1_000_000, 100, 9, 10, 11, 12, 654_321)
    assert pts.unpack_intent(pts.pack_intent(i)) == i
    r = pts.Report(pts.REPORT_EXECUTED, pts.SELL, 3, 42, 1_000_100, 50, 50, 0, -50, 99)
    assert pts.unpack_report(pts.pack_report(r)) == r


# ------------------------------------------------------------ the C strategy against the Python one
def _snapshots(n: int, seed: int = 1) -> list[pts.Snapshot]:
    from labs.trading_system import simulated_snapshots

    return simulated_snapshots(n, seed)


@pytest.mark.parametrize("model", ["c", "numpy"])
def test_c_strategy_sends_what_the_python_strategy_sends(model):
    """The same snapshots and the same reports, into SignalStrategy (with lab
    6's C or NumPy model) and into the engine's C strategy: the same intents,
    in the same order.  Reports are made up the way the engine would send
    them (every order fills in full at once), so positions move and the
    position limit is met."""
    if model == "c":
        from cimpl.ml_inference import Model
    else:
        from pyimpl.ml_inference import Model
    from labs.ml_inference import MODEL_FILES, MODELS_DIR

    py = pts.SignalStrategy(Model.load(MODELS_DIR / MODEL_FILES["mlp"]))
    snaps = _snapshots(6000)
    kinds = {}
    with cts.CSignal("mlp") as c:
        position: dict[int, int] = {}
        for s in snaps:
            a, b = py.on_features(s), c.on_features(s)
            strip = lambda xs: [x._replace(seq=0, send_ns=0, recv_ns=0, sent_ns=0) for x in xs]  # noqa: E731
            assert strip(a) == strip(b), s
            for it in a:
                kinds[it.kind] = kinds.get(it.kind, 0) + 1
                if it.kind == pts.INTENT_NEW:
                    sign = 1 if it.side == pts.BUY else -1
                    position[it.locate] = position.get(it.locate, 0) + sign * it.qty
                    r = pts.Report(pts.REPORT_EXECUTED, it.side, it.locate, it.cl_ord_id, it.price, it.qty, 0, 0,
                                   position[it.locate], 0)
                    py.on_execution(r)
                    c.on_report(r)
    assert kinds.get(pts.INTENT_SIGNAL, 0) > 1000 and kinds.get(pts.INTENT_NEW, 0) > 10, kinds
    assert py.signals > 1000


# ------------------------------------------------------------ the doorbell
def _sleeper(name: str, out) -> None:
    ctl = cts.Control.attach(name)
    bell = cts.Bell(ctl)
    seq = bell.prepare()
    t0 = time.monotonic()
    woke = bell.wait(seq, 5.0)
    out.put((woke, time.monotonic() - t0))
    ctl.close()


def test_bell_wakes_a_sleeper_in_another_process():
    name = f"test-bell-{os.getpid()}"
    ctl = cts.Control.create(name)
    try:
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        p = ctx.Process(target=_sleeper, args=(name, out))
        p.start()
        sleeper = np.frombuffer((np.ctypeslib.as_array((__import__("ctypes").c_uint32 * 2).from_address(ctl.bell))),
                                dtype=np.uint32)
        deadline = time.monotonic() + 30
        while sleeper[1] == 0 and time.monotonic() < deadline:  # wait until it is (about to be) asleep
            time.sleep(0.01)
        time.sleep(0.05)
        cts.Bell(ctl).ring()
        woke, waited = out.get(timeout=30)
        p.join(10)
        assert woke and waited < 4.0
        assert sleeper[1] == 0  # the sleeper flag is cleared on the way out
    finally:
        ctl.unlink()
        ctl.close()


def test_bell_wait_times_out_and_a_ring_without_sleeper_is_free():
    name = f"test-bell2-{os.getpid()}"
    ctl = cts.Control.create(name)
    try:
        bell = cts.Bell(ctl)
        seq = bell.prepare()
        t0 = time.monotonic()
        assert not bell.wait(seq, 0.02)
        assert time.monotonic() - t0 >= 0.015
        before = int(np.frombuffer((__import__("ctypes").c_uint32 * 1).from_address(ctl.bell), dtype=np.uint32)[0])
        bell.ring()  # nobody asleep: no wake, no change to the futex word
        after = int(np.frombuffer((__import__("ctypes").c_uint32 * 1).from_address(ctl.bell), dtype=np.uint32)[0])
        assert before == after
        seq = bell.prepare()
        bell.ring()  # a ring between prepare and wait: the wait returns at once (the word moved)
        t0 = time.monotonic()
        assert bell.wait(seq, 2.0)
        assert time.monotonic() - t0 < 1.0
    finally:
        ctl.unlink()
        ctl.close()
