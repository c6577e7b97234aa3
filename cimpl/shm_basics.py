"""Lab 1, C: ctypes bindings to libshm_basics.so (cimpl/shm_basics.c).

The same API as `pyimpl.shm_basics`: `Segment`, `SharedQuote`, `unlink`, and
the benchmark kernels `bench_access`, `visibility_writer`, `visibility_reader`.
The kernels run their loops inside C; only the result crosses into Python.

ctypes rules followed here: every function gets argtypes and restype (the
default restype is a C int, which would truncate a pointer or an int64), and
hot calls take the raw address as a plain int (cached), not a ctypes object.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, c_char_p, c_int, c_int64, c_uint32, c_uint64, c_void_p

import numpy as np

from pyimpl import errors
from pyimpl.shm_basics import (  # the API's value types and layout constants are shared
    CHANNEL_SIZE,
    HEADER_SIZE,
    KIND_ANY,
    KIND_QUOTE,
    KIND_RAW,
    MAX_PAYLOAD,
    NAME_MAX,
    PREFIX,
    Quote,
    SegmentAPI,
    SharedQuoteAPI,
    pack_quote,
    path_of,
    unpack_quote,
)

from . import _lib

__all__ = [
    "CHANNEL_SIZE", "HEADER_SIZE", "KIND_ANY", "KIND_QUOTE", "KIND_RAW", "MAX_PAYLOAD", "NAME_MAX", "PREFIX",
    "Quote", "Segment", "SharedQuote", "bench_access", "path_of", "unlink", "visibility_reader", "visibility_writer",
]



def _sig(name: str, restype, *argtypes):
    return _lib.bind("shm_basics", name, restype, *argtypes)


_create = _sig("ll_seg_create", c_void_p, c_char_p, c_uint64, c_uint32, POINTER(c_int))
_attach = _sig("ll_seg_attach", c_void_p, c_char_p, c_uint32, POINTER(c_int))
_payload = _sig("ll_seg_payload", c_void_p, c_void_p)
_payload_size = _sig("ll_seg_payload_size", c_uint64, c_void_p)
_kind = _sig("ll_seg_kind", c_uint32, c_void_p)
_creator_pid = _sig("ll_seg_creator_pid", c_uint32, c_void_p)
_fd = _sig("ll_seg_fd", c_int, c_void_p)
_read = _sig("ll_seg_read", c_int, c_void_p, c_uint64, c_void_p, c_uint64)
_write = _sig("ll_seg_write", c_int, c_void_p, c_uint64, c_char_p, c_uint64)
_close = _sig("ll_seg_close", c_int, c_void_p)
_unlink = _sig("ll_seg_unlink", c_int, c_char_p)
# struct ll_quote crosses as the 40 bytes pyimpl.shm_basics.pack_quote makes
_quote_store = _sig("ll_quote_store", None, c_void_p, c_char_p)
_quote_read = _sig("ll_quote_read", c_int, c_void_p, c_void_p, POINTER(c_uint64), c_uint64)
_quote_seq = _sig("ll_quote_seq", c_uint64, c_void_p)
_bench_access = _sig("ll_bench_access", c_int64, c_void_p, c_int64)
_vis_writer = _sig("ll_vis_writer", c_int, c_void_p, c_int64, c_int64, c_int64)
_vis_reader = _sig("ll_vis_reader", c_int, c_void_p, c_int64, c_void_p, c_int64)
layout_info = _sig("ll_layout_info", c_int64, c_char_p)


def _ns(timeout: float) -> int:
    """A timeout in seconds as int64 ns for C: at least 1 ns when positive, at
    most 2**62 (ctypes would wrap an overflow; inf means "for ever")."""
    if timeout <= 0:
        return 0
    return 2**62 if timeout * 1e9 >= 2**62 else max(1, int(timeout * 1e9))


def _encode_name(name: object) -> bytes:
    if not isinstance(name, str):
        raise errors.bad_name(name)
    try:
        raw = name.encode("ascii")
    except UnicodeEncodeError:
        raise errors.bad_name(name) from None
    if b"\0" in raw:  # C would stop at the NUL and see another name
        raise errors.bad_name(name)
    return raw


def unlink(name: str) -> None:
    """Remove a segment's name (processes that mapped it keep their mapping)."""
    _lib.check(_unlink(_encode_name(name)), name)


class Segment(SegmentAPI):
    """A named POSIX shared-memory segment, created and mapped by C."""

    _impl = "cimpl"
    _unlink = staticmethod(unlink)  # the C one

    def __init__(self, name: str, handle: int, owner: bool) -> None:
        self._name = name
        self._h = handle
        self._owner = owner
        self._address = _payload(handle)
        self._payload_size = _payload_size(handle)
        self._kind = _kind(handle)
        self._creator_pid = _creator_pid(handle)

    @classmethod
    def create(cls, name: str, size: int, kind: int = KIND_RAW) -> Segment:
        raw = _encode_name(name)
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_PAYLOAD:
            raise errors.bad_size(size)  # before C: c_uint64 would wrap a negative size
        err = c_int(0)
        h = _create(raw, size, kind, ctypes.byref(err))
        if not h:
            if err.value == _lib.LL_EBADSIZE:
                raise errors.bad_size(size, "quote segment size")
            raise _lib.error(err.value, name)
        return cls(name, h, owner=True)

    @classmethod
    def attach(cls, name: str, kind: int = KIND_ANY) -> Segment:
        err = c_int(0)
        h = _attach(_encode_name(name), kind, ctypes.byref(err))
        if not h:
            raise _lib.error(err.value, name)
        return cls(name, h, owner=False)

    @property
    def closed(self) -> bool:
        return self._h is None

    @property
    def fd(self) -> int:
        """The segment's open file, held by C (a ring end opens its own description of it for its role lock)."""
        self._check_open()
        return _fd(self._h)

    @property
    def address(self) -> int:
        """The payload's address in this process, for passing to C (C side only)."""
        self._check_open()
        return self._address

    def read(self, offset: int, length: int) -> bytes:
        self._check_range(offset, length)
        out = ctypes.create_string_buffer(length)
        _lib.check(_read(self._h, offset, out, length), self._name)
        return out.raw

    def write(self, offset: int, data: bytes) -> None:
        self._check_range(offset, len(data))
        _lib.check(_write(self._h, offset, bytes(data), len(data)), self._name)

    def _check_open(self) -> None:
        if self._h is None:
            raise errors.closed(self._name)

    def close(self) -> None:
        """Unmap.  Idempotent."""
        if self._h is None:
            return
        h, self._h = self._h, None
        _lib.check(_close(h), self._name)

    def __del__(self) -> None:
        # A forgotten handle would leak the mapping; never unlink here.
        if getattr(self, "_h", None) is not None:
            _close(self._h)
            self._h = None


class SharedQuote(SharedQuoteAPI):
    """A top-of-book quote in shared memory, protected by a seqlock (in C)."""

    _Segment = Segment

    def __init__(self, segment: Segment) -> None:
        if segment.kind != KIND_QUOTE:
            raise errors.bad_kind(segment.name, KIND_QUOTE, segment.kind)
        self.segment = segment
        self._name = segment.name
        self._slot = segment.address  # the quote slot is the payload's first line
        self._out = ctypes.create_string_buffer(40)  # a struct ll_quote, reused by every read
        self._seq_out = c_uint64()
        self._seq_ref = ctypes.byref(self._seq_out)

    @property
    def seq(self) -> int:
        self.segment._check_open()
        return _quote_seq(self._slot)

    def write(self, quote: Quote) -> None:
        """Publish a quote (single writer): one ctypes call into ll_quote_write."""
        self.segment._check_open()  # a closed segment is unmapped: touching it would crash
        # struct range-checks every field (ctypes would silently truncate)
        _quote_store(self._slot, pack_quote(quote))

    def read_with_seq(self, timeout: float = 1.0) -> tuple[int, Quote]:
        self.segment._check_open()
        rc = _quote_read(self._slot, self._out, self._seq_ref, _ns(timeout))
        if rc == _lib.LL_ETIMEDOUT:
            raise errors.stuck_writer(self._name)
        _lib.check(rc, self._name)
        return self._seq_out.value, unpack_quote(self._out)


# ----------------------------------------------------------- benchmarks


def bench_access(q: SharedQuote, n: int) -> int:
    """n x (one write + one read) of the quote, timed inside C; returns elapsed ns."""
    if not 0 < n <= 2**62:
        raise ValueError(f"n must be in 1..2**62, got {n}")
    q.segment._check_open()
    return _lib.check(_bench_access(q._slot, n), q._name)


def visibility_writer(q: SharedQuote, n: int, gap_ns: int = 2000, timeout: float = 5.0) -> None:
    """Writer side of the visibility benchmark, in C (ll_vis_writer)."""
    if not 0 < n <= 2**62 or not 0 <= gap_ns <= 2**62 or timeout <= 0:
        raise ValueError("visibility_writer: n and timeout must be positive, gap_ns >= 0")
    q.segment._check_open()
    rc = _vis_writer(q._slot, n, gap_ns, _ns(timeout))
    if rc == _lib.LL_ETIMEDOUT:
        raise errors.peer_timeout("visibility writer waiting for the reader")
    _lib.check(rc, q._name)


def visibility_reader(q: SharedQuote, n: int, timeout: float = 5.0) -> np.ndarray:
    """Reader side, in C (ll_vis_reader): one-way latency (ns) of each of n quotes."""
    if not 0 < n <= 2**62 or timeout <= 0:
        raise ValueError("visibility_reader: n and timeout must be positive")
    q.segment._check_open()
    lat = np.empty(n, dtype=np.int64)
    rc = _vis_reader(q._slot, n, lat.ctypes.data, _ns(timeout))
    if rc == _lib.LL_ETIMEDOUT:
        raise errors.peer_timeout("visibility reader waiting for a quote")
    _lib.check(rc, q._name)
    return lat
