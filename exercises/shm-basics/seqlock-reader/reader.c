/*
 * Lab 1 exercise: a seqlock reader (see README.md).
 *
 * ex_try_read makes ONE attempt to read the quote in slot `s`, which a writer
 * in another process may be writing at this very moment (cimpl/shm_basics.c:
 * ll_quote_write: seq goes odd, the six fields are stored, seq goes even).
 * Return 1 with *out and *seq_out filled when the copy is one write's quote,
 * published under *seq_out; return 0 when the caller must try again.  Never
 * wait here: the caller retries.
 *
 * The fields are _Atomic (shm_layout.h): read each with atomic_load_explicit.
 * This version copies the fields and returns: it ignores the sequence
 * protocol, and the check will catch it returning quotes that never existed.
 */
#include <stdatomic.h>

#include "shm_layout.h"

int ex_try_read(const ll_quote_slot *s, ll_quote *out, uint64_t *seq_out)
{
    ll_quote_slot *m = (ll_quote_slot *)s; /* C11 atomics take non-const pointers */
    *seq_out = atomic_load_explicit(&m->seq, memory_order_relaxed);
    out->instrument = atomic_load_explicit(&m->instrument, memory_order_relaxed);
    out->reserved = 0;
    out->bid = atomic_load_explicit(&m->bid, memory_order_relaxed);
    out->ask = atomic_load_explicit(&m->ask, memory_order_relaxed);
    out->bid_size = atomic_load_explicit(&m->bid_size, memory_order_relaxed);
    out->ask_size = atomic_load_explicit(&m->ask_size, memory_order_relaxed);
    out->ts_ns = atomic_load_explicit(&m->ts_ns, memory_order_relaxed);
    return 1;
}
