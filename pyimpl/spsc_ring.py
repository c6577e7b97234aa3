"""Lab 3, pure Python: a single-producer/single-consumer ring in shared memory.

The same API and the same bytes as `cimpl.spsc_ring` (layout: cimpl/spsc_layout.h;
algorithm and memory orders: cimpl/spsc_ring.c, read them side by side).  A C
producer can feed a Python consumer and the other way round.

    head  next slot the producer writes - only the producer stores it
    tail  next slot the consumer reads  - only the consumer stores it

Each end keeps its own counter in a local variable and a *cached* copy of the
other side's, re-reading the shared one only when the ring looks full (producer)
or empty (consumer).  Ordering from Python: each counter is one aligned 8-byte
store/load (a memoryview item of format 'Q'), the slot bytes are stored before
head (program order, and x86-64 keeps stores in order), and read before tail
is stored.  On a weakly ordered CPU this Python ring would need fences.

Who may attach: one producer and one consumer.  Each role is an
open-file-description lock (fcntl F_OFD_SETLK) on one byte of the segment's
file: atomic, shared with the C side (cimpl.spsc_ring takes the same locks),
and released by the kernel when the holder dies - so a dead producer's role can
be taken over, while a live one refuses a second producer.
"""

from __future__ import annotations

import fcntl
import os
import struct
import time

import numpy as np

from . import errors, shm_basics

# ------------------------------------------------------------- layout
MAGIC = 0x31474E49524C4C4C  # b"LLLRING1"
VERSION = 1
MIN_SLOT, MAX_SLOT = 8, 65536
MAX_CAPACITY = 1 << 24
HDR_MAGIC, HDR_VERSION, HDR_SLOT_SIZE, HDR_CAPACITY = 0, 8, 12, 16
HDR_PRODUCER_PID, HDR_CONSUMER_PID = 24, 28
PROD_HEAD, PROD_HEARTBEAT, PROD_CLOSED = 128, 136, 144
CONS_TAIL = 256
SLOTS = 384
ROLES = ("producer", "consumer")
_ROLE_PID_OFF = {"producer": HDR_PRODUCER_PID, "consumer": HDR_CONSUMER_PID}
_ROLE_LOCK_BYTE = {"producer": 0, "consumer": 1}  # bytes of the file's segment header, locked, never written

_GEOMETRY = struct.Struct("<IIQ")  # version, slot_size, capacity at HDR_VERSION


def check_geometry(capacity: object, slot_size: object) -> None:
    """ValueError naming a capacity or slot size the ring cannot have."""
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 2 <= capacity <= MAX_CAPACITY \
            or capacity & (capacity - 1):
        raise ValueError(f"ring capacity must be a power of two in 2..{MAX_CAPACITY}, got {capacity!r}")
    if not isinstance(slot_size, int) or isinstance(slot_size, bool) or not MIN_SLOT <= slot_size <= MAX_SLOT \
            or slot_size % 8:
        raise ValueError(f"slot size must be a multiple of 8 in {MIN_SLOT}..{MAX_SLOT} bytes, got {slot_size!r}")
    if ring_bytes(capacity, slot_size) > shm_basics.MAX_PAYLOAD:
        raise ValueError(f"a ring of {capacity} x {slot_size} bytes exceeds the {shm_basics.MAX_PAYLOAD}-byte segment limit")


def ring_bytes(capacity: int, slot_size: int) -> int:
    return SLOTS + capacity * slot_size


class RingAPI(shm_basics.SegmentHolder):
    """What both implementations' Ring share: creating and attaching, the
    role lock, validation, closing.  A subclass sets `_shm` (its lab-1 module)
    and implements _open_end, _close_end and the push/pop methods."""

    _shm = shm_basics

    def __init__(self, segment, role: str) -> None:
        if role not in ROLES:
            segment.close()
            raise ValueError(f"role must be 'producer' or 'consumer', got {role!r}")
        self.segment = segment
        self.role = role
        self._lock_fd = None
        try:
            if segment.size < SLOTS:  # too small for a ring header: a layout error, not a bad read range
                raise errors.bad_layout(segment.name)
            raw = segment.read(0, SLOTS)
            if struct.unpack_from("<Q", raw, HDR_MAGIC)[0] != MAGIC:
                raise errors.LayoutError(f"segment {segment.name!r} is not an SPSC ring (bad ring magic)")
            version, slot_size, capacity = _GEOMETRY.unpack_from(raw, HDR_VERSION)
            if version != VERSION:
                raise errors.bad_version(segment.name, version)
            try:
                check_geometry(capacity, slot_size)
            except ValueError:
                raise errors.bad_layout(segment.name) from None
            if ring_bytes(capacity, slot_size) > segment.size:
                raise errors.bad_layout(segment.name)
            self.capacity, self.slot_size = capacity, slot_size
            self._claim(role)
            self._open_end()
        except BaseException:
            self._release_claim()
            segment.close()
            raise

    # ------------------------------------------------------ creating
    @classmethod
    def create(cls, name: str, capacity: int, slot_size: int = 64, role: str = "producer"):
        """A new ring in /dev/shm/latencylab-<name>, this end taking `role`."""
        check_geometry(capacity, slot_size)
        seg = cls._shm.Segment.create(name, ring_bytes(capacity, slot_size), shm_basics.KIND_RING)
        try:
            # the geometry first, the ring magic last (x86-64 keeps stores in order)
            seg.write(HDR_VERSION, _GEOMETRY.pack(VERSION, slot_size, capacity))
            seg.write(PROD_HEARTBEAT, struct.pack("<Q", time.monotonic_ns()))
            seg.write(HDR_MAGIC, struct.pack("<Q", MAGIC))
        except BaseException:
            seg.__exit__(None, None, None)
            raise
        try:
            return cls(seg, role)
        except BaseException:  # __init__ closed the segment; its name must not stay behind
            try:
                seg.unlink()
            except FileNotFoundError:
                pass
            raise

    @classmethod
    def attach(cls, name: str, role: str = "consumer"):
        """The ring in /dev/shm/latencylab-<name>, this end taking `role`."""
        return cls(cls._shm.Segment.attach(name, shm_basics.KIND_RING), role)

    def _claim(self, role: str) -> None:
        """Take the role's lock (one byte of the file), then record our pid."""
        fd = os.open(shm_basics.path_of(self.segment.name), os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        lock = struct.pack("hhllhh", fcntl.F_WRLCK, os.SEEK_SET, _ROLE_LOCK_BYTE[role], 1, 0, 0)
        try:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, lock)
        except OSError:
            os.close(fd)
            raise errors.role_taken(f"ring {self.segment.name!r} {role}") from None
        self._lock_fd = fd
        off = _ROLE_PID_OFF[role]
        holder = struct.unpack("<I", self.segment.read(off, 4))[0]
        if holder not in (0, os.getpid()) and shm_basics.pid_alive(holder):  # a holder that took no lock (plain C)
            raise errors.role_taken(f"ring {self.segment.name!r} {role}")

    def _release_claim(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the description releases the OFD lock
            self._lock_fd = None

    # --------------------------------------------------------- facts
    @property
    def name(self) -> str:
        return self.segment.name

    def __len__(self) -> int:
        """Messages in the ring right now."""
        head, tail = (struct.unpack("<Q", self.segment.read(o, 8))[0] for o in (PROD_HEAD, CONS_TAIL))
        return head - tail

    @property
    def producer_pid(self) -> int:
        return struct.unpack("<I", self.segment.read(HDR_PRODUCER_PID, 4))[0]

    @property
    def heartbeat_age_s(self) -> float:
        """Seconds since the producer's last sign of life (every 1024 pushes, and while it waits)."""
        beat = struct.unpack("<Q", self.segment.read(PROD_HEARTBEAT, 8))[0]
        return (time.monotonic_ns() - beat) / 1e9

    def _check_msg(self, msg) -> memoryview:
        view = memoryview(msg).cast("B")
        if view.nbytes > self.slot_size:
            raise ValueError(f"message of {view.nbytes} bytes does not fit a {self.slot_size}-byte slot")
        return view

    def _check_batch(self, msgs) -> np.ndarray:
        arr = np.ascontiguousarray(msgs)
        if arr.dtype.itemsize != self.slot_size:
            raise ValueError(f"batch items are {arr.dtype.itemsize} bytes; this ring's slots are {self.slot_size}")
        return arr.reshape(-1)

    def _dtype(self, dtype) -> np.dtype:
        dt = np.dtype(("V", self.slot_size)) if dtype is None else np.dtype(dtype)
        if dt.itemsize != self.slot_size:
            raise ValueError(f"dtype items are {dt.itemsize} bytes; this ring's slots are {self.slot_size}")
        return dt

    def _check_role(self, want: str) -> None:
        if self.role != want:
            raise ValueError(f"this end of ring {self.name!r} is the {self.role}: only the {want} may do that")

    def _peer_error(self, code: str) -> Exception:
        if code == "closed":
            return errors.ring_closed(f"ring {self.name!r}")
        other = "producer" if self.role == "consumer" else "consumer"
        return errors.peer_died(f"ring {self.name!r}: the {other}")

    # --------------------------------------------------------- closing
    def close(self) -> None:
        """Give the role back (a producer also marks the ring closed), unmap."""
        if self.segment.closed:
            return
        try:
            self._close_end()
        finally:
            self._release_claim()
            self.segment.close()

    def __exit__(self, *exc: object) -> None:
        try:
            self.close()
        finally:
            if self.segment.owner:
                try:
                    self.segment.unlink()
                except FileNotFoundError:
                    pass

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.Ring {self.name!r} {self.role} {self.capacity} x {self.slot_size} B>"


class Ring(RingAPI):
    """One end of an SPSC ring, in pure Python."""

    def _open_end(self) -> None:
        buf = self.segment.buf
        self._head = buf[PROD_HEAD : PROD_HEAD + 8].cast("Q")
        self._tail = buf[CONS_TAIL : CONS_TAIL + 8].cast("Q")
        self._closed = buf[PROD_CLOSED : PROD_CLOSED + 4].cast("I")
        self._beat = buf[PROD_HEARTBEAT : PROD_HEARTBEAT + 8].cast("Q")
        self._slots = buf[SLOTS : SLOTS + self.capacity * self.slot_size]
        self._np = np.frombuffer(self._slots, dtype=np.uint8)
        self._mask = self.capacity - 1
        self._since_beat = 0
        self._use_cache = True
        pid_view = buf[_ROLE_PID_OFF[self.role] : _ROLE_PID_OFF[self.role] + 4].cast("I")
        if self.role == "producer":
            self._index, self._cached = self._head[0], self._tail[0]
            self._closed[0] = 0
            self._beat[0] = time.monotonic_ns()
        else:
            self._index, self._cached = self._tail[0], self._head[0]
        pid_view[0] = os.getpid()
        pid_view.release()

    def _close_end(self) -> None:
        buf = self.segment.buf
        if self.role == "producer":
            self._closed[0] = 1  # after every published head: a consumer that sees it sees them
        pid_view = buf[_ROLE_PID_OFF[self.role] : _ROLE_PID_OFF[self.role] + 4].cast("I")
        pid_view[0] = 0
        pid_view.release()
        del self._np  # the NumPy view pins the mapping: drop it before the segment unmaps
        for v in (self._head, self._tail, self._closed, self._beat, self._slots):
            v.release()
        # every operation starts with _check_role: from now on it refuses them all, by name
        self._check_role = self._refuse_closed

    def _refuse_closed(self, want: str) -> None:
        raise errors.closed(self.name)

    def use_cached_index(self, enabled: bool) -> None:
        """Turn the cached-index trick off (False: re-read the other side's
        counter on every operation, the naive ring) or back on."""
        self._check_role(self.role)
        self._use_cache = bool(enabled)

    # --------------------------------------------------------- producer
    def _free(self, want: int) -> int:
        free = self.capacity - (self._index - self._cached)
        if free < want or not self._use_cache:
            self._cached = self._tail[0]  # the consumer's reads of these slots are done
            free = self.capacity - (self._index - self._cached)
        return free

    def push(self, msg) -> bool:
        """One message (at most slot_size bytes, zero-padded).  False if the ring is full."""
        self._check_role("producer")
        view = self._check_msg(msg)
        if not self._free(1):
            return False
        i = self._index
        off = (i & self._mask) * self.slot_size
        n = view.nbytes
        self._slots[off : off + n] = view
        if n < self.slot_size:
            self._slots[off + n : off + self.slot_size] = bytes(self.slot_size - n)
        self._index = i + 1
        self._head[0] = i + 1  # publish: the slot's bytes were stored first
        self._since_beat += 1
        if self._since_beat >= 1024:
            self._since_beat = 0
            self._beat[0] = time.monotonic_ns()
        return True

    def push_many(self, msgs) -> int:
        """As many items of `msgs` (NumPy array, itemsize == slot_size) as fit; returns how many."""
        self._check_role("producer")
        arr = self._check_batch(msgs)
        k = min(len(arr), self._free(len(arr)))
        if k == 0:
            return 0
        data = arr[:k].view(np.uint8)
        start = (self._index & self._mask) * self.slot_size
        first = min(k, self.capacity - (self._index & self._mask)) * self.slot_size
        self._np[start : start + first] = data[:first]
        self._np[: data.size - first] = data[first:]
        self._index += k
        self._head[0] = self._index
        self._beat[0] = time.monotonic_ns()
        return k

    # --------------------------------------------------------- consumer
    def _available(self, want: int) -> int:
        avail = self._cached - self._index
        if avail < want or not self._use_cache:
            self._cached = self._head[0]  # every slot below head holds a whole message
            avail = self._cached - self._index
        return avail

    def pop(self) -> bytes | None:
        """One message (slot_size bytes), or None if the ring is empty."""
        self._check_role("consumer")
        if not self._available(1):
            return None
        i = self._index
        off = (i & self._mask) * self.slot_size
        msg = self._slots[off : off + self.slot_size].tobytes()
        self._index = i + 1
        self._tail[0] = i + 1  # the copy is complete: the producer may reuse the slot
        return msg

    def pop_many(self, max_n: int, dtype=None) -> np.ndarray:
        """Up to max_n messages as a NumPy array of `dtype` (default: raw slot_size-byte items)."""
        self._check_role("consumer")
        dt = self._dtype(dtype)
        if not isinstance(max_n, int) or max_n < 0:
            raise ValueError(f"max_n must be a non-negative integer, got {max_n!r}")
        k = min(max_n, self._available(max_n))
        out = np.empty(k * self.slot_size, dtype=np.uint8)
        if k:
            start = (self._index & self._mask) * self.slot_size
            first = min(k, self.capacity - (self._index & self._mask)) * self.slot_size
            out[:first] = self._np[start : start + first]
            out[first:] = self._np[: out.size - first]
            self._index += k
            self._tail[0] = self._index
        return out.view(dt)

    # --------------------------------------------------------- waiting
    def _peer_state(self) -> str | None:
        """'closed', 'dead' or None (the C side's ll_ring_peer_state)."""
        if self.role == "consumer":
            if self._closed[0] and self._head[0] == self._index:
                return "closed"
            pid = struct.unpack("<I", self.segment.read(HDR_PRODUCER_PID, 4))[0]
        else:
            pid = struct.unpack("<I", self.segment.read(HDR_CONSUMER_PID, 4))[0]
        return "dead" if pid and not shm_basics.pid_alive(pid) else None

    def _wait(self, attempt, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        next_check = time.monotonic() + 100e-6  # the peer is looked at after 100 us of waiting, then every 100 us
        while True:
            got = attempt()
            if got:  # a message, True, or a count > 0
                return got
            now = time.monotonic()
            if now >= next_check:
                if self.role == "producer":  # a waiting producer is alive: say so, every 100 us
                    self._beat[0] = time.monotonic_ns()
                state = self._peer_state()
                if state is not None:
                    got = attempt()  # one last try: it may have just arrived
                    if got:
                        return got
                    raise self._peer_error(state)
                next_check = now + 100e-6
            if now > deadline:
                raise errors.peer_timeout(f"ring {self.name!r} {what}")

    def push_wait(self, msg, timeout: float = 1.0) -> None:
        """push(), waiting up to `timeout` s for space; PeerDiedError if the consumer died."""
        self._check_msg(msg)
        self._wait(lambda: self.push(msg), timeout, "producer waiting for space")

    def pop_wait(self, timeout: float = 1.0) -> bytes:
        """pop(), waiting up to `timeout` s; PeerDiedError if the producer died,
        EOFError once the producer closed and the ring is drained."""
        return self._wait(self.pop, timeout, "consumer waiting for a message")


# ---------------------------------------------- sequenced streams (stress + bench)
# Message i: bytes 0..7 = i, bytes 8..15 = i * SEQ_MUL mod 2**64, the rest zero
# (cimpl/spsc_ring.c:seq_fill).  The consumer checks every message.
SEQ_MUL = 0x9E3779B97F4A7C15
_SEQ = struct.Struct("<QQ")
_U64 = (1 << 64) - 1


def _check_count(n: object) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 2**62:
        raise ValueError(f"n must be an integer in 0..2**62 (messages), got {n!r}")


def _check_stream(ring: Ring, role: str, batch: int) -> None:
    ring._check_role(role)
    if ring.slot_size < 16:
        raise ValueError(f"sequenced streams need slots of at least 16 bytes, this ring has {ring.slot_size}")
    if not isinstance(batch, int) or not 1 <= batch <= ring.capacity:
        raise ValueError(f"batch must be in 1..{ring.capacity} (the capacity), got {batch!r}")


def _seq_batch(ring: Ring, first: int, k: int) -> np.ndarray:
    arr = np.zeros((k, ring.slot_size // 8), dtype=np.uint64)
    arr[:, 0] = np.arange(first, first + k, dtype=np.uint64)
    arr[:, 1] = arr[:, 0] * np.uint64(SEQ_MUL)  # wraps mod 2**64, as in C
    return arr.view(np.dtype(("V", ring.slot_size))).reshape(-1)


def produce_seq(ring: Ring, start: int, n: int, batch: int = 1, timeout: float = 5.0) -> int:
    """Push messages start..start+n-1, `batch` at a time (1: push, more:
    push_many with NumPy); returns the elapsed ns."""
    _check_stream(ring, "producer", batch)
    _check_count(n)
    pad = bytes(ring.slot_size - 16)
    t0 = time.perf_counter_ns()
    if batch == 1:
        push, pack = ring.push, _SEQ.pack
        for i in range(start, start + n):
            msg = pack(i, (i * SEQ_MUL) & _U64) + pad
            if not push(msg):
                ring.push_wait(msg, timeout)
    else:
        for first in range(start, start + n, batch):
            arr = _seq_batch(ring, first, min(batch, start + n - first))
            done = 0
            while done < len(arr):
                got = ring.push_many(arr[done:]) or ring._wait(lambda a=arr[done:]: ring.push_many(a), timeout,
                                                               "producer waiting for space")
                done += got
    return time.perf_counter_ns() - t0


def consume_seq(ring: Ring, start: int, n: int, batch: int = 1, timeout: float = 5.0) -> tuple[int, int]:
    """Pop n messages expecting start..start+n-1, `batch` at a time; returns
    (elapsed ns, number of messages that were not the expected one)."""
    _check_stream(ring, "consumer", batch)
    _check_count(n)
    bad = 0
    t0 = time.perf_counter_ns()
    if batch == 1:
        pop, unpack = ring.pop, _SEQ.unpack_from
        for want in range(start, start + n):
            msg = pop()
            if msg is None:
                msg = ring.pop_wait(timeout)
            i, check = unpack(msg)
            bad += i != want or check != (want * SEQ_MUL) & _U64
    else:
        want = start
        while want < start + n:
            got = ring.pop_many(min(batch, start + n - want))
            if not len(got):
                got = np.frombuffer(ring.pop_wait(timeout), dtype=got.dtype)
            words = got.view(np.uint64).reshape(len(got), -1)
            expect = np.arange(want, want + len(got), dtype=np.uint64)
            bad += int(np.count_nonzero((words[:, 0] != expect) | (words[:, 1] != expect * np.uint64(SEQ_MUL))))
            want += len(got)
    return time.perf_counter_ns() - t0, bad


def pingpong(out: Ring, inbound: Ring, n: int, timeout: float = 5.0) -> np.ndarray:
    """n round trips: push on `out`, wait for the echo on `inbound`; each in ns."""
    _check_stream(out, "producer", 1)
    _check_stream(inbound, "consumer", 1)
    pad = bytes(out.slot_size - 16)
    rtt = np.zeros(n, dtype=np.int64)
    clock, push, pop = time.perf_counter_ns, out.push, inbound.pop
    for i in range(n):
        msg = _SEQ.pack(i, (i * SEQ_MUL) & _U64) + pad
        t0 = clock()
        if not push(msg):
            out.push_wait(msg, timeout)
        got = pop()
        while got is None:  # spin: the echo is a few microseconds away
            got = pop()
            if got is None and clock() - t0 > timeout * 1e9:
                got = inbound.pop_wait(timeout)  # raises with the reason
        rtt[i] = clock() - t0
        if got[:16] != msg[:16]:
            raise RuntimeError(f"ping-pong: echo {i} is not the message sent")
    return rtt


def echo(inbound: Ring, out: Ring, n: int, timeout: float = 5.0) -> int:
    """The other end of pingpong: n times pop from `inbound`, push it back on `out`."""
    _check_stream(inbound, "consumer", 1)
    _check_stream(out, "producer", 1)
    push, pop = out.push, inbound.pop
    for _ in range(n):
        msg = pop()
        if msg is None:
            msg = inbound.pop_wait(timeout)
        if not push(msg):
            out.push_wait(msg, timeout)
    return n
