/*
 * Lab 1 exercise: a seqlock reader - the solution (guide section 4).
 *
 * R1: load seq with acquire (pairs with the writer's final release store); an
 *     odd value means a write is in progress: retry.
 * R2: copy the fields with relaxed atomic loads (they may race with a writer:
 *     that is why they are atomic).
 * R3: an acquire fence, so no field load can be performed after R4.
 * R4: load seq again; a different value means a write overlapped the copy:
 *     retry.  Otherwise the copy is write (seq1 / 2 - 1)'s quote, whole.
 * On x86-64 all of it is plain movs; on ARM64 R1 is ldar, R3 a dmb ishld.
 */
#include <stdatomic.h>

#include "shm_layout.h"

int ex_try_read(const ll_quote_slot *s, ll_quote *out, uint64_t *seq_out)
{
    ll_quote_slot *m = (ll_quote_slot *)s; /* C11 atomics take non-const pointers */
    uint64_t seq1 = atomic_load_explicit(&m->seq, memory_order_acquire);           /* R1 */
    if (seq1 & 1)
        return 0;
    out->instrument = atomic_load_explicit(&m->instrument, memory_order_relaxed); /* R2 */
    out->reserved = 0;
    out->bid = atomic_load_explicit(&m->bid, memory_order_relaxed);
    out->ask = atomic_load_explicit(&m->ask, memory_order_relaxed);
    out->bid_size = atomic_load_explicit(&m->bid_size, memory_order_relaxed);
    out->ask_size = atomic_load_explicit(&m->ask_size, memory_order_relaxed);
    out->ts_ns = atomic_load_explicit(&m->ts_ns, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);                                     /* R3 */
    uint64_t seq2 = atomic_load_explicit(&m->seq, memory_order_relaxed);           /* R4 */
    if (seq1 != seq2)
        return 0;
    *seq_out = seq1;
    return 1;
}
