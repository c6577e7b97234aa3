"""Lab 8's analytics (labs/analytics.py): cross-checked against quantstats and
empyrical, hand-computed cases, properties of random fills and marks, and the
report and plots.  Synthetic DataFrames in the backtester's shapes."""

from __future__ import annotations

import json
import math

import empyrical
import numpy as np
import pandas as pd
import pytest
import quantstats
from hypothesis import given, settings
from hypothesis import strategies as st

from labs.analytics import analyze, plot, report_markdown

FILL_COLUMNS = ["ts_ns", "seen_ns", "locate", "symbol", "side", "price", "qty", "liquidity", "fee", "cl_ord_id"]
TICKERS = {1: "AAA", 2: "BBB", 3: "CCC"}


def fills_frame(rows) -> pd.DataFrame:
    """rows of (ts_ns, locate, side, price, qty, fee, cl_ord_id) -> Result.fills_frame()'s shape."""
    df = pd.DataFrame(rows, columns=["ts_ns", "locate", "side", "price", "qty", "fee", "cl_ord_id"])
    df = df.astype({"ts_ns": np.int64, "locate": np.int64, "side": np.int64, "price": np.float64,
                    "qty": np.int64, "fee": np.float64, "cl_ord_id": np.int64})
    df["seen_ns"] = df["ts_ns"]
    df["symbol"] = df["locate"].map(TICKERS).astype(object)
    df["liquidity"] = "A"
    return df[FILL_COLUMNS]


def marks_frame(rows) -> pd.DataFrame:
    """rows of (ts_ns, locate, mid) -> Result.marks_frame()'s shape (a one-cent spread; NaN mid: one side empty)."""
    df = pd.DataFrame(rows, columns=["ts_ns", "locate", "mid"]).astype(
        {"ts_ns": np.int64, "locate": np.int64, "mid": np.float64})
    df["bid"], df["ask"] = df["mid"] - 0.005, df["mid"] + 0.005
    return df[["ts_ns", "locate", "bid", "ask", "mid"]]


def random_session(seed=7, n_marks=4000, n_fills=300):
    """Two symbols on random walks of mids (a few NaN), random fills near the mid, over 0.2 s of event time."""
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.integers(0, 200_000_000, n_marks))
    loc = rng.integers(1, 3, n_marks)
    mid = 20.0 + np.zeros(n_marks)
    for s in (1, 2):
        mid[loc == s] += np.cumsum(rng.choice([-0.005, 0.0, 0.005], (loc == s).sum()))
    mid[rng.random(n_marks) < 0.02] = np.nan
    marks = marks_frame(zip(ts, loc, mid))
    pick = np.sort(rng.choice(n_marks, n_fills, replace=False))
    side = rng.choice([-1, 1], n_fills)
    last_mid = pd.Series(mid).groupby(loc).transform(lambda m: m.ffill().bfill()).to_numpy()
    price = np.round(last_mid[pick] - 0.005 * side, 3)  # at our side's touch: half the 1-cent spread off the mid
    qty = rng.integers(1, 4, n_fills) * 100
    fills = fills_frame(zip(ts[pick], loc[pick], side, price, qty, -0.002 * qty, rng.integers(0, 150, n_fills)))
    return fills, marks


# ------------------------------------------------------------ against quantstats and empyrical
@pytest.fixture(scope="module")
def session():
    fills, marks = random_session()
    return fills, marks, analyze(fills, marks, orders_sent=200, capital=100_000.0, bar_ns=1_000_000)


def loss_first():
    """A fee in the first bar: equity starts below the capital (the drawdown's anchor matters)."""
    fills = fills_frame([(1000, 1, 1, 10.00, 100, 0.3, 1), (5000, 1, -1, 10.05, 100, 0.3, 2)])
    marks = marks_frame([(0, 1, 10.0), (2500, 1, 9.98), (9000, 1, 10.1)])
    return analyze(fills, marks, orders_sent=2, capital=10_000.0, bar_ns=1000)


@pytest.mark.parametrize("which", ["random", "loss-first"])
def test_ratios_agree_with_quantstats_and_empyrical(session, which):
    a = session[2] if which == "random" else loss_first()
    s, r = a.summary, a.returns
    ppy = s["periods_per_year"]
    assert r.min() < 0 < r.max()
    # quantstats wants a DatetimeIndex (its validate_input replaces a Series' other index in place):
    # quantstats.stats.sharpe(returns, rf=0, periods=ppy, annualize=True): mean / std(ddof=1) * sqrt(periods)
    # quantstats.stats.sortino(returns, rf=0, periods=ppy, annualize=True): mean / sqrt(sum(r[r<0]^2) / count) * sqrt
    # quantstats.stats.max_drawdown(returns): min(prices / running max) - 1, prices rebuilt from 1.0
    rq = r.set_axis(pd.to_datetime(r.index, unit="ns"))
    qs = quantstats.stats
    # empyrical.sharpe_ratio(returns, risk_free=0, annualization=ppy): mean / nanstd(ddof=1) * sqrt(ann)
    # empyrical.sortino_ratio(returns, required_return=0, annualization=ppy): mean * ann / downside_risk,
    #   downside_risk = sqrt(mean(min(r, 0)^2)) * sqrt(ann)
    # empyrical.max_drawdown(returns): min of the drawdown of cum_returns anchored at a start of 100
    for ours, theirs in [
        (s["sharpe"], qs.sharpe(rq, periods=ppy, annualize=True)),
        (s["sharpe"], empyrical.sharpe_ratio(r, annualization=ppy)),
        (s["sharpe_per_bar"], qs.sharpe(rq, annualize=False)),
        (s["sortino"], qs.sortino(rq, periods=ppy, annualize=True)),
        (s["sortino"], empyrical.sortino_ratio(r, annualization=ppy)),
        (s["max_drawdown_frac"], qs.max_drawdown(rq)),
        (s["max_drawdown_frac"], empyrical.max_drawdown(r)),
    ]:
        assert ours == pytest.approx(theirs, rel=1e-9)


def test_returns_compound_to_the_equity_curve(session):
    a = session[2]
    rebuilt = a.summary["capital"] * np.cumprod(1 + a.returns.to_numpy())
    np.testing.assert_allclose(rebuilt, a.equity["equity"].to_numpy(), rtol=1e-12)
    assert a.summary["bars"] == len(a.equity) == 200
    assert a.equity.index[-1] >= session[1]["ts_ns"].max()


# ------------------------------------------------------------ by hand
def test_one_round_trip():
    # buy 100 @ 10.00, sell 100 @ 10.05 4 us later, 0.30 $ fee on each
    fills = fills_frame([(1000, 1, 1, 10.00, 100, 0.30, 1), (5000, 1, -1, 10.05, 100, 0.30, 2)])
    a = analyze(fills, marks_frame([(0, 1, 10.0), (9000, 1, 10.1)]), orders_sent=2, bar_ns=1000)
    s = a.summary
    assert s["realized"] == pytest.approx(5.00)  # 100 x 0.05, before fees
    assert s["fees"] == pytest.approx(0.60)
    assert s["pnl"] == pytest.approx(4.40)
    assert s["unrealized"] == 0
    assert s["hit_rate"] == 1.0
    assert s["avg_holding_ns"] == 4000
    assert s["turnover"] == pytest.approx((1000 + 1005) / 1_000_000)
    assert (s["fills"], s["shares_traded"], s["max_abs_position"], s["fill_ratio"]) == (2, 200, 100, 1.0)
    (rt,) = a.round_trips.itertuples()
    assert (rt.locate, rt.side, rt.qty, rt.open_ns, rt.close_ns) == (1, 1, 100, 1000, 5000)
    assert rt.pnl == pytest.approx(4.40)
    assert a.per_symbol.loc[1, "symbol"] == "AAA"
    assert list(a.equity["position_AAA"]) == [100] * 4 + [0] * 5


def test_position_flip():
    # long 100 @ 10, then sell 150 @ 11: closes the 100 (+100 $) and opens a short 50 @ 11
    fills = fills_frame([(100, 1, 1, 10.0, 100, 0.0, 1), (200, 1, -1, 11.0, 150, 0.0, 2)])
    a = analyze(fills, marks_frame([(0, 1, 10.0), (300, 1, 10.5)]), orders_sent=2, bar_ns=100)
    row = a.per_symbol.loc[1]
    assert (row.position, row.avg_cost, row.mark) == (-50, 11.0, 10.5)
    assert row.realized == pytest.approx(100.0)
    assert row.unrealized == pytest.approx(25.0)  # -50 x (10.5 - 11)
    assert row.pnl == pytest.approx(125.0)  # cash 650 - 50 x 10.5
    assert row.realized + row.unrealized - row.fees == pytest.approx(row.pnl)
    assert a.round_trips[["side", "qty", "pnl"]].values.tolist() == [[1, 100, 100.0]]  # the short is still open


def test_average_cost_after_a_partial_close():
    # buy 100 @ 10, sell 50 @ 12 (+100 $, the 50 left keep cost 10), buy 50 @ 11 -> cost (50 x 10 + 50 x 11) / 100
    fills = fills_frame([(10, 1, 1, 10.0, 100, 0.0, 1), (20, 1, -1, 12.0, 50, 0.0, 2), (30, 1, 1, 11.0, 50, 0.0, 3)])
    a = analyze(fills, marks_frame([(0, 1, 10.0), (40, 1, 11.0)]), orders_sent=3, bar_ns=10)
    row = a.per_symbol.loc[1]
    assert row.avg_cost == pytest.approx(10.5)
    assert row.realized == pytest.approx(100.0)
    assert row.unrealized == pytest.approx(50.0)  # 100 x (11 - 10.5)
    assert a.summary["pnl"] == pytest.approx(150.0)


def test_nan_mids_carry_the_last_valid_one():
    fills = fills_frame([(0, 1, 1, 10.0, 100, 0.0, 1)])
    marks = marks_frame([(0, 1, 10.0), (10, 1, 10.2), (20, 1, np.nan), (30, 1, np.nan)])
    a = analyze(fills, marks, orders_sent=1, bar_ns=10)
    assert a.equity["pnl"].tolist() == pytest.approx([20.0, 20.0, 20.0])
    assert a.summary["unrealized"] == pytest.approx(20.0)
    assert not a.equity.isna().any().any()


def test_drawdown_duration_on_a_constructed_path():
    # long 100 from 10.00 and no fees: PnL = 100 x (mid - 10), capital 1000, one mark per 10 ns bar
    def run(mids):
        marks = marks_frame([(10 * k, 1, m) for k, m in enumerate(mids)])
        return analyze(fills_frame([(0, 1, 1, 10.0, 100, 0.0, 1)]), marks, orders_sent=1, capital=1000.0,
                       bar_ns=10).summary

    # equity 1000 (t 10) 900 950 | 1000 (t 40: back at the peak) 1100 (t 50) 1050 1080 (the end, under water)
    s = run([10.0, 10.0, 9.0, 9.5, 10.0, 11.0, 10.5, 10.8])
    assert s["max_drawdown_duration_ns"] == 30  # t 10 -> 40
    assert s["max_drawdown"] == pytest.approx(-100.0)
    assert s["max_drawdown_frac"] == pytest.approx(-0.1)
    # under water after t 50 until the end at t 90: the unfinished spell is the longest
    s = run([10.0, 10.0, 9.0, 9.5, 10.0, 11.0, 10.5, 10.8, 10.9, 10.95])
    assert s["max_drawdown_duration_ns"] == 40
    assert run([10.0, 10.1, 10.2, 10.3])["max_drawdown_duration_ns"] == 0  # never below a peak


def test_fill_ratio_counts_orders_not_fills():
    fills = fills_frame([(10, 1, 1, 10.0, 100, 0.0, 7), (20, 1, 1, 10.0, 100, 0.0, 7), (30, 1, -1, 10.0, 100, 0.0, 8)])
    marks = marks_frame([(0, 1, 10.0)])
    assert analyze(fills, marks, orders_sent=4).summary["fill_ratio"] == 0.5
    assert math.isnan(analyze(fills, marks, orders_sent=0).summary["fill_ratio"])


def test_no_fills_at_all():
    marks = marks_frame([(0, 1, 10.0), (25_000_000, 2, 20.0), (50_000_000, 1, np.nan)])
    a = analyze(fills_frame([]), marks, orders_sent=0)
    s = a.summary
    assert (s["pnl"], s["fees"], s["fills"], s["max_drawdown"], s["max_drawdown_duration_ns"]) == (0, 0, 0, 0, 0)
    for k in ("sharpe", "sortino", "sharpe_per_bar", "fill_ratio", "hit_rate", "avg_holding_ns"):
        assert math.isnan(s[k]), k
    assert s["bars"] == 5 and (a.returns == 0).all()
    assert a.per_symbol.empty and a.round_trips.empty
    assert list(a.equity.columns) == ["pnl", "equity", "drawdown", "drawdown_frac"]
    json.dumps(s)  # flat and serialisable


def test_a_single_bar():
    fills = fills_frame([(0, 1, 1, 10.0, 100, 0.1, 1)])
    a = analyze(fills, marks_frame([(0, 1, 10.0)]), orders_sent=1)
    s = a.summary
    assert s["bars"] == 1 and len(a.returns) == 1
    assert math.isnan(s["sharpe"]) and math.isnan(s["sortino"])
    assert s["pnl"] == pytest.approx(-0.1) == s["max_drawdown"]


def test_default_annualization():
    s = analyze(fills_frame([]), marks_frame([(0, 1, 10.0)]), orders_sent=0).summary
    assert s["periods_per_year"] == 6.5 * 3600 * 100 * 252  # 10 ms bars in a 6.5 h session, 252 days


# ------------------------------------------------------------ properties
prices = st.integers(900, 1100).map(lambda c: c / 100)
mark_rows = st.lists(st.tuples(st.integers(0, 1000), st.integers(1, 3), st.one_of(prices, st.just(math.nan))),
                     min_size=1, max_size=30)
fill_rows = st.lists(st.tuples(st.integers(0, 1000), st.integers(1, 3), st.sampled_from([-1, 1]), prices,
                               st.integers(1, 300), st.floats(-0.5, 0.5), st.integers(0, 20)), max_size=30)


@settings(max_examples=60, deadline=None)
@given(mark_rows, fill_rows, st.sampled_from([1, 7, 50, 1000]))
def test_pnl_identities(marks, fills, bar_ns):
    a = analyze(fills_frame(sorted(fills)), marks_frame(sorted(marks, key=lambda m: m[0])), orders_sent=25,
                capital=1e5, bar_ns=bar_ns)
    p, s = a.per_symbol, a.summary
    np.testing.assert_allclose(p["realized"] + p["unrealized"] - p["fees"], p["pnl"], atol=1e-6)
    assert s["realized"] + s["unrealized"] - s["fees"] == pytest.approx(s["pnl"], abs=1e-6)
    assert a.equity["pnl"].iloc[-1] == pytest.approx(s["pnl"], abs=1e-6)
    rebuilt = s["capital"] * np.cumprod(1 + a.returns.to_numpy())
    np.testing.assert_allclose(rebuilt, a.equity["equity"].to_numpy(), rtol=1e-12)
    assert (a.equity["drawdown"] <= 0).all()


@settings(max_examples=40, deadline=None)
@given(mark_rows, fill_rows)
def test_fifo_and_average_cost_agree_once_flat(marks, fills):
    # close every position at 10.00 after the last fill: then the FIFO round trips (after fees) add up to
    # realized - fees, whatever the path (the two methods differ in when they realize, not how much)
    net = {}
    for f in fills:
        net[f[1]] = net.get(f[1], 0) + f[2] * f[4]
    closing = [(1001, loc, -np.sign(q), 10.0, abs(q), 0.01, 99) for loc, q in net.items() if q]
    a = analyze(fills_frame(sorted(fills) + closing), marks_frame(marks), orders_sent=25)
    s = a.summary
    assert s["unrealized"] == 0
    assert a.round_trips["pnl"].sum() == pytest.approx(s["realized"] - s["fees"], abs=1e-6)


# ------------------------------------------------------------ report and plots
def test_report_has_the_headline_figures(session):
    a = session[2]
    s = a.summary
    text = report_markdown(a, "Market maker, constant:1000", {"strategy": "mm", "latency": "constant:1000"})
    for fig in (f"{s['pnl']:,.2f}", f"{s['sharpe']:.2f}", f"{s['sharpe_per_bar']:.4f}", f"{s['sortino']:.2f}",
                f"{s['max_drawdown']:,.2f}", f"{s['fills']:,}", "| latency | constant:1000 |", "| AAA |", "| BBB |"):
        assert fig in text, fig
    assert "## How to read this" in text and "not a forecast" in text
    json.dumps(s)  # flat and serialisable


@pytest.mark.parametrize("traded", [True, False])
def test_plot_writes_three_pngs(session, tmp_path, traded):
    fills, marks, a = session
    if not traded:
        fills = fills.iloc[:0]
        a = analyze(fills, marks, orders_sent=0)
    paths = plot(a, fills, marks, tmp_path / "plots", prefix="bt")
    assert [p.name for p in paths] == ["bt_equity.png", "bt_positions.png", "bt_fills.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000
