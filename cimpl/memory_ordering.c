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
#include <time.h>

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
    case LL_SB_FENCE: /* the same with a seq_cst fence between store and load (a full barrier) */
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

/* Instances per chunk: a run of n instances reuses one chunk's arrays
 * (128 B of variables per instance: 8 MiB), so n is not bounded by memory. */
#define CHUNK 65536

/* One chunk of L->n instances on two threads; adds its outcomes to hist. */
static int run_chunk(litmus_run *L, int64_t *hist)
{
    memset(L->inst, 0, (size_t)L->n * sizeof *L->inst);
    atomic_store_explicit(&L->ready0, 0, memory_order_relaxed);
    atomic_store_explicit(&L->ready1, 0, memory_order_relaxed);
    pthread_t th;
    if (pthread_create(&th, NULL, side1_main, L) != 0) /* creating the thread orders the above before it */
        return LL_ENORES;
    L->rc[0] = L->cpu[0] >= 0 ? ll_pin_self(L->cpu[0]) : LL_OK;
    run_side(L, 0);
    pthread_join(th, NULL); /* ...and joining orders its reads into r1 before ours below */
    if (L->rc[0] != LL_OK || L->rc[1] != LL_OK)
        return LL_ENOCPU;
    for (int64_t i = 0; i < L->n; i++) {
        int a, b;
        if (L->test == LL_2W_RELAXED) { /* outcome = final values: x in {1,2}, y in {1,2} */
            a = atomic_load_explicit(&L->inst[i].x, memory_order_relaxed) - 1;
            b = atomic_load_explicit(&L->inst[i].y, memory_order_relaxed) - 1;
        } else {
            a = L->r0[i];
            b = L->r1[i];
        }
        hist[(a & 1) * 2 + (b & 1)]++;
    }
    return LL_OK;
}

LL_EXPORT int ll_litmus_run(int test, int64_t n, int cpu0, int cpu1, int64_t *hist /* [4] */)
{
    if (test < LL_SB_RELAXED || test > LL_2W_RELAXED || n <= 0 || hist == NULL)
        return LL_EINVAL;
    int64_t chunk = n < CHUNK ? n : CHUNK;
    litmus_run *L = aligned_alloc(LL_PAD, sizeof *L);
    instance *inst = aligned_alloc(LL_CACHELINE, (size_t)chunk * sizeof *inst);
    int *r = calloc(2 * (size_t)chunk, sizeof *r);
    int rc = LL_OK;
    if (L == NULL || inst == NULL || r == NULL) {
        rc = LL_ENORES;
        goto out;
    }
    memset(L, 0, sizeof *L);
    *L = (litmus_run){.inst = inst, .r0 = r, .r1 = r + chunk, .test = test, .cpu = {cpu0, cpu1}};
    memset(hist, 0, 4 * sizeof *hist);
    cpu_set_t old;
    pthread_getaffinity_np(pthread_self(), sizeof old, &old);
    for (int64_t done = 0; done < n && rc == LL_OK; done += L->n) {
        L->n = n - done < chunk ? n - done : chunk;
        rc = run_chunk(L, hist);
    }
    pthread_setaffinity_np(pthread_self(), sizeof old, &old);
out:
    free(L);
    free(inst);
    free(r);
    return rc;
}

/* ----------------------------------------------------------- fence costs */
/* where the acquire-load loop's sum goes, so the loads are not optimised away;
 * atomic because the contended run's two threads both write it */
static _Atomic int64_t fence_sink;

/* n operations of one kind on *cell, in a loop; returns elapsed ns.  One
 * switch outside the loops, so each loop is only its operation (and i++). */
static int64_t op_loop(int kind, int64_t n, _Atomic int64_t *cell)
{
    int64_t acc = 0;
    uint64_t t0 = ll_now_ns();
    switch (kind) {
    case LL_OP_PLAIN_STORE:
        for (int64_t i = 0; i < n; i++)
            atomic_store_explicit(cell, i, memory_order_relaxed); /* mov */
        break;
    case LL_OP_SEQ_CST_FENCE:
        for (int64_t i = 0; i < n; i++) {
            atomic_store_explicit(cell, i, memory_order_relaxed);
            atomic_thread_fence(memory_order_seq_cst); /* gcc 11+: `lock orq $0,(%rsp)`, cheaper than mfence */
        }
        break;
    case LL_OP_FETCH_ADD:
        for (int64_t i = 0; i < n; i++)
            atomic_fetch_add_explicit(cell, 1, memory_order_relaxed); /* lock add: a full barrier on x86 whatever the order */
        break;
    case LL_OP_SEQ_CST_STORE:
        for (int64_t i = 0; i < n; i++)
            atomic_store_explicit(cell, i, memory_order_seq_cst); /* xchg (implicitly locked) */
        break;
    case LL_OP_RELEASE_STORE:
        for (int64_t i = 0; i < n; i++)
            atomic_store_explicit(cell, i, memory_order_release); /* a plain mov: TSO stores are already ordered */
        break;
    case LL_OP_ACQUIRE_LOAD:
        for (int64_t i = 0; i < n; i++)
            acc += atomic_load_explicit(cell, memory_order_acquire); /* a plain mov: TSO loads are already ordered */
        break;
    }
    uint64_t t1 = ll_now_ns();
    atomic_store_explicit(&fence_sink, acc, memory_order_relaxed); /* any order: nobody reads it */
    return (int64_t)(t1 - t0);
}

static int valid_op(int kind, int64_t n)
{
    return n > 0 && kind >= LL_OP_PLAIN_STORE && kind <= LL_OP_ACQUIRE_LOAD;
}

/* The cell the single-thread loop works on, on its own lines. */
static _Alignas(LL_PAD) _Atomic int64_t solo_cell;

LL_EXPORT int64_t ll_fence_cost(int kind, int64_t n)
{
    if (!valid_op(kind, n))
        return LL_EINVAL;
    return op_loop(kind, n, &solo_cell);
}

/* Two threads running the same loop on one shared cell. */
typedef struct {
    _Alignas(LL_PAD) _Atomic int64_t cell;
    _Alignas(LL_PAD) _Atomic int go; /* the start line: both loops overlap */
    _Atomic int arrived;
    int kind, cpu[2], rc[2];
    int64_t n, ns[2];
} contended_run;

static void contended_side(contended_run *C, int side)
{
    C->rc[side] = C->cpu[side] >= 0 ? ll_pin_self(C->cpu[side]) : LL_OK;
    /* acq_rel: the last to arrive sees the other's arrival and says go */
    if (atomic_fetch_add_explicit(&C->arrived, 1, memory_order_acq_rel) == 1)
        atomic_store_explicit(&C->go, 1, memory_order_release);
    while (!atomic_load_explicit(&C->go, memory_order_acquire))
        ll_cpu_relax();
    C->ns[side] = op_loop(C->kind, C->n, &C->cell);
}

static void *contended_main(void *arg)
{
    contended_side(arg, 1);
    return NULL;
}

LL_EXPORT int64_t ll_fence_cost_contended(int kind, int64_t n, int cpu0, int cpu1)
{
    if (!valid_op(kind, n))
        return LL_EINVAL;
    contended_run *C = aligned_alloc(LL_PAD, sizeof *C);
    if (C == NULL)
        return LL_ENORES;
    memset(C, 0, sizeof *C);
    C->kind = kind;
    C->n = n;
    C->cpu[0] = cpu0;
    C->cpu[1] = cpu1;
    cpu_set_t old;
    pthread_getaffinity_np(pthread_self(), sizeof old, &old);
    pthread_t th;
    int64_t rc;
    if (pthread_create(&th, NULL, contended_main, C) != 0) {
        rc = LL_ENORES;
    } else {
        contended_side(C, 0);
        pthread_join(th, NULL);
        rc = C->rc[0] != LL_OK || C->rc[1] != LL_OK ? LL_ENOCPU
             : C->ns[0] > C->ns[1]                 ? C->ns[0] /* the slower side: both did n */
                                                   : C->ns[1];
    }
    pthread_setaffinity_np(pthread_self(), sizeof old, &old);
    free(C);
    return rc;
}

/* ------------------------------------------------- the compiler hoisting */
/*
 * A thread waits for another to set a flag.  With a plain int the compiler
 * may assume no other thread writes it (a data race is undefined behaviour),
 * load it once before the loop, and spin forever on the register: the loop
 * "hangs" though the flag was set.  With an atomic, every iteration loads.
 *
 * The demo needs the optimiser whatever the build (the sanitizer builds are
 * -O0), so these two functions ask GCC for -O2 themselves, and opt out of
 * the sanitizers, whose checks inside the loop would stop the hoisting.
 */
#if defined(__GNUC__) && !defined(__clang__)
#define LL_OPTIMISED __attribute__((optimize("O2"), noinline, no_sanitize("address", "undefined", "thread")))
#else
#define LL_OPTIMISED __attribute__((noinline, no_sanitize("address", "undefined", "thread")))
#endif

LL_EXPORT LL_OPTIMISED void ll_wait_plain(const int *flag)
{
    while (!*flag) /* gcc -O2: one load, then `jmp` to itself */
        ;
}

LL_EXPORT LL_OPTIMISED void ll_wait_atomic(const _Atomic int *flag)
{
    /* relaxed suffices: we need a load per iteration, not an order */
    while (!atomic_load_explicit(flag, memory_order_relaxed))
        ;
}

typedef struct {
    _Alignas(LL_PAD) union {
        int plain;
        _Atomic int atomic;
    } flag;
    int64_t delay_ns;
    uint64_t set_at;
} flag_demo;

static void *setter_main(void *arg)
{
    flag_demo *F = arg;
    struct timespec ts = {.tv_sec = F->delay_ns / 1000000000, .tv_nsec = F->delay_ns % 1000000000};
    nanosleep(&ts, NULL);
    F->set_at = ll_now_ns();
    atomic_store_explicit(&F->flag.atomic, 1, memory_order_release);
    return NULL;
}

LL_EXPORT int64_t ll_flag_wait(int atomic, int64_t delay_ns, int *early)
{
    if (delay_ns < 0 || early == NULL)
        return LL_EINVAL;
    static flag_demo F; /* static: if the plain wait hangs, the setter's memory stays valid */
    memset(&F, 0, sizeof F);
    F.delay_ns = delay_ns;
    pthread_t th;
    if (pthread_create(&th, NULL, setter_main, &F) != 0)
        return LL_ENORES;
    if (atomic)
        ll_wait_atomic(&F.flag.atomic);
    else
        ll_wait_plain(&F.flag.plain); /* may never return: run it in a process you can kill */
    uint64_t seen = ll_now_ns();
    int set_before = atomic_load_explicit(&F.flag.atomic, memory_order_acquire);
    pthread_join(th, NULL);
    /* a compiler may also drop the loop (C11 6.8.5p6 lets it assume a loop
     * without side effects ends): then the wait returns before the store */
    *early = !set_before;
    return *early ? 0 : (int64_t)(seen - F.set_at); /* ns from the store to the waiter seeing it */
}
