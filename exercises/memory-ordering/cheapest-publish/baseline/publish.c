/*
 * Lab 4 exercise: the cheapest correct publish (see README.md).
 *
 * ex_publish stores a message (*data = v) and then a flag (*flag = seq) that a
 * consumer on another core polls: once the consumer reads flag == seq with an
 * acquire load, it reads *data and must see v.  `data` is a plain uint64_t:
 * nothing about it is atomic, so only the flag's ordering can make the
 * consumer's read of it safe.
 *
 * This version is correct but pays for more than it needs.  Make it as cheap
 * as the C11 model allows, and no cheaper: the check runs it under
 * ThreadSanitizer, on the real CPU, and against this version's speed.
 */
#include <stdatomic.h>
#include <stdint.h>

void ex_publish(uint64_t *data, _Atomic uint64_t *flag, uint64_t v, uint64_t seq)
{
    *data = v;
    atomic_thread_fence(memory_order_seq_cst);
    atomic_store_explicit(flag, seq, memory_order_seq_cst);
}
