"""Lab 5, pure Python: an order-by-order (L3) limit order book driven by
NASDAQ TotalView-ITCH 5.0 messages.  The reference semantics of the lab:
cimpl.order_book.Book has the same API and must agree with this one on every
stream (tests/test_order_book.py checks it message by message).

    book = Book()
    book.apply_stream(labs.feed.simulate(100_000))   # framed ITCH bytes
    book.best(1)             # ((bid price, shares), (ask price, shares))
    book.depth(1, 5)         # ([(price, shares, orders), ...] bids, [...] asks), best first
    book.snapshot()          # {"AAPL": {"bids": [["189.2300", 500, 3], ...], "asks": [...]}, ...}

Prices are ITCH's: integers in 1/10000 dollar.  An order lives in one dict,
`ref -> [locate, side, price, shares]` (side 0 = bid, 1 = ask); each
instrument keeps, per side, a dict `price -> [shares, orders]` of its levels
and a sorted list of their prices (bisect keeps it sorted: the best bid is the
last, the best ask the first).  That is what idiomatic Python gives: every
operation is a couple of dict lookups, and a level appears or disappears with
one bisect and one list insert/delete (cheap: the levels near the touch are
few and the list is short).  What it leaves out next to the C book is the
queue of orders within a level (time priority): ITCH names the order on every
execution, so a book that only follows the feed does not need it.

Every method checks before it changes anything: a rejected message (unknown
order, duplicate ref, zero shares, more shares than remain) raises
pyimpl.errors.BookError and leaves the book as it was.

Speed: apply_stream is written for the interpreter, where every operation
costs ~10 ns, and the guide (labs/05-order-book/README.md, section 4) shows
what each of its choices gained, measured.  It stays plain Python.
"""

from __future__ import annotations

import struct
from bisect import bisect_left, insort

from . import errors
from .itch import MESSAGE_SIZES, ItchError, UnknownMessage, _type_name

SIDES = {"B": 0, "S": 1, b"B": 0, b"S": 1}
SIDE_NAMES = ("B", "S")

# What the book reads of each message: the header's type (1), locate (2),
# tracking number (2) and timestamp (6) are skipped with 'x' where unused, and
# so is everything after the last field it needs (unpack_from reads a prefix).
_A = struct.Struct(">xH8xQcI8xI").unpack_from  # locate, ref, side, shares, price (F: + attribution, unread)
_REF_SHARES = struct.Struct(">11xQI").unpack_from  # E, C (price unread), X: ref, shares
_REF = struct.Struct(">11xQ").unpack_from  # D: ref
_U = struct.Struct(">11xQQII").unpack_from  # U: old ref, new ref, shares, price
_R = struct.Struct(">xH8x8s").unpack_from  # R: locate, stock

_TYPES = {ord(t): t for t in "SRAFECXDU"}


def price_str(price: int) -> str:
    """An ITCH price (1/10000 $) as a decimal string of dollars: 1892300 -> "189.2300"."""
    return f"{price // 10000}.{price % 10000:04d}"


class Book:
    """The books of every instrument of one ITCH stream, keyed by stock locate."""

    def __init__(self, max_orders: int = 1 << 22, max_instruments: int = 16384) -> None:
        # The capacities bound the C book's preallocated pools; Python's dicts
        # grow, but we keep the same limits so both books reject the same input.
        if not isinstance(max_orders, int) or not 0 < max_orders <= 1 << 30:
            raise ValueError(f"max_orders must be in 1..{1 << 30}, got {max_orders!r}")
        if not isinstance(max_instruments, int) or not 0 < max_instruments <= 65535:
            raise ValueError(f"max_instruments must be in 1..65535, got {max_instruments!r}")
        self.max_orders, self.max_instruments = max_orders, max_instruments
        self._orders: dict[int, list] = {}  # ref -> [locate, side, price, shares]
        # locate -> [bid levels, bid prices, ask levels, ask prices]; levels: price -> [shares, orders]
        self._books: dict[int, list] = {}
        self._symbols: dict[int, str] = {}

    # ------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Nothing to free in Python (the C book frees its pools)."""

    def __enter__(self) -> Book:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ directory
    def add_symbol(self, locate: int, symbol: str) -> None:
        _check_locate(locate)
        self._symbols[locate] = symbol.strip()

    @property
    def symbols(self) -> dict[int, str]:
        return dict(self._symbols)

    def _instrument(self, locate: int) -> list:
        book = self._books.get(locate)
        if book is None:
            _check_locate(locate)
            if len(self._books) >= self.max_instruments:
                raise errors.book_full("instrument table", self.max_instruments)
            book = self._books[locate] = [{}, [], {}, []]
        return book

    # ------------------------------------------------------------ updates
    def add(self, locate: int, ref: int, side: str, shares: int, price: int) -> None:
        """A new order resting on `side` ("B" or "S") of instrument `locate`."""
        s = SIDES.get(side)
        if s is None:
            raise errors.bad_side(side)
        if shares <= 0:
            raise errors.zero_shares(ref)
        orders = self._orders
        if ref in orders:
            raise errors.duplicate_order(ref)
        if len(orders) >= self.max_orders:
            raise errors.book_full("order pool", self.max_orders)
        book = self._books.get(locate) or self._instrument(locate)  # a book is a non-empty list
        orders[ref] = [locate, s, price, shares]
        levels = book[2 * s]
        level = levels.get(price)
        if level is None:
            levels[price] = [shares, 1]
            insort(book[2 * s + 1], price)
        else:
            level[0] += shares
            level[1] += 1

    def _take(self, ref: int, shares: int) -> int:
        """Remove `shares` from order `ref` (an execution or a cancel); the
        shares left, the order gone at 0."""
        order = self._orders.get(ref)
        if order is None:
            raise errors.unknown_order(ref)
        if shares <= 0:
            raise errors.zero_shares(ref)
        left = order[3] - shares
        if left < 0:
            raise errors.overfill(ref, shares, order[3])
        if left:
            order[3] = left
            self._books[order[0]][2 * order[1]][order[2]][0] -= shares
        else:
            del self._orders[ref]
            self._remove(order)
        return left

    def _remove(self, order: list) -> None:
        """Take an order, already out of _orders, out of its level (and the
        level out of the book if it was its last order)."""
        locate, s, price, shares = order
        book = self._books[locate]
        levels = book[2 * s]
        level = levels[price]
        if level[1] == 1:  # its last order: the level goes
            del levels[price]
            prices = book[2 * s + 1]
            del prices[bisect_left(prices, price)]
        else:
            level[0] -= shares
            level[1] -= 1

    def execute(self, ref: int, shares: int) -> int:
        """`shares` of resting order `ref` traded; the shares left (0: gone)."""
        return self._take(ref, shares)

    def cancel(self, ref: int, shares: int) -> int:
        """`shares` of order `ref` cancelled; the shares left (0: gone)."""
        return self._take(ref, shares)

    def delete(self, ref: int) -> None:
        order = self._orders.pop(ref, None)
        if order is None:
            raise errors.unknown_order(ref)
        self._remove(order)

    def replace(self, ref: int, new_ref: int, shares: int, price: int) -> None:
        """Order `ref` becomes `new_ref` with new shares and price, on the same
        side of the same instrument (and at the back of its new level's queue)."""
        order = self._orders.get(ref)
        if order is None:
            raise errors.unknown_order(ref)
        if new_ref == ref or new_ref in self._orders:
            raise errors.duplicate_order(new_ref)
        if shares <= 0:
            raise errors.zero_shares(new_ref)
        del self._orders[ref]
        self._remove(order)
        self.add(order[0], new_ref, SIDE_NAMES[order[1]], shares, price)

    # ------------------------------------------------------------ ITCH
    def apply(self, body) -> bool:
        """Apply one ITCH 5.0 message (its body: type byte first, no length
        prefix); True if it was a book update.  S is accepted and ignored, R
        fills the directory (both: False); other types raise UnknownMessage."""
        if not len(body):
            raise ItchError("truncated message at offset 0: no bytes left (the buffer has 0)")
        t = body[0]
        size = MESSAGE_SIZES.get(t)
        if size is None:
            raise UnknownMessage(f"unknown message type {_type_name(t)} at offset 0", 0, t)
        if len(body) != size:
            raise ItchError(f"{_type_name(t)} message of {len(body)} bytes at offset 0: the type has {size}")
        return self._apply(t, body, 0)

    def _apply(self, t: int, buf, at: int) -> bool:
        """The message of type t at buf[at:]; True if it was a book update.
        The fields are unpacked into names and passed one by one: a call
        `f(*fields)` is not specialised by CPython 3.11's interpreter, and
        written that way this method cost ~7% more of the stream's time."""
        if t == 65 or t == 70:  # A, F
            locate, ref, side, shares, price = _A(buf, at)
            self.add(locate, ref, side, shares, price)
            if locate not in self._symbols and buf[at + 24] != 32:  # no directory entry (yet): the add's stock
                self._symbols[locate] = bytes(buf[at + 24:at + 32]).decode("ascii", "replace").strip()
        elif t == 68:  # D
            self.delete(_REF(buf, at)[0])
        elif t == 69 or t == 67 or t == 88:  # E, C (the book ignores C's price), X
            ref, shares = _REF_SHARES(buf, at)
            self._take(ref, shares)
        elif t == 85:  # U
            ref, new_ref, shares, price = _U(buf, at)
            self.replace(ref, new_ref, shares, price)
        elif t == 82:  # R
            locate, stock = _R(buf, at)
            self.add_symbol(locate, stock.decode("ascii", "replace"))
            return False
        else:  # S: nothing for the book
            return False
        return True

    def apply_stream(self, buf, lenient: bool = False) -> dict:
        """Apply a framed ITCH 5.0 buffer (each message preceded by its 2-byte
        big-endian length, as in NASDAQ's files).  Types the book does not know
        are skipped and counted.  A rejected book message raises BookError
        (lenient: counted and skipped); a truncated buffer raises ItchError
        (lenient: counted as "truncated" and the rest ignored).

        Returns {"messages", "book", "other", "skipped": {type: n}, "rejected", "truncated"}."""
        # This loop runs once per message, and in CPython every operation in it
        # costs ~10 ns, so it does as few as it can: the methods and the table it
        # uses are local variables, and a whole frame of a known type and size
        # costs one chained comparison and one dict lookup.  Whatever is not that
        # (a frame cut short, an empty frame, an unknown type, a wrong length)
        # fails `size != end - at` and is sorted out below it.
        apply, sizes = self._apply, MESSAGE_SIZES
        n, pos, book, other, rejected, bad, truncated = len(buf), 0, 0, 0, 0, 0, 0
        skipped: dict[str, int] = {}
        try:
            while pos + 2 <= n:
                at = pos + 2
                end = at + (buf[pos] << 8 | buf[pos + 1])
                t = buf[at] if at < end <= n else -1  # -1: an empty frame, or one cut short
                size = sizes.get(t)
                if size != end - at:  # not a whole frame of a known type and size
                    if end > n:
                        raise ItchError(f"truncated frame at offset {pos}: its length says {end - at} bytes, "
                                        f"{n - at} left")
                    if size is not None:
                        bad = 1  # counted in "messages" (lenient)
                        raise ItchError(f"{_type_name(t)} frame at offset {pos} is {end - at} bytes: "
                                        f"the type has {size}")
                    key = _TYPES.get(t) or (chr(t) if t >= 0 else "")  # a type the book does not use
                    skipped[key] = skipped.get(key, 0) + 1
                else:
                    try:
                        if apply(t, buf, at):
                            book += 1
                        else:
                            other += 1
                    except errors.BookError:
                        if not lenient:
                            raise
                        rejected += 1
                pos = end
            if pos < n:
                raise ItchError(f"truncated frame at offset {pos}: {n - pos} byte(s), a length needs 2")
        except ItchError:
            if not lenient:
                raise
            truncated = 1
        messages = book + other + rejected + sum(skipped.values()) + bad
        return {"messages": messages, "book": book, "other": other, "skipped": skipped, "rejected": rejected,
                "truncated": truncated}

    # ------------------------------------------------------------ queries
    def best(self, locate: int) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """((best bid price, its shares) or None, (best ask price, shares) or None)."""
        book = self._books.get(locate)
        if book is None:
            return None, None
        bid = (book[1][-1], book[0][book[1][-1]][0]) if book[1] else None
        ask = (book[3][0], book[2][book[3][0]][0]) if book[3] else None
        return bid, ask

    def depth(self, locate: int, n: int = 10) -> tuple[list, list]:
        """The top n levels of each side, best first: ([(price, shares, orders)], [...])."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n!r}")
        book = self._books.get(locate)
        if book is None or n == 0:
            return [], []
        bids = [(p, *book[0][p]) for p in reversed(book[1][-n:])]
        asks = [(p, *book[2][p]) for p in book[3][:n]]
        return bids, asks

    def order(self, ref: int) -> tuple[int, str, int, int] | None:
        """(locate, side, shares left, price) of a resting order, or None."""
        o = self._orders.get(ref)
        return None if o is None else (o[0], SIDE_NAMES[o[1]], o[3], o[2])

    def __len__(self) -> int:
        return len(self._orders)

    def snapshot(self, n: int = 10) -> dict[str, dict]:
        """The top n levels of every instrument that has seen an order, keyed by
        its symbol (from the Stock Directory, else from its first ITCH add,
        else f"#{locate}"): {"bids": [[price
        in dollars as a decimal string, shares, orders], ...], "asks": [...]}."""
        out = {}
        for locate in sorted(self._books):
            bids, asks = self.depth(locate, n)
            out[self._symbols.get(locate, f"#{locate}")] = {
                "bids": [[price_str(p), s, c] for p, s, c in bids],
                "asks": [[price_str(p), s, c] for p, s, c in asks]}
        return out


def _check_locate(locate: object) -> None:
    if not isinstance(locate, int) or not 0 < locate <= 65535:
        raise errors.bad_locate(locate)
