"""Lab 3 (spsc-ring): one suite run against both implementations and across them.

A ring has two ends, so most tests take `ring_pair` = (producer module,
consumer module) over the four combinations of cimpl.spsc_ring and
pyimpl.spsc_ring (ids `cimpl-cimpl`, `cimpl-pyimpl`, ...: producer first);
tests of one end alone take `ring_impl` (ids `cimpl`, `pyimpl`).  Tests that
run C code without either carry the `cimpl` marker, so `pytest -k cimpl`
selects every C-backed test.

In this process: FIFO order, full and empty, many laps around rings of 2 and 4
slots, zero padding, NumPy batches, waiting, closing, the role rules, a
hypothesis model check, and bad input refused with a clear error.  Across
processes (spawn, module-level child functions, every join with a timeout,
children killed in `finally`): sequenced streams in all four language
combinations, and a producer killed with SIGKILL mid-stream.

No timing is checked (that is the benchmarks' job): only that every message
arrives once, in order, intact.  Most sizes are kept small for a 2-CPU
machine; test_stress_long_streams runs the brief's 10 M (C) and 1 M (Python)
messages, about half a second each.
"""

from __future__ import annotations

import collections
import ctypes
import importlib
import itertools
import multiprocessing as mp
import os
import signal
import struct
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
from pyimpl.errors import LayoutError, PeerDiedError

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


class Pair:
    """A producer end made by one module and a consumer end by another, on one new ring."""

    def __init__(self, pair, name: str, capacity: int, slot_size: int = 64) -> None:
        pmod, cmod = pair
        self.prod = pmod.Ring.create(name, capacity, slot_size)
        try:
            self.cons = cmod.Ring.attach(name)
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
    """A full-slot message whose every byte depends on i."""
    return bytes((i + j) & 0xFF for j in range(size - 8)) + struct.pack("<Q", i)


def seq_msg(i: int, size: int = 64) -> bytes:
    """Message i of a sequenced stream (produce_seq's layout)."""
    return struct.pack("<QQ", i & MASK64, (i * SEQ_MUL) & MASK64) + bytes(size - 16)


def seq_array(first: int, n: int, size: int = 64) -> np.ndarray:
    return np.frombuffer(b"".join(seq_msg(i, size) for i in range(first, first + n)), dtype=("V", size))


def seq_of(item) -> int:
    return struct.unpack_from("<Q", bytes(item))[0]


# ============================================================ the API


def test_constants_shared(ring_impl):
    assert ring_impl.check_geometry is py_ring.check_geometry  # one set of checks, one set of messages
    assert ring_impl.ring_bytes is py_ring.ring_bytes
    assert (ring_impl.MIN_SLOT, ring_impl.MAX_SLOT, ring_impl.MAX_CAPACITY) == (8, 65536, 1 << 24)
    assert ring_impl.ROLES == ("producer", "consumer")


def test_create_attach_facts(ring_pair, shm_name):
    with Pair(ring_pair, shm_name, 8, 32) as (prod, cons):
        for end, role in ((prod, "producer"), (cons, "consumer")):
            assert (end.name, end.capacity, end.slot_size, end.role) == (shm_name, 8, 32, role)
            assert len(end) == 0
            assert end.producer_pid == os.getpid()
            assert 0 <= end.heartbeat_age_s < 60
            assert shm_name in repr(end) and role in repr(end)
        assert prod.segment.kind == py_shm.KIND_RING
        assert prod.segment.owner and not cons.segment.owner
        assert prod.segment.size == py_ring.ring_bytes(8, 32) == py_ring.SLOTS + 8 * 32
        assert os.path.exists(shm_path(shm_name))
    assert prod.segment.closed and cons.segment.closed
    assert not os.path.exists(shm_path(shm_name))  # the creator's `with` unlinks


def test_create_existing_and_attach_missing(ring_impl, new_shm_name):
    name = new_shm_name()
    with ring_impl.Ring.create(name, 4):
        with pytest.raises(FileExistsError):
            ring_impl.Ring.create(name, 4)
    with pytest.raises(FileNotFoundError):
        ring_impl.Ring.attach(new_shm_name())


def test_fifo(ring_pair, shm_name):
    with Pair(ring_pair, shm_name, 8) as (prod, cons):
        for i in range(5):
            assert prod.push(msg(i)) is True
        assert [cons.pop() for _ in range(5)] == [msg(i) for i in range(5)]
        assert cons.pop() is None


@pytest.mark.parametrize("capacity", [2, 4, 16])
def test_full_and_empty(ring_pair, shm_name, capacity):
    with Pair(ring_pair, shm_name, capacity, 16) as (prod, cons):
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
def test_wrap_single(ring_pair, shm_name, capacity):
    """Hundreds of laps around a tiny ring, one message at a time, at every fill level."""
    with Pair(ring_pair, shm_name, capacity, 24) as (prod, cons):
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
def test_wrap_batches(ring_pair, shm_name, capacity):
    """push_many / pop_many of every size from 1 to capacity+1, out of step with each
    other, so that batches start at every slot and straddle the end of the array."""
    with Pair(ring_pair, shm_name, capacity, 16) as (prod, cons):
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


def test_zero_padding(ring_pair, shm_name):
    with Pair(ring_pair, shm_name, 2, 32) as (prod, cons):
        # dirty both slots first, then reuse them with short messages
        assert prod.push(b"\xff" * 32) and prod.push(b"\xee" * 32)
        assert cons.pop() == b"\xff" * 32 and cons.pop() == b"\xee" * 32
        assert prod.push(b"ab")
        assert prod.push(b"")
        assert cons.pop() == b"ab" + bytes(30)
        assert cons.pop() == bytes(32)
        # any bytes-like object
        for data in (bytearray(b"xyz"), memoryview(b"hello"), np.arange(5, dtype=np.uint8), b"\x01" * 32):
            assert prod.push(data)
            assert cons.pop() == bytes(data) + bytes(32 - len(bytes(data)))
        # push_wait pads too
        prod.push_wait(b"q", timeout=1.0)
        assert cons.pop_wait(timeout=1.0) == b"q" + bytes(31)


RECORD = np.dtype([("seq", "<u8"), ("price", "<i8"), ("qty", "<u4"), ("side", "u1"), ("flags", "u1"),
                   ("venue", "S10"), ("pad", "V32")])


def test_batches_structured_dtype(ring_pair, shm_name):
    assert RECORD.itemsize == 64
    with Pair(ring_pair, shm_name, 16) as (prod, cons):
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
        raw = cons.pop_many(100)  # default dtype: raw slot_size-byte items
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


def test_len_from_both_ends(ring_pair, shm_name):
    with Pair(ring_pair, shm_name, 8, 8) as (prod, cons):
        assert len(prod) == len(cons) == 0
        for i in range(1, 9):
            prod.push(b"x")
            assert len(prod) == len(cons) == i
        cons.pop_many(3)
        assert len(prod) == len(cons) == 5
        cons.pop()
        assert len(prod) == len(cons) == 4


def test_wait_timeouts(ring_pair, shm_name):
    with Pair(ring_pair, shm_name, 2, 16) as (prod, cons):
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


def test_eof_after_producer_closes(ring_pair, shm_name):
    pmod, cmod = ring_pair
    with Pair(ring_pair, shm_name, 4, 16) as (prod, cons):
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


def test_roles(ring_pair, shm_name):
    pmod, cmod = ring_pair
    with Pair(ring_pair, shm_name, 4, 16) as (prod, cons):
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


def test_closed_end_refuses(ring_pair, shm_name):
    with Pair(ring_pair, shm_name, 4, 16) as (prod, cons):
        prod.close()
        cons.close()
        pmod, cmod = ring_pair
        for call in (lambda: prod.push(b"x"), lambda: prod.push_many(seq_array(0, 2, 16)),
                     lambda: prod.push_wait(b"x", 0.1), lambda: pmod.produce_seq(prod, 0, 1),
                     lambda: cons.pop(), lambda: cons.pop_many(2), lambda: cons.pop_wait(0.1),
                     lambda: cmod.consume_seq(cons, 0, 1), lambda: len(cons), lambda: prod.producer_pid):
            with pytest.raises(ValueError, match="is closed"):
                call()


def test_layout_bytes(ring_pair, shm_name):
    """The bytes both implementations write, read back through a lab-1 segment."""
    with Pair(ring_pair, shm_name, 4, 32) as (prod, cons):
        for i in range(3):
            prod.push(msg(i, 32))
        cons.pop()
        seg = py_shm.Segment.attach(shm_name, py_shm.KIND_RING)
        try:
            raw = seg.read(0, seg.size)
            assert struct.unpack_from("<Q", raw, py_ring.HDR_MAGIC)[0] == py_ring.MAGIC
            assert raw[:8] == b"LLLRING1"
            assert struct.unpack_from("<IIQ", raw, py_ring.HDR_VERSION) == (py_ring.VERSION, 32, 4)
            assert struct.unpack_from("<II", raw, py_ring.HDR_PRODUCER_PID) == (os.getpid(), os.getpid())
            assert struct.unpack_from("<Q", raw, py_ring.PROD_HEAD)[0] == 3
            assert struct.unpack_from("<Q", raw, py_ring.CONS_TAIL)[0] == 1
            assert struct.unpack_from("<I", raw, py_ring.PROD_CLOSED)[0] == 0
            assert struct.unpack_from("<Q", raw, py_ring.PROD_HEARTBEAT)[0] > 0
            for i in range(3):
                assert raw[py_ring.SLOTS + i * 32 : py_ring.SLOTS + (i + 1) * 32] == msg(i, 32)
            assert raw[py_ring.SLOTS + 3 * 32 :] == bytes(32)
            # the reserved bytes of the three blocks stay zero
            assert raw[32 : py_ring.PROD_HEAD] == bytes(py_ring.PROD_HEAD - 32)
            assert raw[py_ring.PROD_CLOSED + 4 : py_ring.CONS_TAIL] == bytes(py_ring.CONS_TAIL - py_ring.PROD_CLOSED - 4)
            assert raw[py_ring.CONS_TAIL + 8 : py_ring.SLOTS] == bytes(py_ring.SLOTS - py_ring.CONS_TAIL - 8)
            # message 4 goes to the last slot, message 5 back to slot 0
            cons.pop()
            assert prod.push(msg(4, 32)) and prod.push(msg(5, 32))
            assert seg.read(py_ring.SLOTS + 3 * 32, 32) == msg(4, 32)
            assert seg.read(py_ring.SLOTS, 32) == msg(5, 32)
            prod.close()
            assert struct.unpack("<I", seg.read(py_ring.PROD_CLOSED, 4))[0] == 1
            assert struct.unpack("<I", seg.read(py_ring.HDR_PRODUCER_PID, 4))[0] == 0
            cons.close()
            assert struct.unpack("<I", seg.read(py_ring.HDR_CONSUMER_PID, 4))[0] == 0
        finally:
            seg.close()


# ====================================================== a model check

CAP, SLOT = 4, 16
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.binary(max_size=SLOT)),
        st.tuples(st.just("pop"), st.none()),
        st.tuples(st.just("push_many"), st.integers(0, CAP + 2)),
        st.tuples(st.just("pop_many"), st.integers(0, CAP + 2)),
    ),
    max_size=60,
)


def test_model_interleavings(ring_pair, shm_name):
    """Any sequence of push / pop / push_many / pop_many does what a bounded deque
    does.  One ring for all the examples (its counters keep growing, so examples
    start at every position of the slot array); drained before each example."""
    counter = itertools.count()
    with Pair(ring_pair, shm_name, CAP, SLOT) as (prod, cons):

        @settings(deadline=None, max_examples=100)
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
                        model.append(arg + bytes(SLOT - len(arg)))
                elif op == "pop":
                    assert cons.pop() == (model.popleft() if model else None)
                elif op == "push_many":
                    items = [struct.pack("<QQ", next(counter), arg) for _ in range(arg)]
                    batch = np.frombuffer(b"".join(items), dtype=("V", SLOT))
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


@pytest.mark.parametrize("slot_size", [0, 4, 7, 12, 65537, 65544, -8, True, 64.0])
def test_bad_slot_size(ring_impl, shm_name, slot_size):
    with pytest.raises(ValueError, match="slot size"):
        ring_impl.Ring.create(shm_name, 4, slot_size)
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


def test_bad_messages_and_batches(ring_pair, shm_name):
    pmod, cmod = ring_pair
    with Pair(ring_pair, shm_name, 4, 16) as (prod, cons):
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
        with pytest.raises(ValueError, match="max_n"):
            cons.pop_many(-1)
        with pytest.raises(ValueError, match="max_n"):
            cons.pop_many(1.5)
        with pytest.raises(ValueError, match="16"):
            cons.pop_many(1, dtype=np.uint64)
        assert len(cons) == 1  # nothing was taken
        # sequenced streams: a batch must fit the ring
        for bad_batch in (0, 5, -1):
            with pytest.raises(ValueError, match="batch"):
                pmod.produce_seq(prod, 0, 10, batch=bad_batch)
            with pytest.raises(ValueError, match="batch"):
                cmod.consume_seq(cons, 0, 10, batch=bad_batch)
        assert len(cons) == 1


def test_stream_needs_16_byte_slots(ring_pair, shm_name):
    pmod, cmod = ring_pair
    with Pair(ring_pair, shm_name, 4, 8) as (prod, cons):
        with pytest.raises(ValueError, match="16"):
            pmod.produce_seq(prod, 0, 1)
        with pytest.raises(ValueError, match="16"):
            cmod.consume_seq(cons, 0, 1)


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
    "version": (py_ring.HDR_VERSION, struct.pack("<I", 2), "version"),
    "slot-not-8": (py_ring.HDR_SLOT_SIZE, struct.pack("<I", 12), "sizes"),
    "slot-too-big-for-file": (py_ring.HDR_SLOT_SIZE, struct.pack("<I", 128), "sizes"),
    "slot-zero": (py_ring.HDR_SLOT_SIZE, struct.pack("<I", 0), "sizes"),
    "capacity-3": (py_ring.HDR_CAPACITY, struct.pack("<Q", 3), "sizes"),
    "capacity-too-big-for-file": (py_ring.HDR_CAPACITY, struct.pack("<Q", 8), "sizes"),
    "capacity-huge": (py_ring.HDR_CAPACITY, struct.pack("<Q", 2**40), "sizes"),
}


@pytest.mark.parametrize("what", list(CORRUPTIONS))
def test_corrupted_ring_header(ring_pair, shm_name, what):
    offset, data, words = CORRUPTIONS[what]
    pmod, cmod = ring_pair
    with pmod.Ring.create(shm_name, 4, 64) as prod:
        seg = py_shm.Segment.attach(shm_name)
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
        "PROD_HEAD", "PROD_HEARTBEAT", "PROD_CLOSED", "CONS_TAIL",
    ])
    assert info(b"no.such.key") == -1
    assert info(None) == -1


@pytest.mark.cimpl
def test_seq_constant_matches_header():
    header = (Path(__file__).resolve().parents[1] / "cimpl" / "spsc_ring.h").read_text()
    assert f"#define LL_RING_SEQ_MUL 0x{py_ring.SEQ_MUL:X}ull" in header
    assert py_ring.SEQ_MUL == SEQ_MUL


@pytest.mark.cimpl
def test_geometry_rules_match_c():
    from cimpl import _lib

    check = _lib.bind("spsc_ring", "ll_ring_check_geometry", ctypes.c_int, ctypes.c_uint64, ctypes.c_uint32)
    nbytes = _lib.bind("spsc_ring", "ll_ring_bytes", ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint32)
    caps = [0, 1, 2, 3, 4, 6, 8, 1000, 1024, 2**20, 2**24 - 1, 2**24, 2**24 + 1, 2**25]
    slots = [0, 1, 4, 7, 8, 12, 16, 24, 64, 100, 4096, 65528, 65536, 65537, 65544]
    for cap in caps:
        for slot in slots:
            c_ok = check(cap, slot) == 0
            try:
                py_ring.check_geometry(cap, slot)
                py_ok = True
            except ValueError as e:
                # the Python side also refuses rings bigger than a segment (C checks that at init)
                py_ok = "exceeds" in str(e)
            assert py_ok == c_ok, (cap, slot)
            assert nbytes(cap, slot) == py_ring.ring_bytes(cap, slot)


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


def _consume_then_hang(module: str, name: str, ready) -> None:
    m = importlib.import_module(module)
    ring = m.Ring.attach(name, role="consumer")
    ring.pop_wait(timeout=START_TIMEOUT)
    ready.set()
    time.sleep(60)  # killed long before this


# ------------------------------------------------------------------- helpers


def stream_n(pmod, cmod, batch: int) -> int:
    """Messages per cross-process stream: a C loop moves millions per second,
    a Python one a few hundred thousand."""
    if key_of(pmod) == key_of(cmod) == "c":
        return 1_000_000 if batch >= 64 else 200_000
    return 100_000


def run_stream(pmod, cmod, name: str, capacity: int, slot_size: int, batch: int, n: int, start: int = 0) -> None:
    """A producer process (pmod) streams n sequenced messages into a ring this
    process consumes (cmod); every message must arrive once, in order, intact."""
    pcpu, ccpu = two_cpus()
    old_affinity = os.sched_getaffinity(0)
    with cmod.Ring.create(name, capacity, slot_size, role="consumer") as ring:
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


STREAMS = [(2, 64, 1), (4, 64, 1), (4, 16, 3), (1024, 64, 1), (1024, 64, 64), (1024, 24, 64)]


@pytest.mark.slow
@pytest.mark.parametrize("capacity, slot_size, batch", STREAMS,
                         ids=[f"cap{c}-slot{s}-batch{b}" for c, s, b in STREAMS])
def test_stream_across_processes(ring_pair, shm_name, capacity, slot_size, batch):
    pmod, cmod = ring_pair
    start = 0 if batch == 1 else 2**33  # sequence numbers above 32 bits too
    run_stream(pmod, cmod, shm_name, capacity, slot_size, batch, stream_n(pmod, cmod, batch), start)


@pytest.mark.slow
@pytest.mark.parametrize("pair, n", [(("c", "c"), 10_000_000), (("python", "python"), 1_000_000)],
                         ids=["cimpl-cimpl", "pyimpl-pyimpl"])
def test_stress_long_streams(shm_name, pair, n):
    """The issue's sizes: 10 M messages C to C, 1 M Python to Python, batches of 64
    (about half a second each)."""
    run_stream(load(pair[0]), load(pair[1]), shm_name, 1024, 64, 64, n)


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
    clean` removes the segment once its creator is gone."""
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
            assert our_cleanup() == []  # its creator is alive: kept
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
def test_consumer_killed(ring_pair, shm_name):
    """SIGKILL the consumer: a producer waiting for room is told it died, and a new consumer takes over."""
    pmod, cmod = ring_pair
    ready = SPAWN.Event()
    with pmod.Ring.create(shm_name, 4, 16) as prod:
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
