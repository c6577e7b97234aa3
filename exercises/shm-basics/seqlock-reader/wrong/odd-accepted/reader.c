/*
 * Lab 1 exercise: a seqlock reader - a known-wrong answer: it compares the
 * two loads of seq but never looks at whether the first one is odd.  A copy
 * taken while a write is in progress (seq odd, some fields stored, others
 * not) sees the same odd seq before and after, and is accepted.  "Unchanged"
 * is not enough; "even and unchanged" is the rule.
 */
#include <stdatomic.h>

#include "shm_layout.h"

int ex_try_read(const ll_quote_slot *s, ll_quote *out, uint64_t *seq_out)
{
    ll_quote_slot *m = (ll_quote_slot *)s;
    uint64_t seq1 = atomic_load_explicit(&m->seq, memory_order_acquire);
    out->instrument = atomic_load_explicit(&m->instrument, memory_order_relaxed);
    out->reserved = 0;
    out->bid = atomic_load_explicit(&m->bid, memory_order_relaxed);
    out->ask = atomic_load_explicit(&m->ask, memory_order_relaxed);
    out->bid_size = atomic_load_explicit(&m->bid_size, memory_order_relaxed);
    out->ask_size = atomic_load_explicit(&m->ask_size, memory_order_relaxed);
    out->ts_ns = atomic_load_explicit(&m->ts_ns, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    uint64_t seq2 = atomic_load_explicit(&m->seq, memory_order_relaxed);
    if (seq1 != seq2)
        return 0;
    *seq_out = seq1;
    return 1;
}
