/*
 * tests/c/test_spsc_ring.c - lab 3's ring tested from C, no framework.
 *
 * Built by meson as `test_spsc_ring_c` and run by `meson test`; `make
 * sanitize` runs it under ASan+UBSan and under TSan.  The two-thread streams
 * (a producer thread and a consumer thread on one ring, each end with its own
 * handle) are what TSan is here for: every slot is plain memory, handed over
 * by the release/acquire pairs on head and tail alone.
 *
 * No shared-memory segment is needed: a ring lives in any zero-filled,
 * 128-aligned buffer (Python passes a lab-1 segment's payload).  The role test
 * forks a second process over a MAP_SHARED buffer, because roles are claimed
 * per process.
 *
 * Prints "N passed, M failed" and exits non-zero if anything failed.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "spsc_layout.h"
#include "spsc_ring.h"

#include "check.h"

/* Messages per two-thread stream: enough for the threads to overlap and the
 * counters to wrap the ring ~1000 times even at capacity 1024. */
#define N_STREAM 1000000ull
#define TIMEOUT_NS 20000000000ull /* 20 s: only a hang (a lost message) trips it */

/* A zero-filled, 128-aligned buffer holding a ring of this geometry. */
static void *new_buffer(uint64_t capacity, uint32_t slot_size, uint64_t *size)
{
    *size = ll_ring_bytes(capacity, slot_size);
    void *p = aligned_alloc(LL_PAD, (*size + LL_PAD - 1) / LL_PAD * LL_PAD);
    if (p != NULL)
        memset(p, 0, *size);
    return p;
}

static ll_ring *open_role(void *buf, uint64_t size, int role)
{
    int err = 12345;
    ll_ring *r = ll_ring_open(buf, size, role, &err);
    CHECK(r != NULL);
    CHECK_EQ(err, LL_OK);
    return r;
}

/* Fill a message of `slot_size` bytes: byte j = (tag + j) & 0xff. */
static void fill(uint8_t *msg, uint32_t len, uint64_t tag)
{
    for (uint32_t j = 0; j < len; j++)
        msg[j] = (uint8_t)(tag + j);
}

static int is_msg(const uint8_t *msg, uint32_t len, uint64_t tag)
{
    for (uint32_t j = 0; j < len; j++)
        if (msg[j] != (uint8_t)(tag + j))
            return 0;
    return 1;
}

/* ------------------------------------------------------------ geometry */
static void test_geometry(void)
{
    CHECK_EQ(ll_ring_check_geometry(2, 8), LL_OK);
    CHECK_EQ(ll_ring_check_geometry(4, 64), LL_OK);
    CHECK_EQ(ll_ring_check_geometry(LL_RING_MAX_CAPACITY, LL_RING_MAX_SLOT), LL_OK);
    const uint64_t bad_caps[] = {0, 1, 3, 6, 1000, LL_RING_MAX_CAPACITY + 1, LL_RING_MAX_CAPACITY * 2, UINT64_MAX};
    for (size_t i = 0; i < sizeof bad_caps / sizeof bad_caps[0]; i++)
        CHECK_EQ(ll_ring_check_geometry(bad_caps[i], 64), LL_EINVAL);
    const uint32_t bad_slots[] = {0, 4, 7, 12, 65537, 65544, UINT32_MAX};
    for (size_t i = 0; i < sizeof bad_slots / sizeof bad_slots[0]; i++)
        CHECK_EQ(ll_ring_check_geometry(4, bad_slots[i]), LL_EBADSIZE);
    CHECK_EQ(ll_ring_bytes(4, 64), 384 + 4 * 64);
    CHECK_EQ(ll_ring_layout_info("slots"), 384);
    CHECK_EQ(ll_ring_layout_info("no such key"), -1);
    CHECK_EQ(ll_ring_layout_info(NULL), -1);
}

/* ----------------------------------------------------- init and open */
static void test_init_open_errors(void)
{
    uint64_t size;
    uint8_t *buf = new_buffer(4, 64, &size);
    if (buf == NULL) {
        failed++;
        return;
    }
    ll_ring_layout *l = (ll_ring_layout *)buf;
    int err = 0;

    /* refused inits write nothing */
    CHECK_EQ(ll_ring_init(buf, size, 3, 64), LL_EINVAL);
    CHECK_EQ(ll_ring_init(buf, size, 4, 12), LL_EBADSIZE);
    CHECK_EQ(ll_ring_init(NULL, size, 4, 64), LL_EINVAL);
    CHECK_EQ(ll_ring_init(buf + 8, size - 8, 2, 8), LL_EINVAL); /* not 128-aligned */
    CHECK_EQ(ll_ring_init(buf, size - 1, 4, 64), LL_EINVAL);    /* too small for the slots */
    CHECK_EQ(atomic_load(&l->hdr.magic), 0);

    /* no ring there yet */
    CHECK(ll_ring_open(buf, size, LL_RING_CONSUMER, &err) == NULL);
    CHECK_EQ(err, LL_EBADMAGIC);

    CHECK_EQ(ll_ring_init(buf, size, 4, 64), LL_OK);
    CHECK_EQ(atomic_load(&l->hdr.magic), LL_RING_MAGIC);
    CHECK_EQ(l->hdr.version, LL_RING_VERSION);
    CHECK_EQ(l->hdr.capacity, 4);
    CHECK_EQ(l->hdr.slot_size, 64);
    CHECK(atomic_load(&l->prod.heartbeat) > 0);

    /* bad arguments */
    CHECK(ll_ring_open(NULL, size, LL_RING_CONSUMER, &err) == NULL);
    CHECK_EQ(err, LL_EINVAL);
    CHECK(ll_ring_open(buf, size, 0, &err) == NULL);
    CHECK_EQ(err, LL_EINVAL);
    CHECK(ll_ring_open(buf, size, 3, &err) == NULL);
    CHECK_EQ(err, LL_EINVAL);
    CHECK(ll_ring_open(buf, sizeof(ll_ring_layout) - 1, LL_RING_CONSUMER, &err) == NULL);
    CHECK_EQ(err, LL_EINVAL);
    /* the header says 4 x 64 but the buffer is smaller */
    CHECK(ll_ring_open(buf, size - 1, LL_RING_CONSUMER, &err) == NULL);
    CHECK_EQ(err, LL_EBADLAYOUT);

    /* corrupted headers: each refused with its own code, no role claimed */
    l->hdr.version = 2;
    CHECK(ll_ring_open(buf, size, LL_RING_CONSUMER, &err) == NULL);
    CHECK_EQ(err, LL_EBADVERSION);
    l->hdr.version = LL_RING_VERSION;
    l->hdr.capacity = 3;
    CHECK(ll_ring_open(buf, size, LL_RING_CONSUMER, &err) == NULL);
    CHECK_EQ(err, LL_EBADLAYOUT);
    l->hdr.capacity = 8; /* a power of two, but more slots than the buffer holds */
    CHECK(ll_ring_open(buf, size, LL_RING_CONSUMER, &err) == NULL);
    CHECK_EQ(err, LL_EBADLAYOUT);
    l->hdr.capacity = 4;
    l->hdr.slot_size = 12;
    CHECK(ll_ring_open(buf, size, LL_RING_PRODUCER, &err) == NULL);
    CHECK_EQ(err, LL_EBADLAYOUT);
    l->hdr.slot_size = 64;
    atomic_store(&l->hdr.magic, LL_RING_MAGIC ^ 1);
    CHECK(ll_ring_open(buf, size, LL_RING_PRODUCER, &err) == NULL);
    CHECK_EQ(err, LL_EBADMAGIC);
    atomic_store(&l->hdr.magic, LL_RING_MAGIC);
    CHECK_EQ(atomic_load(&l->hdr.producer_pid), 0);
    CHECK_EQ(atomic_load(&l->hdr.consumer_pid), 0);

    /* repaired: both roles open, and record our pid */
    ll_ring *p = open_role(buf, size, LL_RING_PRODUCER);
    ll_ring *c = open_role(buf, size, LL_RING_CONSUMER);
    CHECK_EQ(atomic_load(&l->hdr.producer_pid), getpid());
    CHECK_EQ(atomic_load(&l->hdr.consumer_pid), getpid());
    if (p && c) {
        CHECK_EQ(ll_ring_capacity(p), 4);
        CHECK_EQ(ll_ring_slot_size(c), 64);
        CHECK(ll_ring_heartbeat_age_ns(c) < 60000000000ull);
    }
    ll_ring_close(p);
    ll_ring_close(c);
    CHECK_EQ(atomic_load(&l->hdr.producer_pid), 0);
    CHECK_EQ(atomic_load(&l->hdr.consumer_pid), 0);
    CHECK_EQ(atomic_load(&l->prod.closed), 1);
    ll_ring_close(NULL); /* harmless */
    free(buf);
}

/* ---------------------------------------- one thread: full, empty, wrap */
static void test_full_empty_wrap(void)
{
    enum { CAP = 4, SLOT = 16 };
    uint64_t size;
    uint8_t *buf = new_buffer(CAP, SLOT, &size);
    if (buf == NULL || ll_ring_init(buf, size, CAP, SLOT) != LL_OK) {
        failed++;
        free(buf);
        return;
    }
    ll_ring *p = open_role(buf, size, LL_RING_PRODUCER);
    ll_ring *c = open_role(buf, size, LL_RING_CONSUMER);
    if (!p || !c) {
        ll_ring_close(p);
        ll_ring_close(c);
        free(buf);
        return;
    }
    uint8_t msg[SLOT * CAP * 2], out[SLOT * CAP * 2];

    /* empty */
    CHECK_EQ(ll_ring_pop(c, out), 0);
    CHECK_EQ(ll_ring_pop_many(c, out, CAP), 0);
    CHECK_EQ(ll_ring_size(c), 0);

    /* fill to capacity, then full */
    for (uint64_t i = 0; i < CAP; i++) {
        fill(msg, SLOT, i);
        CHECK_EQ(ll_ring_push(p, msg, SLOT), 1);
    }
    CHECK_EQ(ll_ring_size(p), CAP);
    CHECK_EQ(ll_ring_push(p, msg, SLOT), 0);
    CHECK_EQ(ll_ring_push_many(p, msg, 3), 0);
    CHECK_EQ(ll_ring_push(p, msg, SLOT + 1), LL_EINVAL); /* too long: refused before "full" */

    /* FIFO */
    for (uint64_t i = 0; i < CAP; i++) {
        CHECK_EQ(ll_ring_pop(c, out), 1);
        CHECK(is_msg(out, SLOT, i));
    }
    CHECK_EQ(ll_ring_pop(c, out), 0);

    /* a short message is zero-padded, whatever the slot held before */
    memset(msg, 0xAB, sizeof msg);
    CHECK_EQ(ll_ring_push(p, msg, 3), 1);
    CHECK_EQ(ll_ring_push(p, msg, 0), 1);
    CHECK_EQ(ll_ring_pop(c, out), 1);
    CHECK(out[0] == 0xAB && out[1] == 0xAB && out[2] == 0xAB);
    int zeros = 1;
    for (int j = 3; j < SLOT; j++)
        zeros &= out[j] == 0;
    CHECK(zeros);
    CHECK_EQ(ll_ring_pop(c, out), 1);
    zeros = 1;
    for (int j = 0; j < SLOT; j++)
        zeros &= out[j] == 0;
    CHECK(zeros);

    /* wrap many times with batches of every size 1..CAP+1: batches straddle
     * the end of the slot array; pop_many sizes drift the other way */
    uint64_t next_in = 100, next_out = 100;
    int fifo_ok = 1, counts_ok = 1;
    for (int round = 0; round < 200; round++) {
        uint64_t want = (uint64_t)(round % (CAP + 1)) + 1;
        for (uint64_t j = 0; j < want; j++)
            fill(msg + j * SLOT, SLOT, next_in + j);
        uint64_t room = CAP - ll_ring_size(p);
        uint64_t got = ll_ring_push_many(p, msg, want);
        counts_ok &= got == (want < room ? want : room);
        next_in += got;
        uint64_t max = (uint64_t)(round % 3) + 1;
        uint64_t have = ll_ring_size(c);
        uint64_t k = ll_ring_pop_many(c, out, max);
        counts_ok &= k == (max < have ? max : have);
        for (uint64_t j = 0; j < k; j++)
            fifo_ok &= is_msg(out + j * SLOT, SLOT, next_out + j);
        next_out += k;
    }
    CHECK(fifo_ok);
    CHECK(counts_ok);
    CHECK(next_in - next_out <= CAP);
    uint64_t k = ll_ring_pop_many(c, out, 2 * CAP); /* max beyond the capacity: gets what is there */
    for (uint64_t j = 0; j < k; j++)
        fifo_ok &= is_msg(out + j * SLOT, SLOT, next_out + j);
    next_out += k;
    CHECK(fifo_ok);
    CHECK_EQ(next_out, next_in);
    CHECK_EQ(ll_ring_size(c), 0);
    ll_ring_layout *l = (ll_ring_layout *)buf;
    CHECK_EQ(atomic_load(&l->prod.head), atomic_load(&l->cons.tail));

    /* waiting: nothing arrives, the other side is alive (us) -> timeout */
    CHECK_EQ(ll_ring_pop_wait(c, out, 1000000), LL_ETIMEDOUT);
    for (int i = 0; i < CAP; i++)
        CHECK_EQ(ll_ring_push(p, msg, SLOT), 1);
    CHECK_EQ(ll_ring_push_wait(p, msg, SLOT, 1000000), LL_ETIMEDOUT);
    CHECK_EQ(ll_ring_push_wait(p, msg, SLOT + 8, 1000000), LL_EINVAL);
    CHECK_EQ(ll_ring_pop_wait(c, out, 1000000), 1);
    CHECK_EQ(ll_ring_push_wait(p, msg, SLOT, 1000000), 1);
    CHECK_EQ(ll_ring_peer_state(c), LL_OK);
    CHECK_EQ(ll_ring_peer_state(p), LL_OK);

    /* the producer closes: the consumer drains, then LL_ECLOSED */
    ll_ring_close(p);
    CHECK_EQ(ll_ring_peer_state(c), LL_OK); /* not drained yet */
    for (int i = 0; i < CAP; i++)
        CHECK_EQ(ll_ring_pop_wait(c, out, 1000000000), 1);
    CHECK_EQ(ll_ring_pop_wait(c, out, 1000000000), LL_ECLOSED);
    CHECK_EQ(ll_ring_peer_state(c), LL_ECLOSED);

    /* a new producer reopens the ring: it is open again and continues */
    p = open_role(buf, size, LL_RING_PRODUCER);
    if (p) {
        CHECK_EQ(ll_ring_peer_state(c), LL_OK);
        fill(msg, SLOT, 7);
        CHECK_EQ(ll_ring_push(p, msg, SLOT), 1);
        CHECK_EQ(ll_ring_pop(c, out), 1);
        CHECK(is_msg(out, SLOT, 7));
    }
    ll_ring_close(p);
    ll_ring_close(c);
    free(buf);
}

/* head and tail are free-running u64 counters: crossing 2^64 changes nothing */
static void test_counter_wrap(void)
{
    enum { CAP = 8, SLOT = 16 };
    uint64_t size;
    uint8_t *buf = new_buffer(CAP, SLOT, &size);
    if (buf == NULL || ll_ring_init(buf, size, CAP, SLOT) != LL_OK) {
        failed++;
        free(buf);
        return;
    }
    ll_ring_layout *l = (ll_ring_layout *)buf;
    atomic_store(&l->prod.head, UINT64_MAX - 20);
    atomic_store(&l->cons.tail, UINT64_MAX - 20);
    ll_ring *p = open_role(buf, size, LL_RING_PRODUCER);
    ll_ring *c = open_role(buf, size, LL_RING_CONSUMER);
    if (p && c) {
        uint64_t bad = 99;
        CHECK_EQ(ll_ring_size(c), 0);
        CHECK(ll_ring_produce_seq(p, 0, 5, 1, 1000000) >= 0); /* fits without a consumer */
        CHECK_EQ(ll_ring_size(c), 5);
        CHECK(ll_ring_consume_seq(c, 0, 5, 4, 1000000, &bad) >= 0);
        CHECK_EQ(bad, 0);
        int ok = 1;
        uint8_t msg[SLOT * 3], out[SLOT * 3];
        for (uint64_t i = 0; i < 40; i++) { /* through the u64 wrap, 3 at a time */
            for (uint64_t j = 0; j < 3; j++)
                fill(msg + j * SLOT, SLOT, 3 * i + j);
            ok &= ll_ring_push_many(p, msg, 3) == 3;
            ok &= ll_ring_size(p) == 3;
            ok &= ll_ring_pop_many(c, out, 3) == 3;
            for (uint64_t j = 0; j < 3; j++)
                ok &= is_msg(out + j * SLOT, SLOT, 3 * i + j);
        }
        CHECK(ok);
        CHECK(atomic_load(&l->prod.head) < 1000); /* it did wrap */
        /* a full ring across the wrap */
        for (int i = 0; i < CAP; i++)
            CHECK_EQ(ll_ring_push(p, msg, SLOT), 1);
        CHECK_EQ(ll_ring_push(p, msg, SLOT), 0);
        CHECK_EQ(ll_ring_size(c), CAP);
    }
    ll_ring_close(p);
    ll_ring_close(c);
    free(buf);
}

/* ------------------------------------------------- stream argument checks */
static void test_stream_args(void)
{
    uint64_t size, bad = 0;
    uint8_t *buf = new_buffer(4, 8, &size);
    if (buf == NULL || ll_ring_init(buf, size, 4, 8) != LL_OK) {
        failed++;
        free(buf);
        return;
    }
    ll_ring *p = open_role(buf, size, LL_RING_PRODUCER);
    ll_ring *c = open_role(buf, size, LL_RING_CONSUMER);
    /* 8-byte slots cannot hold a sequenced message (16 bytes) */
    CHECK_EQ(ll_ring_produce_seq(p, 0, 10, 1, 1000000), LL_EINVAL);
    CHECK_EQ(ll_ring_consume_seq(c, 0, 10, 1, 1000000, &bad), LL_EINVAL);
    ll_ring_close(p);
    ll_ring_close(c);
    free(buf);

    buf = new_buffer(4, 16, &size);
    if (buf == NULL || ll_ring_init(buf, size, 4, 16) != LL_OK) {
        failed++;
        free(buf);
        return;
    }
    p = open_role(buf, size, LL_RING_PRODUCER);
    c = open_role(buf, size, LL_RING_CONSUMER);
    CHECK_EQ(ll_ring_produce_seq(NULL, 0, 10, 1, 1000000), LL_EINVAL);
    CHECK_EQ(ll_ring_produce_seq(c, 0, 10, 1, 1000000), LL_EINVAL); /* wrong role */
    CHECK_EQ(ll_ring_consume_seq(p, 0, 10, 1, 1000000, &bad), LL_EINVAL);
    CHECK_EQ(ll_ring_produce_seq(p, 0, 10, 0, 1000000), LL_EINVAL);  /* batch 0 */
    CHECK_EQ(ll_ring_produce_seq(p, 0, 10, 32, 1000000), LL_EINVAL); /* batch > capacity */
    CHECK_EQ(ll_ring_consume_seq(c, 0, 10, 32, 1000000, &bad), LL_EINVAL);
    CHECK_EQ(ll_ring_consume_seq(c, 0, 10, 1, 1000000, NULL), LL_EINVAL);
    CHECK_EQ(ll_ring_size(c), 0); /* nothing was pushed */
    /* no consumer running: 4 fit, then the producer times out */
    CHECK_EQ(ll_ring_produce_seq(p, 0, 10, 1, 1000000), LL_ETIMEDOUT);
    CHECK_EQ(ll_ring_size(c), 4);
    /* wrong sequence numbers are counted, not fatal */
    CHECK(ll_ring_consume_seq(c, 1, 4, 2, 1000000, &bad) >= 0);
    CHECK_EQ(bad, 4);
    /* n = 0: nothing to do */
    CHECK(ll_ring_produce_seq(p, 0, 0, 1, 1000000) >= 0);
    CHECK(ll_ring_consume_seq(c, 0, 0, 1, 1000000, &bad) >= 0);
    CHECK_EQ(bad, 0);
    /* the producer closes after 3 messages, the consumer wanted 5 */
    CHECK(ll_ring_produce_seq(p, 0, 3, 2, 1000000) >= 0);
    ll_ring_close(p);
    CHECK_EQ(ll_ring_consume_seq(c, 0, 5, 1, 1000000000, &bad), LL_ECLOSED);
    CHECK_EQ(bad, 0);
    ll_ring_close(c);
    free(buf);
}

/* ----------------------------------------- roles across two processes */
/* A child process holds the producer role: a second producer is refused
 * (LL_EBUSY) while it lives; once it is dead the consumer is told
 * LL_EPEERDEAD and a new producer takes the role over. */
static void test_roles_two_processes(void)
{
    enum { CAP = 4, SLOT = 16 };
    uint64_t size = ll_ring_bytes(CAP, SLOT);
    void *shared = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(shared != MAP_FAILED);
    if (shared == MAP_FAILED)
        return;
    CHECK_EQ(ll_ring_init(shared, size, CAP, SLOT), LL_OK);
    ll_ring_layout *l = shared;
    int ready[2], stop[2];
    if (pipe(ready) != 0 || pipe(stop) != 0) {
        failed++;
        munmap(shared, size);
        return;
    }
    pid_t child = fork();
    if (child == 0) {
        /* the child: take the producer role, push two messages, say so, wait
         * for the word, then exit WITHOUT closing (as if it had crashed) */
        close(ready[0]);
        close(stop[1]);
        int err = 0;
        ll_ring *p = ll_ring_open(shared, size, LL_RING_PRODUCER, &err);
        uint8_t msg[SLOT];
        int ok = p != NULL;
        for (int i = 0; ok && i < 2; i++) {
            fill(msg, SLOT, (uint64_t)i);
            ok = ll_ring_push(p, msg, SLOT) == 1;
        }
        char c = ok ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1)
            _exit(3);
        (void)!read(stop[0], &c, 1); /* returns at EOF: the parent closed its end */
        _exit(ok ? 0 : 1);
    }
    close(ready[1]);
    close(stop[0]);
    CHECK(child > 0);
    if (child < 0) {
        close(ready[0]);
        close(stop[1]);
        munmap(shared, size);
        return;
    }
    char word = 0;
    CHECK_EQ(read(ready[0], &word, 1), 1);
    CHECK_EQ(word, 'y');
    CHECK_EQ(atomic_load(&l->hdr.producer_pid), child);

    int err = 0;
    CHECK(ll_ring_open(shared, size, LL_RING_PRODUCER, &err) == NULL); /* a live producer holds it */
    CHECK_EQ(err, LL_EBUSY);
    CHECK_EQ(atomic_load(&l->hdr.producer_pid), child);
    ll_ring *c = open_role(shared, size, LL_RING_CONSUMER);
    if (c) {
        uint8_t out[SLOT];
        CHECK_EQ(ll_ring_peer_state(c), LL_OK);
        CHECK_EQ(ll_ring_pop_wait(c, out, 1000000), 1);
        CHECK(is_msg(out, SLOT, 0));

        close(stop[1]); /* the child exits without closing; not reaped yet: a zombie */
        stop[1] = -1;
        uint64_t deadline = ll_now_ns() + 10000000000ull;
        while (ll_ring_peer_state(c) == LL_OK && ll_now_ns() < deadline)
            usleep(1000);
        CHECK_EQ(ll_ring_peer_state(c), LL_EPEERDEAD);
        /* what it pushed before dying is still delivered, then LL_EPEERDEAD */
        CHECK_EQ(ll_ring_pop_wait(c, out, 1000000000), 1);
        CHECK(is_msg(out, SLOT, 1));
        uint64_t t0 = ll_now_ns();
        CHECK_EQ(ll_ring_pop_wait(c, out, 5000000000ull), LL_EPEERDEAD);
        CHECK(ll_now_ns() - t0 < 2000000000ull); /* told at once, not at the timeout */

        /* a dead holder's role is taken over (zombie first, then reaped) */
        ll_ring *p = open_role(shared, size, LL_RING_PRODUCER);
        CHECK_EQ(atomic_load(&l->hdr.producer_pid), getpid());
        if (p) {
            CHECK_EQ(ll_ring_peer_state(c), LL_OK);
            uint8_t msg[SLOT];
            fill(msg, SLOT, 42);
            CHECK_EQ(ll_ring_push(p, msg, SLOT), 1);
            CHECK_EQ(ll_ring_pop(c, out), 1);
            CHECK(is_msg(out, SLOT, 42));
        }
        ll_ring_close(p);
        ll_ring_close(c);
    }
    if (stop[1] >= 0)
        close(stop[1]);
    close(ready[0]);
    int status = 0;
    CHECK_EQ(waitpid(child, &status, 0), child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* reaped: still dead, still taken over */
    atomic_store(&l->hdr.producer_pid, (uint32_t)child);
    ll_ring *p = open_role(shared, size, LL_RING_PRODUCER);
    ll_ring_close(p);
    munmap(shared, size);
}

/* ------------------------------------------- two threads, one stream */
typedef struct {
    ll_ring *r;
    int cpu;
    uint64_t start, n;
    uint32_t batch;
    int64_t result;
    uint64_t bad;
} stream_arg;

static void *producer_thread(void *p)
{
    stream_arg *a = p;
    if (a->cpu >= 0)
        ll_pin_self(a->cpu);
    a->result = ll_ring_produce_seq(a->r, a->start, a->n, a->batch, TIMEOUT_NS);
    return NULL;
}

static void *consumer_thread(void *p)
{
    stream_arg *a = p;
    if (a->cpu >= 0)
        ll_pin_self(a->cpu);
    a->result = ll_ring_consume_seq(a->r, a->start, a->n, a->batch, TIMEOUT_NS, &a->bad);
    return NULL;
}

static void stream(uint64_t capacity, uint32_t slot_size, uint32_t batch, uint64_t start)
{
    uint64_t size;
    void *buf = new_buffer(capacity, slot_size, &size);
    if (buf == NULL || ll_ring_init(buf, size, capacity, slot_size) != LL_OK) {
        failed++;
        free(buf);
        return;
    }
    ll_ring *p = open_role(buf, size, LL_RING_PRODUCER);
    ll_ring *c = open_role(buf, size, LL_RING_CONSUMER);
    if (!p || !c) {
        ll_ring_close(p);
        ll_ring_close(c);
        free(buf);
        return;
    }
    int a, b;
    int pinned = two_allowed_cpus(&a, &b);
    stream_arg pa = {p, pinned ? a : -1, start, N_STREAM, batch, -1, 0};
    stream_arg ca = {c, pinned ? b : -1, start, N_STREAM, batch, -1, 99};
    pthread_t tp, tc;
    int okp = pthread_create(&tp, NULL, producer_thread, &pa) == 0;
    int okc = pthread_create(&tc, NULL, consumer_thread, &ca) == 0;
    CHECK(okp && okc);
    if (okp)
        pthread_join(tp, NULL);
    if (okc)
        pthread_join(tc, NULL);
    if (pa.result < 0 || ca.result < 0 || ca.bad != 0)
        fprintf(stderr, "  capacity %llu, batch %u: produce %lld, consume %lld, bad %llu\n",
                (unsigned long long)capacity, batch, (long long)pa.result, (long long)ca.result,
                (unsigned long long)ca.bad);
    CHECK(pa.result >= 0);
    CHECK(ca.result >= 0);
    CHECK_EQ(ca.bad, 0);
    CHECK_EQ(ll_ring_size(c), 0);
    ll_ring_layout *l = buf;
    CHECK_EQ(atomic_load(&l->prod.head), N_STREAM);
    CHECK_EQ(atomic_load(&l->cons.tail), N_STREAM);
    ll_ring_close(p);
    ll_ring_close(c);
    free(buf);
}

static void test_streams(void)
{
    int a, b;
    if (!two_allowed_cpus(&a, &b))
        printf("note: fewer than two usable CPUs, the stream threads are unpinned\n");
    stream(4, 64, 1, 0);
    stream(4, 16, 3, 1000); /* batches of 3 in 4 slots: nearly every batch straddles the wrap */
    stream(1024, 64, 1, 0);
    stream(1024, 64, 32, 7);
    stream(1024, 24, 32, 0); /* slots of 24 bytes: not a power of two */
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"geometry", test_geometry},
        {"init_open_errors", test_init_open_errors},
        {"full_empty_wrap", test_full_empty_wrap},
        {"counter_wrap", test_counter_wrap},
        {"stream_args", test_stream_args},
        {"roles_two_processes", test_roles_two_processes},
        {"streams", test_streams},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        uint64_t t0 = ll_now_ns();
        tests[i].fn();
        printf("%-20s %6.3f s\n", tests[i].name, (double)(ll_now_ns() - t0) * 1e-9);
    }
    return check_summary();
}
