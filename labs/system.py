"""Lab 7: the trading system as three OS processes, started and supervised here.

    exchange  C: the matcher and a paced ITCH publisher (cimpl/exchange.c, trading_system.c)
    engine    C: feed handler, lab 5's book, lab 6's features, the order manager and its risk checks
    strategy  Python: lab 6's model (pyimpl.trading_system.SignalStrategy); or the C strategy, inside the engine

`run(Config)` creates the run's segments (a control block and six lab-3
rings, see cimpl/ts_layout.h), spawns the processes, watches them (the
dashboard, or nothing), injects the faults it is asked for, stops them,
collects what each measured, reconciles the engine's records with the
exchange's, and removes every segment, whatever happened.  `latencylab
system` and lab 7's workloads both call it.

Two CPUs, three processes: one core has to be shared, and who shares it is
`Config.placement`.  With the Python strategy the default gives the strategy
a core of its own, where it spins ("strategy-alone"); the engine and the
exchange share the other one, the exchange asleep on its doorbell between
its send times and the engine yielding when idle, so the exchange runs the
moment it wakes.  With the C strategy (inside the engine) the exchange takes
the other core and spins.  The strategy's wait (`Config.wait`): "spin" (poll,
never yield), "yield" (sched_yield between polls), "futex" (sleep on the
doorbell at once), "adaptive" (a short spin, then yields, then the futex: the
Disruptor's phased back-off).  Lab 7's guide measures each choice.

Every child sets PR_SET_PDEATHSIG: if this process is killed, so are they,
and `latencylab clean` finds their segments unheld.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing as mp
import os
import queue
import signal
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from pyimpl import trading_system as ts

from . import machine

RINGS = {  # name -> (slot size, capacity): the wires of cimpl/ts_layout.h
    "feed": (ts.SLOTS["feed"], 4096),
    "snap": (ts.SLOTS["snap"], 1024),
    "intent": (ts.SLOTS["intent"], 1024),
    "report": (ts.SLOTS["report"], 1024),
    "orders": (ts.SLOTS["wire"], 1024),
    "replies": (ts.SLOTS["wire"], 1024),
}
STRATEGY_WAITS = ("auto", "spin", "yield", "futex", "adaptive")
START_TIMEOUT = 60.0  # a child's start: imports, the editable rebuild check, building the feed


@dataclass(frozen=True)
class Config:
    strategy: str = "python"  # "python" (its own process) or "c" (inside the engine)
    model: str = "numpy"  # the Python strategy's model: "numpy" (pyimpl) or "c" (cimpl, through ctypes)
    model_kind: str = "mlp"  # lab 6's committed models: "logistic" or "mlp"
    transport: str = "ring"
    messages: int = 200_000  # order-flow messages of the simulated feed
    seed: int = 0
    symbols: int = 8
    rate: float = 0.0  # feed messages per second; 0: as fast as the engine takes them
    itch: str | None = None  # a framed ITCH file instead of the simulator
    risk: str | None = None  # a risk-limits TOML (default: labs/07-trading-system/risk.toml)
    wait: str = "auto"  # the strategy's; auto: spin on a core of its own, adaptive on a shared one
    heartbeat_ms: float = 50.0  # the strategy's heartbeat period when idle; the engine's lapse limit is 4x
    timeout: float = 120.0  # the whole run, start to reconciliation
    # faults, injected by the supervisor once the engine has read `*_at` feed messages (0: never)
    kill_process: str = "strategy"  # which process kill_at SIGKILLs: "strategy", "engine" or "exchange"
    kill_at: int = 0
    restart_strategy: bool = True  # a killed strategy is restarted once the engine has noticed
    kill_switch_at: int = 0  # the operator's kill switch (what `latencylab system kill` does)
    samples: int = 1 << 20  # latency samples kept per figure
    exchange_wait: str = "auto"  # "sleep" / "yield" / "spin"; auto: spin when its core is its own (C strategy), else sleep
    gap_every: int = 0  # a fault: the exchange skips a feed sequence number every this many messages
    cpus: tuple[int, int] | None = None  # the two CPUs (a, b); default machine.cpu_pair()
    # who shares a core with whom (two CPUs, three processes):
    #   "strategy-alone"  a: the Python strategy; b: the engine and the exchange (which sleeps between sends)
    #   "engine-alone"    a: the exchange and the strategy; b: the engine
    #   "auto"            strategy-alone with the Python strategy; engine-alone with the C one (a: the exchange)
    placement: str = "auto"


    def exchange_wait_for(self) -> str:
        """The exchange spins only on a core of its own (the C strategy's runs); else it sleeps on its doorbell."""
        if self.exchange_wait != "auto":
            return self.exchange_wait
        return "spin" if self.strategy == "c" else "sleep"

    def wait_for(self) -> str:
        """auto: spin on a core of its own; adaptive on a shared one (a bridge shares the strategy's)."""
        if self.wait != "auto":
            return self.wait
        return "spin" if self.placement_for() == "strategy-alone" and self.transport == "ring" else "adaptive"

    def placement_for(self) -> str:
        if self.placement != "auto":
            return self.placement
        return "strategy-alone" if self.strategy == "python" else "engine-alone"

    def cpu_of(self, which: str) -> int:
        a, b = self.cpus
        if which == "engine":
            return b
        if which in ("strategy", "bridge"):  # a peer transport's bridge shares the strategy's core
            return a
        if which == "exchange":
            return b if self.placement_for() == "strategy-alone" else a
        # the supervisor (and its dashboard): with the engine and the exchange if the strategy has a core alone
        return b if self.placement_for() == "strategy-alone" else a


@dataclass
class Result:
    config: Config
    counts: dict = field(default_factory=dict)
    samples: dict = field(default_factory=dict)  # figure -> np.ndarray of ns
    reconciliation: dict = field(default_factory=dict)
    records: dict = field(default_factory=dict)  # "oms", "exchange": each side's orders, fills, positions (lab 8 reads them)
    faults: list[str] = field(default_factory=list)  # what went wrong and was survived, in order
    errors: list[str] = field(default_factory=list)  # what went wrong and was not
    wall_s: float = 0.0

    @property
    def reconciled(self) -> bool:
        return bool(self.reconciliation.get("ok")) and not self.errors


def check_config(cfg: Config) -> None:
    """ValueError naming what is wrong with a Config (before anything starts)."""
    if cfg.strategy not in ("python", "c"):
        raise ValueError(f"strategy must be 'python' or 'c', got {cfg.strategy!r}")
    if cfg.model not in ("numpy", "c"):
        raise ValueError(f"model must be 'numpy' or 'c', got {cfg.model!r}")
    if cfg.model_kind not in ("logistic", "mlp"):
        raise ValueError(f"model_kind must be 'logistic' or 'mlp', got {cfg.model_kind!r}")
    if cfg.wait not in STRATEGY_WAITS:
        raise ValueError(f"wait must be one of {', '.join(STRATEGY_WAITS)}, got {cfg.wait!r}")
    from . import transports

    if cfg.transport not in transports.KINDS:
        raise ValueError(f"transport must be one of {', '.join(transports.KINDS)}, got {cfg.transport!r}")
    if cfg.transport != "ring" and cfg.strategy != "python":
        raise ValueError("a peer transport carries the Python strategy's traffic: use strategy 'python'")
    transports.check_available(cfg.transport)  # Skip, with the reason, where its package is not installed
    if not isinstance(cfg.messages, int) or not 0 < cfg.messages <= 100_000_000:
        raise ValueError(f"messages must be in 1..100,000,000, got {cfg.messages!r}")
    if not isinstance(cfg.samples, int) or not 1 <= cfg.samples <= 1 << 26:
        raise ValueError(f"samples must be in 1..{1 << 26} (latency samples kept per figure), got {cfg.samples!r}")
    for name in ("kill_at", "kill_switch_at", "gap_every"):
        v = getattr(cfg, name)
        if not isinstance(v, int) or not 0 <= v < 1 << 32:
            raise ValueError(f"{name} must be a count of feed messages >= 0 (0: never), got {v!r}")
    if not cfg.heartbeat_ms > 0 or not cfg.timeout > 0:
        raise ValueError(f"heartbeat_ms and timeout must be > 0, got {cfg.heartbeat_ms!r}, {cfg.timeout!r}")
    if not cfg.rate >= 0:
        raise ValueError(f"rate must be >= 0 (0: as fast as possible), got {cfg.rate!r}")
    if cfg.itch is not None and not Path(cfg.itch).is_file():
        raise ValueError(f"ITCH file {cfg.itch} not found")
    if cfg.risk is not None:
        from pyimpl.oms import RiskLimits

        if not Path(cfg.risk).is_file():
            raise ValueError(f"risk file {cfg.risk} not found")
        RiskLimits.from_toml(cfg.risk)  # a bad limit is refused here, not in the engine's process
    if cfg.placement not in ("auto", "strategy-alone", "engine-alone"):
        raise ValueError(f"placement must be auto, strategy-alone or engine-alone, got {cfg.placement!r}")
    if cfg.placement == "strategy-alone" and cfg.strategy == "c":
        raise ValueError("placement strategy-alone needs the Python strategy (the C one runs inside the engine)")
    if cfg.exchange_wait not in ("auto", "sleep", "yield", "spin"):
        raise ValueError(f"exchange_wait must be auto, sleep, yield or spin, got {cfg.exchange_wait!r}")
    if cfg.kill_process not in ("strategy", "engine", "exchange"):
        raise ValueError(f"kill_process must be strategy, engine or exchange, got {cfg.kill_process!r}")
    if cfg.kill_at and cfg.kill_process == "strategy" and cfg.strategy != "python":
        raise ValueError("the C strategy runs inside the engine: kill the strategy's process with strategy 'python'")


def config_dict(cfg: Config) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()}


def kill_running() -> int:
    """Trip the kill switch of every trading system running on this machine
    (its control segment in /dev/shm); how many were found."""
    from cimpl import trading_system as cts

    n = 0
    for path in sorted(Path("/dev/shm").glob("latencylab-ts-*-control")):
        try:
            ctl = cts.Control.attach(path.name.removeprefix("latencylab-"))
        except (OSError, ValueError):
            continue
        ctl.kill()
        ctl.close()
        n += 1
    return n


def _names(tag: str) -> dict[str, str]:
    return {k: f"ts-{tag}-{k}" for k in ("control", *RINGS)}


# ------------------------------------------------------------ the children
def _child_setup(cpu: int) -> None:
    import faulthandler

    faulthandler.enable()  # a child that crashes in C says where, in Python terms, on its stderr
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the supervisor
    libc.prctl(29, 1)  # PR_SET_TIMERSLACK 1 ns: a futex sleep with a timeout ends on time, not up to 50 us late
    os.sched_setaffinity(0, {cpu})


def sched_now() -> dict:
    """This process's scheduler facts (Linux /proc): ns on a CPU, ns waiting on a run queue (ready but not
    running: preempted, or woken and not yet on its core), and how often it was preempted."""
    try:
        run_ns, wait_ns, _ = (int(x) for x in open("/proc/self/schedstat").read().split())
        status = open("/proc/self/status").read()
        invol = int(status.split("nonvoluntary_ctxt_switches:")[1].split()[0])
        vol = int(status.split("\nvoluntary_ctxt_switches:")[1].split()[0])
        return {"run_ns": run_ns, "wait_ns": wait_ns, "preempted": invol, "yielded_or_slept": vol}
    except (OSError, IndexError, ValueError):
        return {}


def _sched_delta(before: dict, after: dict) -> dict:
    return {k: after[k] - before[k] for k in before if k in after}


def _run_child(which: str, fn, results) -> None:
    try:
        before = sched_now()
        value = fn()
        if isinstance(value, dict):  # what the scheduler did to this process while it ran: the tails' witness
            value["sched"] = _sched_delta(before, sched_now())
        results.put((which, os.getpid(), "ok", value))
    except BaseException as e:  # report, never die silently: the supervisor would wait for nothing
        results.put((which, os.getpid(), "error", f"{type(e).__name__}: {e}"))
        raise SystemExit(3 if isinstance(e, EngineDied) else 1) from None


def _feed_bytes(cfg: Config) -> bytes:
    if cfg.itch:
        return Path(cfg.itch).read_bytes()
    from .feed import simulate

    return simulate(cfg.messages, cfg.seed, cfg.symbols)


def exchange_main(cfg: Config, names: dict, cpu: int, ready, results) -> None:
    _child_setup(cpu)
    from cimpl import trading_system as cts

    def body():
        feed = _feed_bytes(cfg)
        with cts.ExchangeProcess(names, feed, cfg) as ex:
            ready.set()
            return ex.run()

    _run_child("exchange", body, results)


def engine_main(cfg: Config, names: dict, cpu: int, ready, results) -> None:
    _child_setup(cpu)
    from cimpl import trading_system as cts

    def body():
        with cts.EngineProcess(names, cfg) as eng:
            ready.set()
            return eng.run()

    _run_child("engine", body, results)


def strategy_main(cfg: Config, names: dict, cpu: int, ready, results, incarnation: int = 0) -> None:
    _child_setup(cpu)

    def body():
        with StrategyProcess(names, cfg, incarnation) as sp:
            ready.set()
            return sp.run()

    _run_child("strategy", body, results)


class EngineDied(RuntimeError):
    """The engine is gone: the strategy has nobody to trade through."""


class StrategyProcess:
    """The Python strategy's process: its transport's ends (labs/transports.py:
    lab 3's pure-Python rings A and C in and B out, or a peer behind the
    bridge), the strategy class of pyimpl.trading_system, the wait policy.
    On the rings only the doorbell's sleep is C (cimpl.trading_system.Bell)."""

    # the adaptive wait, in ns of idleness: poll, then poll and sched_yield, then sleep (the doorbell, or the
    # peer's own wait).  The spin is short on purpose: on a shared core a spinning strategy keeps the process
    # it shares with off it until the scheduler preempts (milliseconds)
    SPIN_NS, YIELD_NS = 2_000, 2_000_000

    # cl_ord_ids of incarnation k (0: the first strategy, 1: its replacement...) start at k x ID_BLOCK + 1:
    # the engine refuses an id used before in the session, and a new process knows nothing of the old one's
    ID_BLOCK = 1 << 24

    def __init__(self, names: dict, cfg: Config, incarnation: int = 0) -> None:
        self.names, self.cfg, self.incarnation = names, cfg, incarnation
        self.tr = None

    def __enter__(self) -> StrategyProcess:
        from cimpl import trading_system as cts

        from . import transports

        try:
            self.control = cts.Control.attach(self.names["control"])
            self.control.set_proc(2, pid=os.getpid(), state="starting")
            self.tr = transports.open_strategy_side(self.cfg.transport, self.names, self.cfg, control=self.control)
            model = _strategy_model(self.cfg)
            self.strategy = ts.SignalStrategy(model, first_id=self.incarnation * self.ID_BLOCK + 1)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.tr is not None:
            try:
                self.tr.close()
            except Exception:
                pass
            self.tr = None
        if getattr(self, "control", None) is not None:
            self.control.close()

    def _send(self, intent: ts.Intent) -> None:
        try:
            self._send_bytes(ts.pack_intent(intent))  # never lost: the transport waits for room
        except Exception as e:  # TransportError: the other side is gone, or took nothing for seconds
            raise EngineDied(f"engine died: cannot send an intent ({e})") from None
        self.sent += 1

    def run(self) -> dict:
        tr = self.tr
        self._send_bytes = tr.send_intent
        strategy, now = self.strategy, time.monotonic_ns
        wait, spin_ns, yield_ns = self.cfg.wait_for(), self.SPIN_NS, self.YIELD_NS
        hb_ns = int(self.cfg.heartbeat_ms * 1e6)
        hop_a = np.empty(self.cfg.samples, dtype=np.int64)
        self.sent = 0
        handlers = {ts.REPORT_EXECUTED: strategy.on_execution, ts.REPORT_REJECTED: strategy.on_reject,
                    ts.REPORT_CANCELED: strategy.on_cancel, ts.REPORT_ACCEPTED: strategy.on_accept,
                    ts.REPORT_HALTED: strategy.on_reject}
        self.control.set_proc(2, state="running")
        # No cyclic garbage collection on the hot path: a gen-2 pass over the model and NumPy's objects takes
        # milliseconds, and it lands on whichever snapshot is being handled.  What is set up so far is frozen
        # (never scanned again); the loop's own garbage is freed by reference counting as it goes.
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            return self._loop(now, tr, strategy, wait, spin_ns, yield_ns, hb_ns, hop_a, handlers)
        finally:
            gc.enable()
            gc.unfreeze()

    def _loop(self, now, tr, strategy, wait, spin_ns, yield_ns, hb_ns, hop_a, handlers) -> dict:
        pop_snap, pop_report = tr.pop_snapshot, tr.pop_report
        n_hop, snaps, reports, dropped, sleeps = 0, 0, 0, 0, 0
        self._send(ts.Intent(ts.INTENT_HEARTBEAT, sent_ns=now()))  # hello: the engine starts watching us
        last_sent = idle_since = next_check = now()
        idle = 0
        while True:
            m = pop_report()
            while m is not None:
                r = ts.unpack_report(m)
                reports += 1
                handlers.get(r.kind, strategy.on_reject)(r)
                m = pop_report()
            m = pop_snap()
            if m is not None:
                t = now()
                snap = ts.unpack_snapshot(m)
                snaps += 1
                dropped += snap.dropped
                if n_hop < len(hop_a):
                    hop_a[n_hop] = t - snap.engine_ns
                    n_hop += 1
                intents = strategy.on_features(snap)
                for it in intents:
                    self._send(it._replace(seq=snap.seq, send_ns=snap.send_ns, recv_ns=t, sent_ns=now()))
                if intents:
                    last_sent = now()
                elif t - last_sent > hb_ns:  # busy, but saying nothing: the engine must still hear from us
                    self._send(ts.Intent(ts.INTENT_HEARTBEAT, sent_ns=t))
                    last_sent = t
                idle = 0
                if snaps & 1023 == 0:
                    self.control.set_proc(2, feed=snaps, intents=self.sent, dropped=dropped)
                continue
            # nothing to do: is the session over, is the engine alive, and how do we wait?
            t = now()
            if idle == 0:
                idle_since = t
            idle += 1
            if t - last_sent > hb_ns:
                self._send(ts.Intent(ts.INTENT_HEARTBEAT, sent_ns=t))
                last_sent = t
                self.control.set_proc(2, feed=snaps, intents=self.sent, dropped=dropped)
            if t >= next_check:  # every ms of idleness (a look at the ring's header: not on every poll)
                next_check = t + 1_000_000
                if tr.session_over():  # the engine ended the session: say bye, drain the reports
                    break
                if tr.peer_dead():  # (after session_over: a bridge that finished is not dead)
                    raise EngineDied(f"engine died: the snapshot channel's producer is gone ({tr.kind})")
            waited = t - idle_since
            if wait == "spin" or (wait == "adaptive" and waited < spin_ns):
                continue
            if wait == "yield" or (wait == "adaptive" and waited < yield_ns):
                os.sched_yield()
                continue
            tr.wait(min(hb_ns, 10_000_000) / 1e9)  # the doorbell, or the peer's own wait; at most 10 ms
            sleeps += 1
            idle = 1  # still idle, but the sleep counts as a check: poll first again
            if wait == "adaptive":
                idle_since = now() - spin_ns  # woken: straight back to yielding if nothing came
        # the session is over: bye first (the engine then cancels what is open), then its last reports,
        # until it closes ring C
        self._send(ts.Intent(ts.INTENT_BYE, sent_ns=now()))
        t_end = time.monotonic() + 10.0
        while time.monotonic() < t_end:
            m = pop_report()
            if m is None:
                if tr.reports_over():  # closed and drained, or the other side died
                    break
                time.sleep(0.0002)
                continue
            r = ts.unpack_report(m)
            reports += 1
            handlers.get(r.kind, strategy.on_reject)(r)
        self.control.set_proc(2, state="done", feed=snaps, intents=self.sent, dropped=dropped)
        return {"snapshots": snaps, "reports": reports, "intents": self.sent, "dropped_seen": dropped,
                "signals": strategy.signals, "fills": strategy.fills, "rejects": strategy.rejects, "sleeps": sleeps,
                "transport": tr.kind, "samples": {"hop_snap": hop_a[:n_hop].copy()}}


def _strategy_model(cfg: Config):
    from .ml_inference import MODEL_FILES, MODELS_DIR

    if cfg.model == "numpy":
        from pyimpl.ml_inference import Model
    else:
        from cimpl.ml_inference import Model
    return Model.load(MODELS_DIR / MODEL_FILES[cfg.model_kind])


# ------------------------------------------------------------ the supervisor
class System:
    """One run's segments and processes; a with block removes them all."""

    def __init__(self, cfg: Config) -> None:
        check_config(cfg)
        pair = cfg.cpus or machine.cpu_pair()
        if pair is None:
            raise RuntimeError("the trading system needs two usable CPUs")
        self.cfg = replace(cfg, cpus=tuple(pair))
        self.names = _names(f"{os.getpid()}-{time.monotonic_ns() % 1_000_000}")
        self.ctx = mp.get_context("spawn")
        self.results = self.ctx.Queue()
        self.procs: dict[str, mp.Process] = {}
        self.segments: list = []

    def __enter__(self) -> System:
        from cimpl import trading_system as cts
        from pyimpl import spsc_ring

        from . import transports

        self.prepared = None
        try:
            self.control = cts.Control.create(self.names["control"])
            self.segments.append(self.control)
            for ring, (slot, cap) in RINGS.items():
                self.segments.append(spsc_ring.create_segment(self.names[ring], cap, slot, "seq-slot"))
            # a peer transport's own channels (the bridge's rings, queues, socket dir): before anything is spawned
            self.prepared = transports.prepare(self.cfg.transport, self.names, self.ctx)
            self.names = self.prepared.names
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs.values():
            if p.is_alive():
                p.kill()
            p.join(5)
        if getattr(self, "prepared", None) is not None:
            self.prepared.close()  # also what a killed bridge or strategy left behind
            self.prepared = None
        for seg in self.segments:
            try:
                seg.unlink()
            except FileNotFoundError:
                pass
            seg.close()

    def spawn(self, which: str, *extra) -> mp.Process:
        from . import transports

        target = {"exchange": exchange_main, "engine": engine_main, "strategy": strategy_main,
                  "bridge": transports.bridge_main}[which]
        cpu = self.cfg.cpu_of(which)
        ready = self.ctx.Event()
        p = self.ctx.Process(target=target, args=(self.cfg, self.names, cpu, ready, self.results, *extra),
                             daemon=True, name=f"latencylab-{which}")
        p.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.wait(0.05):
            if not p.is_alive() or time.monotonic() > deadline:
                err = self._drain_error(which)
                p.kill()
                raise RuntimeError(f"the {which} process did not start: {err or f'exit code {p.exitcode}'}")
        self.procs[which] = p
        return p

    def _drain_error(self, which: str) -> str | None:
        try:
            while True:
                name, _pid, status, value = self.results.get(timeout=0.5)
                if name == which and status == "error":
                    return value
        except queue.Empty:
            return None


def _pin_process(cpus: set[int]) -> set[int]:
    """Every thread of this process onto `cpus`; the calling thread's old set.
    (sched_setaffinity(0, ...) moves only the calling thread on Linux.)"""
    old = os.sched_getaffinity(0)
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:  # a thread that just ended
            pass
    return old


def run(cfg: Config, on_tick=None) -> Result:
    """One whole run: start, supervise, stop, collect, reconcile.  on_tick(control,
    elapsed_s) is called ~20 times a second while it runs (the dashboard).
    Never hangs: every wait has a bound (cfg.timeout for the whole run)."""
    res = Result(cfg)
    t0 = time.monotonic()
    with System(cfg) as sysm:
        res.config = cfg = sysm.cfg
        control = sysm.control
        # the supervisor (and the dashboard it draws) keeps off the core of whoever has one alone: every
        # thread of this process (rich's refresh thread too), not only this one; given back whatever happens
        old_affinity = _pin_process({cfg.cpu_of("supervisor")})
        try:
            got = _supervise(sysm, cfg, res, on_tick, t0)
        finally:
            _pin_process(old_affinity)
    res.wall_s = time.monotonic() - t0
    _collect(res, got)
    return res


def _supervise(sysm: System, cfg: Config, res: Result, on_tick, t0: float) -> dict:
    """Start the processes, watch them, inject the faults; each process's result."""
    control = sysm.control
    sysm.spawn("engine")
    want = {"engine", "exchange"}
    if cfg.transport != "ring":
        sysm.spawn("bridge")  # before the strategy: the strategy's side opens what the bridge serves
        want.add("bridge")
    if cfg.strategy == "python":
        sysm.spawn("strategy")
        want.add("strategy")
    sysm.spawn("exchange")
    got: dict[str, dict] = {}
    killed_pid = restarted = switched = 0
    deadline = t0 + cfg.timeout
    while want - got.keys():
        try:
            which, pid, status, value = sysm.results.get(timeout=0.05)
            if pid == killed_pid:
                pass  # cannot happen (SIGKILL), but a result of the killed strategy is not the run's
            elif status == "ok":
                got[which] = value
            else:
                res.errors.append(f"{which}: {value}")
                got[which] = {}
        except queue.Empty:
            pass
        now = time.monotonic()
        if on_tick is not None:
            on_tick(control, now - t0)
        # the faults, if asked for, in the middle of the session
        fed = control.proc(1)["feed"]
        if cfg.kill_at and not killed_pid and fed >= cfg.kill_at:
            victim = sysm.procs[cfg.kill_process]
            killed_pid = victim.pid
            os.kill(victim.pid, signal.SIGKILL)
            victim.join(5)
            res.faults.append(f"{cfg.kill_process} (pid {killed_pid}) SIGKILLed after {fed} feed messages")
            if cfg.kill_process != "strategy":
                want.discard(cfg.kill_process)  # its records died with it: the run cannot reconcile
                res.errors.append(f"{cfg.kill_process} killed: its records are gone, nothing to reconcile with")
            elif not cfg.restart_strategy:
                want.discard("strategy")
        if (killed_pid and cfg.kill_process == "strategy" and cfg.restart_strategy and not restarted
                and control.proc(1)["halted"]):
            res.faults.append(f"the engine noticed: trading halted (reason {control.proc(1)['halted']}), "
                              "open orders canceled; a new strategy starts")
            sysm.spawn("strategy", 1)  # incarnation 1: its ids start above the first one's
            restarted = 1
        if cfg.kill_switch_at and not switched and fed >= cfg.kill_switch_at:
            control.kill()
            switched = 1
            res.faults.append(f"kill switch tripped by the operator after {fed} feed messages")
        for which in list(want - got.keys()):  # a process that died without a word
            p = sysm.procs.get(which)
            if p is not None and not p.is_alive() and p.pid != killed_pid:
                if p.exitcode == 3 and which == "strategy":
                    pass  # EngineDied: it said so on its way out (below, from its result)
                time.sleep(0.2)  # its last result may still be in the pipe
                try:
                    w, pid, status, value = sysm.results.get_nowait()
                    if status == "ok":
                        got[w] = value
                    else:
                        res.errors.append(f"{w}: {value}")
                        got[w] = {}
                    continue
                except queue.Empty:
                    pass
                res.errors.append(f"{which} died (exit code {p.exitcode}) without a result")
                got[which] = {}
        if now > deadline:
            res.errors.append(f"the run did not end within {cfg.timeout:.0f} s: stopped")
            control.stop()
            deadline = now + 10.0  # the processes' own stop; after that they are killed on the way out
            if res.errors[-1].startswith("the run did not end") and len(res.errors) > 1 and \
                    res.errors[-2].startswith("the run did not end"):
                break
    for p in sysm.procs.values():
        p.join(10)
    return got


def _collect(res: Result, got: dict) -> None:
    """Each process's result into the run's Result, and the reconciliation."""
    eng, exch, strat = got.get("engine", {}), got.get("exchange", {}), got.get("strategy", {})
    bridge = got.get("bridge", {})
    res.counts = {"engine": eng.get("stats", {}), "exchange": exch.get("stats", {}),
                  "strategy": {k: v for k, v in strat.items() if k != "samples"},
                  "risk_rejects": eng.get("oms", {}).get("rejects", {})}
    if bridge:
        res.counts["bridge"] = bridge.get("counts", {})
    res.counts["sched"] = {name: part["sched"] for name, part in got.items() if part.get("sched")}
    for part in (eng, exch, strat, bridge):
        res.samples.update(part.get("samples", {}))
    res.records = {"oms": eng.get("oms"), "exchange": exch.get("exchange")}
    if "oms" in eng and "exchange" in exch:
        res.reconciliation = reconcile(eng["oms"], exch["exchange"])
    else:
        res.reconciliation = {"ok": False, "why": "a side's records are missing"}
    for part, name in ((eng, "engine"), (exch, "exchange")):
        if part.get("error"):
            res.errors.append(f"{name}: {part['error']}")


def reconcile(oms: dict, exch: dict) -> dict:
    """The engine's records against the exchange's: every order the engine
    sent is at the exchange with the same side, price, quantity, filled
    shares and final state; the fills are the same (match number, order,
    shares, price), none missing, duplicated or invented; the positions per
    symbol agree; nothing is left open.  {"ok": bool, counts, "mismatches": [...]}"""
    bad: list[str] = []
    eo = {o["user_ref"]: o for o in oms["orders"]}
    xo = {o["user_ref"]: o for o in exch["orders"]}
    for ref, o in eo.items():
        x = xo.get(ref)
        if x is None:
            if o["state"] != "rejected":  # an order the exchange refused is not in its book of orders
                bad.append(f"order {ref}: sent by the engine, unknown to the exchange")
            continue
        for k in ("side", "price", "qty", "filled", "leaves"):
            if o[k] != x[k]:
                bad.append(f"order {ref}: {k} {o[k]} at the engine, {x[k]} at the exchange")
        if o["state"] != x["state"]:
            bad.append(f"order {ref}: {o['state']} at the engine, {x['state']} at the exchange")
    for ref in xo.keys() - eo.keys():
        bad.append(f"order {ref}: at the exchange, never sent by the engine")
    ef = sorted((f["match"], f["user_ref"], f["qty"], f["price"]) for f in oms["fills"])
    xf = sorted((f["match"], f["user_ref"], f["qty"], f["price"]) for f in exch["fills"])
    if ef != xf:
        es, xs = set(ef), set(xf)
        bad += [f"fill {f}: at the engine only" for f in sorted(es - xs)[:5]]
        bad += [f"fill {f}: at the exchange only" for f in sorted(xs - es)[:5]]
        if len(ef) != len(es) or len(xf) != len(xs):
            bad.append("a fill recorded twice")
    for loc in set(oms["positions"]) | set(exch["positions"]):
        a, b = oms["positions"].get(loc, 0), exch["positions"].get(loc, 0)
        if a != b:
            bad.append(f"locate {loc}: position {a} at the engine, {b} at the exchange")
    open_e = sum(o["leaves"] > 0 and o["state"] in ("pending_new", "accepted", "partially_filled", "cancel_pending")
                 for o in oms["orders"])
    open_x = sum(o["state"] == "live" for o in exch["orders"])
    if open_e or open_x:
        bad.append(f"left open: {open_e} orders at the engine, {open_x} at the exchange")
    return {"ok": not bad, "orders": len(eo), "fills": len(ef), "open": open_x, "mismatches": bad[:20],
            "mismatch_count": len(bad)}


__all__ = ["Config", "EngineDied", "Result", "System", "StrategyProcess", "reconcile", "run", "RINGS",
           "STRATEGY_WAITS"]
