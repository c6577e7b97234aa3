"""The check of exercises/backtest/avg-cost-pnl (see README.md)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from labs.exercises import Attempt, Exercise, Verdict

# The tolerance: 1e-9 of the money that went through the symbol (1 + the sum of qty x price of its fills + the
# position's value at the mark).  Rounding is what it allows for, and rounding lives on that scale: an average cost
# computed as (x*a + q*p) / (x + q) or as a + q*(p - a)/(x + q), a realized sum accumulated in another order, differ
# in the last bits of numbers of that size.  Measured on the random sequences below (the cost as a + (p - a)q/(x + q),
# realized as p*n - a*n, unrealized as x*m - x*a): at most 2.5e-16 of that scale, 2.6e-10 $ absolute - so a bare
# 1e-9 $ would be within a factor 4 of plain rounding on a $100,000 sequence.  A real mistake (a flip forgotten, the
# wrong cost) is off by cents to dollars on a case of a few hundred shares.
TOLERANCE = 1e-9
N_RANDOM, SEED = 5_000, 8  # the random fill sequences: a seeded generator, so the check is the same every run

# (name, fills, marks): each fill (locate, side +1 buy / -1 sell, qty, price $); marks: locate -> last mid ($)
CASES: list[tuple[str, list[tuple[int, int, int, float]], dict[int, float]]] = [
    ("one buy, marked higher", [(1, +1, 100, 10.00)], {1: 10.50}),
    ("a round trip to flat", [(1, +1, 100, 10.00), (1, -1, 100, 10.25)], {1: 10.40}),
    ("two buys at two prices, then a partial sell",
     [(1, +1, 100, 10.00), (1, +1, 300, 11.00), (1, -1, 200, 11.50)], {1: 11.00}),
    ("a short, added to", [(1, -1, 100, 20.00), (1, -1, 100, 21.00)], {1: 20.00}),
    ("a short, covered in two pieces", [(1, -1, 200, 20.00), (1, +1, 100, 19.50), (1, +1, 100, 20.10)],
     {1: 20.00}),
    ("a flip from long to short", [(1, +1, 100, 10.00), (1, -1, 300, 11.00)], {1: 10.50}),
    ("a flip from short to long, then a sale", [(1, -1, 200, 50.00), (1, +1, 500, 49.00), (1, -1, 100, 49.50)],
     {1: 49.25}),
    ("flat, then reopened at another price", [(1, +1, 100, 10.00), (1, -1, 100, 12.00), (1, +1, 100, 15.00)],
     {1: 15.00}),
    ("several symbols, interleaved",
     [(1, +1, 100, 10.00), (2, -1, 200, 30.00), (1, +1, 100, 10.20), (3, +1, 50, 99.99), (2, +1, 300, 29.80),
      (1, -1, 150, 10.30), (3, -1, 50, 100.01), (2, -1, 100, 29.90)],
     {1: 10.25, 2: 29.85, 3: 100.00}),
]


def reference(fills, marks) -> dict[int, tuple[int, float, float]]:
    """The rule (README.md), written plainly: the answer every attempt is held to."""
    book: dict[int, list] = {}  # locate -> [position (signed shares), average cost ($), realized ($)]
    for locate, side, qty, price in fills:
        position, avg_cost, realized = book.setdefault(locate, [0, 0.0, 0.0])
        trade = side * qty  # signed shares
        if position == 0:  # opens a position
            position, avg_cost = trade, price
        elif (position > 0) == (trade > 0):  # adds to it: the cost moves to the share-weighted mean
            avg_cost = (abs(position) * avg_cost + qty * price) / (abs(position) + qty)
            position += trade
        else:  # against it: reduces, closes or flips
            closed = min(qty, abs(position))
            direction = 1 if position > 0 else -1
            realized += (price - avg_cost) * closed * direction
            position += trade
            if position == 0:
                avg_cost = 0.0
            elif (position > 0) != (direction > 0):  # flipped: the rest was opened at this fill's price
                avg_cost = price
            # (reduced, not flipped: the shares left keep their cost)
        book[locate] = [position, avg_cost, realized]
    return {locate: (position, realized, position * (marks[locate] - avg_cost) if position else 0.0)
            for locate, (position, avg_cost, realized) in book.items()}


def random_cases(n: int = N_RANDOM, seed: int = SEED):
    """n random fill sequences: 1-3 symbols, 1-30 fills each, prices on the ITCH grid walking a tick or fifty at
    a time; a fifth of the fills against a position close it exactly, a fifth flip it."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        locates = [int(x) for x in rng.choice(np.arange(1, 9), int(rng.integers(1, 4)), replace=False)]
        units = {loc: int(rng.integers(5_0000, 200_0000)) for loc in locates}  # 1/10000 $
        position = dict.fromkeys(locates, 0)
        fills = []
        for _ in range(int(rng.integers(1, 31))):
            loc = locates[int(rng.integers(len(locates)))]
            units[loc] = max(100, units[loc] + int(rng.integers(-50, 51)) * 100)
            p, r = position[loc], rng.random()
            if p and r < 0.2:  # back to flat
                side, qty = (-1 if p > 0 else 1), abs(p)
            elif p and r < 0.4:  # through flat: a flip
                side, qty = (-1 if p > 0 else 1), abs(p) + int(rng.integers(1, 6)) * 100
            else:
                side = 1 if rng.random() < 0.5 else -1
                qty = int(rng.integers(1, 11)) * 100 if rng.random() < 0.7 else int(rng.integers(1, 1000))
            position[loc] += side * qty
            fills.append((loc, side, qty, units[loc] / 10_000))
        marks = {loc: (units[loc] + int(rng.integers(-20, 21)) * 50) / 10_000 for loc in locates}  # a mid: half ticks
        yield fills, marks


# ------------------------------------------------------------ comparing, in words
def _money(x) -> str:
    if isinstance(x, float) and math.isfinite(x) and abs(x - round(x, 2)) < 1e-9:
        return f"{'-' if x < 0 else ''}${abs(x):,.2f}"
    return repr(x)


def _price(p: float) -> str:
    return f"${p:,.2f}" if abs(p * 100 - round(p * 100)) < 1e-6 else f"${p:,.4f}"


def _words(fills, marks) -> str:
    out, last = [], None
    for locate, side, qty, price in fills:
        of = "" if locate == last else f" of symbol {locate}"
        out.append(f"{'buy' if side > 0 else 'sell'} {qty}{of} at {_price(price)}")
        last = locate
    mk = ", ".join(f"symbol {loc} at {_price(mid)}" for loc, mid in sorted(marks.items()))
    return f"{'; '.join(out)}; marked: {mk}"


def _triple(t) -> str:
    return f"position {t[0]}, realized {_money(t[1])}, unrealized {_money(t[2])}"


def _disagreement(got, want: dict, fills, marks) -> str | None:
    """None if got matches the reference's want, else what differs (one symbol)."""
    if not isinstance(got, Mapping):
        return f"pnl returned a {type(got).__name__}: it must return a dict locate -> (position, realized, unrealized)"
    if set(got) != set(want):
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        return (f"pnl returned symbols {sorted(got)}, the rule's are the symbols that have fills, {sorted(want)}"
                + (f" (missing {missing})" if missing else "") + (f" (not traded: {extra})" if extra else ""))
    for locate in sorted(want):
        g, w = got[locate], want[locate]
        if not isinstance(g, Sequence) or len(g) != 3:
            return f"symbol {locate}: pnl gave {g!r}, not a (position, realized, unrealized) triple"
        try:
            gp, gr, gu = int(g[0]), float(g[1]), float(g[2])
        except (TypeError, ValueError):
            return f"symbol {locate}: pnl gave {g!r}, not numbers"
        if gp != g[0]:
            return f"symbol {locate}: position {g[0]!r} is not a whole number of shares"
        mine = [f for f in fills if f[0] == locate]
        scale = 1.0 + sum(q * p for _, _, q, p in mine) + abs(w[0] * marks[locate])
        tol = TOLERANCE * scale
        bad = [name for name, a, b in (("realized", gr, w[1]), ("unrealized", gu, w[2]))
               if not (math.isfinite(a) and abs(a - b) <= tol)]
        if gp != w[0] or bad:
            what = "the position" if gp != w[0] else " and ".join(bad)
            hint = ""
            if gp == w[0] and len(bad) == 2 and abs((gr + gu) - (w[1] + w[2])) <= tol:
                hint = (" - realized + unrealized agree, so it is the split between them that differs: which cost "
                        "did the fill realize against, and should it have realized at all?")
            return (f"symbol {locate}: yours {_triple((g[0], g[1], g[2]))}; the rule's {_triple(w)} ({what} "
                    f"off{', tolerance ' + format(tol, '.2g') + ' $' if bad else ''}){hint}")
    return None


def _judge(fn, fills, marks) -> str | None:
    want = reference(fills, marks)
    try:
        got = fn([tuple(f) for f in fills], dict(marks))  # copies: an attempt that edits its input can't spoil ours
    except Exception as e:  # noqa: BLE001 - the learner's code raising is their failure, said plainly
        return f"pnl raised {type(e).__name__}: {e}"
    return _disagreement(got, want, fills, marks)


def _smallest(fn, fills, marks):
    """A failing random case cut down for reading: one symbol's fills if that still fails, then the shortest prefix
    that still fails."""
    for loc in sorted({f[0] for f in fills}):
        alone = [f for f in fills if f[0] == loc]
        if len(alone) < len(fills) and _judge(fn, alone, {loc: marks[loc]}):
            fills, marks = alone, {loc: marks[loc]}
            break
    for n in range(1, len(fills) + 1):
        traded = {f[0] for f in fills[:n]}
        cut = {loc: m for loc, m in marks.items() if loc in traded}
        if _judge(fn, fills[:n], cut):
            return fills[:n], cut
    return fills, marks


def check(attempt: Attempt) -> Verdict:
    fn = getattr(attempt.load_py("pnl.py"), "pnl", None)
    if not callable(fn):
        return Verdict(False, "pnl.py must define the function pnl(fills, marks)")
    # 1. the hand-picked cases, each a rule of the README
    for name, fills, marks in CASES:
        bad = _judge(fn, fills, marks)
        if bad:
            return Verdict(False, f"case '{name}' ({_words(fills, marks)}): {bad}")
    # 2. random fill sequences
    n_fills = 0
    for k, (fills, marks) in enumerate(random_cases()):
        n_fills += len(fills)
        if _judge(fn, fills, marks):
            small, small_marks = _smallest(fn, fills, marks)
            cut = f", cut to {len(small)} of its {len(fills)} fills" if len(small) < len(fills) else ""
            return Verdict(False, f"random sequence {k + 1:,} of {N_RANDOM:,} (seed {SEED}{cut}: "
                                  f"{_words(small, small_marks)}): {_judge(fn, small, small_marks)}")
    return Verdict(True, f"{len(CASES)} hand-picked cases and {N_RANDOM:,} random fill sequences ({n_fills:,} fills): "
                         f"every position exact, realized and unrealized the rule's to {TOLERANCE:g} of the money "
                         "traded")


EXERCISE = Exercise(
    lab="backtest",
    id="avg-cost-pnl",
    title="Realized and unrealized PnL by average cost",
    kind="correctness",
    files=("pnl.py",),
    check=check,
    guide="labs/08-backtest/README.md#exercises",
    start_fails_because="two buys at two prices",
)
