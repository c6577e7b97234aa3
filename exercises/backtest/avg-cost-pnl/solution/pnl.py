"""Lab 8 exercise: realized and unrealized PnL by average cost - the solution.

Per symbol, three numbers are the whole state: the position (signed
shares), its average cost, and the PnL realized so far.  Each fill is one of
three cases, by the sign of the position before it and after it:

    same side or from flat    the cost moves to the share-weighted mean
    against, not past flat    realize (price - cost) x closed x direction;
                              the shares left keep their cost
    against, through flat     realize the whole old position, then the rest
                              is a new position opened at this fill's price

No lots are kept: average cost forgets which shares came first, which is
what makes it O(1) a fill (FIFO keeps a queue of lots per symbol).
"""

from __future__ import annotations


def pnl(fills, marks):
    state: dict[int, list] = {}  # locate -> [position, avg_cost, realized]
    for locate, side, qty, price in fills:
        s = state.get(locate)
        if s is None:
            s = state[locate] = [0, 0.0, 0.0]
        position, cost = s[0], s[1]
        trade = side * qty
        after = position + trade
        if position * trade >= 0:  # opens or adds (position == 0: cost becomes price)
            s[1] = (abs(position) * cost + qty * price) / abs(after) if position else price
        else:
            closed = min(qty, abs(position))
            s[2] += (price - cost) * (closed if position > 0 else -closed)
            if after == 0:
                s[1] = 0.0
            elif (after > 0) != (position > 0):  # flipped: what is left opened here
                s[1] = price
        s[0] = after
    return {loc: (p, r, p * (marks[loc] - c) if p else 0.0) for loc, (p, c, r) in state.items()}
