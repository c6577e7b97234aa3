"""Lab 3, pure Python: a single-producer/single-consumer ring in shared memory.

The same API and the same bytes as `cimpl.spsc_ring` (layout:
cimpl/spsc_layout.h; algorithm and memory orders: cimpl/spsc_ring.c, read them
side by side).  A C producer can feed a Python consumer and the other way round.

    head  next slot the producer writes - only the producer stores it
    tail  next slot the consumer reads  - only the consumer stores it

Two flavours (the ring's header says which): in an "index" ring the consumer
learns that a message is there from head; in a "seq-slot" ring from the
slot's own sequence word, which the producer writes after the message.  Each
end keeps its own counter in a local variable and a *cached* copy of the
other side's, re-reading the shared one only when the ring looks full
(producer) or empty (consumer, index flavour).

Ordering from Python.  Python has no atomics; what orders the ring is (1) each
counter and sequence word is one aligned 8-byte store/load (an item of a
memoryview cast to 'Q', copied with one 8-byte move), (2) program order: the
message bytes are stored before the word that publishes them, and read after
the word that says they are there, each a separate call inside the
interpreter, which no compiler reorders, and (3) x86-64's TSO model, which
keeps stores in order and loads in order.  The tags [P1], [C2] ... name the
same pairs as in cimpl/spsc_ring.c.  On a weakly ordered CPU (ARM) this Python
ring would need fences that Python cannot express; the C ring is portable.

Who holds a role: an open-file-description lock on one byte of the segment's
file (shm_basics.ofd_lock), the same lock cimpl/spsc_ring.c takes with fcntl,
on this end's own open of the file - so a second producer is refused whether it
is in another process or in this one, and a dead holder's role is free again
(the kernel drops its lock).  The pid in the header is information.

`check_stream` is the one Python definition of a sequenced stream's arguments
(cimpl.spsc_ring uses it too; the C library checks the same rule itself,
ll_ring_check_stream, for C callers).
"""

from __future__ import annotations

import os
import struct
import time

import numpy as np

from . import errors, shm_basics

# ------------------------------------------------------------- layout
MAGIC = 0x31474E49524C4C4C  # b"LLLRING1"
VERSION = 2
MIN_SLOT, MAX_SLOT = 8, 65536
MAX_CAPACITY = 1 << 24
SEQ_BYTES = 8  # the sequence word in front of a seq-slot message
HDR_MAGIC, HDR_VERSION, HDR_SLOT_SIZE, HDR_CAPACITY = 0, 8, 12, 16
HDR_PRODUCER_PID, HDR_CONSUMER_PID, HDR_FLAVOUR = 24, 28, 32
PROD_HEAD, PROD_HEARTBEAT, PROD_CLOSED = 128, 136, 144
CONS_TAIL = 256
SLOTS = 384
ROLES = ("producer", "consumer")
FLAVOURS = {"index": 1, "seq-slot": 2}  # the header's flavour field
LOCK_BYTE = {"producer": 0, "consumer": 1}  # file offsets of the role locks
HEARTBEAT_EVERY = 1024  # the producer beats whenever head crosses a multiple of this, and while it waits
_ROLE_PID_OFF = {"producer": HDR_PRODUCER_PID, "consumer": HDR_CONSUMER_PID}
STAGE_BYTES = 65536  # a seq-slot producer's staging area for batches (cimpl/spsc_ring.c: LL_RING_STAGE_BYTES)
COUNTER_LIMIT = 2**64 - 2**32  # the pure-Python ring refuses counters above this (it does not wrap them)

_GEOMETRY = struct.Struct("<IIQ")  # version, slot_size, capacity at HDR_VERSION


def msg_size_of(slot_size: int, flavour: str) -> int:
    """Bytes of a message in a slot of `slot_size` bytes."""
    return slot_size - SEQ_BYTES if flavour == "seq-slot" else slot_size


def check_geometry(capacity: object, slot_size: object, flavour: object = "seq-slot") -> None:
    """ValueError naming a capacity, slot size or flavour the ring cannot have."""
    if flavour not in FLAVOURS:
        raise ValueError(f"ring flavour must be one of {sorted(FLAVOURS)}, got {flavour!r}")
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 2 <= capacity <= MAX_CAPACITY \
            or capacity & (capacity - 1):
        raise ValueError(f"ring capacity must be a power of two in 2..{MAX_CAPACITY}, got {capacity!r}")
    lo = MIN_SLOT + (SEQ_BYTES if flavour == "seq-slot" else 0)
    if not isinstance(slot_size, int) or isinstance(slot_size, bool) or not lo <= slot_size <= MAX_SLOT \
            or slot_size % 8:
        raise ValueError(f"slot size must be a multiple of 8 in {lo}..{MAX_SLOT} bytes for a {flavour} ring, "
                         f"got {slot_size!r}")
    if ring_bytes(capacity, slot_size) > shm_basics.MAX_PAYLOAD:
        raise ValueError(f"a ring of {capacity} x {slot_size} bytes exceeds the {shm_basics.MAX_PAYLOAD}-byte segment limit")


def ring_bytes(capacity: int, slot_size: int) -> int:
    return SLOTS + capacity * slot_size


def _flavour_name(code: int) -> str | None:
    for name, c in FLAVOURS.items():
        if c == code:
            return name
    return None


class RingAPI(shm_basics.SegmentHolder):
    """What both implementations' Ring share: creating and attaching,
    validation of the header, the facts, closing.  A subclass sets `_shm` (its
    lab-1 module) and implements _open_end (which claims the role: the
    lock), _close_end and the push/pop methods."""

    _shm = shm_basics

    def __init__(self, segment, role: str, cached_index: bool = True) -> None:
        if role not in ROLES:
            segment.close()
            raise ValueError(f"role must be 'producer' or 'consumer', got {role!r}")
        self.segment = segment
        self.role = role
        self.cached_index = bool(cached_index)
        try:
            if segment.size < SLOTS:  # too small for a ring header: a layout error, not a bad read range
                raise errors.bad_layout(segment.name)
            raw = segment.read(0, SLOTS)
            if struct.unpack_from("<Q", raw, HDR_MAGIC)[0] != MAGIC:
                raise errors.LayoutError(f"segment {segment.name!r} is not an SPSC ring (bad ring magic)")
            version, slot_size, capacity = _GEOMETRY.unpack_from(raw, HDR_VERSION)
            if version != VERSION:
                raise errors.bad_version(segment.name, version)
            flavour = _flavour_name(struct.unpack_from("<I", raw, HDR_FLAVOUR)[0])
            try:
                check_geometry(capacity, slot_size, flavour)
            except ValueError:
                raise errors.bad_layout(segment.name) from None
            if ring_bytes(capacity, slot_size) > segment.size:
                raise errors.bad_layout(segment.name)
            self.capacity, self.slot_size, self.flavour = capacity, slot_size, flavour
            self.msg_size = msg_size_of(slot_size, flavour)
            self._open_end()
        except BaseException:
            segment.close()
            raise

    # ------------------------------------------------------ creating
    @classmethod
    def create(cls, name: str, capacity: int, slot_size: int = 64, role: str = "producer",
               flavour: str = "seq-slot", cached_index: bool = True):
        """A new ring in /dev/shm/latencylab-<name>, this end taking `role`.
        flavour "seq-slot" (a sequence word per slot: messages of slot_size - 8
        bytes) or "index" (messages of slot_size bytes); cached_index=False
        makes this end the naive ring that re-reads the other side's counter
        on every operation."""
        seg = create_segment(name, capacity, slot_size, flavour, cls._shm)
        try:
            return cls(seg, role, cached_index)
        except BaseException:  # __init__ closed the segment; its name must not stay behind
            try:
                seg.unlink()
            except FileNotFoundError:
                pass
            raise

    @classmethod
    def attach(cls, name: str, role: str = "consumer", cached_index: bool = True):
        """The ring in /dev/shm/latencylab-<name> (of either flavour: the header says), this end taking `role`."""
        return cls(cls._shm.Segment.attach(name, shm_basics.KIND_RING), role, cached_index)

    # --------------------------------------------------------- facts
    @property
    def name(self) -> str:
        return self.segment.name

    def __len__(self) -> int:
        """Messages in the ring right now."""
        head, tail = (struct.unpack("<Q", self.segment.read(o, 8))[0] for o in (PROD_HEAD, CONS_TAIL))
        n = (head - tail) & ((1 << 64) - 1)
        return 0 if n > self.capacity else n  # head behind tail: a killed seq-slot producer's (C's ll_ring_size)

    @property
    def producer_pid(self) -> int:
        return struct.unpack("<I", self.segment.read(HDR_PRODUCER_PID, 4))[0]

    @property
    def heartbeat_age_s(self) -> float:
        """Seconds since the producer's last sign of life (HEARTBEAT_EVERY messages, and while it waits)."""
        beat = struct.unpack("<Q", self.segment.read(PROD_HEARTBEAT, 8))[0]
        return max(0, time.monotonic_ns() - beat) / 1e9

    def _check_msg(self, msg) -> memoryview:
        view = memoryview(msg).cast("B")
        if view.nbytes > self.msg_size:
            raise ValueError(f"message of {view.nbytes} bytes does not fit a {self.msg_size}-byte message of "
                             f"this {self.flavour} ring")
        return view

    def _check_batch(self, msgs) -> np.ndarray:
        arr = np.ascontiguousarray(msgs)
        if arr.dtype.itemsize != self.msg_size:
            raise ValueError(f"batch items are {arr.dtype.itemsize} bytes; this ring's messages are {self.msg_size}")
        return arr.reshape(-1)

    def _check_max(self, max_n) -> int:
        if not isinstance(max_n, int) or isinstance(max_n, bool) or max_n < 0:
            raise ValueError(f"max_n must be a non-negative integer, got {max_n!r}")
        return min(max_n, self.capacity)  # never more than the ring holds

    def _dtype(self, dtype) -> np.dtype:
        dt = np.dtype(("V", self.msg_size)) if dtype is None else np.dtype(dtype)
        if dt.itemsize != self.msg_size:
            raise ValueError(f"dtype items are {dt.itemsize} bytes; this ring's messages are {self.msg_size}")
        return dt

    def _out_array(self, k: int, out) -> np.ndarray:
        """A uint8 array with room for k messages: `out` (preallocated by the caller, C-contiguous, at least
        k messages: k is max_n, or the capacity if that is less) or a new one."""
        if out is None:
            return np.empty(k * self.msg_size, dtype=np.uint8)
        if not isinstance(out, np.ndarray) or not out.flags.c_contiguous or not out.flags.writeable:
            raise ValueError("out must be a writable C-contiguous NumPy array")
        flat = out.reshape(-1).view(np.uint8)
        if flat.size < k * self.msg_size:
            raise ValueError(f"out holds {flat.size // self.msg_size} messages; {k} asked for")
        return flat

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
        return (f"<{type(self).__module__}.Ring {self.name!r} {self.flavour} {self.role} "
                f"{self.capacity} x {self.slot_size} B{'' if self.cached_index else ' no-cache'}>")


class Ring(RingAPI):
    """One end of an SPSC ring, in pure Python.

    The operations of the other role, and every operation once closed, are
    replaced on the instance by ones that refuse by name, so the hot paths
    check nothing of the kind; the flavour's and the cache's variants are
    chosen the same way, once, when the end opens."""

    _lock_fd: int | None = None

    def _open_end(self) -> None:
        head, tail = (struct.unpack("<Q", self.segment.read(o, 8))[0] for o in (PROD_HEAD, CONS_TAIL))
        if max(head, tail) > COUNTER_LIMIT:
            # C's counters wrap at 2**64 (unsigned arithmetic); Python's ints do not, and masking
            # every step would cost the hot path for a state no stream reaches (~100 000 years)
            raise errors.LayoutError(f"ring {self.segment.name!r} has counters within 2**32 of 2**64 "
                                     f"(head {head}, tail {tail}): the pure-Python ring does not wrap them")
        self._claim()
        buf = self.segment.buf
        self._head = buf[PROD_HEAD : PROD_HEAD + 8].cast("Q")
        self._tail = buf[CONS_TAIL : CONS_TAIL + 8].cast("Q")
        self._closed = buf[PROD_CLOSED : PROD_CLOSED + 4].cast("I")
        self._beat = buf[PROD_HEARTBEAT : PROD_HEARTBEAT + 8].cast("Q")
        self._slots = buf[SLOTS : SLOTS + self.capacity * self.slot_size]
        self._words = self._slots.cast("Q")  # slot i's sequence word is item i * slot_size // 8
        self._wps = self.slot_size // 8
        rows = np.frombuffer(self._slots, dtype=np.uint8).reshape(self.capacity, self.slot_size)
        self._rows = rows  # the slots as a (capacity, slot_size) byte array
        self._msgs = rows[:, SEQ_BYTES:] if self.flavour == "seq-slot" else rows  # the messages' bytes
        self._seqs = rows.view(np.uint64)[:, 0]  # the sequence words (seq-slot)
        if self.role == "producer" and self.flavour == "seq-slot":  # the batch staging area, as in C
            self._stage_slots = max(1, min(self.capacity, STAGE_BYTES // self.slot_size))
            self._stage = np.zeros((self._stage_slots, self.slot_size), dtype=np.uint8)
            self._stage_seqs = self._stage.view(np.uint64)[:, 0]
            self._stage_base = np.arange(self._stage_slots, dtype=np.uint64)
        self._mask = self.capacity - 1
        self._zeros = bytes(self.msg_size)
        if self.role == "producer":
            self._index, self._cached = self._head[0], self._tail[0]
            if self.flavour == "seq-slot":
                self._recover_seq_producer()
            self._closed[0] = 0
            self._beat[0] = time.monotonic_ns()
        else:
            self._index, self._cached = self._tail[0], self._head[0]
        self._bind_operations()
        pid_view = buf[_ROLE_PID_OFF[self.role] : _ROLE_PID_OFF[self.role] + 4].cast("I")
        pid_view[0] = os.getpid()  # information, not the claim (the lock is)
        pid_view.release()

    def _recover_seq_producer(self) -> None:
        """A seq-slot ring publishes with the slot's word, not with head: continue
        after the last message the words publish, and clear the words of the free
        slots, which a producer killed mid-batch may have left for messages it never
        published - each set to what the previous lap left, j - capacity + 1, never j + 1
        (cimpl/spsc_ring.c:recover_seq_producer, the same rule)."""
        tail, cap, u64 = self._cached, self.capacity, (1 << 64) - 1
        i = tail if (self._index - tail) & u64 > cap else self._index
        while (i - tail) & u64 < cap and self._words[(i & self._mask) * self._wps] == (i + 1) & u64:
            i = (i + 1) & u64
        j = i
        while (j - tail) & u64 < cap:
            self._words[(j & self._mask) * self._wps] = (j - cap + 1) & u64
            j = (j + 1) & u64
        self._index = i
        self._head[0] = i

    def _claim(self) -> None:
        """The role's lock, on this end's own open of the segment's file."""
        fd = shm_basics.ofd_reopen(self.segment.fd)
        if not shm_basics.ofd_lock(fd, LOCK_BYTE[self.role], 1, exclusive=True):
            os.close(fd)
            raise errors.role_taken(f"ring {self.segment.name!r} {self.role}")
        self._lock_fd = fd

    def _bind_operations(self) -> None:
        seq = self.flavour == "seq-slot"
        if self.role == "producer":
            self.push = self._push_seq if seq else self._push_index
            self.push_many = self._push_many_seq if seq else self._push_many_index
            if not self.cached_index:  # the naive ring: refresh the view of tail before every operation
                self.push, self.push_many = _refreshing(self, "_tail", self.push), _refreshing(self, "_tail", self.push_many)
            for name in ("pop", "pop_many", "pop_wait"):
                setattr(self, name, self._refuser("consumer"))
        else:
            self.pop = self._pop_seq if seq else self._pop_index
            self.pop_many = self._pop_many_seq if seq else self._pop_many_index
            if not self.cached_index and not seq:  # the seq-slot consumer keeps no view of head
                self.pop, self.pop_many = _refreshing(self, "_head", self.pop), _refreshing(self, "_head", self.pop_many)
            for name in ("push", "push_many", "push_wait"):
                setattr(self, name, self._refuser("producer"))

    def _refuser(self, want: str):
        def refuse(*args, **kwargs):
            self._check_role(want)
        return refuse

    def _close_end(self) -> None:
        buf = self.segment.buf
        if self.role == "producer":
            self._closed[0] = 1  # [X1] after every published message: a consumer that sees it sees them
        pid_view = buf[_ROLE_PID_OFF[self.role] : _ROLE_PID_OFF[self.role] + 4].cast("I")
        pid_view[0] = 0
        pid_view.release()
        # the NumPy views pin the mapping: drop them before the segment unmaps
        del self._rows, self._msgs, self._seqs
        for v in (self._head, self._tail, self._closed, self._beat, self._words, self._slots):
            v.release()
        os.close(self._lock_fd)  # drops the role's lock: the role is free from here on
        self._lock_fd = None
        refuse = self._refuse_closed
        for name in ("push", "push_many", "push_wait", "pop", "pop_many", "pop_wait", "_check_role"):
            setattr(self, name, refuse)

    def _refuse_closed(self, *args, **kwargs):
        raise errors.closed(self.name)

    # ------------------------------------------- producer, both flavours
    def _room(self, want: int) -> int:
        """Free slots, refreshing the view of tail when it says there are fewer than `want`."""
        free = self.capacity - (self._index - self._cached)
        if free < want:
            self._cached = self._tail[0]  # [P2] the consumer's reads of these slots are done
            free = self.capacity - (self._index - self._cached)
        return free

    def _beat_after(self, old_head: int) -> None:
        """The heartbeat rule (cimpl/spsc_layout.h): whenever head crosses a multiple of HEARTBEAT_EVERY."""
        if old_head // HEARTBEAT_EVERY != self._index // HEARTBEAT_EVERY:
            self._beat[0] = time.monotonic_ns()

    def _full_size(self, msg) -> bytes:
        """msg as exactly msg_size bytes (zero-padded), or ValueError if it is too long:
        the slow path of push, for other buffer types and shorter messages."""
        view = self._check_msg(msg)
        return view.tobytes() + self._zeros[view.nbytes :]

    # ------------------------------------------------------- index flavour
    def push(self, msg) -> bool:
        """One message (at most msg_size bytes, zero-padded).  False if the ring is full."""
        raise NotImplementedError  # replaced per end in _bind_operations

    def _push_index(self, msg) -> bool:
        if type(msg) is not bytes or len(msg) != self.msg_size:
            msg = self._full_size(msg)  # not the hot path: other buffers, short messages, or a ValueError
        i = self._index
        if i - self._cached >= self.capacity and not self._room(1):
            return False
        off = (i & self._mask) * self.slot_size
        self._slots[off : off + self.slot_size] = msg
        self._index = i = i + 1
        self._head[0] = i  # [P1] publish: the slot's bytes were stored first
        if not i % HEARTBEAT_EVERY:  # head crossed a multiple: the heartbeat rule
            self._beat[0] = time.monotonic_ns()
        return True

    def push_many(self, msgs) -> int:
        """As many items of `msgs` (NumPy array, itemsize == msg_size) as fit; returns how many."""
        raise NotImplementedError

    def _push_many_index(self, msgs) -> int:
        arr = self._check_batch(msgs)
        k = min(len(arr), self._room(len(arr)))
        if k == 0:
            return 0
        data = arr[:k].view(np.uint8).reshape(k, self.msg_size)
        j = self._index & self._mask
        first = min(k, self.capacity - j)
        self._msgs[j : j + first] = data[:first]
        self._msgs[: k - first] = data[first:]
        self._index += k
        self._head[0] = self._index  # [P1] one store publishes the batch
        self._beat_after(self._index - k)
        return k

    def pop(self) -> bytes | None:
        """One message (msg_size bytes), or None if the ring is empty."""
        raise NotImplementedError

    def _pop_index(self) -> bytes | None:
        i = self._index
        if i == self._cached:  # our view of head is used up: look again
            self._cached = self._head[0]  # [C1] every slot below head holds a whole message
            if i == self._cached:
                return None
        off = (i & self._mask) * self.slot_size
        msg = self._slots[off : off + self.slot_size].tobytes()
        self._index = i + 1
        self._tail[0] = i + 1  # [C2] the copy is complete: the producer may reuse the slot
        return msg

    def pop_many(self, max_n: int, dtype=None, out=None) -> np.ndarray:
        """Up to max_n messages as a NumPy array of `dtype` (default: raw msg_size-byte
        items); into `out` (a preallocated array of at least that many messages) if given."""
        raise NotImplementedError

    def _pop_many_index(self, max_n: int, dtype=None, out=None) -> np.ndarray:
        dt, room = self._dtype(dtype), self._check_max(max_n)
        flat = self._out_array(room, out)
        avail = self._cached - self._index
        if avail < room:
            self._cached = self._head[0]  # [C1]
            avail = self._cached - self._index
        k = min(room, avail)
        if k:
            dst = flat[: k * self.msg_size].reshape(k, self.msg_size)
            j = self._index & self._mask
            first = min(k, self.capacity - j)
            dst[:first] = self._msgs[j : j + first]
            dst[first:] = self._msgs[: k - first]
            self._index += k
            self._tail[0] = self._index  # [C2]
        return flat[: k * self.msg_size].view(dt)

    # ---------------------------------------------------- seq-slot flavour
    def _push_seq(self, msg) -> bool:
        if type(msg) is not bytes or len(msg) != self.msg_size:
            msg = self._full_size(msg)  # not the hot path: other buffers, short messages, or a ValueError
        i = self._index
        if i - self._cached >= self.capacity and not self._room(1):
            return False
        j = i & self._mask
        off = j * self.slot_size + SEQ_BYTES
        self._slots[off : off + self.msg_size] = msg
        self._index = i = i + 1
        self._words[j * self._wps] = i  # [P3] publish: the message's bytes were stored first
        self._head[0] = i  # for len() and the drained check; nobody polls it
        if not i % HEARTBEAT_EVERY:  # head crossed a multiple: the heartbeat rule
            self._beat[0] = time.monotonic_ns()
        return True

    def _push_many_seq(self, msgs) -> int:
        arr = self._check_batch(msgs)
        k = min(len(arr), self._room(len(arr)))
        if k == 0:
            return 0
        data = arr[:k].view(np.uint8).reshape(k, self.msg_size)
        i = self._index
        # as in C (cimpl/spsc_ring.c:seq_push_many): lay whole slots out in the staging area,
        # copy them into the ring in runs of whole lines - of the first slot only its message,
        # the consumer is polling its word - then store the first word [P3], which opens the batch
        done = 0
        while done < k:
            at = (i + done) & self._mask
            run = min(k - done, self._stage_slots, self.capacity - at)
            stage = self._stage[:run]
            stage[:, SEQ_BYTES:] = data[done : done + run]
            np.add(self._stage_base[:run], np.uint64((i + done + 1) & ((1 << 64) - 1)), out=self._stage_seqs[:run])
            whole = 0
            if done == 0:
                self._msgs[at] = stage[0, SEQ_BYTES:]
                whole = 1
            self._rows[at + whole : at + run] = stage[whole:]
            done += run
        self._words[(i & self._mask) * self._wps] = (i + 1) & ((1 << 64) - 1)
        self._index = i + k
        self._head[0] = i + k
        self._beat_after(i)
        return k

    def _pop_seq(self) -> bytes | None:
        i = self._index
        j = i & self._mask
        if self._words[j * self._wps] != i + 1:  # [C3] the sequence word says whether message i is there
            return None
        off = j * self.slot_size + SEQ_BYTES
        msg = self._slots[off : off + self.msg_size].tobytes()
        self._index = i + 1
        self._tail[0] = i + 1  # [C2] the copy is complete: the producer may reuse the slot
        return msg

    def _pop_many_seq(self, max_n: int, dtype=None, out=None) -> np.ndarray:
        dt, room = self._dtype(dtype), self._check_max(max_n)
        flat = self._out_array(room, out)
        i = self._index
        j = i & self._mask
        first = min(room, self.capacity - j)
        # [C3] the sequence words first: the leading run of slots that hold the next messages
        want = np.arange(i + 1, i + room + 1, dtype=np.uint64)
        ready = np.concatenate((self._seqs[j : j + first], self._seqs[: room - first])) == want
        k = room if ready.all() else int(ready.argmin())
        if k:
            dst = flat[: k * self.msg_size].reshape(k, self.msg_size)
            f = min(k, first)
            dst[:f] = self._msgs[j : j + f]
            dst[f:] = self._msgs[: k - f]
            self._index = i + k
            self._tail[0] = i + k  # [C2]
        return flat[: k * self.msg_size].view(dt)

    # --------------------------------------------------------- waiting
    def _peer_state(self) -> str | None:
        """'closed', 'dead' or None (the C side's ll_ring_peer_state): dead if
        the other role's pid is recorded but its lock is gone."""
        other = "producer" if self.role == "consumer" else "consumer"
        pid = struct.unpack("<I", self.segment.read(_ROLE_PID_OFF[other], 4))[0]
        dead = pid != 0 and not shm_basics.ofd_held(self._lock_fd, LOCK_BYTE[other], 1)
        # closed after the lock (as in C): a producer sets closed before it drops its lock, so a
        # clean close is reported as one, drained ("closed") or not (None), never as a death
        if self.role == "consumer" and self._closed[0]:  # [X2]
            return "closed" if self._head[0] == self._index else None
        return "dead" if dead else None

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
        push = self.push
        self._wait(lambda: push(msg), timeout, "producer waiting for space")

    def pop_wait(self, timeout: float = 1.0) -> bytes:
        """pop(), waiting up to `timeout` s; PeerDiedError if the producer died,
        EOFError once the producer closed and the ring is drained."""
        return self._wait(self.pop, timeout, "consumer waiting for a message")


def _refreshing(ring: Ring, counter: str, op):
    """op, after re-reading the other side's counter into the cached view: the
    naive ring (cached_index=False), for comparison."""
    shared = getattr(ring, counter)

    def naive(*args, **kwargs):
        ring._cached = shared[0]
        return op(*args, **kwargs)

    naive.__doc__ = op.__doc__
    return naive


# ---------------------------------------------- sequenced streams (stress + bench)
# Message i: bytes 0..7 = i, bytes 8..15 = i * SEQ_MUL mod 2**64, the rest zero
# (cimpl/spsc_ring.c:seq_fill).  The consumer checks every message.
SEQ_MUL = 0x9E3779B97F4A7C15
_SEQ = struct.Struct("<QQ")
_U64 = (1 << 64) - 1


def create_segment(name: str, capacity: int, slot_size: int = 64, flavour: str = "seq-slot", shm=shm_basics):
    """A new ring in /dev/shm/latencylab-<name> with neither end claimed: its
    segment (this process owns it: unlink it when done).  For a supervisor
    that creates the rings its children then attach (lab 7); `Ring.create`
    is this plus claiming one end.  `shm`: the lab-1 module to create it with."""
    check_geometry(capacity, slot_size, flavour)
    seg = shm.Segment.create(name, ring_bytes(capacity, slot_size), shm_basics.KIND_RING)
    try:
        # the geometry first, the ring magic last [R1] (x86-64 keeps stores in order)
        seg.write(HDR_VERSION, _GEOMETRY.pack(VERSION, slot_size, capacity))
        seg.write(HDR_FLAVOUR, struct.pack("<I", FLAVOURS[flavour]))
        seg.write(PROD_HEARTBEAT, struct.pack("<Q", time.monotonic_ns()))
        seg.write(HDR_MAGIC, struct.pack("<Q", MAGIC))
    except BaseException:
        seg.__exit__(None, None, None)
        raise
    return seg


def seq_struct(msg_size: int) -> struct.Struct:
    """The Struct that packs a whole message i of a stream: the two words, then
    msg_size - 16 zero bytes (one call, no concatenation: ~30 ns less per message)."""
    return struct.Struct(f"<QQ{msg_size - 16}x")


def check_count(n: object, what: str = "n") -> None:
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 2**62:
        raise ValueError(f"{what} must be an integer in 0..2**62 (messages), got {n!r}")


def check_stream(ring: RingAPI, role: str, start: object, n: object, batch: object) -> None:
    """The one Python definition of a sequenced stream's arguments (the C
    library's ll_ring_check_stream is the same rule): an open end of `role`,
    messages of at least 16 bytes, 1 <= batch <= capacity, 0 <= start and
    start + n < 2**64 (the sequence numbers are 64-bit)."""
    ring._check_role(role)
    if ring.msg_size < 16:
        raise ValueError(f"sequenced streams need messages of at least 16 bytes, this ring's are {ring.msg_size}")
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= ring.capacity:
        raise ValueError(f"batch must be in 1..{ring.capacity} (the capacity), got {batch!r}")
    check_count(n)
    if not isinstance(start, int) or isinstance(start, bool) or not 0 <= start <= _U64 - n:
        raise ValueError(f"start must be an integer with 0 <= start and start + n <= 2**64 - 1, got {start!r}")


def seq_messages(first: int, k: int, msg_size: int, out: np.ndarray | None = None) -> np.ndarray:
    """Messages first..first+k-1 of a stream as a (k,) array of msg_size-byte items
    (into `out`, a preallocated (>= k, msg_size // 8) uint64 array, if given)."""
    words = np.zeros((k, msg_size // 8), dtype=np.uint64) if out is None else out[:k]
    np.add(np.arange(k, dtype=np.uint64), np.uint64(first), out=words[:, 0])
    np.multiply(words[:, 0], np.uint64(SEQ_MUL), out=words[:, 1])  # wraps mod 2**64, as in C
    return words.view(np.dtype(("V", msg_size))).reshape(-1)


def produce_seq(ring: Ring, start: int, n: int, batch: int = 1, timeout: float = 5.0) -> int:
    """Push messages start..start+n-1, `batch` at a time (1: push, more:
    push_many with NumPy, one preallocated batch array); returns the elapsed ns."""
    check_stream(ring, "producer", start, n, batch)
    t0 = time.perf_counter_ns()
    if batch == 1:
        push, pack = ring.push, seq_struct(ring.msg_size).pack
        for i in range(start, start + n):
            msg = pack(i, (i * SEQ_MUL) & _U64)
            if not push(msg):
                ring.push_wait(msg, timeout)
    else:
        words = np.zeros((batch, ring.msg_size // 8), dtype=np.uint64)
        push_many = ring.push_many
        for first in range(start, start + n, batch):
            arr = seq_messages(first, min(batch, start + n - first), ring.msg_size, words)
            done = push_many(arr)
            while done < len(arr):
                rest = arr[done:]
                done += push_many(rest) or ring._wait(lambda: push_many(rest), timeout, "producer waiting for space")
    return time.perf_counter_ns() - t0


def consume_seq(ring: Ring, start: int, n: int, batch: int = 1, timeout: float = 5.0) -> tuple[int, int]:
    """Pop n messages expecting start..start+n-1, `batch` at a time; returns
    (elapsed ns, number of messages that were not the expected one)."""
    check_stream(ring, "consumer", start, n, batch)
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
        out = np.empty((batch, ring.msg_size // 8), dtype=np.uint64)  # preallocated: pop_many fills it
        expect = np.empty(batch, dtype=np.uint64)
        base = np.arange(batch, dtype=np.uint64)
        pop_many = ring.pop_many
        want = start
        while want < start + n:
            got = len(pop_many(min(batch, start + n - want), out=out))
            if not got:
                msg = ring.pop_wait(timeout)
                out[0] = np.frombuffer(msg, dtype=np.uint64)
                got = 1
            e = np.add(base[:got], np.uint64(want), out=expect[:got])
            words = out[:got]
            bad += got - int(np.count_nonzero((words[:, 0] == e) & (words[:, 1] == e * np.uint64(SEQ_MUL))))
            want += got
    return time.perf_counter_ns() - t0, bad


def pingpong(out: Ring, inbound: Ring, n: int, timeout: float = 5.0) -> np.ndarray:
    """n round trips: push on `out`, wait for the echo on `inbound`; each in ns.
    CorruptionError if an echo is not the message sent."""
    check_stream(out, "producer", 0, n, 1)
    check_stream(inbound, "consumer", 0, n, 1)
    pack = seq_struct(out.msg_size).pack
    rtt = np.zeros(n, dtype=np.int64)
    clock, push, pop = time.perf_counter_ns, out.push, inbound.pop
    for i in range(n):
        msg = pack(i, (i * SEQ_MUL) & _U64)
        t0 = clock()
        if not push(msg):
            out.push_wait(msg, timeout)
        got = pop()
        while got is None:  # spin: the echo is a few microseconds away
            got = pop()
            if got is None and clock() - t0 > timeout * 1e9:
                got = inbound.pop_wait(timeout)  # raises with the reason
        rtt[i] = clock() - t0
        if got != msg:
            raise errors.corrupted(f"ring {inbound.name!r}: echo {i} is not the message sent")
    return rtt


def echo(inbound: Ring, out: Ring, n: int, timeout: float = 5.0) -> int:
    """The other end of pingpong: n times pop from `inbound`, push it back on `out`."""
    check_stream(inbound, "consumer", 0, n, 1)
    check_stream(out, "producer", 0, n, 1)
    push, pop = out.push, inbound.pop
    for _ in range(n):
        msg = pop()
        if msg is None:
            msg = inbound.pop_wait(timeout)
        if not push(msg):
            out.push_wait(msg, timeout)
    return n


def send_stamped(ring: Ring, n: int, gap_ns: int = 2000, timeout: float = 5.0) -> None:
    """One-way latency, producer side (cimpl/spsc_ring.c:ll_ring_send_stamped):
    message i carries i and the clock just before its push; the next goes only
    once the ring is empty again and gap_ns have passed."""
    check_stream(ring, "producer", 0, n, 1)
    check_count(gap_ns, "gap_ns")
    clock, push, tail, pack = time.monotonic_ns, ring.push, ring._tail, seq_struct(ring.msg_size).pack
    for i in range(n):
        deadline = clock() + int(timeout * 1e9)
        while tail[0] != ring._index:  # [P2] the consumer has taken the last one
            if clock() > deadline:
                state = ring._peer_state()
                raise ring._peer_error(state) if state else errors.peer_timeout(f"ring {ring.name!r} stamped sender")
        until = clock() + gap_ns
        while clock() < until:
            pass
        if not push(pack(i, clock())):
            raise errors.corrupted(f"ring {ring.name!r}: full although the consumer took every message")


def recv_stamped(ring: Ring, n: int, timeout: float = 5.0) -> np.ndarray:
    """One-way latency, consumer side: for each of n messages, the clock just
    after its pop minus the stamp it carries (ns)."""
    check_stream(ring, "consumer", 0, n, 1)
    lat = np.zeros(n, dtype=np.int64)
    clock, pop, unpack = time.monotonic_ns, ring.pop, _SEQ.unpack_from
    for i in range(n):
        msg = pop()
        if msg is None:
            spin_until = clock() + 10_000_000  # spin up to 10 ms: the next message is microseconds away
            while msg is None and clock() < spin_until:
                msg = pop()
            if msg is None:
                msg = ring.pop_wait(timeout)  # knows about dead and closed producers
        now = clock()
        seq, stamp = unpack(msg)
        if seq != i:
            raise errors.corrupted(f"ring {ring.name!r}: stamped message {seq} where {i} was due")
        lat[i] = now - stamp
    return lat
