/*
 * The exercise's own harness (not the learner's file): message passing
 * between two threads through ex_publish.  The producer publishes message i
 * (data = i * K, flag = i + 1) and waits until the consumer has acknowledged
 * it; the consumer polls the flag with acquire, reads data, checks it, and
 * acknowledges.  Prints "ok <n>" or "bad <count> of <n>"; under
 * ThreadSanitizer a publish that does not order data before the flag is
 * reported as a data race on data.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

void ex_publish(uint64_t *data, _Atomic uint64_t *flag, uint64_t v, uint64_t seq);

#define K 0x9E3779B97F4A7C15ull

static uint64_t data;
static _Atomic uint64_t flag, ack;
static uint64_t n_rounds, bad;

static void *consumer(void *unused)
{
    (void)unused;
    for (uint64_t i = 0; i < n_rounds; i++) {
        while (atomic_load_explicit(&flag, memory_order_acquire) != i + 1)
            ;
        bad += data != i * K;
        atomic_store_explicit(&ack, i + 1, memory_order_release);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    n_rounds = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    pthread_t t;
    if (pthread_create(&t, NULL, consumer, NULL) != 0)
        return 2;
    for (uint64_t i = 0; i < n_rounds; i++) {
        ex_publish(&data, &flag, i * K, i + 1);
        while (atomic_load_explicit(&ack, memory_order_acquire) != i + 1)
            ;
    }
    pthread_join(t, NULL);
    if (bad)
        printf("bad %llu of %llu\n", (unsigned long long)bad, (unsigned long long)n_rounds);
    else
        printf("ok %llu\n", (unsigned long long)n_rounds);
    return bad ? 1 : 0;
}
