/*
 * The exercise's own waiter loop (not the learner's file), built into one
 * library with the learner's ex_wait and run in the check's process, pinned
 * to one CPU, while bell_waker (another process, the other CPU) pushes.
 *
 * It is the strategy's loop (labs/system.py, StrategyProcess._loop) cut to
 * its bones: take every message there is, one at a time (acknowledge it, then
 * "handle" it for work_ns); when there is none, call ex_wait.  The messages
 * are a counter (the engine's "snapshots pushed", ts_layout.h's own counter,
 * standing in for ring A's head): message k is there when pushed >= k.
 *
 * `anything` is ex_wait's "is there anything?" (S2).  Like the strategy's
 * S2, which reads two rings (in Python: microseconds), it takes a while after
 * it has read the counter: a random 0-1.5 us.  A wait that looks in the wrong
 * order has a race window of a few ns in C; here it is microseconds wide, and
 * the waker's pushes land in it.
 */
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>

#include "common.h"
#include "ex_doorbell.h"

typedef struct {
    int64_t taken;     /* messages taken */
    int64_t waits;     /* ex_wait calls */
    int64_t timeouts;  /* ex_wait returned 0 */
    int64_t flag_left; /* ex_wait returned with the sleeper flag still set */
    int64_t asked;     /* anything() calls */
    int64_t nvcsw;     /* voluntary context switches of this thread in the loop (sleeps of any kind) */
    int64_t stopped;   /* the waker said stop (it saw a late message) */
} ex_wait_report;

typedef struct {
    ll_ts_control *c;
    uint64_t taken;
    uint64_t rng;
    int64_t asked;
} ex_ctx;

static uint64_t next_rand(uint64_t *s)
{
    uint64_t x = *s; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void spin_ns(uint64_t ns)
{
    uint64_t end = ll_now_ns() + ns;
    while (ll_now_ns() < end)
        ll_cpu_relax();
}

static int anything(void *p)
{
    ex_ctx *x = p;
    x->asked++;
    uint64_t pushed = atomic_load_explicit(EX_PUSHED(x->c), memory_order_acquire);
    spin_ns(next_rand(&x->rng) % 1500); /* S2 is not instantaneous (see above) */
    return pushed > x->taken;
}

int64_t ex_wait_loop(ll_ts_control *c, uint64_t n, uint64_t timeout_ns, uint64_t limit_ns, uint64_t work_ns,
                     uint64_t seed, ex_wait_report *rep)
{
    memset(rep, 0, sizeof *rep);
    ex_ctx x = {c, 0, seed | 1, 0};
    struct rusage r0, r1;
    getrusage(RUSAGE_THREAD, &r0);
    uint64_t t0 = ll_now_ns();
    atomic_store_explicit(&c->procs[LL_TS_STRATEGY].state, LL_PROC_RUNNING, memory_order_release); /* waker: go */
    while (x.taken < n) {
        if (atomic_load_explicit(&c->stop, memory_order_acquire)) {
            rep->stopped = 1;
            break;
        }
        if (atomic_load_explicit(EX_PUSHED(c), memory_order_acquire) > x.taken) {
            x.taken++;
            atomic_store_explicit(EX_ACKED(c), x.taken, memory_order_release);
            spin_ns(work_ns);
            continue;
        }
        if (ll_now_ns() - t0 > limit_ns)
            break;
        int rc = ex_wait(&c->bell, anything, &x, timeout_ns);
        rep->waits++;
        rep->timeouts += rc == 0;
        rep->flag_left += atomic_load_explicit(&c->bell.sleeper, memory_order_relaxed) != 0;
    }
    getrusage(RUSAGE_THREAD, &r1);
    atomic_store_explicit(&c->procs[LL_TS_STRATEGY].state, LL_PROC_DONE, memory_order_release);
    rep->taken = (int64_t)x.taken;
    rep->asked = x.asked;
    rep->nvcsw = r1.ru_nvcsw - r0.ru_nvcsw;
    return (int64_t)(ll_now_ns() - t0);
}
