"""Lab 7: the whole trading system, run for real (labs.system.run): an
exchange simulator, the C engine and the Python strategy as three OS
processes over shared-memory rings, and the faults it must survive.

Every run is bounded: a feed of MESSAGES order-flow messages paced at RATE
(about a second of feed), a whole-run timeout of TIMEOUT s, so a hang fails
in seconds.  What each run is checked against is computed here, not read
back from the system: the feed's frames and book updates are counted from
the simulator's bytes, the expected gaps from the exchange's rule.

The engine's and the exchange's records (what `reconcile` compares) are
captured by wrapping labs.system.reconcile for the duration of a run
(`Recorder`): it calls the real one, and keeps its two arguments, so a test
can look at single orders (their cl_ord_ids, their final states).  The live
control block is watched through run()'s own on_tick hook (the dashboard's).

The wires and the C strategy alone are tested in tests/test_trading_system.py.
"""

from __future__ import annotations

import copy
import glob
import math
import os
import re
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("cimpl.trading_system")

from labs import system  # noqa: E402
from labs.feed import simulate  # noqa: E402
from pyimpl.oms import Risk  # noqa: E402

pytestmark = [pytest.mark.cimpl, pytest.mark.timeout(90)]

MESSAGES = 20_000
RATE = 20_000.0  # ~1 s of feed
TIMEOUT = 20.0  # a run normally takes 1-3 s; a hang ends here (and the run reports it)
END_BOUND_S = 12.0  # a run that lost a process must still end within this (far below TIMEOUT + its 10 s grace)
ID_BLOCK = system.StrategyProcess.ID_BLOCK  # incarnation k's cl_ord_ids start at k * ID_BLOCK + 1
HALT_MANUAL, HALT_HEARTBEAT = int(Risk.KILL_MANUAL), int(Risk.HEARTBEAT)
LATENCY_FIGURES = ("tick_to_signal", "hop_feed", "hop_intent", "strategy", "risk", "tick_to_order", "hop_order",
                   "hop_snap")
ENGINE_OPEN = ("pending_new", "accepted", "partially_filled", "cancel_pending", "live")
SHM = Path("/dev/shm")


def cfg_of(**kw) -> system.Config:
    base = dict(messages=MESSAGES, rate=RATE, timeout=TIMEOUT)
    base.update(kw)
    return system.Config(**base)


# ------------------------------------------------------------ what the feed holds (independent of the system)
@lru_cache(maxsize=None)
def feed_facts(messages: int = MESSAGES, seed: int = 0, symbols: int = 8) -> dict:
    """Frames and book updates (every ITCH message but S, system event, and R,
    stock directory) of the simulated feed, counted from its bytes."""
    data = simulate(messages, seed, symbols)
    frames = updates = pos = 0
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 2], "big")
        assert n > 0 and pos + 2 + n <= len(data), "the simulator's framing"
        frames += 1
        updates += data[pos + 2] not in b"SR"
        pos += 2 + n
    return {"frames": frames, "updates": updates}


def expected_gaps(frames: int, every: int) -> int:
    """The exchange's gap fault: after publishing sequence number s with s % every == 0, s + 1 is skipped."""
    seq = gaps = 0
    for _ in range(frames):
        seq += 1
        if seq % every == 0:
            seq += 1
            gaps += 1
    return gaps


# ------------------------------------------------------------ running it
class Recorder:
    """One run with its records: labs.system.reconcile wrapped (the real one
    still decides), and the control block sampled on every supervisor tick."""

    def __init__(self) -> None:
        self.records: dict | None = None
        self.ticks: list[dict] = []
        self.actions: list = []  # (predicate(tick), action(control) -> value), done once each
        self.action_results: dict[int, object] = {}

    def run(self, cfg: system.Config) -> system.Result:
        real = system.reconcile

        def capture(oms, exch):
            self.records = {"oms": copy.deepcopy(oms), "exchange": copy.deepcopy(exch)}
            return real(oms, exch)

        def on_tick(control, elapsed):
            tick = {"t": elapsed, "exchange": control.proc(0), "engine": control.proc(1),
                    "strategy": control.proc(2)}
            if tick["engine"]["halted"]:
                # read again: this read begins after the halt was seen, so it holds every count
                # the engine published with it (orders are stored before halted, x86 keeps stores in order)
                tick["engine_after"] = control.proc(1)
            self.ticks.append(tick)
            for i, (pred, act) in enumerate(self.actions):
                if i not in self.action_results and pred(tick):
                    self.action_results[i] = act(control)

        system.reconcile = capture
        try:
            return system.run(cfg, on_tick=on_tick)
        finally:
            system.reconcile = real

    def first_halt(self) -> dict | None:
        return next((t for t in self.ticks if t["engine"]["halted"]), None)


def go(cfg: system.Config, rec: Recorder | None = None):
    rec = rec or Recorder()
    res = rec.run(cfg)
    return res, rec


def p(v: np.ndarray, q: float) -> float:
    return float(np.percentile(v, q))


def assert_all_closed(records: dict) -> None:
    """No order open at the engine (its OMS records) and none live at the exchange."""
    still = [o for o in records["oms"]["orders"] if o["state"] in ENGINE_OPEN or o["leaves"] > 0 and o["state"]
             not in ("canceled", "rejected")]
    assert still == [], f"orders still open at the engine: {still[:5]}"
    live = [o for o in records["exchange"]["orders"] if o["state"] == "live"]
    assert live == [], f"orders still live at the exchange: {live[:5]}"


def assert_fills_agree(res: system.Result, records: dict) -> None:
    e = res.counts["engine"]
    n_x, n_e = len(records["exchange"]["fills"]), len(records["oms"]["fills"])
    assert e["fills"] == n_e == n_x == res.reconciliation["fills"], (e["fills"], n_e, n_x)


def assert_nothing_reaches_the_exchange_after(rec: Recorder, halt: dict, x: dict, frames: int) -> None:
    """Cancel-on-halt, told apart from the session's own end (which cancels what is open too): from 0.2 s after
    the halt, while the feed still runs, not one more OUCH message reaches the exchange (the halt's cancels all
    went at once, and nothing was left open for the end of the session to cancel)."""
    settled = next((t for t in rec.ticks if t["t"] >= halt["t"] + 0.2), None)
    assert settled is not None and settled["engine"]["feed"] < frames, "the feed ended too soon after the halt"
    assert x["orders"] == settled["exchange"]["orders"], \
        f"{x['orders'] - settled['exchange']['orders']} orders/cancels reached the exchange after the halt"


# ------------------------------------------------------------ nothing left behind
def _children() -> list[tuple[int, str, str]]:
    """(pid, state, command line) of every child process of this process, the
    multiprocessing resource tracker excepted (a helper that lives as long as
    the session: spawn's Queue and Event register their semaphores with it)."""
    me, out = os.getpid(), []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
            pid = int(stat.split("/")[2])
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        state, ppid = text[text.rindex(")") + 2:].split()[:2]
        if int(ppid) == me and "multiprocessing.resource_tracker" not in cmd:
            out.append((pid, state, cmd[:120]))
    return out


def _our_segments() -> list[str]:
    # the run's segments are named ts-<supervisor pid>-...: the supervisor is this process
    return sorted(glob.glob(str(SHM / f"latencylab-ts-{os.getpid()}-*")))


def _foreign_controls() -> list[str]:
    return [p for p in glob.glob(str(SHM / "latencylab-ts-*-control")) if p not in _our_segments()]


@pytest.fixture(autouse=True)
def nothing_left_behind():
    """After every test: none of the run's segments in /dev/shm, no child process alive (zombies count),
    and this process on the CPUs it had (run() pins the supervisor while it runs)."""
    affinity = os.sched_getaffinity(0)
    yield
    assert os.sched_getaffinity(0) == affinity, "run() left the supervisor pinned"
    segs = _our_segments()
    for path in segs:  # removed, so one failure does not cascade into every later test
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    kids = _children()
    assert segs == [], f"segments left behind: {segs}"
    assert kids == [], f"child processes left behind: {kids}"


@pytest.fixture(scope="module")
def relaxed_risk(tmp_path_factory) -> str:
    """The default limits with the order-rate limits raised: the default 200 orders/s in all is reached
    within the first second of these runs, and would hide whether orders flow (after a restart, or a kill
    switch) behind RATE_TOTAL rejections."""
    path = tmp_path_factory.mktemp("risk") / "relaxed.toml"
    path.write_text("rate_orders_symbol = 60000\nrate_orders_total = 60000\n")
    return str(path)


# ------------------------------------------------------------ 1. the Python strategy, both models
@pytest.fixture(scope="module", params=[("numpy", "auto"), ("c", "engine-alone")],
                ids=["numpy-strategy-alone", "c-engine-alone"])
def python_run(request):
    """The Python strategy with each model, and in each placement: by default (auto) it has a core of its
    own and spins; "engine-alone" puts it on the exchange's core, where it waits adaptively."""
    model, placement = request.param
    res, rec = go(cfg_of(model=model, placement=placement))
    return res, rec


@pytest.mark.slow
def test_python_strategy_run_reconciles(python_run):
    res, rec = python_run
    assert res.errors == [], res.errors
    assert res.faults == []
    assert res.reconciliation["ok"], res.reconciliation["mismatches"]
    assert res.reconciled
    assert res.reconciliation["mismatch_count"] == 0
    assert res.reconciliation["open"] == 0
    assert res.counts["engine"]["orders"] > 0, "a run that sent no order reconciles nothing"
    assert res.reconciliation["orders"] == res.counts["engine"]["orders"] == len(rec.records["oms"]["orders"])
    assert_all_closed(rec.records)
    assert res.wall_s < TIMEOUT


@pytest.mark.slow
def test_python_strategy_counts_agree_across_processes(python_run):
    res, rec = python_run
    facts = feed_facts()
    e, x, s = res.counts["engine"], res.counts["exchange"], res.counts["strategy"]
    # the feed: every message published, read, none lost, none malformed
    assert e["feed"] == x["published"] == facts["frames"]
    assert e["gaps"] == e["gap_messages"] == x["gaps_made"] == 0
    assert e["feed_errors"] == 0
    # every book update became a snapshot for ring A, or a counted drop
    assert e["snaps"] + e["dropped"] == facts["updates"]
    assert s["snapshots"] == e["snaps"]
    assert s["dropped_seen"] <= e["dropped"]
    # intents: what the strategy sent is what the engine read (hello, heartbeats and bye included)
    assert s["intents"] == e["intents"]
    assert e["bad_intents"] == 0
    # orders and cancels: every one the engine sent arrived at the exchange
    assert x["orders"] == e["orders"] + e["cancels"]
    assert e["orders"] == rec.records["oms"]["counters"]["sent"] == len(rec.records["exchange"]["orders"])
    # fills: the engine, the strategy and both sides' records count the same
    assert_fills_agree(res, rec.records)
    assert s["fills"] == e["fills"]
    # nothing went wrong on the way
    for k in ("illegal", "reply_errors", "backlog_full", "left_open", "kills", "strategy_lost", "exchange_lost"):
        assert e[k] == 0, k
    for k in ("errors", "backlog_full", "engine_lost", "timed_out"):
        assert x[k] == 0, k


@pytest.mark.slow
def test_python_strategy_rejections_by_reason(python_run):
    res, rec = python_run
    e, s = res.counts["engine"], res.counts["strategy"]
    by_reason = res.counts["risk_rejects"]
    known = {r.name.lower() for r in Risk}
    assert set(by_reason) <= known, set(by_reason) - known
    assert all(n > 0 for n in by_reason.values())
    assert sum(by_reason.values()) == e["rejects"]
    c = rec.records["oms"]["counters"]
    assert c["rejected"] + c["cancel_rejected"] == e["rejects"]
    assert c["intents"] == c["sent"] + c["rejected"]  # every order intent: sent or refused
    # every refusal reached the strategy (plus the exchange's own, none here)
    assert c["exch_rejected"] == 0
    assert s["rejects"] == e["rejects"]
    # a session without faults: no halt, no id reuse
    for reason in ("kill_manual", "heartbeat", "loss", "duplicate_id"):
        assert reason not in by_reason


@pytest.mark.slow
def test_python_strategy_latency_samples(python_run):
    res, rec = python_run
    e, x, s = res.counts["engine"], res.counts["exchange"], res.counts["strategy"]
    c = rec.records["oms"]["counters"]
    run_ns = res.wall_s * 1e9
    for name in LATENCY_FIGURES:
        v = res.samples.get(name)
        assert v is not None and len(v) > 0, f"no {name} samples"
        assert v.dtype == np.int64
        assert v.min() > 0, f"{name}: a latency of {v.min()} ns"
        assert v.max() < run_ns, f"{name}: {v.max()} ns, longer than the whole run"
        assert p(v, 50) < p(v, 99), name
    S = res.samples
    # one sample per event, so the counts are the events'
    order_intents = c["intents"]  # NEW intents, sent or refused
    assert len(S["hop_feed"]) == e["feed"]
    assert len(S["hop_snap"]) == s["snapshots"] == e["snaps"]
    assert len(S["engine"]) == e["snaps"] + e["dropped"]
    assert len(S["tick_to_signal"]) == len(S["hop_intent"]) == len(S["strategy"]) == e["signals"] + order_intents
    assert len(S["risk"]) == order_intents
    assert len(S["tick_to_order"]) == e["orders"]
    assert len(S["hop_order"]) == x["orders"]
    assert len(S["hop_reply"]) == x["replies"]
    # tick to signal is the whole path: for every intent, it is longer than its own strategy time and
    # its own hop back (the three are taken from the same intent, in the same order)
    tts, hop_b, strat = S["tick_to_signal"], S["hop_intent"], S["strategy"]
    assert np.all(tts > hop_b + strat)
    assert p(tts, 50) > p(S["hop_feed"], 50)
    # the exchange's pacing: one lateness sample per message it sent on its schedule
    assert len(S["exchange_late"]) == x["published"]
    assert S["exchange_late"].min() >= 0
    # an order reaches the exchange after its intent reached the engine: every tick_to_order is at least
    # its intent's tick_to_signal
    assert S["tick_to_order"].min() >= tts.min()


@pytest.mark.slow
def test_reconciliation_has_teeth(python_run):
    """The records of a good run reconcile; one change to either side's records is found and named."""
    _, rec = python_run
    oms, exch = rec.records["oms"], rec.records["exchange"]
    assert system.reconcile(oms, exch)["ok"]
    assert exch["fills"] and exch["orders"], "a run with no fills cannot show this"

    def broken(change):
        o, x = copy.deepcopy(oms), copy.deepcopy(exch)
        change(o, x)
        return system.reconcile(o, x)

    r = broken(lambda o, x: x["fills"][0].update(qty=x["fills"][0]["qty"] + 1))
    assert not r["ok"] and any("at the exchange only" in m for m in r["mismatches"])
    r = broken(lambda o, x: x["orders"].pop())
    assert not r["ok"] and any("unknown to the exchange" in m for m in r["mismatches"])
    r = broken(lambda o, x: x["orders"][0].update(state="live"))
    assert not r["ok"] and any("left open" in m for m in r["mismatches"])
    r = broken(lambda o, x: o["fills"].append(dict(o["fills"][0])))
    assert not r["ok"] and any("recorded twice" in m for m in r["mismatches"])
    loc = next(iter(exch["positions"]))
    r = broken(lambda o, x: x["positions"].update({loc: x["positions"][loc] + 100}))
    assert not r["ok"] and any(f"locate {loc}: position" in m for m in r["mismatches"])


# ------------------------------------------------------------ 2. the C strategy, inside the engine
@pytest.mark.slow
def test_c_strategy_run():
    res, rec = go(cfg_of(strategy="c"))
    facts = feed_facts()
    e, x = res.counts["engine"], res.counts["exchange"]
    assert res.errors == [] and res.reconciled, (res.errors, res.reconciliation)
    assert e["feed"] == x["published"] == facts["frames"]
    assert e["orders"] > 0
    assert x["orders"] == e["orders"] + e["cancels"]
    assert_fills_agree(res, rec.records)
    assert_all_closed(rec.records)
    # no rings A and B: no snapshots, no hops to a strategy process, no strategy result
    assert e["snaps"] == e["dropped"] == 0
    assert res.counts["strategy"] == {}
    for name in ("hop_snap", "hop_intent", "strategy", "engine"):
        assert len(res.samples.get(name, ())) == 0, name
    tts = res.samples["tick_to_signal"]
    c = rec.records["oms"]["counters"]
    assert len(tts) == e["signals"] + c["intents"] > 0
    assert tts.min() > 0 and p(tts, 50) < p(tts, 99)
    assert sum(res.counts["risk_rejects"].values()) == e["rejects"]


# ------------------------------------------------------------ 3. the strategy SIGKILLed
@pytest.mark.slow
def test_strategy_killed_then_restarted(relaxed_risk):
    kill_at = 4_000
    res, rec = go(cfg_of(messages=30_000, kill_at=kill_at, risk=relaxed_risk))
    facts = feed_facts(30_000)
    e, x = res.counts["engine"], res.counts["exchange"]
    assert res.errors == [], res.errors
    assert len(res.faults) == 2 and "SIGKILLed" in res.faults[0] and "a new strategy starts" in res.faults[1]
    # the engine noticed the death (not a heartbeat lapse), halted, and let the new one trade
    assert e["strategy_lost"] == 1 and e["lost_by_death"] == 1
    assert e["kills"] >= 1
    assert e["strategy_back"] == 1 and e["resumed"] == 1
    # (the supervisor saw the halt and its reason, the heartbeat/strategy-lost one, before it restarted; the
    # halt is lifted within the restart, so the dashboard's ticks, which stop while it waits, need not see it)
    assert f"trading halted (reason {HALT_HEARTBEAT})" in res.faults[1]
    assert rec.ticks[-1]["engine"]["halted"] == 0, "the halt was never lifted"
    # the feed flowed throughout
    assert e["feed"] == x["published"] == facts["frames"]
    # cl_ord_ids: the new incarnation's start above ID_BLOCK, none reused, none refused as a duplicate
    orders = rec.records["oms"]["orders"]
    first = [o for o in orders if o["cl_ord_id"] <= ID_BLOCK]
    second = [o for o in orders if o["cl_ord_id"] > ID_BLOCK]
    assert first, "the first strategy sent no order before it was killed"
    assert second, "the restarted strategy sent no order"
    assert all(o["cl_ord_id"] <= 2 * ID_BLOCK for o in second)
    assert len({o["cl_ord_id"] for o in orders}) == len(orders)
    assert "duplicate_id" not in res.counts["risk_rejects"]
    # the new strategy's orders are at the exchange (user_refs the engine gave them), and it saw its fills
    x_refs = {o["user_ref"] for o in rec.records["exchange"]["orders"]}
    assert {o["user_ref"] for o in second} <= x_refs
    assert res.counts["strategy"]["intents"] > 0, "the result is the new strategy's"
    # cancel-on-disconnect: nothing of the killed strategy stays open, nothing is live at the exchange
    assert_all_closed(rec.records)
    assert res.reconciliation["open"] == 0
    assert_fills_agree(res, rec.records)
    assert res.reconciled, res.reconciliation


@pytest.mark.slow
def test_strategy_killed_without_restart():
    res, rec = go(cfg_of(kill_at=5_000, restart_strategy=False))
    facts = feed_facts()
    e, x = res.counts["engine"], res.counts["exchange"]
    assert res.errors == [], res.errors
    assert len(res.faults) == 1 and "SIGKILLed" in res.faults[0]
    assert e["strategy_lost"] == 1 and e["lost_by_death"] == 1 and e["kills"] >= 1
    assert e["strategy_back"] == 0 and e["resumed"] == 0
    assert res.counts["strategy"] == {}  # the killed strategy said nothing, and no other came
    # the feed still flows to its end: the engine never waits for a strategy
    assert e["feed"] == x["published"] == facts["frames"]
    assert e["snaps"] + e["dropped"] == facts["updates"]
    # halted mid-session, and stays halted; not one order after the halt
    halt = rec.first_halt()
    assert halt is not None and halt["engine"]["halted"] == HALT_HEARTBEAT
    assert halt["engine"]["feed"] < facts["frames"]
    assert all(t["engine"]["halted"] == HALT_HEARTBEAT for t in rec.ticks[rec.ticks.index(halt):])
    assert e["orders"] == halt["engine_after"]["orders"]
    assert_nothing_reaches_the_exchange_after(rec, halt, x, facts["frames"])
    assert e["left_open"] == 0
    assert_all_closed(rec.records)
    assert_fills_agree(res, rec.records)
    assert res.reconciled, res.reconciliation


# ------------------------------------------------------------ 4, 5. the engine or the exchange SIGKILLed
@pytest.mark.slow
def test_engine_killed():
    res, rec = go(cfg_of(kill_process="engine", kill_at=5_000))
    facts = feed_facts()
    assert res.wall_s < END_BOUND_S, f"the run took {res.wall_s:.1f} s after its engine died"
    assert any("engine" in f and "SIGKILLed" in f for f in res.faults)
    assert any(err.startswith("engine killed") for err in res.errors), res.errors
    assert any(err.startswith("strategy:") and "engine died" in err for err in res.errors), res.errors
    assert not any("did not end" in err for err in res.errors)
    assert len(res.errors) == 2, res.errors  # the exchange ended by itself, with its result
    x = res.counts["exchange"]
    assert x["engine_lost"] == 1
    assert x["published"] < facts["frames"], "the exchange went on publishing to a dead engine"
    assert res.counts["engine"] == {}
    assert not res.reconciled and res.reconciliation["ok"] is False


@pytest.mark.slow
def test_exchange_killed():
    res, rec = go(cfg_of(kill_process="exchange", kill_at=5_000))
    facts = feed_facts()
    assert res.wall_s < END_BOUND_S, f"the run took {res.wall_s:.1f} s after its exchange died"
    assert any("exchange" in f and "SIGKILLed" in f for f in res.faults)
    assert len(res.errors) == 1 and res.errors[0].startswith("exchange killed"), res.errors
    e = res.counts["engine"]
    assert e["exchange_lost"] == 1 and e["kills"] >= 1
    assert 5_000 <= e["feed"] < facts["frames"]
    assert res.counts["exchange"] == {}
    assert res.counts["strategy"]["snapshots"] > 0  # the strategy was told the session is over, and said bye
    assert any(t["engine"]["exchange_lost"] for t in rec.ticks), "the dashboard never showed the exchange lost"
    assert not res.reconciled


# ------------------------------------------------------------ 6. feed gaps
@pytest.mark.slow
def test_feed_gaps_are_counted():
    every = 1000
    res, rec = go(cfg_of(gap_every=every))
    facts = feed_facts()
    e, x = res.counts["engine"], res.counts["exchange"]
    want = expected_gaps(facts["frames"], every)
    assert want >= 10
    assert x["gaps_made"] == want
    assert e["gaps"] == x["gaps_made"]
    assert e["gap_messages"] == e["gaps"]  # one lost sequence number each
    assert e["feed"] == x["published"] == facts["frames"]  # a gap loses a number, not a message
    assert res.errors == [] and res.reconciled, res.reconciliation


# ------------------------------------------------------------ 7. the operator's kill switch
@pytest.mark.slow
def test_kill_switch(relaxed_risk):
    res, rec = go(cfg_of(kill_switch_at=6_000, risk=relaxed_risk))
    e, x, s = res.counts["engine"], res.counts["exchange"], res.counts["strategy"]
    assert res.errors == [], res.errors
    assert any("kill switch tripped" in f for f in res.faults)
    assert e["kills"] == 1
    halt = rec.first_halt()
    assert halt is not None and halt["engine"]["halted"] == HALT_MANUAL
    # after it: not one order more; every new intent refused KILL_MANUAL
    assert e["orders"] > 0
    assert e["orders"] == halt["engine_after"]["orders"], "orders were sent after the kill switch"
    assert res.counts["risk_rejects"].get("kill_manual", 0) > 0
    c = rec.records["oms"]["counters"]
    assert c["kills"] == 1
    # the strategy heard every refusal, and the halt itself (a HALTED report)
    assert s["rejects"] == e["rejects"] + c["exch_rejected"] + 1
    # every open order canceled by the switch itself, not left for the end of the session
    assert_nothing_reaches_the_exchange_after(rec, halt, x, feed_facts()["frames"])
    assert_all_closed(rec.records)
    assert res.reconciliation["open"] == 0
    assert res.reconciled, res.reconciliation


def test_kill_running_finds_nothing_when_nothing_runs():
    if _foreign_controls():
        pytest.skip("another trading system is running on this machine: kill_running would trip it")
    assert system.kill_running() == 0


@pytest.mark.slow
def test_kill_running_trips_a_running_c_strategy_system(relaxed_risk):
    """What `latencylab system kill` does, from outside the run: the C strategy's engine halts."""
    rec = Recorder()

    def trip(control):
        if _foreign_controls():
            return None  # not ours to trip
        return system.kill_running()

    rec.actions.append((lambda t: t["engine"]["feed"] >= 6_000, trip))
    res, rec = go(cfg_of(strategy="c", risk=relaxed_risk), rec)
    if rec.action_results.get(0) is None:
        pytest.skip("another trading system is running on this machine")
    assert rec.action_results[0] == 1
    e = res.counts["engine"]
    assert e["kills"] == 1
    halt = rec.first_halt()
    assert halt is not None and halt["engine"]["halted"] == HALT_MANUAL
    assert e["orders"] == halt["engine_after"]["orders"]
    assert res.counts["risk_rejects"].get("kill_manual", 0) > 0
    assert_all_closed(rec.records)
    assert res.errors == [] and res.reconciled, res.reconciliation


# ------------------------------------------------------------ no fault: nothing must look like one
@pytest.mark.slow
def test_slow_feed_does_not_lose_a_live_strategy():
    res, rec = go(cfg_of(messages=250, rate=200.0))
    e = res.counts["engine"]
    assert res.errors == [] and res.reconciled, (res.errors, res.reconciliation)
    assert res.counts["strategy"]["snapshots"] == e["snaps"] > 0  # it was there, reading every snapshot
    assert e["strategy_lost"] == 0, f"the engine lost a live strategy {e['strategy_lost']} time(s)"
    assert e["kills"] == 0


def _burn(cpu: int) -> None:
    os.sched_setaffinity(0, {cpu})
    while True:
        pass


@pytest.mark.slow
def test_feed_rate_holds_with_a_busy_neighbour_on_the_exchange_core():
    import multiprocessing as mp

    cfg = cfg_of(messages=4_000, timeout=5.0)
    cpu = replace(cfg, cpus=system.machine.cpu_pair()).cpu_of("exchange")
    burner = mp.get_context("spawn").Process(target=_burn, args=(cpu,), daemon=True)
    burner.start()
    try:
        res, rec = go(cfg)
    finally:
        burner.kill()
        burner.join(5)
    x = res.counts["exchange"]
    assert res.errors == [], (res.errors, x.get("published"))
    # 0.2 s of feed at the asked rate; half a core left to the exchange and the engine may stretch it, not
    # 25-fold (the 5 s timeout)
    assert x["published"] == feed_facts(4_000)["frames"]
    assert res.reconciled, res.reconciliation


# ------------------------------------------------------------ 8. risk files
@pytest.mark.slow
def test_risk_file_max_order_qty_refuses_every_order(tmp_path):
    risk = tmp_path / "tiny.toml"
    risk.write_text("max_order_qty = 10  # the strategy orders 100 shares\n")
    res, rec = go(cfg_of(messages=10_000, risk=str(risk)))
    e, x, s = res.counts["engine"], res.counts["exchange"], res.counts["strategy"]
    assert res.errors == [], res.errors
    c = rec.records["oms"]["counters"]
    by_reason = res.counts["risk_rejects"]
    # every order intent refused MAX_QTY (the first check it fails)
    assert c["intents"] == c["rejected"] == by_reason["max_qty"] > 0
    assert c["sent"] == 0
    # besides: only cancels of those orders, sent before their rejection reached the strategy (a race)
    others = {k: n for k, n in by_reason.items() if k != "max_qty"}
    assert set(others) <= {"unknown_order", "order_closed"} and sum(others.values()) == c["cancel_rejected"]
    assert sum(by_reason.values()) == e["rejects"]
    assert e["orders"] == e["cancels"] == e["fills"] == 0
    assert x["orders"] == 0 and rec.records["exchange"]["orders"] == []
    assert rec.records["oms"]["orders"] == [] and res.reconciliation["orders"] == 0
    assert s["rejects"] == e["rejects"]
    assert len(res.samples["tick_to_order"]) == 0 and len(res.samples["risk"]) == c["intents"]
    assert res.reconciled


@pytest.mark.parametrize("text, match", [
    ("max_order_qty = 10\nmax_ordr_notional = 5\n", "unknown risk limit.*max_ordr_notional"),
    ('collar_ref = "last"\n', "collar_ref"),
    ("max_order_qty = -1\n", "max_order_qty"),
])
def test_bad_risk_file_refused_before_anything_starts(tmp_path, text, match):
    risk = tmp_path / "bad.toml"
    risk.write_text(text)
    cfg = cfg_of(risk=str(risk))
    with pytest.raises(ValueError, match=match):
        system.check_config(cfg)
    before = set(glob.glob(str(SHM / "latencylab-*")))
    with pytest.raises(ValueError, match=match):
        system.run(cfg)
    assert set(glob.glob(str(SHM / "latencylab-*"))) <= before
    assert _children() == []


def test_missing_risk_file_refused(tmp_path):
    with pytest.raises(ValueError, match="risk file .*nope.toml not found"):
        system.check_config(cfg_of(risk=str(tmp_path / "nope.toml")))


# ------------------------------------------------------------ 9. bad configs
@pytest.mark.parametrize("change, match", [
    (dict(strategy="java"), "strategy must be"),
    (dict(model="torch"), "model must be"),
    (dict(model_kind="forest"), "model_kind must be"),
    (dict(wait="sleep"), "wait must be one of"),
    (dict(transport="pigeon"), "transport.*'pigeon'"),
    (dict(messages=0), "messages must be"),
    (dict(messages=-5), "messages must be"),
    (dict(messages=100_000_001), "messages must be"),
    (dict(messages=1.5), "messages must be"),
    (dict(rate=-1.0), "rate must be"),
    (dict(rate=math.nan), "rate must be"),
    (dict(itch="/nonexistent/feed.itch"), "ITCH file /nonexistent/feed.itch not found"),
    (dict(kill_process="supervisor"), "kill_process must be"),
    (dict(exchange_wait="nap"), "exchange_wait must be"),
    (dict(strategy="c", kill_at=100), "the C strategy runs inside the engine"),
    (dict(placement="both"), "placement must be"),
    (dict(strategy="c", placement="strategy-alone"), "placement strategy-alone needs the Python strategy"),
], ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else "")
def test_bad_config_raises_value_error(change, match):
    cfg = replace(cfg_of(), **change)
    with pytest.raises(ValueError, match=match):
        system.check_config(cfg)
    with pytest.raises(ValueError, match=match):  # and run refuses it before creating anything
        system.run(cfg)


def test_good_configs_pass_check():
    for kw in (dict(), dict(strategy="c"), dict(model="c", wait="spin"), dict(kill_process="engine", kill_at=5),
               dict(rate=0.0), dict(messages=1), dict(placement="engine-alone"), dict(strategy="c", wait="auto")):
        system.check_config(cfg_of(**kw))


def test_samples_out_of_range_refused_by_check_config():
    with pytest.raises(ValueError, match="samples"):
        system.check_config(cfg_of(samples=(1 << 26) + 1))


@pytest.mark.slow
def test_failed_start_leaves_the_supervisor_as_it_was(monkeypatch):
    """A child that cannot start raises out of run(), and the supervisor's CPUs are given back."""
    before = os.sched_getaffinity(0)

    def refuse(self, which, *extra):
        raise RuntimeError(f"the {which} process did not start: refused by the test")

    monkeypatch.setattr(system.System, "spawn", refuse)
    try:
        with pytest.raises(RuntimeError, match="engine process did not start"):
            system.run(cfg_of(messages=1_000))
        assert os.sched_getaffinity(0) == before
    finally:  # the rest of the session must not inherit a bug: every thread back (run() pins them all)
        for tid in os.listdir("/proc/self/task"):
            try:
                os.sched_setaffinity(int(tid), before)
            except OSError:
                pass


@pytest.mark.slow
def test_malformed_itch_file_ends_the_run_with_the_exchange_error(tmp_path):
    itch = tmp_path / "bad.itch"
    itch.write_bytes(b"\x00\x05hello" * 10)  # framed, but no ITCH message type
    res, rec = go(cfg_of(itch=str(itch)))
    assert res.wall_s < END_BOUND_S
    assert any(err.startswith("exchange:") and "unknown message type" in err for err in res.errors), res.errors
    assert res.counts["engine"]["feed"] == res.counts["engine"]["feed_errors"] == 10
    assert not res.reconciled


# ------------------------------------------------------------ 10. the CLI
@pytest.mark.slow
def test_cli_system_runs_and_reconciles(capsys):
    from labs import cli

    rc = cli.main(["system", "--messages", "10000", "--rate", "20000"])
    out = capsys.readouterr().out
    assert rc == 0, out[-3000:]
    assert re.search(r"(?<!NOT )reconciled: [\d,]+ orders", out), out[-3000:]
    assert "NOT reconciled" not in out and "error:" not in out
    assert "feed messages published" in out and "tick_to_signal" in out


def test_cli_duration_needs_rate(capsys):
    from labs import cli

    assert cli.main(["system", "--duration", "1"]) == 2
    assert "--rate" in capsys.readouterr().out


def test_cli_refuses_a_bad_config_before_starting(capsys):
    from labs import cli

    assert cli.main(["system", "--messages", "0"]) == 2
    assert "messages must be" in capsys.readouterr().out
    assert _our_segments() == []
