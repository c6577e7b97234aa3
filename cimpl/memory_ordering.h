/* memory_ordering.h - the C API of lab 4 (cimpl/memory_ordering.c). */
#ifndef LL_MEMORY_ORDERING_H
#define LL_MEMORY_ORDERING_H

#include <stdint.h>

/* the litmus tests and their variants */
enum {
    LL_SB_RELAXED = 1, /* store buffering, relaxed */
    LL_SB_FENCE,       /* store buffering, seq_cst fence between store and load */
    LL_SB_SEQ_CST,     /* store buffering, seq_cst stores and loads */
    LL_MP_RELAXED,     /* message passing, relaxed */
    LL_MP_RELACQ,      /* message passing, release store / acquire load of the flag */
    LL_LB_RELAXED,     /* load buffering, relaxed */
    LL_2W_RELAXED,     /* 2+2W, relaxed */
};

/* the operations whose cost ll_fence_cost measures */
enum {
    LL_OP_PLAIN_STORE = 1,
    LL_OP_SEQ_CST_FENCE, /* a store + atomic_thread_fence(seq_cst) */
    LL_OP_FETCH_ADD,
    LL_OP_SEQ_CST_STORE,
    LL_OP_RELEASE_STORE,
    LL_OP_ACQUIRE_LOAD,
};

/* Run `test` n times, thread 0 on cpu0 and thread 1 on cpu1 (-1: unpinned);
 * hist[2*a + b] counts the outcomes (a, b) = (r0, r1), or for 2+2W the final
 * (x - 1, y - 1).  Returns LL_OK or an error. */
int ll_litmus_run(int test, int64_t n, int cpu0, int cpu1, int64_t *hist);

/* n operations of `kind` in a loop, one thread; elapsed ns (or an error). */
int64_t ll_fence_cost(int kind, int64_t n);

/* The same loop on two threads (cpu0, cpu1; -1: unpinned) sharing one
 * cell, started together; the slower thread's elapsed ns (or an error). */
int64_t ll_fence_cost_contended(int kind, int64_t n, int cpu0, int cpu1);

/* The compiler-hoisting demo: wait in a loop for a flag another thread sets
 * after delay_ns, as a plain int (atomic = 0) or an atomic (1).  Returns the
 * ns from the store to the waiter seeing it; *early = 1 if the wait returned
 * before the store.  The plain wait may never return: call it in a process
 * that a watchdog can kill. */
int64_t ll_flag_wait(int atomic, int64_t delay_ns, int *early);
void ll_wait_plain(const int *flag);
void ll_wait_atomic(const _Atomic int *flag);

#endif
