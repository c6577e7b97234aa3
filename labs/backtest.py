"""Lab 8, backtest: the declaration, the workloads, and what the CLI runs.

One backtest = an ITCH stream (lab 5's simulator from a seed, or a file),
a strategy (lab 7's classes, unchanged), a latency model, fees and risk
limits, through the backtester loop (cimpl.backtest, the C loop; or
pyimpl.backtest, the reference), then labs/analytics.py over its fills.

Records of lab `backtest`:
- events_per_s: ITCH messages through book, features, strategy and the
  simulated exchange per second of wall time.  impl "c": the C strategy
  inside the C loop (variants: "mm", the market maker's C twin inside the C
  loop; "mm-one-symbol", the same on one symbol's messages, the
  peer:hftbacktest record's work); "python": the Python market maker called
  on every book update from the C loop (variants: "signal", the Python signal strategy
  with its NumPy model; "pure-python", the whole loop in Python;
  "one-symbol", the market maker on one symbol's messages, hftbacktest's
  work); "peer:hftbacktest" (the same market maker on its L3 FIFO queue
  model, one symbol), "peer:vectorbt" (the signal strategy from signals).
- live_gap_*: lab 7 live against lab 8 on the same stream, timed as the live
  exchange sent it, with the latencies the live run measured: the difference
  in fills and in PnL.
- the example strategies' analytics (variant = the strategy).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from pathlib import Path

import numpy as np

from pyimpl import backtest as pbt
from pyimpl import oms as _oms
from pyimpl import trading_system as ts

from .lab import Lab, Measurement, Metric, Size, Skip, Workload

HERE = Path(__file__).resolve().parent
STRATEGY_PARAMS = {"mm": ts.MarketMakerParams, "signal": ts.SignalParams, "c": ts.SignalParams,
                   "c-mm": ts.MarketMakerParams}
# The limits each example runs under: the signal strategy under lab 7's (the same as live, so live and
# backtest are comparable); the market maker under limits written for market making (it sends an order
# every few book updates, which lab 7's 200 orders/s would throttle at once) - the same checks, other numbers.
RISK_FILES = {"mm": HERE / "08-backtest" / "risk-mm.toml", "signal": HERE / "07-trading-system" / "risk.toml",
              "c": HERE / "07-trading-system" / "risk.toml", "c-mm": HERE / "08-backtest" / "risk-mm.toml"}
DEFAULT_LATENCY = "constant:10000"  # 10 us each way: the order of lab 7's measured medians (the guide's table)
PERMISSIVE = _oms.RiskLimits(max_order_qty=0, max_order_notional=0, collar_ticks=0, max_long=0, max_short=0,
                             max_gross_notional=0, max_open_orders=0, rate_orders_symbol=0, rate_orders_total=0,
                             max_loss=0, self_match=False)


def risk_limits(strategy: str, path: str | Path | None = None) -> _oms.RiskLimits:
    return _oms.RiskLimits.from_toml(path or RISK_FILES[strategy])


def make_strategy(name: str, params: dict | None = None, model: str = "numpy"):
    """The strategy object for a CLI name ("mm", "signal", "c", "c-mm") and its
    parameters (fields of STRATEGY_PARAMS[name]); ValueError naming a bad one."""
    if name not in STRATEGY_PARAMS:
        raise ValueError(f"unknown strategy {name!r}: expected one of {', '.join(STRATEGY_PARAMS)}")
    cls = STRATEGY_PARAMS[name]
    params = dict(params or {})
    known = {f.name for f in dataclasses.fields(cls)}
    bad = sorted(set(params) - known)
    if bad:
        raise ValueError(f"strategy {name!r} has no parameter(s) {', '.join(bad)}; it has {', '.join(sorted(known))}")
    if "symbols" in params and params["symbols"] is not None:
        params["symbols"] = tuple(params["symbols"])
    p = cls(**params)
    if name == "mm":
        return ts.MarketMaker(p)
    if name == "c-mm":
        from cimpl import backtest as cbt

        return cbt.CMarketMaker(p)
    from .ml_inference import MODEL_FILES, MODELS_DIR

    if name == "c":
        from cimpl import backtest as cbt
        from cimpl.ml_inference import Model

        return cbt.CSignal(Model.load(MODELS_DIR / MODEL_FILES["mlp"]), p)
    if model == "numpy":
        from pyimpl.ml_inference import Model
    else:
        from cimpl.ml_inference import Model
    return ts.SignalStrategy(Model.load(MODELS_DIR / MODEL_FILES["mlp"]), p)


def backtest(stream: bytes, strategy, *, loop: str = "c", **kw) -> pbt.Result:
    """One backtest through the C loop (default) or the Python one."""
    if loop == "python":
        return pbt.run(stream, strategy, **kw)
    from cimpl import backtest as cbt

    return cbt.run(stream, strategy, **kw)


def load_stream(seed: int | None = 0, messages: int = 200_000, itch: str | Path | None = None) -> bytes:
    if itch is not None:
        try:
            return Path(itch).read_bytes()
        except OSError as e:
            raise ValueError(f"cannot read the ITCH file {itch}: {e.strerror or e}") from None
    from .feed import simulate

    return simulate(messages, seed or 0)


def analyze(res: pbt.Result, capital: float = 1_000_000.0):
    from . import analytics

    return analytics.analyze(res.fills_frame(), res.marks_frame(), orders_sent=res.orders_sent, capital=capital,
                             symbols=res.symbols)


def sweep_point(point: dict) -> dict:
    """One point of a sweep (labs/sweep.py): a backtest and its analytics'
    summary, flat.  point: strategy, params, seed or itch, messages, latency, fees."""
    stream = load_stream(point.get("seed"), point.get("messages", 50_000), point.get("itch"))
    strategy = make_strategy(point["strategy"], point.get("params"))
    fees = pbt.Fees.from_toml(point["fees"]) if point.get("fees") else pbt.Fees()
    res = backtest(stream, strategy, latency=point.get("latency") or DEFAULT_LATENCY, fees=fees,
                   risk=risk_limits(point["strategy"]))
    a = analyze(res)
    out = {k: float(v) for k, v in a.summary.items() if isinstance(v, (int, float))}
    out.update(events=res.events, events_per_s=res.events_per_s, orders_sent=res.orders_sent, rejects=res.rejects,
               reconciled=float(bool(res.reconciled)))
    return out


# ------------------------------------------------------------ workloads
_MESSAGES = {"quick": 100_000, "full": 1_000_000}
_REPEATS = {"quick": 3, "full": 5}


def _timed(fn, repeats: int) -> tuple[float, dict, pbt.Result]:
    """events/s of `fn()` (a backtest), median of `repeats` runs (a 2-core shared machine is noisy)."""
    rates, res = [], None
    for _ in range(repeats):
        res = fn()
        rates.append(res.events_per_s)
    return statistics.median(rates), {"repeats": rates, "events": res.events, "snapshots": res.snapshots,
                                      "orders_sent": res.orders_sent, "fills": len(res.fills["qty"]),
                                      "reconciled": res.reconciled}, res


def busiest_symbol(stream: bytes) -> int:
    from pyimpl.itch import iter_frames

    counts: dict[int, int] = {}
    for _, b in iter_frames(stream):
        if b[0] in b"AFECXDU":
            loc = b[1] << 8 | b[2]
            counts[loc] = counts.get(loc, 0) + 1
    return max(counts, key=counts.get)


def one_symbol(stream: bytes, locate: int) -> bytes:
    """The stream with only `locate`'s order flow (and every directory and
    system message): the work a one-asset backtester (hftbacktest) does."""
    from pyimpl.itch import iter_frames

    out = bytearray()
    for off, b in iter_frames(stream):
        if b[0] in b"AFECXDU" and (b[1] << 8 | b[2]) != locate:
            continue
        out += stream[off - 2:off + len(b)]
    return bytes(out)


def run_events(impl: str, size: Size) -> list[Measurement]:
    n, reps = _MESSAGES[size], _REPEATS[size]
    stream = load_stream(0, n)
    lat = DEFAULT_LATENCY
    common = {"messages": n, "latency": lat, "seed": 0}
    if impl == "c":
        strat = lambda: make_strategy("c")  # noqa: E731
        v, extra, _ = _timed(lambda: backtest(stream, strat(), latency=lat, risk=risk_limits("c")), reps)
        out = [Measurement("events_per_s", v, None, {**common, **extra, "strategy": "the C signal strategy "
                           "(lab 7's ll_ts_signal, lab 6's MLP in C) inside the C loop"})]
        loc = busiest_symbol(stream)
        one = one_symbol(stream, loc)
        for variant, data, params, risk, what in (
                ("mm", stream, None, risk_limits("c-mm"), "the market maker's C twin (ll_bt_mm) inside the C loop"),
                ("mm-one-symbol", one, {"symbols": (loc,)}, PERMISSIVE,
                 f"the market maker's C twin on locate {loc}'s messages only (hftbacktest's work), C loop")):
            v, extra, _ = _timed(lambda: backtest(data, make_strategy("c-mm", params), latency=lat, risk=risk), reps)
            out.append(Measurement("events_per_s", v, variant, {**common, **extra, "strategy": what}))
        return out
    if impl == "python":
        out = []
        cases = [(None, "mm", "c", stream, "the Python market maker on every book update, C loop"),
                 ("signal", "signal", "c", stream, "the Python signal strategy (NumPy MLP), C loop"),
                 ("pure-python", "mm", "python", stream[: _pure_cut(stream, n // 5)],
                  "the Python market maker, the whole loop in Python (pyimpl.backtest), on a fifth of the stream")]
        loc = busiest_symbol(stream)
        cases.append(("one-symbol", "mm", "c", one_symbol(stream, loc),
                      f"the Python market maker on locate {loc}'s messages only (hftbacktest's work), C loop"))
        for variant, name, loop, data, what in cases:
            params = {"symbols": (loc,)} if variant == "one-symbol" else None
            v, extra, _ = _timed(lambda: backtest(data, make_strategy(name, params), loop=loop, latency=lat,
                                                  risk=PERMISSIVE if variant == "one-symbol" else risk_limits(name)),
                                 reps)
            out.append(Measurement("events_per_s", v, variant, {**common, **extra, "strategy": what}))
        return out
    from . import backtest_peers as peers

    if impl == "peer:hftbacktest":
        peers.check_available("hftbacktest")
        loc = busiest_symbol(stream)
        p = ts.MarketMakerParams(symbols=(loc,))
        fee = pbt.Fees()
        r = [peers.run_hftbacktest_mm(stream, loc, p, 10_000, fee.maker, fee.taker, "l3fifo") for _ in range(reps)]
        rates = [x["events_per_s"] for x in r]
        return [Measurement("events_per_s", statistics.median(rates), None,
                            {**common, "repeats": rates, "events": r[-1]["events"], "locate": loc,
                             "fills": len(r[-1]["fills"]), "pnl": r[-1]["pnl"], "queue_model": "L3FIFOQueueModel",
                             "notes": r[-1].get("notes"), "strategy": "the same market maker, numba, one symbol"})]
    if impl == "peer:vectorbt":
        peers.check_available("vectorbt")
        loc = busiest_symbol(stream)
        r = [peers.run_vectorbt_signal(stream, loc) for _ in range(reps)]
        rates = [x["events_per_s"] for x in r]
        return [Measurement("events_per_s", statistics.median(rates), None,
                            {**common, "repeats": rates, "events": r[-1]["events"], "locate": loc,
                             "trades": r[-1].get("trades"), "pnl": r[-1].get("pnl"), "notes": r[-1].get("notes"),
                             "strategy": "the signal strategy's entries/exits, Portfolio.from_signals"})]
    raise Skip(f"no implementation {impl!r}")


def _pure_cut(stream: bytes, n: int) -> int:
    """The byte length of the first n frames (the pure-Python loop runs a prefix: it is ~20x slower)."""
    from pyimpl.itch import iter_frames

    for k, (off, b) in enumerate(iter_frames(stream)):
        if k == n:
            return off - 2
    return len(stream)


ANALYTICS = ("pnl", "sharpe", "sortino", "max_drawdown", "max_drawdown_frac", "fees", "turnover", "fill_ratio",
             "hit_rate", "avg_holding_ns", "fills")


def run_analytics(impl: str, size: Size) -> list[Measurement]:
    """The example strategies' figures on the simulated stream, lab 7's
    latencies (constant, their order) and default fees."""
    n = _MESSAGES[size]
    stream = load_stream(0, n)
    names = ("c",) if impl == "c" else ("mm", "signal")
    out = []
    for name in names:
        res = backtest(stream, make_strategy(name), latency=DEFAULT_LATENCY, risk=risk_limits(name))
        a = analyze(res)
        extra = {"messages": n, "latency": DEFAULT_LATENCY, "strategy": name, "orders_sent": res.orders_sent,
                 "rejects": res.rejects, "rejects_by_reason": res.rejects_by_reason, "reconciled": res.reconciled,
                 "summary": {k: v for k, v in a.summary.items() if isinstance(v, (int, float))}}
        variant = None if impl == "c" else name
        for k in ANALYTICS:
            v = a.summary.get(k)
            if v is not None and isinstance(v, (int, float)) and math.isfinite(v):
                out.append(Measurement(k, float(v), variant, extra))
    return out


# ------------------------------------------------------------ live vs backtest
_LIVE = {"quick": 20_000, "full": 100_000}


def retime(stream: bytes, rate: float) -> bytes:
    """The stream with its order-flow messages re-stamped as lab 7's
    exchange sends them: one every 1/rate s from the first (the live feed
    is paced, not replayed at its own timestamps)."""
    from pyimpl.itch import iter_frames

    out = bytearray(stream)
    period, t0, k = 1e9 / rate, None, 0
    for off, b in iter_frames(stream):
        if b[0] not in b"AFECXDU":
            continue
        if t0 is None:
            t0 = int.from_bytes(b[5:11], "big")
        out[off + 5:off + 11] = (t0 + int(k * period)).to_bytes(6, "big")
        k += 1
    return bytes(out)


def live_latency(res) -> pbt.Latency:
    """The latency model of one live run: each leg from that run's own hop samples (FROM_HOPS)."""
    from . import stats
    from .trading_system import HOPS, steady

    fam = {family: name for name, (family, _) in HOPS.items()}
    legs = {}
    for leg, hops in pbt.FROM_HOPS.items():
        tables = []
        for h in hops:
            s = stats.latency_summary(steady(res.samples[fam[h]])[0])
            tables.append(pbt._quantile_table({"value": s["p50"], "min": s["min"], "max": s["max"],
                                               "percentiles": {k: v for k, v in s.items() if k.startswith("p")}}))
        legs[leg] = pbt.Leg(quantiles=tables, label=" + ".join(hops))
    return pbt.Latency(legs["feed"], legs["order"], legs["reply"], spec="live run's own hops")


def _pnl(fills: list[tuple[int, int, int, int]], marks: dict[int, float]) -> float:
    """$ PnL of (locate, side, qty, price) fills, marked at `marks` (locate -> mid $), before fees."""
    pnl = 0.0
    for loc, side, qty, price in fills:
        sign = 1 if side == ts.BUY else -1
        pnl += sign * qty * (marks.get(loc, price / pbt.PRICE) - price / pbt.PRICE)
    return pnl


def run_live_gap(impl: str, size: Size) -> list[Measurement]:
    """Lab 7 live, then lab 8 on the same stream (re-timed as the live
    exchange sent it) with the live run's own latencies: fills and PnL compared."""
    from . import system
    from .trading_system import RATE

    n = _LIVE[size]
    cfg = system.Config(strategy="python", messages=n, rate=RATE, seed=0)
    live = system.run(cfg)
    if live.errors:
        raise RuntimeError(f"the live run failed: {'; '.join(live.errors)}")
    stream = retime(load_stream(0, n), RATE)
    lat = live_latency(live)
    res = backtest(stream, make_strategy("signal"), latency=lat, risk=risk_limits("signal"))
    bt = res.fills_frame()
    marks = res.marks_frame().dropna(subset=["mid"]).groupby("locate")["mid"].last().to_dict()
    orders = {o["user_ref"]: o for o in live.records["oms"]["orders"]}
    live_fills = [(orders[f["user_ref"]]["locate"], orders[f["user_ref"]]["side"], f["qty"], f["price"])
                  for f in live.records["oms"]["fills"]]
    bt_fills = [(int(r.locate), ts.BUY if r.side > 0 else ts.SELL, int(r.qty), int(round(r.price * pbt.PRICE)))
                for r in bt.itertuples()]
    live_pnl, bt_pnl = _pnl(live_fills, marks), _pnl(bt_fills, marks)
    live_orders = live.counts["engine"].get("orders", 0)
    # where the two paths part: the first order (in sending order) that differs in id, symbol, side, price or size
    lo = [(o["cl_ord_id"], o["locate"], o["side"], o["price"], o["qty"]) for o in live.records["oms"]["orders"]]
    bo = list(zip(*(res.orders[k] for k in ("cl_ord_id", "locate", "side", "price", "qty"))))
    first = next((i for i, (a, b) in enumerate(zip(lo, bo)) if a != b), min(len(lo), len(bo)))
    eng = live.counts["engine"]
    detail = {"messages": n, "rate": RATE, "latency": lat.describe(), "live_fills": len(live_fills),
              "backtest_fills": len(bt_fills), "live_orders": live_orders, "backtest_orders": res.orders_sent,
              "live_shares": sum(f[2] for f in live_fills), "backtest_shares": sum(f[2] for f in bt_fills),
              "live_pnl": live_pnl, "backtest_pnl": bt_pnl, "live_rejects": live.counts["engine"].get("rejects"),
              "backtest_rejects": res.rejects, "live_reconciled": live.reconciled,
              "common_fills": len(set(live_fills) & set(bt_fills)),
              "first_different_order": first, "live_order_there": list(lo[first]) if first < len(lo) else None,
              "backtest_order_there": list(bo[first]) if first < len(bo) else None,
              "live_rejects_by_reason": live.counts.get("risk_rejects", {}),
              "backtest_rejects_by_reason": res.rejects_by_reason,
              "live_snapshots": eng.get("snaps"), "live_dropped": eng.get("dropped"),
              "backtest_snapshots": res.snapshots,
              "pnl_marked_at": "the backtest's last mid per symbol, before fees (the same marks for both)"}
    return [Measurement("live_gap_fills", float(len(bt_fills) - len(live_fills)), None, detail),
            Measurement("live_gap_orders", float(res.orders_sent - live_orders), None, detail),
            Measurement("live_gap_pnl", bt_pnl - live_pnl, None, detail)]


EVENTS_GOALS = {"c": 10_000_000, "python": 300_000}  # the lab's own goals on 2 cores (the issue's), not the brief's

LAB = Lab(
    number=8,
    id="backtest",
    title="The backtester",
    summary="lab 7's strategy classes driven by an event-driven backtester: latency models from lab 7's "
            "measurements, exact L3 queue position, fees; analytics; hftbacktest and vectorbt as peers; "
            "parameter sweeps on Dask",
    metrics=(
        Metric("events_per_s", "msg/s", "higher", "ITCH messages through book, features, strategy and the simulated "
               "exchange per second (goals: >= 10 M with the C strategy, >= 300 K with a Python strategy on every "
               "book update)", outcome=True),
        Metric("pnl", "$", "higher", "the example strategy's PnL after fees, marked at the mid", outcome=True),
        Metric("sharpe", "ratio", "higher", "annualized Sharpe of 10 ms event-time bars (a convention, see the guide)"),
        Metric("sortino", "ratio", "higher", "annualized Sortino, the same bars"),
        Metric("max_drawdown", "$", "higher", "the deepest fall of equity below its running peak (<= 0)"),
        Metric("max_drawdown_frac", "frac", "higher", "the same as a fraction of the peak equity"),
        Metric("fees", "$", "lower", "fees paid (negative: rebates earned)"),
        Metric("turnover", "x", "lower", "$ traded over capital"),
        Metric("fill_ratio", "frac", "higher", "orders with at least one fill over orders sent"),
        Metric("hit_rate", "frac", "higher", "round trips (FIFO lots) that made money"),
        Metric("avg_holding_ns", "ns", "lower", "mean holding time of a round trip, event time"),
        Metric("fills", "fills", "higher", "executions of the strategy's orders"),
        Metric("live_gap_fills", "fills", "lower", "backtest fills minus live fills, same stream and latencies",
               outcome=True),
        Metric("live_gap_orders", "orders", "lower", "backtest orders minus live orders", outcome=True),
        Metric("live_gap_pnl", "$", "lower", "backtest PnL minus live PnL (same marks, before fees)", outcome=True),
    ),
    workloads=(
        Workload("events", run_events, ("c", "python", "peer:hftbacktest", "peer:vectorbt"), ("events_per_s",),
                 "events per second of the backtest loop: C strategy, Python strategies, pure Python, the peers",
                 variants=(None, "signal", "pure-python", "one-symbol", "mm", "mm-one-symbol")),
        Workload("analytics", run_analytics, ("c", "python"), ANALYTICS,
                 "the example strategies' analytics on the simulated stream", variants=(None, "mm", "signal")),
        Workload("live-gap", run_live_gap, ("python",), ("live_gap_fills", "live_gap_orders", "live_gap_pnl"),
                 "lab 7 live against lab 8 on the same stream with the live run's latencies", cross_core=True),
    ),
    plot_groups=(
        ("events per second", ("events_per_s",)),
        ("the example strategies", ("pnl", "fees")),
    ),
)
