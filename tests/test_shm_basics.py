"""Lab 1 (shm-basics): one suite run against both implementations.

Every test taking `impl` runs once with the C library (id `cimpl`) and once
with pure Python (id `pyimpl`); tests taking `impl_pair` run the four
cross-language combinations inside this process.  Cross-process tests are in
test_shm_cross_process.py.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyimpl.shm_basics as py_shm
from conftest import shm_path
from pyimpl.errors import LayoutError
from pyimpl.shm_basics import Quote

ROOT = Path(__file__).resolve().parents[1]

Q1 = Quote(instrument=42, bid=1_000_000, ask=1_000_100, bid_size=5, ask_size=7, ts_ns=123_456_789)
Q2 = Quote(instrument=7, bid=-5, ask=2**63 - 1, bid_size=2**32 - 1, ask_size=0, ts_ns=2**64 - 1)


def other(impl):
    """The other implementation's module."""
    import cimpl.shm_basics as c_shm

    return py_shm if impl is c_shm else c_shm


def write_file(name: str, data: bytes) -> None:
    """Put `data` at /dev/shm/latencylab-<name> by hand, bypassing both implementations."""
    fd = os.open(shm_path(name), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def header(magic=py_shm.MAGIC, version=py_shm.VERSION, header_size=py_shm.HEADER_SIZE, payload_size=64,
           kind=py_shm.KIND_RAW, pid=1) -> bytes:
    raw = struct.pack("<QIIQII", magic, version, header_size, payload_size, kind, pid)
    return raw.ljust(py_shm.HEADER_SIZE, b"\0")


# ================================================================ layout


def struct_offsets(fmt: str) -> list[int]:
    """The offset of each item of a struct format like "<QIIQII" or "@I4xqq"
    (alignment included; a pad item such as "4x" has an offset too)."""
    order, items = fmt[0], re.findall(r"\d*[A-Za-z?]", fmt[1:])
    return [struct.calcsize(order + "".join(items[: i + 1])) - struct.calcsize(order + items[i])
            for i in range(len(items))]


@pytest.mark.cimpl
def test_layout_matches_c():
    import cimpl.shm_basics as c_shm

    info = c_shm.layout_info

    assert py_shm.HEADER_SIZE == info(b"header_size")
    assert py_shm.MAGIC == info(b"magic")
    assert py_shm.VERSION == info(b"version")
    assert py_shm.NAME_MAX == info(b"name_max")
    assert py_shm.MAX_PAYLOAD == info(b"max_payload")
    assert py_shm.KIND_RAW == info(b"kind_raw")
    assert py_shm.KIND_QUOTE == info(b"kind_quote")
    assert py_shm.KIND_COUNTERS == info(b"kind_counters")
    assert py_shm.KIND_RING == info(b"kind_ring")
    assert py_shm.KIND_CONTROL == info(b"kind_control")
    assert py_shm.KIND_ANY == 0  # LL_KIND_ANY; ll_layout_info has no key for it
    assert py_shm.SLOT_SIZE == info(b"slot.size")
    assert py_shm.CHANNEL_SIZE == info(b"channel.size")
    assert py_shm.ACK_OFF == info(b"channel.ack")
    assert py_shm.READY_OFF == info(b"channel.ready")
    assert info(b"no-such-key") == -1

    # the header, as pyimpl packs it
    hdr = py_shm._HEADER
    assert hdr.format == "<QIIQII"
    names = ["magic", "version", "header_size", "payload_size", "kind", "creator_pid"]
    for field, off in zip(names, struct_offsets(hdr.format), strict=True):
        assert off == info(f"hdr.{field}".encode()), field
    assert hdr.size <= py_shm.HEADER_SIZE
    assert py_shm._HDR_VERSION_OFF == info(b"hdr.version")

    # the quote slot: seq, then the fields as pyimpl's _FIELDS struct lays them out
    assert py_shm._SEQ_OFF == info(b"slot.seq")
    fields = ["instrument", "reserved", "bid", "ask", "bid_size", "ask_size", "ts_ns"]  # "4x" is reserved
    assert py_shm._FIELDS.format.startswith("@")  # native: aligned like the C struct
    for field, off in zip(fields, struct_offsets(py_shm._FIELDS.format), strict=True):
        if field != "reserved":  # padding, not in ll_layout_info
            assert py_shm._FIELDS_OFF + off == info(f"slot.{field}".encode()), field
    assert py_shm._FIELDS_OFF + py_shm._FIELDS.size <= py_shm.SLOT_SIZE
    assert py_shm.SLOT_SIZE <= py_shm.ACK_OFF
    assert py_shm.READY_OFF + 8 <= py_shm.CHANNEL_SIZE


@pytest.mark.cimpl
def test_every_c_error_code_has_an_exception():
    """Each LL_E* code in common.h is mapped by cimpl/_lib.py (as common.h promises)."""
    from cimpl import _lib

    codes = dict(re.findall(r"\b(LL_E\w+)\s*=\s*(-\d+)", (ROOT / "cimpl" / "common.h").read_text()))
    assert len(codes) >= 9
    for name, value in codes.items():
        assert getattr(_lib, name) == int(value), name
        exc = _lib.error(int(value), "x")
        assert isinstance(exc, Exception)
        assert int(value) in _lib.ERRORS, name
    assert isinstance(_lib.error(-2, "x"), FileNotFoundError)  # a plain -errno
    assert isinstance(_lib.error(-17, "x"), FileExistsError)


def test_constants_shared(impl):
    assert impl.Quote is Quote
    assert impl.HEADER_SIZE == 128 and impl.CHANNEL_SIZE == 256
    assert (impl.KIND_ANY, impl.KIND_RAW, impl.KIND_QUOTE) == (0, 1, 2)
    assert impl.path_of("abc") == "/dev/shm/latencylab-abc"


# ===================================================== segment lifecycle


def test_create_attach_close_unlink(impl, shm_name):
    seg = impl.Segment.create(shm_name, 4096)
    path = shm_path(shm_name)
    try:
        assert os.path.exists(path)
        assert os.stat(path).st_size == impl.HEADER_SIZE + 4096
        assert (seg.name, seg.size, seg.kind, seg.creator_pid) == (shm_name, 4096, impl.KIND_RAW, os.getpid())
        assert seg.owner and not seg.closed
        assert seg.read(0, 4096) == bytes(4096)  # zero-filled
        seg.write(10, b"hello")
        seg.write(4091, b"world")  # right up to the end

        other_ = impl.Segment.attach(shm_name)
        assert not other_.owner
        assert (other_.size, other_.kind, other_.creator_pid) == (4096, impl.KIND_RAW, os.getpid())
        assert other_.read(10, 5) == b"hello"
        assert other_.read(4091, 5) == b"world"
        assert other_.read(4096, 0) == b""
        other_.write(0, b"\xff")
        assert seg.read(0, 1) == b"\xff"
        other_.close()
        assert other_.closed
        other_.close()  # idempotent
    finally:
        seg.close()
    assert seg.closed
    assert os.path.exists(path)  # closing does not unlink

    again = impl.Segment.attach(shm_name, impl.KIND_RAW)
    assert again.read(10, 5) == b"hello"  # the bytes outlive every mapping
    again.close()

    impl.unlink(shm_name)
    assert not os.path.exists(path)
    with pytest.raises(FileNotFoundError):
        impl.unlink(shm_name)
    with pytest.raises(FileNotFoundError):
        impl.Segment.attach(shm_name)


def test_mapping_survives_unlink(impl, shm_name):
    seg = impl.Segment.create(shm_name, 64)
    seg.unlink()
    assert not os.path.exists(shm_path(shm_name))
    seg.write(0, b"still here")
    assert seg.read(0, 10) == b"still here"
    seg.close()
    with pytest.raises(FileNotFoundError):
        seg.unlink()


def test_context_manager_owner_unlinks(impl, shm_name):
    with impl.Segment.create(shm_name, 128) as seg:
        with impl.Segment.attach(shm_name) as att:
            att.write(0, b"x")
        assert att.closed
        assert os.path.exists(shm_path(shm_name))  # a non-owner's exit does not unlink
        assert seg.read(0, 1) == b"x"
    assert seg.closed
    assert not os.path.exists(shm_path(shm_name))


def test_context_manager_tolerates_early_unlink(impl, shm_name):
    with impl.Segment.create(shm_name, 128) as seg:
        impl.unlink(shm_name)
    assert seg.closed


def test_context_manager_cleans_up_on_error(impl, shm_name):
    with pytest.raises(RuntimeError):
        with impl.SharedQuote.create(shm_name) as q:
            q.write(Q1)
            raise RuntimeError("boom")
    assert q.segment.closed
    assert not os.path.exists(shm_path(shm_name))


def test_file_mode_0600(impl, shm_name):
    with impl.Segment.create(shm_name, 64):
        st_ = os.stat(shm_path(shm_name))
        assert stat.S_ISREG(st_.st_mode)
        assert stat.S_IMODE(st_.st_mode) == 0o600
        assert st_.st_uid == os.getuid()


def test_create_existing(impl, shm_name):
    with impl.Segment.create(shm_name, 64):
        for mod in (impl, other(impl)):
            with pytest.raises(FileExistsError):
                mod.Segment.create(shm_name, 64)
            with pytest.raises(FileExistsError):
                mod.SharedQuote.create(shm_name)


def test_create_never_adopts_a_foreign_file(impl, shm_name):
    write_file(shm_name, b"not ours")
    with pytest.raises(FileExistsError):
        impl.Segment.create(shm_name, 64)
    with open(shm_path(shm_name), "rb") as f:
        assert f.read() == b"not ours"  # left untouched


def test_attach_missing(impl, shm_name):
    with pytest.raises(FileNotFoundError):
        impl.Segment.attach(shm_name)
    with pytest.raises(FileNotFoundError):
        impl.SharedQuote.attach(shm_name)
    assert not os.path.exists(shm_path(shm_name))


@pytest.mark.parametrize("size", [1, 4096, py_shm.MAX_PAYLOAD], ids=["1", "4096", "max"])
def test_valid_sizes(impl, shm_name, size):
    with impl.Segment.create(shm_name, size) as seg:
        assert seg.size == size
        seg.write(size - 1, b"z")
        assert seg.read(size - 1, 1) == b"z"
        with impl.Segment.attach(shm_name) as att:
            assert att.size == size


@pytest.mark.parametrize(
    "size", [0, -1, py_shm.MAX_PAYLOAD + 1, 2**64, 2**64 + 1, True, False, 1.5, "10", None],
    ids=["zero", "negative", "max+1", "2**64", "2**64+1", "True", "False", "float", "str", "None"],
)
def test_bad_size(impl, shm_name, size):
    with pytest.raises(ValueError):
        impl.Segment.create(shm_name, size)
    assert not os.path.exists(shm_path(shm_name))


@pytest.mark.parametrize("size", [64, 255, 257], ids=str)
def test_quote_segment_needs_channel_size(impl, shm_name, size):
    with pytest.raises(ValueError, match="quote segment size"):
        impl.Segment.create(shm_name, size, impl.KIND_QUOTE)
    assert not os.path.exists(shm_path(shm_name))


BAD_NAMES = ["", "a/b", "../x", "/abs", ".hidden", "-x", "x" * 64, "café", "ünï", "a\0b", "a b", "a\n",
             None, 5, b"abc", ["a"]]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_bad_names(impl, name):
    with pytest.raises(ValueError, match="invalid segment name"):
        impl.Segment.create(name, 64)
    with pytest.raises(ValueError, match="invalid segment name"):
        impl.Segment.attach(name)
    with pytest.raises(ValueError, match="invalid segment name"):
        impl.SharedQuote.create(name)
    with pytest.raises(ValueError, match="invalid segment name"):
        impl.SharedQuote.attach(name)
    with pytest.raises(ValueError, match="invalid segment name"):
        impl.unlink(name)
    if isinstance(name, str) and name and "/" not in name and "\0" not in name:
        assert not os.path.lexists(os.path.join("/dev/shm", "latencylab-" + name))  # nothing was created


def test_longest_name(impl, new_shm_name):
    name = new_shm_name(py_shm.NAME_MAX)
    assert len(name) == 63
    with impl.Segment.create(name, 64):
        with other(impl).Segment.attach(name) as att:
            assert att.name == name


@pytest.mark.parametrize("prefix,suffix", [("", "a"), ("", "A.b-c_d"), ("_", ""), ("0", ""), ("Z", ".-")])
def test_valid_name_charset(impl, new_shm_name, prefix, suffix):
    name = new_shm_name(prefix=prefix, suffix=suffix)
    with impl.Segment.create(name, 64):
        assert os.path.exists(shm_path(name))
        assert impl.path_of(name) == shm_path(name)
    assert not os.path.exists(shm_path(name))


# ============================================================= headers

HEADER_CASES = {
    "bad-magic": header(magic=0) + bytes(64),
    "foreign-magic": header(magic=0x1122334455667788) + bytes(64),
    "bad-version": header(version=2) + bytes(64),
    "version-zero": header(version=0) + bytes(64),
    "header-size": header(header_size=64) + bytes(64),
    "file-longer": header(payload_size=64) + bytes(100),
    "file-shorter": header(payload_size=64) + bytes(32),
    "payload-zero": header(payload_size=0),
    "payload-huge": header(payload_size=2**40) + bytes(64),
    "quote-wrong-size": header(kind=py_shm.KIND_QUOTE, payload_size=64) + bytes(64),
    "too-short": header()[:10],
    "header-only-short": header()[:127],
    "empty": b"",
}


@pytest.mark.parametrize("data", list(HEADER_CASES.values()), ids=list(HEADER_CASES))
def test_attach_checks_header(impl, shm_name, data):
    write_file(shm_name, data)
    with pytest.raises(LayoutError):
        impl.Segment.attach(shm_name)
    with pytest.raises(LayoutError):
        impl.SharedQuote.attach(shm_name)
    assert issubclass(LayoutError, ValueError)
    with open(shm_path(shm_name), "rb") as f:
        assert f.read() == data  # attach never modifies what it rejects


def test_attach_checks_kind(impl, shm_name):
    with impl.Segment.create(shm_name, py_shm.CHANNEL_SIZE):  # RAW, even of the channel's size
        for mod in (impl, other(impl)):
            with pytest.raises(LayoutError, match="kind"):
                mod.SharedQuote.attach(shm_name)
            with pytest.raises(LayoutError, match="kind"):
                mod.Segment.attach(shm_name, mod.KIND_QUOTE)
            with mod.Segment.attach(shm_name, mod.KIND_RAW) as seg:
                with pytest.raises(LayoutError):
                    mod.SharedQuote(seg)


def test_attach_quote_as_raw(impl, shm_name):
    with impl.SharedQuote.create(shm_name) as q:
        assert q.segment.kind == impl.KIND_QUOTE
        with pytest.raises(LayoutError):
            impl.Segment.attach(shm_name, impl.KIND_RAW)
        with impl.Segment.attach(shm_name) as seg:  # KIND_ANY
            assert (seg.kind, seg.size) == (impl.KIND_QUOTE, impl.CHANNEL_SIZE)


def test_hand_made_valid_header_attaches(impl, shm_name):
    """The header layout is exactly what the tests (and the other implementation) think it is."""
    write_file(shm_name, header(payload_size=64, pid=4242) + b"payload!" + bytes(56))
    with impl.Segment.attach(shm_name) as seg:
        assert (seg.size, seg.kind, seg.creator_pid) == (64, impl.KIND_RAW, 4242)
        assert seg.read(0, 8) == b"payload!"


# ====================================================== access checks


def test_read_write_out_of_range(impl, shm_name):
    with impl.Segment.create(shm_name, 100) as seg:
        for off, n in [(100, 1), (99, 2), (-1, 1), (0, 101), (0, -1), (2**64, 0), (2**63, 2**63)]:
            with pytest.raises(ValueError):
                seg.read(off, n)
        for off, data in [(100, b"x"), (99, b"xy"), (-1, b"x"), (0, bytes(101)), (2**64, b"")]:
            with pytest.raises(ValueError):
                seg.write(off, data)
        assert seg.read(0, 100) == bytes(100)  # no failed write touched anything
        seg.write(100, b"")  # empty at the end is fine
        assert seg.read(100, 0) == b""


def test_closed_segment(impl, shm_name):
    seg = impl.Segment.create(shm_name, 64)
    seg.close()
    with pytest.raises(ValueError, match="closed"):
        seg.read(0, 1)
    with pytest.raises(ValueError, match="closed"):
        seg.write(0, b"x")
    if hasattr(type(seg), "buf"):
        with pytest.raises(ValueError, match="closed"):
            seg.buf
    if hasattr(type(seg), "address"):
        with pytest.raises(ValueError, match="closed"):
            seg.address
    seg.unlink()  # the name is still there to unlink after close


def test_closed_shared_quote(impl, shm_name):
    q = impl.SharedQuote.create(shm_name)
    q.write(Q1)
    q.close()
    q.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        q.read()
    with pytest.raises(ValueError, match="closed"):
        q.read_with_seq()
    with pytest.raises(ValueError, match="closed"):
        q.write(Q2)
    with pytest.raises(ValueError, match="closed"):
        q.seq
    with pytest.raises(ValueError, match="closed"):
        impl.bench_access(q, 10)
    with pytest.raises(ValueError, match="closed"):
        impl.visibility_writer(q, 1, timeout=0.01)
    with pytest.raises(ValueError, match="closed"):
        impl.visibility_reader(q, 1, timeout=0.01)
    q.unlink()


# ================================================================ quote


def test_quote_roundtrip(impl, shm_name):
    with impl.SharedQuote.create(shm_name) as q:
        assert q.seq == 0
        assert q.read() == Quote(0, 0, 0, 0, 0, 0)  # a fresh quote is all zeros
        q.write(Q1)
        assert q.seq == 2
        got = q.read()
        assert got == Q1 and isinstance(got, Quote)
        q.write(Q2)
        assert q.read_with_seq() == (4, Q2)
        q.write((1, 2, 3, 4, 5, 6))  # a plain tuple is a quote too
        assert q.read() == Quote(1, 2, 3, 4, 5, 6)


def test_quote_bytes_in_segment(impl, shm_name):
    """The quote's bytes sit where the layout says (seq at 0, fields from 8)."""
    with impl.SharedQuote.create(shm_name) as q:
        q.write(Q1)
        with impl.Segment.attach(shm_name) as raw:
            seq, instrument, _res, bid, ask, bid_size, ask_size, ts_ns = struct.unpack("<QIIqqIIQ", raw.read(0, 48))
    assert seq == 2
    assert Quote(instrument, bid, ask, bid_size, ask_size, ts_ns) == Q1


BAD_FIELDS = [
    ("instrument", -1),
    ("instrument", 2**32),
    ("instrument", 1.5),
    ("bid", 2**63),
    ("bid", -(2**63) - 1),
    ("bid", 1.0),
    ("bid", "1"),
    ("ask", None),
    ("ask", 2**64),
    ("bid_size", -1),
    ("bid_size", 2**32),
    ("ask_size", 2.0),
    ("ts_ns", -1),
    ("ts_ns", 2**64),
]


@pytest.mark.parametrize("field,value", BAD_FIELDS, ids=[f"{f}={v!r}" for f, v in BAD_FIELDS])
def test_quote_field_out_of_range(impl, shm_name, field, value):
    with impl.SharedQuote.create(shm_name) as q:
        q.write(Q1)
        bad = Q1._replace(**{field: value})
        with pytest.raises(ValueError, match=field):
            q.write(bad)
        assert q.seq == 2  # unchanged, and even: no half-written quote
        assert q.read(timeout=0.1) == Q1


@pytest.mark.parametrize("bad", [(1, 2, 3), (1, 2, 3, 4, 5), "abcdef", None, 5], ids=repr)
def test_quote_wrong_shape(impl, shm_name, bad):
    with impl.SharedQuote.create(shm_name) as q:
        with pytest.raises((ValueError, TypeError)):
            q.write(bad)
        assert q.seq == 0


def test_stuck_writer_times_out(impl, shm_name):
    with impl.SharedQuote.create(shm_name) as q:
        q.write(Q1)
        # a writer killed mid-write leaves seq odd: play that with raw bytes, through the other impl
        with other(impl).Segment.attach(shm_name) as raw:
            raw.write(0, struct.pack("<Q", 3))
            assert q.seq == 3
            t0 = time.monotonic()
            with pytest.raises(TimeoutError):
                q.read(timeout=0.05)
            with pytest.raises(TimeoutError):
                q.read_with_seq(timeout=0.05)
            with pytest.raises(TimeoutError):
                q.read(timeout=0)
            assert time.monotonic() - t0 < 5  # quickly, not spinning for ever
            raw.write(0, struct.pack("<Q", 4))  # the writer "finishes"
        assert q.read_with_seq(timeout=0.05) == (4, Q1)


def test_bench_access(impl, shm_name):
    with impl.SharedQuote.create(shm_name) as q:
        ns = impl.bench_access(q, 1000)
        assert isinstance(ns, int) and ns > 0
        assert q.seq == 2000  # one write per iteration
        q.read(timeout=0.1)  # left consistent
        for n in (0, -1):
            with pytest.raises(ValueError):
                impl.bench_access(q, n)
        assert q.seq == 2000


def test_visibility_argument_checks(impl, shm_name):
    with impl.SharedQuote.create(shm_name) as q:
        for kwargs in ({"n": 0}, {"n": -1}, {"n": 1, "gap_ns": -1}, {"n": 1, "timeout": 0}, {"n": 1, "timeout": -1}):
            with pytest.raises(ValueError):
                impl.visibility_writer(q, **kwargs)
        for kwargs in ({"n": 0}, {"n": -5}, {"n": 1, "timeout": 0}):
            with pytest.raises(ValueError):
                impl.visibility_reader(q, **kwargs)


def test_visibility_writer_times_out_without_reader(impl, shm_name):
    with impl.SharedQuote.create(shm_name) as q:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            impl.visibility_writer(q, 10, timeout=0.05)
        assert time.monotonic() - t0 < 5
        assert q.seq == 0  # it never published: nobody was listening


def test_visibility_reader_times_out_without_writer(impl, shm_name):
    with impl.SharedQuote.create(shm_name) as q:
        t0 = time.monotonic()
        with pytest.raises(TimeoutError):
            impl.visibility_reader(q, 10, timeout=0.05)
        assert time.monotonic() - t0 < 5


# ===================================== cross-language, in this process


def test_cross_impl_segment(impl_pair, shm_name):
    a, b = impl_pair
    with a.Segment.create(shm_name, 4096) as seg_a:
        with b.Segment.attach(shm_name) as seg_b:
            assert (seg_b.size, seg_b.kind, seg_b.creator_pid) == (4096, b.KIND_RAW, os.getpid())
            assert not seg_b.owner
            seg_a.write(100, b"from a")
            assert seg_b.read(100, 6) == b"from a"
            seg_b.write(4090, b"from b")
            assert seg_a.read(4090, 6) == b"from b"
        assert os.path.exists(shm_path(shm_name))
        b.unlink(shm_name)
        with pytest.raises(FileNotFoundError):
            a.Segment.attach(shm_name)
    assert not os.path.exists(shm_path(shm_name))


def test_cross_impl_quote(impl_pair, shm_name):
    a, b = impl_pair
    with a.SharedQuote.create(shm_name) as qa, b.SharedQuote.attach(shm_name) as qb:
        assert qb.read() == Quote(0, 0, 0, 0, 0, 0)
        qa.write(Q1)
        assert qb.seq == 2
        assert qb.read_with_seq() == (2, Q1)
        qa.write(Q2)
        assert qb.read() == Q2
        # the writer role can move to the other side (one writer at a time)
        qb.write(Q1)
        assert qa.read_with_seq() == (6, Q1)
        assert a.bench_access(qa, 10) > 0
        assert qb.seq == 26
        qb.read(timeout=0.1)


# ============================================================ properties

u32 = st.integers(0, 2**32 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)
u64 = st.integers(0, 2**64 - 1)
quotes = st.builds(Quote, u32, i64, i64, u32, u32, u64)


@pytest.fixture
def quote_pair(impl_pair, shm_name):
    """(writer, reader) SharedQuotes on one segment: made once per test function, not per example."""
    a, b = impl_pair
    with a.SharedQuote.create(shm_name) as w, b.SharedQuote.attach(shm_name) as r:
        yield w, r


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=quotes)
def test_property_quote_roundtrip(quote_pair, q):
    w, r = quote_pair
    before = r.seq
    assert before % 2 == 0
    w.write(q)
    assert r.seq == w.seq == before + 2
    assert r.read_with_seq(timeout=0.1) == (before + 2, q)
    assert w.read(timeout=0.1) == q


@pytest.fixture
def segment_pair(impl_pair, shm_name):
    a, b = impl_pair
    with a.Segment.create(shm_name, 512) as sa, b.Segment.attach(shm_name) as sb:
        yield sa, sb


@settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_segment_bytes(segment_pair, data):
    sa, sb = segment_pair
    off = data.draw(st.integers(0, 512), label="offset")
    payload = data.draw(st.binary(max_size=512 - off), label="payload")
    sa.write(off, payload)
    assert sb.read(off, len(payload)) == payload
    assert sb.read(0, 512) == sa.read(0, 512)


# ------------------------------------------------- pure-Python close edges
def test_py_close_refuses_while_numpy_holds_buf_then_finishes(shm_name):
    seg = py_shm.Segment.create(shm_name, 64)
    arr = np.frombuffer(seg.buf, dtype=np.uint8)
    with pytest.raises(BufferError, match="delete it"):
        seg.close()
    assert seg.closed  # closed for use...
    with pytest.raises(ValueError, match="closed"):
        seg.read(0, 1)
    del arr
    seg.close()  # ...and the unmap completes once the array is gone
    seg.unlink()
    assert not os.path.exists(shm_path(shm_name))


def test_py_with_block_unlinks_even_when_close_fails(shm_name):
    with pytest.raises(BufferError):
        with py_shm.Segment.create(shm_name, 64) as seg:
            view = seg.buf[0:8]  # noqa: F841 - alive at exit
    assert not os.path.exists(shm_path(shm_name))


def test_huge_read_timeout_is_fine(impl, shm_name):
    with impl.SharedQuote.create(shm_name) as q:
        q.write(Quote(1, 2, 3, 4, 5, 6))
        assert q.read(timeout=1e30) == Quote(1, 2, 3, 4, 5, 6)


@pytest.mark.cimpl
def test_bench_n_too_large_is_an_error(shm_name):
    """Only C's int64 needs the bound: ctypes would wrap a larger n silently."""
    import cimpl.shm_basics as c_shm

    with c_shm.SharedQuote.create(shm_name) as q, pytest.raises(ValueError, match="n must be"):
        c_shm.bench_access(q, 2**64)
