"""The check of exercises/order-book/decode-exec-price (see README.md)."""

from __future__ import annotations

import ctypes
import re

from labs import feed
from labs.exercises import Attempt, Exercise, Verdict
from pyimpl import itch

MESSAGES, SEED = 100_000, 5  # lab 5's seed: 100,014 messages, 929 of them C
FIELDS = ("stock_locate", "tracking_number", "timestamp", "order_ref", "executed_shares", "match_number",
          "printable", "execution_price")  # wire order, the order a mismatch is reported in
MAX = {"stock_locate": 0xFFFF, "tracking_number": 0xFFFF, "timestamp": itch.TIMESTAMP_MAX,
       "order_ref": 2**64 - 1, "executed_shares": 2**32 - 1, "match_number": 2**64 - 1,
       "execution_price": 2**32 - 1}
# Hand-made C messages beyond what the feed produces: every field's top bits set
# (a sign extension or a truncation shows), and a pattern whose bytes all differ
# (a swap or a shifted offset shows).  The feed's tracking numbers are all 0.
EDGES = (
    itch.OrderExecutedWithPrice(0xFFFF, 0xFFFF, itch.TIMESTAMP_MAX, 2**64 - 1, 2**32 - 1, 2**64 - 1, b"N",
                                2**32 - 1),
    itch.OrderExecutedWithPrice(0x0102, 0x0304, 0x05060708090A, 0x0B0C0D0E0F101112, 0x13141516,
                                0x1718191A1B1C1D1E, b"Y", 0x1F202122),
    itch.OrderExecutedWithPrice(0x8081, 0x8283, 0x848586878889, 0x8A8B8C8D8E8F9091, 0x92939495,
                                0x969798999A9B9C9D, b"N", 0x9E9FA0A1),
)


class ExecPrice(ctypes.Structure):  # exec_price.h's struct ex_exec_price, the platform's C layout
    _fields_ = [("stock_locate", ctypes.c_uint16), ("tracking_number", ctypes.c_uint16),
                ("timestamp", ctypes.c_uint64), ("order_ref", ctypes.c_uint64),
                ("executed_shares", ctypes.c_uint32), ("match_number", ctypes.c_uint64),
                ("printable", ctypes.c_char), ("execution_price", ctypes.c_uint32)]


def _show(field: str, v) -> str:
    if field == "printable":
        return repr(v)
    return f"{v:#x} ({v:,})" if field in ("timestamp", "order_ref", "match_number") else f"{v:,}"


def _first_difference(got: list, want: list, what) -> str | None:
    """The first message (in order) with a wrong field, and its first wrong field."""
    for k, (g, w) in enumerate(zip(got, want)):
        for f in FIELDS:
            mine, ref = getattr(g, f), getattr(w, f)
            if mine != ref:
                return (f"{f} of {what(k)}: yours {_show(f, mine)}, pyimpl.itch decodes {_show(f, ref)}")
    return None


def _decode_all(lib, stream: bytes, n: int) -> tuple[list, int]:
    out = (ExecPrice * max(n, 1))()
    got = lib.ex_decode_stream(stream, len(stream), out, n)
    return list(out)[:n], got


def check(attempt: Attempt) -> Verdict:
    source = attempt.path("decode.c").read_text(errors="replace")
    if re.search(r'#\s*include\s*[<"][^>"]*(itch|order_book)\.h[>"]', source):
        return Verdict(False, "decode.c includes cimpl's itch.h (or order_book.h): write the loads and the offsets "
                              "yourself, that is the exercise")
    lib = attempt.build_c("decode.c", exercise_sources=("decode_stream.c",))
    lib.ex_exec_price_size.restype = ctypes.c_size_t
    if lib.ex_exec_price_size() != ctypes.sizeof(ExecPrice):
        return Verdict(False, f"struct ex_exec_price is {lib.ex_exec_price_size()} bytes in C, "
                              f"{ctypes.sizeof(ExecPrice)} in the check: was exec_price.h changed?")
    lib.ex_decode_stream.restype = ctypes.c_int64
    lib.ex_decode_stream.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ExecPrice), ctypes.c_int64]
    decode = lib.ex_decode_exec_price
    decode.restype = ctypes.c_int
    decode.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ExecPrice)]

    # 1. every C message of lab 5's simulated stream, field by field against pyimpl.itch
    data = feed.simulate(MESSAGES, seed=SEED)
    offsets, want = [], []
    for off, body in itch.iter_frames(data):
        if body[0] == ord("C"):
            offsets.append(off)
            want.append(itch.decode(body))
    got, n = _decode_all(lib, data, len(want))
    if n < 0:
        return Verdict(False, f"ex_decode_exec_price refused C message {-n} of {len(want):,} (stream offset "
                              f"{offsets[-n - 1]}), a whole 36-byte C: it must return 0")
    if n != len(want):
        return Verdict(False, f"the harness decoded {n} C messages, the stream has {len(want)}")
    bad = _first_difference(got, want, lambda k: f"C message {k + 1} of {len(want):,} (stream offset {offsets[k]})")
    if bad:
        return Verdict(False, bad)

    # 2. field values the feed never produces: the top bits, every byte different
    edges = itch.frame(EDGES)
    got, n = _decode_all(lib, edges, len(EDGES))
    if n != len(EDGES):
        return Verdict(False, f"ex_decode_exec_price refused the hand-made C message {-n} ({EDGES[-n - 1]})")
    bad = _first_difference(got, EDGES, lambda k: f"the hand-made C message {EDGES[k]}")
    if bad:
        return Verdict(False, bad + " (the stream's messages were right: look at the top bits and the bytes' order)")

    # 3. what is not a whole C message: -1, and *out untouched
    c_body = itch.encode(EDGES[1])
    add = itch.encode(itch.AddOrder(1, 0, 34_200_000_000_000, 42, b"B", 100, b"AAPL", 1_892_300))
    executed = itch.encode(itch.OrderExecuted(1, 0, 34_200_000_000_000, 42, 100, 7))
    for what, body, length in (("a C message cut to 35 bytes", c_body, 35),
                               ("a C message with a 37th byte", c_body + b"\0", 37),
                               ("an Add Order ('A', 36 bytes too)", add, len(add)),
                               ("an Order Executed ('E', 31 bytes)", executed, len(executed)),
                               ("an empty message", b"", 0)):
        buf = ctypes.create_string_buffer(body.ljust(64, b"\0"), 64)  # never read past the buffer
        out = ExecPrice()
        ctypes.memset(ctypes.byref(out), 0xA5, ctypes.sizeof(out))
        before = bytes(out)
        rc = decode(buf, length, ctypes.byref(out))
        if rc != -1:
            return Verdict(False, f"ex_decode_exec_price returned {rc} for {what}: it must return -1 for anything "
                                  "that is not a whole C message")
        if bytes(out) != before:
            return Verdict(False, f"ex_decode_exec_price returned -1 for {what} but wrote into *out: a refused "
                                  "message must leave it untouched")
    return Verdict(True, f"all {len(want):,} C messages of the stream and {len(EDGES)} hand-made ones decode as "
                         "pyimpl.itch decodes them, field by field; 5 messages that are not a whole C refused")


EXERCISE = Exercise(
    lab="order-book",
    id="decode-exec-price",
    title="Decode ITCH's Order Executed With Price in C",
    kind="correctness",
    files=("decode.c",),
    check=check,
    guide="labs/05-order-book/README.md#11-exercises",
    start_fails_because="timestamp of C message 1",
    languages=("c",),
)
