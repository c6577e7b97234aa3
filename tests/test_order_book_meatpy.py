"""Lab 5 against meatpy: an ITCH 5.0 reader and limit order book that nobody
here wrote (pure Python, pip install meatpy; a dev dependency).

On lab 5's own stream (the quick run's labs.feed.simulate(200_000, seed=5)):
- decoding: meatpy's ITCH50MessageReader and pyimpl.itch.read_messages give
  the same messages, type by type and field by field (every field of every
  message, the timestamp and the tracking number included);
- the book: meatpy's books (one ITCH50MarketProcessor per symbol, as
  labs.order_book.meatpy_books runs them) end with the same levels as both
  of ours, every symbol, every level of both sides (price, shares, orders),
  and the C book's queues (time priority) hold the same orders in the same
  order as meatpy's levels;
- meatpy's check of price-time priority (it records every execution that
  does not hit the first order in line, and processing_done() raises on
  them) passes, so the simulator's executions respect it.

Skipped, with the reason, only where meatpy cannot be imported.
"""

from __future__ import annotations

import pytest

from labs import order_book as lab
from pyimpl import itch

meatpy = pytest.importorskip("meatpy", reason="meatpy is not installed (pip install meatpy): the peer check")
m50 = pytest.importorskip("meatpy.itch50")
from meatpy.itch50 import itch50_market_message as mm  # noqa: E402

# pyimpl.itch's type -> (meatpy's class, [(our field, meatpy's attribute), ...])
HEADER = [("stock_locate", "stock_locate"), ("tracking_number", "tracking_number"), ("timestamp", "timestamp")]
FIELDS = {
    itch.SystemEvent: (mm.SystemEventMessage, HEADER + [("event_code", "code")]),
    itch.StockDirectory: (mm.StockDirectoryMessage, HEADER + [
        ("stock", "stock"), ("market_category", "category"), ("financial_status", "status"),
        ("round_lot_size", "lotsize"), ("round_lots_only", "lotsonly"), ("issue_classification", "issue_class"),
        ("issue_subtype", "issue_sub"), ("authenticity", "authenticity"),
        ("short_sale_threshold", "shortsale_thresh"), ("ipo_flag", "ipo_flag"), ("luld_tier", "luld_ref"),
        ("etp_flag", "etp_flag"), ("etp_leverage_factor", "etp_leverage"), ("inverse_indicator", "inverse_ind")]),
    itch.AddOrder: (mm.AddOrderMessage, HEADER + [
        ("order_ref", "order_ref"), ("side", "bsindicator"), ("shares", "shares"), ("stock", "stock"),
        ("price", "price")]),
    itch.OrderExecuted: (mm.OrderExecutedMessage, HEADER + [
        ("order_ref", "order_ref"), ("executed_shares", "shares"), ("match_number", "match")]),
    itch.OrderExecutedWithPrice: (mm.OrderExecutedPriceMessage, HEADER + [
        ("order_ref", "order_ref"), ("executed_shares", "shares"), ("match_number", "match"),
        ("printable", "printable"), ("execution_price", "execution_price")]),
    itch.OrderCancel: (mm.OrderCancelMessage, HEADER + [("order_ref", "order_ref"),
                                                          ("cancelled_shares", "canceled_shares")]),
    itch.OrderDelete: (mm.OrderDeleteMessage, HEADER + [("order_ref", "order_ref")]),
    itch.OrderReplace: (mm.OrderReplaceMessage, HEADER + [
        ("original_order_ref", "original_ref"), ("new_order_ref", "new_ref"), ("shares", "shares"),
        ("price", "price")]),
}


@pytest.fixture(scope="module")
def data() -> bytes:
    return lab.stream("quick")[0]


@pytest.fixture(scope="module")
def path(data, tmp_path_factory):
    p = tmp_path_factory.mktemp("meatpy") / "quick.itch"
    p.write_bytes(data)
    return str(p)


def test_meatpy_decodes_every_field_as_we_do(data, path):
    ours = list(itch.read_messages(data))
    theirs = list(m50.ITCH50MessageReader().read_file(path))
    assert len(theirs) == len(ours) == 200_014
    counts: dict[str, int] = {}
    for i, (o, t) in enumerate(zip(ours, theirs)):
        cls, fields = FIELDS[type(o)]
        if isinstance(o, itch.AddOrder) and o.attribution is not None:  # 'F': A's fields, then the MPID
            cls, fields = mm.AddOrderMPIDMessage, fields + [("attribution", "attribution")]
        assert type(t) is cls, (i, o, type(t))
        assert t.type == itch.encode(o)[:1]
        for ours_name, their_name in fields:
            assert getattr(o, ours_name) == getattr(t, their_name), (i, ours_name, o, vars(t))
        counts[t.type.decode()] = counts.get(t.type.decode(), 0) + 1
    assert set(counts) == set("SRAFECXDU")  # every type the simulator writes was compared


def _their_levels(lob) -> dict:
    """meatpy's LimitOrderBook as our snapshot's levels (best first) plus the
    order refs queued at each level, oldest first."""
    out = {}
    for side, levels in (("bids", lob.bid_levels), ("asks", lob.ask_levels)):
        out[side] = [[f"{lv.price // 10000}.{lv.price % 10000:04d}", lv.volume, len(lv.queue)] for lv in levels]
        out[side + "_queues"] = [[o.order_id for o in lv.queue] for lv in levels]
    return out


def test_meatpy_books_end_like_ours(data, path):
    from cimpl import order_book as cob
    from pyimpl import order_book as pob

    procs, messages = lab.meatpy_books(m50, path)
    assert messages == 200_014 and len(procs) == 8
    for p in procs.values():
        p.processing_done()  # raises if any execution did not hit the first order in line
    with cob.Book() as c, pob.Book() as py:
        c.apply_stream(data)
        py.apply_stream(data)
        snap = c.snapshot(100_000)
        assert snap == py.snapshot(100_000)
        assert len(snap) == 8
        for locate, proc in procs.items():
            symbol = proc.instrument.decode().strip()
            theirs = _their_levels(proc.current_lob)
            assert snap[symbol]["bids"] == theirs["bids"], symbol
            assert snap[symbol]["asks"] == theirs["asks"], symbol
            for side, key in (("B", "bids_queues"), ("S", "asks_queues")):
                prices = [lv.price for lv in (proc.current_lob.bid_levels if side == "B"
                                              else proc.current_lob.ask_levels)]
                assert [c.queue(locate, side, price) for price in prices] == theirs[key], (symbol, side)
        resting = sum(len(lv.queue) for p in procs.values()
                      for lv in p.current_lob.bid_levels + p.current_lob.ask_levels)
        assert resting == len(c) == len(py) > 500
