/*
 * The exercise's own waker (not the learner's file), a separate C program:
 *
 *     bell_waker NAME CPU N SEED TIMEOUT_MS BOUND_MS WORK_NS
 *
 * attaches the control block /dev/shm/latencylab-NAME (lab 7's, kind
 * LL_KIND_CONTROL), pins itself to CPU, prints "ready", waits for the
 * waiter's loop to start (its state RUNNING), then pushes N messages, each
 * followed by the engine's W1/W2/W3 (trading_system.c, bell_ring: a seq_cst
 * fence, read sleeper, and only if it is set: seq += 1 and FUTEX_WAKE), and
 * counts what each FUTEX_WAKE found: its return value is the number of
 * sleepers it woke.  When each push happens (after the waiter's
 * acknowledgement of the one before):
 *
 *   close   1-5 us after: while the waiter, done with the last message
 *           (WORK_NS of handling), is on its way into ex_wait - the race
 *           windows of a wait that looks in the wrong order;
 *   asleep  20-200 us after: a waiter that sleeps is asleep in FUTEX_WAIT
 *           by then, and only a FUTEX_WAKE gets the message to it;
 *   burst   an `asleep` push, then, as soon as it is acknowledged, 7 more
 *           back to back: they land while the waiter is busy handling
 *           (WORK_NS each), when its sleeper flag must be 0, so a correct
 *           waiter costs the waker no FUTEX_WAKE for them.
 *
 * Every message's latency is push -> acknowledgement seen here.  One slower
 * than BOUND_MS (a lost wake-up waits for the waiter's timeout) ends the run:
 * the stop word is set and the bell rung, so the waiter's loop ends too.
 * Prints "ok key=value ..." (exit 0), or the error (exit 1).
 */
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"
#include "ex_doorbell.h"
#include "shm_basics.h"

enum { CLOSE = 0, ASLEEP = 1, BURST = 2 };
static const char *KIND[] = {"close", "asleep", "burst"};
#define BURST_LEN 8

static uint64_t rng;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void spin_until(uint64_t t)
{
    while (ll_now_ns() < t)
        ll_cpu_relax();
}

typedef struct {
    uint64_t rings, woken, asleep_pushes, asleep_woken, busy_pushes, busy_rings;
} counts;

/* W1 the push, W2 fence + read sleeper, W3 bump seq and wake (bell_ring's code, counted) */
static void push(ll_ts_control *c, uint64_t k, int kind, int busy, counts *n)
{
    atomic_store_explicit(EX_PUSHED(c), k, memory_order_release); /* W1 */
    atomic_thread_fence(memory_order_seq_cst);                      /* W2 */
    long woke = 0;
    int rang = atomic_load_explicit(&c->bell.sleeper, memory_order_relaxed) != 0;
    if (rang) { /* W3 */
        atomic_fetch_add_explicit(&c->bell.seq, 1, memory_order_release);
        woke = syscall(SYS_futex, (uint32_t *)&c->bell.seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
        n->rings++;
        n->woken += woke > 0 ? (uint64_t)woke : 0;
    }
    if (kind != CLOSE && !busy) {
        n->asleep_pushes++;
        n->asleep_woken += woke > 0;
    }
    if (busy) {
        n->busy_pushes++;
        n->busy_rings += rang;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void stop(ll_ts_control *c)
{
    atomic_store_explicit(&c->stop, 1, memory_order_release);
    atomic_fetch_add_explicit(&c->bell.seq, 1, memory_order_release);
    syscall(SYS_futex, (uint32_t *)&c->bell.seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: bell_waker NAME CPU N SEED TIMEOUT_MS BOUND_MS WORK_NS\n");
        return 2;
    }
    int cpu = atoi(argv[2]);
    uint64_t n = strtoull(argv[3], NULL, 10);
    rng = strtoull(argv[4], NULL, 10) * 0x9E3779B97F4A7C15ull | 1;
    uint64_t timeout_ns = strtoull(argv[5], NULL, 10) * 1000000ull;
    uint64_t bound_ns = strtoull(argv[6], NULL, 10) * 1000000ull;
    uint64_t work_ns = strtoull(argv[7], NULL, 10);
    if (cpu >= 0 && ll_pin_self(cpu) != LL_OK) {
        printf("cannot pin to CPU %d\n", cpu);
        return 1;
    }
    int err = 0;
    ll_segment *seg = ll_seg_attach(argv[1], LL_KIND_CONTROL, &err);
    if (seg == NULL) {
        printf("cannot attach the control block (error %d)\n", err);
        return 1;
    }
    ll_ts_control *c = ll_seg_payload(seg);
    uint64_t *push_ns = calloc(n + 1, sizeof *push_ns), *lat = calloc(n + 1, sizeof *lat);
    unsigned char *kinds = calloc(n + 1, 1);
    if (push_ns == NULL || lat == NULL || kinds == NULL) {
        printf("out of memory\n");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (uint64_t t_end = ll_now_ns() + 10000000000ull;
         atomic_load_explicit(&c->procs[LL_TS_STRATEGY].state, memory_order_acquire) != LL_PROC_RUNNING;) {
        if (ll_now_ns() > t_end) {
            printf("the waiter's loop did not start within 10 s\n");
            return 1;
        }
        usleep(100);
    }
    counts cnt = {0};
    uint64_t k = 0, seen = 0, late = 0, late_k = 0, late_ns = 0, never = 0;
    uint64_t t_ack = ll_now_ns();
    while (k < n && !late && !never) {
        uint64_t r = next_rand() % 100;
        int kind = r < 45 ? CLOSE : r < 85 ? ASLEEP : BURST;
        uint64_t d = kind == CLOSE ? work_ns / 2 + next_rand() % 4000 : 20000 + next_rand() % 180000;
        uint64_t len = kind == BURST ? BURST_LEN : 1;
        if (len > n - k)
            len = n - k;
        spin_until(t_ack + d);
        for (uint64_t j = 0; j < len; j++) {
            k++;
            kinds[k] = (unsigned char)kind;
            push_ns[k] = ll_now_ns();
            push(c, k, kind, j > 0, &cnt);
            if (j == 0 || j == len - 1) { /* a burst: its head alone first, then the rest back to back */
                for (; seen < k; seen++) {
                    uint64_t want = seen + 1, give_up = push_ns[want] + timeout_ns + 2000000000ull, t;
                    while (atomic_load_explicit(EX_ACKED(c), memory_order_acquire) < want) {
                        ll_cpu_relax();
                        if ((t = ll_now_ns()) > give_up) {
                            never = want;
                            break;
                        }
                    }
                    if (never)
                        break;
                    t_ack = ll_now_ns();
                    lat[want] = t_ack - push_ns[want];
                    if (lat[want] > bound_ns && !late) {
                        late = 1;
                        late_k = want;
                        late_ns = lat[want];
                    }
                }
            }
            if (late || never)
                break;
        }
    }
    if (late || never)
        stop(c);
    uint64_t got = seen;
    qsort(lat + 1, got, sizeof *lat, cmp_u64);
    printf("ok pushed=%llu acked=%llu rings=%llu woken=%llu asleep_pushes=%llu asleep_woken=%llu "
           "busy_pushes=%llu busy_rings=%llu late_k=%llu late_ns=%llu late_kind=%s never_k=%llu "
           "p50_ns=%llu p99_ns=%llu max_ns=%llu\n",
           (unsigned long long)k, (unsigned long long)got, (unsigned long long)cnt.rings,
           (unsigned long long)cnt.woken, (unsigned long long)cnt.asleep_pushes,
           (unsigned long long)cnt.asleep_woken, (unsigned long long)cnt.busy_pushes,
           (unsigned long long)cnt.busy_rings, (unsigned long long)late_k, (unsigned long long)late_ns,
           late_k ? KIND[kinds[late_k]] : "-", (unsigned long long)never,
           (unsigned long long)(got ? lat[1 + (got - 1) / 2] : 0), (unsigned long long)(got ? lat[1 + (got - 1) * 99 / 100] : 0),
           (unsigned long long)(got ? lat[got] : 0));
    free(push_ns);
    free(lat);
    free(kinds);
    ll_seg_close(seg);
    return 0;
}
