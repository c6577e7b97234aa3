"""Lab 5: the order book, both implementations through one API.

- the API by hand: adds, executions, cancels, replaces, deletes; best, depth,
  order lookup, snapshot;
- bad input: each rejected message raises a clear exception and leaves the
  book exactly as it was; lenient streams count what they skip;
- an independent reference: a naive book (a dict of orders, aggregated on
  demand) replays the same ITCH stream, decoded by pyimpl.itch;
- differential: the C and the Python book give identical top-10 snapshots of
  every instrument after every 1,000 messages of a 1 M-message stream;
- hypothesis: random valid streams, both books and the reference agree.
"""

from __future__ import annotations

import importlib
import importlib.util
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labs import feed
from pyimpl import errors, itch
from tests.conftest import lab_fixtures

book_impl_fixture, book_pair_fixture = lab_fixtures("order_book", "book_impl", "book_pair")

A = itch.AddOrder
SYMBOLS = {1: "AAPL", 2: "MSFT"}


def new_book(mod, **kw):
    book = mod.Book(**kw)
    for locate, sym in SYMBOLS.items():
        book.add_symbol(locate, sym)
    return book


def state(book) -> tuple:
    """Everything the API shows: to check that a rejected message changed nothing."""
    return len(book), book.snapshot(1000), [book.best(loc) for loc in SYMBOLS]


# ------------------------------------------------------------ the API by hand
def test_adds_build_levels_best_first(book_impl):
    with new_book(book_impl) as b:
        b.add(1, 1, "B", 100, 1_000_000)
        b.add(1, 2, "B", 200, 1_000_000)
        b.add(1, 3, "B", 50, 990_000)
        b.add(1, 4, "S", 300, 1_010_000)
        b.add(1, 5, "S", 10, 1_020_000)
        assert b.best(1) == ((1_000_000, 300), (1_010_000, 300))
        assert b.depth(1, 10) == ([(1_000_000, 300, 2), (990_000, 50, 1)], [(1_010_000, 300, 1), (1_020_000, 10, 1)])
        assert b.depth(1, 1) == ([(1_000_000, 300, 2)], [(1_010_000, 300, 1)])
        assert b.order(3) == (1, "B", 50, 990_000)
        assert b.order(99) is None
        assert len(b) == 5
        assert b.best(2) == (None, None) and b.depth(2, 5) == ([], [])


def test_execute_cancel_delete_replace(book_impl):
    with new_book(book_impl) as b:
        b.add(1, 1, "B", 100, 1_000_000)
        b.add(1, 2, "B", 200, 1_000_000)
        assert b.execute(1, 40) == 60
        assert b.cancel(2, 50) == 150
        assert b.depth(1) == ([(1_000_000, 210, 2)], [])
        assert b.execute(1, 60) == 0  # fully executed: gone
        assert b.order(1) is None and len(b) == 1
        b.replace(2, 7, 500, 1_001_000)  # a new ref, price and size, same side
        assert b.order(2) is None and b.order(7) == (1, "B", 500, 1_001_000)
        assert b.depth(1) == ([(1_001_000, 500, 1)], [])
        b.delete(7)
        assert len(b) == 0 and b.depth(1) == ([], []) and b.best(1) == (None, None)


def test_cancel_of_everything_left_removes_the_order(book_impl):
    with new_book(book_impl) as b:
        b.add(2, 10, "S", 100, 5_000)
        assert b.cancel(10, 100) == 0
        assert b.order(10) is None and b.best(2) == (None, None)


def test_snapshot_format(book_impl):
    with new_book(book_impl) as b:
        b.add(1, 1, "B", 100, 1_892_300)
        b.add(1, 2, "S", 5, 1_892_301)
        b.add(3, 3, "S", 7, 42)  # no directory entry for locate 3
        assert b.snapshot() == {
            "AAPL": {"bids": [["189.2300", 100, 1]], "asks": [["189.2301", 5, 1]]},
            "#3": {"bids": [], "asks": [["0.0042", 7, 1]]},
        }
        assert b.symbols == SYMBOLS


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize("call, exc, words", [
    (lambda b: b.execute(99, 1), errors.BookError, "unknown order ref 99"),
    (lambda b: b.cancel(99, 1), errors.BookError, "unknown order ref 99"),
    (lambda b: b.delete(99), errors.BookError, "unknown order ref 99"),
    (lambda b: b.replace(99, 100, 1, 1), errors.BookError, "unknown order ref 99"),
    (lambda b: b.execute(1, 101), errors.BookError, "101 shares exceed the 100 left on order 1"),
    (lambda b: b.cancel(1, 101), errors.BookError, "101 shares exceed the 100 left on order 1"),
    (lambda b: b.execute(1, 0), errors.BookError, "zero shares on order 1"),
    (lambda b: b.add(1, 5, "B", 0, 10), errors.BookError, "zero shares on order 5"),
    (lambda b: b.add(1, 1, "B", 10, 10), errors.BookError, "duplicate order ref 1"),
    (lambda b: b.add(2, 2, "S", 10, 10), errors.BookError, "duplicate order ref 2"),
    (lambda b: b.replace(1, 2, 10, 10), errors.BookError, "duplicate order ref 2"),
    (lambda b: b.replace(1, 1, 10, 10), errors.BookError, "duplicate order ref 1"),
    (lambda b: b.replace(1, 9, 0, 10), errors.BookError, "zero shares on order 9"),
    (lambda b: b.add(1, 5, "X", 10, 10), errors.BookError, "bad side 'X'"),
    (lambda b: b.add(0, 5, "B", 10, 10), errors.BookError, "stock locate 0 out of range"),
    (lambda b: b.add(70000, 5, "B", 10, 10), errors.BookError, "stock locate 70000 out of range"),
])
def test_rejected_calls_raise_and_change_nothing(book_impl, call, exc, words):
    with new_book(book_impl) as b:
        b.add(1, 1, "B", 100, 1_000_000)
        b.add(1, 2, "S", 100, 1_010_000)
        before = state(b)
        with pytest.raises(exc, match=words):
            call(b)
        assert state(b) == before


def test_order_pool_capacity_is_a_clear_error(book_impl):
    with new_book(book_impl, max_orders=3) as b:
        for ref in (1, 2, 3):
            b.add(1, ref, "B", 1, 100 + ref)
        before = state(b)
        with pytest.raises(errors.CapacityError, match=r"order pool full \(capacity 3\)"):
            b.add(1, 4, "B", 1, 100)
        assert state(b) == before
        b.delete(2)
        b.add(1, 4, "B", 1, 100)  # the freed slot is reused
        assert len(b) == 3


def test_instrument_capacity_is_a_clear_error(book_impl):
    with new_book(book_impl, max_instruments=2) as b:
        b.add(1, 1, "B", 1, 100)
        b.add(2, 2, "B", 1, 100)
        with pytest.raises(errors.CapacityError, match=r"instrument table full \(capacity 2\)"):
            b.add(3, 3, "B", 1, 100)
        assert len(b) == 2


@pytest.mark.parametrize("kw", [{"max_orders": 0}, {"max_orders": -1}, {"max_instruments": 0},
                                {"max_instruments": 70000}])
def test_bad_capacities(book_impl, kw):
    with pytest.raises(ValueError):
        book_impl.Book(**kw)


def _add(ref, locate=1, side=b"B", shares=100, price=1_000_000, attribution=None):
    return A(locate, 0, 0, ref, side, shares, b"AAPL", price, attribution)


def test_apply_one_message_of_each_type(book_impl):
    with book_impl.Book() as b:
        assert b.apply(itch.encode(itch.StockDirectory(1, 0, 0, b"AAPL"))) is False  # no book update
        assert b.apply(itch.encode(itch.SystemEvent(0, 0, 0, b"Q"))) is False
        assert b.apply(itch.encode(_add(1))) is True
        b.apply(itch.encode(_add(2, side=b"S", price=1_010_000, attribution=b"GSCO")))
        b.apply(itch.encode(itch.OrderExecuted(1, 0, 0, 1, 10, 1)))
        b.apply(itch.encode(itch.OrderExecutedWithPrice(1, 0, 0, 1, 10, 2, b"Y", 999_999)))
        b.apply(itch.encode(itch.OrderCancel(1, 0, 0, 1, 5)))
        assert b.order(1) == (1, "B", 75, 1_000_000)
        b.apply(itch.encode(itch.OrderReplace(1, 0, 0, 1, 3, 60, 1_005_000)))
        b.apply(itch.encode(itch.OrderDelete(1, 0, 0, 2)))
        assert b.symbols == {1: "AAPL"} and len(b) == 1
        assert b.snapshot() == {"AAPL": {"bids": [["100.5000", 60, 1]], "asks": []}}


@pytest.mark.parametrize("body, exc, words", [
    (b"", itch.ItchError, "truncated"),
    (itch.encode(_add(1))[:-1], itch.ItchError, "35 bytes"),
    (b"P" + bytes(43), itch.UnknownMessage, "unknown message type 'P'"),
    (itch.encode(itch.OrderDelete(1, 0, 0, 99)), errors.BookError, "unknown order ref 99"),
    (itch.encode(itch.OrderExecuted(1, 0, 0, 1, 101, 1)), errors.BookError, "101 shares exceed the 100 left"),
    (itch.encode(_add(1)), errors.BookError, "duplicate order ref 1"),
    (itch.encode(_add(5, shares=0)), errors.BookError, "zero shares on order 5"),
    (itch.encode(itch.OrderCancel(1, 0, 0, 1, 0)), errors.BookError, "zero shares on order 1"),
    (itch.encode(_add(5))[:11] + itch.encode(_add(5))[11:19] + b"Z" + itch.encode(_add(5))[20:],
     errors.BookError, "bad side"),
])
def test_bad_messages_raise_and_change_nothing(book_impl, body, exc, words):
    with new_book(book_impl) as b:
        b.add(1, 1, "B", 100, 1_000_000)
        before = state(b)
        with pytest.raises(exc, match=words):
            b.apply(body)
        assert state(b) == before


def test_instruments_are_named_by_their_adds_without_a_directory(book_impl):
    """A stream with no Stock Directory messages is still keyed by symbol; an R
    message, before or after, names the instrument instead."""
    data = itch.frame([A(3, 0, 0, 1, b"B", 100, b"ZVZZT", 1_000_000, None),
                       A(4, 0, 0, 2, b"S", 100, b"ZXIET", 2_000_000, None),
                       itch.StockDirectory(4, 0, 0, b"ZXIET.A"),
                       A(5, 0, 0, 3, b"S", 100, b"        ", 3_000_000, None)])
    with book_impl.Book() as b:
        b.apply_stream(data)
        assert b.symbols == {3: "ZVZZT", 4: "ZXIET.A"}
        assert set(b.snapshot()) == {"ZVZZT", "ZXIET.A", "#5"}


def test_stream_skips_and_counts_unknown_types(book_impl):
    trade = b"P" + bytes(43)  # a Trade message: not for the book
    data = itch.frame([_add(1), trade, itch.encode(itch.SystemEvent(0, 0, 0, b"O")), trade, _add(2)])
    with book_impl.Book() as b:
        stats = b.apply_stream(data)
        assert stats == {"messages": 5, "book": 2, "other": 1, "skipped": {"P": 2}, "rejected": 0, "truncated": 0}
        assert len(b) == 2


@pytest.mark.parametrize("cut", [1, 3, 10])
def test_truncated_stream_raises_or_is_counted_when_lenient(book_impl, cut):
    data = itch.frame([_add(1), _add(2)])[:-cut]
    with book_impl.Book() as b:
        with pytest.raises(itch.ItchError, match="truncated frame at offset 38"):
            b.apply_stream(data)
    with book_impl.Book() as b:
        stats = b.apply_stream(data, lenient=True)
        assert stats["truncated"] == 1 and stats["book"] == 1 and len(b) == 1


def test_frame_length_disagreeing_with_its_type(book_impl):
    body = itch.encode(_add(1)) + b"\0"
    data = len(body).to_bytes(2, "big") + body
    with book_impl.Book() as b, pytest.raises(itch.ItchError, match="37 bytes"):
        b.apply_stream(data)


def test_lenient_stream_counts_rejections_and_keeps_going(book_impl):
    data = itch.frame([_add(1), _add(1), itch.OrderDelete(1, 0, 0, 42), itch.OrderExecuted(1, 0, 0, 1, 500, 1),
                       _add(2)])
    with book_impl.Book() as b:
        with pytest.raises(errors.BookError, match="duplicate order ref 1"):
            b.apply_stream(data)
    with book_impl.Book() as b:
        stats = b.apply_stream(data, lenient=True)
        assert stats["rejected"] == 3 and stats["book"] == 2 and len(b) == 2
        assert b.order(1) == (1, "B", 100, 1_000_000)


# ------------------------------------------------------------ an independent reference
class NaiveBook:
    """The simplest book that can be right: every order in a dict, levels
    aggregated from scratch when asked.  Shares no code with either Book."""

    def __init__(self) -> None:
        self.orders: dict[int, list] = {}  # ref -> [locate, side, price, shares]
        self.symbols: dict[int, str] = {}
        self.seen: set[int] = set()  # instruments that have had an order: the snapshot lists them

    def apply(self, m) -> None:
        if isinstance(m, itch.StockDirectory):
            self.symbols[m.stock_locate] = m.stock.decode().strip()
        elif isinstance(m, itch.AddOrder):
            self.orders[m.order_ref] = [m.stock_locate, m.side.decode(), m.price, m.shares]
            if m.stock_locate not in self.symbols and m.stock.strip():  # no directory entry: the add's stock
                self.symbols[m.stock_locate] = m.stock.decode().strip()
            self.seen.add(m.stock_locate)
        elif isinstance(m, (itch.OrderExecuted, itch.OrderExecutedWithPrice)):
            self._take(m.order_ref, m.executed_shares)
        elif isinstance(m, itch.OrderCancel):
            self._take(m.order_ref, m.cancelled_shares)
        elif isinstance(m, itch.OrderDelete):
            del self.orders[m.order_ref]
        elif isinstance(m, itch.OrderReplace):
            loc, side, _, _ = self.orders.pop(m.original_order_ref)
            self.orders[m.new_order_ref] = [loc, side, m.price, m.shares]

    def _take(self, ref: int, shares: int) -> None:
        self.orders[ref][3] -= shares
        assert self.orders[ref][3] >= 0
        if self.orders[ref][3] == 0:
            del self.orders[ref]

    def snapshot(self, n: int = 10) -> dict:
        levels: dict = {loc: {"B": {}, "S": {}} for loc in self.seen}
        for loc, side, price, shares in self.orders.values():
            lv = levels.setdefault(loc, {"B": {}, "S": {}})[side].setdefault(price, [0, 0])
            lv[0] += shares
            lv[1] += 1
        out = {}
        for loc in sorted(levels):
            side = levels[loc]
            out[self.symbols.get(loc, f"#{loc}")] = {
                "bids": [[f"{p // 10000}.{p % 10000:04d}", *side["B"][p]] for p in sorted(side["B"], reverse=True)[:n]],
                "asks": [[f"{p // 10000}.{p % 10000:04d}", *side["S"][p]] for p in sorted(side["S"])[:n]]}
        return out


def _chunks(data: bytes, every: int):
    """The framed stream cut after every `every` messages."""
    starts = [off - 2 for off, _ in itch.iter_frames(data)]
    for i in range(0, len(starts), every):
        end = starts[i + every] if i + every < len(starts) else len(data)
        yield data[starts[i]:end], starts[i:i + every]


def _check_invariants(book, locates) -> None:
    for loc in locates:
        bids, asks = book.depth(loc, 10_000)
        for side in (bids, asks):
            assert all(shares > 0 and orders > 0 for _, shares, orders in side)
        assert [p for p, _, _ in bids] == sorted((p for p, _, _ in bids), reverse=True)
        assert [p for p, _, _ in asks] == sorted(p for p, _, _ in asks)
        if bids and asks:  # the simulator never crosses its own book
            assert bids[0][0] < asks[0][0]


@pytest.mark.slow
def test_books_match_an_independent_reference(book_impl):
    """Every 1,000 messages of a 100 k-message stream: the book's whole depth
    equals the naive reference's, and the invariants hold."""
    data = feed.simulate(100_000, seed=3)
    ref = NaiveBook()
    with book_impl.Book() as b:
        for chunk, _ in _chunks(data, 1000):
            b.apply_stream(chunk)
            for m in itch.read_messages(chunk):
                ref.apply(m)
            assert b.snapshot(10_000) == ref.snapshot(10_000)
            assert len(b) == len(ref.orders)
            _check_invariants(b, range(1, 9))
        sample = random.Random(0).sample(sorted(ref.orders), 50)
        for r in sample:
            loc, side, price, shares = ref.orders[r]
            assert b.order(r) == (loc, side, shares, price)


@pytest.mark.slow
@pytest.mark.cimpl
def test_c_and_python_books_agree_every_1000_messages():
    """The issue's differential test: identical top-10 snapshots of every
    instrument after every 1,000 messages over a 1 M-message stream."""
    cbook = importlib.import_module("cimpl.order_book")
    pbook = importlib.import_module("pyimpl.order_book")
    data = feed.simulate(1_000_000, seed=11)
    with cbook.Book() as c, pbook.Book() as p:
        for chunk, _ in _chunks(data, 1000):
            assert c.apply_stream(chunk) == p.apply_stream(chunk)
            assert c.snapshot(10) == p.snapshot(10)
        assert len(c) == len(p)


# ------------------------------------------------------------ hypothesis: random valid streams
@st.composite
def streams(draw):
    """A valid ITCH stream built from random operations, each resolved against
    a model of the resting orders so it is always legal."""
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 300))
    live: dict[int, list] = {}
    next_ref = 1
    msgs = [itch.StockDirectory(loc, 0, 0, sym.encode()) for loc, sym in SYMBOLS.items()]
    for _ in range(n):
        op = rnd.choice("AAAAFEXDUC") if live else "A"
        if op in "AF":
            loc, side = rnd.choice((1, 2)), rnd.choice((b"B", b"S"))
            price = 1_000_000 + rnd.randint(-20, 20) * 100 * (1 if side == b"S" else -1) + (500 if side == b"S" else -500)
            shares = rnd.choice((1, 100, 200, 37, 2**32 - 1))
            msgs.append(A(loc, 0, 0, next_ref, side, shares, SYMBOLS[loc].encode(), price,
                          b"MPID" if op == "F" else None))
            live[next_ref] = [loc, shares]
            next_ref += rnd.choice((1, 1, 1, 1000, 2**40))
            continue
        ref = rnd.choice(sorted(live))
        loc, left = live[ref]
        if op in "EXC":
            k = rnd.randint(1, left)
            if op == "E":
                msgs.append(itch.OrderExecuted(loc, 0, 0, ref, k, 1))
            elif op == "C":
                msgs.append(itch.OrderExecutedWithPrice(loc, 0, 0, ref, k, 1, b"N", 1))
            else:
                msgs.append(itch.OrderCancel(loc, 0, 0, ref, k))
            live[ref][1] -= k
            if live[ref][1] == 0:
                del live[ref]
        elif op == "D":
            msgs.append(itch.OrderDelete(loc, 0, 0, ref))
            del live[ref]
        else:
            shares = rnd.randint(1, 1000)
            msgs.append(itch.OrderReplace(loc, 0, 0, ref, next_ref, shares, 1_000_000 + rnd.randint(-5, 5) * 100))
            del live[ref]
            live[next_ref] = [loc, shares]
            next_ref += 1
    return msgs


@settings(max_examples=40, deadline=None)
@given(msgs=streams())
def test_random_valid_streams_match_the_reference(msgs):
    """Both implementations against the naive book."""
    data = itch.frame(msgs)
    ref = NaiveBook()
    for m in msgs:
        ref.apply(m)
    for name in ("pyimpl.order_book", "cimpl.order_book"):
        mod = importlib.import_module(name)  # a C library that does not load fails this test, never drops out
        with mod.Book() as b:
            stats = b.apply_stream(data)
            assert stats["book"] == len(msgs) - len(SYMBOLS) and stats["rejected"] == 0
            assert b.snapshot(1000) == ref.snapshot(1000)


# ------------------------------------------------------------ the CLI: replay and --itch
@pytest.fixture(scope="module")
def itch_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("itch") / "sample.itch"
    path.write_bytes(feed.simulate(20_000, seed=7))
    return path


@pytest.mark.cimpl
def test_replay_writes_the_agreed_snapshot(itch_file, tmp_path):
    import json

    from labs import cli

    out = tmp_path / "snap.json"
    assert cli.main(["replay", str(itch_file), "--depth", "3", "--json", str(out)]) == 0
    got = json.loads(out.read_text())
    ref = NaiveBook()
    for m in itch.read_messages(itch_file.read_bytes()):
        ref.apply(m)
    assert got["snapshot"] == ref.snapshot(3)
    assert set(got["snapshot"]) == set(feed.Feed(10, seed=7).symbols)
    assert got["counts"]["book"] == 20_000 and got["depth"] == 3


@pytest.mark.cimpl
def test_replay_of_a_truncated_file_fails_unless_lenient(itch_file, tmp_path, capsys):
    from labs import cli

    cut = tmp_path / "cut.itch"
    cut.write_bytes(itch_file.read_bytes()[:-5])
    assert cli.main(["replay", str(cut)]) == 1
    assert "truncated frame" in capsys.readouterr().out
    assert cli.main(["replay", str(cut), "--lenient"]) == 0
    assert "truncated at the end" in capsys.readouterr().out


def test_replay_and_itch_argument_errors(tmp_path, itch_file):
    from labs import cli

    assert cli.main(["replay", str(tmp_path / "missing.itch")]) == 2
    assert cli.main(["replay", str(itch_file), "--depth", "0"]) == 2
    assert cli.main(["run", "shm-basics", "--itch", str(itch_file), "--out", str(tmp_path)]) == 2


@pytest.mark.slow
@pytest.mark.cimpl
def test_run_on_an_itch_file_cut_mid_frame(itch_file, tmp_path):
    """`latencylab run order-book --itch FILE` on a prefix cut with `head -c`:
    every workload runs on the whole frames, and the records say which file."""
    import json

    from labs import cli, order_book

    cut = tmp_path / "cut.itch"
    cut.write_bytes(itch_file.read_bytes()[:-7])
    try:
        assert cli.main(["run", "order-book", "--quick", "--itch", str(cut), "--out", str(tmp_path)]) == 0
    finally:
        order_book.use_itch_file(None)
    recs = [r for r in json.loads((tmp_path / "results.json").read_text())["records"] if r["lab"] == "order-book"]
    meatpy = importlib.util.find_spec("meatpy") is not None
    assert {(r["impl"], r.get("variant")) for r in recs if r["metric"] == "throughput"} == {
        ("c", None), ("c", "no-prefault"), ("c", "ctypes-per-message"), ("c", "ctypes-per-batch"),
        ("python", None)} | ({("peer:meatpy", None)} if meatpy else set())
    assert {r["impl"] for r in recs if r["metric"] == "l2_update_throughput"} == {"peer:order-book"}
    assert all(r["source"] == "cut.itch" for r in recs)
    whole = next(r for r in recs if r["impl"] == "c" and r["metric"] == "throughput" and not r.get("variant"))
    assert whole["truncated"] == 1 and whole["messages"] == 20_013


# ------------------------------------------------------------ what the workloads' records say
@pytest.mark.parametrize("impl", ["c", "python"])
def test_every_path_counts_what_apply_stream_counts(impl):
    """The throughput records' counts: the per-message and per-batch paths
    report the same book updates, other known messages (S, R) and skips as
    one apply_stream call (the per-message path once counted S and R as book
    updates)."""
    from labs import order_book as lab

    data = feed.simulate(5_000, seed=2) + itch.frame([itch.SystemEvent(0, 0, 0, b"C")]) + \
        struct.pack(">H", 44) + b"P" + bytes(43)
    offs = lab.frame_offsets(data)
    mod = importlib.import_module({"c": "cimpl.order_book", "python": "pyimpl.order_book"}[impl])
    want = None
    for path in (lab._whole, lab._per_message, lab._per_batch):
        with mod.Book() as b:
            got = path(b, data, offs, False)
        got = {k: got[k] for k in ("messages", "book", "other", "skipped", "rejected")}
        assert want is None or got == want, path.__name__
        want = got
    assert want == {"messages": 5_000 + feed.header_messages(8) + 2, "book": 5_000,
                    "other": feed.header_messages(8) + 1, "skipped": 1, "rejected": 0}


def test_the_l2_peer_has_its_own_metric_and_no_target():
    """peer:order-book applies L2 updates computed beforehand: its record is
    l2_update_throughput, which no target judges, never `throughput`."""
    from labs import order_book as lab
    from labs import runner, targets

    peer = next(w for w in lab.LAB.workloads if "peer:order-book" in w.impls)
    assert peer.metrics == ("l2_update_throughput",)
    assert targets.for_metric("order-book", "l2_update_throughput") is None
    assert "beforehand" in lab.LAB.metric("l2_update_throughput").description
    for w in lab.LAB.workloads:  # every record the target judges decodes and applies ITCH
        if "throughput" in w.metrics:
            assert not set(w.impls) & {"peer:order-book"}
    pytest.importorskip("order_book")  # the peer package itself: optional
    (m,) = lab.run_peer("peer:order-book", "quick")
    rec = runner.make_record(lab.LAB, "peer:order-book", m, {})
    assert rec["metric"] == "l2_update_throughput" and rec["target"] is None and rec["met"] is None
    assert rec["unit"] == "update/s" and rec["l2_updates"] > rec["messages"] > 0
