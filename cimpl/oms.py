"""Lab 7, C: ctypes bindings to the order manager and risk checks of
libtrading_system.so (cimpl/oms.c, API in cimpl/oms.h).

The same API as `pyimpl.oms.Oms`, whose semantics are the reference: the same
decisions, reports, illegal-reply verdicts, counters and records for the
same calls, and the same ValueError for arguments the C widths cannot take
(checked here, with pyimpl's own checks, before ctypes could truncate them).
The enums, records and `RiskLimits` are pyimpl.oms's own classes: one
definition, and a test checks C's numbers against them.

One ctypes call per OMS call (~0.3 us of overhead, far more than the call
itself): the engine calls the C functions directly; this binding is for the
tests, the guide and the strategy-side tools.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, Structure, c_char_p, c_int, c_int64, c_uint8, c_uint16, c_uint32, c_uint64, c_void_p

from pyimpl import oms as _py
from pyimpl.oms import (  # noqa: F401  (re-exported: the same API as pyimpl.oms)
    BUY, INTENT_CANCEL, INTENT_NEW, KILL_REASONS, MAX_FILLS, MAX_ORDERS, MAX_SYMBOLS, PRICE_SANE, QTY_SANE,
    REPORT_ACCEPTED, REPORT_CANCELED, REPORT_EXECUTED, REPORT_HALTED, REPORT_REJECTED, RISK_EXCHANGE, SELL,
    SEND_CANCEL, SEND_NEW, Bad, FillRec, Illegal, Intent, OmsFull, OrderRec, PositionRec, Report, Risk,
    RiskLimits, Send, State, check_uint, side_byte,
)

from . import _lib

__all__ = ["Bad", "FillRec", "Illegal", "Intent", "OrderRec", "Oms", "PositionRec", "Report", "Risk", "RiskLimits",
           "Send", "State", "layout_info"]

_LIB = "trading_system"


class _Limits(Structure):  # ll_oms_limits
    _fields_ = [(n, c_uint64) for n in (
        "max_order_qty", "max_order_notional", "collar_ticks", "collar_ref", "max_long", "max_short",
        "max_gross_notional", "max_open_orders", "rate_orders_symbol", "rate_orders_total", "rate_window_ns",
        "max_loss", "self_match")]


class _Send(Structure):  # ll_oms_send
    _fields_ = [("kind", c_uint8), ("side", c_uint8), ("locate", c_uint16), ("user_ref", c_uint32),
                ("cl_ord_id", c_uint32), ("price", c_uint32), ("qty", c_uint32), ("pad_", c_uint32)]


# ts_layout.h's structs belong to the engine and may grow: the binding views
# the fields the OMS uses, at offsets checked against C's, inside buffers of
# C's own sizeof.
class _Report(Structure):  # ll_ts_report, the fields the OMS fills
    _fields_ = [("kind", c_uint8), ("side", c_uint8), ("locate", c_uint16), ("cl_ord_id", c_uint32),
                ("price", c_uint32), ("qty", c_uint32), ("leaves", c_uint32), ("reason", c_uint16),
                ("pad_", c_uint16), ("position", c_int64), ("ns", c_uint64)]


class _Intent(Structure):  # ll_ts_intent, the fields the OMS reads
    _fields_ = [("kind", c_uint8), ("side", c_uint8), ("locate", c_uint16), ("cl_ord_id", c_uint32),
                ("price", c_uint32), ("qty", c_uint32)]


class _OrderRec(Structure):  # ll_oms_order_rec
    _fields_ = [("exch_ref", c_uint64), ("sent_ns", c_uint64), ("user_ref", c_uint32), ("cl_ord_id", c_uint32),
                ("price", c_uint32), ("qty", c_uint32), ("filled", c_uint32), ("canceled", c_uint32),
                ("leaves", c_uint32), ("locate", c_uint16), ("side", c_uint8), ("state", c_uint8)]


class _FillRec(Structure):  # ll_oms_fill_rec
    _fields_ = [("match_number", c_uint64), ("ns", c_uint64), ("user_ref", c_uint32), ("cl_ord_id", c_uint32),
                ("qty", c_uint32), ("price", c_uint32), ("locate", c_uint16), ("side", c_uint8),
                ("liquidity", c_uint8), ("pad_", c_uint32)]


class _PositionRec(Structure):  # ll_oms_position_rec
    _fields_ = [("position", c_int64), ("cost", c_int64), ("realized", c_int64), ("unrealized", c_int64),
                ("open_buy_qty", c_int64), ("open_sell_qty", c_int64), ("bought", c_int64), ("sold", c_int64),
                ("mark", c_uint32), ("bid", c_uint32), ("ask", c_uint32), ("open_orders", c_uint32),
                ("locate", c_uint16), ("pad_", c_uint16)]


_COUNTER_NAMES = _py._COUNTERS


class _Counters(Structure):  # ll_oms_counters
    _fields_ = [(n, c_uint64) for n in _COUNTER_NAMES] + [("rejects", c_uint64 * _py.RISK_SLOTS),
                                                          ("illegals", c_uint64 * _py.BAD_SLOTS)]


def _sig(name: str, restype, *argtypes):
    return _lib.bind(_LIB, name, restype, *argtypes)


_create = _sig("ll_oms_create", c_void_p, c_void_p, c_uint32, c_uint32, c_uint32, POINTER(c_int))
_destroy = _sig("ll_oms_destroy", None, c_void_p)
_limits_default = _sig("ll_oms_limits_default", None, c_void_p)
_get_limits = _sig("ll_oms_get_limits", None, c_void_p, c_void_p)
_add_symbol = _sig("ll_oms_add_symbol", c_int, c_void_p, c_uint32)
# the outputs are passed as raw addresses (ints cached per Oms): no byref() per call
_submit = _sig("ll_oms_submit", c_int, c_void_p, c_void_p, c_uint64, c_void_p, c_void_p)
_cancel = _sig("ll_oms_cancel", c_int, c_void_p, c_uint32, c_uint64, c_void_p, c_void_p)
_on_accepted = _sig("ll_oms_on_accepted", c_int, c_void_p, c_uint32, c_uint64, c_uint64, c_void_p)
_on_executed = _sig("ll_oms_on_executed", c_int, c_void_p, c_uint32, c_uint32, c_uint32, c_uint64, c_uint8,
                    c_uint64, c_void_p)
_on_canceled = _sig("ll_oms_on_canceled", c_int, c_void_p, c_uint32, c_uint32, c_uint8, c_uint64, c_void_p)
_on_rejected = _sig("ll_oms_on_rejected", c_int, c_void_p, c_uint32, c_uint16, c_uint64, c_void_p)
_on_cancel_rejected = _sig("ll_oms_on_cancel_rejected", c_int, c_void_p, c_uint32, c_uint64, c_void_p)
_on_quote = _sig("ll_oms_on_quote", c_int, c_void_p, c_uint32, c_uint32, c_uint32, c_uint64)
_kill = _sig("ll_oms_kill", c_int64, c_void_p, c_uint16, c_uint64)
_halted = _sig("ll_oms_halted", c_int, c_void_p)
_resume = _sig("ll_oms_resume", c_int, c_void_p)
_pending = _sig("ll_oms_pending", c_uint64, c_void_p)
_next_action = _sig("ll_oms_next_action", c_int, c_void_p, c_void_p, c_void_p)
_get_counters = _sig("ll_oms_get_counters", None, c_void_p, c_void_p)
_order_count = _sig("ll_oms_order_count", c_uint32, c_void_p)
_open_orders = _sig("ll_oms_open_orders", c_uint32, c_void_p)
_fill_count = _sig("ll_oms_fill_count", c_uint64, c_void_p)
_order = _sig("ll_oms_order", c_int, c_void_p, c_uint32, c_void_p)
_order_by_id = _sig("ll_oms_order_by_id", c_int, c_void_p, c_uint32, c_void_p)
_orders = _sig("ll_oms_orders", c_int64, c_void_p, c_uint64, c_void_p, c_uint64)
_fills = _sig("ll_oms_fills", c_int64, c_void_p, c_uint64, c_void_p, c_uint64)
_position = _sig("ll_oms_position", c_int, c_void_p, c_uint32, c_void_p)
_positions = _sig("ll_oms_positions", c_int64, c_void_p, c_void_p, c_uint64)
_totals = _sig("ll_oms_totals", None, c_void_p, c_void_p)
_check = _sig("ll_oms_check", c_int64, c_void_p)
layout_info = _sig("ll_oms_layout_info", c_int64, c_char_p)

_STRUCTS = {"limits": _Limits, "send": _Send, "report": _Report, "intent": _Intent, "order_rec": _OrderRec,
            "fill_rec": _FillRec, "position_rec": _PositionRec, "counters": _Counters}
_GROWS = ("report", "intent")  # the engine's: C's sizeof may be larger than our view
_OFFSETS = ("send.user_ref", "send.qty", "intent.kind", "intent.side", "intent.locate", "intent.cl_ord_id",
            "intent.price", "intent.qty", "report.kind", "report.side", "report.locate", "report.cl_ord_id",
            "report.price", "report.qty", "report.leaves", "report.reason", "report.position", "report.ns",
            "order_rec.leaves", "order_rec.state", "fill_rec.liquidity", "position_rec.mark",
            "position_rec.locate", "counters.rejects", "counters.illegals", "limits.self_match")
_CONSTANTS = {"risk_n": len(Risk), "risk_slots": _py.RISK_SLOTS, "bad_n": len(Bad) + 1, "bad_slots": _py.BAD_SLOTS,
              "risk_exchange": RISK_EXCHANGE, "qty_sane": QTY_SANE, "price_sane": PRICE_SANE,
              "max_orders": MAX_ORDERS, "max_fills": MAX_FILLS, "max_symbols": MAX_SYMBOLS,
              "max_rate": _py.MAX_RATE}


def _layout_disagreements() -> list[str]:
    """What libtrading_system.so and this module (and pyimpl.oms) lay out
    differently; checked at import: a library that disagrees must not be used."""
    bad = [f"sizeof {n}" for n, st in _STRUCTS.items()
           if (ctypes.sizeof(st) > layout_info(f"sizeof_{n}".encode()) if n in _GROWS
               else ctypes.sizeof(st) != layout_info(f"sizeof_{n}".encode()))]
    for key in _OFFSETS:
        st, field = key.split(".")
        if getattr(_STRUCTS[st], field).offset != layout_info(key.encode()):
            bad.append(key)
    bad += [k for k, v in _CONSTANTS.items() if layout_info(k.encode()) != v]
    return bad


if _layout_disagreements():
    raise ImportError(f"libtrading_system.so disagrees with cimpl/oms.py and pyimpl.oms on "
                      f"{', '.join(_layout_disagreements()[:5])} (rebuild it)")


def _c_limits(lim: RiskLimits) -> _Limits:
    c = _Limits()
    for f, _ in _Limits._fields_:
        v = getattr(lim, f)
        if f == "collar_ref":
            v = _py.COLLAR_REFS.index(v)
        setattr(c, f, int(v))
    return c


def default_limits() -> RiskLimits:
    """C's defaults (ll_oms_limits_default) as a RiskLimits (a test checks they are pyimpl's)."""
    c = _Limits()
    _limits_default(ctypes.byref(c))
    kw = {f: getattr(c, f) for f, _ in _Limits._fields_}
    kw["collar_ref"] = _py.COLLAR_REFS[kw["collar_ref"]]
    kw["self_match"] = bool(kw["self_match"])
    return RiskLimits(**kw)


def _report(r: _Report) -> Report:
    return Report(r.kind, r.cl_ord_id, r.side, r.locate, r.price, r.qty, r.leaves, r.reason, r.position, r.ns)


def _send(s: _Send) -> Send:
    return Send(s.kind, s.side, s.locate, s.user_ref, s.cl_ord_id, s.price, s.qty)


def _order_rec(r: _OrderRec) -> OrderRec:
    return OrderRec(r.user_ref, r.cl_ord_id, r.locate, r.side, r.price, r.qty, r.filled, r.canceled, r.leaves,
                    State(r.state), r.exch_ref, r.sent_ns)


def _fill_rec(f: _FillRec) -> FillRec:
    return FillRec(f.user_ref, f.cl_ord_id, f.locate, f.side, f.qty, f.price, f.match_number, f.liquidity, f.ns)


def _pos_rec(p: _PositionRec) -> PositionRec:
    return PositionRec(p.locate, p.position, p.cost, p.realized, p.unrealized, p.open_buy_qty, p.open_sell_qty,
                       p.bought, p.sold, p.mark, p.bid, p.ask, p.open_orders)


class Oms(_lib.Owned):
    """One session's order manager; the state lives in C (cimpl/oms.c)."""

    _free, _what = _destroy, "order manager"

    def __init__(self, limits: RiskLimits | None = None, max_orders: int = 4096, max_symbols: int = 64,
                 max_fills: int | None = None) -> None:
        self._h = None
        if limits is None:
            limits = RiskLimits()
        if not isinstance(limits, RiskLimits):
            raise ValueError(f"limits must be a RiskLimits, got {type(limits).__name__}")
        if max_fills is None:
            max_fills = min(4 * max_orders, MAX_FILLS) if isinstance(max_orders, int) else 0
        for name, v, cap in (("max_orders", max_orders, MAX_ORDERS), ("max_symbols", max_symbols, MAX_SYMBOLS),
                             ("max_fills", max_fills, MAX_FILLS)):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= cap:
                raise ValueError(f"{name} must be in 1..{cap}, got {v!r}")
        self.limits = limits
        self.max_orders, self.max_symbols, self.max_fills = max_orders, max_symbols, max_fills
        err = c_int(0)
        h = _create(ctypes.byref(_c_limits(limits)), max_orders, max_symbols, max_fills, ctypes.byref(err))
        if not h:
            if err.value == _lib.LL_ENORES:
                raise MemoryError(f"cannot allocate an order manager for {max_orders} orders")
            raise _lib.error(err.value, "order manager")
        self._h = h
        self._s = _Send()
        # C writes a whole ll_ts_report and reads a whole ll_ts_intent: buffers of C's size, our views at their start
        self._rbuf = ctypes.create_string_buffer(layout_info(b"sizeof_report"))
        self._inbuf = ctypes.create_string_buffer(layout_info(b"sizeof_intent"))
        self._r, self._in = _Report.from_buffer(self._rbuf), _Intent.from_buffer(self._inbuf)
        self._sp, self._rp, self._inp = (ctypes.addressof(x) for x in (self._s, self._r, self._in))

    # ------------------------------------------------------------ symbols
    def add_symbol(self, locate: int) -> None:
        if isinstance(locate, bool) or not isinstance(locate, int) or not 0 < locate <= 65535:
            raise ValueError(f"stock locate {locate!r} out of range 1..65535")
        rc = _add_symbol(self._handle(), locate)
        if rc == _lib.LL_EBOOKFULL:
            raise OmsFull(f"symbol table full (max_symbols {self.max_symbols})")
        _lib.check(rc, "order manager")

    # ------------------------------------------------------------ strategy -> exchange
    def _sent_or_rejected(self, rc: int):
        if rc < 0:
            raise _lib.error(rc, "order manager")
        return _send(self._s) if rc == 0 else _report(self._r)

    def submit(self, intent, now_ns: int = 0):
        it = Intent(*(getattr(intent, f) for f in Intent._fields)) if not isinstance(intent, Intent) else intent
        it = it._replace(side=side_byte(it.side))
        for name, bits in (("kind", 8), ("side", 8), ("locate", 16), ("cl_ord_id", 32), ("price", 32), ("qty", 32)):
            check_uint(getattr(it, name), bits, name)
        check_uint(now_ns, 64, "now_ns")
        if it.kind not in (INTENT_NEW, INTENT_CANCEL):
            raise ValueError(f"intent kind {it.kind} is not NEW ({INTENT_NEW}) or CANCEL ({INTENT_CANCEL})")
        c = self._in
        c.kind, c.side, c.locate, c.cl_ord_id, c.price, c.qty = it
        return self._sent_or_rejected(_submit(self._handle(), self._inp, now_ns, self._sp, self._rp))

    def cancel(self, cl_ord_id: int, now_ns: int = 0):
        check_uint(cl_ord_id, 32, "cl_ord_id")
        check_uint(now_ns, 64, "now_ns")
        return self._sent_or_rejected(_cancel(self._handle(), cl_ord_id, now_ns, self._sp, self._rp))

    # ------------------------------------------------------------ exchange -> strategy
    def _reply(self, rc: int, user_ref: int):
        if rc < 0:
            raise _lib.error(rc, "order manager")
        return _report(self._r) if rc == 0 else Illegal(Bad(rc), user_ref)

    def on_accepted(self, user_ref: int, exch_ref: int = 0, now_ns: int = 0):
        check_uint(user_ref, 32, "user_ref")
        check_uint(exch_ref, 64, "exch_ref")
        check_uint(now_ns, 64, "now_ns")
        return self._reply(_on_accepted(self._handle(), user_ref, exch_ref, now_ns, self._rp), user_ref)

    def on_executed(self, user_ref: int, qty: int, price: int, match_number: int = 0, liquidity: int = ord("A"),
                    now_ns: int = 0):
        check_uint(user_ref, 32, "user_ref")
        check_uint(qty, 32, "qty")
        check_uint(price, 32, "price")
        check_uint(match_number, 64, "match_number")
        liquidity = check_uint(side_byte(liquidity), 8, "liquidity")
        check_uint(now_ns, 64, "now_ns")
        return self._reply(_on_executed(self._handle(), user_ref, qty, price, match_number, liquidity, now_ns,
                                        self._rp), user_ref)

    def on_canceled(self, user_ref: int, qty: int, reason: int = ord("U"), now_ns: int = 0):
        check_uint(user_ref, 32, "user_ref")
        check_uint(qty, 32, "qty")
        reason = check_uint(side_byte(reason), 8, "reason")
        check_uint(now_ns, 64, "now_ns")
        return self._reply(_on_canceled(self._handle(), user_ref, qty, reason, now_ns, self._rp), user_ref)

    def on_rejected(self, user_ref: int, reason: int = 0, now_ns: int = 0):
        check_uint(user_ref, 32, "user_ref")
        check_uint(reason, 16, "reason")
        check_uint(now_ns, 64, "now_ns")
        return self._reply(_on_rejected(self._handle(), user_ref, reason, now_ns, self._rp), user_ref)

    def on_cancel_rejected(self, user_ref: int, now_ns: int = 0):
        check_uint(user_ref, 32, "user_ref")
        check_uint(now_ns, 64, "now_ns")
        return self._reply(_on_cancel_rejected(self._handle(), user_ref, now_ns, self._rp), user_ref)

    def on_quote(self, locate: int, bid: int, ask: int, now_ns: int = 0) -> bool:
        check_uint(locate, 32, "locate")
        check_uint(bid, 32, "bid")
        check_uint(ask, 32, "ask")
        check_uint(now_ns, 64, "now_ns")
        return bool(_lib.check(_on_quote(self._handle(), locate, bid, ask, now_ns), "order manager"))

    # ------------------------------------------------------------ kill switch
    def kill(self, reason: int = Risk.KILL_MANUAL, now_ns: int = 0) -> list:
        if reason not in KILL_REASONS:
            raise ValueError(f"kill reason {reason!r} must be one of {[int(r) for r in KILL_REASONS]}")
        check_uint(now_ns, 64, "now_ns")
        _lib.check(_kill(self._handle(), int(reason), now_ns), "order manager")
        return self.drain()

    def resume(self) -> bool:
        return _lib.check(_resume(self._handle()), "order manager") == 1

    @property
    def halted(self) -> int:
        return _halted(self._handle())

    def pending(self) -> int:
        return _pending(self._handle())

    def next_action(self):
        rc = _lib.check(_next_action(self._handle(), self._sp, self._rp), "order manager")
        if rc == _py.ACT_REPORT:
            return _report(self._r)
        if rc == _py.ACT_SEND:
            return _send(self._s)
        return None

    def drain(self) -> list:
        out = []
        while (a := self.next_action()) is not None:
            out.append(a)
        return out

    # ------------------------------------------------------------ queries
    def counters(self) -> dict:
        c = _Counters()
        _get_counters(self._handle(), ctypes.byref(c))
        out = {n: getattr(c, n) for n in _COUNTER_NAMES}
        out["rejects"] = {Risk(i).name: n for i, n in enumerate(c.rejects) if n}
        out["illegals"] = {Bad(i).name: n for i, n in enumerate(c.illegals) if n}
        return out

    def order_count(self) -> int:
        return _order_count(self._handle())

    def open_orders(self) -> int:
        return _open_orders(self._handle())

    def fill_count(self) -> int:
        return _fill_count(self._handle())

    def order(self, user_ref: int) -> OrderRec | None:
        if isinstance(user_ref, bool) or not isinstance(user_ref, int) or not 0 <= user_ref <= 0xFFFFFFFF:
            return None
        rec = _OrderRec()
        return _order_rec(rec) if _order(self._handle(), user_ref, ctypes.byref(rec)) else None

    def order_by_id(self, cl_ord_id: int) -> OrderRec | None:
        if isinstance(cl_ord_id, bool) or not isinstance(cl_ord_id, int) or not 0 <= cl_ord_id <= 0xFFFFFFFF:
            return None
        rec = _OrderRec()
        return _order_rec(rec) if _order_by_id(self._handle(), cl_ord_id, ctypes.byref(rec)) else None

    def orders(self) -> list[OrderRec]:
        n = self.order_count()
        buf = (_OrderRec * max(n, 1))()
        got = _lib.check(_orders(self._handle(), 0, buf, n), "order manager")
        return [_order_rec(buf[i]) for i in range(got)]

    def fills(self) -> list[FillRec]:
        n = self.fill_count()
        buf = (_FillRec * max(n, 1))()
        got = _lib.check(_fills(self._handle(), 0, buf, n), "order manager")
        return [_fill_rec(buf[i]) for i in range(got)]

    def position(self, locate: int) -> PositionRec | None:
        if isinstance(locate, bool) or not isinstance(locate, int) or not 0 <= locate <= 0xFFFFFFFF:
            return None
        rec = _PositionRec()
        return _pos_rec(rec) if _position(self._handle(), locate, ctypes.byref(rec)) else None

    def positions(self) -> list[PositionRec]:
        buf = (_PositionRec * self.max_symbols)()
        got = _lib.check(_positions(self._handle(), buf, self.max_symbols), "order manager")
        return [_pos_rec(buf[i]) for i in range(got)]

    def totals(self) -> tuple[int, int, int]:
        out = (c_int64 * 3)()
        _totals(self._handle(), out)
        return (out[0], out[1], out[2])

    def check(self) -> int:
        return _check(self._handle())

    def c_limits(self) -> RiskLimits:
        """The limits as C holds them (ll_oms_get_limits)."""
        c = _Limits()
        _get_limits(self._handle(), ctypes.byref(c))
        kw = {f: getattr(c, f) for f, _ in _Limits._fields_}
        kw["collar_ref"] = _py.COLLAR_REFS[kw["collar_ref"]]
        kw["self_match"] = bool(kw["self_match"])
        return RiskLimits(**kw)
