/*
 * Lab 3 exercise: publish head every k messages (see README.md).
 *
 * ex_produce is the producer of an INDEX ring (cimpl/spsc_layout.h: the
 * producer stores head, the consumer stores tail, a slot is the whole
 * message).  It writes messages start .. start+n-1 of the stream (ex_fill,
 * stream.h) into slots i & (capacity - 1), and returns 0 once every one of
 * them is published: head == start + n.  On entry head == start (the previous
 * call published everything).  If the ring stays full for timeout_ns, return
 * -1.  The consumer, lab 3's C consume_seq, runs in another process on the
 * other core, and checks every message.
 *
 * This version is the lab's index_push in a loop (cimpl/spsc_ring.c): it
 * publishes every message with its own release store of head, and the line
 * holding head crosses to the consumer's core and back once per message
 * (guide section 6).  Publish less often: every k messages, and whenever you
 * are about to wait for room, and before you return.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "common.h"
#include "spsc_layout.h"
#include "stream.h"

int ex_produce(ll_ring_layout *l, uint64_t capacity, uint32_t slot_size, uint64_t start, uint64_t n,
               uint64_t timeout_ns)
{
    /* [P2] acquire: the consumer's reads of a slot are done before we see it free (pairs with C2) */
    uint64_t tail = atomic_load_explicit(&l->cons.tail, memory_order_acquire);
    for (uint64_t i = start; i < start + n; i++) {
        if (i - tail == capacity) { /* full by our cached view of tail: look again, wait if still full */
            uint64_t t0 = ll_now_ns();
            while (i - (tail = atomic_load_explicit(&l->cons.tail, memory_order_acquire)) == capacity) {
                if (ll_now_ns() - t0 > timeout_ns)
                    return -1;
                ll_cpu_relax();
            }
        }
        ex_fill(l->slots + (i & (capacity - 1)) * slot_size, i, slot_size);
        /* [P1] release: the slot's bytes are visible to a consumer that sees the new head (pairs with C1) */
        atomic_store_explicit(&l->prod.head, i + 1, memory_order_release);
    }
    return 0;
}
