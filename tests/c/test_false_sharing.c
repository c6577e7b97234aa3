/*
 * tests/c/test_false_sharing.c - lab 2's C code tested from C, no framework.
 *
 * Built by meson as `test_false_sharing_c` and run by `meson test`; `make
 * sanitize` runs it under ASan+UBSan and under TSan.  ll_fs_run's threads,
 * their start line and the per-thread counters are what TSan is here for.
 *
 * Prints "N passed, M failed" and exits non-zero if anything failed.  No
 * shared memory: the counters live in an aligned heap buffer (the library
 * takes any 8-aligned address; Python passes a lab-1 segment's payload).
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "false_sharing.h"

#include "check.h"

/* Increments per worker.  Small enough for TSan (which slows each atomic
 * access a lot), large enough that the two threads overlap. */
#define N_RUN 200000
#define N_ONE 100000

/* The counters' buffer: room for LL_FS_MAX_WORKERS counters 128 bytes apart,
 * 128-aligned like a segment's payload. */
#define BUF_SIZE ((size_t)LL_FS_MAX_WORKERS * 128)
static int64_t *buf;

/* A CPU number below CPU_SETSIZE that this process may NOT run on, or -1. */
static int forbidden_cpu(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return -1;
    for (int c = CPU_SETSIZE - 1; c >= 0; c--)
        if (!CPU_ISSET(c, &set))
            return c;
    return -1;
}

/* Zero the buffer. */
static void clear(void) { memset(buf, 0, BUF_SIZE); }

/* Check the buffer holds `want` at each of `workers` counters `stride` bytes
 * apart, and zero everywhere else (nothing written at the wrong place). */
static void check_counters(int workers, int64_t stride, int64_t want, const char *what)
{
    const uint8_t *bytes = (const uint8_t *)buf;
    int bad_counters = 0, bad_bytes = 0;
    for (size_t off = 0; off < BUF_SIZE; off += 8) {
        int64_t v;
        memcpy(&v, bytes + off, 8);
        int is_counter = off % (size_t)stride == 0 && off / (size_t)stride < (size_t)workers;
        if (is_counter && v != want)
            bad_counters++;
        if (!is_counter && v != 0)
            bad_bytes++;
    }
    if (bad_counters || bad_bytes)
        fprintf(stderr, "  %s: %d counters != %lld, %d other words written\n", what, bad_counters, (long long)want,
                bad_bytes);
    CHECK_EQ(bad_counters, 0);
    CHECK_EQ(bad_bytes, 0);
}

/* ---------------------------------------------------------- ll_fs_run */
static void test_run_exact(void)
{
    int a, b;
    int cpus[2];
    const int *pin = NULL;
    if (two_allowed_cpus(&a, &b)) {
        cpus[0] = a;
        cpus[1] = b;
        pin = cpus;
    } else {
        printf("note: fewer than two usable CPUs, the 2-thread runs are unpinned\n");
    }
    const int64_t strides[] = {8, 64, 128};
    const int kinds[] = {LL_FS_PLAIN, LL_FS_ATOMIC};
    for (size_t s = 0; s < sizeof strides / sizeof strides[0]; s++)
        for (size_t k = 0; k < 2; k++) {
            char what[64];
            snprintf(what, sizeof what, "2 threads, stride %lld, kind %d", (long long)strides[s], kinds[k]);
            clear();
            int64_t elapsed[2] = {-1, -1};
            CHECK_EQ(ll_fs_run(buf, 2, strides[s], N_RUN, kinds[k], pin, elapsed), LL_OK);
            CHECK(elapsed[0] > 0 && elapsed[1] > 0);
            check_counters(2, strides[s], N_RUN, what);
            /* a second run adds to the first: the loop increments, it does not store n */
            CHECK_EQ(ll_fs_run(buf, 2, strides[s], N_RUN, kinds[k], pin, elapsed), LL_OK);
            check_counters(2, strides[s], 2 * N_RUN, what);
        }
}

/* More threads than CPUs, unpinned.  (Not LL_FS_MAX_WORKERS of them: each
 * spins at the start line until the last is created, which on 2 CPUs takes
 * seconds under ASan and minutes under TSan.) */
#define MANY 16
static void test_run_many(void)
{
    int64_t *elapsed = calloc(LL_FS_MAX_WORKERS, sizeof *elapsed);
    if (elapsed == NULL) {
        failed++;
        return;
    }
    clear();
    CHECK_EQ(ll_fs_run(buf, 5, 16, N_RUN / 10, LL_FS_PLAIN, NULL, elapsed), LL_OK);
    check_counters(5, 16, N_RUN / 10, "5 unpinned threads, stride 16");

    clear();
    CHECK_EQ(ll_fs_run(buf, MANY, 128, 1000, LL_FS_ATOMIC, NULL, elapsed), LL_OK);
    int positive = 0;
    for (int i = 0; i < MANY; i++)
        positive += elapsed[i] > 0;
    CHECK_EQ(positive, MANY);
    check_counters(MANY, 128, 1000, "16 unpinned threads");

    /* a negative CPU in the array means "don't pin this one" */
    int cpus[2] = {-1, -1};
    clear();
    CHECK_EQ(ll_fs_run(buf, 2, 64, N_RUN / 10, LL_FS_PLAIN, cpus, elapsed), LL_OK);
    check_counters(2, 64, N_RUN / 10, "cpus all -1");
    free(elapsed);
}

static void test_run_bad_args(void)
{
    int64_t elapsed[4] = {0};
    clear();
    CHECK_EQ(ll_fs_run(NULL, 2, 64, 10, LL_FS_PLAIN, NULL, elapsed), LL_EINVAL);
    CHECK_EQ(ll_fs_run(buf, 2, 64, 10, LL_FS_PLAIN, NULL, NULL), LL_EINVAL);
    CHECK_EQ(ll_fs_run(buf, 0, 64, 10, LL_FS_PLAIN, NULL, elapsed), LL_EINVAL);
    CHECK_EQ(ll_fs_run(buf, -1, 64, 10, LL_FS_PLAIN, NULL, elapsed), LL_EINVAL);
    CHECK_EQ(ll_fs_run(buf, LL_FS_MAX_WORKERS + 1, 64, 10, LL_FS_PLAIN, NULL, elapsed), LL_EINVAL);
    CHECK_EQ(ll_fs_run(buf, 2, 0, 10, LL_FS_PLAIN, NULL, elapsed), LL_EINVAL);
    CHECK_EQ(ll_fs_run(buf, 2, 4, 10, LL_FS_PLAIN, NULL, elapsed), LL_EINVAL);
    CHECK_EQ(ll_fs_run(buf, 2, 12, 10, LL_FS_PLAIN, NULL, elapsed), LL_EINVAL);
    CHECK_EQ(ll_fs_run(buf, 2, -64, 10, LL_FS_PLAIN, NULL, elapsed), LL_EINVAL);
    CHECK_EQ(ll_fs_run(buf, 2, 64, 0, LL_FS_PLAIN, NULL, elapsed), LL_EINVAL);
    CHECK_EQ(ll_fs_run(buf, 2, 64, -5, LL_FS_PLAIN, NULL, elapsed), LL_EINVAL);
    CHECK_EQ(ll_fs_run(buf, 2, 64, 10, 7, NULL, elapsed), LL_EINVAL);
    CHECK_EQ(ll_fs_run(buf, 2, 64, 10, -1, NULL, elapsed), LL_EINVAL);
    CHECK_EQ(ll_fs_run((char *)buf + 4, 2, 64, 10, LL_FS_PLAIN, NULL, elapsed), LL_EINVAL);
    CHECK_EQ(ll_fs_run((char *)buf + 1, 1, 8, 10, LL_FS_ATOMIC, NULL, elapsed), LL_EINVAL);
    check_counters(0, 8, 0, "after refused runs"); /* nothing ran */
    CHECK_EQ(elapsed[0], 0);
}

/* One thread's CPU is not allowed: LL_ENOCPU, and no hang - the thread that
 * could not pin still passes the start line, so its sibling does not wait
 * for it forever. */
static void test_run_forbidden_cpu(void)
{
    int bad = forbidden_cpu();
    if (bad < 0) {
        printf("note: every CPU below CPU_SETSIZE is allowed, skipping the LL_ENOCPU run test\n");
        return;
    }
    int a, b;
    two_allowed_cpus(&a, &b);
    int64_t elapsed[2];
    int cpus[2] = {a >= 0 ? a : -1, bad};
    clear();
    CHECK_EQ(ll_fs_run(buf, 2, 128, 1000, LL_FS_PLAIN, cpus, elapsed), LL_ENOCPU);
    cpus[0] = bad;
    cpus[1] = -1;
    CHECK_EQ(ll_fs_run(buf, 2, 128, 1000, LL_FS_ATOMIC, cpus, elapsed), LL_ENOCPU);
    cpus[1] = bad;
    CHECK_EQ(ll_fs_run(buf, 2, 128, 1000, LL_FS_PLAIN, cpus, elapsed), LL_ENOCPU);
    int far[1] = {CPU_SETSIZE + 5}; /* beyond any cpu_set_t */
    CHECK_EQ(ll_fs_run(buf, 1, 8, 1000, LL_FS_PLAIN, far, elapsed), LL_ENOCPU);
}

/* ---------------------------------------------------- ll_fs_increment */
static int same_affinity(const cpu_set_t *a)
{
    cpu_set_t now;
    CPU_ZERO(&now);
    pthread_getaffinity_np(pthread_self(), sizeof now, &now);
    return CPU_EQUAL(a, &now);
}

static void test_increment(void)
{
    cpu_set_t orig;
    CPU_ZERO(&orig);
    CHECK_EQ(pthread_getaffinity_np(pthread_self(), sizeof orig, &orig), 0);

    clear();
    CHECK(ll_fs_increment(&buf[0], N_ONE, LL_FS_PLAIN, -1) > 0);
    CHECK(ll_fs_increment(&buf[0], N_ONE, LL_FS_ATOMIC, -1) > 0);
    CHECK_EQ(buf[0], 2 * N_ONE);
    CHECK(same_affinity(&orig)); /* cpu -1: not pinned */

    int a, b;
    if (two_allowed_cpus(&a, &b)) {
        CHECK(ll_fs_increment(&buf[0], N_ONE, LL_FS_PLAIN, b) > 0);
        CHECK_EQ(buf[0], 3 * N_ONE);
        /* ll_fs_increment pins and leaves the thread pinned (the Python
         * binding restores the old set): check, then restore */
        cpu_set_t only_b;
        CPU_ZERO(&only_b);
        CPU_SET(b, &only_b);
        CHECK(same_affinity(&only_b));
        CHECK_EQ(pthread_setaffinity_np(pthread_self(), sizeof orig, &orig), 0);
    }

    /* bad arguments: refused, nothing counted */
    clear();
    CHECK_EQ(ll_fs_increment(NULL, 10, LL_FS_PLAIN, -1), LL_EINVAL);
    CHECK_EQ(ll_fs_increment((char *)buf + 4, 10, LL_FS_PLAIN, -1), LL_EINVAL);
    CHECK_EQ(ll_fs_increment((char *)buf + 1, 10, LL_FS_ATOMIC, -1), LL_EINVAL);
    CHECK_EQ(ll_fs_increment(&buf[0], 0, LL_FS_PLAIN, -1), LL_EINVAL);
    CHECK_EQ(ll_fs_increment(&buf[0], -5, LL_FS_PLAIN, -1), LL_EINVAL);
    CHECK_EQ(ll_fs_increment(&buf[0], 10, 7, -1), LL_EINVAL);
    CHECK_EQ(ll_fs_increment(&buf[0], 10, -1, -1), LL_EINVAL);
    int bad = forbidden_cpu();
    if (bad >= 0)
        CHECK_EQ(ll_fs_increment(&buf[0], 10, LL_FS_PLAIN, bad), LL_ENOCPU);
    CHECK_EQ(ll_fs_increment(&buf[0], 10, LL_FS_PLAIN, CPU_SETSIZE), LL_ENOCPU);
    CHECK(same_affinity(&orig)); /* a failed pin changes nothing */
    check_counters(0, 8, 0, "after refused increments");
}

/* Two of our own threads, each calling ll_fs_increment on its own counter in
 * the same cache line (what labs/false_sharing.py does from Python threads). */
typedef struct {
    int64_t *counter;
    int cpu;
    int kind;
    int64_t result;
} inc_arg;

static void *inc_thread(void *p)
{
    inc_arg *a = p;
    a->result = ll_fs_increment(a->counter, N_RUN, a->kind, a->cpu);
    return NULL;
}

static void test_increment_threads(void)
{
    int a, b;
    int pinned = two_allowed_cpus(&a, &b);
    for (int kind = LL_FS_PLAIN; kind <= LL_FS_ATOMIC; kind++) {
        clear();
        inc_arg args[2] = {{&buf[0], pinned ? a : -1, kind, 0}, {&buf[1], pinned ? b : -1, kind, 0}};
        pthread_t th[2];
        int created = 0;
        for (int i = 0; i < 2; i++)
            created += pthread_create(&th[i], NULL, inc_thread, &args[i]) == 0;
        CHECK_EQ(created, 2);
        for (int i = 0; i < created; i++)
            pthread_join(th[i], NULL);
        CHECK(args[0].result > 0 && args[1].result > 0);
        check_counters(2, 8, N_RUN, "ll_fs_increment from 2 threads");
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    buf = aligned_alloc(128, BUF_SIZE);
    if (buf == NULL) {
        fprintf(stderr, "out of memory\n");
        return 2;
    }
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"run_exact", test_run_exact},
        {"run_many", test_run_many},
        {"run_bad_args", test_run_bad_args},
        {"run_forbidden_cpu", test_run_forbidden_cpu},
        {"increment", test_increment},
        {"increment_threads", test_increment_threads},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        uint64_t t0 = ll_now_ns();
        tests[i].fn();
        printf("%-20s %6.3f s\n", tests[i].name, (double)(ll_now_ns() - t0) * 1e-9);
    }
    free(buf);
    return check_summary();
}
