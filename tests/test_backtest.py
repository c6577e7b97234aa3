"""Lab 8: the backtester's semantics (pyimpl.backtest, the reference loop).

What a backtest must never do, each shown on lab 5's simulated stream:
look ahead (a decision cannot depend on a message that has not reached the
strategy), fill an order that more latency should have cost (a later order
joins the queue further back), fill at a price the book never had, or fill
an order before the orders ahead of it in its queue.  cimpl/backtest.c is
held to the same results by tests/test_backtest_c.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labs import backtest as lbt
from labs.feed import simulate
from pyimpl import backtest as pbt
from pyimpl import itch
from pyimpl import trading_system as ts


@pytest.fixture(scope="module")
def stream():
    return simulate(6000, 3)


class Recorder:
    """Wraps a strategy and writes down everything it was told and answered, with the engine's clock."""

    def __init__(self, inner) -> None:
        self.inner, self.log = inner, []

    def on_features(self, snap):
        out = self.inner.on_features(snap)
        self.log.append(("snap", snap.engine_ns, snap, tuple(out)))
        return out

    def _report(self, name, r):
        self.log.append((name, r.ns, r, ()))
        getattr(self.inner, name)(r)

    def on_execution(self, r):
        self._report("on_execution", r)

    def on_reject(self, r):
        self._report("on_reject", r)

    def on_cancel(self, r):
        self._report("on_cancel", r)

    def on_accept(self, r):
        self._report("on_accept", r)


def _frames(buf):
    return [(off, bytes(b)) for off, b in itch.iter_frames(buf)]


# ------------------------------------------------------------ no look-ahead
@pytest.mark.parametrize("latency", ["constant:0", "constant:2000", "constant:500,20000,3000"])
@pytest.mark.parametrize("cut", [1500, 3777])
def test_no_decision_depends_on_a_message_not_yet_seen(stream, latency, cut):
    """The stream cut after message k: everything the strategy was told and
    answered before message k + 1 existed at the exchange is the same."""
    frames = _frames(stream)
    prefix = stream[:frames[cut][0] - 2]
    t_next = int.from_bytes(frames[cut][1][5:11], "big")  # message k + 1's exchange time
    full, part = Recorder(ts.MarketMaker()), Recorder(ts.MarketMaker())
    pbt.run(stream, full, latency=latency, risk=lbt.PERMISSIVE)
    pbt.run(prefix, part, latency=latency, risk=lbt.PERMISSIVE)
    before = [e for e in full.log if e[1] < t_next]
    assert len(before) > 100  # the cut is well inside the run
    assert [e for e in part.log if e[1] < t_next] == before


def test_the_strategy_gets_nothing_but_snapshots_and_reports(stream):
    """The API cannot peek: the strategy is never handed the stream, the
    backtester or the exchange - only immutable tuples."""
    seen = set()

    class Spy(ts.MarketMaker):
        def on_features(self, snap):
            seen.add(type(snap))
            return super().on_features(snap)

        def on_execution(self, r):
            seen.add(type(r))
            super().on_execution(r)

    pbt.run(stream, Spy(), risk=lbt.PERMISSIVE)
    assert seen == {ts.Snapshot, ts.Report}
    with pytest.raises(AttributeError):
        ts.Snapshot(*range(10), ()).bid = 1  # tuples: a strategy cannot write into what it is told


def test_a_snapshot_arrives_after_its_message_plus_the_feed_latency(stream):
    rec = Recorder(ts.MarketMaker())
    pbt.run(stream, rec, latency="constant:7000,1,1", risk=lbt.PERMISSIVE)
    snaps = [e[2] for e in rec.log if e[0] == "snap"]
    assert all(s.engine_ns >= s.send_ns + 7000 for s in snaps)
    assert all(a.engine_ns <= b.engine_ns for a, b in zip(snaps, snaps[1:]))  # the feed leg is FIFO


# ------------------------------------------------------------ latency and the queue
class JoinOnce:
    """Joins the bid of one symbol at its first two-sided snapshot, `ticks` below the touch, and waits."""

    def __init__(self, locate: int, ticks: int = 2, qty: int = 300) -> None:
        self.locate, self.ticks, self.qty, self.done = locate, ticks, qty, False

    def on_features(self, snap):
        if self.done or snap.locate != self.locate or not snap.bid or not snap.ask:
            return []
        self.done = True
        return [ts.Intent(ts.INTENT_NEW, ts.BUY, snap.locate, 1, snap.bid - self.ticks * 100, self.qty)]

    def on_execution(self, r):
        pass

    on_reject = on_cancel = on_accept = on_execution


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 50), locate=st.integers(1, 8), lat=st.lists(st.integers(0, 400_000), min_size=2,
                                                                        max_size=2))
def test_more_latency_never_fills_a_resting_order_more(seed, locate, lat):
    """Price-time priority: an order that reaches the exchange later joins
    the same queue further back, so (as long as it rests, i.e. does not
    cross on arrival) it can never be filled more."""
    stream = simulate(2500, seed)
    lo, hi = sorted(lat)
    runs = []
    for ns in (lo, hi):
        r = pbt.run(stream, JoinOnce(locate), latency=f"constant:{ns}", risk=lbt.PERMISSIVE)
        runs.append(r.fills_frame())
    f_lo, f_hi = runs
    if (f_lo["liquidity"] == "A").all() and (f_hi["liquidity"] == "A").all():
        assert f_hi["qty"].sum() <= f_lo["qty"].sum()


# ------------------------------------------------------------ fills consistent with the stream
def test_fills_are_at_prices_the_book_had_and_never_ahead_of_the_queue(stream):
    """An independent replay (lab 5's pure-Python book) checks every fill of
    the market maker: a resting order's fill is at its own price, on a side
    and price where the book had real orders when it arrived or after, and
    is caused by an execution of an order *behind* it at that price (or at
    a worse price, or a crossing order) - never by the execution of an order
    that was ahead of it when it joined."""
    res = pbt.run(stream, ts.MarketMaker(), latency="constant:3000", risk=lbt.PERMISSIVE)
    fills, orders = res.fills_frame(), res.orders
    assert len(fills) > 20 and (fills["liquidity"] == "A").any()
    by_id = {cid: i for i, cid in enumerate(orders["cl_ord_id"])}
    # the replay, written here from the messages alone: each level's FIFO of (ref -> shares left); at each
    # order's arrival, the refs resting at its price on its side are the queue ahead of it
    arrivals = sorted((orders["arrive_ns"][i], i) for i in range(len(orders["cl_ord_id"])))
    levels: dict[tuple, dict] = {}  # (locate, side, price) -> {ref: shares}, oldest first
    where: dict[int, tuple] = {}  # ref -> its level
    ahead, k = {}, 0
    seen_prices: dict[tuple[int, int], set] = {}
    cause = {}  # ITCH timestamp -> the message

    def add(ref, lv, shares):
        levels.setdefault(lv, {})[ref] = shares
        where[ref] = lv
        seen_prices.setdefault(lv[:2], set()).add(lv[2])

    def take(ref, shares):  # shares None: all of it
        lv = where[ref]
        left = levels[lv][ref] - (levels[lv][ref] if shares is None else shares)
        if left:
            levels[lv][ref] = left
        else:
            del levels[lv][ref], where[ref]

    for _, body in itch.iter_frames(stream):
        t = int.from_bytes(body[5:11], "big")
        while k < len(arrivals) and arrivals[k][0] < t:  # orders arriving before this message (ties: feed first)
            i = arrivals[k][1]
            lv = (orders["locate"][i], orders["side"][i], orders["price"][i])
            ahead[orders["cl_ord_id"][i]] = set(levels.get(lv, ()))
            k += 1
        m = itch.decode(body)
        cause[t] = m
        if isinstance(m, itch.AddOrder):
            add(m.order_ref, (m.stock_locate, m.side[0], m.price), m.shares)
        elif isinstance(m, (itch.OrderExecuted, itch.OrderExecutedWithPrice)):
            take(m.order_ref, m.executed_shares)
        elif isinstance(m, itch.OrderCancel):
            take(m.order_ref, m.cancelled_shares)
        elif isinstance(m, itch.OrderDelete):
            take(m.order_ref, None)
        elif isinstance(m, itch.OrderReplace):
            loc, side, _ = where[m.original_order_ref]
            take(m.original_order_ref, None)
            add(m.new_order_ref, (loc, side, m.price), m.shares)
    for f in fills.itertuples():
        i = by_id[f.cl_ord_id]
        side, px = orders["side"][i], int(round(f.price * pbt.PRICE))
        if f.liquidity == "A":
            assert px == orders["price"][i]  # a resting order fills at its own price
            m = cause[f.ts_ns]
            if isinstance(m, (itch.OrderExecuted, itch.OrderExecutedWithPrice)):
                assert m.order_ref not in ahead[f.cl_ord_id], f"fill of {f.cl_ord_id} by an order ahead of it"
        else:  # it crossed on arrival: at a price the other side really had
            other = ts.SELL if side == ts.BUY else ts.BUY
            assert px in seen_prices[(f.locate, other)]


# ------------------------------------------------------------ the loop's bookkeeping
def test_a_run_reconciles_and_counts_add_up(stream):
    res = pbt.run(stream, ts.MarketMaker(), latency="constant:5000", risk=lbt.risk_limits("mm"))
    assert res.reconciled
    assert res.events == len(_frames(stream))
    assert res.snapshots == res.book_updates == len(res.marks["ts_ns"])
    assert res.orders_sent == len(res.orders["cl_ord_id"])
    fills = res.fills_frame()
    assert (fills["seen_ns"] >= fills["ts_ns"] + 5000).all()  # a fill is learnt a reply latency after it happened
    fee = np.where(fills["liquidity"] == "A", pbt.Fees().maker, pbt.Fees().taker) * fills["qty"]
    assert np.allclose(fills["fee"], fee)


def test_lab7_risk_limits_trip_and_the_strategy_backs_off(stream):
    """Under lab 7's limits (200 orders/s) the quoting strategy is throttled:
    the rejections are counted by reason and the strategy is told each one."""
    rec = Recorder(ts.MarketMaker())
    res = pbt.run(stream, rec, latency="constant:1000", risk=lbt.risk_limits("signal"))
    assert res.rejects > 0 and "RATE_TOTAL" in res.rejects_by_reason
    assert sum(1 for e in rec.log if e[0] == "on_reject") >= res.rejects


def test_the_kill_switch_trips_on_the_loss_limit(stream):
    res = pbt.run(stream, ts.MarketMaker(), latency="constant:1000", risk=lbt.PERMISSIVE.replace(max_loss=1))
    assert res.halted == pbt._oms.Risk.LOSS
    assert res.reconciled  # its cancels went out and were answered


def test_a_strategy_that_raises_keeps_the_partial_result(stream):
    class Boom(ts.MarketMaker):
        n = 0

        def on_features(self, snap):
            self.n += 1
            if self.n == 1234:
                raise ZeroDivisionError("my bug")
            return super().on_features(snap)

    with pytest.raises(pbt.BacktestError, match="ZeroDivisionError: my bug") as e:
        pbt.run(stream, Boom(), risk=lbt.PERMISSIVE)
    assert e.value.partial is not None and e.value.partial.snapshots == 1234
    assert e.value.event >= 1234


def test_a_truncated_stream_is_an_error_naming_the_offset_or_a_partial_run_when_lenient(stream):
    cut = stream[:-7]
    with pytest.raises(itch.ItchError, match="offset"):
        pbt.run(cut, ts.MarketMaker())
    res = pbt.run(cut, ts.MarketMaker(), lenient=True, risk=lbt.PERMISSIVE)
    assert res.error and "offset" in res.error and res.events == len(_frames(stream)) - 1


def test_a_message_the_book_refuses_names_its_position():
    frames = _frames(simulate(500, 0))
    bad = itch.encode(itch.OrderDelete(1, 0, int.from_bytes(frames[-1][1][5:11], "big") + 1, 999_999_999))
    stream = simulate(500, 0) + len(bad).to_bytes(2, "big") + bad
    with pytest.raises(ValueError, match=f"message {len(frames) + 1} of the stream"):
        pbt.run(stream, ts.MarketMaker())
    res = pbt.run(stream, ts.MarketMaker(), lenient=True)
    assert res.error and res.events == len(frames)


# ------------------------------------------------------------ latency specs
def test_latency_specs():
    lat = pbt.parse_latency("constant:250")
    assert (lat.feed.constant, lat.order.constant, lat.reply.constant) == (250, 250, 250)
    lat = pbt.parse_latency("constant:1,2,3")
    assert (lat.feed.constant, lat.order.constant, lat.reply.constant) == (1, 2, 3)
    for bad, words in [("constant:-1", "integers"), ("constant:1,2", "FEED,ORDER,REPLY"), ("fast", "expected"),
                       ("gauss:3", "unknown kind"), ("from:/no/such/file.json", "cannot read")]:
        with pytest.raises(ValueError, match=words):
            pbt.parse_latency(bad)


def _lab7_results(path, scale=1.0):
    recs = []
    for hop in ("hop_feed", "hop_engine", "hop_snap", "hop_strategy", "hop_intent", "hop_order", "hop_reply"):
        p = {"p50": 1000 * scale, "p90": 2000 * scale, "p99": 9000 * scale, "p99.9": 40000 * scale,
             "p99.99": 90000 * scale}
        recs.append({"lab": "trading-system", "metric": f"{hop}_p50_ns", "impl": "python", "variant": None,
                     "value": p["p50"], "percentiles": p, "min": 300 * scale, "max": 200000 * scale})
    path.write_text(json.dumps({"records": recs}))
    return path


def test_from_path_draws_the_lab7_distributions(tmp_path):
    lat = pbt.parse_latency(f"from:{_lab7_results(tmp_path / 'r.json')}", seed=1)
    d = lat.feed.draws(200_000, np.random.default_rng(0))
    assert d.min() >= 3 * 300 and d.max() <= 3 * 200000
    # three independent hops of median 1 us: the sum's median is about 3 us; its tail is the hops' tails
    assert 2500 < np.median(d) < 4500 and np.percentile(d, 99) > 9000
    assert lat.describe()["feed_p50_ns"] == 3000
    (tmp_path / "empty.json").write_text(json.dumps({"records": []}))
    with pytest.raises(ValueError, match="hop_feed_p50_ns"):
        pbt.parse_latency(f"from:{tmp_path / 'empty.json'}")


def test_the_same_seed_gives_the_same_run(tmp_path, stream):
    spec = f"from:{_lab7_results(tmp_path / 'r.json')}"
    a = pbt.run(stream, ts.MarketMaker(), latency=pbt.parse_latency(spec, seed=5), risk=lbt.PERMISSIVE)
    b = pbt.run(stream, ts.MarketMaker(), latency=pbt.parse_latency(spec, seed=5), risk=lbt.PERMISSIVE)
    assert a.fills == b.fills and a.orders == b.orders


def test_fees_from_a_file(tmp_path):
    p = tmp_path / "fees.toml"
    p.write_text("maker = -0.0025\ntaker = 0.003\n")
    assert pbt.Fees.from_toml(p) == pbt.Fees(-0.0025, 0.003)
    p.write_text("maker = 'cheap'\n")
    with pytest.raises(ValueError, match="maker must be a number"):
        pbt.Fees.from_toml(p)
    p.write_text("rebate = 1\n")
    with pytest.raises(ValueError, match="unknown fee key"):
        pbt.Fees.from_toml(p)


# ------------------------------------------------------------ the market maker's rules
def _snap(locate=1, bid=1_000_000, ask=1_000_100):
    return ts.Snapshot(1, 0, 0, locate, 1, 0, bid, ask, 100, 100, (0.0,) * 9)


def _rep(kind, cid, side, pos=0, leaves=0, locate=1, reason=0):
    return ts.Report(kind, side, locate, cid, 0, 100, leaves, reason, pos, 0)


def test_market_maker_quotes_the_touch_and_skews_by_inventory():
    mm = ts.MarketMaker(ts.MarketMakerParams(qty=100, max_position=300, skew_ticks=2))
    out = mm.on_features(_snap())
    assert [(i.kind, i.side, i.price) for i in out] == [(ts.INTENT_NEW, ts.BUY, 1_000_000),
                                                          (ts.INTENT_NEW, ts.SELL, 1_000_100)]
    assert mm.on_features(_snap()) == []  # still right: no churn, the queue position is kept
    bid_id = out[0].cl_ord_id
    mm.on_execution(_rep(ts.REPORT_EXECUTED, bid_id, ts.BUY, pos=200))  # long 2 lots
    out = mm.on_features(_snap())
    assert [(i.kind, i.side, i.price) for i in out] == [(ts.INTENT_NEW, ts.BUY, 1_000_000 - 2 * 2 * 100)]
    out2 = mm.on_features(_snap(bid=1_000_100, ask=1_000_200))  # the market moved: both quotes are stale
    assert [(i.kind, i.side) for i in out2] == [(ts.INTENT_CANCEL, ts.BUY), (ts.INTENT_CANCEL, ts.SELL)]
    assert mm.on_features(_snap(bid=1_000_100, ask=1_000_200)) == []  # one cancel at a time, none twice
    mm.on_cancel(_rep(ts.REPORT_CANCELED, out[0].cl_ord_id, ts.BUY))
    again = mm.on_features(_snap(bid=1_000_100, ask=1_000_200))
    assert [(i.kind, i.side) for i in again] == [(ts.INTENT_NEW, ts.BUY)]


def test_market_maker_caps_its_position_and_cools_down_after_a_reject():
    mm = ts.MarketMaker(ts.MarketMakerParams(qty=100, max_position=100, reject_cooldown=3))
    out = mm.on_features(_snap())
    mm.on_execution(_rep(ts.REPORT_EXECUTED, out[0].cl_ord_id, ts.BUY, pos=100))
    nxt = mm.on_features(_snap())
    assert all(i.side != ts.BUY or i.kind == ts.INTENT_CANCEL for i in nxt)  # at the cap: no new bid
    mm.on_reject(_rep(ts.REPORT_REJECTED, out[1].cl_ord_id, ts.SELL, pos=100, reason=15))
    sells = [[i for i in mm.on_features(_snap()) if i.side == ts.SELL] for _ in range(4)]
    assert sells[:3] == [[], [], []]  # three snapshots of cooling down
    assert [(i.kind, i.price) for i in sells[3]] == [(ts.INTENT_NEW, 1_000_100)]
