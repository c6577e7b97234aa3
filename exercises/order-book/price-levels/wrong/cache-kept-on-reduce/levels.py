"""Lab 5 exercise: a faster price-level structure - a known-wrong answer.

The solution's sorted prices and cached top(n), with one invalidation
missing: reduce() (a partial execution or cancel) keeps the cached list.  As
fast as the solution, and wrong after a partial X, E or C in the top levels:
the reader sees the shares from before.  The check compares the top 5 levels
with the reference book's after every message and names the first that differs.
"""

from bisect import bisect_left, insort


class Levels:
    __slots__ = ("bids", "levels", "prices", "cached", "cached_n")

    def __init__(self, bids: bool) -> None:
        self.bids = bids
        self.levels: dict[int, list[int]] = {}  # price -> [shares, orders]
        self.prices: list[int] = []  # the level prices, ascending
        self.cached: list | None = None  # top(cached_n) since the last change, or None
        self.cached_n = 0

    def add(self, price: int, shares: int) -> None:
        self.cached = None
        level = self.levels.get(price)
        if level is None:
            self.levels[price] = [shares, 1]
            insort(self.prices, price)
        else:
            level[0] += shares
            level[1] += 1

    def reduce(self, price: int, shares: int) -> None:
        self.levels[price][0] -= shares

    def remove(self, price: int, shares: int) -> None:
        self.cached = None
        level = self.levels[price]
        if level[1] == 1:
            del self.levels[price]
            prices = self.prices
            del prices[bisect_left(prices, price)]
        else:
            level[0] -= shares
            level[1] -= 1

    def top(self, n: int) -> list[tuple[int, int, int]]:
        out = self.cached
        if out is not None and self.cached_n == n:
            return out
        levels = self.levels
        if self.bids:
            out = [(p, *levels[p]) for p in reversed(self.prices[-n:])]
        else:
            out = [(p, *levels[p]) for p in self.prices[:n]]
        self.cached, self.cached_n = out, n
        return out
