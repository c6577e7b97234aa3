"""Lab 5 (order-book): pyimpl.itch, the ITCH 5.0 encoder/decoder.

The layout is checked against the specification, not only against itself:
the sizes are the spec's numbers, and A, F, E, C, X, D, U, S, R messages are
built here byte by byte at the spec's offsets (Nasdaq TotalView-ITCH 5.0,
section 4) and decoded field by field.  Then round trips for every type
(hypothesis draws the field values), the framing of NASDAQ's sample files,
unknown types skipped and counted, and every malformed input refused with an
ItchError that names the problem and the offset - never an IndexError or a
struct.error, also for random bytes.
"""

from __future__ import annotations

import collections

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyimpl import itch

SPEC_SIZES = {"S": 12, "R": 39, "A": 36, "F": 40, "E": 31, "C": 36, "X": 23, "D": 19, "U": 35}


def be(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


def header(t: str, locate: int, tracking: int, ts: int) -> bytes:
    """Offsets 0, 1, 3, 5: type (1), stock locate (2), tracking number (2), timestamp (6)."""
    return t.encode() + be(locate, 2) + be(tracking, 2) + be(ts, 6)


TS = 0x123456789ABC  # uses all 6 timestamp bytes (about 5.6 hours after midnight)


# ------------------------------------------------------------- the specification
def test_sizes_are_the_specs():
    assert itch.MESSAGE_SIZES == {ord(t): n for t, n in SPEC_SIZES.items()}
    for t, n in SPEC_SIZES.items():
        assert itch.STRUCTS[t.encode()].size == n


def test_add_order_layout():
    raw = (header("A", 7, 2, TS) + be(0x0102030405060708, 8) + b"B" + be(300, 4)
           + b"AAPL    " + be(1_895_000, 4))
    assert len(raw) == 36
    assert raw[11:19] == be(0x0102030405060708, 8) and raw[19:20] == b"B" and raw[24:32] == b"AAPL    "
    m = itch.decode(raw)
    assert m == itch.AddOrder(stock_locate=7, tracking_number=2, timestamp=TS, order_ref=0x0102030405060708,
                              side=b"B", shares=300, stock=b"AAPL    ", price=1_895_000, attribution=None)
    assert itch.encode(m) == raw
    assert itch.unpack(raw) == (b"A", 7, 2, TS >> 32, TS & 0xFFFFFFFF, 0x0102030405060708, b"B", 300,
                                b"AAPL    ", 1_895_000)


def test_add_order_with_attribution_layout():
    raw = header("F", 1, 0, TS) + be(42, 8) + b"S" + be(100, 4) + b"MSFT    " + be(4_000_100, 4) + b"GSCO"
    assert len(raw) == 40
    m = itch.decode(raw)
    assert (m.order_ref, m.side, m.shares, m.stock, m.price, m.attribution) == \
        (42, b"S", 100, b"MSFT    ", 4_000_100, b"GSCO")
    assert itch.encode(m) == raw


def test_order_executed_layout():
    raw = header("E", 3, 9, TS) + be(123456789, 8) + be(250, 4) + be(0xA1B2C3D4E5F60718, 8)
    assert len(raw) == 31
    m = itch.decode(raw)
    assert m == itch.OrderExecuted(3, 9, TS, 123456789, 250, 0xA1B2C3D4E5F60718)
    assert (m.order_ref, m.executed_shares, m.match_number) == (123456789, 250, 0xA1B2C3D4E5F60718)
    assert itch.encode(m) == raw


def test_order_executed_with_price_layout():
    raw = header("C", 3, 0, TS) + be(5, 8) + be(10, 4) + be(77, 8) + b"N" + be(999_900, 4)
    assert len(raw) == 36
    m = itch.decode(raw)
    assert m == itch.OrderExecutedWithPrice(3, 0, TS, 5, 10, 77, b"N", 999_900)
    assert itch.encode(m) == raw


def test_order_replace_layout():
    # offsets 11: original ref (8), 19: new ref (8), 27: shares (4), 31: price (4)
    raw = header("U", 8, 1, TS) + be(1000, 8) + be(2_000_000_000_000, 8) + be(700, 4) + be(12_340_000, 4)
    assert len(raw) == 35
    m = itch.decode(raw)
    assert m == itch.OrderReplace(stock_locate=8, tracking_number=1, timestamp=TS, original_order_ref=1000,
                                  new_order_ref=2_000_000_000_000, shares=700, price=12_340_000)
    assert itch.encode(m) == raw


def test_cancel_delete_and_system_event_layouts():
    x = header("X", 2, 0, TS) + be(11, 8) + be(40, 4)
    d = header("D", 2, 0, TS) + be(11, 8)
    s = header("S", 0, 0, TS) + b"Q"
    assert itch.decode(x) == itch.OrderCancel(2, 0, TS, 11, 40)
    assert itch.decode(d) == itch.OrderDelete(2, 0, TS, 11)
    assert itch.decode(s) == itch.SystemEvent(0, 0, TS, b"Q")
    for raw in (x, d, s):
        assert itch.encode(itch.decode(raw)) == raw


def test_stock_directory_layout():
    # 11 stock (8), 19 market category, 20 financial status, 21 round lot size (4), 25 round lots only,
    # 26 issue classification, 27 issue sub-type (2), 29 authenticity, 30 short sale threshold,
    # 31 IPO flag, 32 LULD tier, 33 ETP flag, 34 ETP leverage factor (4), 38 inverse indicator
    raw = (header("R", 5, 0, TS) + b"GOOGL   " + b"Q" + b"N" + be(100, 4) + b"N" + b"C" + b"Z " + b"P"
           + b"N" + b" " + b"1" + b"N" + be(0, 4) + b"N")
    assert len(raw) == 39
    m = itch.decode(raw)
    assert m == itch.StockDirectory(5, 0, TS, b"GOOGL   ")  # the defaults are an ordinary common stock
    assert itch.encode(itch.StockDirectory(5, 0, TS, "GOOGL")) == raw
    etp = raw[:34] + be(3, 4) + b"Y"
    m = itch.decode(etp)
    assert (m.round_lot_size, m.etp_leverage_factor, m.inverse_indicator) == (100, 3, b"Y")
    assert itch.encode(m) == etp


def test_alpha_fields_are_space_padded():
    m = itch.AddOrder(1, 0, 0, 1, "B", 100, "HD", 10000, "AB")
    raw = itch.encode(m)
    assert raw[24:32] == b"HD      " and raw[36:40] == b"AB  " and raw[19:20] == b"B"
    assert itch.stock_name(itch.decode(raw).stock) == "HD"


# ------------------------------------------------------------- round trips
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)
ts = st.integers(0, itch.TIMESTAMP_MAX)
char = st.sampled_from([b"A", b"B", b"N", b"Y", b"Q", b" ", b"1", b"Z"])
side = st.sampled_from([b"B", b"S"])
stock = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ.", min_size=1, max_size=8).map(lambda s: s.ljust(8).encode())
mpid = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4, max_size=4).map(str.encode)

messages = st.one_of(
    st.builds(itch.SystemEvent, u16, u16, ts, st.sampled_from(sorted(itch.SYSTEM_EVENT_CODES))),
    st.builds(itch.StockDirectory, u16, u16, ts, stock, char, char, u32, char, char,
              st.sampled_from([b"Z ", b"A ", b"PF"]), char, char, char, char, char, u32, char),
    st.builds(itch.AddOrder, u16, u16, ts, u64, side, u32, stock, u32, st.none() | mpid),
    st.builds(itch.OrderExecuted, u16, u16, ts, u64, u32, u64),
    st.builds(itch.OrderExecutedWithPrice, u16, u16, ts, u64, u32, u64, st.sampled_from([b"Y", b"N"]), u32),
    st.builds(itch.OrderCancel, u16, u16, ts, u64, u32),
    st.builds(itch.OrderDelete, u16, u16, ts, u64),
    st.builds(itch.OrderReplace, u16, u16, ts, u64, u64, u32, u32),
)


@settings(max_examples=400, deadline=None)
@given(messages)
def test_round_trip(m):
    raw = itch.encode(m)
    assert len(raw) == itch.MESSAGE_SIZES[raw[0]]
    back = itch.decode(raw)
    assert back == m and type(back) is type(m)
    assert itch.encode(back) == raw
    t = itch.unpack(raw)  # the raw tuple: type, locate, tracking, ts_hi, ts_lo, then the body
    assert t[0] == raw[:1] and t[1:3] == m[:2] and t[3] << 32 | t[4] == m.timestamp
    # at an offset in a larger buffer, and from a memoryview
    buf = bytearray(b"\xee" * 5 + raw + b"\xee" * 3)
    assert itch.decode(buf, 5) == m and itch.decode(memoryview(buf), 5) == m


@settings(max_examples=100, deadline=None)
@given(st.lists(messages, max_size=20))
def test_framed_round_trip(msgs):
    data = itch.frame(msgs)
    assert len(data) == sum(2 + len(itch.encode(m)) for m in msgs)
    assert list(itch.read_messages(data)) == msgs
    assert list(itch.read_messages(bytearray(data))) == msgs
    frames = list(itch.iter_frames(data))
    assert [itch.decode(body) for _, body in frames] == msgs
    for (off, body), m in zip(frames, msgs):
        assert data[off - 2:off] == len(body).to_bytes(2, "big") and bytes(body) == itch.encode(m)


# ------------------------------------------------------------- unknown types
def test_unknown_types_skippable_and_counted():
    known = [itch.OrderDelete(1, 0, 5, 9), itch.SystemEvent(0, 0, 6, b"C")]
    trade = b"P" + bytes(43)  # a Trade message (non-cross), 44 bytes: not decoded here
    noii = b"I" + bytes(49)
    data = itch.frame([trade, known[0], noii, trade, known[1]])
    with pytest.raises(itch.UnknownMessage, match=r"unknown message type 'P' at offset 2") as e:
        list(itch.read_messages(data))
    assert (e.value.offset, e.value.type_byte) == (2, ord("P"))
    skipped = collections.Counter()
    assert list(itch.read_messages(data, on_unknown=lambda off, t: skipped.update([chr(t)]))) == known
    assert skipped == {"P": 2, "I": 1}
    # iter_frames yields every frame; decode refuses the unknown ones
    kinds = []
    for _, body in itch.iter_frames(data):
        try:
            kinds.append(type(itch.decode(body)).__name__)
        except itch.UnknownMessage:
            kinds.append("?")
    assert kinds == ["?", "OrderDelete", "?", "?", "SystemEvent"]


# ------------------------------------------------------------- errors
ADD = itch.encode(itch.AddOrder(1, 0, 1, 1, b"B", 100, b"AAPL", 10000))


def test_truncated_body():
    with pytest.raises(itch.ItchError, match=r"truncated 'A' message at offset 0: 35 bytes left, the type needs 36"):
        itch.decode(ADD[:-1])
    with pytest.raises(itch.ItchError, match=r"at offset 4: 4 bytes left"):
        itch.decode(b"xxxx" + ADD[:4], 4)
    with pytest.raises(itch.ItchError, match=r"truncated message at offset 0: no bytes left"):
        itch.decode(b"")
    with pytest.raises(itch.ItchError, match=r"truncated message at offset 40"):
        itch.decode(ADD, 40)
    with pytest.raises(itch.ItchError, match=r"truncated 'A' message"):
        itch.unpack(ADD[:20])


def test_unknown_type_in_decode():
    with pytest.raises(itch.UnknownMessage, match=r"unknown message type 'Z' at offset 3"):
        itch.decode(b"...Z" + bytes(40), 3)
    with pytest.raises(itch.UnknownMessage, match=r"unknown message type 0x00 at offset 0"):
        itch.unpack(bytes(40))
    assert issubclass(itch.UnknownMessage, itch.ItchError) and issubclass(itch.ItchError, ValueError)


def test_bad_side():
    bad = ADD[:19] + b"X" + ADD[20:]
    with pytest.raises(itch.ItchError, match=r"bad side b'X' in the add order at offset 0"):
        itch.decode(bad)
    with pytest.raises(itch.ItchError, match=r"bad side"):
        list(itch.read_messages(itch.frame([bad])))
    with pytest.raises(itch.ItchError, match=r"bad side"):
        itch.encode(itch.AddOrder(1, 0, 1, 1, b"Q", 100, b"AAPL", 10000))


def test_truncated_frames():
    data = itch.frame([itch.OrderDelete(1, 0, 5, 9), itch.decode(ADD)])  # frames at 0 and 21
    for bad, where in (
        (data[:-1], r"truncated frame at offset 21: length 36 but only 35 byte\(s\) follow"),
        (data[:22], r"truncated frame at offset 21: 1 byte\(s\) left, the length prefix needs 2"),
        (data[:23], r"truncated frame at offset 21: length 36 but only 0 byte\(s\) follow"),
        (data + b"\x00\x00", r"empty frame at offset 59"),
    ):
        for reader in (itch.read_messages, itch.iter_frames):
            with pytest.raises(itch.ItchError, match=where):
                list(reader(bad))


def test_frame_length_disagrees_with_type():
    short = b"\x00\x20" + ADD[:32]  # a 32-byte frame holding the start of an A
    with pytest.raises(itch.ItchError, match=r"truncated 'A' message at offset 2: its frame holds 32 bytes, "
                                             r"the type needs 36"):
        list(itch.read_messages(short))
    long = b"\x00\x25" + ADD + b"\x00"  # 37 bytes
    for reader in (itch.read_messages, itch.iter_frames):
        with pytest.raises(itch.ItchError, match=r"frame at offset 0: length 37 disagrees with the size "
                                                 r"of a 'A' message \(36 bytes\)"):
            list(reader(long))


@pytest.mark.parametrize("msg, what", [
    (itch.OrderDelete(1, 0, 2**48, 1), "timestamp"),
    (itch.OrderDelete(1, 0, -1, 1), "timestamp"),
    (itch.OrderDelete(65536, 0, 1, 1), "cannot encode"),
    (itch.OrderCancel(1, 0, 1, 1, 2**32), "cannot encode"),
    (itch.OrderExecuted(1, 0, 1, -1, 1, 1), "cannot encode"),
    (itch.OrderReplace(1, 0, 1, 1, 2, None, 1), "cannot encode"),
    (itch.AddOrder(1, 0, 1, 1, b"B", 1, b"TOOLONGNAME", 1), "stock"),
    (itch.AddOrder(1, 0, 1, 1, b"B", 1, "ÄPFEL", 1), "not ASCII"),
    (itch.AddOrder(1, 0, 1, 1, b"B", 1, b"AAPL", 1, b"MPIDX"), "attribution"),
    (itch.SystemEvent(0, 0, 1, b"OO"), "event code"),
])
def test_encode_refuses_bad_fields(msg, what):
    with pytest.raises(itch.ItchError, match=what):
        itch.encode(msg)


def test_encode_refuses_other_objects():
    with pytest.raises(TypeError, match="not an ITCH message"):
        itch.encode((1, 2, 3))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120), st.integers(0, 130))
def test_garbage_raises_itch_error_only(data, offset):
    for call in (lambda: itch.decode(data, offset), lambda: itch.unpack(data, offset),
                 lambda: list(itch.read_messages(data)), lambda: list(itch.iter_frames(data)),
                 lambda: list(itch.read_messages(data, on_unknown=lambda off, t: None))):
        try:
            call()
        except itch.ItchError as e:
            assert "offset" in str(e) or "side" in str(e)
