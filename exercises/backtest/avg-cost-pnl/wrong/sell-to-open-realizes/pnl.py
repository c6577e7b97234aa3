"""Lab 8 exercise: average-cost PnL - a known-wrong answer: every sale is a
realization (a long-only picture of trading).

Buys move the average cost; sells realize (price - avg_cost) x qty, whatever
the position was.  Right for a long position sold down to flat.  But a sale
from flat *opens* a short: it realizes nothing, and its price becomes the
short's cost.  Here "sell 100 at $20" from flat realizes $2,000 against a cost
of 0, and the short's later cover is booked as a purchase.  The check's case
'a short, added to' shows it.
"""

from __future__ import annotations


def pnl(fills, marks):
    state: dict[int, list] = {}  # locate -> [position, avg_cost, realized]
    for locate, side, qty, price in fills:
        position, cost, realized = state.setdefault(locate, [0, 0.0, 0.0])
        if side > 0:
            cost = (max(position, 0) * cost + qty * price) / (max(position, 0) + qty)
        else:
            realized += (price - cost) * qty  # WRONG: a sale from flat or short opens, it does not realize
        position += side * qty
        if position == 0:
            cost = 0.0
        state[locate] = [position, cost, realized]
    return {loc: (p, r, p * (marks[loc] - c) if p else 0.0) for loc, (p, c, r) in state.items()}
