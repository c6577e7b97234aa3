"""Lab 8's peers, run on the same ITCH stream as our backtester.

- **hftbacktest** (Rust core, Numba strategies): the open-source HFT backtester
  with latency and queue-position models.  `run_hftbacktest_mm` runs the
  SPEC's market maker (pyimpl.trading_system.MarketMaker's rules) as a Numba
  strategy against it, on one symbol of the stream, with a constant order
  latency and the feed latency written into the data.  Its L3 FIFO queue
  model on market-by-order events is the fair peer of our exact queue
  position; its L2 models (RiskAdverse, PowerProb) on the same book
  aggregated per price show what guessing the queue position costs.
- **vectorbt**: vectorised backtests from signals.  `run_vectorbt_signal`
  turns lab 6's model into entry/exit signals per book update and lets
  `Portfolio.from_signals` trade them at the mid: no queue, no latency, no
  spread - what a research backtest gives before any of lab 8's realism.

ITCH -> hftbacktest events (`itch_to_hbt_events`, one symbol)
-------------------------------------------------------------
hftbacktest's L3 exchange (L3NoPartialFillExchange + L3FIFOQueueModel) and
its L3 local side read these event kinds (flags ORed into `ev`; EXCH_EVENT:
the exchange processes the row at exch_ts, LOCAL_EVENT: the strategy's side
at local_ts; BUY_EVENT / SELL_EVENT: the book side):

    ITCH               hftbacktest rows (same timestamps)
    A, F  add          ADD_ORDER  |EXCH|LOCAL|side   order_id=ref, px, qty
    E, C  execution    FILL       |EXCH|side         px=execution price, qty=executed
                       then MODIFY|EXCH|LOCAL  qty=shares left   (or CANCEL if none left)
    X     cancel part  MODIFY     |EXCH|LOCAL  qty=shares left   (or CANCEL if none left)
    D     delete       CANCEL     |EXCH|LOCAL
    U     replace      CANCEL old |EXCH|LOCAL, then ADD_ORDER new |EXCH|LOCAL|side

Why so (read from hftbacktest's source): its L3 exchange treats a FILL as a
queue event only - every one of our orders ahead of the executed order at
its price fills - and leaves the depth alone, as market-by-order feeds send
a fill and the order's size change as separate records (see the comment on
L3QueueModel.fill_market_feed_order); hence FILL, then the size change.  The FILL is an exchange-only row: the local side has no use for it.
A MODIFY that keeps the price and does not grow the order keeps its queue
place (L3FIFOQueueModel.modify_market_feed_order), which is what an ITCH
partial cancel means.  Any side flag on a FILL makes it count (the model takes
the side from its own map of the order); we give the resting order's side.
local_ts = exch_ts + feed latency (constant), so the rows are in order for
both processors and every row can carry both flags.  Prices are ITCH's /
10000 ($, tick 0.01), quantities shares (lot 1).

`itch_to_hbt_l2_events` aggregates the same book per price: every change of
a level's total is a DEPTH row (qty = the level's new total, 0 = gone), and
an execution is first a TRADE row (side = the aggressor: a resting bid
executed is a seller-initiated trade) then the level's DEPTH row, the order
hftbacktest's L2 queue models expect (the prob models subtract the traded
shares from the depth change that follows).  A replace at the same price is
one DEPTH row with the net change.

How hftbacktest's orders differ from the SPEC's (its source, 2.4.4)
-------------------------------------------------------------------
- No partial fills: a resting order fills *whole* as soon as one execution
  reaches it in the queue, whatever that execution's size (there is no L3
  partial-fill exchange).  Ours fills with the shares the execution brings.
- An order that crosses on arrival fills whole at the best opposite price,
  whatever size rests there (ours sweeps level by level); a feed order added
  through our resting one fills ours whole (ours: up to the added shares).
- A resting bid priced above every displayed bid (its level emptied while it
  travelled) is not filled by a sell hitting the displayed best bid: the L3
  model only fills our bids between the execution's price and the displayed
  best.  Ours fills it (that seller would have met it first).
- An order can be cancelled only once acknowledged and with no request in
  flight (`cancellable`); the SPEC's strategy may cancel a pending new order
  at once (the exchange gets the cancel after the Enter, FIFO).  The twin
  waits for the ack: its cancels leave a round trip later.
- The strategy wakes when `wait_next_feed` returns: once per local
  timestamp, after every row stamped then (an E's or a U's two rows: one
  wake-up); the wake-up for the data's last timestamp comes back as "end of
  data", so it wakes once fewer than there are messages.  Replies are applied as they arrive and
  wake nobody (the SPEC acts on snapshots); position and fills are the local
  side's, from the replies.  Nothing is ever rejected here, so the lead's
  reject cooldown has no twin.
- Fees: TradingQtyFeeModel, $ per share, maker for resting fills, taker for
  crossing ones: the SPEC's Fees.
"""

from __future__ import annotations

import functools
import time

import numpy as np
import pandas as pd

from pyimpl import itch

from .lab import Skip

__all__ = ["check_available", "itch_to_hbt_events", "itch_to_hbt_l2_events", "run_hftbacktest_mm",
           "run_vectorbt_signal", "signal_inputs", "QUEUE_MODELS"]

TICK = 100  # ITCH price units per tick ($0.01)
TICK_SIZE = 0.01  # $
PRICE = itch.PRICE_SCALE  # ITCH price units per $
QUEUE_MODELS = ("l3fifo", "risk_averse", "prob")
PROB_N = 3.0  # PowerProbQueueModel's exponent (hftbacktest's examples use 2 or 3)
WARMUP_ROWS = 2000  # the prefix of the events the Numba strategy is compiled on before a timed run
INVALID_MIN, INVALID_MAX = -(1 << 63), (1 << 63) - 1  # hftbacktest's best bid / ask tick of an empty side

# hftbacktest's event flags (hftbacktest.types; copied so that the converter
# runs and is tested where hftbacktest is absent)
DEPTH_EVENT, TRADE_EVENT = 1, 2
ADD_ORDER_EVENT, CANCEL_ORDER_EVENT, MODIFY_ORDER_EVENT, FILL_EVENT = 10, 11, 12, 13
EXCH_EVENT, LOCAL_EVENT = 1 << 31, 1 << 30
BUY_EVENT, SELL_EVENT = 1 << 29, 1 << 28
EVENT_DTYPE = np.dtype([("ev", "u8"), ("exch_ts", "i8"), ("local_ts", "i8"), ("px", "f8"), ("qty", "f8"),
                        ("order_id", "u8"), ("ival", "i8"), ("fval", "f8")], align=True)
BOTH = EXCH_EVENT | LOCAL_EVENT
_SIDE = {b"B": BUY_EVENT, b"S": SELL_EVENT}


def check_available(name: str) -> None:
    """Skip (labs.lab.Skip) with the reason where the peer `name`
    ("hftbacktest" or "vectorbt") cannot be imported."""
    if name not in ("hftbacktest", "vectorbt"):
        raise ValueError(f"unknown peer {name!r} (hftbacktest or vectorbt)")
    try:
        __import__(name)
    except Exception as e:  # ImportError, or a broken install (a numpy it was not built for ...)
        raise Skip(f"{name} cannot be imported: {e} (pip install 'latencylab[backtest]')") from None


# ------------------------------------------------------------ ITCH -> hftbacktest events
def _symbol_messages(stream: bytes, locate: int) -> list:
    """The book messages (A F E C X D U) of one stock locate, decoded, in stream order."""
    out = []
    for _, body in itch.iter_frames(stream):
        if body[0] in b"AFECXDU" and int.from_bytes(body[1:3], "big") == locate:
            out.append(itch.decode(body))
    return out


def _dollars(price: int) -> float:
    if price % TICK:
        raise ValueError(f"ITCH price {price} is not a whole number of ticks of {TICK}")
    return price / PRICE


def _events(rows: list[tuple]) -> np.ndarray:
    """rows as hftbacktest's event array.  hftbacktest reads the array in place
    through a raw pointer, its `Event` is declared 64-byte aligned (Rust's
    align(64)), and NumPy's allocator only promises 16: so the array is cut
    out of a buffer at a 64-byte boundary (the view keeps the buffer alive)."""
    n = len(rows)
    raw = np.empty(n * EVENT_DTYPE.itemsize + 64, dtype=np.uint8)
    start = -raw.ctypes.data % 64
    out = raw[start:start + n * EVENT_DTYPE.itemsize].view(EVENT_DTYPE)
    if n:
        out[:] = np.array(rows, dtype=EVENT_DTYPE)
    return out


def _l3_rows(msgs: list, feed_latency_ns: int) -> list[tuple]:
    orders: dict[int, list] = {}  # ref -> [side flag, $ price, shares left]
    rows: list[tuple] = []

    def row(ev, ts, px, qty, ref):
        rows.append((ev, ts, ts + feed_latency_ns, px, qty, ref, 0, 0.0))

    def shrink(ts, ref, n):  # the order lost n shares: MODIFY to what is left, or CANCEL
        o = orders[ref]
        o[2] -= n
        if o[2] > 0:
            row(MODIFY_ORDER_EVENT | BOTH | o[0], ts, o[1], o[2], ref)
        else:
            del orders[ref]
            row(CANCEL_ORDER_EVENT | BOTH | o[0], ts, o[1], 0.0, ref)

    for m in msgs:
        ts = m.timestamp
        if isinstance(m, itch.AddOrder):
            side, px = _SIDE[m.side], _dollars(m.price)
            orders[m.order_ref] = [side, px, m.shares]
            row(ADD_ORDER_EVENT | BOTH | side, ts, px, m.shares, m.order_ref)
        elif isinstance(m, (itch.OrderExecuted, itch.OrderExecutedWithPrice)):
            o = orders[m.order_ref]
            px = _dollars(m.execution_price) if isinstance(m, itch.OrderExecutedWithPrice) else o[1]
            row(FILL_EVENT | EXCH_EVENT | o[0], ts, px, m.executed_shares, m.order_ref)  # moves the queue
            shrink(ts, m.order_ref, m.executed_shares)  # then the depth
        elif isinstance(m, itch.OrderCancel):
            shrink(ts, m.order_ref, m.cancelled_shares)
        elif isinstance(m, itch.OrderDelete):
            shrink(ts, m.order_ref, orders[m.order_ref][2])
        elif isinstance(m, itch.OrderReplace):  # the old order leaves, the new one joins at the back
            side = orders[m.original_order_ref][0]
            shrink(ts, m.original_order_ref, orders[m.original_order_ref][2])
            px = _dollars(m.price)
            orders[m.new_order_ref] = [side, px, m.shares]
            row(ADD_ORDER_EVENT | BOTH | side, ts, px, m.shares, m.new_order_ref)
    return rows


def _l2_rows(msgs: list, feed_latency_ns: int) -> list[tuple]:
    orders: dict[int, tuple] = {}  # ref -> (side flag, $ price, shares left)
    levels: dict[tuple, int] = {}  # (side flag, $ price) -> total shares
    rows: list[tuple] = []

    def level(ts, side, px, d):  # a level's total changes by d: one DEPTH row with the new total
        total = levels.get((side, px), 0) + d
        if total:
            levels[(side, px)] = total
        else:
            levels.pop((side, px), None)
        rows.append((DEPTH_EVENT | BOTH | side, ts, ts + feed_latency_ns, px, float(total), 0, 0, 0.0))

    def take(ts, ref, n):  # order ref loses n shares
        side, px, left = orders[ref]
        if left > n:
            orders[ref] = (side, px, left - n)
        else:
            del orders[ref]
        level(ts, side, px, -n)

    for m in msgs:
        ts = m.timestamp
        if isinstance(m, itch.AddOrder):
            side, px = _SIDE[m.side], _dollars(m.price)
            orders[m.order_ref] = (side, px, m.shares)
            level(ts, side, px, m.shares)
        elif isinstance(m, (itch.OrderExecuted, itch.OrderExecutedWithPrice)):
            side, px, _ = orders[m.order_ref]
            if isinstance(m, itch.OrderExecutedWithPrice):
                px = _dollars(m.execution_price)
            aggressor = SELL_EVENT if side == BUY_EVENT else BUY_EVENT
            rows.append((TRADE_EVENT | BOTH | aggressor, ts, ts + feed_latency_ns, px, float(m.executed_shares),
                         0, 0, 0.0))
            take(ts, m.order_ref, m.executed_shares)
        elif isinstance(m, itch.OrderCancel):
            take(ts, m.order_ref, m.cancelled_shares)
        elif isinstance(m, itch.OrderDelete):
            take(ts, m.order_ref, orders[m.order_ref][2])
        elif isinstance(m, itch.OrderReplace):
            side, old_px, left = orders.pop(m.original_order_ref)
            px = _dollars(m.price)
            orders[m.new_order_ref] = (side, px, m.shares)
            if px == old_px:  # one row with the net change: a level that empties for an instant
                level(ts, side, px, m.shares - left)  # would reset the L2 models' queue estimates
            else:
                level(ts, side, old_px, -left)
                level(ts, side, px, m.shares)
    return rows


def itch_to_hbt_events(stream: bytes, locate: int, feed_latency_ns: int) -> np.ndarray:
    """The book messages of stock `locate` in a framed ITCH 5.0 stream as
    hftbacktest's market-by-order (L3) events (its event_dtype, 64-byte
    aligned), exch_ts = the ITCH timestamp, local_ts = exch_ts +
    feed_latency_ns.  The mapping is in the module's docstring."""
    return _events(_l3_rows(_symbol_messages(stream, locate), feed_latency_ns))


def itch_to_hbt_l2_events(stream: bytes, locate: int, feed_latency_ns: int) -> np.ndarray:
    """The same book aggregated per price: hftbacktest's L2 events (DEPTH rows
    with each level's new total, a TRADE row before each execution's)."""
    return _events(_l2_rows(_symbol_messages(stream, locate), feed_latency_ns))


# ------------------------------------------------------------ the market maker on hftbacktest
@functools.cache
def _mm_kernel():
    """The SPEC's market maker as a Numba function, compiled on its first call
    (~6 s).  Built here so that importing this module needs neither numba nor
    hftbacktest.  Not cached on disk: hftbacktest's jitclasses hold ctypes
    function pointers, which Numba's cache refuses ("dynamic globals")."""
    from numba import njit

    from hftbacktest import GTC, LIMIT
    from hftbacktest.order import CANCELED, EXPIRED, FILLED

    FOREVER = 1 << 60  # wait_next_feed's timeout: until the next feed row

    @njit
    def collect(hbt, working, fills, n_fills):
        """Record the fills the replies brought, forget the orders that are gone."""
        values = hbt.orders(0).values()
        while values.has_next():
            o = values.get()
            if o.status == FILLED or o.status == CANCELED or o.status == EXPIRED:
                if o.status == FILLED and n_fills < fills.shape[0]:
                    fills[n_fills, 0] = o.exch_timestamp  # when the exchange filled it
                    fills[n_fills, 1] = o.side  # +1 buy, -1 sell
                    fills[n_fills, 2] = o.exec_price_tick
                    fills[n_fills, 3] = round(o.exec_qty)  # the whole order: no partial fills
                    fills[n_fills, 4] = 1 if o.arr[0].maker else 0  # (Order has no `maker` property)
                    n_fills += 1
                for s in range(2):
                    if working[s] == o.order_id:
                        working[s] = 0
        hbt.clear_inactive_orders(0)
        return n_fills

    @njit
    def run(hbt, qty, max_position, skew_ticks, fills):
        """Act on every feed wake-up until the data ends; the fills go into
        `fills` (rows: exchange time, side, price tick, qty, maker)."""
        working = np.zeros(2, np.uint64)  # our order per side (0 buy, 1 sell), 0 = none
        next_id = 1
        wakeups = sent = cancels = n_fills = 0
        err = 0
        while True:
            rc = hbt.wait_next_feed(False, FOREVER)
            if rc == 1:  # end of data
                break
            if rc != 2:  # 0: a timeout (cannot happen), >= 10: hftbacktest's error codes
                err = rc
                break
            wakeups += 1
            n_fills = collect(hbt, working, fills, n_fills)
            depth = hbt.depth(0)
            bid, ask = depth.best_bid_tick, depth.best_ask_tick
            if bid == INVALID_MIN or ask == INVALID_MAX:
                continue
            pos = hbt.position(0)
            lots = int(pos / qty)  # toward zero
            for s in range(2):  # buy, then sell
                if s == 0:
                    want = bid - max(lots, 0) * skew_ticks
                    allowed = pos + qty <= max_position
                else:
                    want = ask + max(-lots, 0) * skew_ticks
                    allowed = pos - qty >= -max_position
                if working[s] != 0:
                    o = hbt.orders(0).get(working[s])
                    # cancellable: acknowledged, no request in flight (a pending
                    # new or a pending cancel waits: one cancel at a time)
                    if o is not None and o.cancellable and (not allowed or o.price_tick != want):
                        hbt.cancel(0, working[s], False)
                        cancels += 1
                elif allowed:
                    # a Day order of the SPEC = GTC here; the price in $ (hftbacktest rounds it to ticks)
                    if s == 0:
                        hbt.submit_buy_order(0, next_id, want * TICK_SIZE, qty, GTC, LIMIT, False)
                    else:
                        hbt.submit_sell_order(0, next_id, want * TICK_SIZE, qty, GTC, LIMIT, False)
                    working[s] = next_id
                    next_id += 1
                    sent += 1
        n_fills = collect(hbt, working, fills, n_fills)
        sv = hbt.state_values(0)  # the local side's account: position, cash balance, fees
        depth = hbt.depth(0)  # the book it ended with
        return (err, n_fills, wakeups, sent, cancels, sv.position, sv.balance, sv.fee,
                depth.best_bid_tick, depth.best_bid_qty, depth.best_ask_tick, depth.best_ask_qty)

    return run


def _backtest(events: np.ndarray, latency_ns: int, maker_fee: float, taker_fee: float, queue_model: str):
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest

    asset = (BacktestAsset()
             .data(events)  # read in place through a pointer: the caller keeps `events` alive
             .linear_asset(1.0)
             .constant_order_latency(latency_ns, latency_ns)
             .trading_qty_fee_model(maker_fee, taker_fee)  # $ per share, negative = rebate
             .tick_size(TICK_SIZE)
             .lot_size(1.0)
             .no_partial_fill_exchange()
             .parallel_load(False))
    if queue_model == "l3fifo":
        asset = asset.l3_fifo_queue_model()  # selects L3Local + L3NoPartialFillExchange
    elif queue_model == "risk_averse":
        asset = asset.risk_adverse_queue_model()
    else:
        asset = asset.power_prob_queue_model(PROB_N)
    return HashMapMarketDepthBacktest([asset])


def _run_once(events, params, latency_ns, maker_fee, taker_fee, queue_model):
    """One backtest: (the run's results, fills, seconds in the Numba loop)."""
    run = _mm_kernel()
    fills = np.zeros((2 * len(events) + 16, 5), dtype=np.int64)  # >= the orders sent: <= 2 per wake-up
    hbt = _backtest(events, latency_ns, maker_fee, taker_fee, queue_model)
    t0 = time.perf_counter()
    res = run(hbt, float(params.qty), float(params.max_position), int(params.skew_ticks), fills)
    seconds = time.perf_counter() - t0
    hbt.close()  # frees the Rust backtest
    if res[0]:
        raise RuntimeError(f"hftbacktest stopped with error code {res[0]} (hftbacktest/binding.py lists them)")
    return res[1:], fills[:res[1]], seconds


def _price(tick: int) -> float:
    """$ of a tick count from hftbacktest's depth; NaN for its 'no price' (an empty side)."""
    return float("nan") if tick in (INVALID_MIN, INVALID_MAX) else tick / 100


def run_hftbacktest_mm(stream: bytes, locate: int, params, latency_ns: int, maker_fee: float, taker_fee: float,
                       queue_model: str = "l3fifo") -> dict:
    """The SPEC's market maker on hftbacktest, one symbol: feed latency =
    order latency = reply latency = latency_ns (feed latency in the data,
    ConstantLatency for orders).  queue_model: "l3fifo" (L3FIFOQueueModel on
    market-by-order events), "risk_averse" or "prob" (RiskAdverseQueueModel /
    PowerProbQueueModel(3) on the L2 depth events of the same book).

    `seconds` times the run loop only: the strategy is compiled first on a
    WARMUP_ROWS prefix (a separate backtest, untimed), and the ITCH
    conversion is not timed either (`convert_seconds`)."""
    check_available("hftbacktest")
    if queue_model not in QUEUE_MODELS:
        raise ValueError(f"queue_model must be one of {', '.join(QUEUE_MODELS)}, got {queue_model!r}")
    t0 = time.perf_counter()
    msgs = _symbol_messages(stream, locate)
    rows = (_l3_rows if queue_model == "l3fifo" else _l2_rows)(msgs, latency_ns)
    events = _events(rows)
    convert = time.perf_counter() - t0
    warm = _events(rows[:WARMUP_ROWS])
    _run_once(warm, params, latency_ns, maker_fee, taker_fee, queue_model)  # Numba compiles here
    res, fills, seconds = _run_once(events, params, latency_ns, maker_fee, taker_fee, queue_model)
    _, wakeups, sent, cancels, position, balance, fee, bid, bid_qty, ask, ask_qty = res
    mid = (_price(bid) + _price(ask)) / 2
    df = pd.DataFrame({"ts_ns": fills[:, 0], "side": fills[:, 1], "price": fills[:, 2] / 100, "qty": fills[:, 3],
                       "liquidity": np.where(fills[:, 4] == 1, "A", "R")})
    return {
        "events": len(msgs), "rows": len(events), "wakeups": int(wakeups),
        "seconds": seconds, "events_per_s": len(msgs) / seconds if seconds > 0 else float("nan"),
        "convert_seconds": convert,
        "fills": df, "position": int(position), "pnl": float(balance + position * mid - fee), "fees": float(fee),
        "orders_sent": int(sent), "cancels_sent": int(cancels), "queue_model": queue_model,
        "book": {"bid": _price(bid), "bid_qty": int(bid_qty), "ask": _price(ask), "ask_qty": int(ask_qty)},
        "notes": ("hftbacktest " + _version("hftbacktest") + f", {queue_model}: seconds = the Numba strategy's run "
                  f"loop only (compiled first on a {WARMUP_ROWS}-row prefix; ITCH conversion untimed); "
                  "no partial fills (a fill is the whole order); a pending new order cannot be cancelled; "
                  "the strategy wakes once per feed timestamp"),
    }


def _version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


# ------------------------------------------------------------ vectorbt on the signal strategy
def signal_inputs(stream: bytes, locate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(timestamps, mid $, P(up)) per book update of `locate`: lab 6's features
    (the C FeatureEngine) and its committed MLP; P is NaN where a feature
    the model reads is not finite (a one-sided book, too few mids yet)."""
    from cimpl.ml_inference import FeatureEngine, Model
    from pyimpl.ml_inference import FEATURES

    from .ml_training import MODEL_FILES, MODELS_DIR

    rows = FeatureEngine().apply_stream(stream)
    keep = rows.locates == locate
    feats = rows.features[keep]
    model = Model.load(MODELS_DIR / MODEL_FILES["mlp"])
    X = feats[:, model.columns]
    ok = np.isfinite(X).all(axis=1)
    p = np.full(len(X), np.nan)
    if ok.any():
        p[ok] = model.predict_proba(X[ok])[:, 1]
    return rows.timestamps[keep], feats[:, FEATURES.index("mid")], p


@functools.cache
def _vbt_warm() -> None:
    """Compile vectorbt's Numba kernels once, on a tiny series."""
    import vectorbt as vbt

    close = pd.Series([10.0, 10.01, 10.0, 10.02])
    pf = vbt.Portfolio.from_signals(close, close > 10.0, close <= 10.0, size=1, direction="both", init_cash=1e6)
    pf.stats(silence_warnings=True)


def run_vectorbt_signal(stream: bytes, locate: int, probs: np.ndarray | None = None, enter: float = 0.6,
                        qty: int = 100) -> dict:
    """vectorbt's from_signals on lab 6's signal, one symbol: per book update
    the mid and P(up); enter long (qty shares) when p >= enter, short when
    p <= 1 - enter (direction "both": one lot, long or short, each signal
    reverses), filled at that update's mid, no fees, no latency.  `probs`
    (one per book update of the symbol) replaces the model's.

    `seconds` times from_signals and stats() (vectorbt's Numba kernels
    compiled beforehand on a tiny series); `feature_seconds` the features and
    the model."""
    check_available("vectorbt")
    import vectorbt as vbt

    t0 = time.perf_counter()
    ts, mid, p = signal_inputs(stream, locate)
    feature_seconds = time.perf_counter() - t0
    if probs is not None:
        probs = np.asarray(probs, dtype=np.float64)
        if probs.shape != p.shape:
            raise ValueError(f"probs must have one value per book update of locate {locate} ({len(p)}), "
                             f"got shape {probs.shape}")
        p = probs
    # indexed by the updates' exchange times (unique per symbol in this feed);
    # a one-sided book has no mid: the last one carries on (the model gives no p there)
    close = pd.Series(mid, index=pd.to_datetime(ts, unit="ns")).ffill().bfill()
    entries, exits = p >= enter, p <= 1.0 - enter  # NaN compares False: no signal
    _vbt_warm()
    t0 = time.perf_counter()
    # init_cash: enough that cash never limits an order (the P&L is in $, returns are not the point)
    pf = vbt.Portfolio.from_signals(close, entries, exits, size=qty, direction="both", init_cash=1e9)
    t1 = time.perf_counter()
    stats = pf.stats(silence_warnings=True)
    seconds = time.perf_counter() - t0
    return {
        "events": len(close), "signals": int(entries.sum() + exits.sum()),
        "seconds": seconds, "events_per_s": len(close) / seconds if seconds > 0 else float("nan"),
        "from_signals_seconds": t1 - t0, "feature_seconds": feature_seconds,
        "trades": int(pf.trades.count()), "orders": int(pf.orders.count()),
        "pnl": float(pf.total_profit()), "stats": stats,
        "notes": (f"vectorbt {_version('vectorbt')}: seconds = from_signals + stats (Numba compiled beforehand); "
                  "features and the model (C) timed apart in feature_seconds; fills at the mid of the "
                  "signal's update, no spread, no fees, no latency, no queue"),
    }
