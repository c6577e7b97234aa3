"""Lab 8 exercise: average-cost PnL - a known-wrong answer: realized against
the last fill's price instead of the average cost.

It keeps the price of the symbol's previous fill and realizes a reduction
against it: (price - last_price) x shares.  On a position built by one fill
that is the same thing (so 'a round trip to flat' passes); after "buy 100 at
$10, buy 300 at $11, sell 200 at $11.50" it realizes (11.50 - 11) x 200 = $100
where the average cost, $10.75, gives $150.  The check's case 'two buys at two
prices, then a partial sell' shows it.  (The unrealized PnL uses the same
wrong cost.)
"""

from __future__ import annotations


def pnl(fills, marks):
    state: dict[int, list] = {}  # locate -> [position, last fill price, realized]
    for locate, side, qty, price in fills:
        position, last, realized = state.setdefault(locate, [0, 0.0, 0.0])
        trade = side * qty
        if position and (position > 0) != (trade > 0):
            closed = min(qty, abs(position))
            realized += (price - last) * closed * (1 if position > 0 else -1)  # WRONG: against the last fill
        position += trade
        state[locate] = [position, price, realized]
    return {loc: (p, r, p * (marks[loc] - c) if p else 0.0) for loc, (p, c, r) in state.items()}
