"""Lab 3 exercise: a seq-slot consumer in pure Python (see README.md).

Consumer(buf, capacity, slot_size) is the consumer end of a seq-slot ring
(cimpl/spsc_layout.h), over the ring's own bytes: `buf` is the payload of
its segment, which a C producer in another process writes.  In a seq-slot
ring, slot j = i & (capacity - 1) holds message i as an 8-byte sequence word
(i + 1 once the message is there; a word from an earlier lap, or 0, before),
then the message's msg_size = slot_size - 8 bytes.  The producer writes the
message, then the word; it reuses a slot once tail says the consumer is done
with it.  Write the two operations (guide section 7):

  pop() -> bytes | None   message self.index as bytes (a copy), or None if
                          it is not there yet; never waits
  pop_many(out) -> int    copy the next messages that are there, up to
                          len(out) of them, into the rows of `out` (a
                          preallocated (max_n, msg_size) uint8 array);
                          return how many

Each takes what it returns out of the ring: advance self.index and store
tail.  __init__ gives you the views; you need not change it.
"""

import numpy as np

from pyimpl.spsc_ring import CONS_TAIL, SEQ_BYTES, SLOTS


class Consumer:
    def __init__(self, buf, capacity: int, slot_size: int) -> None:
        self.capacity, self.slot_size, self.msg_size = capacity, slot_size, slot_size - SEQ_BYTES
        self.mask = capacity - 1
        self.tail = buf[CONS_TAIL : CONS_TAIL + 8].cast("Q")  # tail: tail[0] = x is one aligned 8-byte store
        self.slots = buf[SLOTS : SLOTS + capacity * slot_size]  # the slots' bytes
        self.words = self.slots.cast("Q")  # slot j's sequence word is self.words[j * (slot_size // 8)]
        rows = np.frombuffer(self.slots, dtype=np.uint8).reshape(capacity, slot_size)
        self.seqs = rows.view(np.uint64)[:, 0]  # every slot's sequence word, as one NumPy column
        self.msgs = rows[:, SEQ_BYTES:]  # every slot's message: a (capacity, msg_size) byte array
        self.index = self.tail[0]  # the next message to take

    def pop(self):
        raise NotImplementedError("pop(): take message self.index if its slot's word says it is there")

    def pop_many(self, out) -> int:
        raise NotImplementedError("pop_many(out): take the next messages that are there, up to len(out)")
