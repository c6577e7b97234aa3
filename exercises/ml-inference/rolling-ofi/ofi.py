"""Lab 6 exercise: order-flow imbalance in O(1) per update (see README.md).

`RollingOFI(window)` follows one instrument's touch and returns, after each
book update, the sum of the last `window` order-flow-imbalance terms (Cont,
Kukanov, Stoikov 2014, eq. 10; lab 6's guide, section 3.1): with the touch
(bid, bid_size, ask, ask_size) after the update and the one before it
(primed),

    e = bid_size * [bid >= bid'] - bid_size' * [bid <= bid']
        - ask_size * [ask <= ask'] + ask_size' * [ask >= ask']

and e = 0 for an update with a one-sided touch before or after it (the check
passes a one-sided touch as bid = bid_size = ask = ask_size = 0).  Before
`window` updates have been seen, the sum is over all of them.  Prices are
ITCH's integers, sizes shares: every term is an integer, and so is the sum.
With window = 50 it is pyimpl.ml_inference's `ofi` feature, value for value.

This version is correct, and pays for the window on every update: it sums
all of it again.  Make update() cost the same whatever the window.
"""

from collections import deque


class RollingOFI:
    def __init__(self, window: int) -> None:
        self.terms: deque[int] = deque(maxlen=window)  # the last `window` terms
        self.bid = self.bid_size = self.ask = self.ask_size = 0  # the touch before this update (0: none)

    def update(self, bid: int, bid_size: int, ask: int, ask_size: int) -> int:
        e = 0
        if bid and self.bid:
            e = (bid_size if bid >= self.bid else 0) - (self.bid_size if bid <= self.bid else 0) \
                - (ask_size if ask <= self.ask else 0) + (self.ask_size if ask >= self.ask else 0)
        self.bid, self.bid_size, self.ask, self.ask_size = bid, bid_size, ask, ask_size
        self.terms.append(e)  # the deque drops the term that leaves the window
        return sum(self.terms)
