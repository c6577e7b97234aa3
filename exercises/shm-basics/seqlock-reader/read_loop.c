/*
 * The exercise's own reader loop (not the learner's file): calls the
 * learner's ex_try_read on the quote slot again and again for up to
 * `limit_ns`, while quote_writer (another process, another core) writes, and
 * checks every quote it accepts: each field must come from the same write k
 * (ex_quote.h, k = bid), the sequence number must be that write's, 2k + 2, and
 * k must never go backwards.  Stops at the writer's last quote (EX_STOP).
 */
#include <stdatomic.h>
#include <string.h>

#include "common.h"
#include "ex_quote.h"
#include "shm_layout.h"

int ex_try_read(const ll_quote_slot *s, ll_quote *out, uint64_t *seq_out);

typedef struct {
    int64_t accepted;   /* quotes ex_try_read accepted */
    int64_t distinct;   /* distinct quotes among them */
    int64_t retries;    /* calls that returned 0 */
    int64_t torn;       /* accepted quotes that mix writes, or carry another write's seq */
    int64_t backwards;  /* accepted quotes older than one accepted before */
    int64_t stopped;    /* 1: saw the writer's last quote */
    ll_quote first_bad; /* the first torn quote, for the verdict */
    uint64_t first_bad_seq;
} ex_report;

static int whole(const ll_quote *q, uint64_t seq)
{
    uint64_t k = (uint64_t)q->bid;
    return (q->instrument == EX_INSTRUMENT(k) || q->instrument == EX_STOP) && q->ask == EX_ASK(k) &&
           q->bid_size == EX_BID_SIZE(k) && q->ask_size == EX_ASK_SIZE(k) && q->ts_ns == EX_TS(k) &&
           seq == 2 * k + 2;
}

int64_t ex_read_loop(const ll_quote_slot *s, int64_t limit_ns, ex_report *rep)
{
    memset(rep, 0, sizeof *rep);
    int64_t last = -1;
    uint64_t t0 = ll_now_ns();
    for (uint64_t calls = 0;; calls++) {
        if ((calls & 1023) == 0 && ll_now_ns() - t0 > (uint64_t)limit_ns)
            break;
        ll_quote q;
        uint64_t seq = 0;
        memset(&q, 0, sizeof q);
        if (!ex_try_read(s, &q, &seq)) {
            rep->retries++;
            ll_cpu_relax();
            continue;
        }
        rep->accepted++;
        if (!whole(&q, seq)) {
            if (rep->torn++ == 0) {
                rep->first_bad = q;
                rep->first_bad_seq = seq;
            }
            continue;
        }
        if (q.bid < last)
            rep->backwards++;
        rep->distinct += q.bid != last;
        last = q.bid;
        if (q.instrument == EX_STOP) {
            rep->stopped = 1;
            break;
        }
    }
    return (int64_t)(ll_now_ns() - t0);
}
