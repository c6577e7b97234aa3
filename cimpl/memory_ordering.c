/*
 * memory_ordering.c - lab 4: litmus tests run on the real CPU, and the cost
 * of the instructions that order memory.
 *
 * A litmus test is two tiny threads touching two shared locations; each run
 * ends in one of a few outcomes, and a memory model says which outcomes are
 * allowed.  We run each test many times, two threads pinned to two CPUs,
 * starting every instance together, and count every outcome.
 *
 * Each instance uses fresh variables (an array of instances, as litmus7
 * does), so no instance sees another's values; the two threads meet at a
 * start line before each instance, so their accesses overlap in time.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "memory_ordering.h"

/* One instance's variables, each on its own cache line (x, y), and the
 * registers the threads read into. */
typedef struct {
    _Alignas(LL_CACHELINE) _Atomic int x;
    _Alignas(LL_CACHELINE) _Atomic int y;
} instance;

typedef struct {
    instance *inst;
    int *r0, *r1;            /* what thread 0 / thread 1 read, per instance */
    int64_t n;
    int test;
    int cpu[2];
    /* start lines: thread t publishes the instance it is ready for */
    _Alignas(LL_PAD) _Atomic int64_t ready0;
    _Alignas(LL_PAD) _Atomic int64_t ready1;
    _Alignas(LL_PAD) int rc[2];
} litmus_run;

/* The tests.  The comments give the interesting outcome; the models'
 * verdicts live in one table, labs/memory_ordering.py:VERDICTS. */
static inline void thread0(const litmus_run *L, int64_t i)
{
    instance *v = &L->inst[i];
    switch (L->test) {
    case LL_SB_RELAXED: /* x=1; r0=y   || y=1; r1=x   interesting: r0=0, r1=0 */
        atomic_store_explicit(&v->x, 1, memory_order_relaxed);
        L->r0[i] = atomic_load_explicit(&v->y, memory_order_relaxed);
        break;
    case LL_SB_FENCE: /* the same with a seq_cst fence between store and load (mfence) */
        atomic_store_explicit(&v->x, 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst);
        L->r0[i] = atomic_load_explicit(&v->y, memory_order_relaxed);
        break;
    case LL_SB_SEQ_CST: /* seq_cst store (xchg on x86) and load */
        atomic_store_explicit(&v->x, 1, memory_order_seq_cst);
        L->r0[i] = atomic_load_explicit(&v->y, memory_order_seq_cst);
        break;
    case LL_MP_RELAXED: /* data=1; flag=1   || r0=flag; r1=data   interesting: r0=1, r1=0 (x is data, y is flag) */
        atomic_store_explicit(&v->x, 1, memory_order_relaxed);
        atomic_store_explicit(&v->y, 1, memory_order_relaxed);
        break;
    case LL_MP_RELACQ: /* flag stored with release, loaded with acquire */
        atomic_store_explicit(&v->x, 1, memory_order_relaxed);
        atomic_store_explicit(&v->y, 1, memory_order_release);
        break;
    case LL_LB_RELAXED: /* r0=x; y=1   || r1=y; x=1   interesting: r0=1, r1=1 */
        L->r0[i] = atomic_load_explicit(&v->x, memory_order_relaxed);
        atomic_store_explicit(&v->y, 1, memory_order_relaxed);
        break;
    case LL_2W_RELAXED: /* x=1; y=2   || y=1; x=2   interesting: finally x=1, y=1 */
        atomic_store_explicit(&v->x, 1, memory_order_relaxed);
        atomic_store_explicit(&v->y, 2, memory_order_relaxed);
        break;
    }
}

static inline void thread1(const litmus_run *L, int64_t i)
{
    instance *v = &L->inst[i];
    switch (L->test) {
    case LL_SB_RELAXED:
        atomic_store_explicit(&v->y, 1, memory_order_relaxed);
        L->r1[i] = atomic_load_explicit(&v->x, memory_order_relaxed);
        break;
    case LL_SB_FENCE:
        atomic_store_explicit(&v->y, 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst);
        L->r1[i] = atomic_load_explicit(&v->x, memory_order_relaxed);
        break;
    case LL_SB_SEQ_CST:
        atomic_store_explicit(&v->y, 1, memory_order_seq_cst);
        L->r1[i] = atomic_load_explicit(&v->x, memory_order_seq_cst);
        break;
    case LL_MP_RELAXED:
        L->r0[i] = atomic_load_explicit(&v->y, memory_order_relaxed); /* flag */
        L->r1[i] = atomic_load_explicit(&v->x, memory_order_relaxed); /* data */
        break;
    case LL_MP_RELACQ:
        L->r0[i] = atomic_load_explicit(&v->y, memory_order_acquire);
        L->r1[i] = atomic_load_explicit(&v->x, memory_order_relaxed);
        break;
    case LL_LB_RELAXED:
        L->r1[i] = atomic_load_explicit(&v->y, memory_order_relaxed);
        atomic_store_explicit(&v->x, 1, memory_order_relaxed);
        break;
    case LL_2W_RELAXED:
        atomic_store_explicit(&v->y, 1, memory_order_relaxed);
        atomic_store_explicit(&v->x, 2, memory_order_relaxed);
        break;
    }
}

/* Both threads: for each instance, say "ready for i", wait until the other
 * is ready for i too, then run this thread's half.  The start line uses
 * acquire/release so that instance i's zeroed variables (written before the
 * run) are what both threads start from. */
static void run_side(litmus_run *L, int side)
{
    _Atomic int64_t *mine = side ? &L->ready1 : &L->ready0;
    _Atomic int64_t *other = side ? &L->ready0 : &L->ready1;
    for (int64_t i = 0; i < L->n; i++) {
        atomic_store_explicit(mine, i + 1, memory_order_release);
        while (atomic_load_explicit(other, memory_order_acquire) < i + 1)
            ll_cpu_relax();
        if (side)
            thread1(L, i);
        else
            thread0(L, i);
    }
}

static void *side1_main(void *arg)
{
    litmus_run *L = arg;
    L->rc[1] = L->cpu[1] >= 0 ? ll_pin_self(L->cpu[1]) : LL_OK;
    run_side(L, 1); /* runs even if pinning failed, so side 0 is never left waiting */
    return NULL;
}

LL_EXPORT int ll_litmus_run(int test, int64_t n, int cpu0, int cpu1, int64_t *hist /* [4] */)
{
    if (test < LL_SB_RELAXED || test > LL_2W_RELAXED || n <= 0 || hist == NULL)
        return LL_EINVAL;
    litmus_run *L = aligned_alloc(LL_PAD, sizeof *L);
    instance *inst = aligned_alloc(LL_CACHELINE, (size_t)n * sizeof *inst);
    int *r = calloc(2 * (size_t)n, sizeof *r);
    int rc = LL_OK;
    if (L == NULL || inst == NULL || r == NULL) {
        rc = LL_ENORES;
        goto out;
    }
    memset(L, 0, sizeof *L);
    memset(inst, 0, (size_t)n * sizeof *inst);
    *L = (litmus_run){.inst = inst, .r0 = r, .r1 = r + n, .n = n, .test = test, .cpu = {cpu0, cpu1}};
    cpu_set_t old;
    pthread_getaffinity_np(pthread_self(), sizeof old, &old);
    pthread_t th;
    if (pthread_create(&th, NULL, side1_main, L) != 0) {
        rc = LL_ENORES;
        goto out;
    }
    L->rc[0] = cpu0 >= 0 ? ll_pin_self(cpu0) : LL_OK;
    run_side(L, 0);
    pthread_join(th, NULL);
    pthread_setaffinity_np(pthread_self(), sizeof old, &old);
    if (L->rc[0] != LL_OK || L->rc[1] != LL_OK) {
        rc = LL_ENOCPU;
        goto out;
    }
    memset(hist, 0, 4 * sizeof *hist);
    for (int64_t i = 0; i < n; i++) {
        int a, b;
        if (test == LL_2W_RELAXED) { /* outcome = final values: x in {1,2}, y in {1,2} */
            a = atomic_load_explicit(&inst[i].x, memory_order_relaxed) - 1;
            b = atomic_load_explicit(&inst[i].y, memory_order_relaxed) - 1;
        } else {
            a = L->r0[i];
            b = L->r1[i];
        }
        hist[(a & 1) * 2 + (b & 1)]++;
    }
out:
    free(L);
    free(inst);
    free(r);
    return rc;
}

/* ----------------------------------------------------------- fence costs */
static volatile int64_t fence_sink;

/* n operations of one kind in a loop, one thread; returns elapsed ns. */
LL_EXPORT int64_t ll_fence_cost(int kind, int64_t n)
{
    if (n <= 0 || kind < LL_OP_PLAIN_STORE || kind > LL_OP_ACQUIRE_LOAD)
        return LL_EINVAL;
    static _Alignas(LL_PAD) _Atomic int64_t cell;
    int64_t acc = 0;
    uint64_t t0 = ll_now_ns();
    switch (kind) {
    case LL_OP_PLAIN_STORE:
        for (int64_t i = 0; i < n; i++)
            atomic_store_explicit(&cell, i, memory_order_relaxed);
        break;
    case LL_OP_SEQ_CST_FENCE:
        for (int64_t i = 0; i < n; i++) {
            atomic_store_explicit(&cell, i, memory_order_relaxed);
            atomic_thread_fence(memory_order_seq_cst); /* mfence on x86-64 */
        }
        break;
    case LL_OP_FETCH_ADD:
        for (int64_t i = 0; i < n; i++)
            atomic_fetch_add_explicit(&cell, 1, memory_order_relaxed); /* lock add */
        break;
    case LL_OP_SEQ_CST_STORE:
        for (int64_t i = 0; i < n; i++)
            atomic_store_explicit(&cell, i, memory_order_seq_cst); /* xchg */
        break;
    case LL_OP_RELEASE_STORE:
        for (int64_t i = 0; i < n; i++)
            atomic_store_explicit(&cell, i, memory_order_release); /* a plain mov */
        break;
    case LL_OP_ACQUIRE_LOAD:
        for (int64_t i = 0; i < n; i++)
            acc += atomic_load_explicit(&cell, memory_order_acquire); /* a plain mov */
        break;
    }
    uint64_t t1 = ll_now_ns();
    fence_sink = acc;
    return (int64_t)(t1 - t0);
}
