"""Lab 8 exercise: the equity curve of a backtest (see README.md).

`equity(...)` is the PnL of a backtest at the end of each bar of event time:

    fills_ts, fills_locate, fills_signed_qty, fills_price, fills_fee
        our executions, in time order: exchange time (ns), stock locate,
        signed shares (+ bought, - sold), price ($), fee ($, + paid, - a rebate)
    marks_ts, marks_locate, marks_mid
        every update of the exchange's true book, in time order: time (ns),
        locate, mid ($; NaN while a side of the book is empty)
    bar_ns
        the bar length (ns); bar k (k = 1..n) ends at marks_ts[0] + k x bar_ns,
        and n is the least number of bars whose last ends at or after the last
        mark (at least 1)

    returns an (n,) float64 array: at each bar end,
        cash + sum over symbols of position x mark - fees
    where everything stamped at or before the bar end counts (a buy of q at
    p costs q x p of cash), and a symbol's mark is its last *valid* mid at
    or before the bar end: a NaN mid leaves the one before it in place.  A
    symbol with a position and no valid mid yet is marked at our last fill
    price in it; a flat symbol counts 0, quoted or not.

This version is the idiomatic loop: walk both streams bar by bar, keep each
symbol's position and last valid mid in dicts, and add up the symbols at each
bar end.  It is right, and it is slow: every element of the arrays goes
through the interpreter as a NumPy scalar.  Make it fast with whole-array
NumPy operations - and don't let a bar see a mid from after its end.
"""

from __future__ import annotations

import math

import numpy as np


def equity(fills_ts, fills_locate, fills_signed_qty, fills_price, fills_fee, marks_ts, marks_locate, marks_mid,
           bar_ns):
    start = int(marks_ts[0])
    n_bars = max(1, math.ceil((int(marks_ts[-1]) - start) / bar_ns))
    symbols = sorted(set(int(s) for s in fills_locate))
    position = {s: 0 for s in symbols}
    last_mid = {s: math.nan for s in symbols}
    last_price = {s: math.nan for s in symbols}
    cash = fees = 0.0
    out = np.zeros(n_bars)
    i = j = 0
    for k in range(n_bars):
        bar_end = start + (k + 1) * bar_ns
        while i < len(fills_ts) and fills_ts[i] <= bar_end:  # the fills up to the bar end
            s = int(fills_locate[i])
            position[s] += int(fills_signed_qty[i])
            cash -= fills_signed_qty[i] * fills_price[i]
            fees += fills_fee[i]
            last_price[s] = fills_price[i]
            i += 1
        while j < len(marks_ts) and marks_ts[j] <= bar_end:  # the book updates up to the bar end
            s = int(marks_locate[j])
            if s in last_mid and not math.isnan(marks_mid[j]):
                last_mid[s] = marks_mid[j]
            j += 1
        value = 0.0
        for s in symbols:
            if position[s] != 0:
                mark = last_mid[s] if not math.isnan(last_mid[s]) else last_price[s]
                value += position[s] * mark
        out[k] = cash + value - fees
    return out
