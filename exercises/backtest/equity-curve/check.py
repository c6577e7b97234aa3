"""The check of exercises/backtest/equity-curve (see README.md)."""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from labs.exercises import ROOT, Attempt, CheckFailed, Exercise, Verdict, compare_speed, speed_verdict

# Calibration on the 2-core development VM, under flock /tmp/latencylab-cpu.lock, at BAR_NS: 18 runs of this check's
# compare_speed (5 interleaved pairs each) in one process gave medians of 6.18-7.77x (single pairs 5.38-10.29x; the
# solution ~2.7 ms, the baseline ~20 ms); `latencylab check backtest --solution` (a fresh process each) 8.28-9.24x
# in 3 runs.  NEED is about half the worst median.  The same loop over tolist() lists (the reference below): 1.3-1.7x.
NEED = 3.0
MESSAGES, SEED = 20_000, 3  # lab 5's feed; the market maker on it, 5 us each way
LATENCY = "constant:5000"
BAR_NS = 100_000  # the timed bars: 100 us of event time (~2,600 bars over the ~258 ms the stream covers)
CHECKED_BARS = (BAR_NS, 1_000_000, 10_000_000)  # every value is checked at these bar sizes
REPEATS = 5
# The tolerance: 1e-9 of the money at stake at that bar end (1 + |cash| + the positions' gross value + |fees|).
# cash + value - fees cancels numbers of ~$1e4-1e5 down to a PnL of a few $, so summing in another order (all
# symbols' values first, cash and fees in one cumsum, the symbols in another order) moves the last bits of the big
# numbers: measured, at most 1.5e-10 $ on this data, ~2e-15 of that scale.  Look-ahead or a dropped mid is off by
# $0.5 to $8,000.
TOLERANCE = 1e-9
NAMES = ("fills_ts", "fills_locate", "fills_signed_qty", "fills_price", "fills_fee", "marks_ts", "marks_locate",
         "marks_mid")


# ------------------------------------------------------------ the data: a real backtest, cached by content
def backtest_arrays() -> dict[str, np.ndarray]:
    """The fills and marks of `pyimpl.backtest.run(simulate(20000, 3), MarketMaker(), latency="constant:5000")`
    with every risk limit off, as the arrays `equity` takes.  The backtest takes about a second, so the arrays
    are kept in the temporary folder under a name made of the sources that produce them (pyimpl/, labs/feed.py):
    a changed backtester makes new ones."""
    digest = hashlib.sha256(f"{MESSAGES} {SEED} {LATENCY}".encode())
    for src in sorted((ROOT / "pyimpl").glob("*.py")) + [ROOT / "labs" / "feed.py"]:
        digest.update(src.name.encode() + src.read_bytes())
    folder = Path(tempfile.gettempdir()) / f"latencylab-check-{os.getuid()}"  # beside the checks' compiled C
    cache = folder / f"backtest-equity-{digest.hexdigest()[:16]}.npz"
    if cache.exists():
        try:
            with np.load(cache) as z:
                return {k: z[k] for k in NAMES}
        except Exception:  # noqa: BLE001 - a damaged cache is rebuilt
            pass
    from labs.feed import simulate
    from pyimpl import backtest as pbt
    from pyimpl import oms
    from pyimpl import trading_system as ts

    permissive = oms.RiskLimits(max_order_qty=0, max_order_notional=0, collar_ticks=0, max_long=0, max_short=0,
                                max_gross_notional=0, max_open_orders=0, rate_orders_symbol=0, rate_orders_total=0,
                                max_loss=0, self_match=False)
    res = pbt.run(simulate(MESSAGES, SEED), ts.MarketMaker(), latency=LATENCY, risk=permissive)
    f, m = res.fills_frame(), res.marks_frame()
    arrays = {"fills_ts": f["ts_ns"].to_numpy(np.int64), "fills_locate": f["locate"].to_numpy(np.int64),
              "fills_signed_qty": (f["side"] * f["qty"]).to_numpy(np.int64),
              "fills_price": f["price"].to_numpy(np.float64), "fills_fee": f["fee"].to_numpy(np.float64),
              "marks_ts": m["ts_ns"].to_numpy(np.int64), "marks_locate": m["locate"].to_numpy(np.int64),
              "marks_mid": m["mid"].to_numpy(np.float64)}
    folder.mkdir(exist_ok=True)
    tmp = cache.with_name(cache.name + f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(cache)
    return arrays


# ------------------------------------------------------------ the rule, written plainly
def bar_ends(marks_ts: np.ndarray, bar_ns: int) -> np.ndarray:
    """first mark + k x bar_ns, k = 1..n: the last at or after the last mark (at least one bar)."""
    start, end = int(marks_ts[0]), int(marks_ts[-1])
    n = max(1, -(-(end - start) // bar_ns))
    return start + bar_ns * np.arange(1, n + 1, dtype=np.int64)


def reference(fills_ts, fills_locate, fills_signed_qty, fills_price, fills_fee, marks_ts, marks_locate, marks_mid,
              bar_ns) -> tuple[np.ndarray, np.ndarray]:
    """The rule (README.md): the PnL at each bar end, and the money at stake there (the tolerance's scale).
    One pass through both streams in time order, one bar end at a time."""
    fills = list(zip(fills_ts.tolist(), fills_locate.tolist(), fills_signed_qty.tolist(), fills_price.tolist(),
                     fills_fee.tolist()))
    marks = list(zip(marks_ts.tolist(), marks_locate.tolist(), marks_mid.tolist()))
    traded = sorted(set(fills_locate.tolist()))
    position = dict.fromkeys(traded, 0)
    mid: dict[int, float] = {}  # the last valid mid of each symbol so far
    last_price: dict[int, float] = {}  # our last fill price of each symbol so far
    cash = fees = 0.0
    pnl, scale = [], []
    i = j = 0
    for end in bar_ends(marks_ts, bar_ns).tolist():
        while i < len(fills) and fills[i][0] <= end:  # everything at or before the bar end counts
            _, loc, q, price, fee = fills[i]
            position[loc] += q
            cash -= q * price
            fees += fee
            last_price[loc] = price
            i += 1
        while j < len(marks) and marks[j][0] <= end:
            _, loc, m = marks[j]
            if not math.isnan(m):  # a NaN mid (a side empty) leaves the last valid one in place
                mid[loc] = m
            j += 1
        value = gross = 0.0
        for loc in traded:
            if position[loc]:  # flat is worth 0, priced or not
                v = position[loc] * mid.get(loc, last_price[loc])  # no valid mid yet: our last fill price
                value += v
                gross += abs(v)
        pnl.append(cash + value - fees)
        scale.append(1.0 + abs(cash) + gross + abs(fees))
    return np.array(pnl), np.array(scale)


# ------------------------------------------------------------ hand-picked cases
T0 = 34_200_000_000_000  # 09:30:00


def _case(fills, marks):
    """(ts offset, locate, signed qty, price, fee) fills and (ts offset, locate, mid) marks, as the arrays."""
    f = np.array(fills, dtype=np.float64).reshape(-1, 5)
    m = np.array(marks, dtype=np.float64).reshape(-1, 3)
    return {"fills_ts": T0 + f[:, 0].astype(np.int64), "fills_locate": f[:, 1].astype(np.int64),
            "fills_signed_qty": f[:, 2].astype(np.int64), "fills_price": f[:, 3], "fills_fee": f[:, 4],
            "marks_ts": T0 + m[:, 0].astype(np.int64), "marks_locate": m[:, 1].astype(np.int64), "marks_mid": m[:, 2]}


NAN = math.nan
# (name, fills, marks, bar_ns): bars of 100 ns from the first mark at T0
CASES = [
    ("a long position, marked at the last mid at or before each bar end", [(10, 1, 100, 10.00, 0.0)],
     [(0, 1, 10.00), (40, 1, 10.05), (100, 1, 10.10), (170, 1, 10.20), (200, 1, 10.15)], 100),
    ("a mid 1 ns after a bar end does not count at that end (no look-ahead)", [(10, 1, 100, 10.00, 0.0)],
     [(0, 1, 10.00), (101, 1, 11.00), (200, 1, 11.00)], 100),
    ("a fill exactly at a bar end counts at that end", [(100, 1, -200, 20.00, -0.40)],
     [(0, 1, 20.00), (300, 1, 19.90)], 100),
    ("a NaN mid (one side of the book empty) carries the last valid one", [(10, 1, 100, 10.00, 0.0)],
     [(0, 1, 10.00), (50, 1, NAN), (150, 1, NAN), (250, 1, 10.30), (300, 1, NAN)], 100),
    ("a position before its symbol's first valid mid is valued at our fill price", [(10, 2, 300, 5.00, 0.9)],
     [(0, 1, 50.00), (20, 2, NAN), (150, 2, 5.05), (250, 1, 50.00)], 100),
    ("a symbol that is flat again counts 0, quoted or not", [(10, 3, 100, 7.00, 0.0), (60, 3, -100, 7.10, 0.0)],
     [(0, 1, 50.00), (250, 1, 50.00)], 100),
    ("several symbols, fees, and a mark at the bar end",
     [(5, 1, 100, 10.00, -0.20), (5, 2, -100, 20.00, -0.20), (120, 1, -300, 10.05, 0.90), (199, 2, 100, 19.95, 0.30)],
     [(0, 1, 10.00), (0, 2, 20.00), (60, 2, NAN), (100, 1, 10.02), (200, 2, 19.96), (201, 1, 9.00), (260, 1, 10.04)],
     100),
]


# ------------------------------------------------------------ judging
def _call(fn, arrays: dict, bar_ns: int, what: str):
    given = {k: v.copy() for k, v in arrays.items()}
    try:
        with np.errstate(all="ignore"):  # a NaN PnL is reported as a wrong value, not as a warning
            got = fn(*(given[k] for k in NAMES), bar_ns)
    except Exception as e:  # noqa: BLE001 - the learner's code raising is their failure, said plainly
        raise CheckFailed(f"{what}: equity raised {type(e).__name__}: {e}") from None
    for k in NAMES:
        if not np.array_equal(given[k], arrays[k], equal_nan=True):
            raise CheckFailed(f"{what}: equity changed its input {k} in place (the caller's array): work on a copy")
    return got


def _mid(x: float) -> str:
    return "NaN" if math.isnan(x) else f"${x:,.4f}"


def _what_happened(arrays: dict, end: int) -> str:
    """The symbols held at a bar end, in words: what the bar's value is made of."""
    out = []
    for loc in sorted(set(arrays["fills_locate"].tolist())):
        f = arrays["fills_locate"] == loc
        pos = int(arrays["fills_signed_qty"][f][arrays["fills_ts"][f] <= end].sum())
        if not pos:
            continue
        m = arrays["marks_locate"] == loc
        ts, mid = arrays["marks_ts"][m], arrays["marks_mid"][m]
        before, after = ts <= end, ts > end
        valid = before & ~np.isnan(mid)
        words = f"symbol {loc}: position {pos}, last valid mid "
        words += f"{_mid(mid[valid][-1])} (end - {end - int(ts[valid][-1]):,} ns)" if valid.any() else "none yet"
        if before.any() and math.isnan(mid[before][-1]):
            words += f", last mark NaN (end - {end - int(ts[before][-1]):,} ns)"
        if after.any():
            words += f", next mark {_mid(mid[after][0])} (end + {int(ts[after][0]) - end:,} ns)"
            later = after & ~np.isnan(mid)
            if math.isnan(mid[after][0]) and later.any():
                words += f", next valid mid {_mid(mid[later][0])} (end + {int(ts[later][0]) - end:,} ns)"
        out.append(words)
    return "; ".join(out) or "every symbol flat"


def _money(x: float) -> str:
    return "NaN" if math.isnan(x) else f"{'-' if x < 0 else ''}${abs(x):,.6f}"


def _compare(got, arrays: dict, bar_ns: int, what: str) -> str | None:
    want, scale = reference(*(arrays[k] for k in NAMES), bar_ns)
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return f"{what}: equity returned {type(got).__name__}, not an array of PnL values"
    if got.shape != want.shape:
        return (f"{what}: equity returned shape {got.shape}, the rule has {len(want):,} bars of {bar_ns:,} ns "
                f"(shape {want.shape}): the first ends one bar after the first mark, the last at or after the last")
    off = ~(np.abs(got - want) <= TOLERANCE * scale)  # NaN is off
    if not off.any():
        return None
    k, n_off = int(np.argmax(off)), int(off.sum())
    ends = bar_ends(arrays["marks_ts"], bar_ns)
    end = int(ends[k])
    return (f"{what}: bar {k + 1:,} of {len(want):,} (ends at first mark + {end - int(arrays['marks_ts'][0]):,} ns): "
            f"yours {_money(got[k])}, the rule's {_money(want[k])} ({n_off:,} bar{'s' if n_off > 1 else ''} off; "
            f"at that bar end {_what_happened(arrays, end)})")


def _timer(fn, arrays: dict, bar_ns: int):
    args = [arrays[k] for k in NAMES]

    def run() -> float:
        t0 = time.perf_counter_ns()
        fn(*args, bar_ns)
        return (time.perf_counter_ns() - t0) / 1e6

    return run


def check(attempt: Attempt) -> Verdict:
    fn = getattr(attempt.load_py("equity.py"), "equity", None)
    if not callable(fn):
        return Verdict(False, "equity.py must define the function equity(fills_ts, fills_locate, fills_signed_qty, "
                              "fills_price, fills_fee, marks_ts, marks_locate, marks_mid, bar_ns)")
    # 1. the hand-picked cases, each a clause of the rule
    for name, fills, marks, bar_ns in CASES:
        arrays, what = _case(fills, marks), f"case '{name}'"
        bad = _compare(_call(fn, arrays, bar_ns, what), arrays, bar_ns, what)
        if bad:
            return Verdict(False, bad)
    # 2. a real backtest's fills and marks, every bar, at three bar sizes
    data = backtest_arrays()
    if len(data["fills_ts"]) < 50:
        raise CheckFailed(f"internal: the backtest made {len(data['fills_ts'])} fills (expected ~180)")
    for bar_ns in CHECKED_BARS:
        what = (f"the backtest ({len(data['fills_ts']):,} fills, {len(data['marks_ts']):,} marks), "
                f"{bar_ns / 1e3:g} us bars")
        bad = _compare(_call(fn, data, bar_ns, what), data, bar_ns, what)
        if bad:
            return Verdict(False, bad)
    # 3. speed at BAR_NS, against the starting version, in this run
    base = Attempt(attempt.exercise, attempt.exercise.folder / "baseline").load_py("equity.py").equity
    run_mine, run_base = _timer(fn, data, BAR_NS), _timer(base, data, BAR_NS)
    run_mine(), run_base()  # warm up
    cmp = compare_speed(run_mine, run_base, repeats=REPEATS)
    n_bars = len(bar_ends(data["marks_ts"], BAR_NS))
    return speed_verdict(f"{len(CASES)} hand-picked cases and a backtest's {len(data['fills_ts']):,} fills and "
                         f"{len(data['marks_ts']):,} marks at {', '.join(f'{b / 1e3:g}' for b in CHECKED_BARS)} us "
                         f"bars, every bar within {TOLERANCE:g} of the money at stake; ms per curve of {n_bars:,} "
                         f"bars", cmp, NEED, unit="ms")


EXERCISE = Exercise(
    lab="backtest",
    id="equity-curve",
    title="The equity curve of a backtest, vectorized (and without look-ahead)",
    kind="speed",
    files=("equity.py",),
    check=check,
    guide="labs/08-backtest/README.md#exercises",
    start_fails_because=f"needs {NEED:.2f}x",
)
