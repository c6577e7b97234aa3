"""Lab 8 exercise: realized and unrealized PnL by average cost (see README.md).

`pnl(fills, marks)` books a stream of fills, in order, and values what is
left at the marks:

    fills   a list of (locate, side, qty, price): side +1 buy / -1 sell,
            qty > 0 shares, price in $ (labs/analytics.py's fills, one row
            each; fees are not part of this)
    marks   a dict locate -> the symbol's last mid ($), for every symbol
            that has a fill
    return  a dict locate -> (position, realized, unrealized) for every
            symbol that has a fill: signed shares, $ realized, $ unrealized

The rule is average cost (README.md, "The rule", has it with a worked
example):
- a fill that opens or adds to a position moves its average cost to the
  share-weighted mean of the old shares and the new;
- one that reduces it realizes (price - avg_cost) x shares closed (x -1 for
  a short), and the shares left keep their cost;
- one that flips it closes the whole position (realizing) and opens the rest
  at the fill's own price;
- unrealized = position x (mark - avg_cost).

This version is FIFO lot accounting instead: each sale closes the oldest
lots first and realizes against *their* prices.  It is a correct FIFO - its
realized + unrealized is the same total - and it is not the rule: it splits
that total differently as soon as lots at two prices are partly closed.
Make it average cost.
"""

from __future__ import annotations

from collections import deque


def pnl(fills, marks):
    lots: dict[int, deque] = {}  # locate -> deque of [signed shares, price], oldest first
    realized: dict[int, float] = {}
    for locate, side, qty, price in fills:
        book = lots.setdefault(locate, deque())
        realized.setdefault(locate, 0.0)
        left = side * qty
        while left and book and (book[0][0] > 0) != (left > 0):  # the oldest lot is on the other side
            lot = book[0]
            n = min(abs(left), abs(lot[0]))
            direction = 1 if lot[0] > 0 else -1
            realized[locate] += (price - lot[1]) * n * direction
            lot[0] -= direction * n
            left += direction * n
            if lot[0] == 0:
                book.popleft()
        if left:
            book.append([left, price])
    out = {}
    for locate, book in lots.items():
        position = sum(shares for shares, _ in book)
        unrealized = sum(shares * (marks[locate] - price) for shares, price in book)
        out[locate] = (position, realized[locate], unrealized)
    return out
