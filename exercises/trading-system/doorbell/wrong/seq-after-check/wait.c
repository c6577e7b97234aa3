/*
 * Lab 7 exercise: the doorbell - a known-wrong answer: the flag goes up
 * first, as it should, but the seq to sleep on is read after the look.  A
 * push that lands between the look and that read sees the flag and rings
 * (seq + 1, FUTEX_WAKE: nobody is asleep yet); the waiter then reads the
 * new seq and sleeps on it, through the ring that was meant for it, until
 * its timeout.  Read seq before S2: then a ring after it changes seq and
 * FUTEX_WAIT returns at once.
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
    atomic_exchange_explicit(&b->sleeper, 1, memory_order_seq_cst);
    if (anything(ctx)) {
        atomic_store_explicit(&b->sleeper, 0, memory_order_relaxed);
        return 1;
    }
    uint32_t s = atomic_load_explicit(&b->seq, memory_order_acquire);
    struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
    long rc = syscall(SYS_futex, (uint32_t *)&b->seq, FUTEX_WAIT, s, &ts, NULL, 0);
    int err = errno;
    atomic_store_explicit(&b->sleeper, 0, memory_order_relaxed);
    return rc == 0 || err == EAGAIN || err == EINTR;
}
