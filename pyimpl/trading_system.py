"""Lab 7, Python: the trading system's wire messages and its strategy.

Two things live here, both needed by both languages:

1. **The wires** between the three processes (cimpl/ts_layout.h is the one
   definition, with the reasons for each ring; this is its twin in struct
   formats, checked field by field against `ll_ts_layout_info` by a test):
   the feed (exchange -> engine), snapshots (ring A, engine -> strategy),
   intents (ring B, strategy -> engine), reports (ring C, engine -> strategy)
   and the OUCH wire (engine <-> exchange).

2. **The strategy**, one class with a transport-free interface::

       on_features(snapshot) -> list[Intent]   # a book update reached the strategy
       on_execution(report)                    # one of its orders filled (part or whole)
       on_reject(report)                       # the engine's risk checks or the exchange said no
       on_cancel(report), on_accept(report)    # the rest of an order's life (optional)

   It never reads a ring, a socket or a clock: lab 7 runs it live behind
   rings (or a peer transport), lab 8's backtester calls the same methods
   from its event loop, so a strategy is tested, measured and run without
   rewriting it.  `SignalStrategy` is lab 6's model turned into orders; the
   engine's C strategy (`--strategy c`) implements the same rules, and a test
   holds the two to the same intents on the same snapshots.

Prices are ITCH's (u32, 1/10000 dollar), sides ITCH's b"B" / b"S" as ints
(66 / 83), times CLOCK_MONOTONIC ns (time.monotonic_ns(), the C side's
ll_now_ns: one clock for every process on the machine).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from .ml_inference import FEATURES, N_FEATURES

__all__ = [
    "BUY", "SELL", "FEED", "SNAPSHOT", "INTENT", "REPORT", "WIRE", "SLOTS", "Snapshot", "Intent", "Report",
    "Strategy", "SignalParams", "SignalStrategy", "MarketMakerParams", "MarketMaker", "pack_intent", "unpack_snapshot", "unpack_report",
    "pack_snapshot", "unpack_intent", "pack_report",
]

BUY, SELL = 66, 83  # b"B"[0], b"S"[0]: ITCH's and OUCH's side bytes

# ------------------------------------------------------------ the wires (cimpl/ts_layout.h)
# '<': little-endian and no padding, so every offset is written out; the C
# structs are naturally aligned with the same offsets (the layout test checks).
FEED = struct.Struct("<QQ40s")  # ll_ts_feed: seq, send_ns, ITCH message (unframed, zero padded)
SNAPSHOT = struct.Struct(f"<QQQHHIIIII{N_FEATURES}d")  # ll_ts_snapshot
INTENT = struct.Struct("<BBHIIIQQQQI4x")  # ll_ts_intent
REPORT = struct.Struct("<BBHIIIIH2xqQ")  # ll_ts_report
WIRE = struct.Struct("<QQH6x96s")  # ll_ts_wire: sent_ns, tick_ns, len, OUCH bytes

# ring slot sizes (a seq-slot slot carries an 8-byte sequence word in front of the message)
SLOTS = {"feed": 64, "snap": 128, "intent": 64, "report": 64, "wire": 128}

SNAP_FEATURES_OK = 1  # Snapshot.flags: every feature finite, the model may run

INTENT_NEW, INTENT_CANCEL, INTENT_HEARTBEAT, INTENT_BYE, INTENT_SIGNAL = 1, 2, 3, 4, 5
REPORT_ACCEPTED, REPORT_EXECUTED, REPORT_CANCELED, REPORT_REJECTED, REPORT_HALTED = 1, 2, 3, 4, 5


class Snapshot(NamedTuple):
    """What the engine tells the strategy after one book update (ring A)."""

    seq: int  # feed sequence number of the update
    send_ns: int  # its exchange send stamp: where tick-to-signal starts
    engine_ns: int
    locate: int
    flags: int
    dropped: int  # snapshots the engine dropped before this one (the strategy was behind)
    bid: int
    ask: int
    bid_size: int
    ask_size: int
    features: tuple[float, ...]  # lab 6's FEATURES, in that order


class Intent(NamedTuple):
    """What the strategy asks of the engine (ring B).  The stamps are filled in
    by the strategy's runner, not by the strategy."""

    kind: int  # INTENT_*
    side: int = 0
    locate: int = 0
    cl_ord_id: int = 0  # the strategy's own id for the order, unique in the session
    price: int = 0
    qty: int = 0
    seq: int = 0  # the snapshot answered
    send_ns: int = 0
    recv_ns: int = 0
    sent_ns: int = 0
    signal_ppm: int = 0  # the model's P(up) x 1e6 (SIGNAL and orders the model decided)


class Report(NamedTuple):
    """What the engine tells the strategy about its orders (ring C)."""

    kind: int  # REPORT_*
    side: int
    locate: int
    cl_ord_id: int
    price: int
    qty: int
    leaves: int
    reason: int
    position: int  # the symbol's position after this report
    ns: int


def pack_snapshot(s: Snapshot) -> bytes:
    return SNAPSHOT.pack(*s[:10], *s.features)


def unpack_snapshot(buf, offset: int = 0) -> Snapshot:
    v = SNAPSHOT.unpack_from(buf, offset)
    return Snapshot(*v[:10], v[10:])


def pack_intent(i: Intent) -> bytes:
    return INTENT.pack(*i)


def unpack_intent(buf, offset: int = 0) -> Intent:
    return Intent(*INTENT.unpack_from(buf, offset))


def pack_report(r: Report) -> bytes:
    return REPORT.pack(*r)


def unpack_report(buf, offset: int = 0) -> Report:
    return Report(*REPORT.unpack_from(buf, offset))


# ------------------------------------------------------------ the strategy interface
class Strategy(Protocol):
    """The interface the live system (lab 7) and the backtester (lab 8) drive."""

    def on_features(self, snap: Snapshot) -> list[Intent]: ...

    def on_execution(self, report: Report) -> None: ...

    def on_reject(self, report: Report) -> None: ...


@dataclass(frozen=True)
class SignalParams:
    """The signal strategy's rules, shared with the engine's C strategy
    (trading_system.c, ll_ts_signal_params: the same fields in this order).

    On each snapshot of a symbol with both sides quoted and the model's
    features finite, the model gives p = P(mid moves up) (a SIGNAL intent:
    tick-to-signal is timed on every model run).  With no order open on that
    symbol:
      p >= enter       buy `qty` at the best ask (crossing: it takes the ask)
      p <= 1 - enter   sell `qty` at the best bid
    unless that would take |position| above `max_position`.  An order still
    open after `order_ttl` further snapshots of its symbol is cancelled (one
    that did not cross rests at the touch, and the signal it answered is
    stale).  After a rejection the symbol gets no new order for
    `reject_cooldown` snapshots (a strategy that asks again at once only
    hammers the engine's throttle).  At most one order per symbol is open at a
    time: the strategy's own rule, below the engine's risk limits, which it
    must never rely on."""

    enter: float = 0.6
    qty: int = 100
    max_position: int = 500
    order_ttl: int = 20
    reject_cooldown: int = 50


class _Open(NamedTuple):
    cl_ord_id: int
    side: int
    age: int  # snapshots of its symbol since it was sent


class SignalStrategy:
    """Lab 6's model, turned into orders (see SignalParams for the rules).

    `model` is either implementation of lab 6's Model (`pyimpl.ml_inference`,
    NumPy: `--model numpy`; `cimpl.ml_inference`, C through ctypes:
    `--model c`): anything with `columns` and `predict_one`."""

    def __init__(self, model, params: SignalParams = SignalParams(), first_id: int = 1) -> None:
        self.model, self.params = model, params
        self._cols = list(model.columns)
        self._next_id = first_id  # a restarted strategy starts above its predecessor's ids (ClOrdIDs are per session)
        self.open: dict[int, _Open] = {}  # locate -> its open order
        self.position: dict[int, int] = {}  # locate -> signed shares, from the engine's reports
        self.cooldown: dict[int, int] = {}  # locate -> snapshots to wait after a rejection
        self.signals = 0  # snapshots the model ran on
        self.fills = self.rejects = 0

    def _new(self, side: int, snap: Snapshot, price: int, ppm: int) -> Intent:
        cid, self._next_id = self._next_id, self._next_id + 1
        self.open[snap.locate] = _Open(cid, side, 0)
        return Intent(INTENT_NEW, side, snap.locate, cid, price, self.params.qty, signal_ppm=ppm)

    def on_features(self, snap: Snapshot) -> list[Intent]:
        p = self.params
        out: list[Intent] = []
        mine = self.open.get(snap.locate)
        if mine is not None:  # one order per symbol: age it, cancel it once stale
            mine = mine._replace(age=mine.age + 1)
            self.open[snap.locate] = mine
            if mine.age == p.order_ttl:
                out.append(Intent(INTENT_CANCEL, mine.side, snap.locate, mine.cl_ord_id))
        cooling = self.cooldown.get(snap.locate, 0) > 0
        if cooling:
            self.cooldown[snap.locate] -= 1
        if snap.bid == 0 or snap.ask == 0:
            return out
        x = [snap.features[c] for c in self._cols]
        if not finite(x):  # the model's inputs only, as lab 6's Pipeline (a window still filling...)
            return out
        prob = self.model.predict_one(x)
        self.signals += 1
        ppm = int(prob * 1e6 + 0.5)  # the C strategy rounds the same way
        if mine is None and not cooling:
            pos = self.position.get(snap.locate, 0)
            if prob >= p.enter and pos + p.qty <= p.max_position:
                out.append(self._new(BUY, snap, snap.ask, ppm))
                return out
            if prob <= 1.0 - p.enter and pos - p.qty >= -p.max_position:
                out.append(self._new(SELL, snap, snap.bid, ppm))
                return out
        out.append(Intent(INTENT_SIGNAL, locate=snap.locate, signal_ppm=ppm))
        return out

    def _closed(self, r: Report) -> None:
        mine = self.open.get(r.locate)
        if mine is not None and mine.cl_ord_id == r.cl_ord_id and r.leaves == 0:
            del self.open[r.locate]

    def on_execution(self, r: Report) -> None:
        self.fills += 1
        self.position[r.locate] = r.position
        self._closed(r)

    def on_reject(self, r: Report) -> None:
        self.rejects += 1
        mine = self.open.get(r.locate)
        if mine is not None and mine.cl_ord_id == r.cl_ord_id and r.leaves == 0:  # a refused cancel: still open
            del self.open[r.locate]
            self.cooldown[r.locate] = self.params.reject_cooldown  # the engine said no: do not ask again at once

    def on_cancel(self, r: Report) -> None:
        self._closed(r)

    def on_accept(self, r: Report) -> None:
        pass


@dataclass(frozen=True)
class MarketMakerParams:
    """The market maker's rules (lab 8's example of a passive strategy; its
    twin for hftbacktest in labs/backtest_peers.py follows them too).

    On each snapshot of a symbol it quotes (`symbols`: stock locates, None =
    every symbol) with both sides quoted, it wants a bid at the best bid and
    an ask at the best ask, skewed by its inventory: with `lots` =
    position / qty (toward zero), a long position lowers the bid by
    lots x skew_ticks ticks (it is less keen to buy more), a short one raises
    the ask.  A side is quoted only while one more fill there keeps
    |position| <= max_position.  For each side, bid first: a working order
    at another price (or on a side no longer allowed) is cancelled, and the
    new one goes out only once that cancel is confirmed (one order per side,
    never two in flight: the queue position of a resting order is what this
    strategy lives on, so it never replaces an order that is still right).
    After a rejection a side waits `reject_cooldown` snapshots of its symbol."""

    qty: int = 100
    max_position: int = 500
    skew_ticks: int = 1
    symbols: tuple[int, ...] | None = None
    reject_cooldown: int = 50


class _Quote:
    __slots__ = ("cl_ord_id", "price", "canceling")

    def __init__(self, cl_ord_id: int, price: int) -> None:
        self.cl_ord_id, self.price, self.canceling = cl_ord_id, price, False


class MarketMaker:
    """Quotes both sides at the touch, skews by inventory, caps its position
    (see MarketMakerParams).  The same interface as SignalStrategy: lab 7
    could run it live, lab 8 backtests it."""

    TICK = 100  # ITCH price units per $0.01

    def __init__(self, params: MarketMakerParams = MarketMakerParams(), first_id: int = 1) -> None:
        self.params = params
        self._symbols = None if params.symbols is None else frozenset(params.symbols)
        self._next_id = first_id
        self.quotes: dict[tuple[int, int], _Quote] = {}  # (locate, side) -> its working order
        self._by_id: dict[int, tuple[int, int]] = {}  # cl_ord_id -> (locate, side)
        self.position: dict[int, int] = {}
        self.cooldown: dict[tuple[int, int], int] = {}
        self.fills = self.rejects = 0

    def on_features(self, snap: Snapshot) -> list[Intent]:
        p = self.params
        loc = snap.locate
        if (self._symbols is not None and loc not in self._symbols) or snap.bid == 0 or snap.ask == 0:
            return []
        pos = self.position.get(loc, 0)
        lots = int(pos / p.qty)
        want = {BUY: snap.bid - max(lots, 0) * p.skew_ticks * self.TICK,
                SELL: snap.ask + max(-lots, 0) * p.skew_ticks * self.TICK}
        allowed = {BUY: pos + p.qty <= p.max_position, SELL: pos - p.qty >= -p.max_position}
        out: list[Intent] = []
        for side in (BUY, SELL):
            key = (loc, side)
            q = self.quotes.get(key)
            if q is not None:
                if (not allowed[side] or q.price != want[side]) and not q.canceling:
                    q.canceling = True
                    out.append(Intent(INTENT_CANCEL, side, loc, q.cl_ord_id))
                continue
            wait = self.cooldown.get(key, 0)
            if wait:
                self.cooldown[key] = wait - 1
                continue
            if allowed[side] and want[side] > 0:
                cid, self._next_id = self._next_id, self._next_id + 1
                self.quotes[key] = _Quote(cid, want[side])
                self._by_id[cid] = key
                out.append(Intent(INTENT_NEW, side, loc, cid, want[side], p.qty))
        return out

    def _gone(self, r: Report) -> tuple[int, int] | None:
        key = self._by_id.get(r.cl_ord_id)
        if key is not None and r.leaves == 0:
            del self._by_id[r.cl_ord_id]
            q = self.quotes.get(key)
            if q is not None and q.cl_ord_id == r.cl_ord_id:
                del self.quotes[key]
        return key

    def on_execution(self, r: Report) -> None:
        self.fills += 1
        self.position[r.locate] = r.position
        self._gone(r)

    def on_cancel(self, r: Report) -> None:
        self._gone(r)

    def on_reject(self, r: Report) -> None:
        self.rejects += 1
        key = self._by_id.get(r.cl_ord_id)
        if key is None:
            return
        q = self.quotes.get(key)
        if r.leaves == 0:  # the order is over (refused, or a cancel refused because it had closed)
            if q is not None and q.cl_ord_id == r.cl_ord_id and not q.canceling:
                self.cooldown[key] = self.params.reject_cooldown  # refused: this side waits
            self._gone(r)
        elif q is not None and q.cl_ord_id == r.cl_ord_id:  # a refused cancel: the order still works
            q.canceling = False

    def on_accept(self, r: Report) -> None:
        pass


def finite(features) -> bool:
    return all(map(math.isfinite, features))


assert len(FEATURES) == N_FEATURES
