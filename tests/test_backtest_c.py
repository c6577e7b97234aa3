"""Lab 8: the C backtester loop (cimpl.backtest, cimpl/backtest.c) against
the reference loop (pyimpl.backtest), exactly.

Both loops get the same stream, the same strategy class (a fresh object
each), the same latency spec (hence, through pyimpl's draw_latencies, the
same delays), fees and risk limits; everything a run produces must then be
equal: the fills, marks and orders, the counts, the rejects by reason, the
order manager's and the exchange's counters, reconciliation, the kill
switch, and on a failure the exception, its event index and the partial
result.  The strategies: lab 8's market maker and lab 7's signal strategy
in Python, called back from C per snapshot; lab 7's C strategy (CSignal)
inline in C, held to the Python signal strategy's fills; the market maker's
C twin (CMarketMaker) inline in C, held to the Python market maker's run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cimpl import backtest as cbt
from cimpl import ml_inference as cml
from labs import backtest as lbt
from labs.feed import simulate
from labs.ml_inference import MODEL_FILES, MODELS_DIR
from pyimpl import backtest as pbt
from pyimpl import itch
from pyimpl import ml_inference as pml
from pyimpl import trading_system as ts
from pyimpl.oms import Risk

pytestmark = pytest.mark.cimpl  # C code without the `impl` fixture: `make sanitize` runs these under ASan/UBSan

PERMISSIVE = lbt.PERMISSIVE
COUNTS = ("events", "book_updates", "snapshots", "orders_sent", "cancels_sent", "rejects", "rejects_by_reason",
          "reconciled", "halted", "symbols", "counters", "error")


@pytest.fixture(scope="module")
def stream():
    return simulate(4000, 3)


@pytest.fixture(scope="module")
def model():
    return pml.Model.load(MODELS_DIR / MODEL_FILES["mlp"])


def assert_same(c: pbt.Result, p: pbt.Result) -> None:
    """Everything a run produced, equal (the wall time and the config's strategy name aside)."""
    for name in COUNTS:
        assert getattr(c, name) == getattr(p, name), name
    pd.testing.assert_frame_equal(c.fills_frame(), p.fills_frame())
    pd.testing.assert_frame_equal(c.marks_frame(), p.marks_frame())
    assert c.fills == p.fills and c.marks == p.marks and c.orders == p.orders
    assert {k: v for k, v in c.config.items() if k != "strategy"} == \
        {k: v for k, v in p.config.items() if k != "strategy"}


def both(stream, make, **kw) -> tuple[pbt.Result, pbt.Result]:
    return cbt.run(stream, make(), **kw), pbt.run(stream, make(), **kw)


def lab7_results(path):
    """A tiny lab-7 results.json: the hop records parse_latency's from:PATH reads (pyimpl.backtest.FROM_HOPS)."""
    hops = sorted({h for hs in pbt.FROM_HOPS.values() for h in hs})
    recs = [{"lab": "trading-system", "metric": f"{h}_p50_ns", "impl": "python", "variant": None, "value": 1500.0,
             "percentiles": {"p50": 1500.0, "p90": 4000.0, "p99": 12000.0, "p99.9": 60000.0},
             "min": 400.0, "max": 150000.0} for h in hops]
    path.write_text(json.dumps({"records": recs}))
    return f"from:{path}"


# ------------------------------------------------------------ a Python strategy, called back from C
@pytest.mark.parametrize("latency", ["constant:0", "constant:3000", "constant:1000,20000,5000", "from"])
@pytest.mark.parametrize("risk", [PERMISSIVE, None], ids=["permissive", "lab7-limits"])
def test_the_market_maker_gets_the_same_fills(stream, latency, risk, tmp_path):
    if latency == "from":
        latency = pbt.parse_latency(lab7_results(tmp_path / "results.json"), seed=7)
    c, p = both(stream, ts.MarketMaker, latency=latency, risk=risk)
    assert_same(c, p)
    assert p.orders_sent > 50 and len(p.fills["qty"]) > 5  # the comparison is about something
    if risk is None:
        assert p.rejects > 0  # lab 7's limits throttle a market maker: the reject paths ran


class Recorder(ts.MarketMaker):
    """A market maker that writes down every call it gets: what it is told, and its answers."""

    def __init__(self) -> None:
        super().__init__()
        self.log = []

    def _note(self, name, x, out=()):
        # NaN != NaN: features are compared by their repr (the same bits print the same)
        self.log.append((name, type(x).__name__, repr(tuple(x)), tuple(out)))

    def on_features(self, snap):
        out = super().on_features(snap)
        self._note("on_features", snap, out)
        return out

    def on_execution(self, r):
        self._note("on_execution", r)
        super().on_execution(r)

    def on_reject(self, r):
        self._note("on_reject", r)
        super().on_reject(r)

    def on_cancel(self, r):
        self._note("on_cancel", r)
        super().on_cancel(r)

    def on_accept(self, r):
        self._note("on_accept", r)


def test_the_strategy_is_told_the_same_things_in_the_same_order(stream):
    c, p = Recorder(), Recorder()
    cbt.run(stream, c, latency="constant:1000,20000,5000")  # lab 7's limits: rejects too
    pbt.run(stream, p, latency="constant:1000,20000,5000")
    assert c.log == p.log
    kinds = {e[0] for e in c.log}
    assert kinds == {"on_features", "on_execution", "on_reject", "on_cancel", "on_accept"}
    assert {e[1] for e in c.log} == {"Snapshot", "Report"}  # pyimpl's tuples, nothing else


def test_the_python_signal_strategy_gets_the_same_fills(stream, model):
    params = ts.SignalParams(enter=0.55)
    for risk in (PERMISSIVE, None):
        c, p = both(stream, lambda: ts.SignalStrategy(model, params), latency="constant:2000", risk=risk)
        assert_same(c, p)
        assert p.orders_sent > 10


def test_the_c_strategy_inline_gets_the_python_signal_strategys_fills(stream, model):
    """Lab 7's C strategy inside the C loop, against SignalStrategy in
    pyimpl's loop: the same rules and the same model (its C twin agrees to
    1e-12, far from any threshold here), so the same intents and fills."""
    params = ts.SignalParams(enter=0.55)
    cmodel = cml.Model.from_pymodel(model)
    for latency, risk in (("constant:0", PERMISSIVE), ("constant:1000,20000,5000", None)):
        with cbt.CSignal(cmodel, params) as sig:
            c = cbt.run(stream, sig, latency=latency, risk=risk)
        p = pbt.run(stream, ts.SignalStrategy(model, params), latency=latency, risk=risk)
        assert_same(c, p)
        assert p.orders_sent > 10 and c.config["strategy"] == "CSignal"
    # and the C strategy through pyimpl's loop (its Python interface) is the same run again
    with cbt.CSignal(model, params) as a, cbt.CSignal(model, params) as b:
        assert_same(cbt.run(stream, a, latency="constant:500"), pbt.run(stream, b, latency="constant:500"))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 40), lat=st.lists(st.integers(0, 60_000), min_size=3, max_size=3),
       permissive=st.booleans(), skew=st.integers(0, 3))
def test_any_seed_and_latency_gives_the_same_run(seed, lat, permissive, skew):
    s = simulate(1200, seed)
    make = lambda: ts.MarketMaker(ts.MarketMakerParams(skew_ticks=skew, max_position=200))  # noqa: E731
    assert_same(*both(s, make, latency="constant:{},{},{}".format(*lat), risk=PERMISSIVE if permissive else None))


# ------------------------------------------------------------ the market maker's C twin, inline
@pytest.mark.parametrize("latency", ["constant:0", "constant:3000", "constant:1000,20000,5000"])
@pytest.mark.parametrize("symbols", [None, (1,)], ids=["every-symbol", "locate-1"])
@pytest.mark.parametrize("risk", ["permissive", "signal", "mm"])
def test_the_c_market_maker_inline_gets_the_python_market_makers_run(stream, latency, symbols, risk):
    """CMarketMaker inside the C loop against MarketMaker in pyimpl's loop:
    the same rules, so the same intents on the same calls, and the whole
    Result equal.  max_position 200 (two lots) makes the cap bind and the
    skew move the quotes; lab 7's limits (risk "signal") throttle the market
    maker at once, so the rejects and the cooldown after them run."""
    limits = PERMISSIVE if risk == "permissive" else lbt.risk_limits(risk)
    for skew in (0, 1, 2):
        params = ts.MarketMakerParams(skew_ticks=skew, max_position=200, symbols=symbols)
        with cbt.CMarketMaker(params) as mm:
            c = cbt.run(stream, mm, latency=latency, risk=limits)
            assert mm.fills == len(c.fills["qty"])
        p = pbt.run(stream, ts.MarketMaker(params), latency=latency, risk=limits)
        assert_same(c, p)
        assert c.config["strategy"] == "CMarketMaker"
        assert p.orders_sent > 20 and p.cancels_sent > 10 and len(p.fills["qty"]) > 3  # about something
        if symbols is not None:
            assert set(p.orders["locate"]) == set(symbols) and len(set(p.marks["locate"])) > 1
        if risk == "signal":
            assert p.rejects > 10 and all(r.startswith("RATE") for r in p.rejects_by_reason)  # the cooldown ran
        else:
            assert p.rejects == 0


def test_the_c_market_maker_keeps_the_python_ones_books(stream):
    """Its positions and counts after a run are the Python market maker's;
    and its Python interface, driven by pyimpl's loop, is the same run again."""
    params = ts.MarketMakerParams(max_position=300, skew_ticks=2)
    py = ts.MarketMaker(params)
    p = pbt.run(stream, py, latency="constant:1000,20000,5000")  # lab 7's limits: rejects too
    with cbt.CMarketMaker(params) as a, cbt.CMarketMaker(params) as b:
        assert_same(cbt.run(stream, a, latency="constant:1000,20000,5000"), p)
        assert_same(pbt.run(stream, b, latency="constant:1000,20000,5000"), p)
        for mm in (a, b):
            assert (mm.fills, mm.rejects) == (py.fills, py.rejects) and py.rejects > 0
            assert {loc: mm.position(loc) for loc in p.symbols} == {loc: py.position.get(loc, 0) for loc in p.symbols}
        assert any(py.position.values())


def test_the_c_market_maker_through_the_kill_switch(stream):
    """The kill switch: the HALTED report, then the refusals - new orders
    (LOSS: the side cools down) and cancels of orders the kill switch is
    already cancelling (CANCEL_PENDING: the order still works)."""
    for latency in ("constant:1000", "constant:1000,20000,5000"):
        kw = {"latency": latency, "risk": PERMISSIVE.replace(max_loss=1)}
        params = ts.MarketMakerParams(max_position=200)
        with cbt.CMarketMaker(params) as mm:
            c = cbt.run(stream, mm, **kw)
        p = pbt.run(stream, ts.MarketMaker(params), **kw)
        assert_same(c, p)
        assert c.halted == Risk.LOSS and c.reconciled
        assert p.rejects_by_reason.get("LOSS", 0) > 10 and p.rejects_by_reason.get("CANCEL_PENDING", 0) > 0


def test_the_c_market_maker_quotes_only_its_symbols(stream):
    none = ts.MarketMakerParams(symbols=())
    with cbt.CMarketMaker(none) as mm:
        res = cbt.run(stream, mm, risk=PERMISSIVE)
    assert res.orders_sent == 0 and res.snapshots > 0
    assert_same(res, pbt.run(stream, ts.MarketMaker(none), risk=PERMISSIVE))
    two = ts.MarketMakerParams(symbols=(2, 1, 2, 60000))  # repeats and a locate the stream never uses
    with cbt.CMarketMaker(two) as mm:
        res = cbt.run(stream, mm, risk=PERMISSIVE)
    assert set(res.orders["locate"]) == {1, 2}
    assert_same(res, pbt.run(stream, ts.MarketMaker(two), risk=PERMISSIVE))


def test_the_c_market_maker_one_symbol_stream(stream):
    """The work of the hftbacktest record: one symbol's messages, quoted on that symbol only."""
    loc = lbt.busiest_symbol(stream)
    one = lbt.one_symbol(stream, loc)
    params = ts.MarketMakerParams(symbols=(loc,))
    with cbt.CMarketMaker(params) as mm:
        c = cbt.run(one, mm, latency="constant:10000", risk=PERMISSIVE)
    assert_same(c, pbt.run(one, ts.MarketMaker(params), latency="constant:10000", risk=PERMISSIVE))
    assert c.orders_sent > 10 and set(c.marks["locate"]) == {loc}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 40), lat=st.lists(st.integers(0, 60_000), min_size=3, max_size=3),
       risk=st.sampled_from(["permissive", "signal", "mm"]), skew=st.integers(0, 3),
       max_position=st.sampled_from([0, 100, 200, 500]), cooldown=st.sampled_from([0, 1, 50]))
def test_the_c_market_maker_on_any_seed_and_latency(seed, lat, risk, skew, max_position, cooldown):
    s = simulate(1200, seed)
    params = ts.MarketMakerParams(skew_ticks=skew, max_position=max_position, reject_cooldown=cooldown)
    kw = {"latency": "constant:{},{},{}".format(*lat), "risk": PERMISSIVE if risk == "permissive"
          else lbt.risk_limits(risk)}
    with cbt.CMarketMaker(params) as mm:
        c = cbt.run(s, mm, **kw)
    assert_same(c, pbt.run(s, ts.MarketMaker(params), **kw))


def test_the_labs_c_mm_strategy_is_the_c_market_maker(stream):
    """labs.backtest's "c-mm": CMarketMaker with the market maker's parameters and risk file."""
    assert lbt.STRATEGY_PARAMS["c-mm"] is ts.MarketMakerParams and lbt.RISK_FILES["c-mm"] == lbt.RISK_FILES["mm"]
    mm = lbt.make_strategy("c-mm", {"skew_ticks": 2, "symbols": [1]})
    assert isinstance(mm, cbt.CMarketMaker) and mm.params == ts.MarketMakerParams(skew_ticks=2, symbols=(1,))
    c = lbt.backtest(stream, mm, latency="constant:10000", risk=lbt.risk_limits("c-mm"))
    p = lbt.backtest(stream, lbt.make_strategy("mm", {"skew_ticks": 2, "symbols": [1]}), loop="python",
                     latency="constant:10000", risk=lbt.risk_limits("mm"))
    assert_same(c, p)
    with pytest.raises(ValueError, match="has no parameter"):
        lbt.make_strategy("c-mm", {"enter": 0.6})


def test_the_c_market_makers_bad_arguments():
    with pytest.raises(TypeError, match="MarketMakerParams"):
        cbt.CMarketMaker(ts.SignalParams())
    for bad in ({"qty": 0}, {"qty": 2**32}, {"max_position": -1}, {"skew_ticks": -1}, {"reject_cooldown": 1.5},
                {"symbols": (1, 65536)}, {"symbols": (-1,)}, {"qty": True}):
        with pytest.raises(ValueError, match="C market maker: .* must be an integer in"):
            cbt.CMarketMaker(ts.MarketMakerParams(**bad))
    with pytest.raises(ValueError, match="first_id"):
        cbt.CMarketMaker(ts.MarketMakerParams(), first_id=0)
    mm = cbt.CMarketMaker()
    with pytest.raises(ValueError, match="locate"):
        mm.position(70000)
    mm.close()
    with pytest.raises(ValueError, match="C market maker is closed"):
        cbt.run(simulate(200, 1), mm)
    assert cbt.layout_info(b"sizeof ll_bt_mm_params") == 40


# ------------------------------------------------------------ the kill switch, the feed's faults
def test_the_kill_switch_trips_the_same(stream):
    c, p = both(stream, ts.MarketMaker, latency="constant:1000", risk=PERMISSIVE.replace(max_loss=1))
    assert_same(c, p)
    assert c.halted == Risk.LOSS and c.reconciled


def test_a_truncated_stream(stream):
    cut = stream[:-7]
    with pytest.raises(itch.ItchError) as ce:
        cbt.run(cut, ts.MarketMaker())
    with pytest.raises(itch.ItchError) as pe:
        pbt.run(cut, ts.MarketMaker())
    assert str(ce.value) == str(pe.value) and "offset" in str(ce.value)
    c, p = both(cut, ts.MarketMaker, lenient=True, risk=PERMISSIVE)
    assert_same(c, p)
    assert c.error == p.error and "offset" in c.error


def test_a_message_the_book_refuses(stream):
    frames = list(itch.iter_frames(stream))
    last = int.from_bytes(frames[-1][1][5:11], "big")
    bad = itch.encode(itch.OrderDelete(1, 0, last + 1, 999_999_999))
    off, body = frames[-1]
    s = stream + len(bad).to_bytes(2, "big") + bad + stream[off - 2:off + len(body)]  # and a frame never replayed
    with pytest.raises(ValueError) as ce:
        cbt.run(s, ts.MarketMaker())
    with pytest.raises(ValueError) as pe:
        pbt.run(s, ts.MarketMaker())
    assert type(ce.value) is type(pe.value) and str(ce.value) == str(pe.value)
    assert f"message {len(frames) + 1} of the stream" in str(ce.value)
    c, p = both(s, ts.MarketMaker, lenient=True, risk=PERMISSIVE)
    assert_same(c, p)
    assert c.events == len(frames)


# ------------------------------------------------------------ a strategy that fails
class Boom(ts.MarketMaker):
    """Raises in one of its handlers, at its n-th call there."""

    def __init__(self, where: str, n: int) -> None:
        super().__init__()
        self.where, self.n, self.calls = where, n, 0

    def _maybe(self, name: str) -> None:
        if name == self.where:
            self.calls += 1
            if self.calls == self.n:
                raise ZeroDivisionError(f"my bug in {name}")

    def on_features(self, snap):
        self._maybe("on_features")
        return super().on_features(snap)

    def on_accept(self, r):
        self._maybe("on_accept")

    def on_reject(self, r):
        if r.kind == ts.REPORT_HALTED:
            self._maybe("halted")
        super().on_reject(r)


class BadIntent(ts.MarketMaker):
    """At its n-th answer of two intents or more, the second is an order that cannot be sent (a price below 0)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def on_features(self, snap):
        out = super().on_features(snap)
        if len(out) >= 2:
            self.n -= 1
            if self.n == 0:
                out[1] = ts.Intent(ts.INTENT_NEW, ts.BUY, snap.locate, 1_000_000, -1, 100)
        return out


@pytest.mark.parametrize("make", [lambda: Boom("on_features", 1234), lambda: Boom("on_accept", 40),
                                  lambda: BadIntent(30)], ids=["on_features", "on_accept", "bad-intent"])
def test_a_strategy_that_raises_stops_both_loops_at_the_same_event(stream, make):
    with pytest.raises(pbt.BacktestError) as ce:
        cbt.run(stream, make(), latency="constant:2000", risk=PERMISSIVE)
    with pytest.raises(pbt.BacktestError) as pe:
        pbt.run(stream, make(), latency="constant:2000", risk=PERMISSIVE)
    assert str(ce.value) == str(pe.value) and ce.value.event == pe.value.event
    assert type(ce.value.__cause__) is type(pe.value.__cause__)
    assert_same(ce.value.partial, pe.value.partial)


def test_a_strategy_that_raises_on_the_kill_switchs_report(stream):
    """pyimpl hands the HALTED report over before it sends the kill switch's
    cancels; C sends them first but counts them only once the report is
    handed over: the partial results agree."""
    kw = {"latency": "constant:1000", "risk": PERMISSIVE.replace(max_loss=1)}
    with pytest.raises(pbt.BacktestError) as ce:
        cbt.run(stream, Boom("halted", 1), **kw)
    with pytest.raises(pbt.BacktestError) as pe:
        pbt.run(stream, Boom("halted", 1), **kw)
    assert ce.value.event == pe.value.event
    assert_same(ce.value.partial, pe.value.partial)


def test_a_strategy_without_on_features_fails_at_its_first_snapshot(stream):
    class Deaf:
        def on_execution(self, r):
            pass

        on_reject = on_execution

    for loop in (cbt, pbt):
        with pytest.raises(pbt.BacktestError, match="AttributeError") as e:
            loop.run(stream, Deaf())
        assert e.value.partial.snapshots == 1


# ------------------------------------------------------------ progress, bad arguments
def test_progress_is_called_at_the_same_points():
    class Quiet:
        def on_features(self, snap):
            return []

        def on_execution(self, r):
            pass

        on_reject = on_execution

    s = simulate(66_000, 1)
    seen = {"c": [], "py": []}
    cbt.run(s, Quiet(), progress=seen["c"].append)
    with cbt.CSignal(pml.Model.load(MODELS_DIR / MODEL_FILES["mlp"])) as sig:
        cbt.run(s, sig, progress=seen.setdefault("c-inline", []).append)
    pbt.run(s, Quiet(), progress=seen["py"].append)
    assert seen["c"] == seen["py"] == seen["c-inline"] == [65536]


def test_bad_arguments_are_clear_exceptions(stream):
    mm = ts.MarketMaker
    for loop in (cbt, pbt):
        with pytest.raises(ValueError, match="bad latency spec"):
            loop.run(stream, mm(), latency="fast")
        with pytest.raises(ValueError, match="limits must be a RiskLimits"):
            loop.run(stream, mm(), risk="strict")
        with pytest.raises(ValueError, match="max_orders must be in"):
            loop.run(stream, mm(), max_orders=-3)
        with pytest.raises(AttributeError):
            loop.run(stream, object())
    with pytest.raises(TypeError, match="fees"):
        cbt.run(stream, mm(), fees=0.1)
    with pytest.raises(TypeError, match="latency"):
        cbt.run(stream, mm(), latency=5)
    # a delay C cannot take (a negative one: a quantile table that goes below 0 would look ahead)
    neg = pbt.Latency(pbt.Leg(0), pbt.Leg(quantiles=[[(0.0, -50.0), (1.0, -10.0)]]), pbt.Leg(0), spec="negative")
    with pytest.raises(ValueError, match="every delay must be an integer in 0"):
        cbt.run(stream, mm(), latency=neg)
    # the C strategy's own arguments
    with pytest.raises(TypeError, match="ml_inference.Model"):
        cbt.CSignal("mlp")
    with pytest.raises(ValueError, match="parameters out of range"):
        cbt.CSignal(pml.Model.load(MODELS_DIR / MODEL_FILES["mlp"]), ts.SignalParams(enter=0.3))
    # more intents for one snapshot than the C loop's slots
    class Flood(ts.MarketMaker):
        def on_features(self, snap):
            return [ts.Intent(ts.INTENT_CANCEL, cl_ord_id=i) for i in range(cbt.MAX_INTENTS + 1)]

    with pytest.raises(pbt.BacktestError, match="more than 256 intents"):
        cbt.run(stream, Flood())


def test_a_stream_that_is_not_bytes_and_an_empty_one(stream):
    c, p = cbt.run(bytearray(stream), ts.MarketMaker()), pbt.run(stream, ts.MarketMaker())
    assert_same(c, p)
    c, p = both(b"", ts.MarketMaker)
    assert_same(c, p)
    assert c.events == 0 and c.reconciled


def test_the_records_survive_flushes():
    """More book updates than one C record buffer holds (65536): the marks come back whole, in order."""
    s = simulate(70_000, 2)
    with cbt.CSignal(pml.Model.load(MODELS_DIR / MODEL_FILES["mlp"])) as sig:
        res = cbt.run(s, sig)
    ts_ns = np.asarray(res.marks["ts_ns"])
    assert len(ts_ns) == res.book_updates > 65536 and (np.diff(ts_ns) >= 0).all()
