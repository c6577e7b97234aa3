/*
 * Lab 7 exercise: the sleeper's side of the doorbell - the solution
 * (trading_system.c, "the doorbell": ll_ts_bell_prepare/_wait/_cancel in one).
 *
 * S1  sleeper = 1 with a seq_cst exchange (xchg on x86: a full barrier).  It
 *     must be visible before S2 reads the messages: the waker does the
 *     mirror (push, seq_cst fence, read sleeper), and with the two fences
 *     one side must see the other (lab 4's store-buffering test, with its
 *     fix): either S2 sees the message, or W2 sees sleeper = 1 and rings.
 * s   read seq AFTER S1 and BEFORE S2: the value to sleep on.  A ring that
 *     comes after it (even one that comes after S2 said "nothing") bumps
 *     seq, and FUTEX_WAIT then returns at once (EAGAIN) instead of sleeping.
 * S2  anything()?  Yes: clear the flag and go.
 * S3  FUTEX_WAIT(seq, s): sleep only while seq is still s - the kernel
 *     compares and queues atomically with respect to FUTEX_WAKE.  A shared
 *     futex (not _PRIVATE): the waker is another process.
 *     Then clear the flag whatever woke us: the waker pays a system call for
 *     every push that finds it set.
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
    atomic_exchange_explicit(&b->sleeper, 1, memory_order_seq_cst);        /* S1 */
    uint32_t s = atomic_load_explicit(&b->seq, memory_order_acquire);      /* the seq to sleep on */
    if (anything(ctx)) {                                                   /* S2 */
        atomic_store_explicit(&b->sleeper, 0, memory_order_relaxed);
        return 1;
    }
    struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
    long rc = syscall(SYS_futex, (uint32_t *)&b->seq, FUTEX_WAIT, s, &ts, NULL, 0); /* S3 */
    int err = errno;
    atomic_store_explicit(&b->sleeper, 0, memory_order_relaxed);
    return rc == 0 || err == EAGAIN || err == EINTR;
}
