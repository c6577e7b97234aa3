"""Lab 8, pure Python: the event-driven backtester (the reference semantics).

It replays an ITCH 5.0 stream through the *same pieces* lab 7 runs live -
lab 6's features over lab 5's book (the engine's view), lab 7's order
manager with its pre-trade risk checks, and lab 7's matcher with its exact
L3 queue position (the exchange) - and drives *the same strategy class*
(`pyimpl.trading_system.SignalStrategy`, `MarketMaker`, anything with
`on_features` / `on_execution` / `on_reject` / `on_cancel` / `on_accept`).
What replaces lab 7's processes and rings is a clock and three delays:

    exchange time t           the ITCH message's own timestamp
      feed message  t  -- F -->  engine + strategy at t + F      (feed latency)
      order decided d  -- O -->  exchange at d + O               (order latency)
      reply at exch u  -- R -->  engine + strategy at u + R      (reply latency)

Each leg is FIFO (a TCP session or a multicast line never reorders): a
message leaves a leg no earlier than the one before it.  So the backtest is a
merge of four time-ordered streams - feed at the exchange, feed at the
engine, orders at the exchange, replies at the engine - and one loop takes
whichever is due first.  At equal times the exchange acts before the engine
(its feed, then arriving orders), and the engine takes replies before feed:
with every latency 0, feed message i is matched, then seen, then answered,
and the answer reaches the exchange before message i + 1 (timestamps strictly
increase).

No look-ahead, by construction: the strategy is handed `Snapshot`s and
`Report`s (immutable tuples) and nothing else - not the stream, not the
backtester, not the exchange - and a snapshot exists only once its message
has reached the engine.  tests/test_backtest.py shows it two ways: a stream
changed after message k cannot change any decision made before message k + 1
arrived, and more latency never gives a queue-joining order more fills.

cimpl/backtest.c is the same loop in C (the C strategy called inline, or a
Python strategy called back per snapshot); the tests hold the two to the
same fills.  This module is the readable one: one function, `run`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import tomllib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import itch, ouch
from . import oms as _oms
from . import trading_system as ts
from .exchange import Exchange
from .ml_inference import FeatureEngine

__all__ = ["BacktestError", "Fees", "Latency", "Leg", "Result", "parse_latency", "run", "PRICE"]

PRICE = 10_000  # ITCH price units per dollar


class BacktestError(RuntimeError):
    """The strategy raised: at which event, what it said, and the partial
    result up to that event (`partial`), so nothing already computed is lost."""

    def __init__(self, event: int, message: str, partial: Result | None) -> None:
        super().__init__(f"the strategy raised at event {event}: {message}")
        self.event, self.partial = event, partial


# ------------------------------------------------------------ latency
class Leg:
    """One leg's delay: a constant, or draws from an empirical distribution
    given by its quantiles (piecewise-linear inverse CDF between them, the
    smallest and largest sample at 0 and 1).  A sum of several hops (lab 7's
    hops, each measured alone) is drawn hop by hop and added: the hops are
    taken as independent, which understates the tail when one preemption
    delays two hops at once (the guide says so)."""

    def __init__(self, constant: int | None = None, quantiles: list[list[tuple[float, float]]] | None = None,
                 label: str = "") -> None:
        if (constant is None) == (quantiles is None):
            raise ValueError("a latency leg is a constant or quantile tables, not both")
        if constant is not None and (not isinstance(constant, int) or constant < 0):
            raise ValueError(f"a constant latency must be an int >= 0 ns, got {constant!r}")
        self.constant, self.quantiles, self.label = constant, quantiles, label

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n delays (int64 ns)."""
        if self.constant is not None:
            return np.full(n, self.constant, dtype=np.int64)
        total = np.zeros(n, dtype=np.float64)
        for table in self.quantiles:
            u, v = np.array(table, dtype=np.float64).T
            total += np.interp(rng.random(n), u, v)
        return np.rint(total).astype(np.int64)

    def median(self) -> float:
        if self.constant is not None:
            return float(self.constant)
        return float(sum(np.interp(0.5, *np.array(t, dtype=np.float64).T) for t in self.quantiles))

    def __repr__(self) -> str:
        return f"Leg({self.label or self.constant})"


@dataclass(frozen=True)
class Latency:
    """The three legs (see the module docstring) and the seed of their draws."""

    feed: Leg
    order: Leg
    reply: Leg
    spec: str = "constant:0"
    seed: int = 0

    def describe(self) -> dict:
        return {"spec": self.spec, "feed_p50_ns": self.feed.median(), "order_p50_ns": self.order.median(),
                "reply_p50_ns": self.reply.median()}


# lab 7's hops that make each leg, for `from:PATH` (labs/trading_system.py's HOPS): the feed reaches the
# strategy through the feed ring, the engine and ring A; its answer costs the strategy's own time, ring B and
# the orders ring; a reply comes back through the replies ring and ring C (timed as ring A's hop: the report
# ring has no sample of its own).  The risk checks (~1 us) ride in the engine's hop of the order.
FROM_HOPS = {"feed": ("hop_feed", "hop_engine", "hop_snap"),
             "order": ("hop_strategy", "hop_intent", "hop_order"),
             "reply": ("hop_reply", "hop_snap")}


def _quantile_table(rec: dict) -> list[tuple[float, float]]:
    pct = rec.get("percentiles") or {}
    pts = [(0.0, float(rec.get("min", rec["value"])))]
    for k, v in sorted(((float(k[1:]) / 100.0, float(v)) for k, v in pct.items()), key=lambda kv: kv[0]):
        pts.append((k, v))
    pts.append((1.0, float(rec.get("max", pts[-1][1]))))
    us, vs = zip(*pts)
    return list(zip(us, np.maximum.accumulate(vs)))  # a quantile function never decreases


def parse_latency(spec: str, seed: int = 0) -> Latency:
    """`constant:NS` (every leg NS), `constant:FEED,ORDER,REPLY`, or
    `from:PATH` (a results.json of lab 7: its Python strategy's hop
    distributions, see FROM_HOPS).  ValueError naming the problem."""
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError(f"bad latency spec {spec!r}: expected constant:NS, constant:FEED,ORDER,REPLY or from:PATH")
    kind, _, arg = spec.partition(":")
    if kind == "constant":
        parts = arg.split(",")
        if len(parts) not in (1, 3) or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"bad latency spec {spec!r}: constant takes NS or FEED,ORDER,REPLY (integers, ns)")
        ns = [int(p) for p in parts] * (3 if len(parts) == 1 else 1)
        return Latency(*(Leg(v, label=f"{v} ns") for v in ns), spec=spec, seed=seed)
    if kind == "from":
        path = Path(arg)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"bad latency spec {spec!r}: cannot read {path}: {e}") from None
        recs = {r["metric"]: r for r in data.get("records", [])
                if r.get("lab") == "trading-system" and r.get("impl") == "python" and r.get("variant") is None}
        legs = {}
        for leg, hops in FROM_HOPS.items():
            missing = [h for h in hops if f"{h}_p50_ns" not in recs]
            if missing:
                raise ValueError(f"bad latency spec {spec!r}: {path} has no lab-7 Python-strategy record of "
                                 f"{', '.join(m + '_p50_ns' for m in missing)} (run `latencylab run trading-system`)")
            legs[leg] = Leg(quantiles=[_quantile_table(recs[f"{h}_p50_ns"]) for h in hops], label=" + ".join(hops))
        return Latency(legs["feed"], legs["order"], legs["reply"], spec=spec, seed=seed)
    raise ValueError(f"bad latency spec {spec!r}: unknown kind {kind!r} (constant or from)")


# ------------------------------------------------------------ fees
@dataclass(frozen=True)
class Fees:
    """$ per share, by who provided the liquidity: the maker (our order
    rested, liquidity 'A') usually earns a rebate (negative), the taker
    ('R', our order crossed) pays.  The defaults are of the order of a US
    exchange's published schedule."""

    maker: float = -0.0020
    taker: float = 0.0030

    @classmethod
    def from_toml(cls, path) -> Fees:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ValueError(f"cannot read the fees file {path}: {e}") from None
        unknown = set(data) - {"maker", "taker"}
        if unknown:
            raise ValueError(f"{path}: unknown fee key(s) {sorted(unknown)}; known: maker, taker ($ per share)")
        for k, v in data.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{path}: {k} must be a number of $ per share, got {v!r}")
        return cls(**{k: float(v) for k, v in data.items()})

    def of(self, liquidity: int, qty: int) -> float:
        return (self.maker if liquidity == ord("A") else self.taker) * qty


# ------------------------------------------------------------ the result
@dataclass
class Result:
    """What one backtest produced.  fills / marks are plain arrays here;
    `fills_frame()` / `marks_frame()` give them as pandas DataFrames
    (labs/analytics.py's input)."""

    events: int = 0  # ITCH messages processed
    book_updates: int = 0
    snapshots: int = 0  # strategy calls (on_features)
    seconds: float = 0.0  # wall time of the loop
    orders_sent: int = 0  # OUCH Enter Orders
    cancels_sent: int = 0
    rejects: int = 0  # intents the risk checks refused
    fills: dict = field(default_factory=dict)  # column -> list
    marks: dict = field(default_factory=dict)
    # the Enter Orders sent: cl_ord_id, locate, side, price, qty, decided_ns (the engine's time), arrive_ns (at the
    # exchange); pyimpl's loop keeps them (for the tests' independent queue check), the C loop may not
    orders: dict = field(default_factory=dict)
    symbols: dict = field(default_factory=dict)  # locate -> ticker
    counters: dict = field(default_factory=dict)
    rejects_by_reason: dict = field(default_factory=dict)
    reconciled: bool | None = None
    halted: int = 0  # the kill switch's reason, 0 if it never tripped
    error: str | None = None  # a feed error in a --lenient run (where it stopped)
    config: dict = field(default_factory=dict)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("nan")

    def fills_frame(self):
        import pandas as pd

        f = self.fills
        df = pd.DataFrame({k: np.asarray(f.get(k, []), dtype=dt) for k, dt in FILL_COLUMNS})
        df["symbol"] = [self.symbols.get(int(x), str(int(x))) for x in df["locate"]]
        df["side"] = np.where(df["side"] == ts.BUY, 1, -1).astype(np.int64)
        df["price"] = df["price"] / PRICE
        df["liquidity"] = [chr(int(x)) for x in df["liquidity"]]
        return df[["ts_ns", "seen_ns", "locate", "symbol", "side", "price", "qty", "liquidity", "fee", "cl_ord_id"]]

    def marks_frame(self):
        import pandas as pd

        m = self.marks
        bid = np.asarray(m.get("bid", []), dtype=np.float64) / PRICE
        ask = np.asarray(m.get("ask", []), dtype=np.float64) / PRICE
        bid[bid == 0] = np.nan
        ask[ask == 0] = np.nan
        return pd.DataFrame({"ts_ns": np.asarray(m.get("ts_ns", []), dtype=np.int64),
                             "locate": np.asarray(m.get("locate", []), dtype=np.int64),
                             "bid": bid, "ask": ask, "mid": (bid + ask) / 2})


FILL_COLUMNS = (("ts_ns", np.int64), ("seen_ns", np.int64), ("locate", np.int64), ("side", np.int64),
                ("price", np.float64), ("qty", np.int64), ("liquidity", np.int64), ("fee", np.float64),
                ("cl_ord_id", np.int64))


def _report(r: _oms.Report) -> ts.Report:
    """The OMS's report in the strategy's shape (ts_layout.h's ll_ts_report)."""
    return ts.Report(r.kind, r.side, r.locate, r.cl_ord_id, r.price, r.qty, r.leaves, r.reason, r.position, r.ns)


# ------------------------------------------------------------ the loop
_EXCH_FEED, _EXCH_ORDER, _ENG_REPLY, _ENG_FEED = 0, 1, 2, 3  # the tie order at equal times (module docstring)


def run(stream, strategy, *, latency: Latency | str = "constant:0", fees: Fees = Fees(),
        risk: _oms.RiskLimits | None = None, lenient: bool = False, max_orders: int | None = None,
        progress=None) -> Result:
    """Backtest `strategy` on a framed ITCH 5.0 stream (see the module docstring).

    risk: lab 7's limits (None: labs/07-trading-system/risk.toml's defaults,
    `RiskLimits()`); pass permissive limits to study a strategy without them.
    lenient: stop at the first bad frame and return what was done (Result.error
    says where) instead of raising ItchError.  progress: a callable(done) called
    every 65536 events (a progress bar)."""
    if isinstance(latency, str):
        latency = parse_latency(latency)
    frames = _frames(stream, lenient)
    bodies, stop_error = frames
    n = len(bodies)
    stamps = [_stamp(b) for b in bodies]
    feed_at, order_d, reply_d = draw_latencies(latency, np.asarray(stamps, dtype=np.int64))
    feed_at = feed_at.tolist()
    order_lat, reply_lat = _Draws(order_d), _Draws(reply_d)

    max_orders = max_orders or min(2 * n + 1024, 1 << 22)
    exch = Exchange(max_orders=max_orders, max_open=4096, max_fills=min(4 * max_orders, 1 << 26))
    fe = FeatureEngine()
    book = fe.book
    oms = _oms.Oms(risk or _oms.RiskLimits(), max_orders=max_orders, max_symbols=1024,
                   max_fills=min(4 * max_orders, _oms.MAX_FILLS))
    res = Result(config={"latency": latency.describe(), "fees": dataclasses.asdict(fees),
                         "risk": dataclasses.asdict(oms.limits), "strategy": type(strategy).__name__})
    fills = res.fills = {k: [] for k, _ in FILL_COLUMNS}
    marks = res.marks = {"ts_ns": [], "locate": [], "bid": [], "ask": []}
    sent = res.orders = {k: [] for k in ("cl_ord_id", "locate", "side", "price", "qty", "decided_ns", "arrive_ns")}
    symbols: dict[int, bytes] = {}
    handlers = {ts.REPORT_EXECUTED: strategy.on_execution, ts.REPORT_REJECTED: strategy.on_reject,
                ts.REPORT_CANCELED: getattr(strategy, "on_cancel", strategy.on_reject),
                ts.REPORT_ACCEPTED: getattr(strategy, "on_accept", None),
                ts.REPORT_HALTED: strategy.on_reject}
    orders: deque = deque()  # (arrival at the exchange, OUCH bytes)
    replies: deque = deque()  # (arrival at the engine, OUCH reply bytes)
    last_order = last_reply = 0

    def to_exchange(s: _oms.Send, now: int) -> None:
        nonlocal last_order
        last_order = max(last_order, now + order_lat.next())
        if s.kind == _oms.SEND_NEW:
            msg = ouch.encode(ouch.EnterOrder(s.user_ref, bytes((s.side,)), s.qty, symbols[s.locate], s.price,
                                              cl_ord_id=ouch.clordid(s.cl_ord_id)))
            res.orders_sent += 1
            for k, v in zip(sent, (s.cl_ord_id, s.locate, s.side, s.price, s.qty, now, last_order)):
                sent[k].append(v)
        else:
            msg = ouch.encode(ouch.CancelOrder(s.user_ref, 0))
            res.cancels_sent += 1
        orders.append((last_order, msg))

    def exchange_replies(out: list[bytes], now: int) -> None:
        nonlocal last_reply
        for msg in out:
            last_reply = max(last_reply, now + reply_lat.next())
            replies.append((last_reply, msg))

    def deliver(r: _oms.Report) -> None:
        h = handlers.get(r.kind, strategy.on_reject)
        if h is not None:
            try:
                h(_report(r))
            except Exception as e:
                raise _StrategyFailed(e) from e

    def kill_actions(now: int) -> None:  # the kill switch's queued report and cancels (lab 7's take_actions)
        for a in oms.drain():
            if isinstance(a, _oms.Send):
                to_exchange(a, now)
            else:
                res.halted = a.reason
                deliver(a)

    def on_intents(intents, now: int) -> None:
        for it in intents:
            if it.kind == ts.INTENT_NEW:
                out = oms.submit(_oms.Intent(it.kind, it.side, it.locate, it.cl_ord_id, it.price, it.qty), now)
            elif it.kind == ts.INTENT_CANCEL:
                out = oms.cancel(it.cl_ord_id, now)
            else:  # SIGNAL, HEARTBEAT: nothing to do in a backtest
                continue
            if isinstance(out, _oms.Send):
                to_exchange(out, now)
            else:
                res.rejects += 1
                deliver(out)
            kill_actions(now)

    def on_reply(msg: bytes, now: int) -> None:
        m = ouch.decode_out(msg)
        if isinstance(m, ouch.OrderAccepted):
            out = oms.on_accepted(m.user_ref, m.order_ref, now)
        elif isinstance(m, ouch.OrderExecuted):
            out = oms.on_executed(m.user_ref, m.qty, m.price, m.match, m.liquidity[0], now)
            if isinstance(out, _oms.Report):
                fills["ts_ns"].append(m.timestamp)
                fills["seen_ns"].append(now)
                fills["locate"].append(out.locate)
                fills["side"].append(out.side)
                fills["price"].append(m.price)
                fills["qty"].append(m.qty)
                fills["liquidity"].append(m.liquidity[0])
                fills["fee"].append(fees.of(m.liquidity[0], m.qty))
                fills["cl_ord_id"].append(out.cl_ord_id)
        elif isinstance(m, ouch.OrderCanceled):
            out = oms.on_canceled(m.user_ref, m.qty, m.reason[0], now)
        elif isinstance(m, ouch.OrderRejected):
            if m.reason == ouch.REJ_CANCEL_NOT_ALLOWED:
                rec = oms.order(m.user_ref)  # the cancel crossed the fill that closed the order (lab 7's race)
                if rec is not None and rec.state in (_oms.State.FILLED, _oms.State.CANCELED):
                    return
                out = oms.on_cancel_rejected(m.user_ref, now)
            else:
                out = oms.on_rejected(m.user_ref, m.reason, now)
        else:
            return
        if isinstance(out, _oms.Report):
            deliver(out)
        kill_actions(now)

    def engine_feed(i: int, now: int) -> None:
        body = bodies[i]
        row = fe.apply(body)
        if row is None:
            if body[0] == 82:  # R: a symbol we may trade
                locate, stock = body[1] << 8 | body[2], bytes(body[11:19])
                symbols[locate] = stock
                res.symbols[locate] = stock.decode("ascii").strip()
                oms.add_symbol(locate)
            return
        res.book_updates += 1
        locate = body[1] << 8 | body[2]
        bid, ask = book.best(locate)
        bp, bs = bid or (0, 0)
        ap, as_ = ask or (0, 0)
        marks["ts_ns"].append(stamps[i])
        marks["locate"].append(locate)
        marks["bid"].append(bp)
        marks["ask"].append(ap)
        oms.on_quote(locate, bp, ap, now)
        kill_actions(now)
        flags = ts.SNAP_FEATURES_OK if all(map(math.isfinite, row)) else 0
        snap = ts.Snapshot(i + 1, stamps[i], now, locate, flags, 0, bp, ap, bs, as_, tuple(row))
        res.snapshots += 1
        try:
            on_intents(strategy.on_features(snap), now)  # an intent the OMS cannot even read is the strategy's bug too
        except _StrategyFailed:
            raise
        except Exception as e:
            raise _StrategyFailed(e) from e

    t0 = time.perf_counter()
    i_x = i_e = 0  # next feed message at the exchange, at the engine
    INF = 1 << 62
    try:
        while i_e < n or orders or replies:
            tx = stamps[i_x] if i_x < n else INF
            to = orders[0][0] if orders else INF
            tr = replies[0][0] if replies else INF
            te = feed_at[i_e] if i_e < n else INF
            # the earliest event; ties in the order exchange feed, exchange orders, engine replies, engine feed
            if tx <= to and tx <= tr and tx <= te:
                try:
                    out = exch.on_feed(bodies[i_x])
                except ValueError as e:  # the book refuses the message (an unknown order...): bad data
                    if not lenient:
                        raise at_message(e, i_x + 1) from None
                    stop_error, n = f"message {i_x + 1} of the stream: {e}", i_x  # replay what came before it
                    continue
                exchange_replies(out, tx)
                i_x += 1
            elif to <= tr and to <= te:
                at, msg = orders.popleft()
                exchange_replies(exch.on_order(msg, at), at)
            elif tr <= te:
                at, msg = replies.popleft()
                on_reply(msg, at)
            else:
                engine_feed(i_e, te)
                i_e += 1
                if progress is not None and not i_e & 0xFFFF:
                    progress(i_e)
    except _StrategyFailed as e:  # the strategy's own bug: say where, keep what was done
        res.events = i_e
        _finish(res, t0, exch, oms)
        raise BacktestError(i_e, f"{type(e.cause).__name__}: {e.cause}", res) from e.cause
    res.events = n
    res.error = stop_error
    _finish(res, t0, exch, oms)
    return res


def at_message(e: Exception, k: int) -> Exception:
    """The book's error for the stream's k-th message, its words prefixed by
    where it is (the same type and attributes: an UnknownMessage keeps its offset)."""
    import copy

    out = copy.copy(e)
    out.args = (f"message {k} of the stream: {e}",) + e.args[1:]
    return out


class _StrategyFailed(Exception):
    def __init__(self, cause: BaseException) -> None:
        self.cause = cause


def _finish(res: Result, t0: float, exch, oms) -> None:
    res.seconds = time.perf_counter() - t0
    c = oms.counters()
    res.rejects_by_reason = c.pop("rejects", {})
    res.counters = {"oms": c, "exchange": exch.stats()}
    res.reconciled = reconcile(exch, oms)


def reconcile(exch, oms) -> bool:
    """The order manager's fills and positions equal the exchange's (lab 7's
    reconciliation, in one process): every fill (order, shares, price)
    matched one for one, and the net position of each symbol."""
    mine = sorted((f.user_ref, f.qty, f.price) for f in oms.fills())
    theirs = sorted((f.user_ref, f.qty, f.price) for f in exch.fills())
    if mine != theirs:
        return False
    pos_oms = {p.locate: p.position for p in oms.positions() if p.position}
    pos_exch = {p.locate: p.position for p in exch.positions() if p.position}
    return pos_oms == pos_exch


class _Draws:
    """The delays of one leg, drawn up front: DRAWS of them, used in turn and
    then again from the first (cimpl/backtest.c is handed the same arrays and
    uses them the same way, so both loops see the same delays)."""

    def __init__(self, values: np.ndarray) -> None:
        self.v, self.k = values.tolist(), 0

    def next(self) -> int:
        d = self.v[self.k]
        self.k = self.k + 1 if self.k + 1 < len(self.v) else 0
        return d


DRAWS = 65536  # delays drawn per order / reply leg


def draw_latencies(latency: Latency, stamps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The run's delays, in this order from one generator seeded latency.seed:
    the arrival of every feed message at the engine (its stamp plus a feed
    delay, never before the message ahead of it: the leg is FIFO), then
    DRAWS order delays and DRAWS reply delays."""
    rng = np.random.default_rng(latency.seed)
    feed_at = np.maximum.accumulate(stamps + latency.feed.draws(len(stamps), rng)) if len(stamps) else stamps
    return feed_at, latency.order.draws(DRAWS, rng), latency.reply.draws(DRAWS, rng)


def _stamp(body) -> int:
    return int.from_bytes(body[5:11], "big")


def _frames(stream, lenient: bool) -> tuple[list[bytes], str | None]:
    """The stream's message bodies; with lenient, those before the first bad
    frame and what was wrong there."""
    out: list[bytes] = []
    try:
        for _, body in itch.iter_frames(stream):
            out.append(bytes(body))
    except itch.ItchError as e:
        if not lenient:
            raise
        return out, str(e)
    return out, None
