"""Lab 8 exercise: the equity curve - a known-wrong answer: look-ahead.

The solution's vectorized form with one slip: the mid is looked up with
`np.searchsorted(ts, ends)` and that index used as is - the first valid mid
*at or after* the bar end, not the last one at or before it.  A mark exactly
at the bar end comes out right (side="left" finds it), so the curve looks
plausible; every other bar is valued at a price that had not happened yet
when the bar closed.  On the backtest about half the 100 us bars are off,
by up to $18: a strategy judged on it is judged on the future.  (The same
bug in pandas: `merge_asof(direction="forward")`, a `bfill`, a `shift(-1)`.)
"""

from __future__ import annotations

import numpy as np


def equity(fills_ts, fills_locate, fills_signed_qty, fills_price, fills_fee, marks_ts, marks_locate, marks_mid,
           bar_ns):
    start = int(marks_ts[0])
    n = max(1, -(-(int(marks_ts[-1]) - start) // bar_ns))
    ends = start + bar_ns * np.arange(1, n + 1, dtype=np.int64)
    counted = np.searchsorted(fills_ts, ends, side="right")
    cash = np.concatenate(([0.0], np.cumsum(-fills_signed_qty * fills_price)))[counted]
    fees = np.concatenate(([0.0], np.cumsum(fills_fee)))[counted]
    valid = ~np.isnan(marks_mid)
    v_ts, v_locate, v_mid = marks_ts[valid], marks_locate[valid], marks_mid[valid]
    value = np.zeros(n)
    for s in np.unique(fills_locate):
        mine = fills_locate == s
        k = np.searchsorted(fills_ts[mine], ends, side="right")
        position = np.concatenate(([0], np.cumsum(fills_signed_qty[mine])))[k]
        fill_price = np.concatenate(([np.nan], fills_price[mine]))[k]
        quoted = v_locate == s
        ts_s, mid_s = v_ts[quoted], v_mid[quoted]
        if len(mid_s) == 0:
            mark = fill_price
        else:
            j = np.searchsorted(ts_s, ends)  # WRONG: the first mid at or after the bar end: the future
            mark = mid_s[np.minimum(j, len(mid_s) - 1)]
        value += np.where(position != 0, position * mark, 0.0)
    return cash + value - fees
