/*
 * The exercise's own consumer (not the learner's file), a separate C program:
 *
 *     ring_consumer NAME CPU N TIMEOUT_MS
 *
 * attaches the ring /dev/shm/latencylab-NAME as its consumer (lab 3's
 * ll_ring_open: the role's lock), pins itself to CPU, prints "ready", and
 * pops N messages with lab 3's own C consumer, ll_ring_consume_seq (batches of
 * up to 64: a consumer quicker than the producer, spinning on head, so the
 * producer's publishes are what the stream waits on),
 * which checks every one of them against the sequenced stream.  Prints
 * "ok <elapsed ns> <messages not as expected>" (exit 0), or the error (exit 1):
 * a producer that publishes nothing for TIMEOUT_MS is a timeout.
 */
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "shm_basics.h"
#include "spsc_ring.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: ring_consumer NAME CPU N TIMEOUT_MS\n");
        return 2;
    }
    int cpu = atoi(argv[2]);
    uint64_t n = strtoull(argv[3], NULL, 10), timeout_ns = strtoull(argv[4], NULL, 10) * 1000000ull;
    if (cpu >= 0 && ll_pin_self(cpu) != LL_OK) {
        printf("cannot pin to CPU %d\n", cpu);
        return 1;
    }
    int err = 0;
    ll_segment *seg = ll_seg_attach(argv[1], LL_KIND_RING, &err);
    if (seg == NULL) {
        printf("cannot attach the ring's segment (error %d)\n", err);
        return 1;
    }
    ll_ring *r = ll_ring_open(ll_seg_payload(seg), ll_seg_payload_size(seg), ll_seg_fd(seg), LL_RING_CONSUMER, &err);
    if (r == NULL) {
        printf("cannot open the ring as its consumer (error %d)\n", err);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    uint64_t bad = 0;
    int64_t elapsed = ll_ring_consume_seq(r, 0, n, 64, timeout_ns, &bad);
    ll_ring_close(r);
    ll_seg_close(seg);
    if (elapsed < 0) {
        printf("the consumer gave up (error %lld): no message published for %s ms\n", (long long)elapsed, argv[4]);
        return 1;
    }
    printf("ok %lld %llu\n", (long long)elapsed, (unsigned long long)bad);
    return 0;
}
