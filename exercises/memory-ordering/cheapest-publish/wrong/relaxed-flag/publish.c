/* Lab 4 exercise: the cheapest correct publish - a known-wrong answer: the
 * flag relaxed.  As fast as the solution, the same mov on x86-64, and it
 * passes on the real x86 CPU - but in C11 nothing orders *data before the
 * flag, so the consumer's read of *data is a data race (ThreadSanitizer
 * reports it), and on ARM64 the consumer can see the flag and the old data. */
#include <stdatomic.h>
#include <stdint.h>

void ex_publish(uint64_t *data, _Atomic uint64_t *flag, uint64_t v, uint64_t seq)
{
    *data = v;
    atomic_store_explicit(flag, seq, memory_order_relaxed);
}
