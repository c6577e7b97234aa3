"""Lab 3 (spsc-ring): one suite run against both implementations, both ring
flavours, and across languages and processes.

A ring has two ends, so most tests take `ring_pair` = (producer module,
consumer module) over the four combinations of cimpl.spsc_ring and
pyimpl.spsc_ring (ids `cimpl-cimpl`, `cimpl-pyimpl`, ...: producer first);
tests of one end alone take `ring_impl` (ids `cimpl`, `pyimpl`).  `flavour`
runs a test on the seq-slot ring (ids `seq`) and the index ring (`index`).
Tests that run C code without either carry the `cimpl` marker, so `pytest -k
cimpl` selects every C-backed test.

In this process: FIFO order, full and empty, many laps around rings of 2 and 4
slots, zero padding, NumPy batches (into preallocated arrays too), waiting,
closing, the role rules (one lock, whoever takes it), the heartbeat rule, a
hypothesis model check (cached and naive ends), the byte layout, and bad
input refused with a clear error - by the same rule in Python and in C.
Across processes (spawn, module-level child functions, every join with a
timeout, children killed in `finally`): sequenced streams in all four language
combinations, claimants racing for one role, a producer and a consumer killed
with SIGKILL, `latencylab clean` around a taken-over ring, a corrupted echo,
and one-way stamped messages.

No timing is checked (that is the benchmarks' job): only that every message
arrives once, in order, intact.  Most sizes are kept small for a 2-CPU
machine; test_stress_long_streams runs the brief's 10 M (C) and 1 M (Python)
messages.
"""

from __future__ import annotations

import collections
import ctypes
import importlib
import itertools
import multiprocessing as mp
import os
import shutil
import signal
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import PREFIX, lab_fixtures, shm_path
from hypothesis import given, settings
from hypothesis import strategies as st

import labs.cleanup as cleanup
import pyimpl.shm_basics as py_shm
import pyimpl.spsc_ring as py_ring
from pyimpl.errors import CorruptionError, LayoutError, PeerDiedError

ROOT = Path(__file__).resolve().parents[1]
RING_MODULES = {"c": "cimpl.spsc_ring", "python": "pyimpl.spsc_ring"}
SEQ_MUL = 0x9E3779B97F4A7C15
MASK64 = (1 << 64) - 1

SPAWN = mp.get_context("spawn")
START_TIMEOUT = 20.0  # a spawned child imports numpy and the libraries first
STREAM_TIMEOUT = 10.0  # the longest a stream may stall: only a lost message gets near it
JOIN_TIMEOUT = 30.0


def load(key: str):
    return importlib.import_module(RING_MODULES[key])


def key_of(mod) -> str:
    return "c" if mod.__name__.startswith("cimpl.") else "python"


ring_impl_fixture, ring_pair_fixture = lab_fixtures("spsc_ring", "ring_impl", "ring_pair")


@pytest.fixture(params=["seq-slot", "index"], ids=["seq", "index"])
def flavour(request) -> str:
    return request.param


def slot_for(msg_size: int, flavour: str) -> int:
    """The slot size that carries msg_size-byte messages in a ring of this flavour."""
    return msg_size + (py_ring.SEQ_BYTES if flavour == "seq-slot" else 0)


class Pair:
    """A producer end made by one module and a consumer end by another, on one new
    ring whose messages are msg_size bytes."""

    def __init__(self, pair, name: str, capacity: int, msg_size: int = 64, flavour: str = "seq-slot",
                 cached: bool = True) -> None:
        pmod, cmod = pair
        self.prod = pmod.Ring.create(name, capacity, slot_for(msg_size, flavour), flavour=flavour, cached_index=cached)
        try:
            self.cons = cmod.Ring.attach(name, cached_index=cached)
        except BaseException:
            self.prod.__exit__(None, None, None)
            raise

    def __enter__(self):
        return self.prod, self.cons

    def __exit__(self, *exc) -> None:
        try:
            self.cons.close()
        finally:
            self.prod.__exit__(*exc)  # the creator: closes and unlinks


def msg(i: int, size: int = 64) -> bytes:
    """A full-size message whose every byte depends on i."""
    return bytes((i + j) & 0xFF for j in range(size - 8)) + struct.pack("<Q", i)


def seq_msg(i: int, size: int = 56) -> bytes:
    """Message i of a sequenced stream (produce_seq's layout)."""
    return struct.pack("<QQ", i & MASK64, (i * SEQ_MUL) & MASK64) + bytes(size - 16)


def seq_array(first: int, n: int, size: int = 64) -> np.ndarray:
    return np.frombuffer(b"".join(seq_msg(i, size) for i in range(first, first + n)), dtype=("V", size))


def seq_of(item) -> int:
    return struct.unpack_from("<Q", bytes(item))[0]


def raw_segment(name: str):
    """The ring's segment attached as plain bytes, to read or poke its header."""
    return py_shm.Segment.attach(name, py_shm.KIND_RING)


# ============================================================ the API


def test_constants_shared(ring_impl):
    for name in ("check_geometry", "ring_bytes", "check_stream", "msg_size_of"):
        assert getattr(ring_impl, name) is getattr(py_ring, name), name  # one rule, one set of messages
    assert (ring_impl.MIN_SLOT, ring_impl.MAX_SLOT, ring_impl.MAX_CAPACITY) == (8, 65536, 1 << 24)
    assert ring_impl.ROLES == ("producer", "consumer")
    assert ring_impl.FLAVOURS == {"index": 1, "seq-slot": 2}
    assert ring_impl.HEARTBEAT_EVERY == 1024


def test_create_attach_facts(ring_pair, shm_name, flavour):
    with Pair(ring_pair, shm_name, 8, 24, flavour) as (prod, cons):
        slot = slot_for(24, flavour)
        for end, role in ((prod, "producer"), (cons, "consumer")):
            assert (end.name, end.capacity, end.slot_size, end.msg_size, end.role, end.flavour) == \
                (shm_name, 8, slot, 24, role, flavour)
            assert end.cached_index
            assert len(end) == 0
            assert end.producer_pid == os.getpid()
            assert 0 <= end.heartbeat_age_s < 60
            assert shm_name in repr(end) and role in repr(end) and flavour in repr(end)
        assert prod.segment.kind == py_shm.KIND_RING
        assert prod.segment.owner and not cons.segment.owner
        assert prod.segment.size == py_ring.ring_bytes(8, slot) == py_ring.SLOTS + 8 * slot
        assert os.path.exists(shm_path(shm_name))
    assert prod.segment.closed and cons.segment.closed
    assert not os.path.exists(shm_path(shm_name))  # the creator's `with` unlinks


def test_default_flavour_is_seq_slot(ring_impl, shm_name):
    with ring_impl.Ring.create(shm_name, 4) as ring:
        assert (ring.flavour, ring.slot_size, ring.msg_size) == ("seq-slot", 64, 56)


def test_create_existing_and_attach_missing(ring_impl, new_shm_name):
    name = new_shm_name()
    with ring_impl.Ring.create(name, 4):
        with pytest.raises(FileExistsError):
            ring_impl.Ring.create(name, 4)
    with pytest.raises(FileNotFoundError):
        ring_impl.Ring.attach(new_shm_name())


def test_fifo(ring_pair, shm_name, flavour):
    with Pair(ring_pair, shm_name, 8, 64, flavour) as (prod, cons):
        for i in range(5):
            assert prod.push(msg(i)) is True
        assert [cons.pop() for _ in range(5)] == [msg(i) for i in range(5)]
        assert cons.pop() is None


@pytest.mark.parametrize("capacity", [2, 4, 16])
def test_full_and_empty(ring_pair, shm_name, flavour, capacity):
    with Pair(ring_pair, shm_name, capacity, 16, flavour) as (prod, cons):
        assert cons.pop() is None
        got = cons.pop_many(capacity)
        assert len(got) == 0 and got.dtype.itemsize == 16
        for i in range(capacity):
            assert prod.push(msg(i, 16)) is True
        assert len(prod) == len(cons) == capacity
        assert prod.push(msg(99, 16)) is False  # full: refused, nothing overwritten
        assert prod.push_many(seq_array(0, 3, 16)) == 0
        assert len(cons) == capacity
        assert [cons.pop() for _ in range(capacity)] == [msg(i, 16) for i in range(capacity)]
        assert cons.pop() is None
        assert len(cons.pop_many(5)) == 0
        assert prod.push(msg(7, 16)) is True  # room again
        assert cons.pop() == msg(7, 16)


@pytest.mark.parametrize("capacity", [2, 4])
def test_wrap_single(ring_pair, shm_name, flavour, capacity):
    """Hundreds of laps around a tiny ring, one message at a time, at every fill level."""
    with Pair(ring_pair, shm_name, capacity, 24, flavour) as (prod, cons):
        sent = received = 0
        for level in range(capacity):  # keep `level` messages in the ring while lapping it
            for _ in range(level):
                assert prod.push(msg(sent, 24))
                sent += 1
            for _ in range(50 * capacity):
                assert prod.push(msg(sent, 24))
                sent += 1
                assert cons.pop() == msg(received, 24)
                received += 1
                assert len(cons) == level
            while received < sent:
                assert cons.pop() == msg(received, 24)
                received += 1
            assert cons.pop() is None
        assert sent > 50 * capacity * capacity  # many laps


@pytest.mark.parametrize("capacity", [2, 4])
def test_wrap_batches(ring_pair, shm_name, flavour, capacity):
    """push_many / pop_many of every size from 1 to capacity+1, out of step with each
    other, so that batches start at every slot and straddle the end of the array."""
    with Pair(ring_pair, shm_name, capacity, 16, flavour) as (prod, cons):
        sent = received = 0
        for rnd in range(60 * capacity):
            want = rnd % (capacity + 1) + 1
            room = capacity - len(prod)
            k = prod.push_many(seq_array(sent, want, 16))
            assert k == min(want, room)
            sent += k
            max_n = (rnd * 7 + 3) % (capacity + 2)  # 0 .. capacity+1
            have = len(cons)
            got = cons.pop_many(max_n)
            assert len(got) == min(max_n, have)
            assert [seq_of(x) for x in got] == list(range(received, received + len(got)))
            assert all(bytes(x) == seq_msg(seq_of(x), 16) for x in got)
            received += len(got)
            # mix in the single-message calls too
            if rnd % 5 == 0 and prod.push(seq_msg(sent, 16)):
                sent += 1
            if rnd % 7 == 0:
                one = cons.pop()
                if one is not None:
                    assert one == seq_msg(received, 16)
                    received += 1
        got = cons.pop_many(2 * capacity)
        assert [seq_of(x) for x in got] == list(range(received, sent))
        assert sent > 20 * capacity


def test_zero_padding(ring_pair, shm_name, flavour):
    with Pair(ring_pair, shm_name, 2, 32, flavour) as (prod, cons):
        # dirty both slots first, then reuse them with short messages
        assert prod.push(b"\xff" * 32) and prod.push(b"\xee" * 32)
        assert cons.pop() == b"\xff" * 32 and cons.pop() == b"\xee" * 32
        assert prod.push(b"ab")
        assert prod.push(b"")
        assert cons.pop() == b"ab" + bytes(30)
        assert cons.pop() == bytes(32)
        # any bytes-like object
        for data in (bytearray(b"xyz"), memoryview(b"hello"), np.arange(5, dtype=np.uint8), b"\x01" * 32,
                     np.arange(4, dtype=np.uint64)):
            assert prod.push(data)
            assert cons.pop() == bytes(data) + bytes(32 - len(bytes(data)))
        # push_wait pads too
        prod.push_wait(b"q", timeout=1.0)
        assert cons.pop_wait(timeout=1.0) == b"q" + bytes(31)


RECORD = np.dtype([("seq", "<u8"), ("price", "<i8"), ("qty", "<u4"), ("side", "u1"), ("flags", "u1"),
                   ("venue", "S10"), ("pad", "V32")])


def test_batches_structured_dtype(ring_pair, shm_name, flavour):
    assert RECORD.itemsize == 64
    with Pair(ring_pair, shm_name, 16, 64, flavour) as (prod, cons):
        recs = np.zeros(11, dtype=RECORD)
        recs["seq"] = np.arange(11)
        recs["price"] = -np.arange(11) * 1000 - 7
        recs["qty"] = 2**32 - 1 - np.arange(11)
        recs["side"] = np.arange(11) % 2
        recs["venue"] = [f"XNAS{i}".encode() for i in range(11)]
        assert prod.push_many(recs[:4]) == 4
        assert prod.push_many(recs[4:]) == 7
        out = cons.pop_many(5, dtype=RECORD)
        assert out.dtype == RECORD and len(out) == 5
        assert out.tobytes() == recs[:5].tobytes()
        raw = cons.pop_many(100)  # default dtype: raw msg_size-byte items
        assert raw.dtype == np.dtype(("V", 64)) and len(raw) == 6
        assert raw.tobytes() == recs[5:].tobytes()
        # a strided (non-contiguous) array and a 2-D one go in item by item
        assert prod.push_many(recs[::2]) == 6
        assert cons.pop_many(6, dtype=RECORD).tobytes() == recs[::2].tobytes()
        assert prod.push_many(recs[:6].reshape(2, 3)) == 6
        assert cons.pop_many(6, RECORD).tobytes() == recs[:6].tobytes()
        # a batch bigger than the free room: the first ones go, the rest stay with the caller
        big = np.zeros(20, dtype=RECORD)
        big["seq"] = np.arange(100, 120)
        assert prod.push_many(big) == 16
        assert list(cons.pop_many(20, RECORD)["seq"]) == list(range(100, 116))
        # an empty batch
        assert prod.push_many(big[:0]) == 0
        assert len(cons.pop_many(0)) == 0
        # single messages and batches mix: a pushed record pops as bytes and back
        assert prod.push(recs[3].tobytes())
        assert cons.pop() == recs[3].tobytes()


def test_pop_many_into_preallocated_out(ring_pair, shm_name, flavour):
    with Pair(ring_pair, shm_name, 8, 16, flavour) as (prod, cons):
        out = np.full((8, 2), 7, dtype=np.uint64)  # 8 messages of 16 bytes
        assert prod.push_many(seq_array(0, 5, 16)) == 5
        got = cons.pop_many(8, out=out)
        assert len(got) == 5 and got.dtype == np.dtype(("V", 16))
        assert np.shares_memory(got, out)  # filled in place, no new array
        assert list(out[:5, 0]) == list(range(5)) and (out[5:] == 7).all()
        assert prod.push_many(seq_array(5, 3, 16)) == 3
        assert [seq_of(x) for x in cons.pop_many(3, out=out)] == [5, 6, 7]
        with pytest.raises(ValueError, match="holds 1 messages"):
            cons.pop_many(2, out=np.zeros(2, dtype=np.uint64))
        with pytest.raises(ValueError, match="C-contiguous"):
            cons.pop_many(2, out=np.zeros((4, 4), dtype=np.uint64)[:, ::2])
        with pytest.raises(ValueError, match="writable"):
            ro = np.zeros((4, 2), dtype=np.uint64)
            ro.flags.writeable = False
            cons.pop_many(2, out=ro)


def test_len_from_both_ends(ring_pair, shm_name, flavour):
    with Pair(ring_pair, shm_name, 8, 8, flavour) as (prod, cons):
        assert len(prod) == len(cons) == 0
        for i in range(1, 9):
            prod.push(b"x")
            assert len(prod) == len(cons) == i
        cons.pop_many(3)
        assert len(prod) == len(cons) == 5
        cons.pop()
        assert len(prod) == len(cons) == 4


def test_wait_timeouts(ring_pair, shm_name, flavour):
    with Pair(ring_pair, shm_name, 2, 16, flavour) as (prod, cons):
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match="did not answer"):
            cons.pop_wait(timeout=0.05)
        assert 0.04 <= time.monotonic() - t0 < 5
        with pytest.raises(TimeoutError):
            cons.pop_wait(timeout=0)
        prod.push(b"a")
        prod.push(b"b")
        t0 = time.monotonic()
        with pytest.raises(TimeoutError, match="did not answer"):
            prod.push_wait(b"c", timeout=0.05)
        assert 0.04 <= time.monotonic() - t0 < 5
        assert len(cons) == 2  # the timed-out message was not pushed
        # when there is something / room, the waits return at once
        assert cons.pop_wait(timeout=1.0) == b"a" + bytes(15)
        prod.push_wait(b"c", timeout=1.0)
        assert [cons.pop_wait(1.0)[:1] for _ in range(2)] == [b"b", b"c"]


def test_eof_after_producer_closes(ring_pair, shm_name, flavour):
    pmod, cmod = ring_pair
    with Pair(ring_pair, shm_name, 4, 16, flavour) as (prod, cons):
        for i in range(3):
            prod.push(msg(i, 16))
        prod.close()
        prod.close()  # idempotent
        assert cons.producer_pid == 0
        for i in range(3):  # what was pushed before the close is still delivered
            assert cons.pop_wait(timeout=1.0) == msg(i, 16)
        assert cons.pop() is None
        t0 = time.monotonic()
        with pytest.raises(EOFError, match="closed"):
            cons.pop_wait(timeout=5.0)
        assert time.monotonic() - t0 < 2.5  # told, not timed out
        with pytest.raises(EOFError):
            cons.pop_wait(timeout=5.0)  # and again

        # a new producer reopens the ring: no longer at EOF, FIFO goes on
        with pmod.Ring.attach(shm_name, role="producer") as prod2:
            produced = pmod.produce_seq(prod2, 10, 3, batch=1, timeout=1.0)
            assert produced >= 0
        # ... and closes after 3 of the 5 messages the consumer asks for
        with pytest.raises(EOFError):
            cmod.consume_seq(cons, 10, 5, batch=2, timeout=5.0)


def test_roles(ring_pair, shm_name, flavour):
    pmod, cmod = ring_pair
    with Pair(ring_pair, shm_name, 4, 16, flavour) as (prod, cons):
        for mod in (pmod, cmod):
            with pytest.raises(RuntimeError, match="already attached"):
                mod.Ring.attach(shm_name, role="producer")
            with pytest.raises(RuntimeError, match="already attached"):
                mod.Ring.attach(shm_name, role="consumer")
        # each end does its own side's work only
        with pytest.raises(ValueError, match="consumer"):
            cons.push(b"x")
        with pytest.raises(ValueError, match="consumer"):
            cons.push_many(seq_array(0, 1, 16))
        with pytest.raises(ValueError, match="consumer"):
            cons.push_wait(b"x", timeout=0.1)
        with pytest.raises(ValueError, match="producer"):
            prod.pop()
        with pytest.raises(ValueError, match="producer"):
            prod.pop_many(1)
        with pytest.raises(ValueError, match="producer"):
            prod.pop_wait(timeout=0.1)
        with pytest.raises(ValueError):
            cmod.produce_seq(cons, 0, 1)
        with pytest.raises(ValueError):
            pmod.consume_seq(prod, 0, 1)
        assert len(cons) == 0  # nothing got through

        prod.push(b"one")
        # the producer leaves; a producer of either implementation takes its place
        prod.close()
        for mod in (cmod, pmod):
            with mod.Ring.attach(shm_name, role="producer") as again:
                assert again.producer_pid == os.getpid()
                with pytest.raises(RuntimeError, match="already attached"):
                    pmod.Ring.attach(shm_name, role="producer")
                assert again.push(b"two")
        assert [cons.pop()[:3] for _ in range(3)] == [b"one", b"two", b"two"]
        # likewise the consumer
        cons.close()
        with cmod.Ring.attach(shm_name) as cons2:
            assert cons2.role == "consumer"
            assert cons2.pop() is None
            with pytest.raises(RuntimeError, match="already attached"):
                pmod.Ring.attach(shm_name, role="consumer")


def test_second_open_in_one_process_is_refused(ring_pair, shm_name):
    """One process opening the same role twice is refused like a second process
    (the old C claim accepted its own pid again): the role is a lock on the
    end's own open of the file, so two opens in one process conflict."""
    pmod, cmod = ring_pair
    with pmod.Ring.create(shm_name, 4, 24, role="producer") as prod:
        for mod in (pmod, cmod):
            with pytest.raises(RuntimeError, match="already attached"):
                mod.Ring.attach(shm_name, role="producer")
        assert prod.push(b"still mine")  # the refusals took nothing from the holder
        with cmod.Ring.attach(shm_name, role="consumer") as cons:
            with pytest.raises(RuntimeError, match="already attached"):
                pmod.Ring.attach(shm_name, role="consumer")
            assert cons.pop()[:10] == b"still mine"


def test_closed_end_refuses(ring_pair, shm_name, flavour):
    with Pair(ring_pair, shm_name, 4, 16, flavour) as (prod, cons):
        prod.close()
        cons.close()
        pmod, cmod = ring_pair
        for call in (lambda: prod.push(b"x"), lambda: prod.push_many(seq_array(0, 2, 16)),
                     lambda: prod.push_wait(b"x", 0.1), lambda: pmod.produce_seq(prod, 0, 1),
                     lambda: cons.pop(), lambda: cons.pop_many(2), lambda: cons.pop_wait(0.1),
                     lambda: cmod.consume_seq(cons, 0, 1), lambda: len(cons), lambda: prod.producer_pid,
                     lambda: pmod.send_stamped(prod, 1), lambda: cmod.recv_stamped(cons, 1)):
            with pytest.raises(ValueError, match="is closed"):
                call()


def test_layout_bytes(ring_pair, shm_name, flavour):
    """The bytes both implementations write, read back through a lab-1 segment."""
    seq = flavour == "seq-slot"
    slot = slot_for(32, flavour)
    with Pair(ring_pair, shm_name, 4, 32, flavour) as (prod, cons):
        for i in range(3):
            prod.push(msg(i, 32))
        cons.pop()
        seg = raw_segment(shm_name)
        try:
            raw = seg.read(0, seg.size)
            assert struct.unpack_from("<Q", raw, py_ring.HDR_MAGIC)[0] == py_ring.MAGIC
            assert raw[:8] == b"LLLRING1"
            assert struct.unpack_from("<IIQ", raw, py_ring.HDR_VERSION) == (py_ring.VERSION, slot, 4)
            assert struct.unpack_from("<I", raw, py_ring.HDR_FLAVOUR)[0] == py_ring.FLAVOURS[flavour]
            assert struct.unpack_from("<II", raw, py_ring.HDR_PRODUCER_PID) == (os.getpid(), os.getpid())
            assert struct.unpack_from("<Q", raw, py_ring.PROD_HEAD)[0] == 3
            assert struct.unpack_from("<Q", raw, py_ring.CONS_TAIL)[0] == 1
            assert struct.unpack_from("<I", raw, py_ring.PROD_CLOSED)[0] == 0
            assert struct.unpack_from("<Q", raw, py_ring.PROD_HEARTBEAT)[0] > 0

            def slot_bytes(j):
                return raw[py_ring.SLOTS + j * slot : py_ring.SLOTS + (j + 1) * slot]

            for i in range(3):
                # seq-slot: the word i + 1, then the message; index: the message
                want = (struct.pack("<Q", i + 1) if seq else b"") + msg(i, 32)
                assert slot_bytes(i) == want
            assert slot_bytes(3) == bytes(slot)  # never written: a sequence word of 0 is "empty"
            # the reserved bytes of the three blocks stay zero
            assert raw[py_ring.HDR_FLAVOUR + 4 : py_ring.PROD_HEAD] == bytes(py_ring.PROD_HEAD - py_ring.HDR_FLAVOUR - 4)
            assert raw[py_ring.PROD_CLOSED + 4 : py_ring.CONS_TAIL] == bytes(py_ring.CONS_TAIL - py_ring.PROD_CLOSED - 4)
            assert raw[py_ring.CONS_TAIL + 8 : py_ring.SLOTS] == bytes(py_ring.SLOTS - py_ring.CONS_TAIL - 8)
            # the 4th message goes to the last slot, the 5th back to slot 0, where a
            # seq-slot's word (index + 1 = 5) tells this lap's message from the last one's (1)
            cons.pop()
            assert prod.push(msg(40, 32)) and prod.push(msg(50, 32))
            assert seg.read(py_ring.SLOTS + 3 * slot, slot) == (struct.pack("<Q", 4) if seq else b"") + msg(40, 32)
            assert seg.read(py_ring.SLOTS, slot) == (struct.pack("<Q", 5) if seq else b"") + msg(50, 32)
            prod.close()
            assert struct.unpack("<I", seg.read(py_ring.PROD_CLOSED, 4))[0] == 1
            assert struct.unpack("<I", seg.read(py_ring.HDR_PRODUCER_PID, 4))[0] == 0
            cons.close()
            assert struct.unpack("<I", seg.read(py_ring.HDR_CONSUMER_PID, 4))[0] == 0
        finally:
            seg.close()


@pytest.mark.parametrize("pushed, beats", [(1023, False), (1024, True), (2047, True)])
def test_heartbeat_rule(ring_impl, shm_name, flavour, pushed, beats):
    """One rule in both languages: the producer stores its heartbeat whenever head
    crosses a multiple of HEARTBEAT_EVERY (1024), one message at a time or in batches."""
    for batched in (False, True):
        with ring_impl.Ring.create(shm_name, 4096, slot_for(16, flavour), flavour=flavour) as prod, \
                ring_impl.Ring.attach(shm_name) as cons:
            seg = raw_segment(shm_name)
            try:
                seg.write(py_ring.PROD_HEARTBEAT, bytes(8))  # as if it had never beaten
                if batched:
                    assert prod.push_many(seq_array(0, pushed, 16)) == pushed
                else:
                    for i in range(pushed):
                        assert prod.push(seq_msg(i, 16))
                beat = struct.unpack("<Q", seg.read(py_ring.PROD_HEARTBEAT, 8))[0]
                assert (beat > 0) == beats, (batched, beat)
                assert len(cons.pop_many(4096)) == pushed
            finally:
                seg.close()
        assert not os.path.exists(shm_path(shm_name))


# ====================================================== a model check

CAP, MSG = 4, 16
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.binary(max_size=MSG)),
        st.tuples(st.just("pop"), st.none()),
        st.tuples(st.just("push_many"), st.integers(0, CAP + 2)),
        st.tuples(st.just("pop_many"), st.integers(0, CAP + 2)),
    ),
    max_size=60,
)


@pytest.mark.parametrize("cached", [True, False], ids=["cached", "no-cache"])
def test_model_interleavings(ring_pair, shm_name, flavour, cached):
    """Any sequence of push / pop / push_many / pop_many does what a bounded deque
    does, on both flavours, with cached and naive ends.  One ring for all the
    examples (its counters keep growing, so examples start at every position of
    the slot array); drained before each example."""
    counter = itertools.count()
    with Pair(ring_pair, shm_name, CAP, MSG, flavour, cached) as (prod, cons):
        assert prod.cached_index is cons.cached_index is cached

        @settings(deadline=None, max_examples=60)
        @given(ops=OPS)
        def run(ops):
            while len(cons.pop_many(CAP)):
                pass
            model: collections.deque[bytes] = collections.deque()
            for op, arg in ops:
                if op == "push":
                    ok = prod.push(arg)
                    assert ok == (len(model) < CAP)
                    if ok:
                        model.append(arg + bytes(MSG - len(arg)))
                elif op == "pop":
                    assert cons.pop() == (model.popleft() if model else None)
                elif op == "push_many":
                    items = [struct.pack("<QQ", next(counter), arg) for _ in range(arg)]
                    batch = np.frombuffer(b"".join(items), dtype=("V", MSG))
                    k = prod.push_many(batch)
                    assert k == min(arg, CAP - len(model))
                    model.extend(items[:k])
                else:
                    got = cons.pop_many(arg)
                    want = [model.popleft() for _ in range(min(arg, len(model)))]
                    assert [bytes(x) for x in got] == want
                assert len(prod) == len(cons) == len(model)

        run()


# ================================================== bad input, clear errors


@pytest.mark.parametrize("capacity", [0, 1, 3, 6, 1000, 2**25, -4, True, 4.0, None, "4"])
def test_bad_capacity(ring_impl, shm_name, capacity):
    with pytest.raises(ValueError, match="capacity"):
        ring_impl.Ring.create(shm_name, capacity)
    with pytest.raises(ValueError, match="capacity"):
        ring_impl.check_geometry(capacity, 64)
    assert not os.path.exists(shm_path(shm_name))  # refused before anything was made


@pytest.mark.parametrize("flavour_, slot_size", [
    *[("index", s) for s in (0, 4, 7, 12, 65537, 65544, -8, True, 64.0)],
    *[("seq-slot", s) for s in (0, 8, 12, 65544, True)],  # seq-slot: 8 bytes of word + at least 8 of message
])
def test_bad_slot_size(ring_impl, shm_name, flavour_, slot_size):
    with pytest.raises(ValueError, match="slot size"):
        ring_impl.Ring.create(shm_name, 4, slot_size, flavour=flavour_)
    assert not os.path.exists(shm_path(shm_name))


@pytest.mark.parametrize("bad", ["seq", "INDEX", "", None, 1, 2])
def test_bad_flavour(ring_impl, shm_name, bad):
    with pytest.raises(ValueError, match="flavour"):
        ring_impl.Ring.create(shm_name, 4, 64, flavour=bad)
    assert not os.path.exists(shm_path(shm_name))


def test_ring_too_big_for_a_segment(ring_impl, shm_name):
    with pytest.raises(ValueError, match="exceeds"):
        ring_impl.Ring.create(shm_name, 2**24, 64)  # 1 GiB of slots + the header
    with pytest.raises(ValueError, match="exceeds"):
        ring_impl.check_geometry(2**14, 65536)
    assert not os.path.exists(shm_path(shm_name))


def test_bad_role(ring_impl, shm_name):
    with pytest.raises(ValueError, match="role"):
        ring_impl.Ring.create(shm_name, 4, role="both")
    assert not os.path.exists(shm_path(shm_name))  # the half-made ring is not left behind
    with ring_impl.Ring.create(shm_name, 4):
        for role in ("both", "Producer", "", None):
            with pytest.raises(ValueError, match="role"):
                ring_impl.Ring.attach(shm_name, role=role)
        with ring_impl.Ring.attach(shm_name, role="consumer"):  # the refusals claimed nothing
            pass


def test_bad_messages_and_batches(ring_pair, shm_name, flavour):
    pmod, cmod = ring_pair
    with Pair(ring_pair, shm_name, 4, 16, flavour) as (prod, cons):
        with pytest.raises(ValueError, match="does not fit"):
            prod.push(b"x" * 17)
        with pytest.raises(ValueError, match="does not fit"):
            prod.push_wait(b"x" * 17, timeout=0.1)
        with pytest.raises(TypeError):
            prod.push("a str is not bytes")
        with pytest.raises(ValueError, match="16"):
            prod.push_many(np.zeros(3, dtype=np.uint64))  # 8-byte items
        with pytest.raises(ValueError, match="16"):
            prod.push_many(np.zeros(3, dtype=("V", 32)))
        assert len(cons) == 0  # nothing got in
        prod.push(b"ok")
        for bad in (-1, 1.5, True, None):
            with pytest.raises(ValueError, match="max_n"):
                cons.pop_many(bad)
        with pytest.raises(ValueError, match="16"):
            cons.pop_many(1, dtype=np.uint64)
        assert len(cons) == 1  # nothing was taken
        # sequenced streams: a batch must fit the ring
        for bad_batch in (0, 5, -1, True):
            with pytest.raises(ValueError, match="batch"):
                pmod.produce_seq(prod, 0, 10, batch=bad_batch)
            with pytest.raises(ValueError, match="batch"):
                cmod.consume_seq(cons, 0, 10, batch=bad_batch)
        assert len(cons) == 1


def test_stream_needs_16_byte_messages(ring_pair, shm_name, flavour):
    pmod, cmod = ring_pair
    with Pair(ring_pair, shm_name, 4, 8, flavour) as (prod, cons):
        for call in (lambda: pmod.produce_seq(prod, 0, 1), lambda: cmod.consume_seq(cons, 0, 1),
                     lambda: pmod.send_stamped(prod, 1), lambda: cmod.recv_stamped(cons, 1)):
            with pytest.raises(ValueError, match="16 bytes"):
                call()


# start, n: the C side took start=-1 as 2**64-1 through ctypes and moved nothing "successfully"
BAD_STREAMS = [(-1, 10, "start"), (2**64 - 5, 10, "start"), (2**64, 0, "start"), (1.0, 1, "start"),
               (True, 1, "start"), (0, -1, "n must"), (0, 2**62 + 1, "n must"), (0, 2.0, "n must"),
               (0, None, "n must")]


@pytest.mark.parametrize("start, n, words", BAD_STREAMS)
def test_stream_arguments_refused(ring_pair, shm_name, start, n, words):
    pmod, cmod = ring_pair
    with Pair(ring_pair, shm_name, 4, 16) as (prod, cons):
        with pytest.raises(ValueError, match=words):
            pmod.produce_seq(prod, start, n)
        with pytest.raises(ValueError, match=words):
            cmod.consume_seq(cons, start, n, batch=2)
        assert len(cons) == 0
        assert pmod.produce_seq(prod, 2**64 - 5, 4) >= 0  # the last numbers below 2**64 are fine
        assert cmod.consume_seq(cons, 2**64 - 5, 4)[1] == 0


@pytest.mark.cimpl
@settings(deadline=None, max_examples=300)
@given(role=st.sampled_from(["producer", "consumer"]), msg_size=st.sampled_from([8, 16, 24]),
       start=st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 2**63, 2**64 - 1])),
       n=st.one_of(st.integers(0, 2**62), st.integers(0, 20)), batch=st.integers(0, 9))
def test_stream_rules_agree(role, msg_size, start, n, batch):
    """pyimpl.spsc_ring.check_stream (the Python rule) and ll_ring_check_stream
    (C's own) accept exactly the same arguments."""
    import cimpl.spsc_ring as c_ring

    name = f"t-{os.getpid()}-rules"
    with c_ring.Ring.create(name, 8, msg_size, role=role, flavour="index") as ring:
        try:
            py_ring.check_stream(ring, role, start, n, batch)
            py_ok = True
        except ValueError:
            py_ok = False
        assert py_ok == (c_ring.c_check_stream(ring, role, start, n, batch) == 0), (role, msg_size, start, n, batch)
        other = "consumer" if role == "producer" else "producer"
        assert c_ring.c_check_stream(ring, other, start, n, batch) != 0  # the wrong role, always


@pytest.mark.parametrize("make", ["raw", "quote", "counters-sized", "ring-kind-empty", "ring-kind-tiny"])
def test_attach_not_a_ring(ring_impl, shm_name, make):
    if make == "raw":
        seg = py_shm.Segment.create(shm_name, 4096)
    elif make == "quote":
        seg = py_shm.SharedQuote.create(shm_name).segment
    elif make == "counters-sized":
        seg = py_shm.Segment.create(shm_name, 4096, py_shm.KIND_COUNTERS)
    elif make == "ring-kind-empty":  # a creator that died before writing the ring header
        seg = py_shm.Segment.create(shm_name, 4096, py_shm.KIND_RING)
    else:  # a ring-kind segment too small to hold even the ring's header
        seg = py_shm.Segment.create(shm_name, 64, py_shm.KIND_RING)
    with seg:
        for role in ("consumer", "producer"):
            with pytest.raises(LayoutError):
                ring_impl.Ring.attach(shm_name, role=role)
        assert seg.read(0, seg.size) == bytes(seg.size)  # untouched, nothing claimed


CORRUPTIONS = {
    "magic": (py_ring.HDR_MAGIC, struct.pack("<Q", py_ring.MAGIC ^ 1), "not an SPSC ring"),
    "magic-zero": (py_ring.HDR_MAGIC, bytes(8), "not an SPSC ring"),
    "version-1": (py_ring.HDR_VERSION, struct.pack("<I", 1), "version"),  # the layout before the flavour field
    "version-3": (py_ring.HDR_VERSION, struct.pack("<I", 3), "version"),
    "slot-not-8": (py_ring.HDR_SLOT_SIZE, struct.pack("<I", 12), "sizes"),
    "slot-too-big-for-file": (py_ring.HDR_SLOT_SIZE, struct.pack("<I", 128), "sizes"),
    "slot-zero": (py_ring.HDR_SLOT_SIZE, struct.pack("<I", 0), "sizes"),
    "slot-8-seq": (py_ring.HDR_SLOT_SIZE, struct.pack("<I", 8), "sizes"),  # no room for a message behind the word
    "capacity-3": (py_ring.HDR_CAPACITY, struct.pack("<Q", 3), "sizes"),
    "capacity-too-big-for-file": (py_ring.HDR_CAPACITY, struct.pack("<Q", 8), "sizes"),
    "capacity-huge": (py_ring.HDR_CAPACITY, struct.pack("<Q", 2**40), "sizes"),
    "flavour-0": (py_ring.HDR_FLAVOUR, struct.pack("<I", 0), "sizes"),
    "flavour-3": (py_ring.HDR_FLAVOUR, struct.pack("<I", 3), "sizes"),
}


@pytest.mark.parametrize("what", list(CORRUPTIONS))
def test_corrupted_ring_header(ring_pair, shm_name, what):
    offset, data, words = CORRUPTIONS[what]
    pmod, cmod = ring_pair
    with pmod.Ring.create(shm_name, 4, 64) as prod:
        seg = raw_segment(shm_name)
        try:
            seg.write(offset, data)
        finally:
            seg.close()
        for role in ("consumer", "producer"):
            with pytest.raises(LayoutError, match=words):
                cmod.Ring.attach(shm_name, role=role)
        assert struct.unpack("<I", prod.segment.read(py_ring.HDR_CONSUMER_PID, 4))[0] == 0  # nothing claimed


# ====================================================== C and Python agree


@pytest.mark.cimpl
def test_layout_matches_c():
    import cimpl.spsc_ring as c_ring

    info = c_ring.layout_info
    assert py_ring.MAGIC == info(b"magic")
    assert py_ring.VERSION == info(b"version")
    assert py_ring.MIN_SLOT == info(b"min_slot")
    assert py_ring.MAX_SLOT == info(b"max_slot")
    assert py_ring.MAX_CAPACITY == info(b"max_capacity")
    assert py_ring.SLOTS == info(b"slots")
    assert py_ring.SEQ_BYTES == info(b"seq_bytes")
    assert py_ring.HEARTBEAT_EVERY == info(b"heartbeat_every")
    assert py_ring.FLAVOURS == {"index": info(b"flavour_index"), "seq-slot": info(b"flavour_seq_slot")}
    assert py_ring.LOCK_BYTE == {"producer": info(b"lock_producer"), "consumer": info(b"lock_consumer")}
    assert max(py_ring.LOCK_BYTE.values()) < py_shm.LOCK_BYTES  # `clean` asks about every lock byte
    # every offset constant, found by name: HDR_SLOT_SIZE <-> "hdr.slot_size"
    prefixes = {"HDR_": "hdr.", "PROD_": "prod.", "CONS_": "cons."}
    checked = []
    for name, value in vars(py_ring).items():
        for prefix, key in prefixes.items():
            if name.startswith(prefix) and isinstance(value, int):
                c_key = (key + name[len(prefix) :].lower()).encode()
                assert value == info(c_key), name
                checked.append(name)
    assert sorted(checked) == sorted([
        "HDR_MAGIC", "HDR_VERSION", "HDR_SLOT_SIZE", "HDR_CAPACITY", "HDR_PRODUCER_PID", "HDR_CONSUMER_PID",
        "HDR_FLAVOUR", "PROD_HEAD", "PROD_HEARTBEAT", "PROD_CLOSED", "CONS_TAIL",
    ])
    assert info(b"no.such.key") == -1
    assert info(None) == -1


@pytest.mark.cimpl
def test_seq_constant_matches_header():
    header = (ROOT / "cimpl" / "spsc_ring.h").read_text()
    assert f"#define LL_RING_SEQ_MUL 0x{py_ring.SEQ_MUL:X}ull" in header
    assert py_ring.SEQ_MUL == SEQ_MUL


@pytest.mark.cimpl
def test_geometry_rules_match_c():
    from cimpl import _lib

    check = _lib.bind("spsc_ring", "ll_ring_check_geometry", ctypes.c_int, ctypes.c_uint64, ctypes.c_uint32,
                      ctypes.c_uint32)
    nbytes = _lib.bind("spsc_ring", "ll_ring_bytes", ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint32)
    caps = [0, 1, 2, 3, 4, 6, 8, 1000, 1024, 2**20, 2**24 - 1, 2**24, 2**24 + 1, 2**25]
    slots = [0, 1, 4, 7, 8, 12, 16, 24, 64, 100, 4096, 65528, 65536, 65537, 65544]
    for name, code in py_ring.FLAVOURS.items():
        for cap in caps:
            for slot in slots:
                c_ok = check(cap, slot, code) == 0
                try:
                    py_ring.check_geometry(cap, slot, name)
                    py_ok = True
                except ValueError as e:
                    # the Python side also refuses rings bigger than a segment (C checks that at init)
                    py_ok = "exceeds" in str(e)
                assert py_ok == c_ok, (name, cap, slot)
                assert nbytes(cap, slot) == py_ring.ring_bytes(cap, slot)
    assert check(4, 64, 0) != 0 and check(4, 64, 3) != 0


@pytest.mark.cimpl
def test_the_naive_build_is_the_naive_ring():
    """cached_index=False loads the second build of the same source, with the cache compiled out."""
    from cimpl import _lib

    assert _lib.bind("spsc_ring", "ll_ring_cached_index", ctypes.c_int)() == 1
    assert _lib.bind("spsc_ring_nocache", "ll_ring_cached_index", ctypes.c_int)() == 0


@pytest.mark.cimpl
@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_ignoring_a_push_result_does_not_compile(tmp_path):
    """ll_ring_push and the other calls whose result says whether they happened
    are warn_unused_result: a caller that drops the result gets an error with
    the project's -Werror (and the version that handles it compiles)."""
    body = {"ignored": "ll_ring_push(r, m, 8);", "handled": "if (ll_ring_push(r, m, 8) != 1) return 1;"}
    for what, line in body.items():
        src = tmp_path / f"{what}.c"
        src.write_text('#include "spsc_ring.h"\nint f(ll_ring *r, const void *m) { ' + line + " return 0; }\n")
        out = subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-c", "-I", str(ROOT / "cimpl"),
                              str(src), "-o", str(tmp_path / f"{what}.o")], capture_output=True, text=True)
        if what == "ignored":
            assert out.returncode != 0 and "warn_unused_result" in out.stderr, out.stderr
        else:
            assert out.returncode == 0, out.stderr


# ================================================== across processes


def _pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def two_cpus() -> tuple[int, int] | tuple[None, None]:
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)


def _stop_child(p) -> None:
    if p.is_alive():
        p.kill()
    p.join(5)


def _wait_until(cond, p, what: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert p.is_alive() or cond(), f"{what}: the child exited with code {p.exitcode}"
        assert time.monotonic() < deadline, what
        time.sleep(0.001)


# ----------------------------------------------------------- child targets


def _produce_child(module: str, name: str, start: int, n: int, batch: int, cpu: int | None) -> None:
    _pin(cpu)
    m = importlib.import_module(module)
    with m.Ring.attach(name, role="producer") as ring:
        m.produce_seq(ring, start, n, batch, timeout=STREAM_TIMEOUT)


def _create_and_produce(module: str, name: str, capacity: int, ready) -> None:
    """Create the ring (this process is the segment's creator) and stream into it until killed."""
    m = importlib.import_module(module)
    ring = m.Ring.create(name, capacity, 64, role="producer")
    ready.set()
    m.produce_seq(ring, 0, 2**40, batch=1, timeout=60.0)  # killed long before either end


def _create_and_hang(module: str, name: str, ready) -> None:
    m = importlib.import_module(module)
    m.Ring.create(name, 4, 64, role="producer")
    ready.set()
    time.sleep(60)  # killed long before this


def _consume_then_hang(module: str, name: str, ready) -> None:
    m = importlib.import_module(module)
    ring = m.Ring.attach(name, role="consumer")
    ring.pop_wait(timeout=START_TIMEOUT)
    ready.set()
    time.sleep(60)  # killed long before this


def _claimant(module: str, name: str, rounds: int, go, results, release) -> None:
    """Round after round: wait for the start, try to take the producer role,
    say whether it got it, and (if so) hold it until the parent has counted."""
    m = importlib.import_module(module)
    for r in range(rounds):
        if not go.wait(START_TIMEOUT):
            return
        try:
            ring = m.Ring.attach(name, role="producer")
        except RuntimeError:
            ring = None
        results.put((r, os.getpid(), ring is not None))
        release.wait(START_TIMEOUT)
        if ring is not None:
            ring.close()
        results.put((r, os.getpid(), "done"))


def _corrupting_echo(name_in: str, name_out: str, n: int, bad_at: int, ready) -> None:
    """A pure-Python echo that damages message `bad_at` on its way back."""
    with py_ring.Ring.attach(name_in, role="consumer") as rin, py_ring.Ring.attach(name_out, role="producer") as rout:
        ready.set()
        for i in range(n):
            got = rin.pop_wait(timeout=STREAM_TIMEOUT)
            if i == bad_at:
                got = got[:20] + bytes([got[20] ^ 0x01]) + got[21:]
            rout.push_wait(got, timeout=STREAM_TIMEOUT)


def _stamped_child(module: str, name: str, n: int, cpu: int | None) -> None:
    _pin(cpu)
    m = importlib.import_module(module)
    with m.Ring.attach(name, role="producer") as ring:
        m.send_stamped(ring, n, 1000, timeout=STREAM_TIMEOUT)


# ------------------------------------------------------------------- helpers


def stream_n(pmod, cmod, batch: int) -> int:
    """Messages per cross-process stream: a C loop moves millions per second,
    a Python one a few hundred thousand."""
    if key_of(pmod) == key_of(cmod) == "c":
        return 1_000_000 if batch >= 64 else 200_000
    return 60_000


def run_stream(pmod, cmod, name: str, capacity: int, msg_size: int, batch: int, n: int, start: int = 0,
               flavour: str = "seq-slot") -> None:
    """A producer process (pmod) streams n sequenced messages into a ring this
    process consumes (cmod); every message must arrive once, in order, intact."""
    pcpu, ccpu = two_cpus()
    old_affinity = os.sched_getaffinity(0)
    with cmod.Ring.create(name, capacity, slot_for(msg_size, flavour), role="consumer", flavour=flavour) as ring:
        p = SPAWN.Process(target=_produce_child, args=(pmod.__name__, name, start, n, batch, pcpu), daemon=True)
        try:
            p.start()
            _wait_until(lambda: ring.producer_pid != 0, p, "the producer never attached")
            assert ring.producer_pid == p.pid
            _pin(ccpu)
            elapsed, bad = cmod.consume_seq(ring, start, n, batch, timeout=STREAM_TIMEOUT)
            os.sched_setaffinity(0, old_affinity)
            p.join(JOIN_TIMEOUT)
            assert p.exitcode == 0, f"the producer exited with code {p.exitcode}"
            assert bad == 0, f"{bad} of {n} messages were not the expected one"
            assert elapsed > 0
            assert len(ring) == 0
            assert ring.pop() is None
            with pytest.raises(EOFError):  # the producer closed after its last message
                ring.pop_wait(timeout=5.0)
        finally:
            os.sched_setaffinity(0, old_affinity)
            _stop_child(p)


STREAMS = [(2, 56, 1), (4, 16, 3), (1024, 56, 1), (1024, 56, 64), (1024, 24, 64)]


@pytest.mark.slow
@pytest.mark.parametrize("capacity, msg_size, batch", STREAMS,
                         ids=[f"cap{c}-msg{s}-batch{b}" for c, s, b in STREAMS])
def test_stream_across_processes(ring_pair, shm_name, flavour, capacity, msg_size, batch):
    pmod, cmod = ring_pair
    start = 0 if batch == 1 else 2**33  # sequence numbers above 32 bits too
    run_stream(pmod, cmod, shm_name, capacity, msg_size, batch, stream_n(pmod, cmod, batch), start, flavour)


@pytest.mark.slow
@pytest.mark.parametrize("pair, n", [(("c", "c"), 10_000_000), (("python", "python"), 1_000_000)],
                         ids=["cimpl-cimpl", "pyimpl-pyimpl"])
def test_stress_long_streams(shm_name, flavour, pair, n):
    """The issue's sizes: 10 M messages C to C, 1 M Python to Python, batches of 64."""
    run_stream(load(pair[0]), load(pair[1]), shm_name, 1024, 56, 64, n, flavour=flavour)


@pytest.mark.slow
@pytest.mark.parametrize("claimants", [("c", "python"), ("python", "c"), ("c", "c"), ("python", "python")],
                         ids=["cimpl-pyimpl", "pyimpl-cimpl", "cimpl-cimpl", "pyimpl-pyimpl"])
def test_role_race_across_processes(shm_name, claimants):
    """Two processes - C's ll_ring_open and Python's fcntl, or the same twice -
    race for the producer role 150 times: exactly one wins every round."""
    rounds = 150
    with py_ring.Ring.create(shm_name, 4, 64, role="consumer"):
        go, release, results = SPAWN.Event(), SPAWN.Event(), SPAWN.Queue()
        procs = [SPAWN.Process(target=_claimant, args=(RING_MODULES[k], shm_name, rounds, go, results, release),
                               daemon=True) for k in claimants]
        try:
            for p in procs:
                p.start()
            time.sleep(0.5)  # let both import and reach the first wait
            wins = []
            for r in range(rounds):
                release.clear()
                go.set()
                got = [results.get(timeout=START_TIMEOUT) for _ in procs]
                go.clear()
                assert {g[0] for g in got} == {r}
                wins.append(sum(1 for g in got if g[2] is True))
                release.set()
                done = [results.get(timeout=START_TIMEOUT) for _ in procs]
                assert all(d[2] == "done" for d in done)
            assert wins == [1] * rounds, collections.Counter(wins)
            for p in procs:
                p.join(JOIN_TIMEOUT)
                assert p.exitcode == 0
        finally:
            for p in procs:
                _stop_child(p)


@pytest.fixture
def our_cleanup(monkeypatch, shm_name):
    """labs.cleanup.clean_segments, looking at this test's segment only (the
    real one would also sweep whatever other runs left in /dev/shm)."""
    every = cleanup.leftover_segments
    monkeypatch.setattr(cleanup, "leftover_segments", lambda: [n for n in every() if n == PREFIX + shm_name])
    return cleanup.clean_segments


@pytest.mark.slow
@pytest.mark.parametrize("how", ["pop_wait", "consume_seq-1", "consume_seq-16"])
def test_producer_killed(ring_pair, shm_name, our_cleanup, how):
    """SIGKILL the producer (the segment's creator) mid-stream: the waiting
    consumer is told it died, a new producer takes the role over, and `latencylab
    clean` removes the segment once nobody holds it."""
    pmod, cmod = ring_pair
    capacity = 64
    ready = SPAWN.Event()
    p = SPAWN.Process(target=_create_and_produce, args=(pmod.__name__, shm_name, capacity, ready), daemon=True)
    try:
        p.start()
        assert ready.wait(START_TIMEOUT), f"the producer did not start (exit code {p.exitcode})"
        with cmod.Ring.attach(shm_name, role="consumer") as cons:
            assert cons.producer_pid == p.pid
            assert cons.segment.creator_pid == p.pid and not cons.segment.owner
            _, bad = cmod.consume_seq(cons, 0, 5000, batch=16, timeout=STREAM_TIMEOUT)
            assert bad == 0
            assert our_cleanup() == []  # in use: kept
            assert os.path.exists(shm_path(shm_name))

            os.kill(p.pid, signal.SIGKILL)
            t0 = time.monotonic()
            with pytest.raises(PeerDiedError, match="died") as info:
                if how == "pop_wait":
                    for k in itertools.count(5000):  # what it pushed before dying comes first
                        got = cons.pop_wait(timeout=STREAM_TIMEOUT)
                        assert got == seq_msg(k)
                        assert time.monotonic() - t0 < STREAM_TIMEOUT
                else:
                    cmod.consume_seq(cons, 5000, 2**40, batch=int(how.rsplit("-", 1)[1]), timeout=STREAM_TIMEOUT)
            assert "producer" in str(info.value)
            assert time.monotonic() - t0 < 5  # told within seconds, not at the timeout
            assert len(cons) == 0
            with pytest.raises(PeerDiedError):  # and again
                cons.pop_wait(timeout=STREAM_TIMEOUT)
            assert our_cleanup() == []  # its creator is dead, but we hold it: kept

            # the dead producer's role is free: a new one takes it over and the ring goes on
            for mod in (pmod, cmod):
                with mod.Ring.attach(shm_name, role="producer") as prod2:
                    assert prod2.producer_pid == os.getpid()
                    assert prod2.push(b"after " + mod.__name__.encode())
                    assert cons.pop_wait(timeout=1.0).rstrip(b"\0") == b"after " + mod.__name__.encode()
        p.join(JOIN_TIMEOUT)
        assert p.exitcode == -signal.SIGKILL
    finally:
        _stop_child(p)
    # nobody holds it and its creator is dead: the cleaner removes it
    assert our_cleanup() == [PREFIX + shm_name]
    assert not os.path.exists(shm_path(shm_name))


@pytest.mark.slow
def test_clean_keeps_a_taken_over_ring(ring_pair, shm_name, our_cleanup):
    """The creator dies; live processes take both roles over: `latencylab clean`
    must keep the ring they use (it used to decide by the creator's pid alone)."""
    pmod, cmod = ring_pair
    ready = SPAWN.Event()
    p = SPAWN.Process(target=_create_and_hang, args=(pmod.__name__, shm_name, ready), daemon=True)
    try:
        p.start()
        assert ready.wait(START_TIMEOUT)
        os.kill(p.pid, signal.SIGKILL)
        p.join(JOIN_TIMEOUT)
    finally:
        _stop_child(p)
    prod = pmod.Ring.attach(shm_name, role="producer")  # taken over from the dead creator
    try:
        assert prod.segment.creator_pid == p.pid and not py_shm.pid_alive(p.pid)
        with cmod.Ring.attach(shm_name, role="consumer") as cons:
            assert our_cleanup() == []
            assert prod.push(b"alive")
            assert cons.pop()[:5] == b"alive"
        assert our_cleanup() == []  # the producer alone still holds it
        assert os.path.exists(shm_path(shm_name))
    finally:
        prod.close()
    assert our_cleanup() == [PREFIX + shm_name]  # nobody holds it, its creator is gone
    assert not os.path.exists(shm_path(shm_name))


@pytest.mark.slow
def test_consumer_killed(ring_pair, shm_name):
    """SIGKILL the consumer: a producer waiting for room is told it died, and a new consumer takes over."""
    pmod, cmod = ring_pair
    ready = SPAWN.Event()
    with pmod.Ring.create(shm_name, 4, 24) as prod:
        p = SPAWN.Process(target=_consume_then_hang, args=(cmod.__name__, shm_name, ready), daemon=True)
        try:
            assert prod.push(b"first")
            p.start()
            assert ready.wait(START_TIMEOUT), f"the consumer did not start (exit code {p.exitcode})"
            for i in range(4):
                assert prod.push(bytes([i]))
            os.kill(p.pid, signal.SIGKILL)
            t0 = time.monotonic()
            with pytest.raises(PeerDiedError, match="consumer"):
                prod.push_wait(b"more", timeout=STREAM_TIMEOUT)
            assert time.monotonic() - t0 < 5
            p.join(JOIN_TIMEOUT)
        finally:
            _stop_child(p)
        with pmod.Ring.attach(shm_name, role="consumer") as cons2:  # takeover
            assert [cons2.pop()[:1] for _ in range(4)] == [bytes([i]) for i in range(4)]
            prod.push_wait(b"more", timeout=1.0)
            assert cons2.pop()[:4] == b"more"


@pytest.mark.slow
def test_corrupted_echo_raises_corruption(ring_impl, new_shm_name, flavour):
    """An echo that comes back damaged is data corruption, not a caller's
    mistake: CorruptionError (C: LL_ECORRUPT), never ValueError."""
    ping, pong = new_shm_name(), new_shm_name()
    slot = slot_for(56, flavour)
    with ring_impl.Ring.create(ping, 16, slot, "producer", flavour=flavour) as out, \
            ring_impl.Ring.create(pong, 16, slot, "consumer", flavour=flavour) as inbound:
        ready = SPAWN.Event()
        p = SPAWN.Process(target=_corrupting_echo, args=(ping, pong, 10, 3, ready), daemon=True)
        try:
            p.start()
            assert ready.wait(START_TIMEOUT)
            with pytest.raises(CorruptionError, match="corrupted") as info:
                ring_impl.pingpong(out, inbound, 10, timeout=STREAM_TIMEOUT)
            assert not isinstance(info.value, ValueError)
        finally:
            _stop_child(p)


@pytest.mark.slow
def test_stamped_one_way_across_processes(ring_pair, shm_name, flavour):
    pmod, cmod = ring_pair
    n = 300
    pcpu, ccpu = two_cpus()
    with cmod.Ring.create(shm_name, 16, slot_for(56, flavour), role="consumer", flavour=flavour) as ring:
        p = SPAWN.Process(target=_stamped_child, args=(pmod.__name__, shm_name, n, pcpu), daemon=True)
        try:
            p.start()
            lat = cmod.recv_stamped(ring, n, timeout=STREAM_TIMEOUT)
            p.join(JOIN_TIMEOUT)
            assert p.exitcode == 0
        finally:
            _stop_child(p)
        assert lat.shape == (n,) and (lat >= 0).all() and (lat < 10**9).all()
        assert ring.pop() is None


@pytest.mark.parametrize("case", ["word-not-head", "word-not-head-taken", "batch-cut-short"])
def test_seq_producer_takes_over_what_the_words_say(ring_pair, shm_name, case):
    """A seq-slot ring publishes with the slot's word, not with head.  A producer
    killed between the two (or in the middle of a batch, whose first word it
    writes last) leaves the ring in a state a new producer must read from the
    words: continue after the last published message, and never let a word of
    an unpublished message pass for one (cimpl/spsc_ring.c:recover_seq_producer)."""
    pmod, cmod = ring_pair
    with Pair(ring_pair, shm_name, 8, 16, "seq-slot") as (prod, cons):
        for i in range(5):
            assert prod.push(msg(i, 16))
        assert [cons.pop() for _ in range(5)] == [msg(i, 16) for i in range(5)]
        prod.close()
        seg = raw_segment(shm_name)
        try:
            def word(j, value):
                seg.write(py_ring.SLOTS + (j % 8) * 24, struct.pack("<Q", value))

            def body(j, m):
                seg.write(py_ring.SLOTS + (j % 8) * 24 + 8, m)

            # the memory a producer killed at that moment leaves (head = 5, tail = 5)
            published = []
            if case.startswith("word-not-head"):
                body(5, msg(5, 16))
                word(5, 6)  # message 5 published by its word; head never moved
                published = [msg(5, 16)]
            else:  # push_many of 5, 6, 7 cut short: 6 and 7 have their words, 5 (written last) not yet
                for j in (5, 6, 7):
                    body(j, msg(j, 16))
                word(6, 7)
                word(7, 8)
        finally:
            seg.close()
        got = []
        if case == "word-not-head-taken":
            got.append(cons.pop())  # the consumer takes it before anyone takes over
            assert len(cons) == 0  # head is behind tail: nothing in the ring, not 2**64 - 1
        with pmod.Ring.attach(shm_name, role="producer") as prod2:
            assert len(prod2) == len(published) - len(got)
            for k in range(10):
                assert prod2.push(msg(100 + k, 16))
                got.append(cons.pop())
            while (one := cons.pop()) is not None:
                got.append(one)
        want = published + [msg(100 + k, 16) for k in range(10)]
        assert got == want  # in order, nothing lost, nothing unpublished, nothing twice
        assert cons.pop() is None


def test_seq_takeover_just_below_2_64(ring_pair, shm_name):
    """A producer taking over within one capacity of 2**64 must not leave a word
    that passes for message 2**64 - 1 (clearing words to 0 did: 0 is its word).
    C's counters wrap at 2**64; the pure-Python ring refuses such a ring by name."""
    pmod, cmod = ring_pair
    start = 2**64 - 4
    with py_ring.Ring.create(shm_name, 8, 24, role="consumer") as cons:
        seg = raw_segment(shm_name)
        try:
            for off in (py_ring.PROD_HEAD, py_ring.CONS_TAIL):
                seg.write(off, struct.pack("<Q", start))
            for j in range(8):  # what the lap before `start` left in each slot
                i = start - 8 + ((j - start) % 8)
                seg.write(py_ring.SLOTS + j * 24, struct.pack("<Q", (i + 1) & MASK64))
        finally:
            seg.close()
        cons.close()
        if "pyimpl" in (pmod.__name__.split(".")[0], cmod.__name__.split(".")[0]):
            for mod, role in ((pmod, "producer"), (cmod, "consumer")):
                if mod.__name__.startswith("pyimpl"):
                    with pytest.raises(LayoutError, match="does not wrap"):
                        mod.Ring.attach(shm_name, role=role)
            return
        with cmod.Ring.attach(shm_name, role="consumer") as cons2, pmod.Ring.attach(shm_name, role="producer") as p:
            for k in range(3):
                assert p.push(msg(k, 16))
            assert [cons2.pop() for _ in range(3)] == [msg(k, 16) for k in range(3)]
            assert cons2.pop() is None  # message 2**64 - 1 was never pushed
            for k in range(3, 12):  # and on through the wrap
                assert p.push(msg(k, 16))
                assert cons2.pop() == msg(k, 16)


def test_big_batches_span_stage_runs_and_the_wrap(ring_pair, shm_name, flavour):
    """Batches larger than a seq-slot producer's staging area (65536 bytes: 1024
    slots of 64) are copied in several runs, split again at the end of the slot array."""
    with Pair(ring_pair, shm_name, 4096, 56, flavour) as (prod, cons):
        sent = 0
        for size in (3000, 2500, 4096, 1, 1023, 1025):
            assert prod.push_many(py_ring.seq_messages(sent, size, 56)) == size
            got = cons.pop_many(4096)
            assert [seq_of(x) for x in got] == list(range(sent, sent + size))
            assert all(bytes(x) == seq_msg(seq_of(x), 56) for x in got[:: max(1, size // 50)])
            sent += size
        assert cons.pop() is None
