"""Lab 5, C: ctypes bindings to liborder_book.so (cimpl/order_book.c).

The same API as `pyimpl.order_book.Book`, whose semantics are the reference:
the same updates accepted, the same exceptions with the same words for the
rest, the same queries.  Each update is one ctypes call (~0.3 us of call
overhead, much more than the update itself); `apply_stream` hands the whole
framed buffer to C, which decodes and applies every message in its own loop.

Beyond pyimpl's API, for the benchmarks and the guide:
- `apply_batch(buf, offset, n)`: at most n frames per call (Python calling C
  per batch), returns the offset to continue from;
- `apply_stream_timed(buf)`: apply_stream that returns each frame's decode +
  update time in ns instead, timed inside C (for an HdrHistogram); the counts
  go to `timed_stats`;
- `queue(locate, side, price)`: the refs at one level, oldest first (the C
  book keeps each level's FIFO; pyimpl's does not);
- `stat(name)`, `check()`: C's counters and its invariant check.

The C book stores prices and shares as u32 and refs as u64 (ITCH's widths):
values outside those ranges, which pyimpl's book would take, raise
ValueError where they would have to be stored.  Symbols are kept as ITCH's 8
ASCII bytes.  A Book is not thread-safe (neither is pyimpl's).
"""

from __future__ import annotations

import ctypes
from ctypes import (
    POINTER,
    Structure,
    c_char_p,
    c_int,
    c_int64,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)

import numpy as np

from pyimpl import errors
from pyimpl.itch import MESSAGE_SIZES, ItchError, UnknownMessage, _type_name
from pyimpl.order_book import price_str

from . import _lib

__all__ = ["MAX_INSTRUMENTS", "MAX_ORDERS", "Book", "layout_info", "message_size"]

MAX_ORDERS = 1 << 30  # pyimpl.order_book's limits (C's LL_BOOK_MAX_*; a test checks both)
MAX_INSTRUMENTS = 65535
_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF
_SIDE_BYTES = {"B": 66, "S": 83, b"B": 66, b"S": 83}
_DEPTH_BUF = 64  # levels per side a query reads without asking C how many there are


class _Err(Structure):  # ll_book_err
    _fields_ = [("code", c_int64), ("ref", c_uint64), ("offset", c_uint64), ("capacity", c_uint64),
                ("shares", c_uint32), ("left", c_uint32), ("locate", c_uint32),
                ("side", c_uint8), ("what", c_uint8), ("type", c_uint8), ("pad_", c_uint8)]


class _Stats(Structure):  # ll_book_stats
    _fields_ = [("messages", c_uint64), ("book", c_uint64), ("other", c_uint64), ("rejected", c_uint64),
                ("truncated", c_uint64), ("end", c_uint64), ("skipped", c_uint64 * 257)]


def _sig(name: str, restype, *argtypes):
    return _lib.bind("order_book", name, restype, *argtypes)


_create = _sig("ll_book_create", c_void_p, c_uint64, c_uint64, POINTER(c_int))
_destroy = _sig("ll_book_destroy", None, c_void_p)
_prefault = _sig("ll_book_prefault", c_int, c_void_p, c_int)
_add_symbol = _sig("ll_book_add_symbol", c_int, c_void_p, c_uint32, c_char_p)
_symbols = _sig("ll_book_symbols", c_uint32, c_void_p, c_void_p, c_void_p, c_uint32)
# the updates take the ll_book_err as a raw address (an int cached per Book): no byref() per call
_add = _sig("ll_book_add", c_int, c_void_p, c_uint32, c_uint64, c_uint8, c_uint32, c_uint32, c_void_p)
_execute = _sig("ll_book_execute", c_int64, c_void_p, c_uint64, c_uint32, c_void_p)
_cancel = _sig("ll_book_cancel", c_int64, c_void_p, c_uint64, c_uint32, c_void_p)
_delete = _sig("ll_book_delete", c_int, c_void_p, c_uint64, c_void_p)
_replace = _sig("ll_book_replace", c_int, c_void_p, c_uint64, c_uint64, c_uint32, c_uint32, c_void_p)
_apply = _sig("ll_book_apply", c_int, c_void_p, c_void_p, c_uint64, c_void_p)
_apply_stream = _sig("ll_book_apply_stream", c_int64, c_void_p, c_void_p, c_uint64, c_int, c_void_p, c_void_p)
_apply_frames = _sig("ll_book_apply_frames", c_int64, c_void_p, c_void_p, c_uint64, c_uint64, c_uint64, c_int,
                     c_void_p, c_void_p)
_apply_timed = _sig("ll_book_apply_stream_timed", c_int64, c_void_p, c_void_p, c_uint64, c_uint64, c_int,
                    c_void_p, c_void_p, c_void_p, c_uint64)
_best = _sig("ll_book_best", c_int, c_void_p, c_uint32, c_void_p)
_depth = _sig("ll_book_depth", c_int64, c_void_p, c_uint32, c_uint32, c_void_p, c_void_p)
_level_count = _sig("ll_book_level_count", c_int64, c_void_p, c_uint32)
_order = _sig("ll_book_order", c_int, c_void_p, c_uint64, c_void_p)
_queue = _sig("ll_book_queue", c_int64, c_void_p, c_uint32, c_uint8, c_uint32, c_void_p, c_uint64)
_count = _sig("ll_book_count", c_uint64, c_void_p)
_instruments = _sig("ll_book_instruments", c_uint32, c_void_p, c_void_p, c_uint32)
_stat = _sig("ll_book_stat", c_int64, c_void_p, c_char_p)
_check = _sig("ll_book_check", c_int64, c_void_p)
_home_slot = _sig("ll_book_home_slot", c_uint64, c_void_p, c_uint64)
message_size = _sig("ll_book_message_size", c_uint32, c_uint32)
layout_info = _sig("ll_book_layout_info", c_int64, c_char_p)

_FULL = {1: ("order pool", "max_orders"), 2: ("instrument table", "max_instruments")}


def _layout_disagreements() -> list[str]:
    """What liborder_book.so and this module (and pyimpl.itch) lay out
    differently: the error and stats structs, the ITCH message sizes, the
    capacities.  Checked at import: a library that disagrees must not be used."""
    bad = [f"sizeof {n}" for n, st, key in (("ll_book_err", _Err, b"sizeof_err"),
                                            ("ll_book_stats", _Stats, b"sizeof_stats"))
           if ctypes.sizeof(st) != layout_info(key)]
    bad += [f"ll_book_err.{f}" for f in ("code", "ref", "offset", "capacity", "shares", "left", "locate", "side",
                                         "what", "type") if getattr(_Err, f).offset != layout_info(f"err.{f}".encode())]
    bad += [f"ll_book_stats.{f}" for f in ("rejected", "end", "skipped")
            if getattr(_Stats, f).offset != layout_info(f"stats.{f}".encode())]
    bad += [f"the size of {chr(t)!r} messages" for t in range(256) if message_size(t) != MESSAGE_SIZES.get(t, 0)]
    if (layout_info(b"max_orders"), layout_info(b"max_instruments")) != (MAX_ORDERS, MAX_INSTRUMENTS):
        bad.append("the capacities")
    return bad


if _layout_disagreements():
    raise ImportError(f"liborder_book.so disagrees with cimpl/order_book.py and pyimpl.itch on "
                      f"{', '.join(_layout_disagreements()[:5])} (rebuild it)")


def _closed() -> ValueError:
    return ValueError("the order book is closed")


def _too_wide(what: str, value: object, limit: int) -> ValueError:
    return ValueError(f"{what} {value!r} out of range for the C book (0..{limit})")


def _address(buf) -> tuple[object, int, int]:
    """(an object to keep alive, its data's address, its length) for any
    contiguous bytes-like object; bytes pass as they are (ctypes takes their
    address without a copy)."""
    if isinstance(buf, bytes):
        return buf, buf, len(buf)
    arr = np.frombuffer(buf, dtype=np.uint8)
    return arr, arr.ctypes.data, arr.size


class Book(_lib.Owned):
    """The books of every instrument of one ITCH stream, keyed by stock
    locate; the book itself lives in C (cimpl/order_book.c)."""

    _free, _what = _destroy, "order book"

    def __init__(self, max_orders: int = 1 << 22, max_instruments: int = 16384) -> None:
        self._h = None
        if not isinstance(max_orders, int) or not 0 < max_orders <= MAX_ORDERS:
            raise ValueError(f"max_orders must be in 1..{MAX_ORDERS}, got {max_orders!r}")
        if not isinstance(max_instruments, int) or not 0 < max_instruments <= MAX_INSTRUMENTS:
            raise ValueError(f"max_instruments must be in 1..{MAX_INSTRUMENTS}, got {max_instruments!r}")
        self.max_orders, self.max_instruments = max_orders, max_instruments
        err = c_int(0)
        h = _create(max_orders, max_instruments, ctypes.byref(err))
        if not h:
            if err.value == _lib.LL_ENORES:
                raise MemoryError(f"cannot allocate an order book for {max_orders} orders")
            raise _lib.error(err.value, "order book")
        self._h = h
        self._err = _Err()
        self._errp = ctypes.addressof(self._err)
        self._out4 = (c_uint64 * 4)()
        self._out4p = ctypes.addressof(self._out4)
        self._dbuf = (c_uint64 * (6 * _DEPTH_BUF))()
        self._dbufp = ctypes.addressof(self._dbuf)
        self._batch_stats = _Stats()
        self._batch_statsp = ctypes.addressof(self._batch_stats)

    # ------------------------------------------------------------ errors
    def _book_error(self, rc: int, side=None, locate=None) -> Exception:
        """The exception for a rejected update, from C's ll_book_err (the
        binding's own arguments where it has them: a str side, a locate out of
        the u16 range)."""
        e = self._err
        if rc == _lib.LL_ENOORDER:
            return errors.unknown_order(e.ref)
        if rc == _lib.LL_EDUPORDER:
            return errors.duplicate_order(e.ref)
        if rc == _lib.LL_EZEROSHARES:
            return errors.zero_shares(e.ref)
        if rc == _lib.LL_EOVERFILL:
            return errors.overfill(e.ref, e.shares, e.left)
        if rc == _lib.LL_EBADSIDE:
            return errors.bad_side(bytes([e.side]) if side is None else side)
        if rc == _lib.LL_EBADLOCATE:
            return errors.bad_locate(e.locate if locate is None else locate)
        if rc == _lib.LL_EBOOKFULL:
            what, attr = _FULL[e.what]
            return errors.book_full(what, getattr(self, attr))
        if rc == _lib.LL_ENORES:
            return MemoryError("the C book could not grow a price-level array")
        return _lib.error(rc, "order book")

    def _message_error(self, rc: int, body) -> Exception:
        """apply()'s exception: pyimpl.order_book.Book.apply's words."""
        if rc == _lib.LL_ETRUNCATED:
            return ItchError("truncated message at offset 0: no bytes left (the buffer has 0)")
        t = body[0] if len(body) else 0
        if rc == _lib.LL_EUNKNOWNMSG:
            return UnknownMessage(f"unknown message type {_type_name(t)} at offset 0", 0, t)
        if rc == _lib.LL_EBADFRAME:
            return ItchError(f"{_type_name(t)} message of {len(body)} bytes at offset 0: "
                             f"the type has {MESSAGE_SIZES[t]}")
        return self._book_error(rc)

    def _stream_error(self, rc: int, buf, n: int) -> Exception:
        """apply_stream()'s exception: pyimpl.order_book.Book.apply_stream's words."""
        e = self._err
        pos = e.offset
        head = bytes(buf[pos:pos + 3])  # the frame's length prefix and type byte (what there is of them)
        if rc == _lib.LL_ETRUNCATED:
            if e.what == 1:  # LL_BOOK_TRUNC_PREFIX
                return ItchError(f"truncated frame at offset {pos}: {n - pos} byte(s), a length needs 2")
            length = head[0] << 8 | head[1]
            return ItchError(f"truncated frame at offset {pos}: its length says {length} bytes, "
                             f"{n - pos - 2} left")
        if rc == _lib.LL_EBADFRAME:
            length = head[0] << 8 | head[1]
            return ItchError(f"{_type_name(e.type)} frame at offset {pos} is {length} bytes: "
                             f"the type has {MESSAGE_SIZES[e.type]}")
        exc = self._book_error(rc)
        exc.add_note(f"(the {_type_name(head[2])} message in the frame at offset {pos})")
        return exc

    # ------------------------------------------------------------ directory
    def add_symbol(self, locate: int, symbol: str) -> None:
        h = self._handle()
        if not isinstance(locate, int) or not 0 < locate <= 65535:
            raise errors.bad_locate(locate)
        name = symbol.strip()
        if not name.isascii() or len(name) > 8:
            raise ValueError(f"symbol {symbol!r}: the C book keeps up to 8 ASCII characters (ITCH's Alpha(8))")
        _lib.check(_add_symbol(h, locate, name.encode("ascii").ljust(8)), f"stock locate {locate}")

    @property
    def symbols(self) -> dict[int, str]:
        h = self._handle()
        n = _symbols(h, None, None, 0)
        locates = (c_uint16 * n)()
        stocks = ctypes.create_string_buffer(8 * n)
        _symbols(h, locates, stocks, n)
        raw = stocks.raw
        return {loc: raw[8 * i:8 * i + 8].decode("ascii", "replace").strip() for i, loc in enumerate(locates)}

    # ------------------------------------------------------------ updates
    def add(self, locate: int, ref: int, side: str, shares: int, price: int) -> None:
        """A new order resting on `side` ("B" or "S") of instrument `locate`."""
        h = self._h
        if h is None:
            raise _closed()
        s = _SIDE_BYTES.get(side)
        if s is None:
            raise errors.bad_side(side)
        if shares <= 0:
            raise errors.zero_shares(ref)
        if shares > _U32 or not 0 <= price <= _U32 or not 0 <= ref <= _U64:
            self._too_wide_add(ref, shares, price)
        # a locate outside u16 goes in as 0: C rejects it at the same point pyimpl does
        rc = _add(h, locate if type(locate) is int and 0 <= locate <= 65535 else 0, ref, s, shares, price,
                  self._errp)
        if rc:
            raise self._book_error(rc, side, locate)

    @staticmethod
    def _too_wide_add(ref: int, shares: int, price: int):
        if not 0 <= ref <= _U64:
            raise _too_wide("order ref", ref, _U64)
        if shares > _U32:
            raise _too_wide("shares", shares, _U32)
        raise _too_wide("price", price, _U32)

    def _take(self, fn, ref: int, shares: int) -> int:
        h = self._h
        if h is None:
            raise _closed()
        if not 0 <= ref <= _U64:
            raise errors.unknown_order(ref)
        if shares > _U32:  # more than any order can hold: an overfill if the order exists
            o = self.order(ref)
            if o is None:
                raise errors.unknown_order(ref)
            raise errors.overfill(ref, shares, o[2])
        left = fn(h, ref, max(0, shares), self._errp)
        if left < 0:
            raise self._book_error(left)
        return left

    def execute(self, ref: int, shares: int) -> int:
        """`shares` of resting order `ref` traded; the shares left (0: gone)."""
        return self._take(_execute, ref, shares)

    def cancel(self, ref: int, shares: int) -> int:
        """`shares` of order `ref` cancelled; the shares left (0: gone)."""
        return self._take(_cancel, ref, shares)

    def delete(self, ref: int) -> None:
        h = self._h
        if h is None:
            raise _closed()
        if not 0 <= ref <= _U64:
            raise errors.unknown_order(ref)
        rc = _delete(h, ref, self._errp)
        if rc:
            raise self._book_error(rc)

    def replace(self, ref: int, new_ref: int, shares: int, price: int) -> None:
        """Order `ref` becomes `new_ref` with new shares and price, on the same
        side of the same instrument, at the back of its new level's queue."""
        h = self._h
        if h is None:
            raise _closed()
        if not 0 <= ref <= _U64:
            raise errors.unknown_order(ref)
        if not 0 <= new_ref <= _U64 or shares > _U32 or not 0 <= price <= _U32:
            # pyimpl's checks first (unknown, duplicate, zero), then what C cannot store
            if self.order(ref) is None:
                raise errors.unknown_order(ref)
            if new_ref == ref:
                raise errors.duplicate_order(new_ref)
            if shares <= 0:
                raise errors.zero_shares(new_ref)
            self._too_wide_add(new_ref, shares, price)
        rc = _replace(h, ref, new_ref, max(0, shares), price, self._errp)
        if rc:
            raise self._book_error(rc)

    # ------------------------------------------------------------ ITCH
    def apply(self, body) -> bool:
        """Apply one ITCH 5.0 message (type byte first, no length prefix, exactly
        its type's size); True if it was a book update.  S is ignored, R fills
        the directory (both: False), other types raise UnknownMessage."""
        h = self._h
        if h is None:
            raise _closed()
        if type(body) is not bytes:
            body = bytes(body)
        rc = _apply(h, body, len(body), self._errp)
        if rc < 0:
            raise self._message_error(rc, body)
        return rc > 0

    @staticmethod
    def _stats_dict(st: _Stats) -> dict:
        # the 257 counters as one NumPy view: walking the ctypes array item by
        # item costs ~25 us, more than applying a batch of 1024 messages
        counts = np.frombuffer(st.skipped, dtype=np.uint64)
        skipped = {("" if t == 256 else chr(t)): int(counts[t]) for t in np.flatnonzero(counts).tolist()}
        return {"messages": st.messages, "book": st.book, "other": st.other, "skipped": skipped,
                "rejected": st.rejected, "truncated": st.truncated}

    def apply_stream(self, buf, lenient: bool = False) -> dict:
        """Apply a framed ITCH 5.0 buffer (2-byte big-endian length before each
        message), all of it in one C call.  Unknown types are skipped and
        counted; a rejected book message raises BookError (lenient: counted);
        a truncated or malformed frame raises ItchError (lenient: "truncated"
        is 1 and the rest is ignored).

        Returns {"messages", "book", "other", "skipped": {type: n}, "rejected", "truncated"}."""
        h = self._handle()
        keep, addr, n = _address(buf)
        st = _Stats()
        rc = _apply_stream(h, addr, n, int(bool(lenient)), ctypes.addressof(st), self._errp)
        if rc < 0:
            raise self._stream_error(rc, keep, n)
        return self._stats_dict(st)

    def apply_batch(self, buf, offset: int = 0, n: int = 1024) -> int:
        """Apply at most n frames of a framed buffer from `offset` (one C call:
        "Python calling C per batch"); returns the offset to continue from
        (len(buf) at the end).  Strict: errors as apply_stream's."""
        h = self._handle()
        keep, addr, size = _address(buf)
        if not 0 <= offset <= size:
            raise ValueError(f"offset {offset!r} out of range 0..{size}")
        if n <= 0:
            raise ValueError(f"n must be >= 1, got {n!r}")
        st = self._batch_stats
        rc = _apply_frames(h, addr, size, offset, n, 0, self._batch_statsp, self._errp)
        if rc < 0:
            raise self._stream_error(rc, keep, size)
        return st.end

    def apply_stream_timed(self, buf, lenient: bool = False) -> np.ndarray:
        """apply_stream that also times each frame in C: an int64 array of ns
        per frame, in stream order (apply_stream's counts go to
        `self.timed_stats`).  Each time covers one frame's framing, decode and
        update plus one clock read (ll_now_ns: clock_gettime(CLOCK_MONOTONIC)
        through the vDSO, ~16 ns here): the reads also keep consecutive
        messages' cache misses from overlapping, so the sum of the times is
        more than apply_stream's elapsed time."""
        h = self._handle()
        keep, addr, n = _address(buf)
        st = _Stats()
        chunks = []
        pos = 0
        while True:
            room = max(1024, (n - pos) // 16 + 16)  # frames of known types are >= 14 bytes
            ns = np.empty(room, dtype=np.int64)
            rc = _apply_timed(h, addr, n, pos, int(bool(lenient)), ctypes.addressof(st), self._errp,
                              ns.ctypes.data, room)
            if rc < 0:
                raise self._stream_error(rc, keep, n)
            chunks.append(ns[:rc])
            pos = st.end
            if pos >= n or st.truncated or rc < room:
                break
        self.timed_stats = self._stats_dict(st)
        return np.concatenate(chunks)

    # ------------------------------------------------------------ queries
    def best(self, locate: int) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
        """((best bid price, its shares) or None, (best ask price, shares) or None)."""
        h = self._handle()
        if not isinstance(locate, int) or not 0 < locate <= 65535:
            return None, None
        mask = _best(h, locate, self._out4p)
        o = self._out4
        return ((o[0], o[1]) if mask & 1 else None), ((o[2], o[3]) if mask & 2 else None)

    def depth(self, locate: int, n: int = 10) -> tuple[list, list]:
        """The top n levels of each side, best first: ([(price, shares, orders)], [...])."""
        h = self._handle()
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n!r}")
        if n == 0 or not isinstance(locate, int) or not 0 < locate <= 65535:
            return [], []
        if n <= _DEPTH_BUF:
            buf, bids, asks = self._dbuf, self._dbufp, self._dbufp + 3 * n * 8
        else:
            counts = _level_count(h, locate)
            n = min(n, max(counts & _U32, counts >> 32))
            buf = (c_uint64 * (6 * n))()
            bids = ctypes.addressof(buf)
            asks = bids + 3 * n * 8
        got = _depth(h, locate, n, bids, asks)
        nb, na = got & _U32, got >> 32
        b = buf[0:3 * nb]
        a = buf[3 * n:3 * n + 3 * na]
        return list(zip(b[0::3], b[1::3], b[2::3])), list(zip(a[0::3], a[1::3], a[2::3]))

    def order(self, ref: int) -> tuple[int, str, int, int] | None:
        """(locate, side, shares left, price) of a resting order, or None."""
        h = self._handle()
        if not isinstance(ref, int) or not 0 <= ref <= _U64 or not _order(h, ref, self._out4p):
            return None
        o = self._out4
        return o[0], "B" if o[1] == 66 else "S", o[2], o[3]

    def __len__(self) -> int:
        return _count(self._handle())

    def _instrument_locates(self) -> list[int]:
        h = self._handle()
        n = _instruments(h, None, 0)
        out = (c_uint16 * n)()
        _instruments(h, out, n)
        return list(out)

    def snapshot(self, n: int = 10) -> dict[str, dict]:
        """The top n levels of every instrument that has seen an order, keyed by
        its symbol (from the Stock Directory, else from its first ITCH add,
        else f"#{locate}"): {"bids": [[price
        in dollars as a decimal string, shares, orders], ...], "asks": [...]}."""
        symbols = self.symbols
        out = {}
        for locate in sorted(self._instrument_locates()):
            bids, asks = self.depth(locate, n)
            out[symbols.get(locate, f"#{locate}")] = {
                "bids": [[price_str(p), s, c] for p, s, c in bids],
                "asks": [[price_str(p), s, c] for p, s, c in asks]}
        return out

    # ------------------------------------------------------------ C only
    def queue(self, locate: int, side: str, price: int) -> list[int]:
        """The refs resting at one price level, oldest first (time priority:
        who a matching engine would fill first); [] for no such level."""
        h = self._handle()
        s = _SIDE_BYTES.get(side)
        if s is None:
            raise errors.bad_side(side)
        if not isinstance(locate, int) or not 0 < locate <= 65535 or not 0 <= price <= _U32:
            return []
        k = _queue(h, locate, s, price, None, 0)
        out = (c_uint64 * k)()
        _queue(h, locate, s, price, out, k)
        return list(out)

    def prefault(self, huge_pages: bool = False) -> None:
        """Back every page of the book's pools with memory now (C maps them
        lazily: at the default capacity 352 MiB, resident after this), so
        the first touch of a page is not a page fault in the stream.
        huge_pages: transparent huge pages first (MADV_HUGEPAGE)."""
        _lib.check(_prefault(self._handle(), int(bool(huge_pages))), "order book")

    def stat(self, name: str) -> int:
        """One of C's counters: orders, levels, instruments, symbols,
        max_orders, max_instruments, map_slots, orders_used, levels_used,
        level_growths, prefaulted (0 no, 1 yes, 2 with huge pages).  KeyError for another name."""
        v = _stat(self._handle(), name.encode("ascii"))
        if v < 0:
            raise KeyError(name)
        return v

    def check(self) -> None:
        """C's full invariant check (slow: it walks every order and map slot);
        AssertionError naming the failed line of cimpl/order_book.c."""
        rc = _check(self._handle())
        if rc != 0:
            raise AssertionError(f"order book invariant broken (cimpl/order_book.c line {-rc})")

    def home_slot(self, ref: int) -> int:
        """The hash map slot where `ref`'s probe starts (tests build collisions)."""
        return _home_slot(self._handle(), ref)
