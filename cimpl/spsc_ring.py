"""Lab 3, C: ctypes bindings to libspsc_ring.so (cimpl/spsc_ring.c).

The same API as `pyimpl.spsc_ring` (whose RingAPI does the creating,
attaching, validation and role locking for both); here each operation is one
ctypes call into C, and the batch calls move a whole NumPy array in one call.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, c_char_p, c_int, c_int64, c_uint32, c_uint64, c_void_p

import numpy as np

from pyimpl import errors
from pyimpl.spsc_ring import (
    MAX_CAPACITY,
    MAX_SLOT,
    MIN_SLOT,
    ROLES,
    RingAPI,
    _check_count,
    check_geometry,
    ring_bytes,
)

from . import _lib, shm_basics

__all__ = ["MAX_CAPACITY", "MAX_SLOT", "MIN_SLOT", "ROLES", "Ring", "check_geometry", "consume_seq", "echo",
           "layout_info", "pingpong", "produce_seq", "ring_bytes"]



def _sig(name: str, restype, *argtypes):
    return _lib.bind("spsc_ring", name, restype, *argtypes)


_open = _sig("ll_ring_open", c_void_p, c_void_p, c_uint64, c_int, POINTER(c_int))
_close = _sig("ll_ring_close", None, c_void_p)
_set_cache = _sig("ll_ring_set_cache", None, c_void_p, c_int)
_push = _sig("ll_ring_push", c_int, c_void_p, c_char_p, c_uint32)
_pop = _sig("ll_ring_pop", c_int, c_void_p, c_void_p)
_push_many = _sig("ll_ring_push_many", c_uint64, c_void_p, c_void_p, c_uint64)
_pop_many = _sig("ll_ring_pop_many", c_uint64, c_void_p, c_void_p, c_uint64)
_push_wait = _sig("ll_ring_push_wait", c_int, c_void_p, c_char_p, c_uint32, c_uint64)
_pop_wait = _sig("ll_ring_pop_wait", c_int, c_void_p, c_void_p, c_uint64)
layout_info = _sig("ll_ring_layout_info", c_int64, c_char_p)

_ROLE_CODE = {"producer": 1, "consumer": 2}  # LL_RING_PRODUCER, LL_RING_CONSUMER


def _ns(timeout: float) -> int:
    return 0 if timeout <= 0 else min(max(1, int(timeout * 1e9)), 2**62)


class Ring(RingAPI):
    """One end of an SPSC ring; the ring's code runs in C."""

    _shm = shm_basics  # cimpl.shm_basics: the segment is mapped by C

    def _open_end(self) -> None:
        err = c_int(0)
        h = _open(self.segment.address, self.segment.size, _ROLE_CODE[self.role], ctypes.byref(err))
        if not h:
            raise _lib.error(err.value, f"ring {self.name!r} {self.role}")
        self._h = h
        self._out = ctypes.create_string_buffer(self.slot_size)

    def _close_end(self) -> None:
        h, self._h = self._h, None
        _close(h)

    def use_cached_index(self, enabled: bool) -> None:
        """Turn the cached-index trick off (False: re-read the other side's
        counter on every operation, the naive ring) or back on."""
        _set_cache(self._handle(self.role), int(bool(enabled)))

    def _handle(self, role: str) -> int:
        if self._h is None:
            raise errors.closed(self.name)
        if self.role != role:
            self._check_role(role)
        return self._h

    def _fail(self, rc: int, what: str) -> Exception:
        if rc == _lib.LL_ETIMEDOUT:
            return errors.peer_timeout(f"ring {self.name!r} {what}")
        if rc == _lib.LL_EPEERDEAD:
            return self._peer_error("dead")
        if rc == _lib.LL_ECLOSED:
            return self._peer_error("closed")
        return _lib.error(rc, f"ring {self.name!r} {what}")

    # --------------------------------------------------------- producer
    def push(self, msg) -> bool:
        h = self._handle("producer")
        data = bytes(self._check_msg(msg))
        return _push(h, data, len(data)) == 1

    def push_many(self, msgs) -> int:
        h = self._handle("producer")
        arr = self._check_batch(msgs)
        return _push_many(h, arr.ctypes.data, len(arr))

    def push_wait(self, msg, timeout: float = 1.0) -> None:
        h = self._handle("producer")
        data = bytes(self._check_msg(msg))
        rc = _push_wait(h, data, len(data), _ns(timeout))
        if rc != 1:
            raise self._fail(rc, "producer waiting for space")

    # --------------------------------------------------------- consumer
    def pop(self) -> bytes | None:
        h = self._handle("consumer")
        return self._out.raw if _pop(h, self._out) == 1 else None

    def pop_many(self, max_n: int, dtype=None) -> np.ndarray:
        h = self._handle("consumer")
        dt = self._dtype(dtype)
        if not isinstance(max_n, int) or max_n < 0:
            raise ValueError(f"max_n must be a non-negative integer, got {max_n!r}")
        room = min(max_n, self.capacity)  # never more than the ring holds
        out = np.empty(room * self.slot_size, dtype=np.uint8)
        k = _pop_many(h, out.ctypes.data, room)
        return out[: k * self.slot_size].view(dt)

    def pop_wait(self, timeout: float = 1.0) -> bytes:
        h = self._handle("consumer")
        rc = _pop_wait(h, self._out, _ns(timeout))
        if rc != 1:
            raise self._fail(rc, "consumer waiting for a message")
        return self._out.raw


_produce = _sig("ll_ring_produce_seq", c_int64, c_void_p, c_uint64, c_uint64, c_uint32, c_uint64)
_consume = _sig("ll_ring_consume_seq", c_int64, c_void_p, c_uint64, c_uint64, c_uint32, c_uint64, POINTER(c_uint64))


def _check_stream(ring: Ring, role: str, batch: int) -> int:
    h = ring._handle(role)
    if ring.slot_size < 16:
        raise ValueError(f"sequenced streams need slots of at least 16 bytes, this ring has {ring.slot_size}")
    if not isinstance(batch, int) or not 1 <= batch <= ring.capacity:
        raise ValueError(f"batch must be in 1..{ring.capacity} (the capacity), got {batch!r}")
    return h


def produce_seq(ring: Ring, start: int, n: int, batch: int = 1, timeout: float = 5.0) -> int:
    """Push messages start..start+n-1 in C (pyimpl.spsc_ring.produce_seq's
    layout); returns the elapsed ns, timed inside C."""
    h = _check_stream(ring, "producer", batch)
    _check_count(n)
    rc = _produce(h, start, n, batch, _ns(timeout))
    if rc < 0:
        raise ring._fail(rc, "producer waiting for space")
    return rc


def consume_seq(ring: Ring, start: int, n: int, batch: int = 1, timeout: float = 5.0) -> tuple[int, int]:
    """Pop and check n messages in C; returns (elapsed ns, messages not as expected)."""
    h = _check_stream(ring, "consumer", batch)
    _check_count(n)
    bad = c_uint64(0)
    rc = _consume(h, start, n, batch, _ns(timeout), ctypes.byref(bad))
    if rc < 0:
        raise ring._fail(rc, "consumer waiting for a message")
    return rc, bad.value


_pingpong = _sig("ll_ring_pingpong", c_int, c_void_p, c_void_p, c_uint64, c_void_p, c_uint64)
_echo = _sig("ll_ring_echo", c_int, c_void_p, c_void_p, c_uint64, c_uint64)


def pingpong(out: Ring, inbound: Ring, n: int, timeout: float = 5.0) -> np.ndarray:
    """n round trips: push on `out` (producer end), wait for the echo on
    `inbound` (consumer end); returns each round trip in ns, timed in C."""
    ho, hi = _check_stream(out, "producer", 1), _check_stream(inbound, "consumer", 1)
    rtt = np.zeros(n, dtype=np.int64)
    rc = _pingpong(ho, hi, n, rtt.ctypes.data, _ns(timeout))
    if rc != 0:
        raise out._fail(rc, "ping-pong")
    return rtt


def echo(inbound: Ring, out: Ring, n: int, timeout: float = 5.0) -> int:
    """The other end of pingpong: n times pop from `inbound`, push it back on `out`."""
    hi, ho = _check_stream(inbound, "consumer", 1), _check_stream(out, "producer", 1)
    rc = _echo(hi, ho, n, _ns(timeout))
    if rc != 0:
        raise inbound._fail(rc, "echo")
    return n
