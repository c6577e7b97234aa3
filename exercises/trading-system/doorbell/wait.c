/*
 * Lab 7 exercise: the sleeper's side of the doorbell (see README.md and
 * ex_doorbell.h for the contract).
 *
 * ex_wait is called by a loop that has just found nothing to do.  Sleep on
 * the bell's futex word until the waker rings (or timeout_ns passes), and
 * never sleep through a message that is already there: return 1 when there
 * may be something (anything(ctx) said so, or you were woken), 0 on timeout,
 * with b->sleeper back at 0 either way.
 *
 * This version does not sleep at all: it polls anything() until it says yes
 * or the timeout passes.  No message waits, but the waiter burns its CPU -
 * in lab 7 the one it shares with the exchange - and the check says so.
 * Write S1, S2, S3 (trading_system.c, "the doorbell"; the guide's section
 * on the doorbell).
 */
#include <stdatomic.h>

#include "common.h"
#include "ex_doorbell.h"

int ex_wait(ll_ts_bell *b, int (*anything)(void *ctx), void *ctx, uint64_t timeout_ns)
{
    (void)b;
    uint64_t end = ll_now_ns() + timeout_ns;
    while (!anything(ctx)) {
        if (ll_now_ns() >= end)
            return 0;
        ll_cpu_relax();
    }
    return 1;
}
