"""Lab 7, C: ctypes bindings to the exchange's matcher in libtrading_system.so
(cimpl/exchange.c, API in cimpl/exchange.h).

The same API as `pyimpl.exchange.Exchange`, whose semantics are the
reference: the same replies, byte for byte and in the same order, the same
records, the same exceptions (pyimpl.ouch.OuchError for bytes that are not
an inbound OUCH message; the book's BookError / ItchError for an ITCH
message the book refuses).  Each event is one ctypes call; its replies come
back as one buffer of concatenated OUCH messages that this binding splits.

Also here, for the tests: `encode_c(msg)` / `decode_c(buf, inbound=...)`,
pyimpl.ouch's encode/decode done by cimpl/ouch.h's C codec (through
ll_exch_ouch_encode/decode), so the two codecs can be compared byte for byte.
An Exchange is not thread-safe (neither is pyimpl's).
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, Structure, c_char, c_char_p, c_int, c_int64, c_uint8, c_uint16, c_uint32, c_uint64, \
    c_void_p

from pyimpl import ouch
from pyimpl.exchange import DEFAULTS, Config, Fill, Order, Position

from . import _lib

__all__ = ["Exchange", "decode_c", "encode_c", "layout_info"]

_LAB = "trading_system"


class _Config(Structure):  # ll_exch_config
    _fields_ = [("max_feed_orders", c_uint64), ("max_instruments", c_uint32), ("max_orders", c_uint32),
                ("max_open", c_uint32), ("max_fills", c_uint32), ("max_qty", c_uint32), ("max_sweep", c_uint32)]


class _Order(Structure):  # ll_exch_order
    _fields_ = [("order_ref", c_uint64), ("accepted_ns", c_uint64), ("user_ref", c_uint32),
                ("orig_user_ref", c_uint32), ("replaced_by", c_uint32), ("price", c_uint32), ("qty", c_uint32),
                ("leaves", c_uint32), ("filled", c_uint32), ("canceled", c_uint32), ("shares_ahead", c_uint32),
                ("locate", c_uint16), ("side", c_uint8), ("tif", c_uint8), ("state", c_uint8),
                ("capacity", c_uint8), ("cross", c_uint8), ("display", c_uint8),
                ("symbol", c_char * 8), ("cl_ord_id", c_char * 14), ("pad_", c_uint8 * 6)]


class _Fill(Structure):  # ll_exch_fill
    _fields_ = [("match", c_uint64), ("timestamp", c_uint64), ("user_ref", c_uint32), ("qty", c_uint32),
                ("price", c_uint32), ("locate", c_uint16), ("side", c_uint8), ("liquidity", c_uint8)]


class _Msg(Structure):  # ll_ouch_msg
    _fields_ = [("timestamp", c_uint64), ("price", c_uint64), ("order_ref", c_uint64), ("match", c_uint64),
                ("user_ref", c_uint32), ("orig_user_ref", c_uint32), ("qty", c_uint32), ("reason", c_uint16),
                ("type", c_uint8), ("side", c_uint8), ("tif", c_uint8), ("display", c_uint8),
                ("capacity", c_uint8), ("ise", c_uint8), ("cross", c_uint8), ("state", c_uint8),
                ("liquidity", c_uint8), ("event", c_uint8),
                ("symbol", c_uint8 * 8), ("cl_ord_id", c_uint8 * 14), ("pad_", c_uint8 * 2)]


def _sig(name: str, restype, *argtypes):
    return _lib.bind(_LAB, name, restype, *argtypes)


_create = _sig("ll_exch_create", c_void_p, POINTER(_Config), POINTER(c_int))
_destroy = _sig("ll_exch_destroy", None, c_void_p)
_get_config = _sig("ll_exch_get_config", c_int, c_void_p, POINTER(_Config))
_reply_capacity = _sig("ll_exch_reply_capacity", c_uint64, c_void_p)
_add_symbol = _sig("ll_exch_add_symbol", c_int, c_void_p, c_uint32, c_char_p)
_on_feed = _sig("ll_exch_on_feed", c_int64, c_void_p, c_char_p, c_uint64, c_void_p, c_uint64)
_on_order = _sig("ll_exch_on_order", c_int64, c_void_p, c_char_p, c_uint64, c_uint64, c_void_p, c_uint64)
_orders = _sig("ll_exch_orders", c_int64, c_void_p, c_uint64, c_void_p, c_uint64)
_order_get = _sig("ll_exch_order_get", c_int, c_void_p, c_uint32, POINTER(_Order))
_fills = _sig("ll_exch_fills", c_int64, c_void_p, c_uint64, c_void_p, c_uint64)
_position = _sig("ll_exch_position", c_int, c_void_p, c_uint32, POINTER(c_int64))
_positions = _sig("ll_exch_positions", c_uint32, c_void_p, c_void_p, c_void_p, c_void_p, c_uint32)
_taken = _sig("ll_exch_taken", c_int64, c_void_p, c_uint64)
_book = _sig("ll_exch_book", c_void_p, c_void_p)
_stat = _sig("ll_exch_stat", c_int64, c_void_p, c_char_p)
_rejects = _sig("ll_exch_rejects", c_int64, c_void_p, c_void_p, c_uint32)
_check = _sig("ll_exch_check", c_int64, c_void_p)
_encode = _sig("ll_exch_ouch_encode", c_int64, POINTER(_Msg), c_int, c_void_p, c_uint64)
_decode = _sig("ll_exch_ouch_decode", c_int64, c_char_p, c_uint64, c_int, POINTER(_Msg))
ouch_size = _sig("ll_exch_ouch_size", c_uint32, c_int, c_uint32)
layout_info = _sig("ll_exch_layout_info", c_int64, c_char_p)
# the displayed book's queries (lab 5's, on ll_exch_book's pointer)
_best = _sig("ll_book_best", c_int, c_void_p, c_uint32, c_void_p)
_depth = _sig("ll_book_depth", c_int64, c_void_p, c_uint32, c_uint32, c_void_p, c_void_p)

_STATS = ("feed_messages", "feed_book", "orders", "replaces", "cancels", "cancel_noops", "fills", "fills_added",
          "fills_removed", "fills_unrecorded", "rejects", "shares_bought", "shares_sold", "open")


def _layout_disagreements() -> list[str]:
    bad = [name for name, st, key in (("ll_exch_order", _Order, b"sizeof_order"), ("ll_exch_fill", _Fill,
                                                                                    b"sizeof_fill"),
                                      ("ll_ouch_msg", _Msg, b"sizeof_ouch_msg"),
                                      ("ll_exch_config", _Config, b"sizeof_config"))
           if ctypes.sizeof(st) != layout_info(key)]
    if _Order.cl_ord_id.offset != layout_info(b"order_cl_ord_id") or _Msg.symbol.offset != layout_info(
            b"ouch_msg_symbol") or _Msg.cl_ord_id.offset != layout_info(b"ouch_msg_cl_ord_id"):
        bad.append("field offsets")
    for inbound, sizes in ((1, ouch.IN_SIZES), (0, ouch.OUT_SIZES)):
        bad += [f"size of {chr(t)!r}" for t in range(256) if ouch_size(inbound, t) != sizes.get(t, 0)]
    return bad


_bad = _layout_disagreements()
if _bad:
    raise ImportError(f"libtrading_system.so disagrees with cimpl/exchange.py on: {', '.join(_bad)}")

_OUCH_ERRORS = {_lib.LL_ETRUNCATED: "truncated", _lib.LL_EUNKNOWNMSG: "unknown message type",
                _lib.LL_EBADFRAME: "length is not the type's size, or a nonzero appendage length"}


def _ouch_error(code: int, what: str) -> Exception:
    words = _OUCH_ERRORS.get(code)
    if words is not None:
        return ouch.OuchError(f"{what}: {words}")
    return _lib.error(code, what)


# ------------------------------------------------------------- the C codec, for the tests
_CHAR_FIELDS = ("side", "tif", "display", "capacity", "ise", "cross", "state", "liquidity", "event")


def encode_c(msg) -> bytes:
    """pyimpl.ouch.encode(msg), done by the C codec."""
    direction, t = ouch._TYPES[type(msg)]
    m = _Msg()
    m.type = t[0]
    for name, v in zip(msg._fields, msg):
        if name in ("symbol", "cl_ord_id"):
            v = ouch._alpha(v, 8 if name == "symbol" else 14, name)
            getattr(m, name)[:] = list(v)
        elif name in _CHAR_FIELDS or (name == "reason" and t == b"C"):
            setattr(m, name, ouch._char(v, name)[0])
        elif name == "price":
            setattr(m, name, ouch.price_u32(v))
        else:
            setattr(m, name, v)
    out = ctypes.create_string_buffer(ouch.MAX_SIZE)
    n = _encode(ctypes.byref(m), 1 if direction == "in" else 0, out, len(out))
    if n < 0:
        raise _ouch_error(n, "encode")
    return out.raw[:n]


def decode_c(buf, *, inbound: bool):
    """pyimpl.ouch.decode(buf, inbound=...), done by the C codec."""
    data = bytes(buf)
    m = _Msg()
    n = _decode(data, len(data), 1 if inbound else 0, ctypes.byref(m))
    if n < 0:
        raise _ouch_error(n, "OUCH message")
    cls = ouch._CLASSES[("in" if inbound else "out", bytes((m.type,)))]
    values = []
    for name in cls._fields:
        v = getattr(m, name)
        if name in ("symbol", "cl_ord_id"):
            v = bytes(v)
        elif name in _CHAR_FIELDS or (name == "reason" and m.type == ord("C")):
            v = bytes((v,))
        values.append(v)
    return cls._make(values)


# ------------------------------------------------------------- the matcher
def _order(o: _Order) -> Order:
    return Order(o.user_ref, o.orig_user_ref, o.replaced_by, o.order_ref, o.accepted_ns, bytes(o.cl_ord_id).ljust(
        14, b"\0")[:14], bytes(o.symbol).ljust(8, b"\0")[:8], o.locate, bytes((o.side,)), o.price, o.qty, o.leaves,
        o.filled, o.canceled, o.shares_ahead, bytes((o.state,)), bytes((o.tif,)), bytes((o.capacity,)),
        bytes((o.cross,)), bytes((o.display,)))


def _split(raw: bytes) -> list[bytes]:
    out, pos, sizes = [], 0, ouch.OUT_SIZES
    while pos < len(raw):
        n = sizes[raw[pos]]
        out.append(raw[pos:pos + n])
        pos += n
    return out


class Exchange(_lib.Owned):
    """cimpl's matcher: the same API as pyimpl.exchange.Exchange."""

    _free, _what = _destroy, "exchange"

    def __init__(self, **config: int) -> None:
        self._h = None
        unknown = set(config) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown capacities: {sorted(unknown)}")
        cfg = _Config()
        for k in DEFAULTS:
            v = config.get(k, 0)
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"{k} must be a positive integer, got {v!r}")
            setattr(cfg, k, v)
        err = c_int(0)
        h = _create(ctypes.byref(cfg), ctypes.byref(err))
        if not h:
            if err.value == _lib.LL_EINVAL:
                raise ValueError(f"capacities out of range: {config}")
            raise _lib.error(err.value, "exchange")
        self._h = h
        got = _Config()
        _get_config(h, ctypes.byref(got))
        self.config = Config(**{k: getattr(got, k) for k in DEFAULTS})
        self._cap = _reply_capacity(h)
        self._out = ctypes.create_string_buffer(self._cap)
        self._book_h = _book(h)

    @property
    def reply_capacity(self) -> int:
        return self._cap

    def add_symbol(self, locate: int, stock: str | bytes) -> None:
        key = ouch.symbol(stock)
        if not isinstance(locate, int) or not 0 <= locate <= 0xFFFFFFFF:
            raise ValueError(f"bad locate {locate!r}")
        _lib.check(_add_symbol(self._handle(), locate, key), f"symbol {key!r}")

    def on_feed(self, msg) -> list[bytes]:
        data = bytes(msg)
        n = _on_feed(self._handle(), data, len(data), self._out, self._cap)
        if n < 0:
            raise _lib.error(n, f"ITCH message {data[:1]!r}")
        return _split(self._out.raw[:n]) if n else []

    def on_order(self, msg, now_ns: int) -> list[bytes]:
        if not isinstance(now_ns, int) or not 0 <= now_ns < 1 << 64:
            raise ValueError(f"now_ns must be an integer in 0..2**64-1, got {now_ns!r}")
        data = ouch.encode(msg) if isinstance(msg, tuple) else bytes(msg)
        n = _on_order(self._handle(), data, len(data), now_ns, self._out, self._cap)
        if n < 0:
            raise _ouch_error(n, "inbound OUCH message")
        return _split(self._out.raw[:n]) if n else []

    # ------------------------------------------------------------ records, queries
    def orders(self) -> list[Order]:
        h = self._handle()
        total = _orders(h, 0, None, 0)
        arr = (_Order * max(total, 1))()
        _orders(h, 0, arr, total)
        return [_order(arr[i]) for i in range(total)]

    def order(self, user_ref: int) -> Order | None:
        o = _Order()
        if not 0 <= user_ref <= 0xFFFFFFFF:
            return None
        return _order(o) if _order_get(self._handle(), user_ref, ctypes.byref(o)) == 1 else None

    def fills(self) -> list[Fill]:
        h = self._handle()
        total = _fills(h, 0, None, 0)
        arr = (_Fill * max(total, 1))()
        _fills(h, 0, arr, total)
        return [Fill(f.match, f.timestamp, f.user_ref, f.locate, bytes((f.side,)), f.qty, f.price,
                     bytes((f.liquidity,))) for f in arr[:total]]

    def position(self, locate: int) -> tuple[int, int]:
        out = (c_int64 * 2)()
        if not 0 <= locate < 65536:
            return (0, 0)
        _lib.check(_position(self._handle(), locate, out), "position")
        return (out[0], out[1])

    def positions(self) -> list[Position]:
        h = self._handle()
        n = _positions(h, None, None, None, 0)
        locs, pos, cash = (c_uint16 * max(n, 1))(), (c_int64 * max(n, 1))(), (c_int64 * max(n, 1))()
        _positions(h, locs, pos, cash, n)
        return [Position(locs[i], pos[i], cash[i]) for i in range(n)]

    def taken(self, ref: int) -> int | None:
        v = _taken(self._handle(), ref)
        return None if v < 0 else v

    def best(self, locate: int):
        out = (c_uint64 * 4)()
        self._handle()
        mask = _best(self._book_h, locate, out)
        bid = (out[0], out[1]) if mask & 1 else None
        ask = (out[2], out[3]) if mask & 2 else None
        return bid, ask

    def depth(self, locate: int, n: int = 10):
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n!r}")
        self._handle()
        bids, asks = (c_uint64 * (3 * max(n, 1)))(), (c_uint64 * (3 * max(n, 1)))()
        r = _depth(self._book_h, locate, n, bids, asks)
        nb, na = r & 0xFFFFFFFF, r >> 32
        return ([tuple(bids[3 * i:3 * i + 3]) for i in range(nb)], [tuple(asks[3 * i:3 * i + 3]) for i in range(na)])

    def stats(self) -> dict[str, int]:
        h = self._handle()
        return {k: _stat(h, k.encode()) for k in _STATS}

    def rejects(self) -> dict[int, int]:
        counts = (c_uint64 * ouch.REJ_MAX)()
        _rejects(self._handle(), counts, ouch.REJ_MAX)
        return {i: counts[i] for i in range(ouch.REJ_MAX) if counts[i]}

    def check(self) -> int:
        return _check(self._handle())
