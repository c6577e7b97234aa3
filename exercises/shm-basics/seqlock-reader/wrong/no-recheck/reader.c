/*
 * Lab 1 exercise: a seqlock reader - a known-wrong answer: seq is checked
 * once, before the copy, and never again.  An even seq says no write was in
 * progress when the copy started, not that none started during it: a write
 * that begins after R1 changes fields the reader then copies, and the
 * reader returns half of one write and half of the next.
 */
#include <stdatomic.h>

#include "shm_layout.h"

int ex_try_read(const ll_quote_slot *s, ll_quote *out, uint64_t *seq_out)
{
    ll_quote_slot *m = (ll_quote_slot *)s;
    uint64_t seq1 = atomic_load_explicit(&m->seq, memory_order_acquire);
    if (seq1 & 1)
        return 0;
    out->instrument = atomic_load_explicit(&m->instrument, memory_order_relaxed);
    out->reserved = 0;
    out->bid = atomic_load_explicit(&m->bid, memory_order_relaxed);
    out->ask = atomic_load_explicit(&m->ask, memory_order_relaxed);
    out->bid_size = atomic_load_explicit(&m->bid_size, memory_order_relaxed);
    out->ask_size = atomic_load_explicit(&m->ask_size, memory_order_relaxed);
    out->ts_ns = atomic_load_explicit(&m->ts_ns, memory_order_relaxed);
    *seq_out = seq1;
    return 1;
}
