"""Lab 7, pure Python: the exchange simulator's matching engine - the
reference semantics.  cimpl.exchange.Exchange is the same matcher in C
(cimpl/exchange.c, whose opening comment is the long explanation of queue
position and of what a replay cannot model); tests/test_exchange.py holds the
two to the same reply bytes, in the same order, on random streams.

    ex = Exchange()
    for _, body in itch.iter_frames(labs.feed.simulate(10_000)):
        replies = ex.on_feed(body)            # OUCH bytes: Executed for our resting orders
    replies = ex.on_order(ouch.encode(ouch.EnterOrder(1, b"B", 100, b"AAPL", 1_892_300)), now_ns)
    [ouch.decode_out(r) for r in replies]     # Accepted, Executed (crossing), ...
    ex.orders(), ex.fills(), ex.position(locate)   # the exchange's records, for reconciliation

One object holds the displayed book of the feed (each price level's FIFO,
and every feed order's arrival number and the shares our client took from it)
and the client's orders.  It has no clock: on_feed and on_order are events,
and their replies are returned, not sent, so lab 8 can put latency between
them.  The rules (exchange.h has them in short):

1. An Enter Order crossing the displayed opposite side takes it best level
   first, FIFO within a level, at the resting prices, up to its limit and
   quantity (liquidity R).  The feed is a replay and will go on showing those
   shares, so `taken` remembers them per feed order and they are never taken
   twice; the feed's own executions of that order consume them first.  At
   most max_sweep levels are looked at and max_sweep orders taken.
2. The rest: IOC is canceled (reason I); Day rests behind the shares
   displayed at its price (shares_ahead = displayed - taken there).
3. A resting order fills (liquidity A, at its price) when a feed execution on
   its side hits an order behind it at its price or at a worse price, and
   when a feed order arrives on the other side at a crossing price (up to its
   shares, which then count as taken).  Executions, cancels, deletes and
   replaces of feed orders ahead of it at its price shrink shares_ahead.
   "Ahead" = same side and price and an earlier arrival number.
4. Replace keeps the queue position only with the same price, no more
   shares, and Day; otherwise it is a new order at the back (it may cross).
   A cancel leaves `qty` shares (0 = all) and keeps the position; one that
   would not reduce the order does nothing.  Client orders never match each
   other.
5. A bad client message gets Order Rejected with its OUCH reason code; bytes
   that are not an OUCH message raise pyimpl.ouch.OuchError; an ITCH message
   the book refuses raises the book's error (pyimpl.errors.BookError, ...) and
   changes nothing.
"""

from __future__ import annotations

import struct
from bisect import insort
from typing import NamedTuple

from . import errors, itch, ouch
from .order_book import Book

DEFAULTS = {
    "max_feed_orders": 1 << 20, "max_instruments": 1024, "max_orders": 65536, "max_open": 1024,
    "max_fills": 1 << 20, "max_qty": 1_000_000, "max_sweep": 256,
}
LIMITS = {"max_feed_orders": 1 << 30, "max_instruments": 65535, "max_orders": 1 << 26, "max_open": 1 << 26,
          "max_fills": 1 << 26, "max_qty": 0xFFFFFFFF, "max_sweep": 1 << 26}

LIVE, FILLED, CANCELED, REPLACED = b"L", b"F", b"C", b"R"
_B, _S = 66, 83  # ord("B"), ord("S")
_PAD14 = b" " * 14

_A = struct.Struct(">xH8xQcI8xI").unpack_from  # locate, ref, side, shares, price
_REF = struct.Struct(">11xQ").unpack_from
_REF_SHARES = struct.Struct(">11xQI").unpack_from
_U = struct.Struct(">11xQQII").unpack_from
_R = struct.Struct(">xH8x8s").unpack_from
_TS = struct.Struct(">5xHI").unpack_from


class Config(NamedTuple):
    max_feed_orders: int
    max_instruments: int
    max_orders: int
    max_open: int
    max_fills: int
    max_qty: int
    max_sweep: int


class Order(NamedTuple):
    """The exchange's record of one client order (filled + canceled + leaves == qty)."""

    user_ref: int
    orig_user_ref: int  # the order it replaced, 0 for an Enter
    replaced_by: int  # the replacement's UserRefNum, 0 if none
    order_ref: int  # the exchange's Order Reference Number
    accepted_ns: int
    cl_ord_id: bytes
    symbol: bytes
    locate: int
    side: bytes
    price: int
    qty: int
    leaves: int
    filled: int
    canceled: int  # a replaced order's leaves count here
    shares_ahead: int
    state: bytes  # L live, F filled, C canceled, R replaced
    tif: bytes
    capacity: bytes
    cross: bytes
    display: bytes


class Fill(NamedTuple):
    match: int
    timestamp: int
    user_ref: int
    locate: int
    side: bytes
    qty: int
    price: int
    liquidity: bytes  # b"A" added, b"R" removed


class Position(NamedTuple):
    locate: int
    position: int  # shares, buys +
    cash: int  # 1/10000 $, buys -


class _Rec:
    __slots__ = ("user_ref", "orig_user_ref", "replaced_by", "order_ref", "accepted_ns", "cl_ord_id", "symbol",
                 "locate", "side", "price", "qty", "leaves", "filled", "canceled", "shares_ahead", "state", "tif",
                 "capacity", "cross", "display", "arrival", "listed")

    def public(self) -> Order:
        return Order(self.user_ref, self.orig_user_ref, self.replaced_by, self.order_ref, self.accepted_ns,
                     self.cl_ord_id, self.symbol, self.locate, bytes((self.side,)), self.price, self.qty,
                     self.leaves, self.filled, self.canceled, self.shares_ahead, self.state, bytes((self.tif,)),
                     bytes((self.capacity,)), bytes((self.cross,)), bytes((self.display,)))


def _better(side: int, a: int, b: int) -> bool:
    return a > b if side == _B else a < b


def _crosses(cs: int, c: int, p: int) -> bool:
    return c >= p if cs == _B else c <= p


def _other(side: int) -> int:
    return _S if side == _B else _B


class Exchange:
    """The matcher: a replayed ITCH feed's displayed book and one client's OUCH orders."""

    def __init__(self, **config: int) -> None:
        unknown = set(config) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown capacities: {sorted(unknown)}")
        cfg = {}
        for k, d in DEFAULTS.items():
            v = config.get(k, 0) or d
            if not isinstance(v, int) or not 0 < v <= LIMITS[k]:
                raise ValueError(f"{k} must be in 1..{LIMITS[k]}, got {v!r}")
            cfg[k] = v
        self.config = Config(**cfg)
        c = self.config
        self._book = Book(max_orders=c.max_feed_orders, max_instruments=c.max_instruments)
        self._fo: dict[int, list] = {}  # ref -> [locate, side, price, shares left, taken, arrival]
        self._levels: dict[tuple[int, int], list] = {}  # (locate, side) -> [sorted prices, {price: {ref: None}}]
        self._recs: list[_Rec] = []
        self._by_ref: dict[int, _Rec] = {}
        self._open: dict[tuple[int, int], list[_Rec]] = {}  # (locate, side) -> resting orders, priority order
        self._n_open = 0
        self._last_user_ref = 0
        self._symbols: dict[bytes, int] = {}
        self._fills: list[Fill] = []
        self._pos: dict[int, list[int]] = {}  # locate -> [position, cash]
        self._arrival = 0
        self._order_ref = 0
        self._match = 0
        self._stats = dict.fromkeys(("feed_messages", "feed_book", "orders", "replaces", "cancels", "cancel_noops",
                                     "fills", "fills_added", "fills_removed", "fills_unrecorded", "rejects",
                                     "shares_bought", "shares_sold"), 0)
        self._rejects: dict[int, int] = {}

    # ------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Nothing to free in Python (the C matcher frees its pools)."""

    def __enter__(self) -> Exchange:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def reply_capacity(self) -> int:
        """The most bytes one call can return (the C side's buffer size)."""
        c = self.config
        return 68 + 18 + 29 + (c.max_sweep + c.max_open) * 36

    # ------------------------------------------------------------ the displayed book (mirror)
    def _level_add(self, locate: int, side: int, price: int, ref: int) -> None:
        lv = self._levels.get((locate, side))
        if lv is None:
            lv = self._levels[(locate, side)] = [[], {}]
        q = lv[1].get(price)
        if q is None:
            q = lv[1][price] = {}
            insort(lv[0], price)
        q[ref] = None

    def _level_remove(self, locate: int, side: int, price: int, ref: int) -> None:
        lv = self._levels[(locate, side)]
        q = lv[1][price]
        del q[ref]
        if not q:
            del lv[1][price]
            lv[0].remove(price)

    def _queue(self, locate: int, side: int, price: int) -> list[int]:
        lv = self._levels.get((locate, side))
        if lv is None:
            return []
        q = lv[1].get(price)
        return list(q) if q else []

    def _best_prices(self, locate: int, side: int, n: int) -> list[int]:
        lv = self._levels.get((locate, side))
        if lv is None:
            return []
        prices = lv[0]
        return prices[::-1][:n] if side == _B else prices[:n]

    # ------------------------------------------------------------ directory
    def add_symbol(self, locate: int, stock: str | bytes) -> None:
        """A symbol, as an ITCH Stock Directory does."""
        key = ouch.symbol(stock)
        self._book.add_symbol(locate, key.decode("ascii"))
        self._set_symbol(locate, key)

    def _set_symbol(self, locate: int, key: bytes) -> None:
        if key not in self._symbols and len(self._symbols) >= self.config.max_instruments:
            raise errors.book_full("symbol table", self.config.max_instruments)
        self._symbols[key] = locate

    # ------------------------------------------------------------ open lists
    def _open_insert(self, r: _Rec) -> None:
        lst = self._open.setdefault((r.locate, r.side), [])
        i = 0
        for i, c in enumerate(lst):  # noqa: B007
            if _better(r.side, r.price, c.price) or (r.price == c.price and r.arrival < c.arrival):
                break
        else:
            i = len(lst)
        lst.insert(i, r)
        r.listed = True
        self._n_open += 1

    def _open_remove(self, r: _Rec) -> None:
        lst = self._open[(r.locate, r.side)]
        for i, c in enumerate(lst):
            if c is r:
                del lst[i]
                break
        r.listed = False
        self._n_open -= 1

    def _open_swap(self, r: _Rec, n: _Rec) -> None:
        lst = self._open[(r.locate, r.side)]
        for i, c in enumerate(lst):
            if c is r:
                lst[i] = n
                break
        n.arrival = r.arrival
        n.listed, r.listed = True, False

    # ------------------------------------------------------------ replies
    def _reject(self, out: list, ts: int, user_ref: int, reason: int, cl_ord_id: bytes) -> None:
        out.append(ouch.encode(ouch.OrderRejected(ts, user_ref, reason, cl_ord_id)))
        self._stats["rejects"] += 1
        self._rejects[reason] = self._rejects.get(reason, 0) + 1

    def _accepted(self, out: list, t: bytes, ts: int, r: _Rec) -> None:
        common = (bytes((r.side,)), r.qty, r.symbol, r.price, bytes((r.tif,)), bytes((r.display,)), r.order_ref,
                  bytes((r.capacity,)), b"N", bytes((r.cross,)), ouch.STATE_LIVE, r.cl_ord_id)
        if t == b"A":
            out.append(ouch.encode(ouch.OrderAccepted(ts, r.user_ref, *common)))
        else:
            out.append(ouch.encode(ouch.OrderReplaced(ts, r.orig_user_ref, r.user_ref, *common)))

    def _fill(self, out: list, r: _Rec, qty: int, price: int, liq: bytes, ts: int) -> None:
        r.leaves -= qty
        r.filled += qty
        self._match += 1
        out.append(ouch.encode(ouch.OrderExecuted(ts, r.user_ref, qty, price, liq, self._match)))
        st = self._stats
        if len(self._fills) < self.config.max_fills:
            self._fills.append(Fill(self._match, ts, r.user_ref, r.locate, bytes((r.side,)), qty, price, liq))
        else:
            st["fills_unrecorded"] += 1
        p = self._pos.setdefault(r.locate, [0, 0])
        if r.side == _B:
            p[0] += qty
            p[1] -= qty * price
            st["shares_bought"] += qty
        else:
            p[0] -= qty
            p[1] += qty * price
            st["shares_sold"] += qty
        st["fills"] += 1
        st["fills_added" if liq == ouch.LIQ_ADDED else "fills_removed"] += 1
        if r.leaves == 0:
            if r.listed:
                self._open_remove(r)
            r.state = FILLED
            r.shares_ahead = 0

    # ------------------------------------------------------------ queue position
    def _ahead_shrink(self, locate: int, side: int, price: int, arrival: int, d: int) -> None:
        if d == 0:
            return
        for o in self._open.get((locate, side), ()):
            if _better(side, price, o.price):
                break
            if o.price == price and o.arrival > arrival:
                o.shares_ahead = o.shares_ahead - d if o.shares_ahead > d else 0

    def _level_available(self, locate: int, side: int, price: int) -> int:
        fo = self._fo
        total = sum(fo[ref][3] - fo[ref][4] for ref in self._queue(locate, side, price))
        return min(total, 0xFFFFFFFF)

    # ------------------------------------------------------------ taking liquidity
    def _sweep(self, out: list, r: _Rec, ts: int) -> None:
        opp = _other(r.side)
        max_sweep = self.config.max_sweep
        taken_orders = 0
        fo = self._fo
        for price in self._best_prices(r.locate, opp, max_sweep):
            if r.leaves == 0 or taken_orders >= max_sweep:
                break
            if not _crosses(r.side, r.price, price):
                break
            for ref in self._queue(r.locate, opp, price):
                if r.leaves == 0 or taken_orders >= max_sweep:
                    break
                f = fo[ref]
                avail = f[3] - f[4]
                if avail == 0:
                    continue
                t = min(avail, r.leaves)
                f[4] += t
                taken_orders += 1
                self._ahead_shrink(r.locate, opp, price, f[5], t)
                self._fill(out, r, t, price, ouch.LIQ_REMOVED, ts)

    def _rest_or_cancel(self, out: list, r: _Rec, ts: int) -> None:
        if r.leaves == 0:
            return
        if r.tif == ouch.TIF_IOC[0]:
            n = r.leaves
            r.canceled += n
            r.leaves = 0
            r.state = CANCELED
            out.append(ouch.encode(ouch.OrderCanceled(ts, r.user_ref, n, ouch.CANCEL_IOC)))
            return
        r.shares_ahead = self._level_available(r.locate, r.side, r.price)
        self._arrival += 1
        r.arrival = self._arrival
        self._open_insert(r)

    # ------------------------------------------------------------ feed events
    def _feed_added(self, out: list, locate: int, ref: int, side: int, shares: int, price: int, ts: int) -> None:
        self._arrival += 1
        arrival = self._arrival
        left = shares
        cs = _other(side)
        for o in list(self._open.get((locate, cs), ())):
            if left == 0 or not _crosses(cs, o.price, price):
                break
            f = min(left, o.leaves)
            left -= f
            self._fill(out, o, f, o.price, ouch.LIQ_ADDED, ts)
        self._fo[ref] = [locate, side, price, shares, shares - left, arrival]
        self._level_add(locate, side, price, ref)

    def _feed_executed(self, out: list, ref: int, rec: list, n: int, ts: int) -> None:
        locate, side, price, rem, t, arrival = rec
        k = min(n, t)
        d = n - k
        if rem == n:
            del self._fo[ref]
            self._level_remove(locate, side, price, ref)
        else:
            rec[3] = rem - n
            rec[4] = t - k
        left = n
        for o in list(self._open.get((locate, side), ())):
            if _better(side, price, o.price):
                break
            if _better(side, o.price, price) or (o.price == price and o.arrival < arrival):
                if left > 0:
                    f = min(left, o.leaves)
                    left -= f
                    self._fill(out, o, f, o.price, ouch.LIQ_ADDED, ts)
            elif d > 0:
                o.shares_ahead = o.shares_ahead - d if o.shares_ahead > d else 0

    def _feed_reduced(self, ref: int, rec: list, n: int) -> None:
        locate, side, price, rem, t, arrival = rec
        rem2 = rem - n
        t2 = min(t, rem2)
        d = (rem - t) - (rem2 - t2)
        if rem2 == 0:
            del self._fo[ref]
            self._level_remove(locate, side, price, ref)
        else:
            rec[3] = rem2
            rec[4] = t2
        self._ahead_shrink(locate, side, price, arrival, d)

    def on_feed(self, msg) -> list[bytes]:
        """Apply one unframed ITCH 5.0 message (S R A F E C X D U); the OUCH
        replies it causes (Order Executed for client orders it fills, stamped
        with the ITCH message's timestamp)."""
        body = bytes(msg)
        pre = None
        if body:
            t = body[0]
            if t in b"ECXDU" and len(body) == itch.MESSAGE_SIZES[t]:
                pre = self._fo.get(_REF(body, 0)[0])
        is_update = self._book.apply(body)  # validates everything, raises before any change
        t = body[0]
        st = self._stats
        if t == ord("R"):
            locate, stock = _R(body, 0)
            self._set_symbol(locate, stock)
        st["feed_messages"] += 1
        if not is_update:
            return []
        st["feed_book"] += 1
        hi, lo = _TS(body, 0)
        ts = hi << 32 | lo
        out: list[bytes] = []
        if t == 65 or t == 70:  # A F
            locate, ref, side, shares, price = _A(body, 0)
            self._feed_added(out, locate, ref, side[0], shares, price, ts)
        elif t == 69 or t == 67:  # E C
            ref, shares = _REF_SHARES(body, 0)
            self._feed_executed(out, ref, pre, shares, ts)
        elif t == 88:  # X
            ref, shares = _REF_SHARES(body, 0)
            self._feed_reduced(ref, pre, shares)
        elif t == 68:  # D
            ref = _REF(body, 0)[0]
            self._feed_reduced(ref, pre, pre[3])
        elif t == 85:  # U
            ref, new_ref, shares, price = _U(body, 0)
            locate, side = pre[0], pre[1]
            self._feed_reduced(ref, pre, pre[3])
            self._feed_added(out, locate, new_ref, side, shares, price, ts)
        return out

    # ------------------------------------------------------------ client orders
    def _new_record(self, user_ref: int, now_ns: int) -> _Rec:
        r = _Rec()
        r.user_ref = user_ref
        r.orig_user_ref = r.replaced_by = 0
        self._order_ref += 1
        r.order_ref = self._order_ref
        r.accepted_ns = now_ns
        r.filled = r.canceled = r.shares_ahead = 0
        r.state = LIVE
        r.arrival = 0
        r.listed = False
        self._recs.append(r)
        self._by_ref[user_ref] = r
        return r

    def _on_enter(self, out: list, m: ouch.EnterOrder, ts: int) -> None:
        if m.user_ref <= self._last_user_ref:
            return self._reject(out, ts, m.user_ref, ouch.REJ_OTHER, m.cl_ord_id)
        self._last_user_ref = m.user_ref
        if m.side != b"B" and m.side != b"S":
            return self._reject(out, ts, m.user_ref, ouch.REJ_INVALID_SIDE, m.cl_ord_id)
        c = self.config
        locate = 0
        why = 0
        if m.qty == 0:
            why = ouch.REJ_INVALID_QUANTITY
        elif m.qty > c.max_qty:
            why = ouch.REJ_SHARES_EXCEED_THRESHOLD
        elif (locate := self._symbols.get(m.symbol, 0)) == 0:
            why = ouch.REJ_INVALID_SYMBOL
        elif m.price == 0 or m.price > ouch.U32_MAX:
            why = ouch.REJ_INVALID_PRICE
        elif m.tif not in (ouch.TIF_DAY, ouch.TIF_IOC):
            why = ouch.REJ_OTHER
        elif len(self._recs) >= c.max_orders or self._n_open >= c.max_open:
            why = ouch.REJ_PROCESSING_ERROR
        if why:
            return self._reject(out, ts, m.user_ref, why, m.cl_ord_id)
        r = self._new_record(m.user_ref, ts)
        r.price = m.price
        r.qty = r.leaves = m.qty
        r.locate = locate
        r.side = m.side[0]
        r.tif = m.tif[0]
        r.capacity, r.cross, r.display = m.capacity[0], m.cross[0], m.display[0]
        r.symbol, r.cl_ord_id = m.symbol, m.cl_ord_id
        self._stats["orders"] += 1
        self._accepted(out, b"A", ts, r)
        self._sweep(out, r, ts)
        self._rest_or_cancel(out, r, ts)
        return None

    def _on_replace(self, out: list, m: ouch.ReplaceOrder, ts: int) -> None:
        if m.user_ref <= self._last_user_ref:
            return self._reject(out, ts, m.user_ref, ouch.REJ_OTHER, m.cl_ord_id)
        self._last_user_ref = m.user_ref
        g = self._by_ref.get(m.orig_user_ref)
        c = self.config
        why = 0
        if g is None or g.state != LIVE:
            why = ouch.REJ_REPLACE_NOT_ALLOWED
        elif m.qty == 0:
            why = ouch.REJ_INVALID_QUANTITY
        elif m.qty > c.max_qty:
            why = ouch.REJ_SHARES_EXCEED_THRESHOLD
        elif m.price == 0 or m.price > ouch.U32_MAX:
            why = ouch.REJ_INVALID_PRICE
        elif m.tif not in (ouch.TIF_DAY, ouch.TIF_IOC):
            why = ouch.REJ_OTHER
        elif len(self._recs) >= c.max_orders:
            why = ouch.REJ_PROCESSING_ERROR
        if why:
            return self._reject(out, ts, m.user_ref, why, m.cl_ord_id)
        r = self._new_record(m.user_ref, ts)
        r.orig_user_ref = g.user_ref
        r.price = m.price
        r.qty = r.leaves = m.qty
        r.locate, r.side = g.locate, g.side
        r.tif = m.tif[0]
        r.capacity, r.cross, r.display = g.capacity, g.cross, m.display[0]
        r.symbol, r.cl_ord_id = g.symbol, m.cl_ord_id
        # priority is kept only if the change cannot hurt the orders behind: same price, no more shares
        keep = m.price == g.price and m.qty <= g.leaves and m.tif == ouch.TIF_DAY
        g.canceled += g.leaves
        g.leaves = 0
        g.state = REPLACED
        g.replaced_by = r.user_ref
        self._stats["replaces"] += 1
        self._accepted(out, b"U", ts, r)
        if keep:
            r.shares_ahead = g.shares_ahead
            self._open_swap(g, r)
        else:
            self._open_remove(g)
            self._sweep(out, r, ts)
            self._rest_or_cancel(out, r, ts)
        g.shares_ahead = 0
        return None

    def _on_cancel(self, out: list, m: ouch.CancelOrder, ts: int) -> None:
        r = self._by_ref.get(m.user_ref)
        if r is None or r.state != LIVE:
            return self._reject(out, ts, m.user_ref, ouch.REJ_CANCEL_NOT_ALLOWED,
                                _PAD14 if r is None else r.cl_ord_id)
        if m.qty >= r.leaves:
            self._stats["cancel_noops"] += 1
            return None
        dec = r.leaves - m.qty
        r.leaves = m.qty
        r.canceled += dec
        self._stats["cancels"] += 1
        if r.leaves == 0:
            self._open_remove(r)
            r.state = CANCELED
            r.shares_ahead = 0
        out.append(ouch.encode(ouch.OrderCanceled(ts, r.user_ref, dec, ouch.CANCEL_USER)))
        return None

    def on_order(self, msg, now_ns: int) -> list[bytes]:
        """One inbound OUCH message (bytes, or a pyimpl.ouch message) arriving
        at now_ns; the replies (their timestamp is now_ns).  OuchError for
        bytes that are not an inbound OUCH message."""
        if not isinstance(now_ns, int) or not 0 <= now_ns < 1 << 64:
            raise ValueError(f"now_ns must be an integer in 0..2**64-1, got {now_ns!r}")
        m = ouch.decode_in(ouch.encode(msg) if isinstance(msg, tuple) else msg)
        out: list[bytes] = []
        if isinstance(m, ouch.EnterOrder):
            self._on_enter(out, m, now_ns)
        elif isinstance(m, ouch.ReplaceOrder):
            self._on_replace(out, m, now_ns)
        else:
            self._on_cancel(out, m, now_ns)
        return out

    # ------------------------------------------------------------ records, queries
    def orders(self) -> list[Order]:
        """Every client order accepted, in the order they were (replacements included)."""
        return [r.public() for r in self._recs]

    def order(self, user_ref: int) -> Order | None:
        r = self._by_ref.get(user_ref)
        return None if r is None else r.public()

    def fills(self) -> list[Fill]:
        return list(self._fills)

    def position(self, locate: int) -> tuple[int, int]:
        """(net position in shares, cash in 1/10000 $) of one instrument."""
        p = self._pos.get(locate)
        return (0, 0) if p is None else (p[0], p[1])

    def positions(self) -> list[Position]:
        return [Position(loc, *self._pos[loc]) for loc in sorted(self._pos)]

    def taken(self, ref: int) -> int | None:
        """Shares of resting feed order `ref` the client took; None if it is not resting."""
        f = self._fo.get(ref)
        return None if f is None else f[4]

    def best(self, locate: int):
        """The displayed book's ((bid, shares) | None, (ask, shares) | None)."""
        return self._book.best(locate)

    def depth(self, locate: int, n: int = 10):
        return self._book.depth(locate, n)

    def stats(self) -> dict[str, int]:
        return {**self._stats, "open": self._n_open}

    def rejects(self) -> dict[int, int]:
        """Rejects by OUCH reason code."""
        return dict(sorted(self._rejects.items()))

    def check(self) -> int:
        """0 if the records are consistent (the C side's ll_exch_check), else a negative number."""
        open_ = 0
        for r in self._recs:
            if r.filled + r.canceled + r.leaves != r.qty:
                return -1
            if (r.state == LIVE) != (r.leaves > 0):
                return -2
            open_ += r.state == LIVE
        if open_ != self._n_open or open_ != sum(len(v) for v in self._open.values()):
            return -4
        if not self._stats["fills_unrecorded"]:
            pos = sum(f.qty if f.side == b"B" else -f.qty for f in self._fills)
            if pos != sum(p[0] for p in self._pos.values()):
                return -10
        return 0
