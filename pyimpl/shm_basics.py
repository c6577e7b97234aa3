"""Lab 1, pure Python: POSIX shared memory and a seqlock-protected quote.

The same API as `cimpl.shm_basics`, over the same bytes (the layout is defined
once, in cimpl/shm_layout.h; tests check the constants below against the C
library).  Read this side by side with cimpl/shm_basics.c.

Why not `multiprocessing.shared_memory`?  Before Python 3.13 it registers every
segment it *attaches* with the resource tracker, which unlinks the segment when
the attaching process exits - under the feet of the process that owns it.  We
open /dev/shm ourselves with O_CREAT|O_EXCL, mode 0600, and own our segments.

Memory ordering from Python.  Python has no atomics or fences; what makes the
seqlock below correct is (1) the sequence number is read and written with one
aligned 8-byte load/store - an item of a memoryview cast to 'Q' is copied with
a memcpy of 8 bytes, which compiles to a single mov (struct's standard-size
'<Q' would store it byte by byte) - while the quote's fields may be copied any
way at all, since a torn copy is caught by the sequence check; and (2) x86-64's
TSO model, which keeps stores in program order and loads in program order.
Each store or load is a separate C call inside the interpreter, so the
compiler cannot reorder them either.  On ARM (weaker ordering) this Python
seqlock would need fences Python cannot express; the C one is portable.
"""

from __future__ import annotations

import fcntl
import functools
import mmap
import os
import re
import stat
import struct
import time
from typing import NamedTuple

import numpy as np

from . import errors

# --------------------------------------------------------------- layout
# Mirrors cimpl/shm_layout.h.  tests/test_shm_basics.py::test_layout_matches_c
# compares every number here with the compiled C library's.
SHM_DIR = "/dev/shm"
PREFIX = "latencylab-"
NAME_MAX = 63
MAX_PAYLOAD = errors.MAX_PAYLOAD
HEADER_SIZE = 128
MAGIC = 0x314D48534C4C4C4C  # b"LLLLSHM1" as a little-endian u64
VERSION = 1
KIND_ANY, KIND_RAW, KIND_QUOTE, KIND_COUNTERS, KIND_RING, KIND_CONTROL = 0, 1, 2, 3, 4, 5
# Open-file-description locks on bytes of the file say who holds a segment
# (cimpl/shm_layout.h): every open Segment holds a read lock on this byte
LOCK_ATTACHED = 2
LOCK_BYTES = 3  # bytes [0, 3) carry locks (a ring's roles take 0 and 1)

# magic u64 | version u32 | header_size u32 | payload_size u64 | kind u32 | creator_pid u32
_HEADER = struct.Struct("<QIIQII")
_HDR_VERSION_OFF = 8  # the header after the magic, written before it

# The quote slot: seq u64 at 0, then the fields at 8 (native = memcpy per field).
_SEQ_OFF = 0
# instrument, (4 reserved bytes: 'x' pads are skipped), bid, ask, bid_size, ask_size, ts_ns:
# unpacking gives the Quote's six fields in order, packing takes them.
_FIELDS = struct.Struct("@I4xqqIIQ")
_FIELDS_OFF = 8
SLOT_SIZE = 64
# The channel: quote slot padded to 128 bytes, then the reader's ack line.
CHANNEL_SIZE = 256
ACK_OFF = 128
READY_OFF = 136

_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}\Z")


class Quote(NamedTuple):
    """A top-of-book quote.  Prices are integer ticks (1/10000 of a unit)."""

    instrument: int
    bid: int
    ask: int
    bid_size: int
    ask_size: int
    ts_ns: int


def check_name(name: object) -> str:
    """Return `name` if it is a valid segment name, else raise ValueError."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise errors.bad_name(name)
    return name


_QUOTE_RANGES = (
    ("instrument", 0, 2**32 - 1),
    ("bid", -(2**63), 2**63 - 1),
    ("ask", -(2**63), 2**63 - 1),
    ("bid_size", 0, 2**32 - 1),
    ("ask_size", 0, 2**32 - 1),
    ("ts_ns", 0, 2**64 - 1),
)


# tuple -> Quote at C speed (what Quote._make does, minus a Python-level call)
_make_quote = functools.partial(tuple.__new__, Quote)


def check_quote(quote: object) -> None:
    """Raise ValueError naming the first field of `quote` that does not fit its C type."""
    if not isinstance(quote, tuple) or len(quote) != len(_QUOTE_RANGES):
        raise ValueError(f"a quote is a tuple of {len(_QUOTE_RANGES)} integers {Quote._fields}, got {quote!r}")
    for (field, lo, hi), v in zip(_QUOTE_RANGES, quote):
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise ValueError(f"quote field {field}={v!r} is not an integer in [{lo}, {hi}]")


def pack_quote(quote: Quote) -> bytes:
    """The 40 bytes of struct ll_quote for `quote`; ValueError naming a field that does not fit."""
    try:
        return _FIELDS.pack(*quote)  # struct checks the count, the types and every range
    except (struct.error, TypeError):
        check_quote(quote)  # raises, naming the field
        raise


def unpack_quote(buf, offset: int = 0) -> Quote:
    """The Quote in the 40 bytes of struct ll_quote at buf[offset:]."""
    return _make_quote(_FIELDS.unpack_from(buf, offset))


def pid_alive(pid: int) -> bool:
    """The process exists and is not dead (the same test as C's ll_pid_alive in
    cimpl/common.c): segments record their creator, rings their producer and
    consumer, and a pid that is gone frees what it held."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # a zombie leader whose other threads are still exiting (and still hold
        # the process's files and role locks) is not dead yet: fields[17] is num_threads
        return fields[0] not in ("Z", "X") or int(fields[17]) > 1
    except (OSError, IndexError, ValueError):
        return True


# struct flock on Linux x86-64/arm64: l_type, l_whence (short), l_start, l_len (off_t), l_pid (int), padding
_FLOCK = struct.Struct("hhqqi4x")


def ofd_lock(fd: int, start: int, length: int, exclusive: bool) -> bool:
    """Take an open-file-description lock (F_OFD_SETLK, cimpl/common.c:ll_ofd_lock)
    on bytes [start, start+length) of `fd`'s file without waiting: True if taken,
    False if another open file description holds a conflicting lock."""
    kind = fcntl.F_WRLCK if exclusive else fcntl.F_RDLCK
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _FLOCK.pack(kind, os.SEEK_SET, start, length, 0))
    except (BlockingIOError, PermissionError):  # EAGAIN / EACCES: held by another description
        return False
    return True


def ofd_held(fd: int, start: int, length: int) -> bool:
    """True if another open file description holds a lock on any of bytes
    [start, start+length) of `fd`'s file (cimpl/common.c:ll_ofd_held)."""
    got = fcntl.fcntl(fd, fcntl.F_OFD_GETLK, _FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, start, length, 0))
    return _FLOCK.unpack(got)[0] != fcntl.F_UNLCK


def ofd_reopen(fd: int) -> int:
    """A new open file description of the file `fd` is open on (through
    /proc/self/fd, so an unlinked file works too): what a lock of one's own needs."""
    return os.open(f"/proc/self/fd/{fd}", os.O_RDWR | os.O_CLOEXEC)


def path_of(name: str) -> str:
    """/dev/shm/latencylab-<name>: where the segment lives."""
    return os.path.join(SHM_DIR, PREFIX + check_name(name))


def unlink(name: str) -> None:
    """Remove a segment's name (processes that mapped it keep their mapping)."""
    os.unlink(path_of(name))


class SegmentAPI:
    """What both implementations' Segment share: the facts read from the
    header, the bounds check, unlink and the `with` protocol.  A subclass sets
    _name, _owner, _payload_size, _kind and _creator_pid, and implements
    create, attach, close, closed, read, write and _check_open."""

    _impl = "?"
    _unlink = staticmethod(unlink)

    @property
    def name(self) -> str:
        return self._name

    @property
    def size(self) -> int:
        """Payload size in bytes (the header is not counted)."""
        return self._payload_size

    @property
    def kind(self) -> int:
        return self._kind

    @property
    def creator_pid(self) -> int:
        return self._creator_pid

    @property
    def owner(self) -> bool:
        """True if this object created the segment (and so unlinks it on `with` exit)."""
        return self._owner

    def _check_range(self, offset: int, length: int) -> None:
        self._check_open()
        if offset < 0 or length < 0 or offset + length > self._payload_size:
            raise ValueError(
                f"range [{offset}, {offset + length}) is outside segment {self._name!r} of {self._payload_size} bytes"
            )

    def unlink(self) -> None:
        """Remove the segment's name.  The mapping stays usable until close()."""
        self._unlink(self._name)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.close()
        finally:  # unlink even if close() failed: never leave the name in /dev/shm
            if self._owner:
                try:
                    self.unlink()
                except FileNotFoundError:
                    pass  # already unlinked

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self._payload_size} bytes"
        return f"<{self._impl} Segment {self._name!r} {state}>"


class SegmentHolder:
    """An object that lives in one segment (`self.segment`) and closes,
    unlinks and leaves a `with` block through it.  Later labs' objects
    (lab 2's Counters, ...) use it too."""

    segment: SegmentAPI

    def close(self) -> None:
        self.segment.close()

    def unlink(self) -> None:
        self.segment.unlink()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.segment.__exit__(*exc)


class SharedQuoteAPI(SegmentHolder):
    """What both implementations' SharedQuote share.  A subclass sets _Segment
    (its Segment class) and implements __init__, seq, write and read_with_seq."""

    _Segment: type

    @classmethod
    def create(cls, name: str):
        """A new quote segment /dev/shm/latencylab-<name>."""
        return cls(cls._Segment.create(name, CHANNEL_SIZE, KIND_QUOTE))

    @classmethod
    def attach(cls, name: str):
        """An existing quote segment (LayoutError if it holds something else)."""
        return cls(cls._Segment.attach(name, KIND_QUOTE))

    def read(self, timeout: float = 1.0) -> Quote:
        """A consistent quote; TimeoutError if it stays mid-write past `timeout` s."""
        return self.read_with_seq(timeout)[1]


class Segment(SegmentAPI):
    """A named POSIX shared-memory segment: a 128-byte header, then the payload.

    Use `Segment.create(name, size)` or `Segment.attach(name)`, ideally in a
    `with` block: leaving it closes the mapping, and unlinks the segment if this
    object created it.
    """

    _impl = "pyimpl"

    def __init__(self, name: str, mm: mmap.mmap, fd: int, owner: bool) -> None:
        self._name = name
        self._mm = mm
        self._fd = fd  # kept open: it holds the "attached" lock until close()
        self._owner = owner
        self._views: list[memoryview] = []  # released on close, so close never leaves a dangling view
        self._usable = True  # False once close() has released the views
        hdr = _HEADER.unpack_from(mm, 0)
        self._payload_size = hdr[3]
        self._kind = hdr[4]
        self._creator_pid = hdr[5]
        self._buf = self._view(0, self._payload_size)

    # ---------------------------------------------------------- creating
    @classmethod
    def create(cls, name: str, size: int, kind: int = KIND_RAW) -> Segment:
        """Create a new segment of `size` payload bytes.  FileExistsError if the name is taken."""
        path = path_of(name)
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= MAX_PAYLOAD:
            raise errors.bad_size(size)
        if kind == KIND_QUOTE and size != CHANNEL_SIZE:
            raise errors.bad_size(size, "quote segment size")
        # O_EXCL: never adopt an existing file (a stale segment, or a trap).
        # O_NOFOLLOW: never follow a symlink planted under our name.  0600: ours alone.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.ftruncate(fd, HEADER_SIZE + size)  # tmpfs zero-fills: the magic reads 0 for now
            ofd_lock(fd, LOCK_ATTACHED, 1, exclusive=False)  # nobody takes a write lock on it: never refused
            mm = mmap.mmap(fd, HEADER_SIZE + size)
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        # The header after the magic first, the magic last: an attacher that
        # sees the magic sees a complete header (x86-64 keeps stores in order).
        _HEADER.pack_into(mm, 0, 0, VERSION, HEADER_SIZE, size, kind, os.getpid())
        struct.pack_into("@Q", mm, 0, MAGIC)
        return cls(name, mm, fd, owner=True)

    @classmethod
    def attach(cls, name: str, kind: int = KIND_ANY) -> Segment:
        """Map an existing segment after checking its header.  FileNotFoundError if absent."""
        path = path_of(name)
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size < HEADER_SIZE:
                raise errors.not_ours(name)
            ofd_lock(fd, LOCK_ATTACHED, 1, exclusive=False)
            mm = mmap.mmap(fd, st.st_size)
        except BaseException:
            os.close(fd)
            raise
        try:
            magic, version, header_size, payload_size, found_kind, _pid = _HEADER.unpack_from(mm, 0)
            if magic != MAGIC:
                raise errors.not_ours(name)
            if version != VERSION:
                raise errors.bad_version(name, version)
            if header_size != HEADER_SIZE or not 0 < payload_size <= MAX_PAYLOAD or st.st_size != HEADER_SIZE + payload_size:
                raise errors.bad_layout(name)
            if kind != KIND_ANY and found_kind != kind:
                raise errors.bad_kind(name, kind, found_kind)
            if found_kind == KIND_QUOTE and payload_size != CHANNEL_SIZE:
                raise errors.bad_layout(name)
        except BaseException:
            mm.close()
            os.close(fd)
            raise
        return cls(name, mm, fd, owner=False)

    # ----------------------------------------------------------- access
    @property
    def closed(self) -> bool:
        return not self._usable

    @property
    def fd(self) -> int:
        """The segment's open file (a ring end opens its own description of it for its role lock)."""
        self._check_open()
        return self._fd

    @property
    def buf(self) -> memoryview:
        """The payload as a writable memoryview (pure-Python side only; released on close)."""
        self._check_open()
        return self._buf

    def read(self, offset: int, length: int) -> bytes:
        """Copy `length` payload bytes starting at `offset`."""
        self._check_range(offset, length)
        return bytes(self._buf[offset : offset + length])

    def write(self, offset: int, data: bytes) -> None:
        """Copy `data` into the payload at `offset`."""
        self._check_range(offset, len(data))
        self._buf[offset : offset + len(data)] = data

    def _view(self, offset: int, length: int, fmt: str = "B") -> memoryview:
        """A view of payload bytes, cast to `fmt`; tracked so close() can release it."""
        self._check_open()
        v = memoryview(self._mm)[HEADER_SIZE + offset : HEADER_SIZE + offset + length].cast(fmt)
        self._views.append(v)
        return v

    def _check_open(self) -> None:
        if not self._usable:  # closed, or a close() that could not unmap yet
            raise errors.closed(self._name)

    # -------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Unmap.  Idempotent.

        Raises BufferError while something made from `.buf` (a slice, a NumPy
        array, a ctypes object) is still alive: the mapping cannot be unmapped
        under it.  The segment is then closed for use, and calling close()
        again once those objects are gone finishes the unmap."""
        if self._mm is None:
            return
        if self._usable:
            try:
                self._buf.release()  # first: what users derive from; if it is exported, nothing changes
            except BufferError:
                raise BufferError(
                    f"segment {self._name!r} is still in use by an object holding its .buf: delete it before close()"
                ) from None
            for v in self._views:
                v.release()  # our own casts: never exported
            self._views.clear()
            self._usable = False
        try:
            self._mm.close()
        except BufferError:
            raise BufferError(
                f"segment {self._name!r} cannot be unmapped while an object made from its .buf "
                "(a slice, a NumPy array) is alive: delete it, then call close() again"
            ) from None
        self._mm = None
        os.close(self._fd)  # drops the "attached" lock
        self._fd = -1


class SharedQuote(SharedQuoteAPI):
    """A top-of-book quote in shared memory, protected by a seqlock.

    One writer (`write`), any number of readers in any process (`read`).
    A reader never returns a torn quote: it retries while a write overlaps.
    """

    _Segment = Segment

    def __init__(self, segment: Segment) -> None:
        if segment.kind != KIND_QUOTE:
            raise errors.bad_kind(segment.name, KIND_QUOTE, segment.kind)
        self.segment = segment
        self._name = segment.name
        self._buf = segment.buf
        # one-item u64 views: item get/set is one aligned 8-byte load/store
        self._seq = segment._view(_SEQ_OFF, 8, "Q")
        self._ack = segment._view(ACK_OFF, 8, "Q")
        self._ready = segment._view(READY_OFF, 8, "Q")

    @property
    def seq(self) -> int:
        """The sequence number: 2 x the number of completed writes (odd mid-write)."""
        self.segment._check_open()
        return self._seq[0]

    def write(self, quote: Quote) -> None:
        """Publish a quote (single writer).  seq goes odd, fields, seq goes even."""
        seq = self._seq
        try:
            s = seq[0]
        except ValueError:  # the views are released once the segment is closed
            self.segment._check_open()
            raise
        fields = pack_quote(quote)  # first: a bad field must not leave seq odd
        seq[0] = s + 1
        self._buf[_FIELDS_OFF : _FIELDS_OFF + _FIELDS.size] = fields
        seq[0] = s + 2

    def read_with_seq(self, timeout: float = 1.0) -> tuple[int, Quote]:
        """Like read(), also returning the sequence number the quote was published under."""
        seq, buf, unpack, make = self._seq, self._buf, _FIELDS.unpack_from, _make_quote
        tries = 0
        deadline = None
        while True:
            try:
                s1 = seq[0]
            except ValueError:  # the views are released once the segment is closed
                raise errors.closed(self._name) from None
            if not s1 & 1:
                q = make(unpack(buf, _FIELDS_OFF))
                if seq[0] == s1:  # nobody wrote meanwhile: q is one whole quote
                    return s1, q
            tries += 1
            if tries & 1023 == 0:  # a writer killed mid-write leaves seq odd for ever
                now = time.monotonic()
                if deadline is None:
                    deadline = now + timeout
                elif now > deadline:
                    raise errors.stuck_writer(self._name)


# ----------------------------------------------------------- benchmarks
# The same kernels as cimpl's, in Python: what a Python user pays per call.


def bench_access(q: SharedQuote, n: int) -> int:
    """n x (one write + one read) of the quote; returns elapsed ns."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    quote = Quote(7, 1_000_000, 1_000_100, 100, 200, 0)
    write, read = q.write, q.read
    t0 = time.perf_counter_ns()
    for _ in range(n):
        write(quote)
        read()
    return time.perf_counter_ns() - t0


def visibility_writer(q: SharedQuote, n: int, gap_ns: int = 2000, timeout: float = 5.0) -> None:
    """Writer side of the visibility benchmark (see cimpl/shm_basics.c:ll_vis_writer)."""
    if n <= 0 or gap_ns < 0 or timeout <= 0:
        raise ValueError("visibility_writer: n and timeout must be positive, gap_ns >= 0")
    q.segment._check_open()
    now = time.monotonic_ns
    limit = int(timeout * 1e9)
    ack, ready, seq = q._ack, q._ready, q._seq
    t = now()
    while not ready[0]:
        if now() - t > limit:
            raise errors.peer_timeout("visibility writer waiting for the reader to start")
    write = q.write
    for i in range(n):
        t = now()
        write(Quote(1, 1_000_000 + i, 1_000_100 + i, 100, 100, t))
        want = seq[0]
        while ack[0] != want:
            if now() - t > limit:
                raise errors.peer_timeout("visibility writer waiting for an ack")
        until = now() + gap_ns
        while now() < until:
            pass


def visibility_reader(q: SharedQuote, n: int, timeout: float = 5.0) -> np.ndarray:
    """Reader side: one-way latency (ns) of each of n quotes, stamped by the writer."""
    if n <= 0 or timeout <= 0:
        raise ValueError("visibility_reader: n and timeout must be positive")
    q.segment._check_open()
    now = time.monotonic_ns
    limit = int(timeout * 1e9)
    lat = np.empty(n, dtype=np.int64)
    seq, ack = q._seq, q._ack
    read = q.read_with_seq
    last = seq[0]
    q._ready[0] = 1
    for i in range(n):
        t_wait = now()
        spins = 0
        while True:
            s = seq[0]
            if s != last and not s & 1:
                break
            spins += 1
            if spins & 255 == 0 and now() - t_wait > limit:
                raise errors.peer_timeout("visibility reader waiting for a quote")
        s, quote = read(timeout)
        lat[i] = now() - quote.ts_ns
        last = s
        ack[0] = s
    return lat
