"""Lab 7, pure Python: NASDAQ OUCH 5.0 order-entry messages, encoded and decoded.

Source: "O*U*C*H Version 5.0" (Nasdaq US equities order entry), section 2
(inbound: client -> exchange) and section 3 (outbound: exchange -> client).
cimpl/ouch.h is the same layout in C, and tests/test_ouch.py holds the two to
the same bytes.  Only the messages of the lab:

    dir  type  message           bytes  fields after the type byte
    in   O     Enter Order         47   UserRefNum, side, quantity, symbol, price, TIF, display,
                                        capacity, ISE, cross type, ClOrdID, appendage length
    in   U     Replace Order       40   orig UserRefNum, UserRefNum, quantity, price, TIF, display,
                                        ISE, ClOrdID, appendage length
    in   X     Cancel Order         9   UserRefNum, quantity (the size to leave: 0 = all)
    out  S     System Event        10   timestamp, event code
    out  A     Order Accepted      64   timestamp, UserRefNum, side, quantity, symbol, price, TIF,
                                        display, order ref, capacity, ISE, cross type, state,
                                        ClOrdID, appendage length
    out  U     Order Replaced      68   timestamp, orig UserRefNum, UserRefNum, then as A
    out  E     Order Executed      36   timestamp, UserRefNum, quantity, price, liquidity flag,
                                        match number, appendage length
    out  C     Order Canceled      18   timestamp, UserRefNum, quantity (taken off), reason
    out  J     Order Rejected      29   timestamp, UserRefNum, reason (u16), ClOrdID

Integers are big-endian and unsigned; Alpha fields are ASCII, left-justified,
space padded (symbol 8 characters, ClOrdID 14); outbound timestamps are u64
ns since midnight.  The same type byte means different messages in each
direction ('U'), so STRUCTS has one table per direction and decoding says
which it reads: decode(buf, inbound=True) or decode_in / decode_out.

Simplifications (the same as cimpl/ouch.h):
- No optional appendages: the Appendage Length field is always 0, and
  decoding refuses another value (OuchError), so every type has one size.
- Prices: OUCH 5.0's are 8 bytes with 4 implied decimals, ours (ITCH's) u32
  in 1/10000 dollar - the same scale.  encode refuses a price that does not
  fit in u32 (OuchError); decode returns the wire value as is, so the
  exchange can answer a too-large price with Order Rejected (INVALID_PRICE)
  instead of failing; price_u32() converts and checks.
- ClOrdID carries the strategy's u32 order id in decimal, left-justified and
  space padded: clordid(42) == b"42            ", clordid_int() back.
- Field values are not judged by decode (a side b"Z" decodes): that is the
  exchange's job, and it answers with Order Rejected.  Only the structure is:
  a short message, an unknown type, a wrong length, a nonzero appendage length
  raise OuchError (a ValueError).  No IndexError or struct.error comes out.

Field values are kept as on the wire: one-character fields are 1-byte bytes
(side b"B"), symbol and ClOrdID the padded bytes.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

U32_MAX = 0xFFFFFFFF
PRICE_SCALE = 10_000  # 4 implied decimals, as ITCH's Price(4)

# Time in force, liquidity flags, order states, cancel reasons
TIF_DAY, TIF_IOC = b"0", b"3"
LIQ_ADDED, LIQ_REMOVED = b"A", b"R"
STATE_LIVE, STATE_DEAD = b"L", b"D"
CANCEL_USER, CANCEL_IOC = b"U", b"I"

# Order Rejected reason codes (OUCH 5.0, u16) the exchange sends
REJ_INVALID_SIDE = 0x0009
REJ_PROCESSING_ERROR = 0x000A  # the exchange's order table is full
REJ_OTHER = 0x000F  # UserRefNum not increasing; time in force not Day/IOC
REJ_CANCEL_NOT_ALLOWED = 0x0010  # cancel of an unknown or finished order
REJ_INVALID_QUANTITY = 0x0013  # quantity 0
REJ_REPLACE_NOT_ALLOWED = 0x0015  # replace of an unknown or finished order
REJ_INVALID_SYMBOL = 0x0017
REJ_INVALID_PRICE = 0x001D  # 0, or above u32
REJ_SHARES_EXCEED_THRESHOLD = 0x001E  # quantity above the exchange's max
REJ_MAX = 0x40
REJECT_REASONS = {
    REJ_INVALID_SIDE: "invalid side", REJ_PROCESSING_ERROR: "processing error", REJ_OTHER: "other",
    REJ_CANCEL_NOT_ALLOWED: "cancel not allowed", REJ_INVALID_QUANTITY: "invalid quantity",
    REJ_REPLACE_NOT_ALLOWED: "replace not allowed", REJ_INVALID_SYMBOL: "invalid symbol",
    REJ_INVALID_PRICE: "invalid price", REJ_SHARES_EXCEED_THRESHOLD: "shares exceed threshold",
}

# ------------------------------------------------------------- layout
# One Struct per (direction, type), fields in wire order; 'c' for a 1-char field.
STRUCTS: dict[str, dict[bytes, struct.Struct]] = {
    "in": {
        # UserRefNum, side, qty, symbol, price, tif, display, capacity, ise, cross, ClOrdID, appendage
        b"O": struct.Struct(">cIcI8sQccccc14sH"),
        # orig UserRefNum, UserRefNum, qty, price, tif, display, ise, ClOrdID, appendage
        b"U": struct.Struct(">cIIIQccc14sH"),
        b"X": struct.Struct(">cII"),  # UserRefNum, qty
    },
    "out": {
        b"S": struct.Struct(">cQc"),  # timestamp, event code
        # ts, UserRefNum, side, qty, symbol, price, tif, display, order ref, capacity, ise, cross, state, ClOrdID, app.
        b"A": struct.Struct(">cQIcI8sQccQcccc14sH"),
        b"U": struct.Struct(">cQIIcI8sQccQcccc14sH"),  # ts, orig UserRefNum, then as A
        b"E": struct.Struct(">cQIIQcQH"),  # ts, UserRefNum, qty, price, liquidity, match, appendage
        b"C": struct.Struct(">cQIIc"),  # ts, UserRefNum, qty, reason
        b"J": struct.Struct(">cQIH14s"),  # ts, UserRefNum, reason, ClOrdID
    },
}
IN_SIZES: dict[int, int] = {t[0]: s.size for t, s in STRUCTS["in"].items()}
OUT_SIZES: dict[int, int] = {t[0]: s.size for t, s in STRUCTS["out"].items()}
MAX_SIZE = max(max(IN_SIZES.values()), max(OUT_SIZES.values()))

# the sizes of the specification (without appendages), checked at import
assert IN_SIZES == {ord("O"): 47, ord("U"): 40, ord("X"): 9}
assert OUT_SIZES == {ord("S"): 10, ord("A"): 64, ord("U"): 68, ord("E"): 36, ord("C"): 18, ord("J"): 29}
assert MAX_SIZE <= 96  # one slot of ll_ts_wire (cimpl/ts_layout.h)


class OuchError(ValueError):
    """Bytes that are not an OUCH 5.0 message of this module (short, an
    unknown type, a wrong length, a nonzero appendage length), or a message
    that cannot be encoded (a field out of range)."""


# ------------------------------------------------------------- messages
_PAD14 = b" " * 14


class EnterOrder(NamedTuple):
    user_ref: int
    side: bytes  # b"B" / b"S" (the spec also has b"T", b"E": short sales)
    qty: int
    symbol: bytes  # 8 bytes, space padded (encode pads a shorter one)
    price: int  # 1/10000 $
    tif: bytes = TIF_DAY
    display: bytes = b"Y"
    capacity: bytes = b"P"
    ise: bytes = b"N"
    cross: bytes = b"N"
    cl_ord_id: bytes = _PAD14


class ReplaceOrder(NamedTuple):
    orig_user_ref: int
    user_ref: int  # the replacement's: strictly increasing, like an Enter's
    qty: int  # the replacement's open shares
    price: int
    tif: bytes = TIF_DAY
    display: bytes = b"Y"
    ise: bytes = b"N"
    cl_ord_id: bytes = _PAD14


class CancelOrder(NamedTuple):
    user_ref: int
    qty: int = 0  # the order's size after the cancel: 0 = cancel it all


class SystemEvent(NamedTuple):
    timestamp: int
    event: bytes  # b"S" start of day, b"E" end of day


class OrderAccepted(NamedTuple):
    timestamp: int
    user_ref: int
    side: bytes
    qty: int
    symbol: bytes
    price: int
    tif: bytes
    display: bytes
    order_ref: int
    capacity: bytes
    ise: bytes
    cross: bytes
    state: bytes  # b"L" live, b"D" dead
    cl_ord_id: bytes


class OrderReplaced(NamedTuple):
    timestamp: int
    orig_user_ref: int
    user_ref: int
    side: bytes
    qty: int
    symbol: bytes
    price: int
    tif: bytes
    display: bytes
    order_ref: int
    capacity: bytes
    ise: bytes
    cross: bytes
    state: bytes
    cl_ord_id: bytes


class OrderExecuted(NamedTuple):
    timestamp: int
    user_ref: int
    qty: int
    price: int
    liquidity: bytes  # b"A" added, b"R" removed
    match: int


class OrderCanceled(NamedTuple):
    timestamp: int
    user_ref: int
    qty: int  # shares taken off
    reason: bytes  # b"U" user requested, b"I" IOC remainder


class OrderRejected(NamedTuple):
    timestamp: int
    user_ref: int
    reason: int  # REJ_* code
    cl_ord_id: bytes


Inbound = EnterOrder | ReplaceOrder | CancelOrder
Outbound = SystemEvent | OrderAccepted | OrderReplaced | OrderExecuted | OrderCanceled | OrderRejected

# (class, direction, type byte); fields in wire order, less the type byte and appendage length
_TYPES: dict[type, tuple[str, bytes]] = {
    EnterOrder: ("in", b"O"), ReplaceOrder: ("in", b"U"), CancelOrder: ("in", b"X"),
    SystemEvent: ("out", b"S"), OrderAccepted: ("out", b"A"), OrderReplaced: ("out", b"U"),
    OrderExecuted: ("out", b"E"), OrderCanceled: ("out", b"C"), OrderRejected: ("out", b"J"),
}
_CLASSES = {(d, t): cls for cls, (d, t) in _TYPES.items()}
_HAS_APPENDAGE = {("in", b"O"), ("in", b"U"), ("out", b"A"), ("out", b"U"), ("out", b"E")}
_PRICE_FIELDS = {"price"}
_ALPHA = {"symbol": 8, "cl_ord_id": 14}


# ------------------------------------------------------------- helpers
def clordid(order_id: int) -> bytes:
    """The strategy's u32 order id as a ClOrdID: decimal, left-justified, space padded."""
    if not isinstance(order_id, int) or not 0 <= order_id <= U32_MAX:
        raise OuchError(f"ClOrdID id {order_id!r} must be an integer in 0..2**32-1")
    return str(order_id).encode("ascii").ljust(14, b" ")


def clordid_int(field: bytes) -> int:
    """The u32 id in a ClOrdID written by clordid(); OuchError if it is not one."""
    s = bytes(field)
    digits = s.rstrip(b" ")
    if len(s) != 14 or not 1 <= len(digits) <= 10 or not digits.isdigit() or int(digits) > U32_MAX:
        raise OuchError(f"ClOrdID {s!r} is not a decimal u32 id")
    return int(digits)


def symbol(name: str | bytes) -> bytes:
    """A stock symbol as OUCH (and ITCH) write it: 8 bytes, space padded."""
    return _alpha(name, 8, "symbol")


def price_u32(wire: int) -> int:
    """An OUCH 8-byte price (4 implied decimals) as our u32 1/10000 $: the
    same number, refused (OuchError) if it does not fit."""
    if not isinstance(wire, int) or not 0 <= wire <= U32_MAX:
        raise OuchError(f"price {wire!r} does not fit a u32 in 1/10000 dollar")
    return wire


def _alpha(value, size: int, what: str) -> bytes:
    if isinstance(value, str):
        try:
            value = value.encode("ascii")
        except UnicodeEncodeError:
            raise OuchError(f"{what} {value!r} is not ASCII") from None
    if not isinstance(value, (bytes, bytearray)) or len(value) > size:
        raise OuchError(f"{what} {value!r} must be at most {size} ASCII characters")
    return bytes(value).ljust(size, b" ")


def _char(value, what: str) -> bytes:
    if isinstance(value, str):
        value = value.encode("ascii", "replace")
    if not isinstance(value, (bytes, bytearray)) or len(value) != 1:
        raise OuchError(f"{what} {value!r} must be one character")
    return bytes(value)


# ------------------------------------------------------------- encoding
def encode(msg: Inbound | Outbound) -> bytes:
    """The message's bytes (type byte first).  OuchError for a field out of
    range or of the wrong kind (a price above u32 among them); TypeError for
    an object that is not one of this module's messages."""
    key = _TYPES.get(type(msg))
    if key is None:
        raise TypeError(f"not an OUCH message of this module: {type(msg).__name__}")
    direction, t = key
    values = []
    for name, v in zip(msg._fields, msg):
        if name in _ALPHA:
            v = _alpha(v, _ALPHA[name], name)
        elif name in _PRICE_FIELDS:
            v = price_u32(v)
        elif name == "reason" and t == b"C" or name in ("side", "tif", "display", "capacity", "ise", "cross",
                                                          "state", "liquidity", "event"):
            v = _char(v, name)
        values.append(v)
    if key in _HAS_APPENDAGE:
        values.append(0)
    try:
        return STRUCTS[direction][t].pack(t, *values)
    except struct.error as e:
        raise OuchError(f"cannot encode {msg!r}: {e}") from None


# ------------------------------------------------------------- decoding
def _type_name(t: int) -> str:
    return repr(chr(t)) if 32 <= t < 127 else f"0x{t:02x}"


def decode(buf, *, inbound: bool):
    """The message in `buf` (exactly one message: len(buf) must be its type's
    size), inbound (client -> exchange) or outbound, as its NamedTuple."""
    direction = "in" if inbound else "out"
    mv = memoryview(buf).cast("B") if not isinstance(buf, (bytes, bytearray)) else buf
    n = len(mv)
    if n == 0:
        raise OuchError("truncated OUCH message: no bytes")
    t = bytes(mv[:1])
    s = STRUCTS[direction].get(t)
    if s is None:
        raise OuchError(f"unknown {direction}bound OUCH message type {_type_name(t[0])}")
    if n < s.size:
        raise OuchError(f"truncated {direction}bound OUCH {_type_name(t[0])} message: {n} bytes, "
                        f"the type has {s.size}")
    if n > s.size:
        raise OuchError(f"{direction}bound OUCH {_type_name(t[0])} message of {n} bytes: the type has "
                        f"{s.size} (appendages are not supported)")
    fields = s.unpack_from(mv, 0)[1:]
    if (direction, t) in _HAS_APPENDAGE:
        if fields[-1] != 0:
            raise OuchError(f"{direction}bound OUCH {_type_name(t[0])} message with appendage length "
                            f"{fields[-1]}: appendages are not supported")
        fields = fields[:-1]
    return _CLASSES[(direction, t)]._make(fields)


def decode_in(buf) -> Inbound:
    return decode(buf, inbound=True)


def decode_out(buf) -> Outbound:
    return decode(buf, inbound=False)


def split(buf, *, inbound: bool = False) -> list[bytes]:
    """Concatenated messages (what the exchange writes per call) -> one bytes each."""
    sizes = IN_SIZES if inbound else OUT_SIZES
    out, pos, n = [], 0, len(buf)
    data = bytes(buf)
    while pos < n:
        size = sizes.get(data[pos])
        if size is None:
            raise OuchError(f"unknown OUCH message type {_type_name(data[pos])} at offset {pos}")
        if pos + size > n:
            raise OuchError(f"truncated OUCH message at offset {pos}: {n - pos} bytes, the type has {size}")
        out.append(data[pos:pos + size])
        pos += size
    return out


def size(type_byte: int | bytes, *, inbound: bool) -> int:
    """The size of a message of that type and direction; 0 if there is none."""
    t = type_byte[0] if isinstance(type_byte, (bytes, bytearray)) else type_byte
    return (IN_SIZES if inbound else OUT_SIZES).get(t, 0)
