"""Lab 5: a deterministic feed simulator writing NASDAQ TotalView-ITCH 5.0.

`simulate(n, seed)` returns the framed byte stream of a small market (default
8 symbols, stock locates 1..8), the layout of NASDAQ's sample files (2-byte
length, then the message; see pyimpl.itch).  Same seed, same bytes.

    System Event 'O' (start of messages)            03:00
    Stock Directory, one per symbol                 03:00 + 1 us each
    System Event 'S' (start of system hours)        04:00
    System Event 'Q' (start of market hours)        09:30
    n order-flow messages: A F X D E C U            from 09:30, bursty
    System Event 'M' (end of market hours)          16:00, or right after the flow
    System Event 'E' (end of system hours)          20:00, or right after
    System Event 'C' (end of messages)              5 minutes later

so the stream holds n + len(symbols) + 6 messages (`header_messages`).  System
events have stock locate 0; every tracking number is 0 (NASDAQ-internal, not
modelled).

The market
----------
Each symbol has a latent *fair price* f (in ticks of $0.01; starting
log-uniform in $10..$500) and a latent *pressure* p.  Every order-flow message
belongs to one symbol (busy symbols more often: weights rank**-ACTIVITY_SKEW,
and a burst mostly on one symbol); on each of its messages that symbol's
latent state moves first:

    p <- PRESSURE_PHI * p + PRESSURE_STD * sqrt(1 - PRESSURE_PHI**2) * N(0, 1)   (AR(1), std PRESSURE_STD)
    g <- g + LAG_ALPHA * (p - g)                (g: p, smoothed: it lags p by ~1/LAG_ALPHA messages)
    f <- f + FAIR_DRIFT * g + FAIR_NOISE * N(0, 1)

then one event happens on its book:

    add (A, or F with an MPID for ADD_ATTRIBUTED of them)   P_ADD
        buy with probability 1/2 + ADD_TILT * p (p clipped to [-1, 1]);
        price: the bid anchor ceil(f) - 1 minus k ticks (asks: floor(f) + 1
        plus k), k geometric with P(k) ~ DEPTH_DECAY**k, so the depth thins
        away from the touch; 100-share lots mostly, odd lots sometimes
    delete (D)                                               P_DELETE
        a stale order (a bid above f, an ask below f: the price has moved
        through it) with probability STALE_PICK when there is one, else a
        random resting order of the symbol
    partial cancel (X)                                       P_CANCEL
        part of a random order (a 1-share order is deleted instead)
    execution (E, or C for EXEC_WITH_PRICE of them)          P_EXECUTE
        against the oldest order at the touch: a stale touch is taken first;
        otherwise the aggressor buys (takes the best ask) with probability
        1/2 + EXEC_TILT * p.  The whole order (FULL_EXECUTION) or part of it.
        A C message carries the resting order's price, printable mostly.
    replace (U)                                              P_REPLACE
        a random order re-priced like a new add on its side, a new ref, and
        its size kept or redrawn

So the signal, for lab 6 to find: pressure tilts the *side* of arriving
orders and executions at once, and moves the fair price, hence the book's
mid, only after the lag LAG_ALPHA puts in - order-flow imbalance (buy adds
minus sell adds, buyer- minus seller-initiated volume) leads the mid-price
move.  tests/test_feed.py measures it: the correlation of a symbol's flow
imbalance over its last 50 messages with its mid's move over the next 50 is
about +0.6 (300 k messages, seeds 0-2), and the imbalance carries most of what
the past mid move says about the next one.  (The mid also trends: the
pressure is persistent and the book follows the fair price with a lag, so
past moves predict future ones too, less well.)

The book never crosses: a bid is placed strictly below the best ask (an add
that would cross or lock it goes one tick below the best ask instead), an ask
strictly above the best bid; executions take the oldest order at the touch
(price-time priority).  The simulator
keeps every resting order (ref, side, price, shares left), so it never
cancels, executes, deletes or replaces an order that is not there, never
takes more shares than remain, never emits zero shares; order refs and match
numbers increase, a replace gets a new ref.  It holds each symbol's book near
BOOK_MAX orders: an add that would exceed it becomes a delete (and any event
other than an add on an empty book becomes an add), which pulls the mix
slightly toward deletes.  Message mix on 1 M messages (seed 0): A 42.8%,
F 2.3%, D 41.0%, X 3.5%, E 5.5%, C 1.0%, U 4.0%.  The book that results has
a spread of 1 tick (~70% of the time) or 2, ~5 orders at the touch and ~13
price levels a side.

Arrival times are bursty: calm stretches (mean CALM_RUN messages, gaps
exponential with mean CALM_GAP_NS) alternate with bursts (mean BURST_RUN
messages, gaps of mean BURST_GAP_NS, BURST_FOCUS of them on the burst's
symbol).  Timestamps strictly increase (every gap is at least 1 ns).

Speed: simulate(1_000_000) takes about 1.8 s in CPython 3.11 on the 2-core
development machine (numpy draws the random numbers in batches of BATCH; the
loop is plain Python).  The draws are made a whole batch at a time, so the
order flow of simulate(n, seed) is the beginning of simulate(m, seed) for any
m > n.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence

import numpy as np

from pyimpl import itch

# ------------------------------------------------------------- the market
DEFAULT_TICKERS = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "INTC",
                   "CSCO", "PEP", "COST", "ADBE", "NFLX", "AMD", "QCOM", "SBUX")
TICK = 100  # ITCH price units (1/10000 $) per tick of $0.01
PRICE_RANGE = (10.0, 500.0)  # $, initial fair prices, log-uniform
FAIR_FLOOR = 100.0  # ticks ($1): the fair price reflects off it
ACTIVITY_SKEW = 0.6  # symbol i (0-based) is picked with weight (i + 1) ** -ACTIVITY_SKEW

# event probabilities per order-flow message (before the book-size rule)
P_ADD = 0.48
P_DELETE = 0.38
P_CANCEL = 0.035
P_EXECUTE = 0.065
P_REPLACE = 0.04
ADD_ATTRIBUTED = 0.05  # share of adds sent as F (with an MPID)
MPIDS = (b"GSCO", b"MSCO", b"JPMS", b"UBSS", b"CDRG", b"VIRT", b"SUSQ", b"NITE")
EXEC_WITH_PRICE = 0.15  # share of executions sent as C
PRINTABLE = 0.9  # share of C executions marked printable
FULL_EXECUTION = 0.6  # share of executions taking the whole order
DEPTH_DECAY = 0.7  # P(k ticks behind the anchor) ~ DEPTH_DECAY ** k
ODD_LOT = 0.1  # share of adds for 1..99 shares; the rest: 100 * (1 + geometric)
LOT_DECAY = 0.6  # P(100 * (1 + j) shares) ~ LOT_DECAY ** j
BOOK_MAX = 120  # resting orders per symbol the book is held near
STALE_PICK = 0.8  # P(a delete takes a stale order, when there is one)

# the latent pressure and the fair price (per message of the symbol)
PRESSURE_PHI = 0.98  # AR(1) coefficient: the pressure's half-life is ~35 messages of its symbol
PRESSURE_STD = 0.6  # its stationary standard deviation
ADD_TILT = 0.3  # P(an add is a buy) = 1/2 + ADD_TILT * p
EXEC_TILT = 0.4  # P(an execution's aggressor buys) = 1/2 + EXEC_TILT * p
LAG_ALPHA = 0.1  # the fair price follows the pressure smoothed with this weight: a lag of ~10 messages
FAIR_DRIFT = 0.05  # ticks per message at g = 1
FAIR_NOISE = 0.1  # ticks per message: the fair price's own random walk

# arrival times
CALM_RUN, BURST_RUN = 20.0, 12.0  # mean messages per stretch
CALM_GAP_NS, BURST_GAP_NS = 20_000.0, 300.0  # mean gaps
BURST_FOCUS = 0.7

# the session (ns since midnight)
HOUR = 3600 * 10**9
START_OF_MESSAGES = 3 * HOUR
START_OF_SYSTEM = 4 * HOUR
START_OF_MARKET = 9 * HOUR + HOUR // 2
END_OF_MARKET = 16 * HOUR
END_OF_SYSTEM = 20 * HOUR
END_OF_MESSAGES_AFTER = 5 * 60 * 10**9

BATCH = 1 << 16  # messages whose random numbers numpy draws at once (changing it changes every stream)

_NO_BID, _NO_ASK = 0, 1 << 40  # best prices of an empty side, in ticks
_LO32 = 0xFFFFFFFF


def header_messages(n_symbols: int) -> int:
    """Messages simulate() adds around the order flow: O, one R per symbol,
    S, Q before it; M, E, C after it."""
    return n_symbols + 6


def _framed(t: bytes) -> struct.Struct:
    """itch.STRUCTS[t] with the 2-byte length in front: one pack per frame."""
    return struct.Struct(">H" + itch.STRUCTS[t].format[1:])


def _tickers(symbols: int | Sequence[str]) -> tuple[str, ...]:
    if isinstance(symbols, int) and not isinstance(symbols, bool):
        if not 1 <= symbols <= 65535:
            raise ValueError(f"symbols must be 1..65535 (stock locates are u16), got {symbols}")
        extra = [f"SYM{i:05d}" for i in range(len(DEFAULT_TICKERS), symbols)]
        return (DEFAULT_TICKERS + tuple(extra))[:symbols]
    names = tuple(symbols)
    for s in names:
        if not isinstance(s, str) or not 1 <= len(s) <= 8 or not s.isascii() or " " in s:
            raise ValueError(f"a ticker is 1-8 ASCII characters without spaces, got {s!r}")
    if not 1 <= len(names) <= 65535 or len(set(names)) != len(names):
        raise ValueError(f"symbols must be 1..65535 distinct tickers, got {len(names)} ({len(set(names))} distinct)")
    return names


class _Book:
    """The simulator's own model of one symbol's book: every resting order
    (ref -> [side, price in ticks, shares left, index in `live`]), the refs
    at each price oldest first (dicts keep insertion order), the best price
    of each side, and the list of live refs for picking one at random."""

    __slots__ = ("best", "levels", "live", "orders")

    def __init__(self) -> None:
        self.orders: dict[int, list[int]] = {}
        self.levels: tuple[dict[int, dict[int, None]], ...] = ({}, {})  # 0: bids, 1: asks
        self.best = [_NO_BID, _NO_ASK]
        self.live: list[int] = []

    def add(self, ref: int, side: int, px: int, shares: int) -> None:
        q = self.levels[side].get(px)
        if q is None:
            self.levels[side][px] = {ref: None}
        else:
            q[ref] = None
        self.orders[ref] = [side, px, shares, len(self.live)]
        self.live.append(ref)
        best = self.best
        if px > best[0] if side == 0 else px < best[1]:
            best[side] = px

    def remove(self, ref: int) -> list[int]:
        rec = self.orders.pop(ref)
        side, px = rec[0], rec[1]
        lv = self.levels[side]
        q = lv[px]
        del q[ref]
        if not q:
            del lv[px]
            if px == self.best[side]:  # the touch emptied: find the next level
                if side == 0:
                    self.best[0] = max(lv) if lv else _NO_BID
                else:
                    self.best[1] = min(lv) if lv else _NO_ASK
        live = self.live
        last = live.pop()  # swap-remove: O(1)
        if last != ref:
            i = rec[3]
            live[i] = last
            self.orders[last][3] = i
        return rec


class Feed:
    """A simulated ITCH 5.0 stream: `data` (the framed bytes), `symbols`
    (tickers; stock locate of symbols[i] is i + 1), `n_messages` (order-flow
    messages), `seed`.  See the module docstring for the market."""

    def __init__(self, n_messages: int, seed: int = 0, symbols: int | Sequence[str] = 8) -> None:
        if not isinstance(n_messages, int) or isinstance(n_messages, bool) or n_messages < 0:
            raise ValueError(f"n_messages must be a non-negative integer, got {n_messages!r}")
        self.n_messages = n_messages
        self.seed = seed
        self.symbols = _tickers(symbols)
        self.locates = {s: i + 1 for i, s in enumerate(self.symbols)}
        self.data = _generate(n_messages, np.random.default_rng(seed), self.symbols)

    def __len__(self) -> int:
        """Messages in the stream, header and trailer included."""
        return self.n_messages + header_messages(len(self.symbols))

    def messages(self) -> Iterator[itch.Message]:
        return itch.read_messages(self.data)

    def frames(self) -> Iterator[tuple[int, memoryview]]:
        return itch.iter_frames(self.data)


def simulate(n_messages: int, seed: int = 0, symbols: int | Sequence[str] = 8) -> bytes:
    """n_messages order-flow messages for `symbols` (a count: the first of
    DEFAULT_TICKERS; or the tickers), framed, with the session's system
    events and stock directory around them (header_messages more)."""
    return Feed(n_messages, seed, symbols).data


# ------------------------------------------------------------- generation
def _arrivals(rng: np.random.Generator, n: int, weights: np.ndarray) -> tuple[list[int], list[int]]:
    """Gaps (ns, >= 1) and symbol indexes for n messages: calm stretches and
    bursts, alternating, each burst mostly on one symbol."""
    k = len(weights)
    runs = int(2 * n / (CALM_RUN + BURST_RUN)) + 16
    lengths = np.empty(2 * runs, dtype=np.int64)
    lengths[0::2] = rng.geometric(1.0 / CALM_RUN, runs)
    lengths[1::2] = rng.geometric(1.0 / BURST_RUN, runs)
    while lengths.sum() < n:  # vanishingly rare: more stretches
        lengths = np.concatenate([lengths, rng.geometric(1.0 / CALM_RUN, 2 * runs)])
    run_of = np.repeat(np.arange(len(lengths)), lengths)[:n]
    burst = (run_of & 1).astype(bool)
    gaps = np.where(burst, rng.exponential(BURST_GAP_NS, n), rng.exponential(CALM_GAP_NS, n))
    gaps = gaps.astype(np.int64) + 1
    sym = rng.choice(k, size=n, p=weights)
    focus = rng.choice(k, size=len(lengths), p=weights)[run_of]
    sym = np.where(burst & (rng.random(n) < BURST_FOCUS), focus, sym)
    return gaps.tolist(), sym.tolist()


def _generate(n: int, rng: np.random.Generator, tickers: Sequence[str]) -> bytes:
    k = len(tickers)
    stocks = [t.encode("ascii").ljust(8) for t in tickers]  # the Alpha(8) field
    weights = np.arange(1, k + 1, dtype=float) ** -ACTIVITY_SKEW
    weights /= weights.sum()
    lo, hi = np.log(PRICE_RANGE[0] * 100), np.log(PRICE_RANGE[1] * 100)
    fair = np.exp(rng.uniform(lo, hi, k)).tolist()  # ticks
    pressure = (rng.standard_normal(k) * PRESSURE_STD).tolist()
    lagged = pressure[:]
    books = [_Book() for _ in range(k)]

    out: list[bytes] = []
    emit = out.append
    system = _framed(b"S").pack
    emit(system(12, b"S", 0, 0, START_OF_MESSAGES >> 32, START_OF_MESSAGES & _LO32, b"O"))
    for i, stock in enumerate(stocks):
        ts = START_OF_MESSAGES + (i + 1) * 1000
        emit(struct.pack(">H", 39) + itch.encode(itch.StockDirectory(i + 1, 0, ts, stock)))
    emit(system(12, b"S", 0, 0, START_OF_SYSTEM >> 32, START_OF_SYSTEM & _LO32, b"S"))
    emit(system(12, b"S", 0, 0, START_OF_MARKET >> 32, START_OF_MARKET & _LO32, b"Q"))

    pack_a, pack_f, pack_e, pack_c = (_framed(t).pack for t in (b"A", b"F", b"E", b"C"))
    pack_x, pack_d, pack_u = (_framed(t).pack for t in (b"X", b"D", b"U"))
    sides = (b"B", b"S")
    mpids = MPIDS
    n_mpids = len(MPIDS)
    # thresholds on one uniform draw per message
    c_add = P_ADD
    c_del = c_add + P_DELETE
    c_can = c_del + P_CANCEL
    c_exe = c_can + P_EXECUTE
    shock = PRESSURE_STD * (1.0 - PRESSURE_PHI**2) ** 0.5
    phi, alpha, drift, noise, floor2 = PRESSURE_PHI, LAG_ALPHA, FAIR_DRIFT, FAIR_NOISE, 2 * FAIR_FLOOR
    next_ref, match = 1, 0
    t = START_OF_MARKET

    for first in range(0, n, BATCH):
        # always a whole batch of draws, of which the last batch uses the first b: so the
        # order flow of simulate(n) is the start of simulate(m) for m > n (same seed)
        b = min(BATCH, n - first)
        gaps, syms = _arrivals(rng, BATCH, weights)
        u_event, u_side, u_pick, u_aux, u_more = rng.random((5, BATCH)).tolist()
        z = rng.standard_normal((2, BATCH)).tolist()
        depth = (rng.geometric(1.0 - DEPTH_DECAY, BATCH) - 1).tolist()
        lots = np.where(rng.random(BATCH) < ODD_LOT, rng.integers(1, 100, BATCH),
                        100 * rng.geometric(1.0 - LOT_DECAY, BATCH)).tolist()
        for s, gap, u, us, up, ua, um, zp, zf, kd, size, _ in zip(
                syms, gaps, u_event, u_side, u_pick, u_aux, u_more, z[0], z[1], depth, lots, range(b)):
            t += gap
            hi_t, lo_t = t >> 32, t & _LO32
            loc = s + 1
            # the latent state moves first
            p = phi * pressure[s] + shock * zp
            pressure[s] = p
            g = lagged[s]
            g += alpha * (p - g)
            lagged[s] = g
            f = fair[s] + drift * g + noise * zf
            if f < FAIR_FLOOR:
                f = floor2 - f
            fair[s] = f
            tilt = p if -1.0 < p < 1.0 else (1.0 if p > 0 else -1.0)
            fl = int(f)
            bid_anchor = fl if f > fl else fl - 1  # ceil(f) - 1
            ask_anchor = fl + 1  # floor(f) + 1

            bk = books[s]
            orders, live, levels, best = bk.orders, bk.live, bk.levels, bk.best
            bb, ba = best
            n_live = len(live)
            if u < c_add:
                kind = 0 if n_live < BOOK_MAX else 1
            elif n_live == 0:
                kind = 0
            elif u < c_del:
                kind = 1
            elif u < c_can:
                kind = 2
            elif u < c_exe:
                kind = 3
            else:
                kind = 4

            if kind == 0:  # ---------------------------------- add
                if us < 0.5 + ADD_TILT * tilt:
                    side, px = 0, bid_anchor - kd
                    if px >= ba:
                        px = ba - 1
                    px = max(px, 1)  # still below the best ask: asks sit above FAIR_FLOOR
                else:
                    side, px = 1, ask_anchor + kd
                    if px <= bb:
                        px = bb + 1
                ref = next_ref
                next_ref += 1
                bk.add(ref, side, px, size)
                if ua < ADD_ATTRIBUTED:
                    emit(pack_f(40, b"F", loc, 0, hi_t, lo_t, ref, sides[side], size, stocks[s], px * TICK,
                                mpids[int(um * n_mpids)]))
                else:
                    emit(pack_a(36, b"A", loc, 0, hi_t, lo_t, ref, sides[side], size, stocks[s], px * TICK))

            elif kind == 1:  # -------------------------------- delete
                if ba < f and ua < STALE_PICK:
                    ref = next(iter(levels[1][ba]))
                elif bb > f and ua < STALE_PICK:
                    ref = next(iter(levels[0][bb]))
                else:
                    ref = live[int(up * n_live)]
                bk.remove(ref)
                emit(pack_d(19, b"D", loc, 0, hi_t, lo_t, ref))

            elif kind == 2:  # -------------------------------- partial cancel
                ref = live[int(up * n_live)]
                rec = orders[ref]
                left = rec[2]
                if left < 2:
                    bk.remove(ref)
                    emit(pack_d(19, b"D", loc, 0, hi_t, lo_t, ref))
                else:
                    if left % 100 == 0 and left > 100:
                        q = 100 * (1 + int(ua * (left // 100 - 1)))  # whole lots, 100..left-100
                    else:
                        q = 1 + int(ua * (left - 1))  # 1..left-1
                    rec[2] = left - q
                    emit(pack_x(23, b"X", loc, 0, hi_t, lo_t, ref, q))

            elif kind == 3:  # -------------------------------- execution
                if ba < f:
                    rs = 1  # a stale ask: bought first
                elif bb > f:
                    rs = 0
                else:
                    rs = 1 if us < 0.5 + EXEC_TILT * tilt else 0  # the aggressor buys: takes an ask
                if not levels[rs]:
                    rs = 1 - rs
                ref = next(iter(levels[rs][best[rs]]))  # the oldest order at the touch
                rec = orders[ref]
                left = rec[2]
                if ua < FULL_EXECUTION or left == 1:
                    q = left
                else:
                    q = 1 + int(up * (left - 1))
                match += 1
                if um < EXEC_WITH_PRICE:
                    printable = b"Y" if um < EXEC_WITH_PRICE * PRINTABLE else b"N"
                    emit(pack_c(36, b"C", loc, 0, hi_t, lo_t, ref, q, match, printable, rec[1] * TICK))
                else:
                    emit(pack_e(31, b"E", loc, 0, hi_t, lo_t, ref, q, match))
                if q == left:
                    bk.remove(ref)
                else:
                    rec[2] = left - q

            else:  # ------------------------------------------ replace
                ref = live[int(up * n_live)]
                side, _, left, _ = bk.remove(ref)
                if side == 0:
                    px = bid_anchor - kd
                    if px >= ba:
                        px = ba - 1
                    px = max(px, 1)
                else:
                    px = ask_anchor + kd
                    if px <= best[0]:
                        px = best[0] + 1
                if ua < 0.5:
                    left = size
                new = next_ref
                next_ref += 1
                bk.add(new, side, px, left)
                emit(pack_u(35, b"U", loc, 0, hi_t, lo_t, ref, new, left, px * TICK))

    m_ts = max(END_OF_MARKET, t + 1000)
    e_ts = max(END_OF_SYSTEM, m_ts + 1000)
    c_ts = e_ts + END_OF_MESSAGES_AFTER
    for ts, code in ((m_ts, b"M"), (e_ts, b"E"), (c_ts, b"C")):
        emit(system(12, b"S", 0, 0, ts >> 32, ts & _LO32, code))
    return b"".join(out)
