/*
 * Lab 3 exercise: publish head every k messages - a known-wrong answer: it
 * publishes every K messages and when it must wait, but not before it
 * returns.  When n is not a multiple of K the last n % K messages are in
 * their slots and invisible: the consumer waits for them, and a feed that
 * pauses leaves them there until the next message comes, if it ever does.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "common.h"
#include "spsc_layout.h"
#include "stream.h"

#define K 32

int ex_produce(ll_ring_layout *l, uint64_t capacity, uint32_t slot_size, uint64_t start, uint64_t n,
               uint64_t timeout_ns)
{
    uint64_t tail = atomic_load_explicit(&l->cons.tail, memory_order_acquire);
    for (uint64_t i = start; i < start + n; i++) {
        if (i - tail == capacity) {
            atomic_store_explicit(&l->prod.head, i, memory_order_release);
            uint64_t t0 = ll_now_ns();
            while (i - (tail = atomic_load_explicit(&l->cons.tail, memory_order_acquire)) == capacity) {
                if (ll_now_ns() - t0 > timeout_ns)
                    return -1;
                ll_cpu_relax();
            }
        }
        ex_fill(l->slots + (i & (capacity - 1)) * slot_size, i, slot_size);
        if ((i + 1) % K == 0)
            atomic_store_explicit(&l->prod.head, i + 1, memory_order_release);
    }
    return 0;
}
