"""Lab 7: the OUCH 5.0 codec, pyimpl/ouch.py and cimpl/ouch.h (the C side
through cimpl.exchange.encode_c / decode_c, which call ll_ouch_encode /
ll_ouch_decode): every message type encodes to the same bytes in both, round
trips, hand-written bytes read field by field at the spec's offsets, and
every short / unknown / malformed input raises OuchError in both."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cimpl import exchange as cex
from pyimpl import ouch
from pyimpl.ouch import OuchError

pytestmark = pytest.mark.cimpl

EXAMPLES = [
    ouch.EnterOrder(7, b"B", 100, b"AAPL    ", 1_892_300, b"3", b"Y", b"P", b"N", b"N", ouch.clordid(42)),
    ouch.ReplaceOrder(7, 8, 50, 1_892_400, b"0", b"Y", b"N", ouch.clordid(43)),
    ouch.CancelOrder(8, 0),
    ouch.SystemEvent(123, b"S"),
    ouch.OrderAccepted(1, 7, b"S", 100, b"MSFT    ", 4_000_000, b"0", b"Y", 99, b"P", b"N", b"N", b"L",
                       ouch.clordid(1)),
    ouch.OrderReplaced(2, 7, 8, b"B", 10, b"MSFT    ", 4_000_100, b"3", b"Y", 100, b"P", b"N", b"N", b"L",
                       ouch.clordid(2)),
    ouch.OrderExecuted(3, 8, 10, 4_000_100, b"R", 5),
    ouch.OrderCanceled(4, 8, 10, b"U"),
    ouch.OrderRejected(5, 9, ouch.REJ_INVALID_PRICE, ouch.clordid(3)),
]


def _inbound(m) -> bool:
    return ouch._TYPES[type(m)][0] == "in"


@pytest.mark.parametrize("msg", EXAMPLES, ids=lambda m: type(m).__name__)
def test_c_and_python_same_bytes_and_round_trip(msg):
    b = ouch.encode(msg)
    assert b == cex.encode_c(msg)
    assert len(b) == ouch.size(b[0], inbound=_inbound(msg))
    assert len(b) <= 96
    assert ouch.decode(b, inbound=_inbound(msg)) == msg
    assert cex.decode_c(b, inbound=_inbound(msg)) == msg


def test_sizes_agree_with_c_and_spec():
    assert ouch.IN_SIZES == {ord("O"): 47, ord("U"): 40, ord("X"): 9}
    assert ouch.OUT_SIZES == {ord("S"): 10, ord("A"): 64, ord("U"): 68, ord("E"): 36, ord("C"): 18, ord("J"): 29}
    for t in range(256):
        assert cex.ouch_size(1, t) == ouch.IN_SIZES.get(t, 0)
        assert cex.ouch_size(0, t) == ouch.OUT_SIZES.get(t, 0)
    assert cex.layout_info(b"ouch_size_replaced") == 68


def test_enter_order_hand_written_bytes():
    # the spec's Enter Order, field by field: O, UserRefNum 0x01020304, Buy, 500 shares,
    # "AAPL    ", price $189.23 (1892300 = 4 implied decimals), TIF IOC, display Y,
    # capacity A, ISE N, cross N, ClOrdID "12345", appendage length 0
    raw = (b"O" + bytes.fromhex("01020304") + b"B" + (500).to_bytes(4, "big") + b"AAPL    "
           + (1_892_300).to_bytes(8, "big") + b"3" + b"Y" + b"A" + b"N" + b"N" + b"12345         " + b"\0\0")
    assert len(raw) == 47
    for decode in (ouch.decode_in, lambda b: cex.decode_c(b, inbound=True)):
        m = decode(raw)
        assert m == ouch.EnterOrder(0x01020304, b"B", 500, b"AAPL    ", 1_892_300, b"3", b"Y", b"A", b"N", b"N",
                                    b"12345         ")
    assert ouch.clordid_int(m.cl_ord_id) == 12345
    assert ouch.encode(m) == raw
    # offsets of cimpl/ouch.h
    assert raw[1:5] == bytes.fromhex("01020304") and raw[5:6] == b"B" and raw[10:18] == b"AAPL    "
    assert raw[18:26] == (1_892_300).to_bytes(8, "big") and raw[26:27] == b"3" and raw[31:45] == b"12345         "


def test_outbound_hand_written_bytes():
    ts = 34_200_000_000_123  # 09:30:00.000000123
    raw = b"E" + ts.to_bytes(8, "big") + (7).to_bytes(4, "big") + (100).to_bytes(4, "big") + \
        (1_000_000).to_bytes(8, "big") + b"A" + (77).to_bytes(8, "big") + b"\0\0"
    assert len(raw) == 36
    for m in (ouch.decode_out(raw), cex.decode_c(raw, inbound=False)):
        assert m == ouch.OrderExecuted(ts, 7, 100, 1_000_000, b"A", 77)
    rej = b"J" + ts.to_bytes(8, "big") + (9).to_bytes(4, "big") + b"\x00\x1d" + b"9             "
    assert ouch.decode_out(rej) == ouch.OrderRejected(ts, 9, 0x1D, b"9             ")
    assert cex.decode_c(rej, inbound=False) == ouch.decode_out(rej)
    can = b"C" + ts.to_bytes(8, "big") + (9).to_bytes(4, "big") + (40).to_bytes(4, "big") + b"I"
    assert ouch.decode_out(can) == cex.decode_c(can, inbound=False) == ouch.OrderCanceled(ts, 9, 40, b"I")
    acc = ouch.encode(EXAMPLES[4])
    assert acc[36:44] == (99).to_bytes(8, "big") and acc[47:48] == b"L" and acc[62:64] == b"\0\0"
    rep = ouch.encode(EXAMPLES[5])
    assert rep[9:13] == (7).to_bytes(4, "big") and rep[13:17] == (8).to_bytes(4, "big")
    assert rep[40:48] == (100).to_bytes(8, "big")


def test_direction_matters():
    # 'U' is Replace Order inbound (40 bytes) and Order Replaced outbound (68)
    b = ouch.encode(EXAMPLES[1])
    assert isinstance(ouch.decode_in(b), ouch.ReplaceOrder)
    with pytest.raises(OuchError):
        ouch.decode_out(b)
    with pytest.raises(OuchError):
        cex.decode_c(b, inbound=False)


BAD = [
    (b"", True, "truncated"),
    (b"O" + b"\0" * 10, True, "truncated"),
    (b"Q" + b"\0" * 46, True, "unknown"),
    (b"A" + b"\0" * 63, True, "unknown"),  # an outbound type read as inbound
    (ouch.encode(EXAMPLES[0]) + b"\0", True, "length"),
    (ouch.encode(EXAMPLES[0])[:-2] + b"\0\x04", True, "appendage"),
    (ouch.encode(EXAMPLES[6])[:-2] + b"\0\x01", False, "appendage"),
    (ouch.encode(EXAMPLES[6])[:20], False, "truncated"),
    (b"X" + b"\0" * 7, True, "truncated"),
]


@pytest.mark.parametrize("raw,inbound,why", BAD, ids=[f"{i}-{w}" for i, (_, _, w) in enumerate(BAD)])
def test_malformed_raises(raw, inbound, why):
    with pytest.raises(OuchError):
        ouch.decode(raw, inbound=inbound)
    with pytest.raises(OuchError):
        cex.decode_c(raw, inbound=inbound)


def test_encode_refuses_what_does_not_fit():
    with pytest.raises(OuchError):
        ouch.encode(ouch.EnterOrder(1, b"B", 1, b"AAPL", 1 << 32))  # a price above u32
    with pytest.raises(OuchError):
        ouch.encode(ouch.EnterOrder(1, b"B", 1, b"TOOLONGSYM", 1))
    with pytest.raises(OuchError):
        ouch.encode(ouch.EnterOrder(1 << 32, b"B", 1, b"AAPL", 1))
    with pytest.raises(OuchError):
        ouch.encode(ouch.EnterOrder(1, b"BB", 1, b"AAPL", 1))
    with pytest.raises(TypeError):
        ouch.encode((1, 2))
    with pytest.raises(OuchError):
        ouch.price_u32(1 << 32)
    # decode keeps a too-large wire price (the exchange rejects it), price_u32 refuses it
    raw = bytearray(ouch.encode(ouch.EnterOrder(1, b"B", 1, b"AAPL", 1)))
    raw[18:26] = (1 << 40).to_bytes(8, "big")
    assert ouch.decode_in(bytes(raw)).price == 1 << 40 == cex.decode_c(bytes(raw), inbound=True).price


def test_clordid():
    assert ouch.clordid(0) == b"0             "
    assert ouch.clordid(4294967295) == b"4294967295    "
    assert ouch.clordid_int(ouch.clordid(123)) == 123
    for bad in (b" 12           ", b"12a           ", b"              ", b"4294967296    ", b"12"):
        with pytest.raises(OuchError):
            ouch.clordid_int(bad)
    with pytest.raises(OuchError):
        ouch.clordid(-1)


def test_split():
    msgs = [ouch.encode(m) for m in EXAMPLES[3:]]
    assert ouch.split(b"".join(msgs)) == msgs
    with pytest.raises(OuchError):
        ouch.split(b"".join(msgs)[:-1])
    with pytest.raises(OuchError):
        ouch.split(b"Z")


_u32 = st.integers(0, 0xFFFFFFFF)
_u64 = st.integers(0, (1 << 64) - 1)
_ch = st.binary(min_size=1, max_size=1)
_sym = st.binary(min_size=8, max_size=8)
_cl = st.binary(min_size=14, max_size=14)
STRATEGIES = [
    st.builds(ouch.EnterOrder, _u32, _ch, _u32, _sym, _u32, _ch, _ch, _ch, _ch, _ch, _cl),
    st.builds(ouch.ReplaceOrder, _u32, _u32, _u32, _u32, _ch, _ch, _ch, _cl),
    st.builds(ouch.CancelOrder, _u32, _u32),
    st.builds(ouch.SystemEvent, _u64, _ch),
    st.builds(ouch.OrderAccepted, _u64, _u32, _ch, _u32, _sym, _u32, _ch, _ch, _u64, _ch, _ch, _ch, _ch, _cl),
    st.builds(ouch.OrderReplaced, _u64, _u32, _u32, _ch, _u32, _sym, _u32, _ch, _ch, _u64, _ch, _ch, _ch, _ch,
              _cl),
    st.builds(ouch.OrderExecuted, _u64, _u32, _u32, _u32, _ch, _u64),
    st.builds(ouch.OrderCanceled, _u64, _u32, _u32, _ch),
    st.builds(ouch.OrderRejected, _u64, _u32, st.integers(0, 0xFFFF), _cl),
]


@settings(max_examples=60, deadline=None)
@given(st.one_of(STRATEGIES))
def test_random_messages_same_bytes(msg):
    b = ouch.encode(msg)
    assert cex.encode_c(msg) == b
    inbound = _inbound(msg)
    assert ouch.decode(b, inbound=inbound) == msg == cex.decode_c(b, inbound=inbound)


def test_struct_formats_have_no_padding():
    for table in ouch.STRUCTS.values():
        for s in table.values():
            assert s.format.startswith(">")  # standard sizes, no alignment
            assert s.size == struct.calcsize(s.format)
