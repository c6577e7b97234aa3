"""Lab 5, pure Python: NASDAQ TotalView-ITCH 5.0 messages, encoded and decoded.

Source: "Nasdaq TotalView-ITCH 5.0" interface specification (NASDAQ OMX,
version 5.0), section 4: Message Formats.  Only the messages an order book
needs are here:

    type  message                          bytes   body after the 11-byte header
    S     System Event                       12    event code
    R     Stock Directory                    39    stock, market category, ..., inverse indicator
    A     Add Order (no MPID attribution)    36    order ref, side, shares, stock, price
    F     Add Order with MPID attribution    40    the same + attribution (MPID)
    E     Order Executed                     31    order ref, executed shares, match number
    C     Order Executed With Price          36    the same + printable, execution price
    X     Order Cancel                       23    order ref, cancelled shares
    D     Order Delete                       19    order ref
    U     Order Replace                      35    original ref, new ref, shares, price

Every message starts with the same header: type (1 ASCII char), stock locate
(u16), tracking number (u16), timestamp (u48: nanoseconds since midnight).
All integers are big-endian and unsigned; prices are u32 in 1/10000 dollar
(PRICE_SCALE); Alpha fields are ASCII, left-justified, padded with spaces
(a stock is 8 characters: b"AAPL    ").  There is no padding between fields,
so every type has one fixed size (MESSAGE_SIZES).

Decoding is the hot path (the book of lab 5 wants ~1 M messages/s in pure
Python, decode and update together), so it is one dict lookup on the type byte
and one precompiled `struct.Struct.unpack_from` per message:

- `unpack(buf, offset)` returns the struct's raw tuple, fields in wire order,
  e.g. (b'A', locate, tracking, ts_hi, ts_lo, ref, side, shares, stock, price).
  The 6-byte timestamp comes as two integers: ts_hi (its top 16 bits, 'H') and
  ts_lo (its low 32 bits, 'I'); timestamp = ts_hi << 32 | ts_lo.  struct has no
  6-byte integer; 'HI' costs one shift and one or, while '6s' would allocate a
  bytes object and call int.from_bytes (measured ~5% slower per decode).
- `decode(buf, offset)` builds the typed message (a NamedTuple) from that
  tuple: the only object made per message besides the struct's tuple.

Field values are kept as they are on the wire: stock and attribution are the
raw padded bytes (b"AAPL    ", b"GSCO"), one-character fields are 1-byte bytes
(side b"B"/b"S"), prices are integers.  `encode` accepts shorter stocks/MPIDs
(str or bytes) and pads them; `stock_name(b"AAPL    ")` gives "AAPL".

Files: NASDAQ's published sample files frame each message with its length, a
2-byte big-endian integer, then the message.  `frame(msgs)` writes that framing,
`iter_frames(buf)` walks it (every frame, known type or not), and
`read_messages(buf)` decodes it.  A type this module does not know is either an
error (UnknownMessage, the default) or skipped and reported to a callback:
`read_messages(buf, on_unknown=f)` calls f(offset, type_byte) for each one, so
the caller can count them.  Real ITCH files hold many more types (trades,
crosses, imbalances, ...) that a book may ignore this way.

Every malformed input raises ItchError (a ValueError) naming the problem and
the byte offset: a truncated frame or body, a frame whose length disagrees with
its type's size, an unknown type (UnknownMessage), a side that is neither B nor
S.  No IndexError or struct.error comes out of this module.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

PRICE_SCALE = 10_000  # ITCH Price(4): 1/10000 dollar
TIMESTAMP_MAX = (1 << 48) - 1
_LO32 = 0xFFFFFFFF

# ------------------------------------------------------------- layout
# One Struct per type, fields in wire order.  Header: type 'c', stock locate
# 'H', tracking number 'H', timestamp 'HI' (high 16 bits, low 32 bits).
_HEADER = ">cHHHI"
STRUCTS: dict[bytes, struct.Struct] = {
    b"S": struct.Struct(_HEADER + "c"),  # event code
    # stock, market category, financial status indicator, round lot size, round lots only,
    # issue classification, issue sub-type (2), authenticity, short sale threshold indicator,
    # IPO flag, LULD reference price tier, ETP flag, ETP leverage factor, inverse indicator
    b"R": struct.Struct(_HEADER + "8sccIcc2sccccc" + "Ic"),
    b"A": struct.Struct(_HEADER + "Qc" + "I8sI"),  # order ref, side, shares, stock, price
    b"F": struct.Struct(_HEADER + "Qc" + "I8sI4s"),  # ... + attribution
    b"E": struct.Struct(_HEADER + "QIQ"),  # order ref, executed shares, match number
    b"C": struct.Struct(_HEADER + "QIQcI"),  # ... + printable, execution price
    b"X": struct.Struct(_HEADER + "QI"),  # order ref, cancelled shares
    b"D": struct.Struct(_HEADER + "Q"),  # order ref
    b"U": struct.Struct(_HEADER + "QQII"),  # original ref, new ref, shares, price
}
MESSAGE_SIZES: dict[int, int] = {t[0]: s.size for t, s in STRUCTS.items()}  # type byte (int) -> length

# the sizes in the specification, checked once at import: a typo in a format string fails here
assert MESSAGE_SIZES == {ord(t): n for t, n in
                         {"S": 12, "R": 39, "A": 36, "F": 40, "E": 31, "C": 36, "X": 23, "D": 19, "U": 35}.items()}

SYSTEM_EVENT_CODES = {
    b"O": "start of messages", b"S": "start of system hours", b"Q": "start of market hours",
    b"M": "end of market hours", b"E": "end of system hours", b"C": "end of messages",
}


# ------------------------------------------------------------- errors
class ItchError(ValueError):
    """A byte string that is not valid ITCH 5.0 (for this module), or a
    message that cannot be encoded.  The text names the problem and the
    byte offset."""


class UnknownMessage(ItchError):
    """A message type this module does not decode.  `offset` is where its
    type byte is, `type_byte` the byte (an int)."""

    def __init__(self, message: str, offset: int, type_byte: int) -> None:
        super().__init__(message)
        self.offset = offset
        self.type_byte = type_byte


def _type_name(t: int) -> str:
    return repr(chr(t)) if 32 <= t < 127 else f"0x{t:02x}"


# ------------------------------------------------------------- messages
class SystemEvent(NamedTuple):
    stock_locate: int
    tracking_number: int
    timestamp: int  # ns since midnight
    event_code: bytes  # b"O" b"S" b"Q" b"M" b"E" b"C" (SYSTEM_EVENT_CODES)


class StockDirectory(NamedTuple):
    stock_locate: int
    tracking_number: int
    timestamp: int
    stock: bytes  # 8 bytes, space padded
    # what follows is not used by the book; the defaults describe an ordinary
    # NASDAQ Global Select common stock, in production, traded in round lots of 100
    market_category: bytes = b"Q"  # Q = NASDAQ Global Select Market
    financial_status: bytes = b"N"  # N = normal
    round_lot_size: int = 100
    round_lots_only: bytes = b"N"
    issue_classification: bytes = b"C"  # C = common stock
    issue_subtype: bytes = b"Z "  # Z = not applicable (2 chars, Alpha)
    authenticity: bytes = b"P"  # P = live/production, T = test
    short_sale_threshold: bytes = b"N"
    ipo_flag: bytes = b" "  # space = not a NASDAQ listed instrument / n.a.
    luld_tier: bytes = b"1"  # 1 = Tier 1 NMS stock
    etp_flag: bytes = b"N"
    etp_leverage_factor: int = 0
    inverse_indicator: bytes = b"N"


class AddOrder(NamedTuple):
    """'A', or 'F' when `attribution` (the 4-char MPID) is not None."""

    stock_locate: int
    tracking_number: int
    timestamp: int
    order_ref: int
    side: bytes  # b"B" buy, b"S" sell
    shares: int
    stock: bytes
    price: int  # 1/10000 dollar
    attribution: bytes | None = None


class OrderExecuted(NamedTuple):
    stock_locate: int
    tracking_number: int
    timestamp: int
    order_ref: int
    executed_shares: int
    match_number: int


class OrderExecutedWithPrice(NamedTuple):
    stock_locate: int
    tracking_number: int
    timestamp: int
    order_ref: int
    executed_shares: int
    match_number: int
    printable: bytes  # b"Y" / b"N": whether the execution prints on time and sales
    execution_price: int


class OrderCancel(NamedTuple):
    stock_locate: int
    tracking_number: int
    timestamp: int
    order_ref: int
    cancelled_shares: int


class OrderDelete(NamedTuple):
    stock_locate: int
    tracking_number: int
    timestamp: int
    order_ref: int


class OrderReplace(NamedTuple):
    """Cancel `original_order_ref` and add `new_order_ref` (same side and
    stock, new shares and price, back of the queue)."""

    stock_locate: int
    tracking_number: int
    timestamp: int
    original_order_ref: int
    new_order_ref: int
    shares: int
    price: int


Message = (SystemEvent | StockDirectory | AddOrder | OrderExecuted | OrderExecutedWithPrice
           | OrderCancel | OrderDelete | OrderReplace)


# ------------------------------------------------------------- decoding
# One small function per type: unpack the raw tuple, join the timestamp, build
# the NamedTuple with tuple.__new__ (the NamedTuple's own __new__ is a Python
# function taking keywords: slower).  Default arguments bind globals as locals.
_new = tuple.__new__


def _d_S(buf, off, _u=STRUCTS[b"S"].unpack_from, _cls=SystemEvent):
    _, loc, trk, hi, lo, code = _u(buf, off)
    return _new(_cls, (loc, trk, hi << 32 | lo, code))


def _d_R(buf, off, _u=STRUCTS[b"R"].unpack_from, _cls=StockDirectory):
    t = _u(buf, off)
    return _new(_cls, (t[1], t[2], t[3] << 32 | t[4]) + t[5:])


def _bad_side(off: int, side: bytes) -> ItchError:
    return ItchError(f"bad side {side!r} in the add order at offset {off}: must be b'B' or b'S'")


def _d_A(buf, off, _u=STRUCTS[b"A"].unpack_from, _cls=AddOrder):
    _, loc, trk, hi, lo, ref, side, shares, stock, price = _u(buf, off)
    if side != b"B" and side != b"S":
        raise _bad_side(off, side)
    return _new(_cls, (loc, trk, hi << 32 | lo, ref, side, shares, stock, price, None))


def _d_F(buf, off, _u=STRUCTS[b"F"].unpack_from, _cls=AddOrder):
    _, loc, trk, hi, lo, ref, side, shares, stock, price, mpid = _u(buf, off)
    if side != b"B" and side != b"S":
        raise _bad_side(off, side)
    return _new(_cls, (loc, trk, hi << 32 | lo, ref, side, shares, stock, price, mpid))


def _d_E(buf, off, _u=STRUCTS[b"E"].unpack_from, _cls=OrderExecuted):
    _, loc, trk, hi, lo, ref, shares, match = _u(buf, off)
    return _new(_cls, (loc, trk, hi << 32 | lo, ref, shares, match))


def _d_C(buf, off, _u=STRUCTS[b"C"].unpack_from, _cls=OrderExecutedWithPrice):
    _, loc, trk, hi, lo, ref, shares, match, printable, price = _u(buf, off)
    return _new(_cls, (loc, trk, hi << 32 | lo, ref, shares, match, printable, price))


def _d_X(buf, off, _u=STRUCTS[b"X"].unpack_from, _cls=OrderCancel):
    _, loc, trk, hi, lo, ref, shares = _u(buf, off)
    return _new(_cls, (loc, trk, hi << 32 | lo, ref, shares))


def _d_D(buf, off, _u=STRUCTS[b"D"].unpack_from, _cls=OrderDelete):
    _, loc, trk, hi, lo, ref = _u(buf, off)
    return _new(_cls, (loc, trk, hi << 32 | lo, ref))


def _d_U(buf, off, _u=STRUCTS[b"U"].unpack_from, _cls=OrderReplace):
    _, loc, trk, hi, lo, old, new, shares, price = _u(buf, off)
    return _new(_cls, (loc, trk, hi << 32 | lo, old, new, shares, price))


_DECODERS: dict[int, Callable] = {t[0]: globals()["_d_" + t.decode()] for t in STRUCTS}
_UNPACKERS: dict[int, Callable] = {t[0]: s.unpack_from for t, s in STRUCTS.items()}
# framed streams: (length << 8 | type byte) -> decoder, so a frame whose length is not its type's size misses
_FRAMED: dict[int, Callable] = {MESSAGE_SIZES[t] << 8 | t: d for t, d in _DECODERS.items()}


def _diagnose(buf, off: int, end: int | None = None) -> ItchError:
    """The error for a message at `off` that could not be read (the slow path,
    taken only once something already failed).  `end`: where the message's
    bytes stop (its frame's end), default the end of the buffer."""
    end = len(buf) if end is None else end
    if off < 0:  # counts from the end, as in struct.unpack_from
        if off + end < 0:
            return ItchError(f"bad offset {off}: the buffer has {end} bytes")
        off += end
    if off >= end:
        return ItchError(f"truncated message at offset {off}: no bytes left (the buffer has {end})")
    t = buf[off]
    if t not in MESSAGE_SIZES:
        return UnknownMessage(f"unknown message type {_type_name(t)} at offset {off}", off, t)
    need, have = MESSAGE_SIZES[t], end - off
    return ItchError(f"truncated {_type_name(t)} message at offset {off}: "
                     f"{have} bytes left, the type needs {need}")


def unpack(buf, offset: int = 0) -> tuple:
    """The raw struct tuple of the message whose type byte is at `offset`:
    fields in wire order, the timestamp as (ts_hi, ts_lo).  The fastest path;
    unlike decode() it does not check the side byte of A/F."""
    try:
        return _UNPACKERS[buf[offset]](buf, offset)
    except (KeyError, IndexError, struct.error):
        raise _diagnose(buf, offset) from None


def decode(buf, offset: int = 0) -> Message:
    """The message whose type byte is at buf[offset], as its NamedTuple.
    Reads exactly MESSAGE_SIZES[type] bytes; ItchError if there are fewer,
    UnknownMessage for a type this module does not know.  `buf`: any bytes-like
    object of bytes; a negative offset counts from its end, as in struct."""
    try:
        return _DECODERS[buf[offset]](buf, offset)
    except (KeyError, IndexError, struct.error):
        raise _diagnose(buf, offset) from None


# ------------------------------------------------------------- encoding
def _alpha(value: bytes | str, size: int, what: str) -> bytes:
    """An Alpha field: ASCII, left-justified, padded with spaces to `size`."""
    if isinstance(value, str):
        try:
            value = value.encode("ascii")
        except UnicodeEncodeError:
            raise ItchError(f"{what} {value!r} is not ASCII") from None
    if not isinstance(value, (bytes, bytearray)) or len(value) > size:
        raise ItchError(f"{what} {value!r} must be at most {size} ASCII characters")
    return bytes(value).ljust(size, b" ")


def _char(value: bytes | str, what: str) -> bytes:
    return _alpha(value, 1, what)


def _ts(ts: int) -> tuple[int, int]:
    if not isinstance(ts, int) or not 0 <= ts <= TIMESTAMP_MAX:
        raise ItchError(f"timestamp {ts!r} must be an integer in 0..2**48-1 (ns since midnight)")
    return ts >> 32, ts & _LO32


def _side(side: bytes | str) -> bytes:
    side = side.encode("ascii") if isinstance(side, str) and side.isascii() else side
    if side != b"B" and side != b"S":
        raise ItchError(f"bad side {side!r}: must be b'B' or b'S'")
    return side


def _e_system(m: SystemEvent) -> bytes:
    return STRUCTS[b"S"].pack(b"S", m.stock_locate, m.tracking_number, *_ts(m.timestamp),
                              _char(m.event_code, "event code"))


def _e_directory(m: StockDirectory) -> bytes:
    return STRUCTS[b"R"].pack(
        b"R", m.stock_locate, m.tracking_number, *_ts(m.timestamp), _alpha(m.stock, 8, "stock"),
        _char(m.market_category, "market category"), _char(m.financial_status, "financial status"),
        m.round_lot_size, _char(m.round_lots_only, "round lots only"),
        _char(m.issue_classification, "issue classification"), _alpha(m.issue_subtype, 2, "issue sub-type"),
        _char(m.authenticity, "authenticity"), _char(m.short_sale_threshold, "short sale threshold"),
        _char(m.ipo_flag, "IPO flag"), _char(m.luld_tier, "LULD tier"), _char(m.etp_flag, "ETP flag"),
        m.etp_leverage_factor, _char(m.inverse_indicator, "inverse indicator"))


def _e_add(m: AddOrder) -> bytes:
    fields = (m.stock_locate, m.tracking_number, *_ts(m.timestamp), m.order_ref, _side(m.side),
              m.shares, _alpha(m.stock, 8, "stock"), m.price)
    if m.attribution is None:
        return STRUCTS[b"A"].pack(b"A", *fields)
    return STRUCTS[b"F"].pack(b"F", *fields, _alpha(m.attribution, 4, "attribution"))


def _e_executed(m: OrderExecuted) -> bytes:
    return STRUCTS[b"E"].pack(b"E", m.stock_locate, m.tracking_number, *_ts(m.timestamp),
                              m.order_ref, m.executed_shares, m.match_number)


def _e_executed_price(m: OrderExecutedWithPrice) -> bytes:
    return STRUCTS[b"C"].pack(b"C", m.stock_locate, m.tracking_number, *_ts(m.timestamp),
                              m.order_ref, m.executed_shares, m.match_number,
                              _char(m.printable, "printable"), m.execution_price)


def _e_cancel(m: OrderCancel) -> bytes:
    return STRUCTS[b"X"].pack(b"X", m.stock_locate, m.tracking_number, *_ts(m.timestamp),
                              m.order_ref, m.cancelled_shares)


def _e_delete(m: OrderDelete) -> bytes:
    return STRUCTS[b"D"].pack(b"D", m.stock_locate, m.tracking_number, *_ts(m.timestamp), m.order_ref)


def _e_replace(m: OrderReplace) -> bytes:
    return STRUCTS[b"U"].pack(b"U", m.stock_locate, m.tracking_number, *_ts(m.timestamp),
                              m.original_order_ref, m.new_order_ref, m.shares, m.price)


_ENCODERS: dict[type, Callable[..., bytes]] = {
    SystemEvent: _e_system, StockDirectory: _e_directory, AddOrder: _e_add,
    OrderExecuted: _e_executed, OrderExecutedWithPrice: _e_executed_price,
    OrderCancel: _e_cancel, OrderDelete: _e_delete, OrderReplace: _e_replace,
}


def encode(msg: Message) -> bytes:
    """The message's bytes (type byte first, no length prefix).  ItchError
    for a field out of range or of the wrong kind; TypeError for an object
    that is not one of this module's messages."""
    enc = _ENCODERS.get(type(msg))
    if enc is None:
        raise TypeError(f"not an ITCH message of this module: {type(msg).__name__}")
    try:
        return enc(msg)
    except struct.error as e:  # an integer out of range for its field, a wrong type
        raise ItchError(f"cannot encode {msg!r}: {e}") from None


def stock_name(stock: bytes) -> str:
    """b"AAPL    " -> "AAPL"."""
    return stock.decode("ascii").rstrip(" ")


# ------------------------------------------------------------- framing
_U16 = struct.Struct(">H")
MAX_FRAME = 0xFFFF


def frame(msgs: Iterable[Message | bytes]) -> bytes:
    """Messages (or already encoded bodies: bytes) with their 2-byte
    big-endian length prefix, one after the other: the sample files' layout."""
    parts = []
    for m in msgs:
        body = bytes(m) if isinstance(m, (bytes, bytearray, memoryview)) else encode(m)
        if not 1 <= len(body) <= MAX_FRAME:
            raise ItchError(f"a frame holds 1..{MAX_FRAME} bytes, this message has {len(body)}")
        parts.append(_U16.pack(len(body)))
        parts.append(body)
    return b"".join(parts)


def _frame_error(buf, pos: int, end: int) -> ItchError:
    """The error for the frame whose length prefix is at `pos`."""
    if end - pos < 2:
        return ItchError(f"truncated frame at offset {pos}: {end - pos} byte(s) left, "
                         f"the length prefix needs 2")
    n = buf[pos] << 8 | buf[pos + 1]
    if n == 0:
        return ItchError(f"empty frame at offset {pos}: length 0, no message type")
    if pos + 2 + n > end:
        return ItchError(f"truncated frame at offset {pos}: length {n} but only "
                         f"{end - pos - 2} byte(s) follow")
    t = buf[pos + 2]
    size = MESSAGE_SIZES[t]
    if n < size:
        return ItchError(f"truncated {_type_name(t)} message at offset {pos + 2}: "
                         f"its frame holds {n} bytes, the type needs {size}")
    return ItchError(f"frame at offset {pos}: length {n} disagrees with the size of "
                     f"a {_type_name(t)} message ({size} bytes)")


def iter_frames(buf) -> Iterator[tuple[int, memoryview]]:
    """(offset of the body, memoryview of the body) for every frame, known
    types or not.  ItchError for a truncated frame, an empty one, or a known
    type whose frame length is not its size."""
    mv = memoryview(buf).cast("B")
    data = buf if isinstance(buf, bytes) else mv  # indexing bytes is faster than a memoryview
    pos, end = 0, len(mv)
    sizes = MESSAGE_SIZES
    while pos < end:
        if end - pos < 2:
            raise _frame_error(data, pos, end)
        n = data[pos] << 8 | data[pos + 1]
        body = pos + 2
        if n == 0 or body + n > end or sizes.get(data[body], n) != n:
            raise _frame_error(data, pos, end)
        yield body, mv[body:body + n]
        pos = body + n


def read_messages(buf, on_unknown: Callable[[int, int], object] | None = None) -> Iterator[Message]:
    """Decode a framed stream, message by message.

    A frame of a type this module does not know raises UnknownMessage, unless
    `on_unknown` is given: then it is called with (offset of the body, type
    byte) and the frame is skipped, e.g. ``on_unknown=lambda off, t: skipped.update([t])``
    with a collections.Counter."""
    if not isinstance(buf, bytes):
        buf = memoryview(buf).cast("B")
    framed, sizes = _FRAMED, MESSAGE_SIZES
    pos, end = 0, len(buf)
    while pos < end:
        body = pos + 2
        try:
            n = buf[pos] << 8 | buf[pos + 1]
            dec = framed.get(n << 8 | buf[body])  # one lookup checks the type and the length
        except IndexError:  # fewer than 3 bytes left
            dec, n = None, 0
        nxt = body + n
        if dec is None or nxt > end:
            if n == 0 or nxt > end or buf[body] in sizes:
                raise _frame_error(buf, pos, end)
            t = buf[body]
            if on_unknown is None:
                raise UnknownMessage(f"unknown message type {_type_name(t)} at offset {body}", body, t)
            on_unknown(body, t)
        else:
            yield dec(buf, body)
        pos = nxt
