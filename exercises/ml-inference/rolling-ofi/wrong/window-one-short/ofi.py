"""Lab 6 exercise: order-flow imbalance in O(1) per update - a known-wrong
answer: the window one short.  The ring has window - 1 slots, so the running
sum covers the last window - 1 terms: right while the window fills, then
off whenever the term it dropped too early was not 0.  As fast as the
solution, and wrong within the first instrument's first 70 updates: the check
compares every update with pyimpl's ofi feature before it times anything.
"""


class RollingOFI:
    __slots__ = ("ring", "pos", "window", "total", "bid", "bid_size", "ask", "ask_size")

    def __init__(self, window: int) -> None:
        self.ring = [0] * (window - 1)  # one slot short
        self.pos = 0
        self.window = window - 1
        self.total = 0  # the sum of ring
        self.bid = self.bid_size = self.ask = self.ask_size = 0

    def update(self, bid: int, bid_size: int, ask: int, ask_size: int) -> int:
        e = 0
        prev_bid = self.bid
        if bid and prev_bid:
            e = (bid_size if bid >= prev_bid else 0) - (self.bid_size if bid <= prev_bid else 0) \
                - (ask_size if ask <= self.ask else 0) + (self.ask_size if ask >= self.ask else 0)
        self.bid, self.bid_size, self.ask, self.ask_size = bid, bid_size, ask, ask_size
        ring, pos = self.ring, self.pos
        self.total += e - ring[pos]
        ring[pos] = e
        pos += 1
        self.pos = 0 if pos == self.window else pos
        return self.total
