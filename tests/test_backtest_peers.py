"""Lab 8's peers (labs/backtest_peers.py) on a small stream of our own feed.

- the converter: hftbacktest's events are time-ordered, carry the flags its
  processors read, and replaying them (as hftbacktest applies them) gives
  lab 5's book, every level - checked in Python, without hftbacktest;
- hftbacktest itself: the book it builds from them ends with our book's best
  bid and ask; the market maker on it fills only where the market could have
  filled it (a maker fill at an instant when an execution or a crossing add
  reached its price, a taker fill at the best opposite price), stays within
  max_position, fills whole orders, and its P&L is what its fills add up to;
- vectorbt: the signal run gives a finite P&L, and no signal means no trade.

Skipped, with the reason, where hftbacktest or vectorbt cannot be imported.
The hftbacktest runs share one Numba compilation (~6 s), vectorbt's warm-up
~10 s.
"""

from __future__ import annotations

import math
import sys
from typing import NamedTuple

import numpy as np
import pytest

from labs import backtest_peers as bp
from labs import feed
from labs.lab import Skip
from pyimpl import itch
from pyimpl.order_book import Book

LOCATE = 1  # the busiest symbol of the feed
LATENCY = 1_000  # ns, every leg
MAKER, TAKER = -0.002, 0.003


class Params(NamedTuple):  # the attributes run_hftbacktest_mm reads of MarketMakerParams
    qty: int = 100
    max_position: int = 300
    skew_ticks: int = 1


@pytest.fixture(scope="module")
def stream() -> bytes:
    return feed.simulate(3000, 0)


@pytest.fixture(scope="module")
def history(stream):
    """Lab 5's book replayed over the symbol's messages: per message, its
    timestamp, what it did (kind, book side 'B'/'S', price) and the touch after
    it; and the book at the end."""
    book = Book()
    rows = []
    for _, body in itch.iter_frames(stream):
        m = itch.decode(body)
        if m.stock_locate != LOCATE or isinstance(m, (itch.SystemEvent, itch.StockDirectory)):
            book.apply(body)
            continue
        if isinstance(m, itch.AddOrder):
            did = ("add", m.side.decode(), m.price)
        elif isinstance(m, itch.OrderReplace):
            did = ("add", book.order(m.original_order_ref)[1], m.price)
        else:
            _, side, _, price = book.order(m.order_ref)
            did = ("exec" if isinstance(m, (itch.OrderExecuted, itch.OrderExecutedWithPrice)) else "cancel",
                   side, price)
        book.apply(body)
        bid, ask = book.best(LOCATE)
        rows.append((m.timestamp, *did, bid and bid[0], ask and ask[0]))
    return rows, book


def replay_l3(events: np.ndarray) -> dict:
    """Apply L3 rows as hftbacktest's depth does: (side, $ price) -> shares."""
    orders, levels = {}, {}
    for e in events:
        kind, side = int(e["ev"]) & 0xFF, "B" if e["ev"] & bp.BUY_EVENT else "S"
        if kind == bp.ADD_ORDER_EVENT:
            orders[int(e["order_id"])] = [side, float(e["px"]), float(e["qty"])]
        elif kind == bp.MODIFY_ORDER_EVENT:
            orders[int(e["order_id"])][2] = float(e["qty"])
        elif kind == bp.CANCEL_ORDER_EVENT:
            del orders[int(e["order_id"])]
    for side, px, qty in orders.values():
        levels[(side, px)] = levels.get((side, px), 0) + qty
    return levels


def book_levels(book: Book) -> dict:
    bids, asks = book.depth(LOCATE, 1000)
    return {**{("B", p / 10_000): s for p, s, _ in bids}, **{("S", p / 10_000): s for p, s, _ in asks}}


# ------------------------------------------------------------ the converter (no hftbacktest needed)
@pytest.mark.parametrize("convert", [bp.itch_to_hbt_events, bp.itch_to_hbt_l2_events], ids=["l3", "l2"])
def test_events_are_time_ordered_and_flagged(stream, convert):
    ev = convert(stream, LOCATE, 700)
    assert len(ev) > 700 and ev.ctypes.data % 64 == 0 and ev.dtype == bp.EVENT_DTYPE
    assert np.all(np.diff(ev["exch_ts"]) >= 0) and np.all(np.diff(ev["local_ts"]) >= 0)
    assert np.all(ev["local_ts"] - ev["exch_ts"] == 700)
    flags = ev["ev"]
    assert np.all(flags & bp.EXCH_EVENT)
    assert np.all((flags & (bp.BUY_EVENT | bp.SELL_EVENT)) != 0)  # every row has a side
    fills = (flags & 0xFF) == bp.FILL_EVENT
    assert np.all((flags[~fills] & bp.LOCAL_EVENT) != 0) and not np.any(flags[fills] & bp.LOCAL_EVENT)
    try:
        bp.check_available("hftbacktest")
    except Skip:
        return
    import hftbacktest

    assert ev.dtype == hftbacktest.event_dtype  # our copy of its layout is its layout


def test_l3_events_rebuild_our_book(stream, history):
    _, book = history
    assert replay_l3(bp.itch_to_hbt_events(stream, LOCATE, 0)) == book_levels(book)


def test_l2_events_rebuild_our_book(stream, history):
    _, book = history
    levels = {}
    for e in bp.itch_to_hbt_l2_events(stream, LOCATE, 0):
        if int(e["ev"]) & 0xFF == bp.DEPTH_EVENT:
            key = ("B" if e["ev"] & bp.BUY_EVENT else "S", float(e["px"]))
            levels[key] = float(e["qty"])
    assert {k: v for k, v in levels.items() if v} == book_levels(book)


def test_check_available_skips_a_missing_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "vectorbt", None)  # import now raises ImportError
    with pytest.raises(Skip, match="vectorbt cannot be imported"):
        bp.check_available("vectorbt")
    with pytest.raises(ValueError):
        bp.check_available("zipline")


# ------------------------------------------------------------ hftbacktest
@pytest.fixture(scope="module", params=["l3fifo", "risk_averse"])
def mm(request, stream):
    pytest.importorskip("hftbacktest", reason="hftbacktest is not installed (pip install 'latencylab[backtest]')")
    return bp.run_hftbacktest_mm(stream, LOCATE, Params(), LATENCY, MAKER, TAKER, queue_model=request.param)


def test_hftbacktest_book_matches_ours(mm, history):
    _, book = history
    (bid, bid_qty), (ask, ask_qty) = book.best(LOCATE)
    assert mm["book"] == {"bid": bid / 10_000, "bid_qty": bid_qty, "ask": ask / 10_000, "ask_qty": ask_qty}


def test_mm_fills_where_the_market_reached(mm, history):
    rows, _ = history
    fills = mm["fills"]
    assert len(fills) > 0 and mm["orders_sent"] >= len(fills)
    at = {}
    for r in rows:
        at.setdefault(r[0], []).append(r)
    stamps = np.array([r[0] for r in rows])
    by_exec = 0
    for f in fills.itertuples():
        p = round(f.price * 10_000)
        mine, other = ("B", "S") if f.side == 1 else ("S", "B")
        better = (lambda x: x <= p) if f.side == 1 else (lambda x: x >= p)  # at or through our price
        if f.liquidity == "A":  # resting: an execution on our side, or an add on the other, reached our price
            causes = {kind for _, kind, side, price, _, _ in at.get(f.ts_ns, [])
                      if (kind == "exec" and side == mine or kind == "add" and side == other) and better(price)}
            assert causes, f
            by_exec += "exec" in causes
        else:  # crossing on arrival: the best opposite price then (before or after a message at that instant)
            i = np.searchsorted(stamps, f.ts_ns, side="right")
            touch = {r[5 if f.side == 1 else 4] for r in rows[max(i - 2, 0):i]}
            assert p in touch, f
    assert by_exec > 0  # the executions (L3: FILL rows, L2: TRADE rows) do reach the queue


def test_mm_position_stays_within_max_position(mm):
    fills = mm["fills"]
    path = np.cumsum(fills.side * fills.qty)
    assert np.all(np.abs(path) <= Params().max_position)
    assert mm["position"] == (path.iloc[-1] if len(path) else 0)
    assert np.all(fills.qty == Params().qty)  # no partial fills in hftbacktest: a fill is the whole order


def test_mm_pnl_is_what_its_fills_add_up_to(mm, history):
    _, book = history
    f = mm["fills"]
    (bid, _), (ask, _) = book.best(LOCATE)
    cash = -(f.side * f.price * f.qty).sum()
    fees = (f.qty * np.where(f.liquidity == "A", MAKER, TAKER)).sum()
    assert mm["pnl"] == pytest.approx(cash + mm["position"] * (bid + ask) / 20_000 - fees, abs=1e-6)
    assert mm["events"] == len(history[0]) and mm["seconds"] > 0


# ------------------------------------------------------------ vectorbt
@pytest.fixture(scope="module")
def vbt_run(stream):
    pytest.importorskip("vectorbt", reason="vectorbt is not installed (pip install 'latencylab[backtest]')")
    return bp.run_vectorbt_signal(stream, LOCATE)


def test_vectorbt_signal_run_gives_a_finite_pnl(vbt_run, history):
    assert math.isfinite(vbt_run["pnl"]) and vbt_run["trades"] > 0
    assert vbt_run["events"] == len(history[0])  # one row per book update of the symbol
    assert vbt_run["seconds"] > 0


def test_vectorbt_without_signals_does_not_trade(vbt_run, stream):
    r = bp.run_vectorbt_signal(stream, LOCATE, probs=np.full(vbt_run["events"], 0.5))
    assert r["signals"] == 0 and r["trades"] == 0 and r["pnl"] == 0.0
