"""Lab 3, C: ctypes bindings to libspsc_ring.so (cimpl/spsc_ring.c).

The same API as `pyimpl.spsc_ring`, whose RingAPI does the creating,
attaching and validation for both, and whose check_stream is the one Python
rule for a stream's arguments.  Here each operation is one ctypes call into
C, the batch calls move a whole NumPy array in one call, and the role is
claimed by ll_ring_open in C (the same lock the pure-Python ring takes).

Which C functions an end calls is decided once, when it opens: the ring's
flavour picks ll_ring_push (index) or ll_seqring_push (seq-slot), and
cached_index=False loads libspsc_ring_nocache.so, the second build of the same
source with the cached index compiled out.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, c_char_p, c_int, c_int64, c_uint32, c_uint64, c_void_p
from types import SimpleNamespace

import numpy as np

from pyimpl import errors
from pyimpl.spsc_ring import (
    FLAVOURS,
    HEARTBEAT_EVERY,
    MAX_CAPACITY,
    MAX_SLOT,
    MIN_SLOT,
    ROLES,
    SEQ_BYTES,
    RingAPI,
    check_geometry,
    check_stream,
    msg_size_of,
    ring_bytes,
)

from . import _lib, shm_basics

__all__ = ["FLAVOURS", "HEARTBEAT_EVERY", "MAX_CAPACITY", "MAX_SLOT", "MIN_SLOT", "ROLES", "SEQ_BYTES", "Ring",
           "check_geometry", "check_stream", "consume_seq", "echo", "layout_info", "msg_size_of", "pingpong",
           "produce_seq", "recv_stamped", "ring_bytes", "send_stamped"]


def _functions(lib: str) -> SimpleNamespace:
    """Every function of one build of the ring (libspsc_ring or libspsc_ring_nocache)."""
    def sig(name, restype, *argtypes):
        return _lib.bind(lib, name, restype, *argtypes)

    return SimpleNamespace(
        cached=sig("ll_ring_cached_index", c_int)(),
        open=sig("ll_ring_open", c_void_p, c_void_p, c_uint64, c_int, c_int, POINTER(c_int)),
        close=sig("ll_ring_close", None, c_void_p),
        index=SimpleNamespace(  # the flavours' own operations
            push=sig("ll_ring_push", c_int, c_void_p, c_char_p, c_uint32),
            pop=sig("ll_ring_pop", c_int, c_void_p, c_void_p),
            push_many=sig("ll_ring_push_many", c_int64, c_void_p, c_void_p, c_uint64),
            pop_many=sig("ll_ring_pop_many", c_int64, c_void_p, c_void_p, c_uint64),
        ),
        seq=SimpleNamespace(
            push=sig("ll_seqring_push", c_int, c_void_p, c_char_p, c_uint32),
            pop=sig("ll_seqring_pop", c_int, c_void_p, c_void_p),
            push_many=sig("ll_seqring_push_many", c_int64, c_void_p, c_void_p, c_uint64),
            pop_many=sig("ll_seqring_pop_many", c_int64, c_void_p, c_void_p, c_uint64),
        ),
        push_wait=sig("ll_ring_push_wait", c_int, c_void_p, c_char_p, c_uint32, c_uint64),
        pop_wait=sig("ll_ring_pop_wait", c_int, c_void_p, c_void_p, c_uint64),
        check_stream=sig("ll_ring_check_stream", c_int, c_void_p, c_int, c_uint64, c_uint64, c_uint32),
        produce=sig("ll_ring_produce_seq", c_int64, c_void_p, c_uint64, c_uint64, c_uint32, c_uint64),
        consume=sig("ll_ring_consume_seq", c_int64, c_void_p, c_uint64, c_uint64, c_uint32, c_uint64,
                    POINTER(c_uint64)),
        pingpong=sig("ll_ring_pingpong", c_int, c_void_p, c_void_p, c_uint64, c_void_p, c_uint64),
        echo=sig("ll_ring_echo", c_int, c_void_p, c_void_p, c_uint64, c_uint64),
        send_stamped=sig("ll_ring_send_stamped", c_int, c_void_p, c_uint64, c_uint64, c_uint64),
        recv_stamped=sig("ll_ring_recv_stamped", c_int, c_void_p, c_uint64, c_void_p, c_uint64),
    )


_BUILDS: dict[bool, SimpleNamespace] = {}


def _build(cached: bool) -> SimpleNamespace:
    if cached not in _BUILDS:
        fns = _functions("spsc_ring" if cached else "spsc_ring_nocache")
        if fns.cached != int(cached):  # a library that is not the build its name says
            raise ImportError(f"libspsc_ring{'' if cached else '_nocache'}.so reports cached_index={fns.cached}")
        _BUILDS[cached] = fns
    return _BUILDS[cached]


_build(True)  # the headline build loads with the module: a library that does not load is an import error
layout_info = _lib.bind("spsc_ring", "ll_ring_layout_info", c_int64, c_char_p)
_ROLE_CODE = {"producer": 1, "consumer": 2}  # LL_RING_PRODUCER, LL_RING_CONSUMER


def _ns(timeout: float) -> int:
    return 0 if timeout <= 0 else min(max(1, int(timeout * 1e9)), 2**62)


class Ring(RingAPI):
    """One end of an SPSC ring; the ring's code runs in C."""

    _shm = shm_basics  # cimpl.shm_basics: the segment is mapped by C
    _h = None

    def _open_end(self) -> None:
        self._c = c = _build(self.cached_index)
        ops = c.seq if self.flavour == "seq-slot" else c.index
        self._push_fn, self._pop_fn, self._push_many_fn, self._pop_many_fn = ops.push, ops.pop, ops.push_many, ops.pop_many
        err = c_int(0)
        h = c.open(self.segment.address, self.segment.size, self.segment.fd, _ROLE_CODE[self.role], ctypes.byref(err))
        if not h:
            if err.value == _lib.LL_EBUSY:
                raise errors.role_taken(f"ring {self.name!r} {self.role}")
            raise _lib.error(err.value, f"ring {self.name!r} {self.role}")
        self._h = h
        self._out = ctypes.create_string_buffer(self.msg_size)

    def _close_end(self) -> None:
        h, self._h = self._h, None
        self._c.close(h)

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
        return self._push_fn(h, data, len(data)) == 1

    def push_many(self, msgs) -> int:
        h = self._handle("producer")
        arr = self._check_batch(msgs)
        return _lib.check(self._push_many_fn(h, arr.ctypes.data, len(arr)), f"ring {self.name!r} push_many")

    def push_wait(self, msg, timeout: float = 1.0) -> None:
        h = self._handle("producer")
        data = bytes(self._check_msg(msg))
        rc = self._c.push_wait(h, data, len(data), _ns(timeout))
        if rc != 1:
            raise self._fail(rc, "producer waiting for space")

    # --------------------------------------------------------- consumer
    def pop(self) -> bytes | None:
        h = self._handle("consumer")
        return self._out.raw if self._pop_fn(h, self._out) == 1 else None

    def pop_many(self, max_n: int, dtype=None, out=None) -> np.ndarray:
        h = self._handle("consumer")
        dt, room = self._dtype(dtype), self._check_max(max_n)
        flat = self._out_array(room, out)
        k = _lib.check(self._pop_many_fn(h, flat.ctypes.data, room), f"ring {self.name!r} pop_many")
        return flat[: k * self.msg_size].view(dt)

    def pop_wait(self, timeout: float = 1.0) -> bytes:
        h = self._handle("consumer")
        rc = self._c.pop_wait(h, self._out, _ns(timeout))
        if rc != 1:
            raise self._fail(rc, "consumer waiting for a message")
        return self._out.raw


def _stream_handle(ring: Ring, role: str, start: int, n: int, batch: int) -> int:
    """The end's handle, after the Python rule for a stream's arguments (its
    messages name the problem; C checks the same rule again, and a test holds
    the two to agreement: tests/test_spsc_ring.py::test_stream_rules_agree)."""
    h = ring._handle(role)
    check_stream(ring, role, start, n, batch)
    return h


def c_check_stream(ring: Ring, role: str, start: int, n: int, batch: int) -> int:
    """C's own rule (ll_ring_check_stream) for the same arguments: 0 or a negative error."""
    return ring._c.check_stream(ring._handle(ring.role), _ROLE_CODE[role], start, n, batch)


def produce_seq(ring: Ring, start: int, n: int, batch: int = 1, timeout: float = 5.0) -> int:
    """Push messages start..start+n-1 in C (pyimpl.spsc_ring.produce_seq's
    layout); returns the elapsed ns, timed inside C."""
    h = _stream_handle(ring, "producer", start, n, batch)
    rc = ring._c.produce(h, start, n, batch, _ns(timeout))
    if rc < 0:
        raise ring._fail(rc, "producer waiting for space")
    return rc


def consume_seq(ring: Ring, start: int, n: int, batch: int = 1, timeout: float = 5.0) -> tuple[int, int]:
    """Pop and check n messages in C; returns (elapsed ns, messages not as expected)."""
    h = _stream_handle(ring, "consumer", start, n, batch)
    bad = c_uint64(0)
    rc = ring._c.consume(h, start, n, batch, _ns(timeout), ctypes.byref(bad))
    if rc < 0:
        raise ring._fail(rc, "consumer waiting for a message")
    return rc, bad.value


def _pair(out: Ring, inbound: Ring, n: int) -> tuple[int, int]:
    ho, hi = _stream_handle(out, "producer", 0, n, 1), _stream_handle(inbound, "consumer", 0, n, 1)
    if out.flavour != inbound.flavour or out.msg_size != inbound.msg_size or out._c is not inbound._c:
        raise ValueError("a round trip needs two rings of one flavour, message size and build")
    return ho, hi


def pingpong(out: Ring, inbound: Ring, n: int, timeout: float = 5.0) -> np.ndarray:
    """n round trips: push on `out` (producer end), wait for the echo on
    `inbound` (consumer end); returns each round trip in ns, timed in C.
    CorruptionError if an echo is not the message sent."""
    ho, hi = _pair(out, inbound, n)
    rtt = np.zeros(n, dtype=np.int64)
    rc = out._c.pingpong(ho, hi, n, rtt.ctypes.data, _ns(timeout))
    if rc != 0:
        raise (inbound if rc == _lib.LL_ECORRUPT else out)._fail(rc, "ping-pong")
    return rtt


def echo(inbound: Ring, out: Ring, n: int, timeout: float = 5.0) -> int:
    """The other end of pingpong: n times pop from `inbound`, push it back on `out`."""
    ho, hi = _pair(out, inbound, n)
    rc = inbound._c.echo(hi, ho, n, _ns(timeout))
    if rc != 0:
        raise inbound._fail(rc, "echo")
    return n


def send_stamped(ring: Ring, n: int, gap_ns: int = 2000, timeout: float = 5.0) -> None:
    """One-way latency, producer side, in C (ll_ring_send_stamped)."""
    h = _stream_handle(ring, "producer", 0, n, 1)
    if not isinstance(gap_ns, int) or not 0 <= gap_ns <= 2**62:
        raise ValueError(f"gap_ns must be an integer in 0..2**62, got {gap_ns!r}")
    rc = ring._c.send_stamped(h, n, gap_ns, _ns(timeout))
    if rc != 0:
        raise ring._fail(rc, "stamped sender")


def recv_stamped(ring: Ring, n: int, timeout: float = 5.0) -> np.ndarray:
    """One-way latency, consumer side, in C: now - stamp (ns) for each of n messages."""
    h = _stream_handle(ring, "consumer", 0, n, 1)
    lat = np.zeros(n, dtype=np.int64)
    rc = ring._c.recv_stamped(h, n, lat.ctypes.data, _ns(timeout))
    if rc != 0:
        raise ring._fail(rc, "stamped receiver")
    return lat
