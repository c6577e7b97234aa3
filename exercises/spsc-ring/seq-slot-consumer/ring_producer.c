/*
 * The exercise's own producer (not the learner's file), a separate C program:
 *
 *     ring_producer NAME CPU N1 N2 N3 N4 BATCH GAP_NS TIMEOUT_MS
 *
 * attaches the seq-slot ring /dev/shm/latencylab-NAME as its producer (lab 3's
 * ll_ring_open: the role's lock), pins itself to CPU and sends lab 3's
 * sequenced stream (message i: bytes 0..7 = i, 8..15 = i * LL_RING_SEQ_MUL,
 * the rest zero) in four phases, with lab 3's own C ring:
 *
 *   1. N1 messages, one push each, as fast as the ring takes them
 *      (ll_ring_produce_seq, batch 1): the ring is full, the producer waits
 *      for every slot the consumer frees;
 *   2. N2 messages one at a time, each pushed GAP_NS after the consumer has
 *      taken the one before: the consumer is polling the slot when it lands;
 *   3. N3 messages in batches of BATCH (ll_ring_produce_seq, push_many), as
 *      fast as the ring takes them;
 *   4. N4 messages in batches of 1..BATCH, each batch pushed GAP_NS after the
 *      consumer has taken all before it.
 *
 * Prints "ok" (exit 0), or what went wrong (exit 1): above all, a ring that
 * stays full for TIMEOUT_MS (the consumer frees no slot) or a consumer that
 * stops taking messages.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "shm_basics.h"
#include "spsc_ring.h"

static void fill(uint8_t *msg, uint64_t i, uint32_t m)
{
    uint64_t words[2] = {i, i * LL_RING_SEQ_MUL};
    memset(msg, 0, m);
    memcpy(msg, words, sizeof words);
}

/* until the consumer has taken everything (tail == our index), then GAP_NS more */
static int drained(ll_ring *r, uint64_t gap_ns, uint64_t timeout_ns)
{
    uint64_t t0 = ll_now_ns();
    while (ll_ring_size(r) != 0) {
        if (ll_now_ns() - t0 > timeout_ns)
            return 0;
        ll_cpu_relax();
    }
    for (uint64_t until = ll_now_ns() + gap_ns; ll_now_ns() < until;)
        ll_cpu_relax();
    return 1;
}

static int fail(const char *what, uint64_t i, int64_t rc)
{
    printf("%s (message %llu, error %lld)\n", what, (unsigned long long)i, (long long)rc);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 10) {
        fprintf(stderr, "usage: ring_producer NAME CPU N1 N2 N3 N4 BATCH GAP_NS TIMEOUT_MS\n");
        return 2;
    }
    int cpu = atoi(argv[2]);
    uint64_t n1 = strtoull(argv[3], NULL, 10), n2 = strtoull(argv[4], NULL, 10);
    uint64_t n3 = strtoull(argv[5], NULL, 10), n4 = strtoull(argv[6], NULL, 10);
    uint32_t batch = (uint32_t)strtoul(argv[7], NULL, 10);
    uint64_t gap_ns = strtoull(argv[8], NULL, 10), timeout_ns = strtoull(argv[9], NULL, 10) * 1000000ull;
    if (cpu >= 0 && ll_pin_self(cpu) != LL_OK)
        return fail("cannot pin to the CPU", 0, cpu);
    int err = 0;
    ll_segment *seg = ll_seg_attach(argv[1], LL_KIND_RING, &err);
    if (seg == NULL)
        return fail("cannot attach the ring's segment", 0, err);
    ll_ring *r = ll_ring_open(ll_seg_payload(seg), ll_seg_payload_size(seg), ll_seg_fd(seg), LL_RING_PRODUCER, &err);
    if (r == NULL)
        return fail("cannot open the ring as its producer", 0, err);
    uint32_t m = ll_ring_msg_size(r);
    if (batch == 0 || batch > ll_ring_capacity(r))
        return fail("bad BATCH", 0, batch);
    uint8_t *batch_buf = calloc(batch, m);
    if (batch_buf == NULL)
        return fail("out of memory", 0, 0);
    int64_t rc;
    uint64_t i = 0;
    /* 1. single pushes, full speed */
    if ((rc = ll_ring_produce_seq(r, i, n1, 1, timeout_ns)) < 0)
        return fail("phase 1: the ring stayed full: the consumer freed no slot in time", i, rc);
    i += n1;
    /* 2. single pushes, each onto an empty ring the consumer is polling */
    for (uint64_t end = i + n2; i < end; i++) {
        if (!drained(r, gap_ns, timeout_ns))
            return fail("phase 2: the consumer stopped taking messages", i, 0);
        fill(batch_buf, i, m);
        if ((rc = ll_seqring_push(r, batch_buf, m)) != 1)
            return fail("phase 2: push refused on a drained ring", i, rc);
    }
    /* 3. batches, full speed */
    if ((rc = ll_ring_produce_seq(r, i, n3, batch, timeout_ns)) < 0)
        return fail("phase 3: the ring stayed full: the consumer freed no slot in time", i, rc);
    i += n3;
    /* 4. batches of 1..BATCH, each onto an empty ring */
    for (uint64_t end = i + n4, j = 0; i < end; j++) {
        uint64_t b = 1 + (j * 37) % batch;
        if (b > end - i)
            b = end - i;
        if (!drained(r, gap_ns, timeout_ns))
            return fail("phase 4: the consumer stopped taking messages", i, 0);
        for (uint64_t k = 0; k < b; k++)
            fill(batch_buf + k * m, i + k, m);
        if ((rc = ll_seqring_push_many(r, batch_buf, b)) != (int64_t)b)
            return fail("phase 4: push_many refused on a drained ring", i, rc);
        i += b;
    }
    if (!drained(r, 0, timeout_ns))
        return fail("the consumer did not take the last messages", i, 0);
    free(batch_buf);
    ll_ring_close(r);
    ll_seg_close(seg);
    printf("ok\n");
    return 0;
}
