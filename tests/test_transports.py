"""Lab 7's transports (labs/transports.py): the rings, the bridge, and the
peers through the bridge, each between a fake engine (this process, on lab
3's rings A, B, C, as the C engine uses them) and a strategy side.

For every kind available here: every snapshot, report and intent arrives
exactly once, in order, byte-identical; the end of the session comes through;
a full peer drops snapshots and says how many; a dead bridge is noticed by
the strategy side; and nothing is left behind in /dev/shm, the run's temp dir
or iceoryx2's directories."""

from __future__ import annotations

import glob
import multiprocessing as mp
import os
import queue
import signal
import time

import pytest

from conftest import RUN_TAG, shm_path
from labs import machine
from labs import transports as tp
from pyimpl import spsc_ring
from pyimpl import trading_system as ts

cts = pytest.importorskip("cimpl.trading_system")

SPAWN = mp.get_context("spawn")
N = 2000  # snapshots per session (and N // 2 reports before the bye, 3 after)
WINDOW = 32  # snapshots the fake engine lets be on the way before it wants their intents back
START = 30.0  # a child's start (spawn, imports)
_count = iter(range(1 << 30))

pytestmark = pytest.mark.cimpl


def _kinds(*kinds):
    return [pytest.param(k, marks=() if tp.available(k) else pytest.mark.skip(
        reason=f"{k}: {_skip_reason(k)}")) for k in kinds]


def _skip_reason(kind):
    try:
        tp.check_available(kind)
    except tp.Skip as e:
        return str(e)
    return ""


ALL = _kinds(*tp.KINDS)
BRIDGED = _kinds("bridge", "queue", "zmq", "iceoryx2")


def _cpus():
    pair = machine.cpu_pair()
    if pair is None:
        pytest.skip("needs two usable CPUs")
    return pair


# ------------------------------------------------------------ messages
def _snapshot(i: int) -> bytes:
    feats = tuple(float(i * 10 + k) for k in range(9))
    return ts.pack_snapshot(ts.Snapshot(i + 1, 1000 + i, 2000 + i, 1 + i % 7, 1, 0, 100 + i, 101 + i, 5, 6, feats))


def _report(i: int) -> bytes:
    r = ts.pack_report(ts.Report(ts.REPORT_EXECUTED, ts.BUY, 1 + i % 7, i + 1, 100 + i, 10, 0, 0, i, 3000 + i))
    return r + bytes(tp.MSG_BYTES["report"] - len(r))  # what the ring gives: the whole 56-byte message


def _intent(kind: int, seq: int = 0, ppm: int = 0) -> bytes:
    return ts.pack_intent(ts.Intent(kind, seq=seq, sent_ns=time.monotonic_ns(), signal_ppm=ppm))


# ------------------------------------------------------------ leftovers
def _iox_files() -> set[str]:
    files = set(glob.glob("/dev/shm/iox2_*")) | set(glob.glob("/tmp/iceoryx2/**", recursive=True))
    # iceoryx2's machine-wide management segment and its directories stay for every user: not a run's
    return {f for f in files if not f.endswith("global_mgmt") and not os.path.isdir(f)}


class Run:
    """One run's engine-side segments (control, rings A, B, C), the
    transport's Prepared, and the check that all of it is gone afterwards."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        base = f"{RUN_TAG}tp{next(_count)}"
        names = {k: f"{base}-{k}" for k in ("control", "snap", "intent", "report")}
        self.base = base
        self.iox_before = _iox_files()
        self.segments = [cts.Control.create(names["control"])]
        for k, (slot, cap) in tp.RING_GEOMETRY.items():
            self.segments.append(spsc_ring.create_segment(names[k], cap, slot, "seq-slot"))
        self.control = self.segments[0]
        self.prepared = tp.prepare(kind, names, SPAWN)
        self.names = self.prepared.names
        self.procs: list = []
        self.ends: list = []

    def engine(self):
        """The fake engine's ends: ring A and C producer, ring B consumer, the strategy's doorbell."""
        a = spsc_ring.Ring.attach(self.names["snap"], "producer")
        c = spsc_ring.Ring.attach(self.names["report"], "producer")
        b = spsc_ring.Ring.attach(self.names["intent"], "consumer")
        self.ends += [a, c, b]
        return a, c, b, cts.Bell(self.control)

    def spawn(self, target, *args, cpu: int):
        ready, results = SPAWN.Event(), SPAWN.Queue()
        p = SPAWN.Process(target=target, args=(*args, cpu, ready, results), daemon=True)
        p.start()
        self.procs.append((p, results))
        deadline = time.monotonic() + START
        while not ready.wait(0.05):
            if not p.is_alive() or time.monotonic() > deadline:
                raise AssertionError(f"{target.__name__} did not start: {_drain(results)}")
        return p, results

    def close(self) -> None:
        for e in self.ends:
            e.close()
        for p, results in self.procs:
            if p.is_alive():
                p.kill()
            p.join(5)
            results.close()
            results.cancel_join_thread()
        self.prepared.close()
        for seg in self.segments:
            try:
                seg.unlink()
            except FileNotFoundError:
                pass
            seg.close()

    def leftovers(self) -> list[str]:
        left = sorted(glob.glob(shm_path(self.base) + "*"))
        if "dir" in self.names and os.path.exists(self.names["dir"]):
            left.append(self.names["dir"])
        left += sorted(_iox_files() - self.iox_before)
        return left


@pytest.fixture
def run(request):
    runs = []

    def make(kind):
        r = Run(kind)
        runs.append(r)
        return r

    yield make
    for r in runs:
        r.close()
        assert r.leftovers() == [], f"{r.kind}: left behind"


def _drain(results, timeout: float = 0.5):
    try:
        return results.get(timeout=timeout)
    except queue.Empty:
        return None


def _result(p, results, timeout: float = 20.0):
    try:
        which, _pid, status, value = results.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"no result (exit code {p.exitcode})") from None
    assert status == "ok", f"{which}: {value}"
    p.join(10)
    assert p.exitcode == 0
    return value


# ------------------------------------------------------------ the strategy's process
def _strategy_child(kind, names, cpu, ready, results):
    """A strategy that answers every snapshot with one intent carrying its seq,
    says bye at the end of the session and drains the last reports."""
    os.sched_setaffinity(0, {cpu})

    def body():
        snaps, reports, sent = [], [], []
        with tp.open_strategy_side(kind, names) as tr:
            assert tr.kind == kind and tr.impl == tp.IMPLS[kind]

            def send(m):
                tr.send_intent(m)
                sent.append(m)

            ready.set()
            send(_intent(ts.INTENT_HEARTBEAT))  # hello
            wakes = 0
            while True:
                m = tr.pop_report()
                while m is not None:
                    reports.append(m)
                    m = tr.pop_report()
                m = tr.pop_snapshot()
                if m is not None:
                    assert len(m) == ts.SNAPSHOT.size
                    snaps.append(m)
                    send(_intent(ts.INTENT_SIGNAL, seq=ts.SNAPSHOT.unpack_from(m)[0], ppm=len(snaps)))
                    continue
                if tr.session_over():
                    break
                if tr.peer_dead():
                    raise RuntimeError("the other side died")
                wakes += tr.wait(0.005)
            send(_intent(ts.INTENT_BYE))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                m = tr.pop_report()
                if m is None:
                    if tr.reports_over():
                        break
                    tr.wait(0.005)
                    continue
                reports.append(m)
            else:
                raise RuntimeError("the end of the reports never came")
        return {"snaps": b"".join(snaps), "n_snaps": len(snaps), "reports": b"".join(reports),
                "n_reports": len(reports), "sent": b"".join(sent), "wakes": wakes}

    try:
        results.put(("strategy", os.getpid(), "ok", body()))
    except BaseException as e:
        results.put(("strategy", os.getpid(), "error", f"{type(e).__name__}: {e}"))
        raise SystemExit(1) from None


# ------------------------------------------------------------ the fake engine
def _pop_wait(ring, timeout: float = 10.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        m = ring.pop()
        if m is not None:
            return m
        if time.monotonic() > deadline:
            raise AssertionError(f"no intent within {timeout} s")
        os.sched_yield()


def _engine_session(a, c, b, bell, n):
    """What the C engine does to rings A, B, C: snapshots and reports out
    (ringing the doorbell after each push), intents in; at the end of the feed
    it closes A, waits for the bye, sends the last reports, closes C."""
    intents = [_pop_wait(b, START)]  # the hello: the strategy side is up
    snaps, reports = [], []
    for i in range(n):
        while i - (len(intents) - 1) >= WINDOW:  # at most WINDOW on the way: nothing may be dropped
            intents.append(_pop_wait(b))
        s = _snapshot(i)
        a.push_wait(s, 5.0)
        snaps.append(s)
        if i % 2 == 0:
            r = _report(i)
            c.push_wait(r, 5.0)
            reports.append(r)
        bell.ring()
    a.close()  # the end of ring A
    bell.ring()
    while True:
        m = _pop_wait(b)
        intents.append(m)
        if ts.unpack_intent(m).kind == ts.INTENT_BYE:
            break
    for i in range(n, n + 3):  # the reports of the session's end (the engine cancels what is open)
        r = _report(i)
        c.push_wait(r, 5.0)
        reports.append(r)
    c.close()
    bell.ring()
    return snaps, reports, intents


# ------------------------------------------------------------ the tests
@pytest.mark.parametrize("kind", ALL)
def test_every_message_once_in_order_and_the_end_comes_through(run, kind):
    cpu_s, cpu_e = _cpus()
    r = run(kind)
    a, c, b, bell = r.engine()
    bridge = r.spawn(tp.bridge_main, kind, r.names, cpu=cpu_s) if kind != "ring" else None
    strat = r.spawn(_strategy_child, kind, r.names, cpu=cpu_s)
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu_e})
    try:
        snaps, reports, intents = _engine_session(a, c, b, bell, N)
    finally:
        os.sched_setaffinity(0, old)
    got = _result(*strat)
    assert got["n_snaps"] == N and got["snaps"] == b"".join(snaps)  # each once, in order, byte-identical
    assert got["n_reports"] == len(reports) == N // 2 + 3 and got["reports"] == b"".join(reports)
    assert len(intents) == N + 2 and b"".join(intents) == got["sent"]
    kinds = [ts.unpack_intent(m).kind for m in intents]
    assert kinds[0] == ts.INTENT_HEARTBEAT and kinds[-1] == ts.INTENT_BYE
    assert [ts.unpack_intent(m).seq for m in intents[1:-1]] == list(range(1, N + 1))
    if bridge is not None:
        res = _result(*bridge)
        cnt = res["counts"]
        assert (cnt["snap_forwarded"], cnt["snap_dropped"], cnt["report_forwarded"], cnt["intent_forwarded"]) == \
            (N, 0, len(reports), N + 2)
        assert cnt["end_snap"] and cnt["end_report"] and not res["stopped"]
        assert res["impl"] == tp.IMPLS[kind]
        for k, want in (("bridge_snap", N), ("bridge_report", len(reports)), ("bridge_intent", N + 2)):
            lat = res["samples"][k]
            assert lat.dtype.name == "int64" and len(lat) == want and (lat >= 0).all(), k


@pytest.mark.parametrize("kind", BRIDGED)
def test_a_full_peer_drops_snapshots_and_says_how_many(run, kind):
    """The strategy reads nothing while the engine sends M snapshots: the
    bridge never waits on ring A, it drops what the peer has no room for and
    adds the drops to the next snapshot that gets through, as the engine does.
    Reports and intents are never dropped."""
    cpu_s, cpu_e = _cpus()
    from labs.system import Config

    r = run(kind)
    a, c, b, bell = r.engine()
    # spawned as the supervisor would: with the run's Config (its transport, samples, timeout)
    bridge = r.spawn(tp.bridge_main, Config(transport=kind, samples=4096, timeout=60.0), r.names, cpu=cpu_s)
    m_snaps = 3 * tp.CAPACITY if kind != "zmq" else 12 * tp.CAPACITY  # zmq: the kernel's socket buffer holds more
    with tp.open_strategy_side(kind, r.names) as tr:
        tr.send_intent(_intent(ts.INTENT_HEARTBEAT))
        _pop_wait(b, START)
        for i in range(m_snaps):
            a.push_wait(_snapshot(i), 5.0)
        bell.ring()
        reps = [_report(i) for i in range(5)]
        for rep in reps:
            c.push_wait(rep, 5.0)
        deadline = time.monotonic() + 10
        while len(a) and time.monotonic() < deadline:  # the bridge took them all (and dropped what did not fit)
            time.sleep(0.005)
        time.sleep(0.05)
        a.close()
        bell.ring()
        seqs, dropped_seen, got_reports = [], 0, []
        deadline = time.monotonic() + 10
        while not tr.session_over():
            assert time.monotonic() < deadline, "the end of ring A never came"
            m = tr.pop_snapshot()
            if m is None:
                tr.wait(0.005)
                continue
            s = ts.unpack_snapshot(m)
            seqs.append(s.seq)
            dropped_seen += s.dropped
        while len(got_reports) < len(reps):
            m = tr.pop_report()
            assert m is not None or time.monotonic() < deadline
            if m is not None:
                got_reports.append(m)
        assert got_reports == reps
        tr.send_intent(_intent(ts.INTENT_BYE))
        assert ts.unpack_intent(_pop_wait(b)).kind == ts.INTENT_BYE
        c.close()
        bell.ring()
        while not tr.reports_over():
            assert tr.pop_report() is None
            assert time.monotonic() < deadline
            tr.wait(0.005)
    res = _result(*bridge)
    cnt = res["counts"]
    assert seqs == sorted(set(seqs)) and len(seqs) == cnt["snap_forwarded"]
    assert cnt["snap_forwarded"] + cnt["snap_dropped"] == m_snaps
    assert cnt["snap_dropped"] > 0, "the peer never filled"
    # what was dropped is what the snapshots that got through say; the last drops have no snapshot after them
    tail = m_snaps - seqs[-1]
    assert dropped_seen + tail == cnt["snap_dropped"]
    assert cnt["report_forwarded"] == len(reps) and cnt["intent_forwarded"] == 2


@pytest.mark.parametrize("kind", BRIDGED)
def test_a_dead_bridge_is_noticed(run, kind):
    cpu_s, _ = _cpus()
    r = run(kind)
    a, c, b, bell = r.engine()
    p, _results = r.spawn(tp.bridge_main, kind, r.names, cpu=cpu_s)
    with tp.open_strategy_side(kind, r.names) as tr:
        tr.send_intent(_intent(ts.INTENT_HEARTBEAT))
        _pop_wait(b, START)
        a.push_wait(_snapshot(0), 1.0)
        bell.ring()
        deadline = time.monotonic() + 5
        m = None
        while m is None and time.monotonic() < deadline:
            m = tr.pop_snapshot()
            tr.wait(0.005) if m is None else None
        assert m == _snapshot(0)
        assert not tr.peer_dead()
        os.kill(p.pid, signal.SIGKILL)
        p.join(5)
        t0 = time.monotonic()
        while not tr.peer_dead():
            assert time.monotonic() - t0 < 2.0, "a dead bridge went unnoticed"
            time.sleep(0.001)
        assert not tr.session_over()
        with pytest.raises(tp.TransportError, match=f"transport {kind}"):
            for _ in range(20 * tp.CAPACITY):  # the channel fills; then the send must give up, and say why
                tr.send_intent(_intent(ts.INTENT_SIGNAL))
        assert time.monotonic() - t0 < tp.SEND_TIMEOUT + 2
        assert tr.reports_over() or (time.sleep(0.2) or tr.reports_over())


def test_kinds_and_refusals(run):
    assert set(tp.IMPLS) == set(tp.KINDS)
    with pytest.raises(ValueError, match="transport must be one of"):
        tp.check_available("carrier-pigeon")
    with pytest.raises(ValueError, match="a bridge carries"):
        tp.Bridge("ring", {})
    r = run("queue")
    with pytest.raises(tp.TransportError, match="no bridge is running"):
        old = tp.OPEN_TIMEOUT
        tp.OPEN_TIMEOUT = 0.05
        try:
            tp.open_strategy_side("queue", r.names)
        finally:
            tp.OPEN_TIMEOUT = old


@pytest.mark.parametrize("kind", BRIDGED)
def test_a_killed_bridge_leaves_nothing_behind(run, kind):
    """SIGKILLed before any strategy came: its socket files, iceoryx2 nodes
    and services, rings and lock are removed by Prepared.close (the fixture checks)."""
    cpu_s, _ = _cpus()
    r = run(kind)
    r.engine()
    p, _results = r.spawn(tp.bridge_main, kind, r.names, cpu=cpu_s)
    os.kill(p.pid, signal.SIGKILL)
    p.join(5)
