"""Lab 3 exercise: a seq-slot consumer - a known-wrong answer: pop copies
the message out of the slot first and looks at the word after.  The word
can turn to i + 1 between the two: the producer wrote the message and the
word just after the copy was taken, and the copy - an earlier lap's message,
or zeros - is returned as message i.  The word says the bytes *behind* it
are there; it says nothing about bytes read before it (guide section 4, C3:
the consumer's flag load before its slot loads)."""

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
        off = j * self.slot_size + SEQ_BYTES
        msg = self.slots[off : off + self.msg_size].tobytes()  # the message first...
        if self.words[j * (self.slot_size // 8)] != i + 1:  # ...then the word: too late
            return None
        self.index = i + 1
        self.tail[0] = i + 1  # [C2] the copy is complete: the producer may reuse the slot
        return msg

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
