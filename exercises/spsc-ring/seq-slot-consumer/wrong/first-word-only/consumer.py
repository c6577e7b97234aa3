"""Lab 3 exercise: a seq-slot consumer - a known-wrong answer: pop_many
looks at the first slot's word only and then takes len(out) slots, as if
the word were the index ring's head, which counts every message published.
It is not: a word vouches for its own slot only.  When the producer has
published fewer than len(out) messages, the slots after them still hold an
earlier lap's messages (or zeros), and they are returned as new ones."""

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
        msg = self.slots[off : off + self.msg_size].tobytes()  # then the message: a copy
        self.index = i + 1
        self.tail[0] = i + 1  # [C2] the copy is complete: the producer may reuse the slot
        return msg

    def pop_many(self, out) -> int:
        room = min(len(out), self.capacity)
        i = self.index
        j = i & self.mask
        first = min(room, self.capacity - j)  # slots before the end of the array; the rest wrap to 0
        want = np.arange(i + 1, i + room + 1, dtype=np.uint64)
        k = room if self.seqs[j] == want[0] else 0  # the first word only: "the rest must be there too"
        if k:
            f = min(k, first)
            out[:f] = self.msgs[j : j + f]
            out[f:k] = self.msgs[: k - f]
            self.index = i + k
            self.tail[0] = i + k  # [C2] once, for the whole run
        return k
