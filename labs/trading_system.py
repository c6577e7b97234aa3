"""Lab 7, trading-system: the declaration and the workloads.

Each workload runs the whole system (labs/system.py: exchange, C engine,
strategy, three processes) on lab 5's simulated feed at a fixed feed rate,
and turns what the processes timed into records:

- tick_to_signal_p50/p99/p999_ns: the ITCH message's send stamp at the
  exchange to the strategy's answer (a signal, or an order) arriving at the
  engine: three processes, two ring hops with the Python strategy (none with
  the C strategy, which runs inside the engine: the lower bound);
- tick_to_order_p50/p99/p999_ns: to the OUCH Enter Order arriving at the
  exchange (the risk checks included);
- hop_<name>_p50/p99_ns: each leg of the way, beside the c2c floor of the run;
- risk_check_ns: ll_oms_submit, timed inside C, per order intent;
- reconciled (1/0), and the counts (messages, snapshots dropped, intents,
  orders, fills, rejections);
- sustained_rate: the highest feed rate of a sweep at which the Python
  strategy's tick-to-signal p99 stays under the brief's 100 us with no
  snapshot dropped.

impl "c" is the C strategy; "peer:*" the Python strategy behind a peer
transport (bridged: labs/transports.py); "python" the Python strategy with the NumPy
model, on a core of its own, spinning (variant "c-model": lab 6's C model
through ctypes; "wait/adaptive", "wait/yield", "wait/futex": other ways to
wait; "engine-alone": the strategy shares its core with the exchange).  Every run is one sample of a noisy 2-CPU
machine: the guide says how far apart repeated runs land.
"""

from __future__ import annotations

from pyimpl import trading_system as pts

from . import stats, system
from .lab import Lab, Measurement, Metric, Size, Skip, Workload

RATE = 20_000.0  # feed messages per second for the latency figures: the Python strategy keeps up (~5-10 us each)
_MESSAGES = {"quick": 20_000, "full": 200_000}
SWEEP_RATES = {"quick": (5_000, 10_000, 20_000, 40_000), "full": (5_000, 10_000, 20_000, 40_000, 60_000, 80_000)}
_SWEEP_MESSAGES = {"quick": 10_000, "full": 60_000}
SUSTAIN_P99_NS = 100_000  # the brief's market data to signal
# The first samples of every figure are the system warming up (page faults in the rings and the book, the
# model's first calls, Python's caches): left out of the percentiles, and counted in each record
WARMUP = 1_000


def steady(v):
    """A figure's samples without its warm-up (the first WARMUP, or a tenth of a short run)."""
    k = min(WARMUP, len(v) // 10)
    return v[k:], k

HOPS = {  # sample name -> (metric family, what it is)
    "hop_feed": ("hop_feed", "exchange push to engine pop of a feed message (the feed ring)"),
    "engine": ("hop_engine", "engine: feed pop to snapshot push (decode, book, features)"),
    "hop_snap": ("hop_snap", "engine push to strategy pop of a snapshot (ring A)"),
    "strategy": ("hop_strategy", "strategy: snapshot pop to intent push (unpack, model, decide, pack)"),
    "hop_intent": ("hop_intent", "strategy push to engine pop of an intent (ring B)"),
    "hop_order": ("hop_order", "engine push to exchange pop of an OUCH order (the orders ring)"),
    "hop_reply": ("hop_reply", "exchange push to engine pop of an OUCH reply (the replies ring)"),
}
# the Python strategy's: None = NumPy model, the strategy on a core of its own, spinning (placement and wait
# "auto"); then one change each
VARIANTS = (None, "c-model", "wait/adaptive", "wait/yield", "wait/futex", "engine-alone", "bridge")
# the peer transports: rings A, B and C replaced between the engine and the strategy (labs/transports.py).  The
# engine is C and speaks rings, so a bridge process (a 4th, on the strategy's core) moves ring <-> peer; the
# Python strategy's variant "bridge" is that bridge ring to ring: the peer's own cost is peer minus bridge
PEERS = {"peer:multiprocessing.Queue": "queue", "peer:pyzmq": "zmq", "peer:iceoryx2": "iceoryx2"}


def simulated_snapshots(n: int, seed: int = 0) -> list[pts.Snapshot]:
    """The snapshots the engine would push on ring A for lab 5's simulated feed
    of n order-flow messages (lab 6's features over lab 5's book, pyimpl's;
    seq = the feed's sequence number, flags as the engine sets them), for tests
    and exercises that drive a strategy without the running system."""
    import math

    from pyimpl.itch import iter_frames
    from pyimpl.ml_inference import FeatureEngine

    from .feed import simulate

    fe = FeatureEngine()
    out = []
    for seq, (_, body) in enumerate(iter_frames(simulate(n, seed)), 1):
        row = fe.apply(body)
        if row is None:
            continue
        locate = body[1] << 8 | body[2]
        bid, ask = fe.book.best(locate)
        bp, bs = bid or (0, 0)
        ap, as_ = ask or (0, 0)
        flags = pts.SNAP_FEATURES_OK if all(map(math.isfinite, row)) else 0
        out.append(pts.Snapshot(seq, seq * 1000, seq * 1000 + 1, locate, flags, 0, bp, ap, bs, as_, tuple(row)))
    return out


def _config(impl: str, variant: str | None, size: Size, rate: float = RATE, messages: int | None = None):
    if impl == "c":
        if variant is not None:
            raise Skip(f"the C strategy has no variant {variant!r}")
        return system.Config(strategy="c", messages=messages or _MESSAGES[size], rate=rate)
    if impl in PEERS:
        return system.Config(strategy="python", transport=PEERS[impl], messages=messages or _MESSAGES[size],
                             rate=rate)
    model = "c" if variant == "c-model" else "numpy"
    wait = variant.split("/")[1] if variant and variant.startswith("wait/") else "auto"
    placement = "engine-alone" if variant == "engine-alone" else "auto"
    transport = "bridge" if variant == "bridge" else "ring"
    return system.Config(strategy="python", model=model, wait=wait, placement=placement, transport=transport,
                         messages=messages or _MESSAGES[size], rate=rate)


def _placement(cfg: system.Config) -> str:
    on = {}
    for who in ("exchange", "engine", "strategy"):
        if who == "strategy" and cfg.strategy == "c":
            continue
        on.setdefault(cfg.cpu_of(who), []).append(who)
    if cfg.strategy == "c":
        on[cfg.cpu_of("engine")].append("C strategy (in the engine)")
    return "; ".join(f"cpu {c}: {' + '.join(w)}" for c, w in sorted(on.items())) + \
        f"; exchange waits by {cfg.exchange_wait_for()}" + (f", strategy by {cfg.wait_for()}" if cfg.strategy == "python" else "")


def records_of(res: system.Result, variant: str | None = None) -> list[Measurement]:
    """The Measurements of one run (also what `latencylab system --out` writes)."""
    cfg = res.config
    common = {"rate": cfg.rate, "messages": cfg.messages, "strategy": cfg.strategy, "wait": cfg.wait_for(),
              "transport": cfg.transport,
              "placement_kind": cfg.placement_for(),
              "model": cfg.model if cfg.strategy == "python" else "c", "cpus": list(cfg.cpus or ()),
              "placement": _placement(cfg) if cfg.cpus else None}
    # what the scheduler did to each process (ns waiting on a run queue, preemptions): the tails' witness
    common["sched"] = res.counts.get("sched", {})
    out: list[Measurement] = []

    def lat(samples_name: str, family: str, three: bool = True, **extra):
        v = res.samples.get(samples_name)
        if v is None or len(v) < 10:
            return
        v, warm = steady(v)
        s = stats.latency_summary(v)
        detail = {"percentiles": {k: x for k, x in s.items() if k.startswith("p")}, **s, **common,
                  "warmup_excluded": warm, **extra}
        ids = [("p50", f"{family}_p50_ns"), ("p99", f"{family}_p99_ns")] + ([("p99.9", f"{family}_p999_ns")] if three else [])
        out.extend(Measurement(m, s[k], variant, detail) for k, m in ids)

    lat("tick_to_signal", "tick_to_signal")
    lat("tick_to_order", "tick_to_order")
    if cfg.transport != "ring":
        lat("bridge_snap", "hop_bridge", three=False,
            what="the bridge process: ring A pop to the transport's send of a snapshot")
    for name, (family, what) in HOPS.items():
        lat(name, family, three=False, what=what)
    risk = res.samples.get("risk")
    if risk is not None and len(risk):
        s = stats.latency_summary(risk)
        out.append(Measurement("risk_check_ns", s["p50"], variant,
                               {"percentiles": {k: x for k, x in s.items() if k.startswith("p")}, **s, **common,
                                "what": "ll_oms_submit inside the running engine, per order intent: cold caches "
                                        "included (an order comes once every ~50 feed messages)"}))
    e, x = res.counts.get("engine", {}), res.counts.get("exchange", {})
    counts = {"messages": x.get("published"), "snapshots": e.get("snaps"), "dropped": e.get("dropped"),
              "intents": e.get("intents"), "signals": e.get("signals"), "orders": e.get("orders"),
              "cancels": e.get("cancels"), "fills": e.get("fills"), "rejects": e.get("rejects"),
              "rejects_by_reason": res.counts.get("risk_rejects", {}), "gaps": e.get("gaps"),
              "cancel_races": e.get("cancel_races"), "errors": res.errors, "faults": res.faults}
    out.append(Measurement("reconciled", 1.0 if res.reconciled else 0.0, variant,
                           {**common, **counts, "reconciliation": res.reconciliation}))
    for k in ("dropped", "orders", "fills", "rejects"):
        if counts[k] is not None:
            out.append(Measurement(f"{k}_count", float(counts[k]), variant, common))
    return out


def run_pipeline(impl: str, size: Size) -> list[Measurement]:
    if impl in PEERS:
        from . import transports

        transports.check_available(PEERS[impl])  # Skip, with the reason, where the package cannot be imported
    out = []
    for variant in (VARIANTS if impl == "python" else (None,)):
        res = system.run(_config(impl, variant, size))
        if res.errors:
            raise RuntimeError(f"{impl} {variant or ''}: {'; '.join(res.errors)}")
        out += records_of(res, variant)
    return out


def run_sweep(impl: str, size: Size) -> list[Measurement]:
    """The feed rate that the Python strategy sustains: the highest rate of the
    sweep whose tick-to-signal p99 is under 100 us with no snapshot dropped."""
    points = []
    for rate in SWEEP_RATES[size]:
        res = system.run(_config(impl, None, size, rate=float(rate), messages=_SWEEP_MESSAGES[size]))
        if res.errors:
            raise RuntimeError(f"sweep at {rate} msg/s: {'; '.join(res.errors)}")
        s = stats.latency_summary(steady(res.samples["tick_to_signal"])[0])
        dropped = res.counts["engine"]["dropped"]
        points.append({"rate": rate, "p50": s["p50"], "p99": s["p99"], "p99.9": s["p99.9"], "dropped": dropped,
                       "reconciled": res.reconciled})
    ok = [p["rate"] for p in points if p["p99"] < SUSTAIN_P99_NS and p["dropped"] == 0]
    best = max(ok) if ok else 0.0
    return [Measurement("sustained_rate", float(best), None,
                        {"sweep": points, "rule": "tick_to_signal p99 < 100 us and no snapshot dropped",
                         "strategy": impl, "model": "numpy" if impl == "python" else "c"})]


LAB = Lab(
    number=7,
    id="trading-system",
    title="The trading system",
    summary="exchange simulator, C engine (book, features, order manager, risk checks) and strategy as processes "
            "over lab 3's rings; latency hop by hop, faults survived, orders reconciled",
    metrics=(
        Metric("tick_to_signal_p50_ns", "ns", "lower", "ITCH send at the exchange to the strategy's answer at the "
               "engine, median (three processes)"),
        Metric("tick_to_signal_p99_ns", "ns", "lower", "the same, 99th percentile"),
        Metric("tick_to_signal_p999_ns", "ns", "lower", "the same, 99.9th percentile"),
        Metric("tick_to_order_p50_ns", "ns", "lower", "ITCH send to the OUCH order at the exchange, median"),
        Metric("tick_to_order_p99_ns", "ns", "lower", "the same, 99th percentile"),
        Metric("tick_to_order_p999_ns", "ns", "lower", "the same, 99.9th percentile"),
        *(m for name, (fam, what) in HOPS.items() for m in (
            Metric(f"{fam}_p50_ns", "ns", "lower", f"{what}, median", floor="c2c_rtt_ns", floor_scale=0.5),
            Metric(f"{fam}_p99_ns", "ns", "lower", f"{what}, 99th percentile"))),
        Metric("hop_bridge_p50_ns", "ns", "lower", "the bridge process of a peer transport: ring A pop to the "
               "peer's send, median"),
        Metric("hop_bridge_p99_ns", "ns", "lower", "the same, 99th percentile"),
        Metric("risk_check_ns", "ns", "lower", "the pre-trade risk checks of one order, inside the running engine, "
               "median", outcome=True),
        Metric("reconciled", "1/0", "higher", "the engine's orders, fills and positions equal the exchange's"),
        Metric("dropped_count", "msgs", "lower", "snapshots dropped because the strategy was behind (ring A full)"),
        Metric("orders_count", "orders", "higher", "OUCH orders sent"),
        Metric("fills_count", "fills", "higher", "executions"),
        Metric("rejects_count", "intents", "lower", "intents the risk checks rejected"),
        Metric("sustained_rate", "msg/s", "higher", "the highest feed rate at which the Python strategy's "
               "tick-to-signal p99 stays under 100 us, nothing dropped", outcome=True),
    ),
    workloads=(
        Workload("pipeline", run_pipeline, ("c", "python", *PEERS),
                 ("tick_to_signal_p50_ns", "tick_to_signal_p99_ns", "tick_to_signal_p999_ns", "tick_to_order_p50_ns",
                  "tick_to_order_p99_ns", "tick_to_order_p999_ns", "risk_check_ns", "reconciled"),
                 "the whole system at 20 k msg/s: C strategy, Python strategy (NumPy model; C model; each wait; the "
                 "other placement; the bridge), and the peer transports in place of rings A, B, C",
                 variants=VARIANTS, cross_core=True),
        Workload("sustained-rate", run_sweep, ("python",), ("sustained_rate",),
                 "a feed-rate sweep with the Python strategy", cross_core=True),
    ),
    plot_groups=(
        ("market data to signal", ("tick_to_signal_p50_ns", "tick_to_signal_p99_ns", "tick_to_signal_p999_ns")),
        ("market data to order", ("tick_to_order_p50_ns", "tick_to_order_p99_ns", "tick_to_order_p999_ns")),
        ("hops (median)", tuple(f"{fam}_p50_ns" for fam, _ in HOPS.values())),
    ),
)
