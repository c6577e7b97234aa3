"""Lab 8 exercise: the equity curve of a backtest - the solution.

Three NumPy ideas replace the loop, each one a clause of the rule:

1. "Everything at or before the bar end counts" is `np.searchsorted(ts,
   ends, side="right")`: for each bar end, the number of events stamped at
   or before it (side="right" puts an event exactly at the end inside the
   bar).  That count indexes a running total - `np.cumsum` with a 0 in front
   - so cash, fees and each symbol's position at every bar end are one
   gather each.  It is pandas' `merge_asof(direction="backward")`, the as-of
   join, by hand.
2. "The last *valid* mid" is the same search over the valid mids only:
   dropping the NaNs first is what carries the last valid one forward.  (The
   other idiom, when the value is needed at every row, is the forward fill:
   `np.maximum.accumulate(np.where(valid, np.arange(n), -1))` is the index of
   the last valid row so far - pandas' `ffill`.)
3. The symbols are a short loop (8 at most here), each a few whole-array
   calls; nothing loops over bars or events in Python.

Look-ahead is one slip away: `np.searchsorted(ts, ends)` used as the
index of the mid (the first one *at or after* the end), a `bfill`,
`merge_asof(direction="forward" or "nearest")`, a `shift(-1)`.  Each gives a
curve that looks right and is valued at the next price.  (side="left" for
the fills is the opposite slip: a fill at the bar end counted a bar late.)
"""

from __future__ import annotations

import numpy as np


def equity(fills_ts, fills_locate, fills_signed_qty, fills_price, fills_fee, marks_ts, marks_locate, marks_mid,
           bar_ns):
    start = int(marks_ts[0])
    n = max(1, -(-(int(marks_ts[-1]) - start) // bar_ns))  # ceil, in integers
    ends = start + bar_ns * np.arange(1, n + 1, dtype=np.int64)

    # cash and fees: all fills together, counted at each bar end
    counted = np.searchsorted(fills_ts, ends, side="right")
    cash = np.concatenate(([0.0], np.cumsum(-fills_signed_qty * fills_price)))[counted]
    fees = np.concatenate(([0.0], np.cumsum(fills_fee)))[counted]

    # the valid mids only: dropping the NaNs is what carries the last valid one
    valid = ~np.isnan(marks_mid)
    v_ts, v_locate, v_mid = marks_ts[valid], marks_locate[valid], marks_mid[valid]

    value = np.zeros(n)
    for s in np.unique(fills_locate):
        mine = fills_locate == s
        k = np.searchsorted(fills_ts[mine], ends, side="right")  # this symbol's fills by each bar end
        position = np.concatenate(([0], np.cumsum(fills_signed_qty[mine])))[k]
        fill_price = np.concatenate(([np.nan], fills_price[mine]))[k]  # our last fill price (no mid yet)
        quoted = v_locate == s
        j = np.searchsorted(v_ts[quoted], ends, side="right")  # its valid mids at or before each bar end
        mid = np.concatenate(([np.nan], v_mid[quoted]))[j]
        mark = np.where(j > 0, mid, fill_price)
        value += np.where(position != 0, position * mark, 0.0)  # flat is worth 0, priced or not
    return cash + value - fees
