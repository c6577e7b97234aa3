/*
 * Lab 7 exercise: the doorbell - a known-wrong answer: it asks "is there
 * anything?" first and raises the sleeper flag after.  A push that lands
 * between the two finds the flag still 0, so the waker does not ring; the
 * waiter then raises the flag, reads seq (unchanged: nobody rang) and
 * sleeps on a message that is already there, until its timeout.  The flag
 * must be up before the look (S1 before S2), so that a push the look misses
 * sees the flag.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ex_doorbell.h"

int ex_wait(ll_ts_bell *b, int (*anything)(void *ctx), void *ctx, uint64_t timeout_ns)
{
    if (anything(ctx))
        return 1;
    atomic_exchange_explicit(&b->sleeper, 1, memory_order_seq_cst);
    uint32_t s = atomic_load_explicit(&b->seq, memory_order_acquire);
    struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
    long rc = syscall(SYS_futex, (uint32_t *)&b->seq, FUTEX_WAIT, s, &ts, NULL, 0);
    int err = errno;
    atomic_store_explicit(&b->sleeper, 0, memory_order_relaxed);
    return rc == 0 || err == EAGAIN || err == EINTR;
}
