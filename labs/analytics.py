"""Lab 8, backtest: the performance analytics (the "risk analyzer") of a backtest.

`analyze(fills, marks, orders_sent=...)` turns the backtester's two tables
(pyimpl/backtest.py's `Result.fills_frame()` and `Result.marks_frame()`) into
an `Analytics`: a flat summary, a per-symbol table, the equity curve, the
per-bar returns and the FIFO round trips.  `report_markdown` writes it up,
`plot` draws it.

- fills: one row per execution of our orders: ts_ns (exchange time), locate,
  side (+1 buy, -1 sell), price ($), qty (shares, > 0), fee ($, positive =
  paid, negative = a rebate), cl_ord_id; `symbol` is used for names if present.
- marks: one row per update of the exchange's true book: ts_ns, locate, mid
  ($, NaN unless both sides are quoted).

Definitions, and the trap each one avoids
-----------------------------------------
Marks.  At time t a symbol is worth its last valid mid at or before t
    (`merge_asof`, backward).  A NaN mid (one side of the book empty) is
    skipped, so the last valid one carries.  Traps: marking at our own fill
    prices flatters a market maker (its fills are at its own quotes, so the
    adverse move after a fill never shows); a NaN mid would poison the whole
    equity curve with NaN; a forward or nearest match would be look-ahead.
    (A position opened before its symbol ever had a two-sided quote is marked
    at our last fill price, the only price there is.)
PnL.  pnl = cash + sum(position x mark) - fees, where a buy pays price x qty
    in cash.  It needs no cost accounting at all, which is why it is the
    check on the split below.
Realized / unrealized, by average cost.  A fill that adds to a position
    moves its average cost to the share-weighted mean; one that reduces it
    realizes (price - avg_cost) x shares closed (the sign flipped for a
    short); one that flips it closes the old position and opens the rest at
    its own price.  unrealized = position x (mark - avg_cost).  So
    realized + unrealized - fees == pnl, per symbol and in total (tested).
    Realized is before fees; fees are their own line.  Trap: "realized =
    cash flow" counts the cost of a position still held as a loss.
    The average cost is a recurrence (each fill's depends on the one before:
    no stable vectorized form), so it is one pass over the fills, like the
    FIFO matcher below; everything per bar is vectorized.
Bars.  Fixed event-time bars of bar_ns from the first event (mark or fill)
    to the last: bar k ends at start + k x bar_ns, and the equity curve is the
    state at each bar end (everything with ts_ns <= that end counts).  Traps:
    sampling equity at each fill makes periods of random length (and none
    while we are idle), so a standard deviation of them means nothing; wall
    time would make the figures depend on how fast the machine replays.
Returns.  r_t = equity_t / equity_{t-1} - 1, the first against the starting
    capital, so capital x prod(1 + r) is the equity curve exactly: the
    convention quantstats and empyrical assume of a return series.
Sharpe.  mean(r) / std(r, ddof=1) x sqrt(periods_per_year), risk-free 0
    (the sample standard deviation, as both libraries use).
    `sharpe_per_bar` is the same without the sqrt.  Fewer than two bars, or
    returns all equal, give NaN, not inf: the float mean of equal values can
    differ from them in the last bit, and dividing by that 1e-18 residue would
    print a Sharpe of 1e15 (empyrical's _zero_dispersion_std makes the same
    point).
Sortino.  mean(r) / DD x sqrt(periods_per_year) with the target downside
    deviation DD = sqrt(mean(min(r, 0)^2)) over ALL bars (a bar with a gain
    counts as a 0), target 0.  That is exactly empyrical's `sortino_ratio`
    (required_return=0; its `downside_risk`) and quantstats'
    `stats.sortino` (sqrt(sum(r[r < 0]^2) / count)): the two agree, and the
    tests check both.  Trap: the standard deviation of the losing bars alone
    divides by the wrong count and measures spread around their mean instead
    of the shortfall below the target (the Red Rock Capital note quantstats
    cites).  No losing bar gives NaN (quantstats' choice; empyrical says inf).
Annualization.  periods_per_year defaults to the bars in a 6.5-hour session
    x 252 days: 589,680,000 for 10 ms bars.  Annualizing millisecond bars of a
    2-second simulated session is a convention that makes figures comparable
    with each other, not a forecast of a year: it assumes the next 252 x 6.5
    hours look like these 2 seconds.  The per-bar Sharpe is in the summary
    for that reason.
Drawdown.  drawdown = equity - running peak ($, <= 0), drawdown_frac =
    equity / peak - 1; the starting capital counts as the first peak (as in
    both libraries), else a loss in the first bar would not be a drawdown.
Drawdown duration.  The longest time below a previous peak, in event-time ns
    at bar resolution: from the bar end at the peak to the first bar end back
    at or above it, or to the last bar end if equity never got back.  Event
    time is the exchange's clock in the data, not the seconds the backtest
    took to run.
Turnover.  Traded notional (sum of price x qty, buys and sells) / capital.
Fill ratio.  Orders with at least one fill / orders sent: an order filled in
    three pieces counts once (counting fills can give a "ratio" above 1).
Round trips, hit rate, holding time.  FIFO lots: each fill first closes the
    oldest open lots of the other side, and any rest opens a lot.  A round
    trip is one matched piece (locate, side of the lot, qty, open/close time
    and price); its pnl is after both legs' fees, pro rata per share.
    hit_rate = round trips with pnl > 0 / round trips; avg_holding_ns is
    their mean holding time weighted by shares.  Trap: a per-fill hit rate
    counts opening fills, which realize nothing, as misses; average cost has
    no notion of when a share was bought, FIFO does.  (Once every position is
    flat the round trips' pnl adds up to realized - fees: the two methods
    differ in when they realize, not in how much.)
"""

from __future__ import annotations

import math
import pathlib
from collections import defaultdict, deque
from dataclasses import dataclass

import numpy as np
import pandas as pd

SESSION_NS = 23_400_000_000_000  # 6.5 hours, a regular US equity session (09:30-16:00)
TRADING_DAYS = 252

PER_SYMBOL_COLUMNS = ["symbol", "position", "realized", "unrealized", "pnl", "fees", "fills", "shares",
                      "turnover", "notional", "avg_cost", "mark", "max_abs_position"]
ROUND_TRIP_COLUMNS = ["locate", "side", "qty", "open_ns", "close_ns", "open_price", "close_price", "pnl"]


@dataclass
class Analytics:
    summary: dict[str, float]  # flat, JSON-serialisable floats and ints (NaN where undefined)
    per_symbol: pd.DataFrame  # index locate; PER_SYMBOL_COLUMNS
    equity: pd.DataFrame  # index bar end ts_ns: pnl, equity, drawdown, drawdown_frac, position_<ticker>
    returns: pd.Series  # per bar: equity_t / equity_{t-1} - 1
    round_trips: pd.DataFrame  # FIFO matched pieces: ROUND_TRIP_COLUMNS


def analyze(fills: pd.DataFrame, marks: pd.DataFrame, *, orders_sent: int, capital: float = 1_000_000.0,
            bar_ns: int = 10_000_000, periods_per_year: float | None = None,
            symbols: dict[int, str] | None = None) -> Analytics:
    """The analytics of one backtest (the definitions are in the module docstring)."""
    if len(marks) == 0:
        raise ValueError("no marks: there is no price to value anything at")
    if bar_ns <= 0 or capital <= 0:
        raise ValueError(f"bar_ns and capital must be positive, got {bar_ns}, {capital}")
    if periods_per_year is None:
        periods_per_year = SESSION_NS / bar_ns * TRADING_DAYS

    f = _ledger(fills)
    # the valid mids in time order: dropping the NaN ones is what carries the last valid mid
    mids = marks.loc[marks["mid"].notna(), ["ts_ns", "locate", "mid"]].sort_values("ts_ns", kind="stable")
    names = _names(f, symbols)
    per_symbol = _per_symbol(f, mids, names, capital)
    bar_ends = _bar_ends(f["ts_ns"], marks["ts_ns"], bar_ns)
    equity = _equity(f, mids, bar_ends, capital, names)
    returns = (equity["equity"] / equity["equity"].shift(1, fill_value=capital) - 1).rename("return")
    round_trips = _fifo_round_trips(f)

    r = returns.to_numpy()
    start = np.concatenate([[bar_ends[0] - bar_ns], bar_ends])  # the start, then each bar end
    rt_shares = round_trips["qty"].sum()
    summary = {
        "pnl": float(per_symbol["pnl"].sum()),
        "realized": float(per_symbol["realized"].sum()),
        "unrealized": float(per_symbol["unrealized"].sum()),
        "fees": float(per_symbol["fees"].sum()),
        "return_total": float(per_symbol["pnl"].sum() / capital),
        "sharpe": _sharpe(r) * math.sqrt(periods_per_year),
        "sortino": _sortino(r) * math.sqrt(periods_per_year),
        "sharpe_per_bar": _sharpe(r),
        "max_drawdown": float(equity["drawdown"].min()),
        "max_drawdown_frac": float(equity["drawdown_frac"].min()),
        "max_drawdown_duration_ns": _longest_drawdown_ns(start, np.concatenate([[0.0], equity["pnl"]])),
        "turnover": float(per_symbol["notional"].sum() / capital),
        "fill_ratio": f["cl_ord_id"].nunique() / orders_sent if orders_sent > 0 else math.nan,
        "hit_rate": float((round_trips["pnl"] > 0).mean()) if len(round_trips) else math.nan,
        "avg_holding_ns": (float((round_trips["qty"] * (round_trips["close_ns"] - round_trips["open_ns"])).sum()
                                 / rt_shares) if rt_shares else math.nan),
        "fills": len(f),
        "shares_traded": int(f["qty"].sum()),
        "max_abs_position": int(per_symbol["max_abs_position"].max()) if len(per_symbol) else 0,
        "round_trips": len(round_trips),
        "orders_sent": int(orders_sent),
        "orders_filled": int(f["cl_ord_id"].nunique()),
        "symbols_traded": len(per_symbol),
        "bars": len(bar_ends),
        "capital": float(capital),
        "bar_ns": int(bar_ns),
        "periods_per_year": float(periods_per_year),
    }
    return Analytics(summary, per_symbol, equity, returns, round_trips)


# ------------------------------------------------------------ the fills, booked
def _ledger(fills: pd.DataFrame) -> pd.DataFrame:
    """The fills in time order, each with its effect: `dq` signed shares,
    `cash` the cash flow (a buy pays price x qty), and per symbol the running
    position, cash, fees and average-cost realized PnL after it."""
    f = fills.sort_values("ts_ns", kind="stable").reset_index(drop=True)
    f["dq"] = f["side"].astype(np.int64) * f["qty"].astype(np.int64)
    f["cash"] = -f["dq"] * f["price"]
    f["realized"], f["avg_cost"] = _average_cost(f["locate"], f["dq"], f["price"])
    g = f.groupby("locate", sort=False)
    f["position"] = g["dq"].cumsum()
    f["cash_cum"] = g["cash"].cumsum()
    f["fees_cum"] = g["fee"].cumsum()
    f["realized_cum"] = g["realized"].cumsum()
    return f


def _average_cost(locate: pd.Series, dq: pd.Series, price: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Average-cost bookkeeping: each fill's realized PnL, and the average
    cost of the position left after it (0 when flat).  One pass in time order;
    plain Python ints and floats (`tolist`) keep the loop cheap."""
    realized = np.zeros(len(dq))
    avg_after = np.zeros(len(dq))
    position: dict[int, int] = defaultdict(int)
    avg: dict[int, float] = defaultdict(float)
    for i, (loc, q, p) in enumerate(zip(locate.tolist(), dq.tolist(), price.tolist())):
        x, a = position[loc], avg[loc]
        new = x + q
        if x * q < 0:  # against the position: closes min(|q|, |x|) shares bought (or sold short) at a
            realized[i] = math.copysign(min(abs(q), abs(x)), x) * (p - a)
        if new == 0:
            a = 0.0
        elif x * new <= 0:  # opened from flat, or flipped: what is left was opened at p
            a = p
        elif abs(new) > abs(x):  # added to: the share-weighted mean
            a = (abs(x) * a + abs(q) * p) / abs(new)
        # (reduced without flipping: the shares left keep their cost)
        position[loc], avg[loc] = new, a
        avg_after[i] = a
    return realized, avg_after


def _fifo_round_trips(f: pd.DataFrame) -> pd.DataFrame:
    """FIFO lot matching: a fill closes the oldest open lots of the other
    side first; what is left of it opens a lot.  Each matched piece is a round
    trip, its pnl after both legs' fees pro rata per share."""
    lots: dict[int, deque] = defaultdict(deque)  # locate -> [open_ns, signed shares left, price, fee per share]
    rows = []
    for t, loc, q, p, fee, qty in zip(f["ts_ns"].tolist(), f["locate"].tolist(), f["dq"].tolist(),
                                      f["price"].tolist(), f["fee"].tolist(), f["qty"].tolist()):
        fps = fee / qty
        book = lots[loc]
        while q and book and book[0][1] * q < 0:  # the oldest lot is on the other side
            lot = book[0]
            side = 1 if lot[1] > 0 else -1
            n = min(abs(q), abs(lot[1]))
            rows.append((loc, side, n, lot[0], t, lot[2], p, n * (side * (p - lot[2]) - lot[3] - fps)))
            lot[1] -= side * n
            q += side * n
            if lot[1] == 0:
                book.popleft()
        if q:
            book.append([t, q, p, fps])
    return pd.DataFrame(rows, columns=ROUND_TRIP_COLUMNS).astype(
        {"locate": np.int64, "side": np.int64, "qty": np.int64, "open_ns": np.int64, "close_ns": np.int64,
         "open_price": np.float64, "close_price": np.float64, "pnl": np.float64})


def _names(f: pd.DataFrame, symbols: dict[int, str] | None) -> dict[int, str]:
    """Ticker of each traded locate: from `symbols`, else the fills' own column, else the locate."""
    from_fills = dict(zip(f["locate"].tolist(), f["symbol"].tolist())) if "symbol" in f else {}
    return {loc: (symbols or {}).get(loc) or from_fills.get(loc) or str(loc)
            for loc in sorted(set(f["locate"].tolist()))}


# ------------------------------------------------------------ per symbol, per bar
def _per_symbol(f: pd.DataFrame, mids: pd.DataFrame, names: dict[int, str], capital: float) -> pd.DataFrame:
    """The final state of each traded symbol, valued at its last valid mid."""
    g = f.groupby("locate")
    last = g.last()
    mark = mids.groupby("locate")["mid"].last().reindex(last.index).fillna(last["price"])
    notional = (f["price"] * f["qty"]).groupby(f["locate"]).sum()
    out = pd.DataFrame({
        "symbol": pd.Series(names).reindex(last.index),
        "position": last["position"],
        "realized": last["realized_cum"],
        "unrealized": last["position"] * (mark - last["avg_cost"]),
        # independent of the cost accounting: the check on realized + unrealized - fees
        "pnl": last["cash_cum"] + last["position"] * mark - last["fees_cum"],
        "fees": last["fees_cum"],
        "fills": g.size(),
        "shares": g["qty"].sum(),
        "turnover": notional / capital,
        "notional": notional,
        "avg_cost": last["avg_cost"],
        "mark": mark,
        "max_abs_position": g["position"].agg(lambda p: p.abs().max()),
    }, columns=PER_SYMBOL_COLUMNS)
    out.index.name = "locate"
    return out


def _bar_ends(fill_ts: pd.Series, mark_ts: pd.Series, bar_ns: int) -> np.ndarray:
    """start + k x bar_ns for k = 1..n, the last at or after the last event (at least one bar)."""
    ts = np.concatenate([fill_ts.to_numpy(np.int64), mark_ts.to_numpy(np.int64)])
    start, end = int(ts.min()), int(ts.max())
    n = max(1, -(-(end - start) // bar_ns))  # ceil((end - start) / bar_ns)
    return start + bar_ns * np.arange(1, n + 1, dtype=np.int64)


def _equity(f: pd.DataFrame, mids: pd.DataFrame, bar_ends: np.ndarray, capital: float,
            names: dict[int, str]) -> pd.DataFrame:
    """The state at each bar end: a grid of (bar end, traded symbol) rows,
    each given the symbol's last fill state and last valid mid at or before
    that time by `merge_asof` (the as-of join: for each left row, the last
    right row with the same `by` key and an `on` key <= its own)."""
    traded = np.asarray(list(names), dtype=np.int64)
    grid = pd.DataFrame({"ts_ns": np.repeat(bar_ends, len(traded)), "locate": np.tile(traded, len(bar_ends))})
    state = pd.merge_asof(grid, f[["ts_ns", "locate", "position", "cash_cum", "fees_cum", "price"]],
                          on="ts_ns", by="locate")
    state = pd.merge_asof(state, mids, on="ts_ns", by="locate")
    position = state["position"].fillna(0).astype(np.int64)  # NaN: no fill yet
    mark = state["mid"].fillna(state["price"])  # no valid mid yet: our last fill price
    value = np.where(position != 0, position * mark, 0.0)  # flat is worth 0, priced or not
    state["position"] = position
    state["pnl"] = state["cash_cum"].fillna(0.0) + value - state["fees_cum"].fillna(0.0)

    pnl = state.groupby("ts_ns")["pnl"].sum().reindex(bar_ends, fill_value=0.0).to_numpy()
    peak = np.maximum.accumulate(np.concatenate([[0.0], pnl]))[1:]  # the start (pnl 0) is the first peak
    # the $ drawdown from the PnL, not from capital + PnL: a few cents next to $1e6 would lose digits
    out = pd.DataFrame({"pnl": pnl, "equity": capital + pnl, "drawdown": pnl - peak,
                        "drawdown_frac": (capital + pnl) / (capital + peak) - 1},
                       index=pd.Index(bar_ends, name="ts_ns"))
    positions = state.pivot(index="ts_ns", columns="locate", values="position")
    for loc in traded.tolist():
        out[f"position_{names[loc]}"] = positions[loc].to_numpy()
    return out


# ------------------------------------------------------------ the ratios
def _sharpe(r: np.ndarray) -> float:
    """mean / sample std per bar; NaN with fewer than 2 bars or no variation."""
    if r.size < 2 or r.min() == r.max():
        return math.nan
    return float(r.mean() / r.std(ddof=1))


def _sortino(r: np.ndarray) -> float:
    """mean / target downside deviation per bar (target 0, over all bars); NaN with fewer than 2 bars or no loss."""
    downside = math.sqrt(np.mean(np.minimum(r, 0.0) ** 2)) if r.size >= 2 else 0.0
    return float(r.mean() / downside) if downside > 0 else math.nan


def _longest_drawdown_ns(ts: np.ndarray, pnl: np.ndarray) -> int:
    """The longest spell below a previous peak: from the peak's time to the
    first time back at or above it (or to the last time).  ts, pnl: the start
    (pnl 0) then each bar end."""
    at_peak = pnl >= np.maximum.accumulate(pnl)
    last_peak = np.maximum.accumulate(np.where(at_peak, np.arange(len(ts)), 0))  # index of the latest peak
    before = np.concatenate([[0], last_peak[:-1]])  # ... as of the bar before
    below = ~at_peak
    measured = below | (at_peak & np.concatenate([[False], below[:-1]]))  # under water, or the bar that ends it
    spells = ts[measured] - ts[before[measured]]
    return int(spells.max()) if spells.size else 0


# ------------------------------------------------------------ the report
def _num(v: float, fmt: str) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def _table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows)]


def report_markdown(a: Analytics, title: str, config: dict) -> str:
    """A short markdown report: the configuration, the headline figures with
    their units, the per-symbol table, and how to read them."""
    s = a.summary
    headline = [
        ["PnL after fees", _num(s["pnl"], ",.2f"), "$"],
        ["realized (average cost, before fees)", _num(s["realized"], ",.2f"), "$"],
        ["unrealized (at the last mid)", _num(s["unrealized"], ",.2f"), "$"],
        ["fees (negative: a net rebate)", _num(s["fees"], ",.2f"), "$"],
        ["return on capital", _num(100 * s["return_total"], ".4g"), "%"],
        ["Sharpe, annualized", _num(s["sharpe"], ".2f"), ""],
        ["Sharpe per bar", _num(s["sharpe_per_bar"], ".4f"), ""],
        ["Sortino, annualized", _num(s["sortino"], ".2f"), ""],
        ["max drawdown", _num(s["max_drawdown"], ",.2f"), "$"],
        ["max drawdown", _num(100 * s["max_drawdown_frac"], ".4g"), "% of peak equity"],
        ["longest drawdown", _num(s["max_drawdown_duration_ns"] / 1e6, ",.1f"), "ms of event time"],
        ["turnover", _num(s["turnover"], ".4f"), "x capital"],
        ["fill ratio", _num(100 * s["fill_ratio"], ".1f"), "% of orders sent"],
        ["hit rate", _num(100 * s["hit_rate"], ".1f"), f"% of {s['round_trips']} FIFO round trips"],
        ["mean holding time", _num(s["avg_holding_ns"] / 1e6, ",.3f"), "ms (share-weighted)"],
        ["fills", f"{s['fills']:,}", f"on {s['orders_filled']:,} of {s['orders_sent']:,} orders"],
        ["shares traded", f"{s['shares_traded']:,}", "shares"],
        ["max abs position", f"{s['max_abs_position']:,}", "shares (one symbol)"],
    ]
    per_symbol = [[r.symbol, f"{r.position:,}", f"{r.realized:,.2f}", f"{r.unrealized:,.2f}", f"{r.fees:,.2f}",
                   f"{r.pnl:,.2f}", f"{r.fills:,}", f"{r.shares:,}", f"{r.turnover:.4f}"]
                  for r in a.per_symbol.itertuples()]
    bar_ms = s["bar_ns"] / 1e6
    return "\n".join([
        f"# {title}", "",
        "## Configuration", "", *_table(["setting", "value"], [[k, v] for k, v in config.items()]), "",
        "## Headline figures", "",
        f"Capital ${s['capital']:,.0f}; {s['bars']:,} bars of {bar_ms:g} ms of event time.", "",
        *_table(["figure", "value", "unit"], headline), "",
        "## Per symbol", "",
        *(_table(["symbol", "position (shares)", "realized ($)", "unrealized ($)", "fees ($)", "PnL ($)",
                  "fills", "shares", "turnover (x capital)"], per_symbol) if per_symbol else ["No fills."]), "",
        "## How to read this", "",
        f"PnL = realized + unrealized - fees; positions are marked at the last valid mid of the exchange's true "
        f"book. The equity curve is sampled at the end of each {bar_ms:g} ms bar of event time (the exchange's "
        f"clock in the data, not the seconds the backtest took), and the ratios are over those bars' returns. "
        f"Annualized figures multiply by sqrt({s['periods_per_year']:,.0f}) periods per year (the bars in a "
        f"6.5-hour session x 252 days): a convention that makes runs comparable, not a forecast - this is a few "
        f"seconds of simulated market, so read the per-bar Sharpe too. The longest drawdown is the longest "
        f"event time from an equity peak to the first bar back at or above it (or to the end); the hit rate and "
        f"holding time are over FIFO-matched round trips, after fees.", "",
    ])


# ------------------------------------------------------------ the plots
def plot(a: Analytics, fills: pd.DataFrame, marks: pd.DataFrame, out_dir, prefix: str = "backtest") -> list[pathlib.Path]:
    """Three PNGs in out_dir: the equity curve over its drawdown, the position
    of each symbol, and the fills on the price path of the most-traded symbol."""
    import seaborn as sns
    from matplotlib.figure import Figure  # a Figure made without pyplot renders with Agg: no display, and a
    #                                       notebook's own backend is left alone

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = int(a.equity.index[0]) - a.summary["bar_ns"]  # the first event

    def secs(ns) -> np.ndarray:
        return (np.asarray(ns, dtype=np.int64) - t0) / 1e9

    time_label = "event time since the first event (s)"
    paths = [out / f"{prefix}_equity.png", out / f"{prefix}_positions.png", out / f"{prefix}_fills.png"]
    with sns.axes_style("whitegrid"):
        fig = Figure(figsize=(10, 6), layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
        x = secs(a.equity.index)
        top.plot(x, a.equity["pnl"], drawstyle="steps-post")
        top.set(title=f"Equity: capital ${a.summary['capital']:,.0f} + PnL after fees", ylabel="PnL ($)")
        bottom.fill_between(x, a.equity["drawdown"], 0, step="post", color="tab:red", alpha=0.4)
        bottom.set(title="Drawdown from the running peak", ylabel="drawdown ($)", xlabel=time_label)
        fig.savefig(paths[0], dpi=100)

        fig = Figure(figsize=(10, 4), layout="constrained")
        ax = fig.subplots()
        columns = [c for c in a.equity.columns if c.startswith("position_")]
        for c, color in zip(columns, sns.color_palette(n_colors=max(len(columns), 1))):
            ax.plot(x, a.equity[c], drawstyle="steps-post", color=color, label=c.removeprefix("position_"))
        if columns:
            ax.legend(title="symbol", loc="upper left", fontsize="small")
        ax.set(title="Position per symbol at each bar end", ylabel="position (shares)", xlabel=time_label)
        fig.savefig(paths[1], dpi=100)

        if len(a.per_symbol):
            loc = int(a.per_symbol["shares"].idxmax())
            name = a.per_symbol.loc[loc, "symbol"]
        else:
            loc = int(marks["locate"].mode().iloc[0])
            name = str(loc)
        m = marks[(marks["locate"] == loc) & marks["mid"].notna()]
        mine = fills[fills["locate"] == loc]
        fig = Figure(figsize=(10, 5), layout="constrained")
        ax = fig.subplots()
        ax.plot(secs(m["ts_ns"]), m["mid"], drawstyle="steps-post", color="grey", lw=0.8, label="mid")
        for side, marker, color, label in ((1, "^", "tab:green", "buy fill"), (-1, "v", "tab:red", "sell fill")):
            s = mine[mine["side"] == side]
            ax.scatter(secs(s["ts_ns"]), s["price"], marker=marker, color=color, s=30, label=label, zorder=3)
        ax.legend(loc="upper left", fontsize="small")
        ax.set(title=f"Our fills on the price path of {name}" + ("" if len(mine) else " (no fills)"),
               ylabel="price ($)", xlabel=time_label)
        fig.savefig(paths[2], dpi=100)
    return paths
