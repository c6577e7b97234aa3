"""Lab 5 (order-book), the C side alone: cimpl.order_book's binding and C book.

The API of pyimpl.order_book.Book through ctypes: updates by hand with the
expected best, depth and queues; every rejected update raising the right
exception with pyimpl.errors' words and leaving the book unchanged; the ITCH
entry points (apply, apply_stream, apply_batch, apply_stream_timed) on
labs.feed's streams and on hand-made broken ones; the snapshot format; the
C/Python layout agreements (message sizes, the error and stats structs).

The C-vs-Python differential tests live in tests/test_order_book.py.  The C
book's internals (the hash map's backward shift, the level arrays, a random
stream against a naive model) are tested in C: tests/c/test_order_book.c.
"""

from __future__ import annotations

import ctypes
import struct

import numpy as np
import pytest

from labs import feed
from pyimpl import errors, itch
from pyimpl.errors import BookError, CapacityError

# A plain import: a C library that does not load (a layout check that fails,
# a missing symbol) must fail these tests, not skip them
# (tests/test_order_book_loading.py checks that it does).
from cimpl import order_book as cob  # noqa: E402

pytestmark = pytest.mark.cimpl

P = 10_000  # $1 in ITCH price units


@pytest.fixture
def book():
    with cob.Book(max_orders=64, max_instruments=4) as b:
        yield b


@pytest.fixture(scope="module")
def stream():
    return feed.simulate(200_000, seed=7)


def state(b, refs=range(1, 40)):
    """Everything visible about a small book: for 'unchanged' checks."""
    return (len(b), b.snapshot(1000), [b.order(r) for r in refs],
            {(loc, side, p): b.queue(loc, side, p)
             for loc in range(1, 5) for side, lv in zip("BS", b.depth(loc, 1000)) for p, _, _ in lv})


def filled(b):
    """Book with two instruments: bids 100.00 x2 orders, 99.00; asks 101.00, 102.00."""
    b.add(1, 1, "B", 100, 100 * P)
    b.add(1, 2, "B", 200, 100 * P)
    b.add(1, 3, "B", 300, 99 * P)
    b.add(1, 4, "S", 50, 101 * P)
    b.add(1, 5, "S", 60, 102 * P)
    b.add(2, 6, "S", 5, 2 * P)
    return b


# ------------------------------------------------------------ layout
def test_message_sizes_match_pyimpl_itch():
    for t in range(256):
        assert cob.message_size(t) == itch.MESSAGE_SIZES.get(t, 0), chr(t)


def test_structs_match_c():
    assert ctypes.sizeof(cob._Err) == cob.layout_info(b"sizeof_err")
    assert ctypes.sizeof(cob._Stats) == cob.layout_info(b"sizeof_stats")
    for name in ("code", "ref", "offset", "capacity", "shares", "left", "locate", "side", "what", "type"):
        assert getattr(cob._Err, name).offset == cob.layout_info(f"err.{name}".encode()), name
    for name in ("rejected", "end", "skipped"):
        assert getattr(cob._Stats, name).offset == cob.layout_info(f"stats.{name}".encode()), name
    assert cob.layout_info(b"max_orders") == cob.MAX_ORDERS == 1 << 30
    assert cob.layout_info(b"max_instruments") == cob.MAX_INSTRUMENTS == 65535
    assert cob.layout_info(b"sizeof_order") == 32  # two orders per cache line
    assert cob.layout_info(b"sizeof_slot") == 16


# ------------------------------------------------------------ lifetime
@pytest.mark.parametrize("kw", [{"max_orders": 0}, {"max_orders": -1}, {"max_orders": (1 << 30) + 1},
                                {"max_orders": 1.5}, {"max_instruments": 0}, {"max_instruments": 65536}])
def test_bad_capacities(kw):
    name = next(iter(kw))
    with pytest.raises(ValueError, match=f"{name} must be in 1.."):
        cob.Book(**kw)


def test_capacities_and_map_size():
    with cob.Book(1000, 7) as b:
        assert (b.max_orders, b.max_instruments) == (1000, 7)
        assert b.stat("max_orders") == 1000 and b.stat("max_instruments") == 7
        assert b.stat("map_slots") == 2048  # a power of two >= 2 * max_orders
        with pytest.raises(KeyError):
            b.stat("nope")


def test_closed_book_refuses_calls():
    b = cob.Book(8, 1)
    b.add(1, 1, "B", 1, 1)
    b.close()
    b.close()  # twice is fine
    for call in (lambda: b.add(1, 2, "B", 1, 1), lambda: b.execute(1, 1), lambda: b.best(1), lambda: len(b),
                 lambda: b.apply_stream(b""), lambda: b.snapshot(), lambda: b.symbols):
        with pytest.raises(ValueError, match="closed"):
            call()


# ------------------------------------------------------------ updates by hand
def test_add_best_depth_order(book):
    assert book.best(1) == (None, None)
    assert book.depth(1) == ([], [])
    filled(book)
    assert len(book) == 6
    assert book.best(1) == ((100 * P, 300), (101 * P, 50))
    assert book.best(2) == (None, (2 * P, 5))
    assert book.best(3) == (None, None)
    assert book.best(0) == (None, None) and book.best(70000) == (None, None)
    assert book.depth(1) == ([(100 * P, 300, 2), (99 * P, 300, 1)], [(101 * P, 50, 1), (102 * P, 60, 1)])
    assert book.depth(1, 1) == ([(100 * P, 300, 2)], [(101 * P, 50, 1)])
    assert book.depth(1, 0) == ([], [])
    assert book.depth(1, 10**12) == book.depth(1, 1000)  # more than there is
    with pytest.raises(ValueError, match="n must be >= 0"):
        book.depth(1, -1)
    assert book.order(3) == (1, "B", 300, 99 * P)
    assert book.order(4) == (1, "S", 50, 101 * P)
    assert book.order(99) is None and book.order(-1) is None
    assert book.queue(1, "B", 100 * P) == [1, 2]
    assert book.queue(1, "S", 100 * P) == []
    book.check()


def test_execute_cancel_delete(book):
    filled(book)
    assert book.execute(1, 30) == 70
    assert book.best(1) == ((100 * P, 270), (101 * P, 50))
    assert book.cancel(1, 70) == 0  # all of it: gone
    assert book.order(1) is None
    assert book.depth(1, 1)[0] == [(100 * P, 200, 1)]
    assert book.execute(4, 50) == 0  # the best ask traded away
    assert book.best(1)[1] == (102 * P, 60)
    book.delete(2)  # the best bid level empties
    assert book.best(1)[0] == (99 * P, 300)
    assert len(book) == 3
    book.check()


def test_replace_loses_priority_and_keeps_side(book):
    filled(book)
    book.replace(1, 10, 40, 100 * P)  # same price: to the back of the queue
    assert book.queue(1, "B", 100 * P) == [2, 10]
    assert book.order(1) is None
    assert book.order(10) == (1, "B", 40, 100 * P)
    book.replace(4, 11, 5, 100 * P + 100)  # an ask moved down, still an ask
    assert book.order(11) == (1, "S", 5, 100 * P + 100)
    assert book.best(1) == ((100 * P, 240), (100 * P + 100, 5))
    book.replace(6, 12, 7, 2 * P)  # the only order of its level, same price
    assert book.depth(2) == ([], [(2 * P, 7, 1)])
    assert len(book) == 6
    book.check()


def test_prices_span_u32(book):
    book.add(3, 1, "S", 1, 0xFFFFFFFF)
    book.add(3, 2, "S", 1, 0)
    book.add(3, 3, "B", 1, 0)
    book.add(3, 4, "B", 1, 1)  # $0.0001
    assert book.best(3) == ((1, 1), (0, 1))
    book.delete(2)
    assert book.best(3) == ((1, 1), (0xFFFFFFFF, 1))
    assert book.depth(3)[0] == [(1, 1, 1), (0, 1, 1)]


def test_side_accepts_bytes(book):
    book.add(1, 1, b"B", 1, 1)
    book.add(1, 2, b"S", 1, 2)
    assert book.order(1)[1] == "B" and book.order(2)[1] == "S"


def test_deep_sides_grow():
    with cob.Book(5000, 2) as b:
        for i in range(2000):
            b.add(1, i + 1, "BS"[i % 2], 1, (i * 7919) % 100_000 + 1)
        assert b.stat("level_growths") >= 6
        bids, asks = b.depth(1, 5000)
        assert [p for p, _, _ in bids] == sorted({p for p, _, _ in bids}, reverse=True)
        assert [p for p, _, _ in asks] == sorted({p for p, _, _ in asks})
        assert sum(c for _, _, c in bids + asks) == 2000
        b.check()


# ------------------------------------------------------------ errors
ERROR_CASES = [
    # (call, expected exception)
    (lambda b: b.add(1, 20, "X", 100, P), errors.bad_side("X")),
    (lambda b: b.add(1, 20, "b", 100, P), errors.bad_side("b")),
    (lambda b: b.add(1, 20, None, 100, P), errors.bad_side(None)),
    (lambda b: b.add(1, 20, "B", 0, P), errors.zero_shares(20)),
    (lambda b: b.add(1, 20, "B", -5, P), errors.zero_shares(20)),
    (lambda b: b.add(1, 1, "S", 10, P), errors.duplicate_order(1)),
    (lambda b: b.add(0, 20, "B", 10, P), errors.bad_locate(0)),
    (lambda b: b.add(65536, 20, "B", 10, P), errors.bad_locate(65536)),
    (lambda b: b.add(-1, 20, "B", 10, P), errors.bad_locate(-1)),
    # pyimpl's order of checks: side, shares, duplicate, pool, locate, instruments
    (lambda b: b.add(0, 1, "Q", 0, P), errors.bad_side("Q")),
    (lambda b: b.add(0, 1, "B", 0, P), errors.zero_shares(1)),
    (lambda b: b.add(0, 1, "B", 5, P), errors.duplicate_order(1)),
    (lambda b: b.execute(99, 1), errors.unknown_order(99)),
    (lambda b: b.execute(99, 0), errors.unknown_order(99)),
    (lambda b: b.execute(-3, 1), errors.unknown_order(-3)),
    (lambda b: b.execute(1, 0), errors.zero_shares(1)),
    (lambda b: b.execute(1, -1), errors.zero_shares(1)),
    (lambda b: b.execute(1, 101), errors.overfill(1, 101, 100)),
    (lambda b: b.execute(1, 1 << 40), errors.overfill(1, 1 << 40, 100)),
    (lambda b: b.cancel(3, 301), errors.overfill(3, 301, 300)),
    (lambda b: b.cancel(99, 1), errors.unknown_order(99)),
    (lambda b: b.delete(99), errors.unknown_order(99)),
    (lambda b: b.delete(1 << 64), errors.unknown_order(1 << 64)),
    (lambda b: b.replace(99, 20, 1, P), errors.unknown_order(99)),
    (lambda b: b.replace(1, 2, 1, P), errors.duplicate_order(2)),
    (lambda b: b.replace(1, 1, 1, P), errors.duplicate_order(1)),
    (lambda b: b.replace(1, 20, 0, P), errors.zero_shares(20)),
    (lambda b: b.replace(99, 2, 0, P), errors.unknown_order(99)),
    (lambda b: b.replace(1, 2, 0, P), errors.duplicate_order(2)),
]


@pytest.mark.parametrize("call,expected", ERROR_CASES, ids=[str(e) for _, e in ERROR_CASES])
def test_rejected_updates_raise_and_leave_the_book_unchanged(book, call, expected):
    filled(book)
    before = state(book)
    with pytest.raises(type(expected)) as info:
        call(book)
    assert type(info.value) is type(expected)
    assert str(info.value) == str(expected)
    assert isinstance(info.value, BookError)
    assert state(book) == before
    book.check()


def test_capacity_errors():
    with cob.Book(max_orders=3, max_instruments=2) as b:
        b.add(1, 1, "B", 1, P)
        b.add(2, 2, "B", 1, P)
        before = state(b)
        with pytest.raises(CapacityError, match=r"^instrument table full \(capacity 2\)$"):
            b.add(3, 3, "B", 1, P)
        assert state(b) == before
        b.add(1, 3, "S", 1, 2 * P)
        before = state(b)
        with pytest.raises(CapacityError, match=r"^order pool full \(capacity 3\)$"):
            b.add(1, 4, "S", 1, 2 * P)
        with pytest.raises(CapacityError, match="order pool full"):
            b.add(0, 4, "S", 1, 2 * P)  # the pool is checked before the locate, as in pyimpl
        assert state(b) == before
        b.replace(3, 4, 2, 3 * P)  # a replace in a full book: the old order makes room
        b.delete(1)
        b.add(1, 5, "B", 1, P)  # the freed entry is used again
        assert len(b) == 3
        assert b.stat("orders_used") == 3
        b.check()


def test_values_the_c_book_cannot_store(book):
    filled(book)
    before = state(book)
    for call, word in [(lambda: book.add(1, 20, "B", 1 << 32, P), "shares"),
                       (lambda: book.add(1, 20, "B", 1, 1 << 32), "price"),
                       (lambda: book.add(1, 20, "B", 1, -1), "price"),
                       (lambda: book.add(1, -20, "B", 1, P), "order ref"),
                       (lambda: book.replace(1, 20, 1 << 32, P), "shares"),
                       (lambda: book.replace(1, 1 << 64, 1, P), "order ref")]:
        with pytest.raises(ValueError, match=word):
            call()
    assert state(book) == before


# ------------------------------------------------------------ directory
def test_symbols(book):
    assert book.symbols == {}
    book.add_symbol(1, "AAPL")
    book.add_symbol(7, " MSFT    ")
    book.add_symbol(1, "AAPL2")  # a later entry replaces the earlier
    assert book.symbols == {1: "AAPL2", 7: "MSFT"}
    for bad in (0, 65536, -1):
        with pytest.raises(BookError, match=f"stock locate {bad} out of range"):
            book.add_symbol(bad, "X")
    with pytest.raises(ValueError, match="8 ASCII"):
        book.add_symbol(2, "TOOLONGNAME")
    with pytest.raises(ValueError, match="8 ASCII"):
        book.add_symbol(2, "ÄPFEL")
    assert book.stat("symbols") == 2


def test_snapshot_format(book):
    book.add_symbol(1, "AAPL")
    book.add(1, 1, "B", 100, 1892300)
    book.add(1, 2, "B", 50, 1892300)
    book.add(1, 3, "S", 10, 1892400)
    book.add(3, 4, "S", 7, 5)  # no directory entry: "#3"; $0.0005
    book.add(2, 5, "B", 1, 1)
    book.delete(5)  # instrument 2 has seen an order: listed, empty
    assert book.snapshot() == {
        "AAPL": {"bids": [["189.2300", 150, 2]], "asks": [["189.2400", 10, 1]]},
        "#2": {"bids": [], "asks": []},
        "#3": {"bids": [], "asks": [["0.0005", 7, 1]]},
    }
    assert list(book.snapshot()) == ["AAPL", "#2", "#3"]  # by locate
    assert book.snapshot(0) == {"AAPL": {"bids": [], "asks": []}, "#2": {"bids": [], "asks": []},
                                "#3": {"bids": [], "asks": []}}


# ------------------------------------------------------------ ITCH: one message
def enc(msg) -> bytes:
    return itch.encode(msg)


def test_apply_each_type(book):
    book.apply(enc(itch.SystemEvent(0, 0, 1, b"O")))
    book.apply(enc(itch.StockDirectory(3, 0, 2, b"AAPL    ")))
    assert book.symbols == {3: "AAPL"}
    book.apply(enc(itch.AddOrder(3, 0, 3, 42, b"B", 100, b"AAPL", 1892300)))
    book.apply(bytearray(enc(itch.AddOrder(3, 0, 4, 43, b"S", 200, b"AAPL", 1892400, b"GSCO"))))  # F
    assert book.best(3) == ((1892300, 100), (1892400, 200))
    book.apply(enc(itch.OrderExecuted(999, 0, 5, 42, 10, 1)))  # the locate of E..U is ignored
    book.apply(memoryview(enc(itch.OrderExecutedWithPrice(0, 0, 6, 42, 10, 2, b"Y", 1))))
    book.apply(enc(itch.OrderCancel(0, 0, 7, 42, 10)))
    assert book.order(42) == (3, "B", 70, 1892300)
    book.apply(enc(itch.OrderReplace(0, 0, 8, 43, 44, 300, 1892500)))
    assert book.order(44) == (3, "S", 300, 1892500)
    book.apply(enc(itch.OrderDelete(0, 0, 9, 42)))
    assert book.best(3) == (None, (1892500, 300))
    assert len(book) == 1


def test_apply_errors(book):
    add = enc(itch.AddOrder(3, 0, 3, 42, b"B", 100, b"AAPL", 1892300))
    book.apply(add)
    before = state(book, [42])
    with pytest.raises(itch.ItchError, match=r"^truncated message at offset 0: no bytes left \(the buffer has 0\)$"):
        book.apply(b"")
    with pytest.raises(itch.UnknownMessage, match=r"^unknown message type 'P' at offset 0$") as info:
        book.apply(b"P" + bytes(43))
    assert (info.value.offset, info.value.type_byte) == (0, ord("P"))
    with pytest.raises(itch.UnknownMessage, match="unknown message type 0x00 at offset 0"):
        book.apply(b"\x00")
    with pytest.raises(itch.ItchError, match=r"^'A' message of 35 bytes at offset 0: the type has 36$"):
        book.apply(add[:-1])
    with pytest.raises(itch.ItchError, match="'A' message of 37 bytes"):
        book.apply(add + b"x")
    with pytest.raises(BookError, match=r"^duplicate order ref 42: already resting$"):
        book.apply(add)
    bad_side = bytearray(add)
    bad_side[19] = ord("Q")
    with pytest.raises(BookError, match=r"^bad side b'Q': must be 'B' or 'S'$"):
        book.apply(bytes(bad_side))
    with pytest.raises(BookError, match=r"^stock locate 0 out of range 1..65535$"):
        book.apply(enc(itch.AddOrder(0, 0, 3, 50, b"B", 100, b"AAPL", 1)))
    with pytest.raises(BookError, match=r"^stock locate 0 out of range"):
        book.apply(enc(itch.StockDirectory(0, 0, 2, b"ZERO")))
    with pytest.raises(BookError, match=r"^101 shares exceed the 100 left on order 42$"):
        book.apply(enc(itch.OrderCancel(0, 0, 7, 42, 101)))
    with pytest.raises(BookError, match=r"^unknown order ref 7$"):
        book.apply(enc(itch.OrderDelete(0, 0, 9, 7)))
    with pytest.raises(BookError, match=r"^zero shares on order 42$"):
        book.apply(enc(itch.OrderExecuted(0, 0, 5, 42, 0, 1)))
    with pytest.raises(BookError, match=r"^zero shares on order 43$"):
        book.apply(enc(itch.OrderReplace(0, 0, 8, 42, 43, 0, 1)))
    assert state(book, [42]) == before
    assert book.symbols == {3: "AAPL"}  # named by its add; no rejected message named anything


# ------------------------------------------------------------ ITCH: streams
def frame_types(buf) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, body in itch.iter_frames(buf):
        t = chr(body[0])
        counts[t] = counts.get(t, 0) + 1
    return counts


def test_apply_stream_on_the_simulated_feed(stream):
    types = frame_types(stream)
    n_other = types["S"] + types["R"]
    with cob.Book(1 << 20) as b:
        stats = b.apply_stream(stream)
        assert stats == {"messages": 200_000 + feed.header_messages(8), "book": 200_000, "other": n_other,
                         "skipped": {}, "rejected": 0, "truncated": 0}
        assert n_other == feed.header_messages(8) == 14
        assert b.symbols == {i + 1: s for i, s in enumerate(feed.DEFAULT_TICKERS[:8])}
        assert sorted(b.snapshot()) == sorted(feed.DEFAULT_TICKERS[:8])
        assert len(b) == b.stat("orders") > 0
        b.check()
        # the same stream again: some update is now impossible (a duplicate ref, an unknown one...)
        with pytest.raises(BookError) as info:
            b.apply_stream(stream)
        assert "frame at offset" in "".join(getattr(info.value, "__notes__", []))
        again = b.apply_stream(stream, lenient=True)
        assert again["rejected"] > 0 and again["messages"] == stats["messages"]


@pytest.mark.parametrize("seed", [0, 3])
def test_every_entry_point_builds_the_same_book(seed):
    buf = feed.simulate(20_000, seed=seed)
    books = [cob.Book(1 << 16) for _ in range(5)]
    try:
        whole, per_msg, batched, timed, arr = books
        s1 = whole.apply_stream(buf)
        for _, body in itch.iter_frames(buf):
            per_msg.apply(body)
        off, calls = 0, 0
        while off < len(buf):
            off = batched.apply_batch(buf, off, 1000)
            calls += 1
        assert calls == -(-s1["messages"] // 1000)
        ns = timed.apply_stream_timed(buf)
        s4 = timed.timed_stats
        s5 = arr.apply_stream(np.frombuffer(buf, dtype=np.uint8))
        assert s1 == s4 == s5
        assert ns.dtype == np.int64 and len(ns) == s1["messages"] and (ns >= 0).all()
        ref = (len(whole), whole.snapshot(50))
        for b in books[1:]:
            assert (len(b), b.snapshot(50)) == ref
            b.check()
    finally:
        for b in books:
            b.close()


def fr(body: bytes) -> bytes:
    return struct.pack(">H", len(body)) + body


def test_apply_stream_skips_unknown_types_and_counts_rejections():
    add = enc(itch.AddOrder(1, 0, 3, 1, b"B", 100, b"AAPL", 1892300))
    buf = b"".join([fr(enc(itch.StockDirectory(1, 0, 2, b"AAPL"))), fr(add), fr(b"P" + bytes(43)),
                    fr(b"P" + bytes(43)), struct.pack(">H", 0), fr(b"\x00\x01"),
                    fr(enc(itch.OrderCancel(0, 0, 7, 9, 1))),  # unknown order
                    fr(add),  # duplicate
                    fr(enc(itch.OrderExecuted(0, 0, 5, 1, 40, 1)))])
    with cob.Book(64, 4) as b:
        stats = b.apply_stream(buf, lenient=True)
        assert stats == {"messages": 9, "book": 2, "other": 1, "skipped": {"P": 2, "": 1, "\x00": 1},
                         "rejected": 2, "truncated": 0}
        assert b.order(1) == (1, "B", 60, 1892300)
    with cob.Book(64, 4) as b:
        with pytest.raises(BookError) as info:
            b.apply_stream(buf)
        assert str(info.value) == "unknown order ref 9"  # pyimpl's words; where it was, in a note
        assert info.value.__notes__ == ["(the 'X' message in the frame at offset 177)"]
        assert b.order(1) == (1, "B", 100, 1892300)  # what came before the rejection is applied


def test_apply_stream_truncated_and_bad_frames():
    add = fr(enc(itch.AddOrder(1, 0, 3, 1, b"B", 100, b"AAPL", 1892300)))
    two = add + fr(enc(itch.OrderDelete(0, 0, 9, 1)))
    with cob.Book(64, 4) as b, pytest.raises(
            itch.ItchError, match=r"^truncated frame at offset 38: 1 byte\(s\), a length needs 2$"):
        b.apply_stream(add + b"\x00")
    with cob.Book(64, 4) as b, pytest.raises(
            itch.ItchError, match=r"^truncated frame at offset 38: its length says 19 bytes, 10 left$"):
        b.apply_stream(two[:-9])
    with cob.Book(64, 4) as b:
        stats = b.apply_stream(two[:-9], lenient=True)
        assert stats == {"messages": 1, "book": 1, "other": 0, "skipped": {}, "rejected": 0, "truncated": 1}
    bad = add + fr(enc(itch.OrderDelete(0, 0, 9, 1)) + b"xx")  # a D of 21 bytes
    with cob.Book(64, 4) as b, pytest.raises(
            itch.ItchError, match=r"^'D' frame at offset 38 is 21 bytes: the type has 19$"):
        b.apply_stream(bad)
    with cob.Book(64, 4) as b:
        stats = b.apply_stream(bad + add, lenient=True)  # lenient: stops there, as pyimpl does
        assert stats == {"messages": 2, "book": 1, "other": 0, "skipped": {}, "rejected": 0, "truncated": 1}
        assert len(b) == 1
    with cob.Book(64, 4) as b:
        assert b.apply_stream(b"") == {"messages": 0, "book": 0, "other": 0, "skipped": {}, "rejected": 0,
                                       "truncated": 0}


def test_every_cut_of_a_stream(stream):
    """Cut the stream at every offset of its first frames: strict raises
    ItchError naming the cut frame's offset, lenient applies what is whole."""
    head = stream[:2000]
    whole, pos = [], 0  # where each frame starts
    while pos < len(head):
        whole.append(pos)
        pos += 2 + (stream[pos] << 8 | stream[pos + 1])
    for cut in range(1, len(head)):
        complete = sum(1 for start in whole if start + 2 + (stream[start] << 8 | stream[start + 1]) <= cut)
        with cob.Book(1024, 16) as b:
            stats = b.apply_stream(head[:cut], lenient=True)
            assert stats["messages"] == complete
            assert stats["truncated"] == (cut not in whole)
        if cut not in whole:
            last = max(start for start in whole if start < cut)
            with cob.Book(1024, 16) as b, pytest.raises(itch.ItchError, match=f"^truncated frame at offset {last}:"):
                b.apply_stream(head[:cut])


def test_apply_batch_arguments(book):
    buf = fr(enc(itch.SystemEvent(0, 0, 1, b"O"))) * 5
    assert book.apply_batch(buf, 0, 2) == 28
    assert book.apply_batch(buf, 28, 10) == 70
    assert book.apply_batch(buf, 70, 10) == 70
    with pytest.raises(ValueError):
        book.apply_batch(buf, 71, 1)
    with pytest.raises(ValueError):
        book.apply_batch(buf, 0, 0)


# ------------------------------------------------------------ memory: prefault
def test_prefault_changes_nothing_visible(stream):
    """prefault() backs the pools with memory; a book prefaulted halfway
    through a stream ends exactly like one that never was."""
    from labs.order_book import frame_offsets

    cut = int(frame_offsets(stream)[100_000])
    with cob.Book(1 << 16) as a, cob.Book(1 << 16) as b:
        assert a.stat("prefaulted") == 0
        a.prefault()
        assert a.stat("prefaulted") == 1
        a.apply_stream(stream[:cut])
        a.prefault(huge_pages=True)  # on a book in use: the pages keep what they hold
        assert a.stat("prefaulted") == 2
        a.apply_stream(stream[cut:])
        b.apply_stream(stream)
        assert (len(a), a.snapshot(1000)) == (len(b), b.snapshot(1000))
        a.check()


# ------------------------------------------------------------ the map: Robin Hood order
@pytest.mark.parametrize("seed", range(4))
def test_colliding_refs_in_any_order_keep_the_map_right(seed):
    """Refs that share home slots (and neighbouring ones, so their runs
    merge), added and deleted in a random order: every lookup finds what the
    model holds, and check() (which includes the Robin Hood order that lets a
    deletion stop early) passes after every step."""
    import random

    rnd = random.Random(seed)
    with cob.Book(max_orders=64, max_instruments=1) as b:  # a map of 128 slots
        by_home: dict[int, list[int]] = {}
        ref = 1
        while sum(len(v) for h, v in by_home.items() if 5 <= h <= 8) < 40:
            by_home.setdefault(b.home_slot(ref), []).append(ref)
            ref += rnd.choice((1, 7, 129, 4097))
        pool = [r for h in range(5, 9) for r in by_home.get(h, [])][:40]
        live: dict[int, int] = {}
        for _ in range(400):
            if live and (len(live) >= 40 or rnd.random() < 0.45):
                r = rnd.choice(sorted(live))
                if rnd.random() < 0.5:
                    b.delete(r)
                else:
                    b.execute(r, live[r])  # all of it: gone
                del live[r]
            else:
                r = rnd.choice([x for x in pool if x not in live])
                live[r] = rnd.randint(1, 500)
                b.add(1, r, "B", live[r], 1_000_000 + 100 * rnd.randint(0, 9))
            b.check()
            assert len(b) == len(live)
            for x in pool:
                got = b.order(x)
                assert (got is not None) == (x in live)
                if got is not None:
                    assert got[2] == live[x]
