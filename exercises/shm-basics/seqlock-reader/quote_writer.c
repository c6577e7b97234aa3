/*
 * The exercise's own writer (not the learner's file), a separate C program:
 * `quote_writer NAME CPU MS [GAP_NS]` attaches the quote segment
 * /dev/shm/latencylab-NAME (lab 1's ll_seg_attach), pins itself to CPU, and
 * publishes quote k for k = 0, 1, 2, ... through lab 1's own seqlock writer
 * (ll_quote_write) for MS milliseconds - as fast as it can, or one every
 * GAP_NS ns - then one last quote with the instrument EX_STOP.  Every field
 * of quote k is derived from k (ex_quote.h), so a reader that mixes two
 * writes is caught.  Prints "ok <quotes>" (exit 0) or the error.
 */
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "ex_quote.h"
#include "shm_basics.h"

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: quote_writer NAME CPU MS [GAP_NS]\n");
        return 2;
    }
    int cpu = atoi(argv[2]);
    uint64_t duration_ns = strtoull(argv[3], NULL, 10) * 1000000ull;
    uint64_t gap_ns = argc == 5 ? strtoull(argv[4], NULL, 10) : 0;
    if (cpu >= 0 && ll_pin_self(cpu) != LL_OK) {
        fprintf(stderr, "quote_writer: cannot pin to CPU %d\n", cpu);
        return 1;
    }
    int err = 0;
    ll_segment *seg = ll_seg_attach(argv[1], LL_KIND_QUOTE, &err);
    if (seg == NULL) {
        fprintf(stderr, "quote_writer: cannot attach %s (error %d)\n", argv[1], err);
        return 1;
    }
    ll_quote_slot *slot = ll_seg_payload(seg);
    uint64_t k = 0, end = ll_now_ns() + duration_ns;
    if (gap_ns == 0) {
        while (ll_now_ns() < end) {
            for (int j = 0; j < 256; j++, k++)
                ll_quote_write(slot, EX_INSTRUMENT(k), EX_BID(k), EX_ASK(k), EX_BID_SIZE(k), EX_ASK_SIZE(k), EX_TS(k));
        }
    } else {
        for (uint64_t now = ll_now_ns(), next = now; now < end; now = ll_now_ns()) {
            if (now < next) {
                ll_cpu_relax();
                continue;
            }
            ll_quote_write(slot, EX_INSTRUMENT(k), EX_BID(k), EX_ASK(k), EX_BID_SIZE(k), EX_ASK_SIZE(k), EX_TS(k));
            k++;
            next = now + gap_ns;
        }
    }
    ll_quote_write(slot, EX_STOP, EX_BID(k), EX_ASK(k), EX_BID_SIZE(k), EX_ASK_SIZE(k), EX_TS(k));
    printf("ok %llu\n", (unsigned long long)(k + 1));
    ll_seg_close(seg);
    return 0;
}
