"""Lab 5 exercise: a faster price-level structure (see README.md).

`Levels` is one side (the bids or the asks) of one instrument's book, as
price levels: price -> (total shares, number of orders).  The exercise's book
(`LevelsBook` in check.py: pyimpl.order_book.Book with its levels replaced by
two of these per instrument) calls it on every update, and a reader - lab 6's
features - asks for the top 5 levels of both sides after every update.

The interface (prices are ITCH's integers, 1/10000 dollar):

    Levels(bids)           bids=True: the bid side (best = highest price);
                           bids=False: the asks (best = lowest price)
    add(price, shares)     an order of `shares` joins level `price` (the level
                           is created if it is new)
    reduce(price, shares)  `shares` of an order at `price` leave (a partial
                           execution or cancel): the order stays
    remove(price, shares)  an order that had `shares` left leaves level
                           `price`; the level goes with its last order
    top(n)                 the best n levels (n >= 1), best first, as a list
                           of (price, shares, orders) tuples; fewer if the
                           side has fewer.  The caller only reads the list.

The book checks every message before it calls these (an unknown order, an
overfill... never reach Levels), so no method needs to validate.

This version is correct and simple: a dict of levels, sorted whenever asked.
Make it faster at what the book and its reader do, and keep it right.
"""


class Levels:
    __slots__ = ("bids", "levels")

    def __init__(self, bids: bool) -> None:
        self.bids = bids
        self.levels: dict[int, list[int]] = {}  # price -> [shares, orders]

    def add(self, price: int, shares: int) -> None:
        level = self.levels.get(price)
        if level is None:
            self.levels[price] = [shares, 1]
        else:
            level[0] += shares
            level[1] += 1

    def reduce(self, price: int, shares: int) -> None:
        self.levels[price][0] -= shares

    def remove(self, price: int, shares: int) -> None:
        level = self.levels[price]
        if level[1] == 1:
            del self.levels[price]
        else:
            level[0] -= shares
            level[1] -= 1

    def top(self, n: int) -> list[tuple[int, int, int]]:
        best_first = sorted(self.levels.items(), reverse=self.bids)
        return [(price, level[0], level[1]) for price, level in best_first[:n]]
