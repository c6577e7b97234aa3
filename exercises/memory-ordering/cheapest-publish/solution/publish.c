/*
 * Lab 4 exercise: the cheapest correct publish - the solution.
 *
 * A release store of the flag is all the message-passing pattern needs: every
 * write before it (the plain store of *data) happens-before any read that
 * follows an acquire load which reads this value of the flag.  No fence and no
 * seq_cst: SB-style ordering (a store then a load of another variable) is not
 * what a publish needs.  On x86-64 the release store is a plain mov; the
 * seq_cst fence it replaces is a locked instruction (lab 4 section 5).
 */
#include <stdatomic.h>
#include <stdint.h>

void ex_publish(uint64_t *data, _Atomic uint64_t *flag, uint64_t v, uint64_t seq)
{
    *data = v;
    atomic_store_explicit(flag, seq, memory_order_release);
}
