"""Lab 3 exercise: a seq-slot consumer - a known-wrong answer: pop stores
tail before it copies the message out.  tail tells the producer the slot is
free; a producer waiting for room (the ring is full) writes the next lap's
message into it at once, while this consumer is still copying: it returns
a message that is part message i, part message i + capacity (guide section
4, C2: the consumer's slot loads before its tail store)."""

import numpy as np

from pyimpl.spsc_ring import CONS_TAIL, SEQ_BYTES, SLOTS


class Consumer:
    def __init__(self, buf, capacity: int, slot_size: int) -> None:
        self.capacity, self.slot_size, self.msg_size = capacity, slot_size, slot_size - SEQ_BYTES
        self.mask = capacity - 1
        self.tail = buf[CONS_TAIL : CONS_TAIL + 8].cast("Q")
        self.slots = buf[SLOTS : SLOTS + capacity * slot_size]
        self.words = self.slots.cast("Q")
        rows = np.frombuffer(self.slots, dtype=np.uint8).reshape(capacity, slot_size)
        self.seqs = rows.view(np.uint64)[:, 0]
        self.msgs = rows[:, SEQ_BYTES:]
        self.index = self.tail[0]

    def pop(self):
        i = self.index
        j = i & self.mask
        if self.words[j * (self.slot_size // 8)] != i + 1:  # [C3] the word first: is message i there?
            return None
        off = j * self.slot_size + SEQ_BYTES
        self.index = i + 1
        self.tail[0] = i + 1  # "free" the slot first...
        return self.slots[off : off + self.msg_size].tobytes()  # ...then copy what may be overwritten now

    def pop_many(self, out) -> int:
        room = min(len(out), self.capacity)
        i = self.index
        j = i & self.mask
        first = min(room, self.capacity - j)  # slots before the end of the array; the rest wrap to 0
        want = np.arange(i + 1, i + room + 1, dtype=np.uint64)
        ready = np.concatenate((self.seqs[j : j + first], self.seqs[: room - first])) == want  # [C3]
        k = room if ready.all() else int(ready.argmin())  # the leading run of messages that are there
        if k:
            f = min(k, first)
            out[:f] = self.msgs[j : j + f]
            out[f:k] = self.msgs[: k - f]
            self.index = i + k
            self.tail[0] = i + k  # [C2] once, for the whole run
        return k
