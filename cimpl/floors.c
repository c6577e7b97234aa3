/*
 * floors.c - the machine's physical floors, the numbers every lab's figures
 * are compared with (`latencylab machine`):
 *
 *   c2c round trip  one cache line bounced between two pinned threads: the
 *                   least any cross-core hand-off (a queue, a seqlock) costs
 *   timer           one clock_gettime(CLOCK_MONOTONIC), what every timestamp costs
 *   memcpy          single-thread copy bandwidth for a buffer bigger than the caches
 *   ll_noop         an empty function: Python times ctypes' call overhead on it
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "floors.h"

/* An empty C function for measuring the ctypes call overhead from Python. */
LL_EXPORT int64_t ll_noop(int64_t x) { return x; }

/* ---------------------------------------------------------------- timer */
/* n back-to-back clock reads; returns the elapsed ns (divide by n). */
LL_EXPORT int64_t ll_timer_overhead(int64_t n)
{
    if (n <= 0)
        return LL_EINVAL;
    uint64_t acc = 0;
    uint64_t t0 = ll_now_ns();
    for (int64_t i = 0; i < n; i++)
        acc += ll_now_ns();
    uint64_t t1 = ll_now_ns();
    volatile uint64_t keep = acc;
    (void)keep;
    return (int64_t)(t1 - t0);
}

/* --------------------------------------------------------------- memcpy */
/* Copies a `bytes`-sized buffer `reps` times; returns the best single copy
 * time in ns (the least disturbed by the other tenants of the machine).
 * Allocates once, outside the timed region. */
LL_EXPORT int64_t ll_memcpy_best_ns(int64_t bytes, int64_t reps)
{
    if (bytes <= 0 || reps <= 0)
        return LL_EINVAL;
    char *src = malloc((size_t)bytes), *dst = malloc((size_t)bytes);
    if (!src || !dst) {
        free(src);
        free(dst);
        return LL_EINVAL;
    }
    memset(src, 1, (size_t)bytes); /* fault the pages in before timing */
    memset(dst, 0, (size_t)bytes);
    uint64_t best = UINT64_MAX;
    for (int64_t r = 0; r < reps; r++) {
        uint64_t t0 = ll_now_ns();
        memcpy(dst, src, (size_t)bytes);
        uint64_t dt = ll_now_ns() - t0;
        /* make the copy observable so it cannot be elided */
        __asm__ __volatile__("" : : "r"(dst) : "memory");
        if (dt < best)
            best = dt;
    }
    free(src);
    free(dst);
    return (int64_t)best;
}

/* ------------------------------------------------------ c2c round trip */
/* One counter in its own 128-byte block.  The ping thread writes odd values,
 * the pong thread answers with the next even one: every round trip moves the
 * line to the other core and back. */
typedef struct {
    _Alignas(LL_PAD) _Atomic uint64_t flag;
    _Alignas(LL_PAD) _Atomic int started; /* 1: pong pinned and running, -1: could not pin */
    int64_t n;
    int cpu;
} pingpong;

static void *pong_main(void *arg)
{
    pingpong *p = arg;
    if (ll_pin_self(p->cpu) != LL_OK) {
        atomic_store_explicit(&p->started, -1, memory_order_release);
        return NULL;
    }
    atomic_store_explicit(&p->started, 1, memory_order_release);
    for (uint64_t want = 1; want < 2 * (uint64_t)p->n; want += 2) {
        /* acquire/release make each hop a proper hand-off; on x86-64 both
         * are plain movs, so we time the coherence traffic alone. */
        uint64_t v;
        while ((v = atomic_load_explicit(&p->flag, memory_order_acquire)) < want)
            ll_cpu_relax();
        if (v != want) /* ping gave up (it could not pin): stop */
            return NULL;
        atomic_store_explicit(&p->flag, want + 1, memory_order_release);
    }
    return NULL;
}

/* n round trips between CPUs cpu_a and cpu_b.  Writes each batch's mean (ns
 * per round trip) into batch_ns[0..batches) so the caller can take a median,
 * and returns LL_OK or an error (a CPU we may not use). */
LL_EXPORT int ll_c2c_rtt(int cpu_a, int cpu_b, int64_t n_per_batch, int64_t batches, double *batch_ns)
{
    if (n_per_batch <= 0 || batches <= 0 || batch_ns == NULL || cpu_a == cpu_b)
        return LL_EINVAL;
    pingpong *p = aligned_alloc(LL_PAD, sizeof *p);
    if (p == NULL)
        return LL_EINVAL;
    int rc = LL_OK;
    for (int64_t b = 0; b < batches && rc == LL_OK; b++) {
        memset(p, 0, sizeof *p);
        p->n = n_per_batch;
        p->cpu = cpu_b;
        pthread_t th;
        if (pthread_create(&th, NULL, pong_main, p) != 0) {
            rc = LL_EINVAL;
            break;
        }
        /* the caller's thread plays ping; its affinity is restored after */
        cpu_set_t old;
        pthread_getaffinity_np(pthread_self(), sizeof old, &old);
        int started;
        while ((started = atomic_load_explicit(&p->started, memory_order_acquire)) == 0)
            ll_cpu_relax();
        if (started < 0 || ll_pin_self(cpu_a) != LL_OK) {
            /* pong exits by itself if it could not pin; otherwise a value
             * past every round it waits for tells it to stop */
            rc = LL_ENOCPU;
            if (started > 0)
                atomic_store_explicit(&p->flag, 2 * (uint64_t)n_per_batch, memory_order_release);
        }
        uint64_t t0 = ll_now_ns();
        for (uint64_t v = 1; rc == LL_OK && v < 2 * (uint64_t)n_per_batch; v += 2) {
            atomic_store_explicit(&p->flag, v, memory_order_release);
            while (atomic_load_explicit(&p->flag, memory_order_acquire) == v)
                ll_cpu_relax();
        }
        uint64_t t1 = ll_now_ns();
        pthread_join(th, NULL);
        pthread_setaffinity_np(pthread_self(), sizeof old, &old);
        batch_ns[b] = (double)(t1 - t0) / (double)n_per_batch;
    }
    free(p);
    return rc;
}
