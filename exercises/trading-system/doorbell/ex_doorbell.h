/* The doorbell exercise's contract (not the learner's file to edit): the
 * function the learner writes, and the two words of ll_ts_bell it uses
 * (cimpl/ts_layout.h: seq, the futex word; sleeper, 1 while the waiter is,
 * or is about to be, asleep).
 *
 *   int ex_wait(ll_ts_bell *b, int (*anything)(void *ctx), void *ctx, uint64_t timeout_ns);
 *
 * The sleeper's side of the doorbell, called by a loop that has just found
 * nothing to do: sleep until the waker rings, or until timeout_ns has
 * passed, and never sleep through a message that is already there.
 * `anything(ctx)` is the caller's "is there anything?" (S2: 1 if there is a
 * message, 0 if not; it may be called any number of times).  Return 1 when
 * there may be something now (anything() said so, or you were woken),
 * 0 when the timeout passed; spurious 1s are fine, the caller looks again.
 * On return, whatever it returns, the sleeper flag must be 0: the waker
 * pays a system call for every push it sees the flag set.
 *
 * The waker, after each push (trading_system.c, bell_ring):
 *   W1 the push;  W2 seq_cst fence, then read sleeper;  W3 if it was 1:
 *   seq += 1, FUTEX_WAKE on seq (a shared futex: two processes map it).
 */
#ifndef EX_DOORBELL_H
#define EX_DOORBELL_H

#include <stdint.h>

#include "ts_layout.h"

int ex_wait(ll_ts_bell *b, int (*anything)(void *ctx), void *ctx, uint64_t timeout_ns);

/* the words of the control block the exercise uses (ts_layout.h's own counters) */
#define EX_PUSHED(c) (&(c)->procs[LL_TS_ENGINE].counters[LL_CNT_SNAPS])  /* the waker's: messages pushed */
#define EX_ACKED(c) (&(c)->procs[LL_TS_STRATEGY].counters[LL_CNT_FEED]) /* the waiter's: messages taken */

#endif
