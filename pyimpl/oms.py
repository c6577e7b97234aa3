"""Lab 7, pure Python: the engine's order manager and pre-trade risk checks.

The reference for cimpl/oms.c (through cimpl.oms, the same API): the same
decisions, reports, counters and records for the same calls, which the tests
check on random sequences.  cimpl/oms.h documents the machine: the order
states and their transition table, the risk checks in the order they run,
the units and the average-cost PnL; this module follows it line by line.

In short.  The strategy's intents go in (`submit`, `cancel`); out come
orders to send (`Send`, with the OUCH UserRefNum the OMS assigns: 1, 2, 3...)
or rejections (`Report` of kind REPORT_REJECTED with a `Risk` reason).  The
exchange's replies go in (`on_accepted`, `on_executed`, `on_canceled`,
`on_rejected`, `on_cancel_rejected`); out comes the `Report` for the strategy,
or an `Illegal` for a reply the OMS refuses (counted by kind, nothing
changed: the exchange's bad message is never an exception).  `on_quote` gives
the market for the price collar and the mark.  `kill` halts: new orders are
rejected, cancels still pass, and every open order's cancel is produced.

Prices are ITCH's (1/10000 $, a tick = 100); money (notional, cost, PnL) is
price units x shares.  Sides are ITCH's bytes as ints: BUY = ord('B'), SELL =
ord('S') ('B' / 'S' strings are accepted as input).  Arguments that would not
fit the C API's integer widths raise ValueError here too, so both
implementations refuse the same calls.
"""

from __future__ import annotations

import dataclasses
import tomllib
from enum import IntEnum
from typing import NamedTuple

__all__ = [
    "BUY", "SELL", "Bad", "FillRec", "Illegal", "Intent", "OrderRec", "Oms", "PositionRec", "Report", "Risk",
    "RiskLimits", "Send", "State",
]

BUY, SELL = ord("B"), ord("S")

# ts_layout.h
INTENT_NEW, INTENT_CANCEL, INTENT_HEARTBEAT, INTENT_BYE = 1, 2, 3, 4
REPORT_ACCEPTED, REPORT_EXECUTED, REPORT_CANCELED, REPORT_REJECTED, REPORT_HALTED = 1, 2, 3, 4, 5
# oms.h
SEND_NEW, SEND_CANCEL = 1, 2
ACT_NONE, ACT_REPORT, ACT_SEND = 0, 1, 2
RISK_EXCHANGE = 0x8000
QTY_SANE = 1_000_000
PRICE_SANE = 1_999_999_900
MAX_ORDERS = 1 << 24
MAX_FILLS = 1 << 26
MAX_SYMBOLS = 65535
MAX_RATE = 1 << 16
RISK_SLOTS, BAD_SLOTS = 32, 16
TICK = 100
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


class Risk(IntEnum):
    """Why an intent was rejected, why trading halted (oms.h's LL_RISK_*)."""

    OK = 0
    KILL_MANUAL = 1
    LOSS = 2
    HEARTBEAT = 3
    BAD_SIDE = 4
    BAD_QTY = 5
    BAD_PRICE = 6
    UNKNOWN_SYMBOL = 7
    DUPLICATE_ID = 8
    CAPACITY = 9
    MAX_QTY = 10
    MAX_NOTIONAL = 11
    COLLAR = 12
    NO_MARKET = 13
    MAX_OPEN_ORDERS = 14
    RATE_SYMBOL = 15
    RATE_TOTAL = 16
    MAX_LONG = 17
    MAX_SHORT = 18
    MAX_GROSS = 19
    SELF_MATCH = 20
    UNKNOWN_ORDER = 21
    ORDER_CLOSED = 22
    CANCEL_PENDING = 23
    CANCEL_REFUSED = 24


KILL_REASONS = (Risk.KILL_MANUAL, Risk.LOSS, Risk.HEARTBEAT)


class State(IntEnum):
    """An order's state (oms.h's LL_OMS_*)."""

    PENDING_NEW = 1
    ACCEPTED = 2
    PARTIALLY_FILLED = 3
    CANCEL_PENDING = 4
    FILLED = 5
    CANCELED = 6
    REJECTED = 7


class Bad(IntEnum):
    """The kinds of illegal exchange replies (oms.h's LL_OMS_BAD_*)."""

    UNKNOWN_REF = 1
    ZERO_QTY = 2
    AFTER_CLOSE = 3
    NOT_ACCEPTED = 4
    ACCEPT_TWICE = 5
    REJECT_ACCEPTED = 6
    NO_CANCEL = 7
    OVERFILL = 8
    OVERCANCEL = 9
    FILL_PRICE = 10
    DUP_MATCH = 11


COLLAR_REFS = ("same_side", "mid")  # LL_OMS_COLLAR_SAME_SIDE = 0, LL_OMS_COLLAR_MID = 1


class Intent(NamedTuple):
    """ts_layout.h's ll_ts_intent, the fields the OMS reads."""

    kind: int
    side: int
    locate: int
    cl_ord_id: int
    price: int = 0
    qty: int = 0

    @classmethod
    def new(cls, side, locate: int, cl_ord_id: int, price: int, qty: int) -> Intent:
        return cls(INTENT_NEW, side_byte(side), locate, cl_ord_id, price, qty)

    @classmethod
    def cancel(cls, cl_ord_id: int) -> Intent:
        return cls(INTENT_CANCEL, 0, 0, cl_ord_id)


class Send(NamedTuple):
    """An order message for the engine to encode (ll_oms_send)."""

    kind: int  # SEND_NEW / SEND_CANCEL
    side: int
    locate: int
    user_ref: int
    cl_ord_id: int
    price: int
    qty: int  # CANCEL: 0 (all)


class Report(NamedTuple):
    """What to report to the strategy (ts_layout.h's ll_ts_report; oms.h says how each field is filled)."""

    kind: int
    cl_ord_id: int
    side: int
    locate: int
    price: int
    qty: int
    leaves: int
    reason: int
    position: int
    ns: int


class Illegal(NamedTuple):
    """An exchange reply the OMS refused (counted; nothing changed)."""

    kind: Bad
    user_ref: int


class OrderRec(NamedTuple):
    user_ref: int
    cl_ord_id: int
    locate: int
    side: int
    price: int
    qty: int
    filled: int
    canceled: int  # shares that will never trade: canceled, or all of a rejected order
    leaves: int
    state: State
    exch_ref: int
    sent_ns: int


class FillRec(NamedTuple):
    user_ref: int
    cl_ord_id: int
    locate: int
    side: int
    qty: int
    price: int
    match_number: int
    liquidity: int
    ns: int


class PositionRec(NamedTuple):
    locate: int
    position: int
    cost: int
    realized: int
    unrealized: int
    open_buy_qty: int
    open_sell_qty: int
    bought: int
    sold: int
    mark: int
    bid: int
    ask: int
    open_orders: int


def side_byte(side) -> int:
    """'B' / 'S' (or b'B', or an int byte) as the int byte the API carries."""
    if isinstance(side, (str, bytes)) and len(side) == 1:
        return ord(side)
    return side


def check_uint(value, bits: int, what: str) -> int:
    """`value` if it is an int that fits `bits` unsigned bits, else ValueError
    (the C API's widths: both implementations refuse the same arguments)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise ValueError(f"{what} {value!r} out of range 0..{(1 << bits) - 1}")
    return value


def _clamp(v: int) -> int:
    return min(max(v, _I64_MIN), _I64_MAX)


def _tdiv(a: int, b: int) -> int:
    """a / b rounded toward zero, as C divides (b > 0)."""
    q = abs(a) // b
    return q if a >= 0 else -q


# ------------------------------------------------------------ limits
@dataclasses.dataclass(frozen=True)
class RiskLimits:
    """Every pre-trade limit; 0 = that check off (oms.h's ll_oms_limits; the
    defaults are labs/07-trading-system/risk.toml's, which says what failure
    each one prevents).  Money in price units x shares ($1 = 10000)."""

    max_order_qty: int = 1000
    max_order_notional: int = 1_000_000_000
    collar_ticks: int = 50
    collar_ref: str = "same_side"
    max_long: int = 5000
    max_short: int = 5000
    max_gross_notional: int = 5_000_000_000
    max_open_orders: int = 50
    rate_orders_symbol: int = 50
    rate_orders_total: int = 200
    rate_window_ns: int = 1_000_000_000
    max_loss: int = 100_000_000
    self_match: bool = True

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "collar_ref":
                if v not in COLLAR_REFS:
                    raise ValueError(f"collar_ref must be one of {COLLAR_REFS}, got {v!r}")
            elif f.name == "self_match":
                if not isinstance(v, bool):
                    raise ValueError(f"self_match must be true or false, got {v!r}")
            else:
                check_uint(v, 64, f.name)
        for name in ("rate_orders_symbol", "rate_orders_total"):
            if getattr(self, name) > MAX_RATE:
                raise ValueError(f"{name} {getattr(self, name)} above {MAX_RATE}")
        if (self.rate_orders_symbol or self.rate_orders_total) and not self.rate_window_ns:
            raise ValueError("rate_window_ns must be > 0 when a rate limit is on")

    @classmethod
    def from_toml(cls, path) -> RiskLimits:
        """The limits of a TOML file of `name = value` lines (risk.toml's
        format); a key the file leaves out keeps its default, a key that is
        not a limit is an error (a misspelt limit would otherwise be silently
        off)."""
        with open(path, "rb") as f:
            data = tomllib.load(f)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown risk limit(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**data)

    def replace(self, **changes) -> RiskLimits:
        return dataclasses.replace(self, **changes)


# ------------------------------------------------------------ the machine
class _Order:
    __slots__ = ("acked", "canceled", "cl_ord_id", "exch_ref", "filled", "locate", "price", "qty", "sent_ns",
                 "side", "state", "sym")

    @property
    def leaves(self) -> int:
        return self.qty - self.filled - self.canceled


class _Sym:
    __slots__ = ("ask", "bid", "bought", "cost", "has_mid", "locate", "mark", "open", "open_buy", "open_sell",
                 "pos", "rate", "rate_head", "rate_n", "realized", "sold")

    def __init__(self, locate: int, rate_cap: int) -> None:
        self.locate = locate
        self.cost = self.realized = self.pos = self.open_buy = self.open_sell = self.bought = self.sold = 0
        self.bid = self.ask = self.mark = 0
        self.has_mid = False
        self.open: dict[int, _Order] = {}  # order index -> order, the open ones
        self.rate = [0] * rate_cap
        self.rate_n = self.rate_head = 0

    def unrealized(self) -> int:
        return self.pos * self.mark - self.cost

    def pos_notional(self) -> int:
        return abs(self.pos) * self.mark


def _is_open(state: int) -> bool:
    return State.PENDING_NEW <= state <= State.CANCEL_PENDING


def _rate_full(ring: list, n: int, head: int, cap: int, window: int, now: int) -> bool:
    return bool(cap) and n == cap and now - ring[head] < window


class Oms:
    """One session's order manager (see the module docstring and cimpl/oms.h)."""

    def __init__(self, limits: RiskLimits | None = None, max_orders: int = 4096, max_symbols: int = 64,
                 max_fills: int | None = None) -> None:
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
        self._orders: list[_Order] = []
        self._syms: list[_Sym] = []
        self._sym_of: dict[int, _Sym] = {}
        self._by_id: dict[int, int] = {}  # cl_ord_id -> order index
        self._fills: list[FillRec] = []
        self._matches: set[int] = set()
        self._rate_all = [0] * limits.rate_orders_total
        self._rate_all_n = self._rate_all_head = 0
        self._clock = 0
        self._realized = self._unrealized = self._pos_notional = self._open_notional = 0
        self._open_orders = 0
        self._halted = 0
        self._halt_report = False
        self._halt_ns = 0
        self._kill_q: list[int] = []
        self._kq_head = 0
        self._c = dict.fromkeys(_COUNTERS, 0)
        self._rejects = [0] * RISK_SLOTS
        self._illegals = [0] * BAD_SLOTS

    def close(self) -> None:
        """Nothing to free (cimpl.oms's frees the C object); for the same API."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ symbols
    def add_symbol(self, locate: int) -> None:
        """Declare a symbol the OMS may trade (ITCH stock locate 1..65535)."""
        if isinstance(locate, bool) or not isinstance(locate, int) or not 0 < locate <= 65535:
            raise ValueError(f"stock locate {locate!r} out of range 1..65535")
        if locate in self._sym_of:
            return
        if len(self._syms) == self.max_symbols:
            raise OmsFull(f"symbol table full (max_symbols {self.max_symbols})")
        s = _Sym(locate, self.limits.rate_orders_symbol)
        self._syms.append(s)
        self._sym_of[locate] = s

    # ------------------------------------------------------------ running sums
    def _sym_out(self, s: _Sym) -> None:
        self._unrealized -= s.unrealized()
        self._pos_notional -= s.pos_notional()

    def _sym_in(self, s: _Sym) -> None:
        self._unrealized += s.unrealized()
        self._pos_notional += s.pos_notional()

    def _open_shrink(self, s: _Sym, r: _Order, q: int) -> None:
        if r.side == BUY:
            s.open_buy -= q
        else:
            s.open_sell -= q
        self._open_notional -= r.price * q

    def _unlink(self, s: _Sym, idx: int) -> None:
        del s.open[idx]
        self._open_orders -= 1

    def _report(self, kind: int, r: _Order | None, price: int, qty: int, reason: int, now_ns: int) -> Report:
        if r is None:
            return Report(kind, 0, 0, 0, price, qty, 0, reason, 0, now_ns)
        return Report(kind, r.cl_ord_id, r.side, r.locate, price, qty, r.leaves, reason, r.sym.pos, now_ns)

    @staticmethod
    def _send(kind: int, idx: int, r: _Order) -> Send:
        return Send(kind, r.side, r.locate, idx + 1, r.cl_ord_id, r.price, r.qty if kind == SEND_NEW else 0)

    # ------------------------------------------------------------ kill switch
    def _kill(self, reason: int, now_ns: int) -> int:
        if self._halted:
            return 0
        self._halted = int(reason)
        self._halt_ns = now_ns
        self._halt_report = True
        self._c["kills"] = 1
        q = []
        for s in self._syms:
            for idx, r in s.open.items():
                if r.state != State.CANCEL_PENDING:
                    r.state = State.CANCEL_PENDING
                    q.append(idx)
        self._kill_q = sorted(q)
        self._kq_head = 0
        return len(q)

    def _loss_check(self, now_ns: int) -> None:
        lim = self.limits.max_loss
        if lim and not self._halted and self._realized + self._unrealized < -lim:
            self._kill(Risk.LOSS, now_ns)

    def kill(self, reason: int = Risk.KILL_MANUAL, now_ns: int = 0) -> list:
        """Halt trading (reason KILL_MANUAL, LOSS or HEARTBEAT) and return the
        actions it produced: the HALTED report, then a cancel `Send` for every
        open order not already CANCEL_PENDING (oldest first).  Halted again:
        nothing changes, and [] (or what is still pending from before)."""
        if reason not in KILL_REASONS:
            raise ValueError(f"kill reason {reason!r} must be one of {[int(r) for r in KILL_REASONS]}")
        check_uint(now_ns, 64, "now_ns")
        self._kill(reason, now_ns)
        return self.drain()

    def resume(self) -> bool:
        """Lift a HEARTBEAT halt once its actions are all taken (a new strategy
        took over): True if trading again.  Other halts stay (a loss limit or an
        operator's kill is lifted by a person, not by the strategy returning)."""
        if self._halted != Risk.HEARTBEAT or self.pending() > 0:
            return False
        self._halted = 0
        self._c["resumes"] += 1
        return True

    @property
    def halted(self) -> int:
        """0 while trading, else the kill reason."""
        return self._halted

    def pending(self) -> int:
        """Kill-switch actions not yet taken (the HALTED report, the cancels)."""
        return int(self._halt_report) + len(self._kill_q) - self._kq_head

    def next_action(self):
        """The next kill-switch action (a Report, then Sends), or None."""
        if self._halt_report:
            self._halt_report = False
            return self._report(REPORT_HALTED, None, 0, 0, self._halted, self._halt_ns)
        while self._kq_head < len(self._kill_q):
            idx = self._kill_q[self._kq_head]
            self._kq_head += 1
            r = self._orders[idx]
            if not _is_open(r.state):
                continue
            r.state = State.CANCEL_PENDING
            self._c["cancels_sent"] += 1
            return self._send(SEND_CANCEL, idx, r)
        return None

    def drain(self) -> list:
        """Every pending kill-switch action, in order."""
        out = []
        while (a := self.next_action()) is not None:
            out.append(a)
        return out

    # ------------------------------------------------------------ strategy -> exchange
    def _reject(self, intent: Intent, s: _Sym | None, reason: int, now_ns: int) -> Report:
        self._c["rejected"] += 1
        self._rejects[reason] += 1
        return Report(REPORT_REJECTED, intent.cl_ord_id, intent.side, intent.locate, intent.price, intent.qty, 0,
                      int(reason), s.pos if s else 0, now_ns)

    def _risk_checks(self, it: Intent, s: _Sym | None, t: int) -> int:
        """oms.h's checks 1-16 in order (oms.c says what failure each prevents)."""
        L = self.limits
        buy = it.side == BUY
        if self._halted:
            return self._halted
        if it.side not in (BUY, SELL):
            return Risk.BAD_SIDE
        if it.qty == 0 or it.qty > QTY_SANE:
            return Risk.BAD_QTY
        if it.price == 0 or it.price > PRICE_SANE:
            return Risk.BAD_PRICE
        if s is None:
            return Risk.UNKNOWN_SYMBOL
        if it.cl_ord_id in self._by_id:
            return Risk.DUPLICATE_ID
        if len(self._orders) == self.max_orders:
            return Risk.CAPACITY
        if L.max_order_qty and it.qty > L.max_order_qty:
            return Risk.MAX_QTY
        if L.max_order_notional and it.price * it.qty > L.max_order_notional:
            return Risk.MAX_NOTIONAL
        if L.collar_ticks:
            band = L.collar_ticks * TICK
            if L.collar_ref == "mid":
                if not s.bid or not s.ask:
                    return Risk.NO_MARKET
                if abs(2 * it.price - (s.bid + s.ask)) > 2 * band:
                    return Risk.COLLAR
            else:
                ref = s.bid if buy else s.ask
                if not ref:
                    return Risk.NO_MARKET
                if abs(it.price - ref) > band:
                    return Risk.COLLAR
        if L.max_open_orders and self._open_orders + 1 > L.max_open_orders:
            return Risk.MAX_OPEN_ORDERS
        if _rate_full(s.rate, s.rate_n, s.rate_head, L.rate_orders_symbol, L.rate_window_ns, t):
            return Risk.RATE_SYMBOL
        if _rate_full(self._rate_all, self._rate_all_n, self._rate_all_head, L.rate_orders_total,
                      L.rate_window_ns, t):
            return Risk.RATE_TOTAL
        if buy and L.max_long and s.pos + s.open_buy + it.qty > L.max_long:
            return Risk.MAX_LONG
        if not buy and L.max_short and -(s.pos - s.open_sell - it.qty) > L.max_short:
            return Risk.MAX_SHORT
        if L.max_gross_notional and (self._pos_notional + self._open_notional + it.price * it.qty
                                     > L.max_gross_notional):
            return Risk.MAX_GROSS
        if L.self_match:
            for r in s.open.values():
                if r.side != it.side and (r.price <= it.price if buy else r.price >= it.price):
                    return Risk.SELF_MATCH
        return Risk.OK

    def submit(self, intent, now_ns: int = 0):
        """An intent: NEW -> a `Send` (the order, now PENDING_NEW) or a
        REJECTED `Report`; CANCEL -> as `cancel`.  Other kinds: ValueError."""
        it = Intent(*(getattr(intent, f) for f in Intent._fields)) if not isinstance(intent, Intent) else intent
        it = it._replace(side=side_byte(it.side))
        for name, bits in (("kind", 8), ("side", 8), ("locate", 16), ("cl_ord_id", 32), ("price", 32), ("qty", 32)):
            check_uint(getattr(it, name), bits, name)
        check_uint(now_ns, 64, "now_ns")
        if it.kind == INTENT_CANCEL:
            return self.cancel(it.cl_ord_id, now_ns)
        if it.kind != INTENT_NEW:
            raise ValueError(f"intent kind {it.kind} is not NEW ({INTENT_NEW}) or CANCEL ({INTENT_CANCEL})")
        self._c["intents"] += 1
        self._clock = max(self._clock, now_ns)
        t = self._clock
        s = self._sym_of.get(it.locate)
        reason = self._risk_checks(it, s, t)
        if reason:
            return self._reject(it, s, reason, now_ns)
        idx = len(self._orders)
        r = _Order()
        r.cl_ord_id, r.price, r.qty, r.locate, r.side = it.cl_ord_id, it.price, it.qty, it.locate, it.side
        r.sym, r.state, r.sent_ns = s, State.PENDING_NEW, now_ns
        r.filled = r.canceled = r.exch_ref = 0
        r.acked = False
        self._orders.append(r)
        self._by_id[it.cl_ord_id] = idx
        s.open[idx] = r
        self._open_orders += 1
        if r.side == BUY:
            s.open_buy += r.qty
        else:
            s.open_sell += r.qty
        self._open_notional += r.price * r.qty
        L = self.limits
        if L.rate_orders_symbol:
            s.rate[s.rate_head] = t
            s.rate_head = (s.rate_head + 1) % L.rate_orders_symbol
            s.rate_n = min(s.rate_n + 1, L.rate_orders_symbol)
        if L.rate_orders_total:
            self._rate_all[self._rate_all_head] = t
            self._rate_all_head = (self._rate_all_head + 1) % L.rate_orders_total
            self._rate_all_n = min(self._rate_all_n + 1, L.rate_orders_total)
        self._c["sent"] += 1
        return self._send(SEND_NEW, idx, r)

    def cancel(self, cl_ord_id: int, now_ns: int = 0):
        """Cancel the order cl_ord_id: a cancel `Send` (the order goes
        CANCEL_PENDING) or a REJECTED `Report` (UNKNOWN_ORDER, ORDER_CLOSED,
        CANCEL_PENDING).  Allowed while halted."""
        check_uint(cl_ord_id, 32, "cl_ord_id")
        check_uint(now_ns, 64, "now_ns")
        self._c["cancel_intents"] += 1
        idx = self._by_id.get(cl_ord_id)
        r = self._orders[idx] if idx is not None else None
        reason = Risk.OK
        if r is None:
            reason = Risk.UNKNOWN_ORDER
        elif not _is_open(r.state):
            reason = Risk.ORDER_CLOSED
        elif r.state == State.CANCEL_PENDING:
            reason = Risk.CANCEL_PENDING
        if reason:
            self._c["cancel_rejected"] += 1
            self._rejects[reason] += 1
            rep = self._report(REPORT_REJECTED, r, r.price if r else 0, r.qty if r else 0, int(reason), now_ns)
            return rep._replace(cl_ord_id=cl_ord_id)
        r.state = State.CANCEL_PENDING
        self._c["cancels_sent"] += 1
        return self._send(SEND_CANCEL, idx, r)

    # ------------------------------------------------------------ exchange -> strategy
    def _illegal(self, kind: Bad, user_ref: int) -> Illegal:
        self._c["illegal"] += 1
        self._illegals[kind] += 1
        return Illegal(kind, user_ref)

    def _order_of(self, user_ref: int) -> _Order | None:
        return self._orders[user_ref - 1] if 1 <= user_ref <= len(self._orders) else None

    def on_accepted(self, user_ref: int, exch_ref: int = 0, now_ns: int = 0):
        check_uint(user_ref, 32, "user_ref")
        check_uint(exch_ref, 64, "exch_ref")
        check_uint(now_ns, 64, "now_ns")
        r = self._order_of(user_ref)
        if r is None:
            return self._illegal(Bad.UNKNOWN_REF, user_ref)
        if not _is_open(r.state):
            return self._illegal(Bad.AFTER_CLOSE, user_ref)
        if r.acked:
            return self._illegal(Bad.ACCEPT_TWICE, user_ref)
        r.acked = True
        r.exch_ref = exch_ref
        if r.state == State.PENDING_NEW:
            r.state = State.ACCEPTED
        self._c["accepted"] += 1
        return self._report(REPORT_ACCEPTED, r, r.price, r.qty, 0, now_ns)

    @staticmethod
    def _apply_fill(s: _Sym, side: int, qty: int, price: int) -> None:
        """Average cost (oms.h, ll_oms_position_rec)."""
        dq = qty if side == BUY else -qty
        if s.pos == 0 or (s.pos > 0) == (dq > 0):
            s.pos += dq
            s.cost += dq * price
            return
        apos = abs(s.pos)
        close = min(qty, apos)
        removed = _tdiv(s.cost * close, apos)
        sign = 1 if s.pos > 0 else -1
        s.realized += sign * price * close - removed
        s.cost -= removed
        s.pos += close if dq > 0 else -close
        rest = qty - close
        if rest:
            s.pos += rest if dq > 0 else -rest
            s.cost = (rest if dq > 0 else -rest) * price

    def on_executed(self, user_ref: int, qty: int, price: int, match_number: int = 0, liquidity: int = ord("A"),
                    now_ns: int = 0):
        check_uint(user_ref, 32, "user_ref")
        check_uint(qty, 32, "qty")
        check_uint(price, 32, "price")
        check_uint(match_number, 64, "match_number")
        liquidity = check_uint(side_byte(liquidity), 8, "liquidity")
        check_uint(now_ns, 64, "now_ns")
        r = self._order_of(user_ref)
        if r is None:
            return self._illegal(Bad.UNKNOWN_REF, user_ref)
        if qty == 0:
            return self._illegal(Bad.ZERO_QTY, user_ref)
        if not _is_open(r.state):
            return self._illegal(Bad.AFTER_CLOSE, user_ref)
        if not r.acked:
            return self._illegal(Bad.NOT_ACCEPTED, user_ref)
        if qty > r.leaves:
            return self._illegal(Bad.OVERFILL, user_ref)
        if price == 0 or (price > r.price if r.side == BUY else price < r.price):
            return self._illegal(Bad.FILL_PRICE, user_ref)
        if match_number in self._matches:
            return self._illegal(Bad.DUP_MATCH, user_ref)
        s = r.sym
        self._sym_out(s)
        self._realized -= s.realized
        self._apply_fill(s, r.side, qty, price)
        self._realized += s.realized
        if r.side == BUY:
            s.bought += qty
        else:
            s.sold += qty
        if not s.has_mid:
            s.mark = price
        self._sym_in(s)
        self._open_shrink(s, r, qty)
        r.filled += qty
        if r.leaves == 0:
            r.state = State.FILLED
            self._unlink(s, user_ref - 1)
        elif r.state != State.CANCEL_PENDING:
            r.state = State.PARTIALLY_FILLED
        if len(self._fills) < self.max_fills:
            self._fills.append(FillRec(user_ref, r.cl_ord_id, r.locate, r.side, qty, price, match_number, liquidity,
                                       now_ns))
            self._matches.add(match_number)
        else:
            self._c["fills_unrecorded"] += 1
        self._c["executions"] += 1
        rep = self._report(REPORT_EXECUTED, r, price, qty, 0, now_ns)
        self._loss_check(now_ns)
        return rep

    def on_canceled(self, user_ref: int, qty: int, reason: int = ord("U"), now_ns: int = 0):
        check_uint(user_ref, 32, "user_ref")
        check_uint(qty, 32, "qty")
        reason = check_uint(side_byte(reason), 8, "reason")
        check_uint(now_ns, 64, "now_ns")
        r = self._order_of(user_ref)
        if r is None:
            return self._illegal(Bad.UNKNOWN_REF, user_ref)
        if qty == 0:
            return self._illegal(Bad.ZERO_QTY, user_ref)
        if not _is_open(r.state):
            return self._illegal(Bad.AFTER_CLOSE, user_ref)
        if not r.acked:
            return self._illegal(Bad.NOT_ACCEPTED, user_ref)
        if qty > r.leaves:
            return self._illegal(Bad.OVERCANCEL, user_ref)
        s = r.sym
        self._open_shrink(s, r, qty)
        r.canceled += qty
        if r.leaves == 0:
            r.state = State.CANCELED
            self._unlink(s, user_ref - 1)
        self._c["canceled"] += 1
        return self._report(REPORT_CANCELED, r, r.price, qty, reason, now_ns)

    def on_rejected(self, user_ref: int, reason: int = 0, now_ns: int = 0):
        check_uint(user_ref, 32, "user_ref")
        check_uint(reason, 16, "reason")
        check_uint(now_ns, 64, "now_ns")
        r = self._order_of(user_ref)
        if r is None:
            return self._illegal(Bad.UNKNOWN_REF, user_ref)
        if not _is_open(r.state):
            return self._illegal(Bad.AFTER_CLOSE, user_ref)
        if r.acked:
            return self._illegal(Bad.REJECT_ACCEPTED, user_ref)
        s = r.sym
        self._open_shrink(s, r, r.leaves)
        r.canceled = r.qty - r.filled
        r.state = State.REJECTED
        self._unlink(s, user_ref - 1)
        self._c["exch_rejected"] += 1
        return self._report(REPORT_REJECTED, r, r.price, r.qty, RISK_EXCHANGE | (reason & 0x7FFF), now_ns)

    def on_cancel_rejected(self, user_ref: int, now_ns: int = 0):
        check_uint(user_ref, 32, "user_ref")
        check_uint(now_ns, 64, "now_ns")
        r = self._order_of(user_ref)
        if r is None:
            return self._illegal(Bad.UNKNOWN_REF, user_ref)
        if not _is_open(r.state):
            return self._illegal(Bad.AFTER_CLOSE, user_ref)
        if r.state != State.CANCEL_PENDING:
            return self._illegal(Bad.NO_CANCEL, user_ref)
        r.state = State.PARTIALLY_FILLED if r.filled else State.ACCEPTED if r.acked else State.PENDING_NEW
        self._c["cancel_refused"] += 1
        return self._report(REPORT_REJECTED, r, r.price, r.qty, Risk.CANCEL_REFUSED, now_ns)

    # ------------------------------------------------------------ market data
    def on_quote(self, locate: int, bid: int, ask: int, now_ns: int = 0) -> bool:
        """The symbol's best bid and ask (0: that side empty).  True if the
        symbol is declared (applied), False if not (ignored).  May trip the
        loss limit: see pending()."""
        check_uint(locate, 32, "locate")
        check_uint(bid, 32, "bid")
        check_uint(ask, 32, "ask")
        check_uint(now_ns, 64, "now_ns")
        s = self._sym_of.get(locate)
        if s is None:
            return False
        self._c["quotes"] += 1
        s.bid, s.ask = bid, ask
        if bid and ask:
            self._sym_out(s)
            s.mark = (bid + ask) // 2
            s.has_mid = True
            self._sym_in(s)
            self._loss_check(now_ns)
        return True

    # ------------------------------------------------------------ queries
    def counters(self) -> dict:
        """The counters (oms.h's ll_oms_counters); `rejects` and `illegals`
        by name, the nonzero ones only."""
        out = dict(self._c)
        out["rejects"] = {Risk(i).name: n for i, n in enumerate(self._rejects) if n}
        out["illegals"] = {Bad(i).name: n for i, n in enumerate(self._illegals) if n}
        return out

    def order_count(self) -> int:
        return len(self._orders)

    def open_orders(self) -> int:
        return self._open_orders

    def fill_count(self) -> int:
        return len(self._fills)

    def _rec(self, idx: int) -> OrderRec:
        r = self._orders[idx]
        return OrderRec(idx + 1, r.cl_ord_id, r.locate, r.side, r.price, r.qty, r.filled, r.canceled, r.leaves,
                        State(r.state), r.exch_ref, r.sent_ns)

    def order(self, user_ref: int) -> OrderRec | None:
        return self._rec(user_ref - 1) if isinstance(user_ref, int) and 1 <= user_ref <= len(self._orders) else None

    def order_by_id(self, cl_ord_id: int) -> OrderRec | None:
        idx = self._by_id.get(cl_ord_id)
        return None if idx is None else self._rec(idx)

    def orders(self) -> list[OrderRec]:
        """Every order of the session, in user_ref order."""
        return [self._rec(i) for i in range(len(self._orders))]

    def fills(self) -> list[FillRec]:
        """Every execution logged, in arrival order."""
        return list(self._fills)

    @staticmethod
    def _pos_rec(s: _Sym) -> PositionRec:
        return PositionRec(s.locate, s.pos, _clamp(s.cost), _clamp(s.realized), _clamp(s.unrealized()), s.open_buy,
                           s.open_sell, s.bought, s.sold, s.mark, s.bid, s.ask, len(s.open))

    def position(self, locate: int) -> PositionRec | None:
        s = self._sym_of.get(locate)
        return None if s is None else self._pos_rec(s)

    def positions(self) -> list[PositionRec]:
        """Every declared symbol's, in declaration order."""
        return [self._pos_rec(s) for s in self._syms]

    def totals(self) -> tuple[int, int, int]:
        """(realized, unrealized, gross exposure) over every symbol."""
        return (_clamp(self._realized), _clamp(self._unrealized), _clamp(self._pos_notional + self._open_notional))

    def check(self) -> int:
        """0 if every invariant holds (cimpl/oms.h's ll_oms_check), else a code > 0."""
        realized = unrealized = pos_notional = open_notional = 0
        open_total = 0
        for s in self._syms:
            ob = os_ = bought = sold = n_open = 0
            for r in self._orders:
                if r.sym is not s:
                    continue
                if r.side == BUY:
                    bought += r.filled
                else:
                    sold += r.filled
                if _is_open(r.state):
                    n_open += 1
                    if r.side == BUY:
                        ob += r.leaves
                    else:
                        os_ += r.leaves
                    open_notional += r.price * r.leaves
            if any(not _is_open(r.state) for r in s.open.values()):
                return 10
            if n_open != len(s.open):
                return 11
            if (ob, os_) != (s.open_buy, s.open_sell):
                return 12
            if (bought, sold) != (s.bought, s.sold) or s.pos != bought - sold:
                return 13
            if s.pos == 0 and s.cost != 0:
                return 14
            realized += s.realized
            unrealized += s.unrealized()
            pos_notional += s.pos_notional()
            open_total += n_open
        if open_total != self._open_orders:
            return 15
        if (realized, unrealized, pos_notional, open_notional) != (self._realized, self._unrealized,
                                                                     self._pos_notional, self._open_notional):
            return 16
        for i, r in enumerate(self._orders):
            if r.filled + r.canceled > r.qty:
                return 20
            if _is_open(r.state) != (r.leaves > 0):
                return 21
            if r.state == State.FILLED and r.filled == 0:
                return 22
            if self._by_id.get(r.cl_ord_id) != i:
                return 23
        if any(f.match_number not in self._matches for f in self._fills):
            return 30
        return 0


class OmsFull(ValueError):
    """A fixed capacity of the OMS (its symbol table) is exhausted."""


_COUNTERS = ("intents", "sent", "rejected", "cancel_intents", "cancels_sent", "cancel_rejected", "accepted",
             "executions", "canceled", "exch_rejected", "cancel_refused", "fills_unrecorded", "illegal", "quotes",
             "kills", "resumes")
