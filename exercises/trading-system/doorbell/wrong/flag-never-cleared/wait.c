/*
 * Lab 7 exercise: the doorbell - a known-wrong answer: it sleeps right
 * (S1, seq, S2, S3 in order) but never lowers the sleeper flag.  No message
 * waits - the waker sees the flag on every push and rings every time - but
 * each of those rings is a FUTEX_WAKE system call (~1 us, and more on a VM)
 * on the engine's hot path, paid even while the waiter is wide awake and
 * busy: the cost the flag exists to avoid.
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
    uint32_t s = atomic_load_explicit(&b->seq, memory_order_acquire);
    if (anything(ctx))
        return 1;
    struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
    long rc = syscall(SYS_futex, (uint32_t *)&b->seq, FUTEX_WAIT, s, &ts, NULL, 0);
    return rc == 0 || errno == EAGAIN || errno == EINTR;
}
