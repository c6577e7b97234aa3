/*
 * false_sharing.c - lab 2: counters that share a cache line, and counters that don't.
 *
 * W threads, each pinned to its own CPU, each increments its OWN counter n
 * times.  No counter is shared, yet when the counters sit in one cache line
 * every increment needs that line in the Modified state in its core, so the
 * line bounces between the cores (false sharing).  Spread the counters 64
 * bytes apart and each core keeps its line; on x86-64 spread them 128 bytes
 * apart, because the L2 "adjacent-line" prefetcher fetches lines in pairs.
 *
 * The counters live in a lab-1 shared-memory segment (cimpl/false_sharing.py
 * creates it through lab 1's API and passes its address here): the same bytes
 * that Python worker processes increment in pyimpl/false_sharing.py.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common.h"
#include "false_sharing.h"

/* One increment loop, the only code that is timed.
 *
 * LL_FS_PLAIN: a relaxed load and a relaxed store - what `counter++` on a
 *   volatile (or a plain variable the compiler keeps in memory) does.  Not an
 *   atomic read-modify-write, which is fine: each counter has one writer.
 *   relaxed suffices because nobody orders anything against these counters
 *   until the threads are joined (pthread_join synchronises).
 * LL_FS_ATOMIC: atomic_fetch_add, relaxed - a locked add on x86-64 (`lock
 *   add`; `lock xadd` when the old value is used), the increment a shared
 *   statistics counter uses.  relaxed: atomicity is all we
 *   need; the lock prefix makes it a full barrier on x86 anyway. */
static void increment_loop(_Atomic int64_t *c, int64_t n, int kind)
{
    if (kind == LL_FS_ATOMIC) {
        for (int64_t i = 0; i < n; i++)
            atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
    } else {
        for (int64_t i = 0; i < n; i++)
            atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
    }
}

LL_EXPORT int64_t ll_fs_increment(void *counter, int64_t n, int kind, int cpu)
{
    if (counter == NULL || ((uintptr_t)counter & 7) != 0 || n <= 0 || (kind != LL_FS_PLAIN && kind != LL_FS_ATOMIC))
        return LL_EINVAL;
    if (cpu >= 0 && ll_pin_self(cpu) != LL_OK)
        return LL_ENOCPU;
    uint64_t t0 = ll_now_ns();
    increment_loop(counter, n, kind);
    return (int64_t)(ll_now_ns() - t0);
}

/* ------------------------------------------------------------ W threads */
typedef struct {
    _Atomic int64_t *counter;
    int64_t n;
    int kind;
    int cpu;
    _Atomic int *ready; /* start line: every thread pinned before any starts counting */
    int workers;
    int64_t elapsed_ns; /* out, or a negative error */
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    int rc = w->cpu >= 0 ? ll_pin_self(w->cpu) : LL_OK;
    /* release/acquire on the start counter: a thread leaves the start line
     * only when all have arrived (and pinned, or failed to). */
    atomic_fetch_add_explicit(w->ready, 1, memory_order_acq_rel);
    for (uint32_t spins = 1; atomic_load_explicit(w->ready, memory_order_acquire) < w->workers; spins++) {
        ll_cpu_relax();
        if ((spins & 1023) == 0) /* more threads than CPUs: let the late ones run */
            sched_yield();
    }
    if (rc != LL_OK) {
        w->elapsed_ns = rc;
        return NULL;
    }
    uint64_t t0 = ll_now_ns();
    increment_loop(w->counter, w->n, w->kind);
    w->elapsed_ns = (int64_t)(ll_now_ns() - t0);
    return NULL;
}

LL_EXPORT int ll_fs_run(void *base, int workers, int64_t stride, int64_t n, int kind, const int *cpus,
                        int64_t *elapsed_ns)
{
    if (base == NULL || elapsed_ns == NULL || workers <= 0 || workers > LL_FS_MAX_WORKERS || stride < 8 ||
        (stride & 7) != 0 || ((uintptr_t)base & 7) != 0 || n <= 0 || (kind != LL_FS_PLAIN && kind != LL_FS_ATOMIC))
        return LL_EINVAL;
    /* Setup allocates; the timed loops do not. */
    worker *ws = calloc((size_t)workers, sizeof *ws);
    pthread_t *th = calloc((size_t)workers, sizeof *th);
    _Atomic int ready = 0;
    int rc = LL_OK, started = 0;
    if (ws == NULL || th == NULL) {
        rc = LL_ENORES;
        goto out;
    }
    for (int i = 0; i < workers; i++) {
        ws[i] = (worker){
            .counter = (_Atomic int64_t *)((char *)base + (int64_t)i * stride),
            .n = n,
            .kind = kind,
            .cpu = cpus ? cpus[i] : -1,
            .ready = &ready,
            .workers = workers,
        };
    }
    for (; started < workers; started++) {
        if (pthread_create(&th[started], NULL, worker_main, &ws[started]) != 0) {
            rc = LL_ENORES;
            /* the started threads wait for `workers` arrivals: stand in for
             * the missing ones so they pass the start line and finish */
            atomic_fetch_add_explicit(&ready, workers - started, memory_order_acq_rel);
            break;
        }
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; rc == LL_OK && i < workers; i++) {
        elapsed_ns[i] = ws[i].elapsed_ns;
        if (ws[i].elapsed_ns < 0)
            rc = (int)ws[i].elapsed_ns;
    }
out:
    free(ws);
    free(th);
    return rc;
}
