"""Lab 7's order manager and pre-trade risk checks: cimpl.oms (C) and pyimpl.oms (Python).

- the layouts and constants agree (C's structs, enums, defaults; risk.toml);
- every risk check: an order that trips it and one just inside its limit;
  the order the checks run in (an order failing several gets the first reason);
- the state machine: every edge of oms.h's table from every state, the legal
  ones to their state, the illegal ones counted and harmless (every record
  unchanged), and the other illegal replies (unknown ref, zero, overfill...);
- the kill switch: manual, heartbeat, the loss limit; cancels of every open
  order, risk-reducing cancels still allowed, the fill racing the kill;
- positions and average-cost PnL by hand;
- a hypothesis property test: random intents, replies (valid and invalid),
  quotes, kills and time steps give the same results, counters and records in
  C and Python, with the invariants holding after every step.
The C side's own test (hash collisions, capacity, a random stream under
ll_oms_check): tests/c/test_oms.c.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import lab_fixtures
from pyimpl import oms as pyoms
from pyimpl.oms import Bad, Illegal, Intent, Report, Risk, RiskLimits, Send, State

om_fixture, om_pair_fixture = lab_fixtures("oms", "om", "om_pair")

RISK_TOML = Path(__file__).resolve().parents[1] / "labs" / "07-trading-system" / "risk.toml"
P = 10_000  # $1 in ITCH price units
PX = 100 * P  # $100.00
B, S = pyoms.BUY, pyoms.SELL
# every limit off: each test turns on the one it is about
OFF = RiskLimits(max_order_qty=0, max_order_notional=0, collar_ticks=0, max_long=0, max_short=0,
                 max_gross_notional=0, max_open_orders=0, rate_orders_symbol=0, rate_orders_total=0, max_loss=0,
                 self_match=False)


def make(m, max_orders=64, max_symbols=4, max_fills=None, **limits):
    o = m.Oms(OFF.replace(**limits), max_orders=max_orders, max_symbols=max_symbols, max_fills=max_fills)
    o.add_symbol(1)
    o.add_symbol(2)
    return o


def new(o, side, cl, price=PX, qty=100, loc=1, t=0):
    return o.submit(Intent.new(side, loc, cl, price, qty), t)


def sent(x) -> bool:
    return isinstance(x, Send) and x.kind == pyoms.SEND_NEW


def reason(x) -> int:
    assert isinstance(x, Report) and x.kind == pyoms.REPORT_REJECTED, x
    return x.reason


def live(o, side, cl, price=PX, qty=100, loc=1, t=0) -> int:
    """An accepted order; its user_ref."""
    s = new(o, side, cl, price, qty, loc, t)
    assert sent(s), s
    assert isinstance(o.on_accepted(s.user_ref, 1000 + s.user_ref), Report)
    return s.user_ref


def snapshot(o):
    return o.orders(), o.fills(), o.positions(), o.totals(), o.open_orders(), o.halted, o.pending()


# ------------------------------------------------------------ layout, constants, defaults
def test_enums_and_structs_match_c():
    from cimpl import oms as coms

    assert coms._layout_disagreements() == []
    assert coms.layout_info(b"risk_n") == len(Risk) == Risk.CANCEL_REFUSED + 1
    assert coms.layout_info(b"bad_n") == len(Bad) + 1
    assert coms.layout_info(b"sizeof_limits") == ctypes.sizeof(coms._Limits) == 13 * 8
    assert coms.layout_info(b"nonsense") == -1


def test_defaults_agree_c_python_toml():
    from cimpl import oms as coms

    assert coms.default_limits() == RiskLimits() == RiskLimits.from_toml(RISK_TOML)
    with coms.Oms() as o:
        assert o.c_limits() == RiskLimits()
    with coms.Oms(OFF) as o:
        assert o.c_limits() == OFF


def test_every_toml_limit_is_commented():
    lines = RISK_TOML.read_text().splitlines()
    keys = [i for i, ln in enumerate(lines) if ln and not ln.startswith("#")]
    assert {ln.split("=")[0].strip() for ln in (lines[i] for i in keys)} == {
        f.name for f in pyoms.dataclasses.fields(RiskLimits)}
    for i in keys:  # a comment right above each limit or above its group
        j = i - 1
        while j >= 0 and lines[j] and not lines[j].startswith("#"):
            j -= 1
        assert j >= 0 and lines[j].startswith("#"), lines[i]


def test_from_toml_rejects_unknown_and_bad(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text("max_order_qty = 10\nmax_ordr_notional = 5\n")
    with pytest.raises(ValueError, match="max_ordr_notional"):
        RiskLimits.from_toml(p)
    p.write_text("max_order_qty = 10\n")
    assert RiskLimits.from_toml(p) == RiskLimits(max_order_qty=10)
    p.write_text('collar_ref = "last"\n')
    with pytest.raises(ValueError, match="collar_ref"):
        RiskLimits.from_toml(p)
    for bad in ({"max_long": -1}, {"rate_orders_total": pyoms.MAX_RATE + 1}, {"rate_window_ns": 0},
                {"self_match": 1}, {"max_loss": 1.5}):
        with pytest.raises(ValueError):
            RiskLimits(**bad)


def test_create_and_caller_errors(om):
    for kw in ({"max_orders": 0}, {"max_orders": pyoms.MAX_ORDERS + 1}, {"max_symbols": 0},
               {"max_fills": 0}):
        with pytest.raises(ValueError):
            om.Oms(**kw)
    with pytest.raises(ValueError):
        om.Oms(limits={"max_order_qty": 1})
    o = make(om, max_symbols=2)
    for loc in (0, 65536, -1):
        with pytest.raises(ValueError):
            o.add_symbol(loc)
    o.add_symbol(1)  # again: fine
    with pytest.raises(pyoms.OmsFull):
        o.add_symbol(3)
    with pytest.raises(ValueError):
        o.submit(Intent(pyoms.INTENT_HEARTBEAT, B, 1, 1), 0)
    with pytest.raises(ValueError):
        new(o, B, 1 << 32)
    with pytest.raises(ValueError):
        new(o, B, 1, price=-1)
    with pytest.raises(ValueError):
        o.on_executed(1 << 32, 1, 1)
    with pytest.raises(ValueError):
        o.kill(Risk.BAD_SIDE)
    assert o.counters()["intents"] == 0  # nothing counted for a caller's error


# ------------------------------------------------------------ risk checks, one by one
def test_always_on_checks(om):
    o = make(om)
    assert reason(new(o, ord("X"), 1)) == Risk.BAD_SIDE
    assert reason(new(o, 0, 1)) == Risk.BAD_SIDE
    assert reason(new(o, B, 1, qty=0)) == Risk.BAD_QTY
    assert reason(new(o, B, 1, qty=pyoms.QTY_SANE + 1)) == Risk.BAD_QTY
    assert reason(new(o, B, 1, price=0)) == Risk.BAD_PRICE
    assert reason(new(o, B, 1, price=pyoms.PRICE_SANE + 1)) == Risk.BAD_PRICE
    assert reason(new(o, B, 1, loc=3)) == Risk.UNKNOWN_SYMBOL
    # just inside: the sanity bounds themselves pass
    assert sent(new(o, B, 1, qty=pyoms.QTY_SANE))
    assert sent(new(o, "S", 2, price=pyoms.PRICE_SANE))
    o.add_symbol(3)
    assert sent(new(o, B, 3, loc=3))
    c = o.counters()
    assert c["rejects"] == {"BAD_SIDE": 2, "BAD_QTY": 2, "BAD_PRICE": 2, "UNKNOWN_SYMBOL": 1}
    assert (c["intents"], c["sent"], c["rejected"]) == (10, 3, 7)


def test_rejection_report_fields(om):
    o = make(om, max_order_qty=10)
    live(o, B, 1, qty=5)
    o.on_executed(1, 5, PX, 1)
    rep = new(o, S, 2, price=PX + 1, qty=11, t=77)
    assert rep == Report(pyoms.REPORT_REJECTED, 2, S, 1, PX + 1, 11, 0, Risk.MAX_QTY, 5, 77)
    assert new(o, S, 3, loc=9).position == 0


def test_duplicate_id_for_the_session(om):
    o = make(om, max_order_qty=100)
    assert reason(new(o, B, 7, qty=101)) == Risk.MAX_QTY  # a rejected intent does not take the id
    r = live(o, B, 7)
    assert reason(new(o, B, 7)) == Risk.DUPLICATE_ID
    assert reason(new(o, S, 7, loc=2)) == Risk.DUPLICATE_ID
    o.on_canceled(r, 100)
    assert o.order(r).state == State.CANCELED
    assert reason(new(o, B, 7)) == Risk.DUPLICATE_ID  # closed: still taken for the session
    assert sent(new(o, B, 8))


def test_capacity(om):
    o = make(om, max_orders=2)
    assert sent(new(o, B, 1)) and sent(new(o, B, 2))
    assert reason(new(o, B, 3)) == Risk.CAPACITY
    assert o.order_count() == 2


def test_max_order_qty(om):
    o = make(om, max_order_qty=100)
    assert sent(new(o, B, 1, qty=100))
    assert reason(new(o, B, 2, qty=101)) == Risk.MAX_QTY


def test_max_order_notional(om):
    o = make(om, max_order_notional=PX * 100)
    assert sent(new(o, B, 1, qty=100))
    assert sent(new(o, B, 2, price=PX + 1, qty=99))
    assert reason(new(o, B, 3, price=PX + 1, qty=100)) == Risk.MAX_NOTIONAL
    assert reason(new(o, B, 4, qty=101)) == Risk.MAX_NOTIONAL


def test_collar_same_side(om):
    o = make(om, collar_ticks=5)
    assert reason(new(o, B, 1)) == Risk.NO_MARKET  # no quote yet
    o.on_quote(1, 0, PX + 300)
    assert reason(new(o, B, 1)) == Risk.NO_MARKET  # the bid side is empty: nothing to collar a buy against
    assert sent(new(o, S, 2, price=PX + 300 + 500))  # sells collar against the ask
    assert reason(new(o, S, 3, price=PX + 300 + 501)) == Risk.COLLAR
    o.on_quote(1, PX, PX + 300)
    assert sent(new(o, B, 4, price=PX + 500))
    assert reason(new(o, B, 5, price=PX + 501)) == Risk.COLLAR
    assert sent(new(o, B, 6, price=PX - 500))
    assert reason(new(o, B, 7, price=PX - 501)) == Risk.COLLAR
    assert reason(new(o, B, 8, loc=2)) == Risk.NO_MARKET  # another symbol's quote is its own
    o.on_quote(1, 0, 0)
    assert reason(new(o, S, 9, price=PX + 300)) == Risk.NO_MARKET


def test_collar_mid(om):
    o = make(om, collar_ticks=5, collar_ref="mid")
    o.on_quote(1, PX, 0)
    assert reason(new(o, B, 1)) == Risk.NO_MARKET  # mid needs both sides
    o.on_quote(1, PX, PX + 300)  # mid 100.015
    assert sent(new(o, B, 2, price=PX + 150 + 500))
    assert reason(new(o, B, 3, price=PX + 150 + 501)) == Risk.COLLAR
    assert sent(new(o, S, 4, price=PX + 150 - 500))
    assert reason(new(o, S, 5, price=PX + 150 - 501)) == Risk.COLLAR
    o.on_quote(1, PX, PX + 301)  # mid 100.0150.5: the band is exact in half units
    assert sent(new(o, B, 6, price=PX + 650))
    assert reason(new(o, B, 7, price=PX + 651)) == Risk.COLLAR


def test_max_open_orders(om):
    o = make(om, max_open_orders=2)
    r1 = live(o, B, 1)
    assert sent(new(o, B, 2))
    assert reason(new(o, B, 3)) == Risk.MAX_OPEN_ORDERS
    o.on_executed(r1, 100, PX, 1)  # filled: no longer open
    assert sent(new(o, B, 4))
    assert reason(new(o, B, 5)) == Risk.MAX_OPEN_ORDERS


def test_rate_per_symbol_sliding(om):
    o = make(om, rate_orders_symbol=3, rate_window_ns=1000)
    for i in range(3):
        assert sent(new(o, B, i, t=100 + i))
    assert reason(new(o, B, 10, t=1099)) == Risk.RATE_SYMBOL  # 3 sent in (99, 1099]
    assert sent(new(o, B, 11, loc=2, t=1099))  # the other symbol has its own budget
    assert sent(new(o, B, 12, t=1100))  # the first left the window
    assert reason(new(o, B, 13, t=1100)) == Risk.RATE_SYMBOL
    assert sent(new(o, B, 14, t=1101))
    assert reason(new(o, B, 15, t=500)) == Risk.RATE_SYMBOL  # time that runs back counts as the latest


def test_rate_total(om):
    o = make(om, rate_orders_total=3, rate_window_ns=1000)
    assert sent(new(o, B, 1, loc=1, t=0))
    assert sent(new(o, B, 2, loc=2, t=0))
    assert sent(new(o, B, 3, loc=1, t=999))
    assert reason(new(o, B, 4, loc=2, t=999)) == Risk.RATE_TOTAL
    assert sent(new(o, B, 5, loc=2, t=1000))


def test_rate_counts_only_orders_sent(om):
    o = make(om, rate_orders_symbol=2, rate_window_ns=1000, max_order_qty=100)
    for i in range(5):
        assert reason(new(o, B, i, qty=101)) == Risk.MAX_QTY
    assert sent(new(o, B, 10)) and sent(new(o, B, 11))
    assert reason(new(o, B, 12)) == Risk.RATE_SYMBOL


def test_max_long_counts_open_orders_and_position(om):
    o = make(om, max_long=300)
    r = live(o, B, 1, qty=200)
    assert sent(new(o, B, 2, qty=100))  # 200 open + 100 = 300
    assert reason(new(o, B, 3, qty=1)) == Risk.MAX_LONG
    assert sent(new(o, S, 4, qty=1000))  # sells do not add to the long side
    o.on_executed(r, 150, PX, 1)  # position 150, open buys 50 + 100
    assert reason(new(o, B, 5, qty=1)) == Risk.MAX_LONG
    o.on_canceled(r, 50)  # position 150 + open 100 = 250
    assert sent(new(o, B, 6, qty=50))
    assert reason(new(o, B, 7, qty=1)) == Risk.MAX_LONG


def test_max_short(om):
    o = make(om, max_short=300)
    r = live(o, S, 1, qty=100)
    o.on_executed(r, 100, PX, 1)  # short 100
    assert sent(new(o, S, 2, qty=150))
    assert sent(new(o, S, 3, qty=50))  # 100 + 150 + 50 = 300
    assert reason(new(o, S, 4, qty=1)) == Risk.MAX_SHORT
    assert sent(new(o, B, 5, qty=5000, price=PX - 100))


def test_max_gross(om):
    o = make(om, max_gross_notional=PX * 300)
    r = live(o, B, 1, qty=100)
    assert sent(new(o, S, 2, qty=100, loc=2))
    assert reason(new(o, B, 3, qty=101)) == Risk.MAX_GROSS
    assert sent(new(o, B, 3, qty=100))
    assert o.totals()[2] == PX * 300
    o.on_executed(r, 100, PX, 1)
    o.on_quote(1, PX - 200, PX)  # mark 99.99: the position is worth a little less
    assert o.totals()[2] == PX * 300 - 100 * 100
    assert sent(new(o, B, 4, qty=1, price=100 * 100))
    assert reason(new(o, B, 5, qty=1, price=1)) == Risk.MAX_GROSS


def test_self_match(om):
    o = make(om, self_match=True)
    r = live(o, S, 1, price=PX)
    assert sent(new(o, B, 2, price=PX - 1))
    assert reason(new(o, B, 3, price=PX)) == Risk.SELF_MATCH
    assert reason(new(o, B, 3, price=PX + 100)) == Risk.SELF_MATCH
    assert sent(new(o, B, 4, price=PX, loc=2))  # another symbol
    assert reason(new(o, S, 5, price=PX - 1)) == Risk.SELF_MATCH  # against our resting buy 2
    s6 = new(o, S, 6, price=PX)
    assert sent(s6)
    o.on_canceled(r, 100)
    o.cancel(6)  # a cancel pending is still resting: still counts
    assert reason(new(o, B, 7, price=PX)) == Risk.SELF_MATCH
    assert isinstance(o.on_accepted(s6.user_ref), Report)
    assert isinstance(o.on_canceled(s6.user_ref, 100), Report)
    assert sent(new(o, B, 7, price=PX))


ALL_ON = dict(max_order_qty=100, max_order_notional=PX * 100, collar_ticks=5, max_long=100, max_short=100,
              max_gross_notional=PX * 100, max_open_orders=1, rate_orders_symbol=1, rate_orders_total=1,
              rate_window_ns=10**9, self_match=True)


@pytest.mark.parametrize("change, want", [
    (dict(side=ord("X"), qty=0, price=0, locate=9), Risk.BAD_SIDE),
    (dict(qty=0, price=0, locate=9), Risk.BAD_QTY),
    (dict(price=0, locate=9), Risk.BAD_PRICE),
    (dict(locate=9, cl_ord_id=1), Risk.UNKNOWN_SYMBOL),
    (dict(cl_ord_id=1, qty=101), Risk.DUPLICATE_ID),
    (dict(qty=101, price=PX + 10_000), Risk.MAX_QTY),
    (dict(price=PX + 10_000), Risk.MAX_NOTIONAL),
    (dict(price=PX - 1000, qty=1), Risk.COLLAR),
    (dict(price=PX - 100, qty=1), Risk.MAX_OPEN_ORDERS),
])
def test_check_order(om, change, want):
    """An intent failing several checks gets the first in oms.h's order."""
    o = make(om, **ALL_ON)
    o.on_quote(1, PX, PX + 100)
    assert sent(new(o, B, 1, qty=100))  # fills max_open_orders, both rates, max_long, max_gross
    it = Intent.new(B, 1, 2, PX, 100)._replace(**change)
    assert reason(o.submit(it, 1)) == want


def test_check_order_late(om):
    """The later checks, each reached with every earlier one passing."""
    lim = dict(collar_ticks=5, rate_orders_symbol=1, rate_window_ns=10**9, max_long=100, max_short=100,
               max_gross_notional=PX * 101, self_match=True)
    later = 2 * 10**9  # the rate window has passed
    o = make(om, **lim)
    o.on_quote(1, PX, PX + 100)
    assert sent(new(o, S, 1, qty=100, price=PX + 100))
    # the rate (1 per s) before max_short, max_gross, self-match
    assert reason(new(o, S, 2, qty=100, price=PX + 100)) == Risk.RATE_SYMBOL
    assert reason(new(o, B, 3, qty=1, price=PX + 100, t=later)) == Risk.MAX_GROSS  # before self-match
    o2 = make(om, **dict(lim, max_gross_notional=0))
    o2.on_quote(1, PX, PX + 100)
    assert sent(new(o2, S, 1, qty=100, price=PX + 100))
    assert reason(new(o2, S, 2, qty=1, price=PX + 100, t=later)) == Risk.MAX_SHORT
    assert reason(new(o2, B, 3, qty=1, price=PX + 100, t=later)) == Risk.SELF_MATCH
    assert sent(new(o2, B, 4, qty=1, price=PX + 99, t=later))


# ------------------------------------------------------------ cancels
def test_cancel_intents(om):
    o = make(om)
    assert reason(o.cancel(5)) == Risk.UNKNOWN_ORDER
    s = new(o, B, 5)
    c = o.cancel(5, 3)
    assert c == Send(pyoms.SEND_CANCEL, B, 1, s.user_ref, 5, PX, 0)
    assert o.order(s.user_ref).state == State.CANCEL_PENDING
    rep = o.cancel(5)
    assert reason(rep) == Risk.CANCEL_PENDING and rep.leaves == 100
    assert isinstance(o.submit(Intent.cancel(5), 4), Report)  # the intent form does the same
    o.on_accepted(s.user_ref)
    o.on_canceled(s.user_ref, 100)
    assert reason(o.cancel(5)) == Risk.ORDER_CLOSED
    c = o.counters()
    assert (c["cancel_intents"], c["cancels_sent"], c["cancel_rejected"]) == (5, 1, 4)
    assert c["rejects"] == {"UNKNOWN_ORDER": 1, "CANCEL_PENDING": 2, "ORDER_CLOSED": 1}


# ------------------------------------------------------------ the state machine
def _to(o, start: str) -> int:
    """A fresh buy of 100 @ $100 (cl_ord_id = its user_ref) driven to `start`; its user_ref."""
    n = o.order_count() + 1
    s = new(o, B, n)
    assert s.user_ref == n
    steps = {
        "PENDING_NEW": [],
        "ACCEPTED": ["acc"],
        "PARTIALLY_FILLED": ["acc", "ex10"],
        "CANCEL_PENDING": ["acc", "cxl"],
        "CANCEL_PENDING_UNACKED": ["cxl"],
        "CANCEL_PENDING_PARTIAL": ["acc", "ex10", "cxl"],
        "FILLED": ["acc", "exall"],
        "CANCELED": ["acc", "cxlall"],
        "REJECTED": ["rej"],
    }[start]
    for st_ in steps:
        r = _event(o, n, st_)
        assert not isinstance(r, Illegal), (start, st_, r)
    return n


_match = iter(range(1, 10**9))


def _event(o, ref: int, ev: str):
    rec = o.order(ref)
    rest = rec.leaves if rec.leaves else 10
    return {
        "acc": lambda: o.on_accepted(ref, 5000 + ref),
        "ex10": lambda: o.on_executed(ref, 10, PX, next(_match)),
        "exall": lambda: o.on_executed(ref, rest, PX, next(_match)),
        "cxl10": lambda: o.on_canceled(ref, 10),
        "cxlall": lambda: o.on_canceled(ref, rest),
        "rej": lambda: o.on_rejected(ref, 7),
        "cxlrej": lambda: o.on_cancel_rejected(ref),
        "cxl": lambda: o.cancel(ref),
    }[ev]()


PN, AC, PF, CP = State.PENDING_NEW, State.ACCEPTED, State.PARTIALLY_FILLED, State.CANCEL_PENDING
FI, CA, RE = State.FILLED, State.CANCELED, State.REJECTED
EVENTS = ["acc", "ex10", "exall", "cxl10", "cxlall", "rej", "cxlrej", "cxl"]
# oms.h's table: the state after the event, a Bad (illegal reply) or a Risk (cancel intent refused)
TABLE = {
    "PENDING_NEW": [AC, Bad.NOT_ACCEPTED, Bad.NOT_ACCEPTED, Bad.NOT_ACCEPTED, Bad.NOT_ACCEPTED, RE, Bad.NO_CANCEL,
                    CP],
    "ACCEPTED": [Bad.ACCEPT_TWICE, PF, FI, AC, CA, Bad.REJECT_ACCEPTED, Bad.NO_CANCEL, CP],
    "PARTIALLY_FILLED": [Bad.ACCEPT_TWICE, PF, FI, PF, CA, Bad.REJECT_ACCEPTED, Bad.NO_CANCEL, CP],
    "CANCEL_PENDING": [Bad.ACCEPT_TWICE, CP, FI, CP, CA, Bad.REJECT_ACCEPTED, AC, Risk.CANCEL_PENDING],
    "CANCEL_PENDING_UNACKED": [CP, Bad.NOT_ACCEPTED, Bad.NOT_ACCEPTED, Bad.NOT_ACCEPTED, Bad.NOT_ACCEPTED, RE, PN,
                               Risk.CANCEL_PENDING],
    "CANCEL_PENDING_PARTIAL": [Bad.ACCEPT_TWICE, CP, FI, CP, CA, Bad.REJECT_ACCEPTED, PF, Risk.CANCEL_PENDING],
    "FILLED": [Bad.AFTER_CLOSE] * 7 + [Risk.ORDER_CLOSED],
    "CANCELED": [Bad.AFTER_CLOSE] * 7 + [Risk.ORDER_CLOSED],
    "REJECTED": [Bad.AFTER_CLOSE] * 7 + [Risk.ORDER_CLOSED],
}


@pytest.mark.parametrize("start", list(TABLE))
@pytest.mark.parametrize("ev", EVENTS)
def test_state_table(om, start, ev):
    o = make(om)
    _to(o, start)  # another order in the same state first: the edge must not touch it
    ref = _to(o, start)
    want = TABLE[start][EVENTS.index(ev)]
    before, counters = snapshot(o), o.counters()
    got = _event(o, ref, ev)
    assert o.check() == 0
    if isinstance(want, Bad):
        assert got == Illegal(want, ref)
        assert snapshot(o) == before  # harmless: not a record moved
        c = o.counters()
        assert c["illegal"] == counters["illegal"] + 1
        assert c["illegals"].get(want.name, 0) == counters["illegals"].get(want.name, 0) + 1
    elif isinstance(want, Risk):
        assert reason(got) == want
        assert snapshot(o)[:3] == before[:3]
    else:
        assert not isinstance(got, Illegal), got
        rec = o.order(ref)
        assert rec.state == want
        assert rec.filled + rec.canceled + rec.leaves == rec.qty
        assert o.order(ref - 1) == before[0][ref - 2]  # the twin is untouched
        if isinstance(got, Report):
            assert (got.cl_ord_id, got.leaves) == (ref, rec.leaves)


def test_report_contents(om):
    o = make(om)
    s = new(o, S, 42, qty=100, t=1)
    assert o.on_accepted(s.user_ref, 99, 2) == Report(pyoms.REPORT_ACCEPTED, 42, S, 1, PX, 100, 100, 0, 0, 2)
    assert o.on_executed(s.user_ref, 30, PX + 5, 1, "R", 3) == Report(pyoms.REPORT_EXECUTED, 42, S, 1, PX + 5, 30,
                                                                       70, 0, -30, 3)
    assert o.on_canceled(s.user_ref, 20, "S", 4) == Report(pyoms.REPORT_CANCELED, 42, S, 1, PX, 20, 50, ord("S"), -30,
                                                           4)
    assert o.order(s.user_ref) == pyoms.OrderRec(1, 42, 1, S, PX, 100, 30, 20, 50, State.PARTIALLY_FILLED, 99, 1)
    assert o.order_by_id(42) == o.order(1) and o.order_by_id(43) is None and o.order(2) is None
    assert o.fills() == [pyoms.FillRec(1, 42, 1, S, 30, PX + 5, 1, ord("R"), 3)]
    s2 = new(o, S, 43)
    rep = o.on_rejected(s2.user_ref, 0x1234, 5)
    assert rep == Report(pyoms.REPORT_REJECTED, 43, S, 1, PX, 100, 0, 0x8000 | 0x1234, -30, 5)
    assert o.order(2).canceled == 100
    o.cancel(42)
    assert o.on_cancel_rejected(1, 6) == Report(pyoms.REPORT_REJECTED, 42, S, 1, PX, 100, 50, Risk.CANCEL_REFUSED,
                                                -30, 6)
    c = o.counters()
    assert (c["accepted"], c["executions"], c["canceled"], c["exch_rejected"], c["cancel_refused"]) == (1, 1, 1, 1, 1)


@pytest.mark.parametrize("what, call, want", [
    ("ref 0", lambda o, r: o.on_executed(0, 10, PX, 1), Bad.UNKNOWN_REF),
    ("ref next", lambda o, r: o.on_accepted(r + 1), Bad.UNKNOWN_REF),
    ("ref far", lambda o, r: o.on_canceled(1 << 31, 1), Bad.UNKNOWN_REF),
    ("reject unknown", lambda o, r: o.on_rejected(r + 5), Bad.UNKNOWN_REF),
    ("cxlrej unknown", lambda o, r: o.on_cancel_rejected(r + 5), Bad.UNKNOWN_REF),
    ("zero fill", lambda o, r: o.on_executed(r, 0, PX, 1), Bad.ZERO_QTY),
    ("zero cancel", lambda o, r: o.on_canceled(r, 0), Bad.ZERO_QTY),
    ("overfill", lambda o, r: o.on_executed(r, 91, PX, 1), Bad.OVERFILL),
    ("overcancel", lambda o, r: o.on_canceled(r, 91), Bad.OVERCANCEL),
    ("price 0", lambda o, r: o.on_executed(r, 1, 0, 1), Bad.FILL_PRICE),
    ("buy above limit", lambda o, r: o.on_executed(r, 1, PX + 1, 1), Bad.FILL_PRICE),
    ("dup match", lambda o, r: o.on_executed(r, 1, PX, 777), Bad.DUP_MATCH),
])
def test_other_illegal_replies(om, what, call, want):
    o = make(om)
    r = live(o, B, 1)
    assert not isinstance(o.on_executed(r, 10, PX - 100, 777), Illegal)  # a better price is fine
    before, counters = snapshot(o), o.counters()
    got = call(o, r)
    assert isinstance(got, Illegal) and got.kind == want, got
    assert snapshot(o) == before
    assert o.counters()["illegals"][want.name] == counters["illegals"].get(want.name, 0) + 1
    assert o.counters()["illegal"] == counters["illegal"] + 1
    assert o.check() == 0


def test_sell_fill_below_limit_is_illegal(om):
    o = make(om)
    r = live(o, S, 1)
    assert o.on_executed(r, 1, PX - 1, 1) == Illegal(Bad.FILL_PRICE, r)
    assert isinstance(o.on_executed(r, 1, PX + 1, 1), Report)


def test_fill_table_full_still_applies(om):
    o = make(om, max_fills=2)
    r = live(o, B, 1)
    for m in range(4):
        assert isinstance(o.on_executed(r, 10, PX, m), Report)
    assert o.fill_count() == 2 and o.counters()["fills_unrecorded"] == 2
    assert o.position(1).position == 40 and o.order(r).filled == 40
    assert o.check() == 0


# ------------------------------------------------------------ kill switch
def test_kill_manual_cancels_everything(om):
    o = make(om)
    r1 = live(o, B, 1)
    r2 = live(o, S, 2, price=PX + 100, loc=2)
    s3 = new(o, B, 3, price=PX - 100)  # pending new: cancelled too
    r4 = live(o, B, 4, price=PX - 200)
    o.cancel(4)  # already on its way: not cancelled twice
    r5 = live(o, B, 5, qty=10)
    o.on_executed(r5, 10, PX, 1)  # filled: nothing to cancel
    acts = o.kill(Risk.KILL_MANUAL, 50)
    assert acts[0] == Report(pyoms.REPORT_HALTED, 0, 0, 0, 0, 0, 0, Risk.KILL_MANUAL, 0, 50)
    assert [a.user_ref for a in acts[1:]] == [r1, r2, s3.user_ref]
    assert all(a.kind == pyoms.SEND_CANCEL and a.qty == 0 for a in acts[1:])
    assert all(o.order(r).state == State.CANCEL_PENDING for r in (r1, r2, s3.user_ref, r4))
    assert o.halted == Risk.KILL_MANUAL and o.pending() == 0
    assert o.kill(Risk.HEARTBEAT) == [] and o.halted == Risk.KILL_MANUAL  # the first reason stays
    assert reason(new(o, B, 9)) == Risk.KILL_MANUAL
    assert reason(new(o, ord("X"), 9, qty=0)) == Risk.KILL_MANUAL  # first check of all
    # risk-reducing actions still work: a refused cancel can be sent again
    assert isinstance(o.on_cancel_rejected(r1), Report)
    assert o.cancel(1).kind == pyoms.SEND_CANCEL
    # and the exchange's replies are still applied
    assert isinstance(o.on_executed(r2, 50, PX + 100, 2), Report)
    assert isinstance(o.on_canceled(r2, 50), Report)
    c = o.counters()
    assert c["kills"] == 1 and c["rejects"]["KILL_MANUAL"] == 2 and c["cancels_sent"] == 5
    assert o.check() == 0


def test_kill_heartbeat(om):
    o = make(om)
    live(o, B, 1)
    acts = o.kill(Risk.HEARTBEAT, 9)
    assert acts[0].reason == Risk.HEARTBEAT and len(acts) == 2
    assert reason(new(o, B, 2)) == Risk.HEARTBEAT


def test_resume_lifts_only_a_heartbeat_halt_and_only_once_its_cancels_are_out(om):
    o = make(om)
    live(o, B, 1)
    assert not o.resume()  # not halted: nothing to lift
    assert len(o.kill(Risk.HEARTBEAT, 9)) == 2 and o.pending() == 0  # the HALTED report and one cancel, taken
    assert o.resume() and o.halted == 0 and o.counters()["resumes"] == 1
    assert sent(new(o, B, 2))  # trading again
    assert not o.resume()
    for why in (Risk.KILL_MANUAL, Risk.LOSS):
        p = make(om)
        p.kill(why, 1)
        assert not p.resume() and p.halted == why  # a person lifts those, not a returning strategy
    q = make(om)
    live(q, B, 1)
    if om is pyoms:
        q._kill(Risk.HEARTBEAT, 5)  # halted, its actions not yet taken
    else:
        from cimpl import oms as coms

        coms._kill(q._handle(), int(Risk.HEARTBEAT), 5)
    assert q.pending() == 2 and not q.resume()  # the cancels must go out first
    q.drain()
    assert q.resume()


def test_loss_limit_and_the_race(om):
    o = make(om, max_loss=500_000)  # $50
    r1 = live(o, B, 1, qty=100)
    o.on_executed(r1, 100, PX, 1)
    r2 = live(o, B, 2, qty=10, price=PX - 1000)
    r3 = live(o, B, 3, qty=10, price=PX - 2000)
    o.on_quote(1, PX - 10_000, PX)  # mid 99.50: -100 x 5000 = -500,000: at the limit, not below
    assert o.totals()[:2] == (0, -500_000) and not o.halted and o.pending() == 0
    o.on_quote(1, PX - 10_002, PX)  # mid 99.4999: -500,100
    assert o.halted == Risk.LOSS and o.pending() == 3
    assert reason(new(o, B, 4, loc=2)) == Risk.LOSS
    # a fill races the kill: order 2 fills before its cancel is taken
    assert isinstance(o.on_executed(r2, 10, PX - 1000, 2), Report)
    acts = o.drain()
    assert acts[0].kind == pyoms.REPORT_HALTED and acts[0].reason == Risk.LOSS
    assert [a.user_ref for a in acts[1:]] == [r3]  # 2 was skipped: nothing left to cancel
    assert o.pending() == 0 and o.drain() == []


def test_loss_limit_on_a_fill(om):
    o = make(om, max_loss=1000)
    r1 = live(o, B, 1, qty=100)
    o.on_executed(r1, 100, PX, 1)
    live(o, S, 2, qty=100, price=PX - 11)
    o.on_executed(2, 100, PX - 10, 2)  # realized -1000: not below
    assert not o.halted
    r3 = live(o, B, 3, qty=1)
    live(o, S, 4, qty=1, price=PX - 2)
    o.on_executed(r3, 1, PX, 3)
    rep = o.on_executed(4, 1, PX - 1, 4)  # realized -1001
    assert rep.kind == pyoms.REPORT_EXECUTED  # the fill is reported; then the halt is pending
    assert o.halted == Risk.LOSS and o.totals()[0] == -1001
    assert o.drain()[0].reason == Risk.LOSS


# ------------------------------------------------------------ positions and PnL
def test_pnl_by_hand(om):
    o = make(om)

    def fill(side, qty, price):
        n = o.order_count() + 1
        live(o, side, n, price=price, qty=qty)
        rep = o.on_executed(n, qty, price, n)
        assert isinstance(rep, Report), rep
        return o.position(1)

    p = fill(B, 100, 10 * P)
    assert (p.position, p.cost, p.realized, p.mark) == (100, 10_000_000, 0, 10 * P)
    p = fill(B, 50, 103_000)  # average 10.10
    assert (p.position, p.cost, p.realized) == (150, 15_150_000, 0)
    p = fill(S, 60, 105_000)  # 60 x 0.40 = $24 realized
    assert (p.position, p.cost, p.realized) == (90, 9_090_000, 240_000)
    p = fill(S, 120, 10 * P)  # closes 90 at -0.10 each, opens 30 short at 10.00
    assert (p.position, p.cost, p.realized) == (-30, -3_000_000, 150_000)
    p = fill(B, 10, 99_000)  # a short covered 0.10 lower
    assert (p.position, p.cost, p.realized) == (-20, -2_000_000, 160_000)
    o.on_quote(1, 98_000, 98_200)  # mid 9.81
    p = o.position(1)
    assert (p.mark, p.unrealized) == (98_100, 38_000)
    assert o.totals()[:2] == (160_000, 38_000)
    p = fill(B, 20, 98_100)
    assert (p.position, p.cost, p.realized, p.unrealized) == (0, 0, 198_000, 0)
    # flat: realized is exactly sells - buys
    sells = 60 * 105_000 + 120 * 10 * P
    buys = 100 * 10 * P + 50 * 103_000 + 10 * 99_000 + 20 * 98_100
    assert p.realized == sells - buys
    assert (p.bought, p.sold) == (180, 180)
    assert o.position(2).position == 0 and o.position(3) is None
    assert [x.locate for x in o.positions()] == [1, 2]


def test_pnl_rounding_stays_in_the_sum(om):
    o = make(om)
    for n, (side, qty, px) in enumerate([(B, 1, 100_001), (B, 2, 100_000), (S, 1, 100_000)], 1):
        live(o, side, n, price=px, qty=qty)
        o.on_executed(n, qty, px, n)
    p = o.position(1)
    assert (p.position, p.cost, p.realized) == (2, 200_001, 0)  # 300001 / 3 truncated
    assert p.unrealized == 2 * 100_000 - 200_001  # mark: the last fill's price (no quote yet)
    live(o, S, 4, price=100_000, qty=2)
    o.on_executed(4, 2, 100_000, 4)
    assert o.position(1)[1:5] == (0, 0, -1, 0)  # exact once flat


# ------------------------------------------------------------ the property test
NEW = st.tuples(st.just("new"), st.sampled_from([B] * 5 + [S] * 5 + [ord("X")]),
                st.sampled_from([1, 1, 1, 1, 2, 2, 2, 3]), st.integers(0, 30), st.integers(-7, 6),
                st.sampled_from([0, 1, 20, 50, 100, 100, 150, 400]))
ACC = st.tuples(st.just("acc"), st.integers(0, 40))
EXEC = st.tuples(st.just("exec"), st.integers(0, 40), st.sampled_from([0, 1, 10, 50, 100, 100, 10**6]),
                 st.sampled_from([-200, -100, 0, 0, 0, 0, 100]), st.integers(0, 12))
CXL = st.tuples(st.just("cxl"), st.integers(0, 40), st.sampled_from([0, 1, 50, 100, 100, 10**6]))
GEN = {
    "new": NEW, "acc": ACC, "exec": EXEC, "cxl": CXL,
    "cancel": st.tuples(st.just("cancel"), st.integers(0, 22)),
    "rej": st.tuples(st.just("rej"), st.integers(0, 40), st.integers(0, 0xFFFF)),
    "cxlrej": st.tuples(st.just("cxlrej"), st.integers(0, 40)),
    "quote": st.tuples(st.just("quote"), st.sampled_from([1, 2, 3]), st.integers(-8, 8), st.integers(0, 4),
                       st.integers(0, 1)),
    "time": st.tuples(st.just("time"), st.sampled_from([0, 1, 200, 1000])),
    "drain": st.tuples(st.just("drain")),
    "kill": st.tuples(st.just("kill"), st.sampled_from(list(pyoms.KILL_REASONS)), st.integers(0, 3)),
}
# the mix of a session: mostly orders and fills; a kill now and then (it ends the trading)
WEIGHTS = {"new": 10, "acc": 6, "exec": 8, "cxl": 3, "cancel": 3, "rej": 1, "cxlrej": 1, "quote": 3, "time": 4,
           "drain": 1, "kill": 1}
OPS = st.sampled_from([k for k, w in WEIGHTS.items() for _ in range(w)]).flatmap(GEN.__getitem__)

LIMITS = st.builds(
    RiskLimits, max_order_qty=st.sampled_from([0, 300]), max_order_notional=st.sampled_from([0, PX * 250]),
    collar_ticks=st.sampled_from([0, 3]), collar_ref=st.sampled_from(pyoms.COLLAR_REFS),
    max_long=st.sampled_from([0, 300]), max_short=st.sampled_from([0, 300]),
    max_gross_notional=st.sampled_from([0, PX * 600]), max_open_orders=st.sampled_from([0, 6]),
    rate_orders_symbol=st.sampled_from([0, 4]), rate_orders_total=st.sampled_from([0, 6]),
    rate_window_ns=st.just(1000), max_loss=st.sampled_from([0, 0, 500_000, 10**9]), self_match=st.booleans())


def _invariants(o) -> None:
    assert o.check() == 0
    orders = o.orders()
    assert [r.user_ref for r in orders] == list(range(1, len(orders) + 1))
    for r in orders:
        assert r.filled + r.canceled + r.leaves == r.qty
        assert (r.leaves > 0) == (r.state <= State.CANCEL_PENDING)
    assert o.open_orders() == sum(r.state <= State.CANCEL_PENDING for r in orders)
    for p in o.positions():
        mine = [r for r in orders if r.locate == p.locate]
        assert p.open_orders == sum(r.state <= State.CANCEL_PENDING for r in mine)
        assert p.open_buy_qty == sum(r.leaves for r in mine if r.side == B)
        assert p.open_sell_qty == sum(r.leaves for r in mine if r.side == S)
        assert p.position == sum(r.filled if r.side == B else -r.filled for r in mine)
        if o.counters()["fills_unrecorded"] == 0:
            assert p.position == sum(f.qty if f.side == B else -f.qty for f in o.fills() if f.locate == p.locate)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(limits=LIMITS, ops=st.lists(OPS, min_size=20, max_size=80))
def test_c_and_python_agree(limits, ops):
    from cimpl import oms as coms

    oc = coms.Oms(limits, max_orders=24, max_symbols=2, max_fills=12)
    op = pyoms.Oms(limits, max_orders=24, max_symbols=2, max_fills=12)
    try:
        for o in (oc, op):
            o.add_symbol(1)
            o.add_symbol(2)
            o.on_quote(1, PX, PX + 100)
            o.on_quote(2, PX, PX + 200)
        t = 0
        for op_ in ops:
            kind = op_[0]
            n = op.order_count()
            if kind == "time":
                t += op_[1]
                continue
            if kind == "new":
                _, side, loc, cl, dticks, qty = op_
                price = PX + dticks * 100 if dticks > -7 else 0
                call = lambda o: o.submit(Intent(pyoms.INTENT_NEW, side, loc, cl, price, qty), t)  # noqa
            elif kind == "cancel":  # mostly an order that exists
                cl = op.orders()[op_[1] % n].cl_ord_id if n and op_[1] < 20 else op_[1]
                call = lambda o: o.cancel(cl, t)  # noqa
            elif kind == "quote":
                _, loc, dticks, spread, odd = op_
                bid = PX + dticks * 100 if dticks != -8 else 0
                ask = bid + spread * 100 + odd if spread else 0  # odd: a mid that is not a whole unit
                call = lambda o: o.on_quote(loc, bid, ask, t)  # noqa
            elif kind == "kill":
                if op_[2]:  # 3 in 4 do nothing: a session should mostly trade
                    continue
                call = lambda o: o.kill(op_[1], t)  # noqa
            elif kind == "drain":
                call = lambda o: o.drain()  # noqa
            else:
                raw = op_[1]  # mostly orders that exist; sometimes 0, the next one, one far away
                ref = {38: 0, 39: n + 1, 40: 1 << 31}.get(raw, 1 + raw % max(n, 1))
                if kind == "acc":
                    call = lambda o: o.on_accepted(ref, ref * 7, t)  # noqa
                elif kind == "exec":
                    rec = op.order(ref)
                    qty = op_[2] if op_[2] != 100 or rec is None else rec.leaves  # 100: all that is left
                    price = (rec.price if rec else PX) + op_[3]
                    call = lambda o: o.on_executed(ref, qty, price, op_[4], "A", t)  # noqa
                elif kind == "cxl":
                    rec = op.order(ref)
                    qty = op_[2] if op_[2] != 100 or rec is None else rec.leaves
                    call = lambda o: o.on_canceled(ref, qty, "U", t)  # noqa
                elif kind == "rej":
                    call = lambda o: o.on_rejected(ref, op_[2], t)  # noqa
                else:
                    call = lambda o: o.on_cancel_rejected(ref, t)  # noqa
            got_c, got_p = call(oc), call(op)
            assert got_c == got_p, op_
            assert oc.pending() == op.pending()
            if op.pending() and op_[0] != "drain" and len(ops) % 2:  # drain at once half the time
                assert oc.drain() == op.drain()
            assert oc.check() == 0
        for o in (oc, op):
            _invariants(o)
        assert oc.orders() == op.orders()
        assert oc.fills() == op.fills()
        assert oc.positions() == op.positions()
        assert oc.totals() == op.totals()
        assert oc.counters() == op.counters()
        assert (oc.halted, oc.pending(), oc.open_orders()) == (op.halted, op.pending(), op.open_orders())
    finally:
        oc.close()
