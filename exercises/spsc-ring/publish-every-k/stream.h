/* The exercise's stream (not the learner's file): message i of lab 3's
 * sequenced stream, written into a whole index-ring slot - bytes 0..7 = i,
 * bytes 8..15 = i * LL_RING_SEQ_MUL, the rest zero (cimpl/spsc_ring.c:
 * seq_fill).  The consumer, lab 3's own C consume_seq in another process,
 * checks every message against it. */
#ifndef EX_STREAM_H
#define EX_STREAM_H

#include <stdint.h>
#include <string.h>

#include "spsc_ring.h" /* LL_RING_SEQ_MUL */

static inline void ex_fill(uint8_t *slot, uint64_t i, uint32_t slot_size)
{
    uint64_t words[2] = {i, i * LL_RING_SEQ_MUL};
    memcpy(slot, words, sizeof words);
    memset(slot + sizeof words, 0, slot_size - sizeof words);
}

#endif
