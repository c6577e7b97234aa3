"""Lab 8 exercise: average-cost PnL - a known-wrong answer: the flip forgotten.

Adding and reducing are right, and so is what the flipping fill realizes
(min(qty, |position|) shares against the old cost).  But the shares left over
on the other side keep the *old* position's average cost instead of the fill's
price: after "buy 100 at $10, sell 300 at $11" it holds -200 shares "bought" at
$10, so the unrealized PnL, and everything a later fill realizes, is off by
(11 - 10) x 200.  The check's case 'a flip from long to short' shows it.
"""

from __future__ import annotations


def pnl(fills, marks):
    state: dict[int, list] = {}  # locate -> [position, avg_cost, realized]
    for locate, side, qty, price in fills:
        position, cost, realized = state.setdefault(locate, [0, 0.0, 0.0])
        trade = side * qty
        if position == 0:
            cost = price
        elif (position > 0) == (trade > 0):
            cost = (abs(position) * cost + qty * price) / (abs(position) + qty)
        else:
            closed = min(qty, abs(position))
            realized += (price - cost) * closed * (1 if position > 0 else -1)
            # WRONG: a fill that goes through flat leaves the rest at the old cost; it was opened at `price`
        position += trade
        state[locate] = [position, cost, realized]
    return {loc: (p, r, p * (marks[loc] - c) if p else 0.0) for loc, (p, c, r) in state.items()}
