"""The check of exercises/order-book/price-levels (see README.md)."""

from __future__ import annotations

import struct
import time

from labs import feed
from labs.exercises import Attempt, CheckFailed, Exercise, Verdict, compare_speed, speed_verdict
from pyimpl import errors
from pyimpl import order_book as pob

NEED = 1.4  # the solution is ~2.2x the baseline here; its sorted prices alone (pyimpl's structure) ~1.5x
MESSAGES, SEED = 40_000, 5  # lab 5's seed; 40,014 ITCH messages, ~25 ms of reference book
DEPTH = 5  # what the reader asks for after every update (lab 6's features read the top 5 levels)
SNAPSHOT_EVERY = 2_000  # messages between two whole-book comparisons
_LOCATE = struct.Struct(">xH").unpack_from  # every message's stock locate, after the type byte


def levels_book(levels_cls):
    """pyimpl.order_book.Book with its price levels replaced by two `levels_cls`
    per instrument (bids, asks).  The order map, the checks before every change,
    the errors and the ITCH decoding are pyimpl's, unchanged: only the part the
    exercise replaces (the levels dicts and the sorted price lists of `add`,
    `_take`, `_remove`, `best`, `depth`) goes through the learner's class."""

    class LevelsBook(pob.Book):
        def _instrument(self, locate: int):
            book = self._books.get(locate)
            if book is None:
                pob._check_locate(locate)
                if len(self._books) >= self.max_instruments:
                    raise errors.book_full("instrument table", self.max_instruments)
                book = self._books[locate] = (levels_cls(True), levels_cls(False))
            return book

        def add(self, locate: int, ref: int, side: str, shares: int, price: int) -> None:
            s = pob.SIDES.get(side)
            if s is None:
                raise errors.bad_side(side)
            if shares <= 0:
                raise errors.zero_shares(ref)
            orders = self._orders
            if ref in orders:
                raise errors.duplicate_order(ref)
            if len(orders) >= self.max_orders:
                raise errors.book_full("order pool", self.max_orders)
            book = self._books.get(locate) or self._instrument(locate)
            orders[ref] = [locate, s, price, shares]
            book[s].add(price, shares)

        def _take(self, ref: int, shares: int) -> int:
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
                self._books[order[0]][order[1]].reduce(order[2], shares)
            else:
                del self._orders[ref]
                self._remove(order)
            return left

        def _remove(self, order: list) -> None:
            self._books[order[0]][order[1]].remove(order[2], order[3])

        def best(self, locate: int):
            book = self._books.get(locate)
            if book is None:
                return None, None
            bid, ask = book[0].top(1), book[1].top(1)
            return (tuple(bid[0][:2]) if bid else None), (tuple(ask[0][:2]) if ask else None)

        def depth(self, locate: int, n: int = 10):
            if n < 0:
                raise ValueError(f"n must be >= 0, got {n!r}")
            book = self._books.get(locate)
            if book is None or n == 0:
                return [], []
            return book[0].top(n), book[1].top(n)

    return LevelsBook


def read_stream(book, data: bytes, depth: int = DEPTH) -> None:
    """The timed work: every message applied to `book`, and after each book
    update the top `depth` levels of both sides of its instrument read, as
    lab 6's FeatureEngine reads them (a well-formed stream: lab 5's feed)."""
    apply, read, locate_of = book._apply, book.depth, _LOCATE
    n, pos = len(data), 0
    while pos < n:
        at = pos + 2
        end = at + (data[pos] << 8 | data[pos + 1])
        if apply(data[at], data, at):
            read(locate_of(data, at)[0], depth)
        pos = end


def _levels(side) -> list[tuple]:
    return [tuple(level) for level in side]


def _first_difference(mine: list, ref: list) -> str:
    for i, (a, b) in enumerate(zip(mine, ref)):
        if a != b:
            return f"level {i + 1}: yours {a}, the reference's {b} (price, shares, orders)"
    return f"yours has {len(mine)} levels, the reference {len(ref)}"


def _check_against_reference(levels_cls, data: bytes) -> dict:
    """The learner's book and pyimpl's, message by message: after every update
    the top DEPTH levels of the instrument it touched, every SNAPSHOT_EVERY
    messages and at the end every level of every instrument.  CheckFailed
    naming the first message, instrument, side and level that differ."""
    mine, ref = levels_book(levels_cls)(), pob.Book()
    n, pos, k, updates = len(data), 0, 0, 0

    def where() -> str:
        return f"message {k} (a {chr(data[pos + 2])!r} at offset {pos})"

    def compare(locate: int, depth: int) -> None:
        try:
            got = mine.depth(locate, depth)
            got = (_levels(got[0]), _levels(got[1]))
        except Exception as e:  # noqa: BLE001 - the learner's top() raising is their failure
            raise CheckFailed(f"after {where()}: your Levels.top({depth}) raised {type(e).__name__}: {e}") from None
        want = ref.depth(locate, depth)
        for side, a, b in (("bids", got[0], want[0]), ("asks", got[1], want[1])):
            if a != b:
                sym = ref.symbols.get(locate, f"#{locate}")
                raise CheckFailed(f"after {where()}: the {side} of {sym} (locate {locate}), top {depth}, differ "
                                  f"from the reference book's - {_first_difference(a, b)}")

    while pos < n:
        at = pos + 2
        end = at + (data[pos] << 8 | data[pos + 1])
        t = data[at]
        ref._apply(t, data, at)
        try:
            changed = mine._apply(t, data, at)
        except Exception as e:  # noqa: BLE001
            raise CheckFailed(f"at {where()}: your Levels raised {type(e).__name__}: {e}") from None
        if changed:
            updates += 1
            compare(_LOCATE(data, at)[0], DEPTH)
        if k % SNAPSHOT_EVERY == 0 or end >= n:
            for locate in ref.symbols:
                compare(locate, 1_000)  # every level: deeper than any side of this feed
        k += 1
        pos = end
    for locate in ref.symbols:
        if mine.best(locate) != ref.best(locate):
            raise CheckFailed(f"at the end, best({locate}) is {mine.best(locate)}, the reference's {ref.best(locate)}")
    return {"messages": k, "updates": updates, "snapshot": ref.snapshot(10)}


def _timer(levels_cls, data: bytes, seen: dict):
    book_cls = levels_book(levels_cls)

    def run() -> float:
        book = book_cls()
        t0 = time.perf_counter_ns()
        read_stream(book, data)
        ns = time.perf_counter_ns() - t0
        if book.snapshot(10) != seen["snapshot"]:  # the timed book is the checked one (untimed)
            raise CheckFailed("the timed book ended different from the reference's (state kept between books?)")
        return ns / seen["messages"]

    return run


def check(attempt: Attempt) -> Verdict:
    mine = getattr(attempt.load_py("levels.py"), "Levels", None)
    if not isinstance(mine, type):
        return Verdict(False, "levels.py must define the class Levels")
    data = feed.simulate(MESSAGES, seed=SEED)
    # 1. the book with your levels is the reference book, after every message
    seen = _check_against_reference(mine, data)
    # 2. speed, against the starting version, in this run, on the same stream
    baseline_cls = Attempt(attempt.exercise, attempt.exercise.folder / "baseline").load_py("levels.py").Levels
    run_mine, run_base = _timer(mine, data, seen), _timer(baseline_cls, data, seen)
    run_mine(), run_base()  # warm up
    cmp = compare_speed(run_mine, run_base, repeats=5)
    return speed_verdict(f"the reference book's levels after all {seen['messages']:,} messages; ns per message "
                         f"(book update + top-{DEPTH} read of both sides)", cmp, NEED)


EXERCISE = Exercise(
    lab="order-book",
    id="price-levels",
    title="A faster price-level structure for the Python book",
    kind="speed",
    files=("levels.py",),
    check=check,
    guide="labs/05-order-book/README.md#11-exercises",
    start_fails_because="needs 1.40x",
)
