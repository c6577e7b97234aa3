/*
 * Lab 3 exercise: publish head every k messages - the solution.
 *
 * head is stored every K messages, so its line crosses to the consumer and
 * back once per K messages instead of once per message; the slots' lines
 * still cross one each, but those transfers overlap (guide section 6).  Two
 * more stores keep every message deliverable:
 * - before waiting for room: the consumer can only free slots whose messages
 *   it can see, and a message held back while the producer waits is latency
 *   for nothing (with K >= capacity it would be a deadlock);
 * - before returning: head == start + n, every message published.
 * The price is latency: a message waits for up to K - 1 others (exercise 4,
 * item 2).  A feed handler flushes whenever its input runs dry.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "common.h"
#include "spsc_layout.h"
#include "stream.h"

#define K 32 /* messages per store of head */

int ex_produce(ll_ring_layout *l, uint64_t capacity, uint32_t slot_size, uint64_t start, uint64_t n,
               uint64_t timeout_ns)
{
    uint64_t tail = atomic_load_explicit(&l->cons.tail, memory_order_acquire); /* [P2] */
    for (uint64_t i = start; i < start + n; i++) {
        if (i - tail == capacity) {
            atomic_store_explicit(&l->prod.head, i, memory_order_release); /* [P1] flush before waiting */
            uint64_t t0 = ll_now_ns();
            while (i - (tail = atomic_load_explicit(&l->cons.tail, memory_order_acquire)) == capacity) {
                if (ll_now_ns() - t0 > timeout_ns)
                    return -1;
                ll_cpu_relax();
            }
        }
        ex_fill(l->slots + (i & (capacity - 1)) * slot_size, i, slot_size);
        if ((i + 1 - start) % K == 0)
            atomic_store_explicit(&l->prod.head, i + 1, memory_order_release); /* [P1] every K messages */
    }
    atomic_store_explicit(&l->prod.head, start + n, memory_order_release); /* [P1] the rest, before returning */
    return 0;
}
