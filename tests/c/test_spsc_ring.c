/*
 * tests/c/test_spsc_ring.c - lab 3's ring tested from C, no framework.
 *
 * Built by meson twice: `test_spsc_ring_c` (the ring with its cached index)
 * and `test_spsc_ring_nocache_c` (this file and the ring compiled with
 * -DLL_RING_NO_CACHE, the naive ring); `make sanitize` runs both under
 * ASan+UBSan and under TSan.
 *
 * Every concern that a flavour could change runs for both flavours
 * (LL_RING_INDEX and LL_RING_SEQ_SLOT, spsc_layout.h): a test takes a `flav`,
 * which picks that flavour's push/pop/push_many/pop_many, and sizes its rings
 * by message size (a seq-slot slot is 8 bytes longer: its sequence word).
 *
 * A ring needs a file now: the roles are open-file-description locks on
 * bytes 0 and 1 of the file the payload is mapped from.  Every test ring is a
 * memfd (memfd_create + ftruncate + mmap MAP_SHARED: page-aligned, so
 * 128-aligned, zero-filled), and the role tests fork children that open their
 * end from the inherited memfd descriptor.  One test uses a real lab-1
 * segment (ll_seg_create), mapped twice.
 *
 * TSan is here for the tests with two threads on one ring: the streams
 * (test_streams: a producer thread and a consumer thread, pinned to two CPUs
 * when there are two, each end with its own handle), the ping-pong and echo
 * over two rings, the stamped one-way messages, and the batches a consumer
 * must see whole.  Every slot is plain
 * memory, handed over only by the release/acquire pairs on head, tail and
 * (seq-slot) the slots' sequence words.  The fork tests run before any
 * thread is started.
 *
 * Some tests write the shared header by hand (a counter near 2^64, a
 * heartbeat of 0, a corrupted field, the state a producer leaves when it dies
 * between two stores): each says why it may.
 *
 * Prints "N passed, M failed" and exits non-zero if anything failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "shm_basics.h"
#include "spsc_layout.h"
#include "spsc_ring.h"

#include "check.h"

/* Sanitizers slow every atomic and memcpy by 5-20x: the two-thread streams
 * get fewer messages there (still thousands of wraps of the ring). */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* Messages per two-thread stream: enough for the threads to overlap and the
 * counters to wrap the ring ~1000 times even at capacity 1024. */
#define N_STREAM (SANITIZED ? 200000ull : 1000000ull)
#define N_ROUNDS 2000u                /* ping-pong round trips, stamped messages */
#define TIMEOUT_NS 20000000000ull /* 20 s: only a hang (a lost message) trips it */
#define SHORT_NS 1000000ull       /* 1 ms: a wait that is meant to time out */
#define MAX_MSG 64u               /* the largest message of the one-thread tests */

/* ------------------------------------------------------------- flavours */
/* One flavour's calls; the kernels, the waits and the rest are shared. */
typedef struct {
    uint32_t flavour;
    const char *name;
    uint32_t extra; /* slot bytes beyond the message: 0, or the sequence word */
    int (*push)(ll_ring *, const void *, uint32_t);
    int64_t (*push_many)(ll_ring *, const void *, uint64_t);
    int (*pop)(ll_ring *, void *);
    int64_t (*pop_many)(ll_ring *, void *, uint64_t);
} flav;

static const flav FLAVOURS[2] = {
    {LL_RING_INDEX, "index", 0, ll_ring_push, ll_ring_push_many, ll_ring_pop, ll_ring_pop_many},
    {LL_RING_SEQ_SLOT, "seq-slot", LL_RING_SEQ_BYTES, ll_seqring_push, ll_seqring_push_many, ll_seqring_pop,
     ll_seqring_pop_many},
};

static const flav *other_flavour(const flav *f) { return f == &FLAVOURS[0] ? &FLAVOURS[1] : &FLAVOURS[0]; }
static uint32_t slot_for(const flav *f, uint32_t msg) { return msg + f->extra; }

/* ---------------------------------------------------------- test rings */
/* A ring in a memfd: the descriptor the ends reopen for their role locks,
 * and the MAP_SHARED mapping of it (shared with forked children too). */
typedef struct {
    int fd;
    uint8_t *mem;
    uint64_t size; /* ll_ring_bytes: what the ring calls are told */
} tring;

static void tring_free(tring *t)
{
    if (t->mem != NULL)
        munmap(t->mem, t->size);
    if (t->fd >= 0)
        close(t->fd);
    t->mem = NULL;
    t->fd = -1;
}

/* A zero-filled file of `size` bytes, mapped; no ring in it yet. */
static int tring_map(tring *t, uint64_t size)
{
    t->size = size;
    t->mem = NULL;
    t->fd = memfd_create("test_spsc_ring", MFD_CLOEXEC);
    CHECK(t->fd >= 0);
    if (t->fd < 0)
        return 0;
    int ok = ftruncate(t->fd, (off_t)size) == 0;
    CHECK(ok);
    void *p = ok ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, t->fd, 0) : MAP_FAILED;
    CHECK(p != MAP_FAILED);
    if (p == MAP_FAILED) {
        tring_free(t);
        return 0;
    }
    t->mem = p;
    return 1;
}

static int tring_new(tring *t, uint64_t capacity, uint32_t slot_size, uint32_t flavour)
{
    if (!tring_map(t, ll_ring_bytes(capacity, slot_size)))
        return 0;
    int rc = ll_ring_init(t->mem, t->size, capacity, slot_size, flavour);
    CHECK_EQ(rc, LL_OK);
    if (rc != LL_OK) {
        tring_free(t);
        return 0;
    }
    return 1;
}

static ll_ring_layout *L(const tring *t) { return (ll_ring_layout *)(void *)t->mem; }

static ll_ring *open_role(const tring *t, int role)
{
    int err = 12345;
    ll_ring *r = ll_ring_open(t->mem, t->size, t->fd, role, &err);
    CHECK(r != NULL);
    CHECK_EQ(err, LL_OK);
    return r;
}

/* An open that must be refused: its error code. */
static int open_err(void *payload, uint64_t size, int fd, int role)
{
    int err = 12345;
    ll_ring *r = ll_ring_open(payload, size, fd, role, &err);
    CHECK(r == NULL);
    ll_ring_close(r);
    return err;
}

/* Is the role's lock held by some open description of the file?  Asked from
 * a description of our own, as `latencylab clean` and the Python side ask. */
static int role_held(const tring *t, int role)
{
    int probe = ll_ofd_reopen(t->fd);
    CHECK(probe >= 0);
    if (probe < 0)
        return -1;
    int held = ll_ofd_held(probe, role == LL_RING_PRODUCER ? LL_RING_LOCK_PRODUCER : LL_RING_LOCK_CONSUMER, 1);
    close(probe);
    return held;
}

/* The sequence word of the slot message i uses (seq-slot rings). */
static _Atomic uint64_t *seq_word(const tring *t, uint64_t i)
{
    const ll_ring_layout *l = L(t);
    uint64_t at = offsetof(ll_ring_layout, slots) + (i & (l->hdr.capacity - 1)) * l->hdr.slot_size;
    return (_Atomic uint64_t *)(void *)(t->mem + at);
}

/* Put a fresh, unopened ring's counters at x, as if x messages had gone
 * through it.  A seq-slot ring's slots must then agree: the consumer takes
 * slot word == i + 1 to mean "message i is here", and a fresh slot reads 0,
 * which near 2^64 IS index + 1 (for i = 2^64 - 1): the consumer would take a
 * slot nobody wrote for a message.  So each slot gets what the previous lap
 * left in it - message m - capacity's word, m - capacity + 1, never m + 1 -
 * exactly the state a ring that had really carried x messages is in. */
static void set_counters(const tring *t, uint64_t x)
{
    ll_ring_layout *l = L(t);
    atomic_store(&l->prod.head, x);
    atomic_store(&l->cons.tail, x);
    if (l->hdr.flavour == LL_RING_SEQ_SLOT)
        for (uint64_t m = x; m != x + l->hdr.capacity; m++)
            atomic_store(seq_word(t, m), m - l->hdr.capacity + 1);
}

/* Fill a message of `len` bytes: byte j = (tag + j) & 0xff. */
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

static int all_zero(const uint8_t *p, uint64_t n)
{
    for (uint64_t j = 0; j < n; j++)
        if (p[j] != 0)
            return 0;
    return 1;
}

/* ------------------------------------------------------- forked children */
/* A child process that opens `role` from the memfd it inherited, pushes n
 * messages tagged 0..n-1 (one push_many if `many`) or pops n and checks them,
 * says 'y' (or 'n'), and waits until the parent releases it.  Then it closes
 * its end if `clean`, or exits WITHOUT closing (as if it had crashed: the
 * kernel drops its lock, its pid stays in the header). */
typedef struct {
    pid_t pid;
    int ready, stop; /* our ends of the two pipes; closing `stop` releases the child */
} kid;

static int kid_start(kid *k, const tring *t, const flav *f, int role, uint32_t n, int many, int clean)
{
    int ready[2], stop[2];
    k->pid = -1;
    k->ready = k->stop = -1;
    if (pipe(ready) != 0) {
        CHECK(0);
        return 0;
    }
    if (pipe(stop) != 0) {
        CHECK(0);
        close(ready[0]);
        close(ready[1]);
        return 0;
    }
    uint32_t m = L(t)->hdr.slot_size - f->extra; /* the message size */
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        close(stop[1]);
        int err = 0;
        ll_ring *r = ll_ring_open(t->mem, t->size, t->fd, role, &err);
        int ok = r != NULL;
        uint8_t buf[8 * MAX_MSG];
        if (ok && role == LL_RING_PRODUCER && many) {
            for (uint32_t i = 0; i < n; i++)
                fill(buf + i * m, m, i);
            ok = f->push_many(r, buf, n) == (int64_t)n;
        } else if (ok && role == LL_RING_PRODUCER) {
            for (uint32_t i = 0; ok && i < n; i++) {
                fill(buf, m, i);
                ok = f->push(r, buf, m) == 1;
            }
        } else {
            for (uint32_t i = 0; ok && i < n; i++)
                ok = f->pop(r, buf) == 1 && is_msg(buf, m, i);
        }
        char c = ok ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1)
            _exit(3);
        if (read(stop[0], &c, 1) < 0) /* returns at EOF: the parent closed its end */
            _exit(4);
        if (clean)
            ll_ring_close(r);
        _exit(ok ? 0 : 1);
    }
    close(ready[1]);
    close(stop[0]);
    CHECK(pid > 0);
    if (pid < 0) {
        close(ready[0]);
        close(stop[1]);
        return 0;
    }
    k->pid = pid;
    k->ready = ready[0];
    k->stop = stop[1];
    char word = 0;
    CHECK_EQ(read(k->ready, &word, 1), 1);
    CHECK_EQ(word, 'y');
    return word == 'y';
}

static void kid_release(kid *k)
{
    if (k->stop >= 0)
        close(k->stop);
    k->stop = -1;
}

/* Release the child if not yet, reap it, and check it exited 0. */
static void kid_reap(kid *k)
{
    kid_release(k);
    if (k->ready >= 0)
        close(k->ready);
    k->ready = -1;
    if (k->pid <= 0)
        return;
    int status = 0;
    CHECK_EQ(waitpid(k->pid, &status, 0), k->pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    k->pid = -1;
}

/* Poll until the end's peer_state is `want` (or 10 s pass); the state it ends at. */
static int await_peer_state(ll_ring *r, int want)
{
    uint64_t deadline = ll_now_ns() + 10000000000ull;
    int st;
    while ((st = ll_ring_peer_state(r)) != want && ll_now_ns() < deadline)
        usleep(500);
    return st;
}

/* ------------------------------------------------------------ geometry */
static void test_geometry(const flav *unused)
{
    (void)unused;
    const uint32_t flavours[] = {LL_RING_INDEX, LL_RING_SEQ_SLOT};
    for (int i = 0; i < 2; i++) {
        uint32_t fl = flavours[i];
        uint32_t min = fl == LL_RING_SEQ_SLOT ? 16 : 8;
        CHECK_EQ(ll_ring_check_geometry(2, min, fl), LL_OK);
        CHECK_EQ(ll_ring_check_geometry(4, 64, fl), LL_OK);
        CHECK_EQ(ll_ring_check_geometry(4, 24, fl), LL_OK);
        CHECK_EQ(ll_ring_check_geometry(LL_RING_MAX_CAPACITY, LL_RING_MAX_SLOT, fl), LL_OK);
        const uint64_t bad_caps[] = {0, 1, 3, 6, 1000, LL_RING_MAX_CAPACITY + 1, LL_RING_MAX_CAPACITY * 2, UINT64_MAX};
        for (size_t j = 0; j < sizeof bad_caps / sizeof bad_caps[0]; j++)
            CHECK_EQ(ll_ring_check_geometry(bad_caps[j], 64, fl), LL_EINVAL);
        const uint32_t bad_slots[] = {0, 4, 7, 12, 65537, 65544, UINT32_MAX};
        for (size_t j = 0; j < sizeof bad_slots / sizeof bad_slots[0]; j++)
            CHECK_EQ(ll_ring_check_geometry(4, bad_slots[j], fl), LL_EBADSIZE);
    }
    /* a seq-slot slot holds the 8-byte sequence word and at least 8 message bytes */
    CHECK_EQ(ll_ring_check_geometry(4, 8, LL_RING_INDEX), LL_OK);
    CHECK_EQ(ll_ring_check_geometry(4, 8, LL_RING_SEQ_SLOT), LL_EBADSIZE);
    CHECK_EQ(ll_ring_check_geometry(4, 16, LL_RING_SEQ_SLOT), LL_OK);
    /* no such flavour: refused whatever the geometry */
    const uint32_t bad_flavours[] = {0, 3, 4, UINT32_MAX};
    for (size_t j = 0; j < sizeof bad_flavours / sizeof bad_flavours[0]; j++) {
        CHECK_EQ(ll_ring_check_geometry(4, 64, bad_flavours[j]), LL_EINVAL);
        CHECK_EQ(ll_ring_check_geometry(3, 12, bad_flavours[j]), LL_EINVAL);
    }
    CHECK_EQ(ll_ring_bytes(4, 64), 384 + 4 * 64);
    /* the layout facts the Python twin checks its constants against */
    CHECK_EQ(ll_ring_layout_info("version"), LL_RING_VERSION);
    CHECK_EQ(ll_ring_layout_info("version"), 2);
    CHECK_EQ(ll_ring_layout_info("seq_bytes"), 8);
    CHECK_EQ(ll_ring_layout_info("flavour_index"), LL_RING_INDEX);
    CHECK_EQ(ll_ring_layout_info("flavour_seq_slot"), LL_RING_SEQ_SLOT);
    CHECK_EQ(ll_ring_layout_info("lock_producer"), 0);
    CHECK_EQ(ll_ring_layout_info("lock_consumer"), 1);
    CHECK_EQ(ll_ring_layout_info("heartbeat_every"), 1024);
    CHECK_EQ(ll_ring_layout_info("hdr.flavour"), offsetof(ll_ring_header, flavour));
    CHECK_EQ(ll_ring_layout_info("hdr.flavour"), 32);
    CHECK_EQ(ll_ring_layout_info("prod.heartbeat"), 136);
    CHECK_EQ(ll_ring_layout_info("prod.closed"), 144);
    CHECK_EQ(ll_ring_layout_info("cons.tail"), 256);
    CHECK_EQ(ll_ring_layout_info("slots"), 384);
    CHECK_EQ(ll_ring_layout_info("no such key"), -1);
    CHECK_EQ(ll_ring_layout_info(NULL), -1);
}

/* ----------------------------------------------------- init and open */
static void test_init_open_errors(const flav *f)
{
    const uint32_t M = 64, SLOT = slot_for(f, M);
    tring t;
    if (!tring_map(&t, ll_ring_bytes(4, SLOT)))
        return;
    uint8_t *buf = t.mem;
    uint64_t size = t.size;
    ll_ring_layout *l = L(&t);

    /* refused inits write nothing */
    CHECK_EQ(ll_ring_init(buf, size, 3, SLOT, f->flavour), LL_EINVAL);
    CHECK_EQ(ll_ring_init(buf, size, 4, 12, f->flavour), LL_EBADSIZE);
    CHECK_EQ(ll_ring_init(buf, size, 4, 8, LL_RING_SEQ_SLOT), LL_EBADSIZE); /* no room for a message */
    CHECK_EQ(ll_ring_init(buf, size, 4, SLOT, 0), LL_EINVAL);
    CHECK_EQ(ll_ring_init(buf, size, 4, SLOT, 3), LL_EINVAL);
    CHECK_EQ(ll_ring_init(NULL, size, 4, SLOT, f->flavour), LL_EINVAL);
    CHECK_EQ(ll_ring_init(buf + 8, size - 8, 2, 16, f->flavour), LL_EINVAL); /* not 128-aligned */
    CHECK_EQ(ll_ring_init(buf, size - 1, 4, SLOT, f->flavour), LL_EINVAL);   /* too small for the slots */
    CHECK(all_zero(buf, size));

    /* no ring there yet */
    CHECK_EQ(open_err(buf, size, t.fd, LL_RING_CONSUMER), LL_EBADMAGIC);

    CHECK_EQ(ll_ring_init(buf, size, 4, SLOT, f->flavour), LL_OK);
    CHECK_EQ(atomic_load(&l->hdr.magic), LL_RING_MAGIC);
    CHECK_EQ(l->hdr.version, LL_RING_VERSION);
    CHECK_EQ(l->hdr.capacity, 4);
    CHECK_EQ(l->hdr.slot_size, SLOT);
    CHECK_EQ(l->hdr.flavour, f->flavour);
    CHECK(atomic_load(&l->prod.heartbeat) > 0);

    /* bad arguments */
    CHECK_EQ(open_err(NULL, size, t.fd, LL_RING_CONSUMER), LL_EINVAL);
    CHECK_EQ(open_err(buf, size, t.fd, 0), LL_EINVAL);
    CHECK_EQ(open_err(buf, size, t.fd, 3), LL_EINVAL);
    CHECK_EQ(open_err(buf, sizeof(ll_ring_layout) - 1, t.fd, LL_RING_CONSUMER), LL_EINVAL);
    CHECK_EQ(open_err(buf, size, -1, LL_RING_CONSUMER), LL_EINVAL);
    CHECK_EQ(open_err(buf, size, -1000, LL_RING_PRODUCER), LL_EINVAL);
    /* a descriptor number that is not open: the reopen through /proc fails */
    int gone = dup(t.fd);
    CHECK(gone >= 0);
    if (gone >= 0) {
        close(gone);
        CHECK_EQ(open_err(buf, size, gone, LL_RING_PRODUCER), -ENOENT);
    }
    /* the header says 4 x SLOT but the buffer is smaller */
    CHECK_EQ(open_err(buf, size - 1, t.fd, LL_RING_CONSUMER), LL_EBADLAYOUT);

    /* corrupted headers: each refused with its own code, no role claimed */
    l->hdr.version = 1; /* the layout before the flavour field */
    CHECK_EQ(open_err(buf, size, t.fd, LL_RING_CONSUMER), LL_EBADVERSION);
    l->hdr.version = LL_RING_VERSION;
    l->hdr.capacity = 3;
    CHECK_EQ(open_err(buf, size, t.fd, LL_RING_CONSUMER), LL_EBADLAYOUT);
    l->hdr.capacity = 8; /* a power of two, but more slots than the buffer holds */
    CHECK_EQ(open_err(buf, size, t.fd, LL_RING_CONSUMER), LL_EBADLAYOUT);
    l->hdr.capacity = 4;
    l->hdr.slot_size = 12;
    CHECK_EQ(open_err(buf, size, t.fd, LL_RING_PRODUCER), LL_EBADLAYOUT);
    l->hdr.slot_size = SLOT;
    const uint32_t bad_flavours[] = {0, 3, UINT32_MAX};
    for (size_t j = 0; j < sizeof bad_flavours / sizeof bad_flavours[0]; j++) {
        l->hdr.flavour = bad_flavours[j];
        CHECK_EQ(open_err(buf, size, t.fd, LL_RING_PRODUCER), LL_EBADLAYOUT);
        CHECK_EQ(open_err(buf, size, t.fd, LL_RING_CONSUMER), LL_EBADLAYOUT);
    }
    /* a seq-slot header with slots too small for a sequence word and a message */
    l->hdr.flavour = LL_RING_SEQ_SLOT;
    l->hdr.slot_size = 8;
    CHECK_EQ(open_err(buf, size, t.fd, LL_RING_CONSUMER), LL_EBADLAYOUT);
    l->hdr.slot_size = SLOT;
    l->hdr.flavour = f->flavour;
    atomic_store(&l->hdr.magic, LL_RING_MAGIC ^ 1);
    CHECK_EQ(open_err(buf, size, t.fd, LL_RING_PRODUCER), LL_EBADMAGIC);
    atomic_store(&l->hdr.magic, LL_RING_MAGIC);
    CHECK_EQ(atomic_load(&l->hdr.producer_pid), 0);
    CHECK_EQ(atomic_load(&l->hdr.consumer_pid), 0);
    CHECK_EQ(role_held(&t, LL_RING_PRODUCER), 0); /* no refused open kept a lock */
    CHECK_EQ(role_held(&t, LL_RING_CONSUMER), 0);

    /* repaired: both roles open, take their locks and record our pid */
    ll_ring *p = open_role(&t, LL_RING_PRODUCER);
    ll_ring *c = open_role(&t, LL_RING_CONSUMER);
    CHECK_EQ(atomic_load(&l->hdr.producer_pid), getpid());
    CHECK_EQ(atomic_load(&l->hdr.consumer_pid), getpid());
    CHECK_EQ(role_held(&t, LL_RING_PRODUCER), 1);
    CHECK_EQ(role_held(&t, LL_RING_CONSUMER), 1);
    if (p && c) {
        CHECK_EQ(ll_ring_capacity(p), 4);
        CHECK_EQ(ll_ring_slot_size(c), SLOT);
        CHECK_EQ(ll_ring_msg_size(c), M);
        CHECK_EQ(ll_ring_msg_size(p), M);
        CHECK_EQ(ll_ring_flavour(p), f->flavour);
        CHECK_EQ(ll_ring_flavour(c), f->flavour);
        CHECK(ll_ring_heartbeat_age_ns(c) < 60000000000ull);
        CHECK_EQ(ll_ring_peer_state(c), LL_OK);
        CHECK_EQ(ll_ring_peer_state(p), LL_OK);
    }
    ll_ring_close(p);
    ll_ring_close(c);
    CHECK_EQ(atomic_load(&l->hdr.producer_pid), 0);
    CHECK_EQ(atomic_load(&l->hdr.consumer_pid), 0);
    CHECK_EQ(atomic_load(&l->prod.closed), 1);
    CHECK_EQ(role_held(&t, LL_RING_PRODUCER), 0);
    CHECK_EQ(role_held(&t, LL_RING_CONSUMER), 0);
    ll_ring_close(NULL); /* harmless */
    tring_free(&t);
}

/* ---------------------------------------- one thread: full, empty, wrap */
static void test_full_empty_wrap(const flav *f)
{
    enum { CAP = 4, M = 16 };
    tring t;
    if (!tring_new(&t, CAP, slot_for(f, M), f->flavour))
        return;
    ll_ring *p = open_role(&t, LL_RING_PRODUCER);
    ll_ring *c = open_role(&t, LL_RING_CONSUMER);
    if (!p || !c) {
        ll_ring_close(p);
        ll_ring_close(c);
        tring_free(&t);
        return;
    }
    ll_ring_layout *l = L(&t);
    uint8_t msg[M * CAP * 2], out[M * CAP * 2];

    /* empty */
    CHECK_EQ(f->pop(c, out), 0);
    CHECK_EQ(f->pop_many(c, out, CAP), 0);
    CHECK_EQ(f->pop_many(c, out, 0), 0);
    CHECK_EQ(ll_ring_size(c), 0);
    CHECK_EQ(ll_ring_size(p), 0);

    /* fill to capacity, then full */
    for (uint64_t i = 0; i < CAP; i++) {
        fill(msg, M, i);
        CHECK_EQ(f->push(p, msg, M), 1);
    }
    CHECK_EQ(ll_ring_size(p), CAP);
    CHECK_EQ(ll_ring_size(c), CAP);
    CHECK_EQ(f->push(p, msg, M), 0);
    CHECK_EQ(f->push_many(p, msg, 3), 0);
    CHECK_EQ(f->push_many(p, msg, 0), 0);
    CHECK_EQ(f->push(p, msg, M + 1), LL_EINVAL); /* too long: refused before "full" */
    if (f->flavour == LL_RING_SEQ_SLOT) {
        /* a slot's worth is too long too: the sequence word takes 8 of it */
        CHECK_EQ(f->push(p, msg, M + LL_RING_SEQ_BYTES), LL_EINVAL);
        /* the layout promise: message i's slot word is i + 1 */
        for (uint64_t i = 0; i < CAP; i++)
            CHECK_EQ(atomic_load(seq_word(&t, i)), i + 1);
    }
    CHECK_EQ(atomic_load(&l->prod.head), CAP);

    /* FIFO */
    for (uint64_t i = 0; i < CAP; i++) {
        CHECK_EQ(f->pop(c, out), 1);
        CHECK(is_msg(out, M, i));
    }
    CHECK_EQ(f->pop(c, out), 0);
    CHECK_EQ(atomic_load(&l->cons.tail), CAP);

    /* a short message is zero-padded, whatever the slot held before */
    memset(msg, 0xAB, sizeof msg);
    CHECK_EQ(f->push(p, msg, 3), 1);
    CHECK_EQ(f->push(p, msg, 0), 1);
    memset(out, 0x55, sizeof out);
    CHECK_EQ(f->pop(c, out), 1);
    CHECK(out[0] == 0xAB && out[1] == 0xAB && out[2] == 0xAB);
    CHECK(all_zero(out + 3, M - 3));
    CHECK_EQ(out[M], 0x55); /* a pop writes msg_size bytes, no more */
    CHECK_EQ(f->pop(c, out), 1);
    CHECK(all_zero(out, M));
    uint64_t next = CAP + 2; /* messages pushed (and popped) so far */

    /* batches of every size 1..CAP starting at every slot: each size straddles
     * the end of the slot array from some start; popped whole and in two parts */
    int batch_ok = 1, words_ok = 1;
    for (uint64_t k = 1; k <= CAP; k++)
        for (uint64_t s = 0; s < CAP; s++)
            for (int split = 0; split < 2; split++) {
                while (next % CAP != s) { /* move the empty ring to start at slot s */
                    batch_ok &= f->push(p, msg, M) == 1 && f->pop(c, out) == 1;
                    next++;
                }
                for (uint64_t j = 0; j < k; j++)
                    fill(msg + j * M, M, next + j);
                batch_ok &= f->push_many(p, msg, k) == (int64_t)k;
                batch_ok &= ll_ring_size(c) == k;
                if (f->flavour == LL_RING_SEQ_SLOT)
                    for (uint64_t j = 0; j < k; j++)
                        words_ok &= atomic_load(seq_word(&t, next + j)) == next + j + 1;
                memset(out, 0, sizeof out);
                uint64_t first = split ? k / 2 : k;
                batch_ok &= f->pop_many(c, out, first) == (int64_t)first;
                batch_ok &= f->pop_many(c, out + first * M, CAP) == (int64_t)(k - first);
                for (uint64_t j = 0; j < k; j++)
                    batch_ok &= is_msg(out + j * M, M, next + j);
                next += k;
            }
    CHECK(batch_ok);
    CHECK(words_ok);
    CHECK_EQ(ll_ring_size(c), 0);

    /* more than fits: push_many takes what fits, pop_many gets what is there */
    for (uint64_t j = 0; j < CAP + 1; j++)
        fill(msg + j * M, M, next + j);
    CHECK_EQ(f->push(p, msg, M), 1);
    CHECK_EQ(f->push_many(p, msg + M, CAP + 1), CAP - 1);
    CHECK_EQ(f->pop_many(c, out, 2 * CAP), CAP);
    int fifo_ok = 1;
    for (uint64_t j = 0; j < CAP; j++)
        fifo_ok &= is_msg(out + j * M, M, next + j);
    CHECK(fifo_ok);
    next += CAP;

    /* wrap many times with batches of 1..CAP+1 against pops of 1..3: the
     * ring's fill level drifts through every value */
    uint64_t next_in = next, next_out = next;
    int counts_ok = 1;
    for (int round = 0; round < 200; round++) {
        uint64_t want = (uint64_t)(round % (CAP + 1)) + 1;
        for (uint64_t j = 0; j < want; j++)
            fill(msg + j * M, M, next_in + j);
        uint64_t room = CAP - ll_ring_size(p);
        int64_t got = f->push_many(p, msg, want);
        counts_ok &= got == (int64_t)(want < room ? want : room);
        next_in += got > 0 ? (uint64_t)got : 0;
        uint64_t max = (uint64_t)(round % 3) + 1;
        uint64_t have = ll_ring_size(c);
        int64_t k = f->pop_many(c, out, max);
        counts_ok &= k == (int64_t)(max < have ? max : have);
        for (int64_t j = 0; j < k; j++)
            fifo_ok &= is_msg(out + j * M, M, next_out + (uint64_t)j);
        next_out += k > 0 ? (uint64_t)k : 0;
    }
    CHECK(fifo_ok);
    CHECK(counts_ok);
    CHECK(next_in - next_out <= CAP);
    int64_t k = f->pop_many(c, out, 2 * CAP);
    CHECK(k >= 0);
    for (int64_t j = 0; j < k; j++)
        fifo_ok &= is_msg(out + j * M, M, next_out + (uint64_t)j);
    next_out += k > 0 ? (uint64_t)k : 0;
    CHECK(fifo_ok);
    CHECK_EQ(next_out, next_in);
    CHECK_EQ(ll_ring_size(c), 0);
    CHECK_EQ(atomic_load(&l->prod.head), next_in);
    CHECK_EQ(atomic_load(&l->cons.tail), next_in);
    ll_ring_close(p);
    ll_ring_close(c);
    tring_free(&t);
}

/* ------------------------------------- waits, close, drain, reopen */
static void test_waits_close_reopen(const flav *f)
{
    enum { CAP = 4, M = 16 };
    tring t;
    if (!tring_new(&t, CAP, slot_for(f, M), f->flavour))
        return;
    ll_ring *p = open_role(&t, LL_RING_PRODUCER);
    ll_ring *c = open_role(&t, LL_RING_CONSUMER);
    if (!p || !c) {
        ll_ring_close(p);
        ll_ring_close(c);
        tring_free(&t);
        return;
    }
    ll_ring_layout *l = L(&t);
    uint8_t msg[M * 2], out[M * 2];

    /* nothing arrives, the other side is alive (us) -> timeout */
    CHECK_EQ(ll_ring_pop_wait(c, out, SHORT_NS), LL_ETIMEDOUT);
    for (uint64_t i = 0; i < CAP; i++) {
        fill(msg, M, i);
        CHECK_EQ(f->push(p, msg, M), 1);
    }
    CHECK_EQ(ll_ring_push_wait(p, msg, M, SHORT_NS), LL_ETIMEDOUT);
    uint64_t t0 = ll_now_ns();
    CHECK_EQ(ll_ring_push_wait(p, msg, M + 1, 5000000000ull), LL_EINVAL); /* refused before waiting */
    CHECK(ll_now_ns() - t0 < 1000000000ull);
    CHECK_EQ(ll_ring_pop_wait(c, out, SHORT_NS), 1);
    CHECK(is_msg(out, M, 0));
    fill(msg, M, CAP);
    CHECK_EQ(ll_ring_push_wait(p, msg, M, SHORT_NS), 1);
    CHECK_EQ(ll_ring_peer_state(c), LL_OK);
    CHECK_EQ(ll_ring_peer_state(p), LL_OK);

    /* the producer closes cleanly: the consumer drains, then LL_ECLOSED -
     * never LL_EPEERDEAD: the lock is gone, but so is the pid */
    ll_ring_close(p);
    CHECK_EQ(atomic_load(&l->prod.closed), 1);
    CHECK_EQ(atomic_load(&l->hdr.producer_pid), 0);
    CHECK_EQ(ll_ring_peer_state(c), LL_OK); /* not drained yet */
    for (uint64_t i = 1; i <= CAP; i++) {
        CHECK_EQ(ll_ring_pop_wait(c, out, 1000000000), 1);
        CHECK(is_msg(out, M, i));
    }
    t0 = ll_now_ns();
    CHECK_EQ(ll_ring_pop_wait(c, out, 5000000000ull), LL_ECLOSED);
    CHECK(ll_now_ns() - t0 < 1000000000ull); /* told at once, not at the timeout */
    CHECK_EQ(ll_ring_peer_state(c), LL_ECLOSED);
    CHECK_EQ(f->pop(c, out), 0); /* a plain pop just finds it empty */
    CHECK_EQ(f->pop_many(c, out, 2), 0);

    /* a new producer reopens the ring: it is open again and continues */
    p = open_role(&t, LL_RING_PRODUCER);
    if (p) {
        CHECK_EQ(atomic_load(&l->prod.closed), 0);
        CHECK_EQ(ll_ring_peer_state(c), LL_OK);
        CHECK_EQ(ll_ring_size(p), 0);
        for (uint64_t i = 0; i < 2; i++) {
            fill(msg, M, 70 + i);
            CHECK_EQ(f->push(p, msg, M), 1);
        }
        CHECK_EQ(atomic_load(&l->prod.head), CAP + 3);
        CHECK_EQ(f->pop(c, out), 1);
        CHECK(is_msg(out, M, 70));
        /* the consumer closes cleanly and comes back: it continues from tail;
         * meanwhile the producer sees no dead peer (the pid went with the lock) */
        ll_ring_close(c);
        CHECK_EQ(atomic_load(&l->hdr.consumer_pid), 0);
        CHECK_EQ(ll_ring_peer_state(p), LL_OK);
        c = open_role(&t, LL_RING_CONSUMER);
        if (c) {
            CHECK_EQ(ll_ring_size(c), 1);
            CHECK_EQ(f->pop(c, out), 1);
            CHECK(is_msg(out, M, 71));
            CHECK_EQ(f->pop(c, out), 0);
        }
    }
    ll_ring_close(p);
    ll_ring_close(c);
    tring_free(&t);
}

/* ------------------ the wrong flavour's and the wrong role's calls */
/* Each is refused with LL_EINVAL and writes nothing: the whole ring's bytes
 * are compared before and after. */
static void test_wrong_calls(const flav *f)
{
    enum { CAP = 4, M = 16 };
    tring t;
    if (!tring_new(&t, CAP, slot_for(f, M), f->flavour))
        return;
    ll_ring *p = open_role(&t, LL_RING_PRODUCER);
    ll_ring *c = open_role(&t, LL_RING_CONSUMER);
    uint8_t *before = malloc(t.size);
    if (!p || !c || before == NULL) {
        CHECK(before != NULL);
        free(before);
        ll_ring_close(p);
        ll_ring_close(c);
        tring_free(&t);
        return;
    }
    const flav *o = other_flavour(f);
    uint8_t msg[M * 2], out[M * 2];
    for (uint64_t i = 0; i < 2; i++) { /* two messages in: a pop or a push would succeed */
        fill(msg, M, i);
        CHECK_EQ(f->push(p, msg, M), 1);
    }
    fill(msg, M, 9);
    fill(msg + M, M, 10);
    memcpy(before, t.mem, t.size);

    /* the other flavour's calls, on the right role */
    CHECK_EQ(o->push(p, msg, M), LL_EINVAL);
    CHECK_EQ(o->push(p, msg, 0), LL_EINVAL);
    CHECK_EQ(o->push_many(p, msg, 2), LL_EINVAL);
    CHECK_EQ(o->pop(c, out), LL_EINVAL);
    CHECK_EQ(o->pop_many(c, out, 2), LL_EINVAL);
    /* this flavour's calls, on the wrong role */
    CHECK_EQ(f->push(c, msg, M), LL_EINVAL);
    CHECK_EQ(f->push_many(c, msg, 2), LL_EINVAL);
    CHECK_EQ(f->pop(p, out), LL_EINVAL);
    CHECK_EQ(f->pop_many(p, out, 2), LL_EINVAL);
    CHECK_EQ(ll_ring_push_wait(c, msg, M, SHORT_NS), LL_EINVAL);
    CHECK_EQ(ll_ring_pop_wait(p, out, SHORT_NS), LL_EINVAL);
    /* both wrong */
    CHECK_EQ(o->push(c, msg, M), LL_EINVAL);
    CHECK_EQ(o->pop(p, out), LL_EINVAL);
    CHECK_EQ(o->push_many(c, msg, 2), LL_EINVAL);
    CHECK_EQ(o->pop_many(p, out, 2), LL_EINVAL);
    /* no ring at all */
    CHECK_EQ(f->push(NULL, msg, M), LL_EINVAL);
    CHECK_EQ(f->push_many(NULL, msg, 2), LL_EINVAL);
    CHECK_EQ(f->pop(NULL, out), LL_EINVAL);
    CHECK_EQ(f->pop_many(NULL, out, 2), LL_EINVAL);
    CHECK_EQ(ll_ring_push_wait(NULL, msg, M, SHORT_NS), LL_EINVAL);
    CHECK_EQ(ll_ring_pop_wait(NULL, out, SHORT_NS), LL_EINVAL);

    CHECK(memcmp(before, t.mem, t.size) == 0);
    CHECK_EQ(ll_ring_size(c), 2);
    CHECK_EQ(ll_ring_size(p), 2);
    /* and the ring works on, as if nothing had been tried */
    CHECK_EQ(f->push(p, msg, M), 1);
    for (uint64_t i = 0; i < 2; i++) {
        CHECK_EQ(f->pop(c, out), 1);
        CHECK(is_msg(out, M, i));
    }
    CHECK_EQ(f->pop(c, out), 1);
    CHECK(is_msg(out, M, 9));
    free(before);
    ll_ring_close(p);
    ll_ring_close(c);
    tring_free(&t);
}

/* ------------------------------ head and tail crossing 2^64 */
/* They are free-running u64 counters: crossing 2^64 changes nothing. */
static void test_counter_wrap(const flav *f)
{
    enum { CAP = 8, M = 16 };
    tring t;
    if (!tring_new(&t, CAP, slot_for(f, M), f->flavour))
        return;
    ll_ring_layout *l = L(&t);
    set_counters(&t, UINT64_MAX - 20); /* before anyone opens: the ends read them at open */
    ll_ring *p = open_role(&t, LL_RING_PRODUCER);
    ll_ring *c = open_role(&t, LL_RING_CONSUMER);
    if (p && c) {
        uint64_t bad = 99;
        CHECK_EQ(ll_ring_size(c), 0);
        CHECK_EQ(f->pop(c, (uint8_t[M]){0}), 0); /* nothing there: no slot looks written */
        CHECK(ll_ring_produce_seq(p, 0, 5, 1, SHORT_NS) >= 0); /* fits without a consumer */
        CHECK_EQ(ll_ring_size(c), 5);
        CHECK(ll_ring_consume_seq(c, 0, 5, 4, SHORT_NS, &bad) >= 0);
        CHECK_EQ(bad, 0);
        /* through the u64 wrap, 3 at a time; the heartbeat is stored when head
         * crosses 2^64 (a multiple of 1024) and not before */
        int ok = 1, beat_ok = 1, words_ok = 1, crossed = 0;
        uint8_t msg[M * 3], out[M * 3];
        atomic_store(&l->prod.heartbeat, 0);
        for (uint64_t i = 0; i < 40; i++) {
            uint64_t h0 = atomic_load(&l->prod.head);
            for (uint64_t j = 0; j < 3; j++)
                fill(msg + j * M, M, 3 * i + j);
            ok &= f->push_many(p, msg, 3) == 3;
            uint64_t h1 = atomic_load(&l->prod.head);
            int wrapped = h1 < h0;
            crossed += wrapped;
            beat_ok &= (atomic_load(&l->prod.heartbeat) != 0) == wrapped;
            if (wrapped && f->flavour == LL_RING_SEQ_SLOT)
                words_ok &= atomic_load(seq_word(&t, UINT64_MAX)) == 0; /* (2^64 - 1) + 1 */
            atomic_store(&l->prod.heartbeat, 0);
            ok &= ll_ring_size(p) == 3;
            ok &= ll_ring_size(c) == 3;
            ok &= f->pop_many(c, out, 3) == 3;
            for (uint64_t j = 0; j < 3; j++)
                ok &= is_msg(out + j * M, M, 3 * i + j);
        }
        CHECK(ok);
        CHECK(beat_ok);
        CHECK(words_ok);
        CHECK_EQ(crossed, 1);
        CHECK(atomic_load(&l->prod.head) < 1000); /* it did wrap */
        CHECK_EQ(atomic_load(&l->prod.head), atomic_load(&l->cons.tail));
        /* single messages across the wrap, then a full ring across it: both
         * ends reopen on counters 3 short of 2^64 */
        ll_ring_close(p);
        ll_ring_close(c);
        set_counters(&t, UINT64_MAX - 3); /* messages 2^64 - 4, -3, -2, then 2^64 - 1 */
        p = open_role(&t, LL_RING_PRODUCER);
        c = open_role(&t, LL_RING_CONSUMER);
        if (p && c) {
            /* message 2^64 - 1 has word 0 (its index + 1): until it is pushed,
             * no slot word may read 0 where the consumer looks for it - a
             * reopened producer's clearing of the free slots included */
            for (uint64_t i = 0; i < 3; i++) {
                fill(msg, M, 40 + i);
                CHECK_EQ(f->push(p, msg, M), 1);
            }
            for (uint64_t i = 0; i < 3; i++) {
                CHECK_EQ(f->pop(c, out), 1);
                CHECK(is_msg(out, M, 40 + i));
            }
            int phantom = f->pop(c, out);
            CHECK_EQ(phantom, 0); /* 2^64 - 1 not pushed yet */
            CHECK_EQ(ll_ring_size(c), 0);
            for (uint64_t i = 0; phantom == 0 && i < CAP; i++) { /* (after a phantom, all would be off) */
                fill(msg, M, 50 + i);
                CHECK_EQ(f->push(p, msg, M), 1);
            }
            if (phantom == 0) {
                CHECK_EQ(f->push(p, msg, M), 0);
                CHECK_EQ(ll_ring_size(c), CAP);
                CHECK_EQ(ll_ring_size(p), CAP);
                CHECK_EQ(atomic_load(&l->prod.head), CAP - 1); /* 2^64 - 1 + CAP, modulo 2^64 */
            }
            for (uint64_t i = 0; phantom == 0 && i < CAP; i++) {
                CHECK_EQ(f->pop(c, out), 1);
                CHECK(is_msg(out, M, 50 + i));
            }
            CHECK_EQ(f->pop(c, out), 0);
        }
    }
    ll_ring_close(p);
    ll_ring_close(c);
    tring_free(&t);
}

/* ----------------------------------------------------- the heartbeat */
/* The rule of spsc_layout.h: the producer stores prod.heartbeat whenever
 * head crosses a multiple of LL_RING_HEARTBEAT_EVERY, by push and push_many
 * alike, and every ~100 us while it waits.  The heartbeat is set to 0 by
 * hand to see exactly when it is stored. */
static void test_heartbeat(const flav *f)
{
    enum { CAP = 8, M = 16 };
    const uint64_t E = LL_RING_HEARTBEAT_EVERY;
    tring t;
    if (!tring_new(&t, CAP, slot_for(f, M), f->flavour))
        return;
    ll_ring_layout *l = L(&t);
    _Atomic uint64_t *hb = &l->prod.heartbeat;
    uint64_t t0 = ll_now_ns();
    ll_ring *p = open_role(&t, LL_RING_PRODUCER);
    ll_ring *c = open_role(&t, LL_RING_CONSUMER);
    if (!p || !c) {
        ll_ring_close(p);
        ll_ring_close(c);
        tring_free(&t);
        return;
    }
    uint8_t msg[M * CAP], out[M * CAP];
    memset(msg, 7, sizeof msg);
    CHECK(atomic_load(hb) >= t0); /* opening the producer is a sign of life */

    /* single pushes from head 0: 1023 leave it alone, the 1024th stores it */
    atomic_store(hb, 0);
    int quiet = 1, moved = 1;
    for (uint64_t i = 0; i < E - 1; i++) {
        moved &= f->push(p, msg, M) == 1 && f->pop(c, out) == 1;
        quiet &= atomic_load(hb) == 0;
    }
    CHECK(moved);
    CHECK(quiet);
    CHECK_EQ(atomic_load(&l->prod.head), E - 1);
    t0 = ll_now_ns();
    CHECK_EQ(f->push(p, msg, M), 1);
    uint64_t beat = atomic_load(hb);
    CHECK(beat >= t0 && beat <= ll_now_ns());
    CHECK_EQ(f->pop(c, out), 1);
    /* leaving a multiple is not crossing one */
    atomic_store(hb, 0);
    CHECK_EQ(f->push(p, msg, M), 1);
    CHECK_EQ(atomic_load(hb), 0);
    CHECK_EQ(f->pop(c, out), 1);

    /* batches: up to 2E - 8 by single pushes (no multiple on the way)... */
    for (uint64_t guard = 0; moved && guard < E && atomic_load(&l->prod.head) < 2 * E - 8; guard++) {
        moved &= f->push(p, msg, M) == 1 && f->pop(c, out) == 1;
        quiet &= atomic_load(hb) == 0;
    }
    CHECK(moved);
    CHECK(quiet);
    /* ...a batch short of the multiple leaves it alone... */
    CHECK_EQ(f->push_many(p, msg, 4), 4);
    CHECK_EQ(atomic_load(hb), 0);
    CHECK_EQ(f->pop_many(c, out, CAP), 4);
    /* ...a batch across it stores it (2E - 4 -> 2E + 4)... */
    CHECK_EQ(f->push_many(p, msg, 8), 8);
    CHECK(atomic_load(hb) != 0);
    CHECK_EQ(f->pop_many(c, out, CAP), 8);
    /* ...and so does a batch that ends exactly on one (3E - 4 -> 3E) */
    atomic_store(hb, 0);
    for (uint64_t guard = 0; moved && guard < E && atomic_load(&l->prod.head) < 3 * E - 4; guard++) {
        moved &= f->push(p, msg, M) == 1 && f->pop(c, out) == 1;
        quiet &= atomic_load(hb) == 0;
    }
    CHECK(moved);
    CHECK(quiet);
    CHECK_EQ(f->push_many(p, msg, 4), 4);
    CHECK(atomic_load(hb) != 0);
    CHECK_EQ(atomic_load(&l->prod.head), 3 * E);
    CHECK_EQ(f->pop_many(c, out, CAP), 4);
    atomic_store(hb, 0);
    CHECK_EQ(f->push_many(p, msg, 3), 3); /* from a multiple: not crossing */
    CHECK_EQ(atomic_load(hb), 0);
    CHECK_EQ(f->pop_many(c, out, CAP), 3);

    /* waiting: a consumer's wait is no producer's sign of life... */
    CHECK_EQ(ll_ring_pop_wait(c, out, SHORT_NS), LL_ETIMEDOUT);
    CHECK_EQ(atomic_load(hb), 0);
    /* ...a producer waiting on a full ring keeps it fresh */
    for (int i = 0; i < CAP; i++)
        CHECK_EQ(f->push(p, msg, M), 1);
    CHECK_EQ(atomic_load(hb), 0);
    t0 = ll_now_ns();
    CHECK_EQ(ll_ring_push_wait(p, msg, M, 2 * SHORT_NS), LL_ETIMEDOUT);
    CHECK(atomic_load(hb) >= t0);

    /* the age: from the stored value, and never below 0 */
    atomic_store(hb, 0);
    t0 = ll_now_ns();
    CHECK(ll_ring_heartbeat_age_ns(c) >= t0);
    atomic_store(hb, ll_now_ns() + 1000000000000ull); /* "newer than now" */
    CHECK_EQ(ll_ring_heartbeat_age_ns(c), 0);
    atomic_store(hb, ll_now_ns());
    CHECK(ll_ring_heartbeat_age_ns(c) < 10000000000ull);
    ll_ring_close(p);
    ll_ring_close(c);
    tring_free(&t);
}

/* ------------------------------------------------- stream argument checks */
static void test_stream_args(const flav *f)
{
    uint64_t bad = 0;
    int64_t lat[8];
    tring t;
    /* 8-byte messages (index slot 8, seq-slot slot 16) cannot hold a
     * sequenced message (16 bytes): every kernel refuses them */
    if (!tring_new(&t, 4, slot_for(f, 8), f->flavour))
        return;
    ll_ring *p = open_role(&t, LL_RING_PRODUCER);
    ll_ring *c = open_role(&t, LL_RING_CONSUMER);
    if (p && c) {
        CHECK_EQ(ll_ring_msg_size(p), 8);
        CHECK_EQ(ll_ring_check_stream(p, LL_RING_PRODUCER, 0, 10, 1), LL_EINVAL);
        CHECK_EQ(ll_ring_check_stream(c, LL_RING_CONSUMER, 0, 10, 1), LL_EINVAL);
        CHECK_EQ(ll_ring_produce_seq(p, 0, 10, 1, SHORT_NS), LL_EINVAL);
        CHECK_EQ(ll_ring_consume_seq(c, 0, 10, 1, SHORT_NS, &bad), LL_EINVAL);
        CHECK_EQ(ll_ring_send_stamped(p, 10, 0, SHORT_NS), LL_EINVAL);
        CHECK_EQ(ll_ring_recv_stamped(c, 8, lat, SHORT_NS), LL_EINVAL);
        CHECK_EQ(ll_ring_size(c), 0);
    }
    ll_ring_close(p);
    ll_ring_close(c);
    tring_free(&t);

    enum { CAP = 8, M = 16 };
    if (!tring_new(&t, CAP, slot_for(f, M), f->flavour))
        return;
    p = open_role(&t, LL_RING_PRODUCER);
    c = open_role(&t, LL_RING_CONSUMER);
    if (!p || !c) {
        ll_ring_close(p);
        ll_ring_close(c);
        tring_free(&t);
        return;
    }
    /* the rule itself */
    CHECK_EQ(ll_ring_check_stream(p, LL_RING_PRODUCER, 0, 10, 1), LL_OK);
    CHECK_EQ(ll_ring_check_stream(c, LL_RING_CONSUMER, 0, 10, CAP), LL_OK); /* batch = capacity */
    CHECK_EQ(ll_ring_check_stream(p, LL_RING_PRODUCER, 0, 0, 1), LL_OK);    /* n = 0 */
    CHECK_EQ(ll_ring_check_stream(NULL, LL_RING_PRODUCER, 0, 10, 1), LL_EINVAL);
    CHECK_EQ(ll_ring_check_stream(c, LL_RING_PRODUCER, 0, 10, 1), LL_EINVAL); /* wrong role */
    CHECK_EQ(ll_ring_check_stream(p, LL_RING_CONSUMER, 0, 10, 1), LL_EINVAL);
    CHECK_EQ(ll_ring_check_stream(p, 0, 0, 10, 1), LL_EINVAL);
    CHECK_EQ(ll_ring_check_stream(p, LL_RING_PRODUCER, 0, 10, 0), LL_EINVAL);       /* batch 0 */
    CHECK_EQ(ll_ring_check_stream(p, LL_RING_PRODUCER, 0, 10, CAP + 1), LL_EINVAL); /* batch > capacity */
    /* start + n must stay within 64 bits (the stream's last number is start + n - 1) */
    CHECK_EQ(ll_ring_check_stream(p, LL_RING_PRODUCER, UINT64_MAX - 5, 10, 1), LL_EINVAL);
    CHECK_EQ(ll_ring_check_stream(p, LL_RING_PRODUCER, UINT64_MAX - 5, 6, 1), LL_EINVAL);
    CHECK_EQ(ll_ring_check_stream(p, LL_RING_PRODUCER, UINT64_MAX - 5, 5, 1), LL_OK);
    CHECK_EQ(ll_ring_check_stream(c, LL_RING_CONSUMER, UINT64_MAX, 0, 1), LL_OK);
    CHECK_EQ(ll_ring_check_stream(c, LL_RING_CONSUMER, 0, UINT64_MAX, 1), LL_OK);
    CHECK_EQ(ll_ring_check_stream(c, LL_RING_CONSUMER, 1, UINT64_MAX, 1), LL_EINVAL);

    /* the kernels apply it */
    CHECK_EQ(ll_ring_produce_seq(NULL, 0, 10, 1, SHORT_NS), LL_EINVAL);
    CHECK_EQ(ll_ring_produce_seq(c, 0, 10, 1, SHORT_NS), LL_EINVAL); /* wrong role */
    CHECK_EQ(ll_ring_consume_seq(p, 0, 10, 1, SHORT_NS, &bad), LL_EINVAL);
    CHECK_EQ(ll_ring_consume_seq(NULL, 0, 10, 1, SHORT_NS, &bad), LL_EINVAL);
    CHECK_EQ(ll_ring_produce_seq(p, 0, 10, 0, SHORT_NS), LL_EINVAL);       /* batch 0 */
    CHECK_EQ(ll_ring_produce_seq(p, 0, 10, CAP + 1, SHORT_NS), LL_EINVAL); /* batch > capacity */
    CHECK_EQ(ll_ring_consume_seq(c, 0, 10, 0, SHORT_NS, &bad), LL_EINVAL);
    CHECK_EQ(ll_ring_consume_seq(c, 0, 10, CAP + 1, SHORT_NS, &bad), LL_EINVAL);
    CHECK_EQ(ll_ring_consume_seq(c, 0, 10, 1, SHORT_NS, NULL), LL_EINVAL); /* bad == NULL */
    CHECK_EQ(ll_ring_consume_seq(p, 0, 10, 1, SHORT_NS, NULL), LL_EINVAL);
    CHECK_EQ(ll_ring_produce_seq(p, UINT64_MAX - 5, 10, 1, SHORT_NS), LL_EINVAL);
    CHECK_EQ(ll_ring_consume_seq(c, UINT64_MAX - 5, 10, 1, SHORT_NS, &bad), LL_EINVAL);
    CHECK_EQ(ll_ring_send_stamped(c, 1, 0, SHORT_NS), LL_EINVAL);
    CHECK_EQ(ll_ring_send_stamped(NULL, 1, 0, SHORT_NS), LL_EINVAL);
    CHECK_EQ(ll_ring_recv_stamped(p, 1, lat, SHORT_NS), LL_EINVAL);
    CHECK_EQ(ll_ring_recv_stamped(c, 1, NULL, SHORT_NS), LL_EINVAL);
    CHECK_EQ(ll_ring_recv_stamped(NULL, 1, lat, SHORT_NS), LL_EINVAL);
    CHECK_EQ(ll_ring_size(c), 0); /* nothing was pushed */

    /* the last numbers a stream may have: start + n = 2^64 - 1, within a full ring */
    CHECK(ll_ring_produce_seq(p, UINT64_MAX - 5, 5, 1, SHORT_NS) >= 0);
    CHECK_EQ(ll_ring_size(c), 5);
    bad = 99;
    CHECK(ll_ring_consume_seq(c, UINT64_MAX - 5, 5, 2, SHORT_NS, &bad) >= 0);
    CHECK_EQ(bad, 0);
    /* no consumer running: CAP fit, then the producer times out */
    CHECK_EQ(ll_ring_produce_seq(p, 0, CAP + 2, 1, SHORT_NS), LL_ETIMEDOUT);
    CHECK_EQ(ll_ring_size(c), CAP);
    /* wrong sequence numbers are counted, not fatal */
    CHECK(ll_ring_consume_seq(c, 1, CAP, 2, SHORT_NS, &bad) >= 0);
    CHECK_EQ(bad, CAP);
    /* n = 0: nothing to do */
    CHECK(ll_ring_produce_seq(p, 0, 0, 1, SHORT_NS) >= 0);
    CHECK(ll_ring_consume_seq(c, 0, 0, 1, SHORT_NS, &bad) >= 0);
    CHECK_EQ(bad, 0);
    /* the producer closes after 3 messages, the consumer wanted 5 */
    CHECK(ll_ring_produce_seq(p, 0, 3, 2, SHORT_NS) >= 0);
    ll_ring_close(p);
    CHECK_EQ(ll_ring_consume_seq(c, 0, 5, 1, 1000000000, &bad), LL_ECLOSED);
    CHECK_EQ(bad, 0);
    ll_ring_close(c);
    tring_free(&t);
}

/* -------------------------------------------- roles, one process */
/* A role is a lock on our own open file description: a second open of the
 * same role is refused even from this process, and the refused open's
 * close of its own description does not drop the holder's lock (a classic
 * POSIX lock would have been dropped by it). */
static void test_roles_one_process(const flav *f)
{
    enum { CAP = 4, M = 16 };
    tring t;
    if (!tring_new(&t, CAP, slot_for(f, M), f->flavour))
        return;
    ll_ring_layout *l = L(&t);
    uint8_t msg[M], out[M];
    ll_ring *p = open_role(&t, LL_RING_PRODUCER);
    if (!p) {
        tring_free(&t);
        return;
    }
    CHECK_EQ(role_held(&t, LL_RING_PRODUCER), 1);
    CHECK_EQ(role_held(&t, LL_RING_CONSUMER), 0);
    uint64_t beat = atomic_load(&l->prod.heartbeat);
    CHECK_EQ(open_err(t.mem, t.size, t.fd, LL_RING_PRODUCER), LL_EBUSY);
    int other_fd = dup(t.fd); /* any descriptor of the file: the same answer */
    CHECK(other_fd >= 0);
    CHECK_EQ(open_err(t.mem, t.size, other_fd, LL_RING_PRODUCER), LL_EBUSY);
    int reopened = ll_ofd_reopen(t.fd); /* a description of its own */
    CHECK(reopened >= 0);
    CHECK_EQ(open_err(t.mem, t.size, reopened, LL_RING_PRODUCER), LL_EBUSY);
    /* the refused opens changed nothing, and the holder still holds and works */
    CHECK_EQ(atomic_load(&l->hdr.producer_pid), getpid());
    CHECK_EQ(atomic_load(&l->prod.heartbeat), beat);
    CHECK_EQ(atomic_load(&l->prod.closed), 0);
    CHECK_EQ(role_held(&t, LL_RING_PRODUCER), 1);
    CHECK_EQ(open_err(t.mem, t.size, t.fd, LL_RING_PRODUCER), LL_EBUSY);
    fill(msg, M, 1);
    CHECK_EQ(f->push(p, msg, M), 1);

    /* the consumer the same way; it opens from the other descriptor */
    int err = 0;
    ll_ring *c = ll_ring_open(t.mem, t.size, other_fd, LL_RING_CONSUMER, &err);
    CHECK(c != NULL);
    CHECK_EQ(err, LL_OK);
    CHECK_EQ(open_err(t.mem, t.size, t.fd, LL_RING_CONSUMER), LL_EBUSY);
    CHECK_EQ(open_err(t.mem, t.size, reopened, LL_RING_CONSUMER), LL_EBUSY);
    CHECK_EQ(atomic_load(&l->hdr.consumer_pid), getpid());
    CHECK_EQ(role_held(&t, LL_RING_CONSUMER), 1);
    if (c) {
        CHECK_EQ(f->pop(c, out), 1);
        CHECK(is_msg(out, M, 1));
    }
    /* the descriptor it was opened from can go: the end holds its own */
    close(other_fd);
    CHECK_EQ(role_held(&t, LL_RING_CONSUMER), 1);

    /* after a close the role can be taken again */
    ll_ring_close(p);
    CHECK_EQ(role_held(&t, LL_RING_PRODUCER), 0);
    p = open_role(&t, LL_RING_PRODUCER);
    CHECK_EQ(role_held(&t, LL_RING_PRODUCER), 1);
    ll_ring_close(c);
    CHECK_EQ(role_held(&t, LL_RING_CONSUMER), 0);
    c = open_role(&t, LL_RING_CONSUMER);
    if (p && c) {
        fill(msg, M, 2);
        CHECK_EQ(f->push(p, msg, M), 1);
        CHECK_EQ(f->pop(c, out), 1);
        CHECK(is_msg(out, M, 2));
    }
    if (reopened >= 0)
        close(reopened);
    ll_ring_close(p);
    ll_ring_close(c);
    tring_free(&t);
}

/* ----------------------------------------- roles across two processes */
/* A child process holds the producer role (opened in the child from the
 * memfd it inherited): the parent's open is refused while it lives; once it
 * has exited without closing, the consumer is told LL_EPEERDEAD (its pid is
 * still recorded, its lock is gone) and the parent takes the role over. */
static void test_roles_dead_producer(const flav *f)
{
    enum { CAP = 4, M = 16 };
    tring t;
    if (!tring_new(&t, CAP, slot_for(f, M), f->flavour))
        return;
    ll_ring_layout *l = L(&t);
    kid k;
    if (!kid_start(&k, &t, f, LL_RING_PRODUCER, 2, 0, 0)) {
        kid_reap(&k);
        tring_free(&t);
        return;
    }
    CHECK_EQ(atomic_load(&l->hdr.producer_pid), k.pid);
    CHECK_EQ(role_held(&t, LL_RING_PRODUCER), 1);
    CHECK_EQ(open_err(t.mem, t.size, t.fd, LL_RING_PRODUCER), LL_EBUSY); /* a live producer holds it */
    CHECK_EQ(atomic_load(&l->hdr.producer_pid), k.pid);
    /* opened after the fork: the child holds no reference to the consumer's description */
    ll_ring *c = open_role(&t, LL_RING_CONSUMER);
    if (c) {
        uint8_t out[M], msg[M];
        CHECK_EQ(ll_ring_peer_state(c), LL_OK);
        CHECK_EQ(ll_ring_pop_wait(c, out, SHORT_NS), 1);
        CHECK(is_msg(out, M, 0));

        kid_release(&k); /* it exits without closing; not reaped yet: a zombie */
        CHECK_EQ(await_peer_state(c, LL_EPEERDEAD), LL_EPEERDEAD);
        CHECK_EQ(atomic_load(&l->hdr.producer_pid), k.pid); /* the pid is still recorded... */
        CHECK_EQ(role_held(&t, LL_RING_PRODUCER), 0);      /* ...the lock is gone */
        CHECK_EQ(atomic_load(&l->prod.closed), 0);
        /* what it pushed before dying is still delivered, then LL_EPEERDEAD */
        CHECK_EQ(ll_ring_pop_wait(c, out, 1000000000), 1);
        CHECK(is_msg(out, M, 1));
        uint64_t t0 = ll_now_ns();
        CHECK_EQ(ll_ring_pop_wait(c, out, 5000000000ull), LL_EPEERDEAD);
        CHECK(ll_now_ns() - t0 < 2000000000ull); /* told at once, not at the timeout */

        /* a dead holder's role is taken over (a zombie still) */
        ll_ring *p = open_role(&t, LL_RING_PRODUCER);
        CHECK_EQ(atomic_load(&l->hdr.producer_pid), getpid());
        if (p) {
            CHECK_EQ(ll_ring_peer_state(c), LL_OK);
            CHECK_EQ(ll_ring_size(p), 0);
            fill(msg, M, 42);
            CHECK_EQ(f->push(p, msg, M), 1);
            CHECK_EQ(f->pop(c, out), 1);
            CHECK(is_msg(out, M, 42));
        }
        ll_ring_close(p);
        ll_ring_close(c);
    }
    kid_reap(&k);
    /* reaped, its pid recorded by hand: still no lock, still taken over */
    atomic_store(&l->hdr.producer_pid, (uint32_t)k.pid);
    ll_ring *p = open_role(&t, LL_RING_PRODUCER);
    ll_ring_close(p);
    tring_free(&t);
}

/* The same from the other side: a consumer child dies; the producer is told
 * LL_EPEERDEAD (a push_wait on a full ring at once), and a new consumer
 * takes over from the dead one's tail. */
static void test_roles_dead_consumer(const flav *f)
{
    enum { CAP = 4, M = 16 };
    tring t;
    if (!tring_new(&t, CAP, slot_for(f, M), f->flavour))
        return;
    ll_ring_layout *l = L(&t);
    uint8_t msg[M], out[M];
    ll_ring *p = open_role(&t, LL_RING_PRODUCER);
    if (!p) {
        tring_free(&t);
        return;
    }
    for (uint64_t i = 0; i < CAP; i++) {
        fill(msg, M, i);
        CHECK_EQ(f->push(p, msg, M), 1);
    }
    kid k;
    if (kid_start(&k, &t, f, LL_RING_CONSUMER, 1, 0, 0)) { /* it pops message 0 */
        CHECK_EQ(atomic_load(&l->hdr.consumer_pid), k.pid);
        CHECK_EQ(open_err(t.mem, t.size, t.fd, LL_RING_CONSUMER), LL_EBUSY);
        CHECK_EQ(ll_ring_peer_state(p), LL_OK);
        kid_release(&k);
        CHECK_EQ(await_peer_state(p, LL_EPEERDEAD), LL_EPEERDEAD);
        CHECK_EQ(atomic_load(&l->hdr.consumer_pid), k.pid);
        fill(msg, M, CAP);
        CHECK_EQ(f->push(p, msg, M), 1); /* the slot it freed */
        uint64_t t0 = ll_now_ns();
        CHECK_EQ(ll_ring_push_wait(p, msg, M, 5000000000ull), LL_EPEERDEAD);
        CHECK(ll_now_ns() - t0 < 2000000000ull);
        ll_ring *c = open_role(&t, LL_RING_CONSUMER);
        if (c) {
            CHECK_EQ(ll_ring_peer_state(p), LL_OK);
            CHECK_EQ(ll_ring_size(c), CAP);
            for (uint64_t i = 1; i <= CAP; i++) {
                CHECK_EQ(f->pop(c, out), 1);
                CHECK(is_msg(out, M, i));
            }
        }
        ll_ring_close(c);
    }
    kid_reap(&k);
    ll_ring_close(p);
    tring_free(&t);
}

/* A producer child that closes cleanly and exits: its consumer is told
 * LL_OK while messages remain and LL_ECLOSED once drained - never
 * LL_EPEERDEAD, however the close, the exit and the reaping interleave with
 * its look. */
static void test_clean_close_not_dead(const flav *f)
{
    enum { CAP = 4, M = 16 };
    tring t;
    if (!tring_new(&t, CAP, slot_for(f, M), f->flavour))
        return;
    ll_ring_layout *l = L(&t);
    ll_ring *c = open_role(&t, LL_RING_CONSUMER);
    kid k;
    if (c && kid_start(&k, &t, f, LL_RING_PRODUCER, 2, 1, 1)) {
        CHECK_EQ(ll_ring_peer_state(c), LL_OK);
        kid_release(&k); /* it closes, then exits */
        int dead_seen = 0;
        uint64_t deadline = ll_now_ns() + 10000000000ull;
        while (atomic_load(&l->hdr.producer_pid) != 0 && ll_now_ns() < deadline)
            dead_seen += ll_ring_peer_state(c) == LL_EPEERDEAD;
        for (int i = 0; i < 1000; i++) /* the exit itself */
            dead_seen += ll_ring_peer_state(c) == LL_EPEERDEAD;
        kid_reap(&k);
        CHECK_EQ(dead_seen, 0);
        CHECK_EQ(atomic_load(&l->hdr.producer_pid), 0);
        CHECK_EQ(atomic_load(&l->prod.closed), 1);
        CHECK_EQ(ll_ring_peer_state(c), LL_OK); /* closed, not drained */
        uint8_t out[M];
        for (uint64_t i = 0; i < 2; i++) {
            CHECK_EQ(ll_ring_pop_wait(c, out, 1000000000), 1);
            CHECK(is_msg(out, M, i));
        }
        CHECK_EQ(ll_ring_peer_state(c), LL_ECLOSED);
        CHECK_EQ(ll_ring_pop_wait(c, out, 1000000000), LL_ECLOSED);

        /* What a consumer's look can see in the middle of a clean close: it
         * loads producer_pid just before ll_ring_close zeroes it, and asks
         * for the lock just after close() dropped it.  Here that view is
         * built by hand (the pid put back after the close, a message left
         * in the ring): closed says it was a clean close, not a death. */
        ll_ring *p = open_role(&t, LL_RING_PRODUCER);
        uint8_t msg[M];
        fill(msg, M, 5);
        if (p)
            CHECK_EQ(f->push(p, msg, M), 1);
        ll_ring_close(p);
        atomic_store(&l->hdr.producer_pid, (uint32_t)k.pid);
        CHECK_EQ(ll_ring_peer_state(c), LL_OK);
        CHECK_EQ(f->pop(c, out), 1);
        CHECK_EQ(ll_ring_peer_state(c), LL_ECLOSED);
    } else if (c) {
        kid_reap(&k);
    }
    ll_ring_close(c);
    tring_free(&t);
}

/* ------------------------- a producer that died between two stores */
/* A takeover must deliver what the dead producer published and then the
 * new producer's messages, in order, none lost, nothing unpublished.  The
 * child pushes and exits without closing; then the parent puts the ring in
 * the state the child would have left had it died a few instructions
 * earlier (between the stores a push makes - the memory a SIGKILL there
 * leaves), and a new producer takes over:
 *   after-word    one push, killed after its publishing store but before
 *                 head's: seq-slot: the slot word is there (the message is
 *                 published), head is one short.  (The index ring publishes
 *                 with head: there, killed before it, nothing is published.)
 *   after-word, consumer took it   the same, and the consumer had already
 *                 popped the message before the producer died.
 *   mid-batch     a push_many of 3 killed before the batch's last store:
 *                 seq-slot: messages 1 and 2 have their words, message 0 not
 *                 yet (first-message-last), head not moved: nothing is
 *                 published.  (index: head not moved: nothing published.) */
static void takeover_case(const flav *f, int batch, int consumer_took_it)
{
    enum { CAP = 8, M = 16 };
    const uint32_t n = batch ? 3 : 1;
    tring t;
    if (!tring_new(&t, CAP, slot_for(f, M), f->flavour))
        return;
    ll_ring_layout *l = L(&t);
    uint64_t start = 5; /* not at slot 0 */
    set_counters(&t, start);
    ll_ring *c = open_role(&t, LL_RING_CONSUMER);
    kid k;
    if (!c || !kid_start(&k, &t, f, LL_RING_PRODUCER, n, batch, 0)) {
        if (c)
            kid_reap(&k);
        ll_ring_close(c);
        tring_free(&t);
        return;
    }
    kid_release(&k);
    kid_reap(&k); /* dead, lock dropped, pid recorded */
    /* rewind to the moment of death */
    int seq = f->flavour == LL_RING_SEQ_SLOT;
    uint64_t published = 0; /* the dead producer's messages a consumer may see */
    atomic_store(&l->prod.head, start);
    if (seq && batch)
        atomic_store(seq_word(&t, start), start - CAP + 1); /* message 0's word: not written yet */
    else if (seq)
        published = 1;
    uint8_t out[M * CAP], msg[M * CAP];
    uint64_t got = 0; /* messages the consumer has taken, in the order of `want` */
    int order_ok = 1;
    /* the stream the consumer must see: tags 0..published-1 (the dead one's), then 100.. (ours) */
#define WANT(i) ((i) < published ? (i) : 100 + ((i) - published))
    if (consumer_took_it) {
        int rc = f->pop(c, out);
        CHECK_EQ(rc, (int)published);
        if (rc == 1) {
            order_ok &= is_msg(out, M, WANT(got));
            got++;
        }
        CHECK(ll_ring_size(c) <= CAP); /* a count of messages, not 2^64 - 1 */
    }
    CHECK_EQ(ll_ring_peer_state(c), LL_EPEERDEAD);
    ll_ring *p = open_role(&t, LL_RING_PRODUCER);
    if (p) {
        CHECK(ll_ring_size(p) <= CAP);
        CHECK(ll_ring_size(c) <= CAP);
        /* the new producer fills what room there is, the consumer drains, twice round */
        uint64_t sent = 0;
        for (int round = 0; round < 2 * CAP; round++) {
            fill(msg, M, 100 + sent);
            int rc = f->push(p, msg, M);
            CHECK(rc == 0 || rc == 1);
            sent += rc == 1;
            CHECK(ll_ring_size(p) <= CAP);
            if (round % 2 == 1)
                while (f->pop(c, out) == 1) {
                    order_ok &= is_msg(out, M, WANT(got));
                    got++;
                }
        }
        while (f->pop(c, out) == 1) {
            order_ok &= is_msg(out, M, WANT(got));
            got++;
        }
        CHECK(order_ok);
        CHECK_EQ(got, published + sent);
        CHECK_EQ(ll_ring_size(c), 0);
    }
#undef WANT
    ll_ring_close(p);
    ll_ring_close(c);
    tring_free(&t);
}

static void test_takeover_mid_push(const flav *f)
{
    takeover_case(f, 0, 0);
    takeover_case(f, 0, 1);
    takeover_case(f, 1, 0);
}

/* ---------------------------------------- a real lab-1 segment, twice */
/* The ring in a named segment's payload (file offset 128), each end on its
 * own attach - two mappings at two addresses: the ends meet in the file.
 * The segment's own "attached" read lock (byte 2) and the role locks
 * (bytes 0, 1) live side by side. */
static void test_named_segment(const flav *f)
{
    enum { CAP = 8, M = 24 };
    char name[64];
    snprintf(name, sizeof name, "ctest-spsc-ring-%d", (int)getpid());
    uint64_t size = ll_ring_bytes(CAP, slot_for(f, M));
    int err = 0;
    ll_segment *s1 = ll_seg_create(name, size, LL_KIND_RING, &err);
    CHECK(s1 != NULL);
    if (s1 == NULL)
        return;
    ll_segment *s2 = ll_seg_attach(name, LL_KIND_RING, &err);
    CHECK(s2 != NULL);
    if (s2 != NULL) {
        void *a = ll_seg_payload(s1), *b = ll_seg_payload(s2);
        CHECK(a != b);
        CHECK_EQ(ll_ring_init(a, ll_seg_payload_size(s1), CAP, slot_for(f, M), f->flavour), LL_OK);
        ll_ring *p = ll_ring_open(a, ll_seg_payload_size(s1), ll_seg_fd(s1), LL_RING_PRODUCER, &err);
        CHECK(p != NULL);
        ll_ring *c = ll_ring_open(b, ll_seg_payload_size(s2), ll_seg_fd(s2), LL_RING_CONSUMER, &err);
        CHECK(c != NULL);
        /* the role is the file's, whichever mapping asks */
        int err2 = 0;
        ll_ring *p2 = ll_ring_open(b, ll_seg_payload_size(s2), ll_seg_fd(s2), LL_RING_PRODUCER, &err2);
        CHECK(p2 == NULL);
        CHECK_EQ(err2, LL_EBUSY);
        ll_ring_close(p2);
        if (p && c) {
            uint8_t msg[M * 3], out[M * 3];
            for (uint64_t j = 0; j < 3; j++)
                fill(msg + j * M, M, 30 + j);
            CHECK_EQ(f->push_many(p, msg, 3), 3);
            CHECK_EQ(f->pop_many(c, out, CAP), 3);
            int ok = 1;
            for (uint64_t j = 0; j < 3; j++)
                ok &= is_msg(out + j * M, M, 30 + j);
            CHECK(ok);
            uint64_t bad = 99;
            CHECK(ll_ring_produce_seq(p, 0, 2, 1, TIMEOUT_NS) >= 0); /* the kernels across the two mappings too */
            CHECK(ll_ring_consume_seq(c, 0, 2, 2, TIMEOUT_NS, &bad) >= 0);
            CHECK_EQ(bad, 0);
        }
        ll_ring_close(p);
        ll_ring_close(c);
        CHECK_EQ(ll_seg_close(s2), LL_OK);
    }
    CHECK_EQ(ll_seg_close(s1), LL_OK);
    CHECK_EQ(ll_seg_unlink(name), LL_OK);
}

/* -------------------------------------- the cache switch of this build */
static void test_cached_variant(const flav *unused)
{
    (void)unused;
#ifdef LL_RING_NO_CACHE
    CHECK_EQ(ll_ring_cached_index(), 0);
#else
    CHECK_EQ(ll_ring_cached_index(), 1);
#endif
}

/* ----------------------------- two threads: ping-pong and echo */
typedef struct {
    ll_ring *in, *out;
    uint64_t n;
    uint32_t corrupt_at; /* the echo that comes back damaged (corrupter only) */
    int result;
} echo_arg;

static void *echo_thread(void *v)
{
    echo_arg *a = v;
    a->result = ll_ring_echo(a->in, a->out, a->n, TIMEOUT_NS);
    return NULL;
}

/* An echo that damages message corrupt_at: pops it, flips its last byte
 * (past the 16 bytes the kernels number: the whole message is compared),
 * pushes it back; n messages in all. */
static void *corrupt_echo_thread(void *v)
{
    echo_arg *a = v;
    uint32_t m = ll_ring_msg_size(a->in);
    uint8_t *msg = calloc(1, m);
    int rc = msg == NULL ? LL_ENORES : LL_OK;
    for (uint64_t i = 0; i < a->n && rc == LL_OK; i++) {
        rc = ll_ring_pop_wait(a->in, msg, TIMEOUT_NS);
        if (rc != 1)
            break;
        if (i == a->corrupt_at)
            msg[m - 1] ^= 0x40;
        rc = ll_ring_push_wait(a->out, msg, m, TIMEOUT_NS);
        rc = rc == 1 ? LL_OK : rc;
    }
    a->result = rc;
    free(msg);
    return NULL;
}

static void test_pingpong(const flav *f)
{
    enum { CAP = 8, M = 24 };
    tring ta, tb, tx, ty;
    int have_a = tring_new(&ta, CAP, slot_for(f, M), f->flavour);
    int have_b = tring_new(&tb, CAP, slot_for(f, M), f->flavour);
    int have_x = tring_new(&tx, CAP, slot_for(other_flavour(f), M), other_flavour(f)->flavour);
    int have_y = tring_new(&ty, CAP, slot_for(f, M + 8), f->flavour);
    int64_t *rtt = calloc(N_ROUNDS, sizeof *rtt);
    CHECK(rtt != NULL);
    if (!have_a || !have_b || !have_x || !have_y || rtt == NULL) {
        free(rtt);
        if (have_a)
            tring_free(&ta);
        if (have_b)
            tring_free(&tb);
        if (have_x)
            tring_free(&tx);
        if (have_y)
            tring_free(&ty);
        return;
    }
    /* ring a: pinger -> echo; ring b: echo -> pinger */
    ll_ring *ap = open_role(&ta, LL_RING_PRODUCER), *ac = open_role(&ta, LL_RING_CONSUMER);
    ll_ring *bp = open_role(&tb, LL_RING_PRODUCER), *bc = open_role(&tb, LL_RING_CONSUMER);
    ll_ring *xc = open_role(&tx, LL_RING_CONSUMER), *yc = open_role(&ty, LL_RING_CONSUMER);
    if (ap && ac && bp && bc && xc && yc) {
        /* arguments: ends of the right roles, one flavour, one message size */
        CHECK_EQ(ll_ring_pingpong(ac, bc, 1, rtt, SHORT_NS), LL_EINVAL);
        CHECK_EQ(ll_ring_pingpong(ap, bp, 1, rtt, SHORT_NS), LL_EINVAL);
        CHECK_EQ(ll_ring_pingpong(ap, bc, 1, NULL, SHORT_NS), LL_EINVAL);
        CHECK_EQ(ll_ring_pingpong(NULL, bc, 1, rtt, SHORT_NS), LL_EINVAL);
        CHECK_EQ(ll_ring_pingpong(ap, xc, 1, rtt, SHORT_NS), LL_EINVAL); /* other flavour */
        CHECK_EQ(ll_ring_pingpong(ap, yc, 1, rtt, SHORT_NS), LL_EINVAL); /* other message size */
        CHECK_EQ(ll_ring_echo(ap, bp, 1, SHORT_NS), LL_EINVAL);
        CHECK_EQ(ll_ring_echo(ac, bc, 1, SHORT_NS), LL_EINVAL);
        CHECK_EQ(ll_ring_echo(xc, bp, 1, SHORT_NS), LL_EINVAL);
        CHECK_EQ(ll_ring_echo(yc, bp, 1, SHORT_NS), LL_EINVAL);
        CHECK_EQ(ll_ring_echo(NULL, bp, 1, SHORT_NS), LL_EINVAL);
        CHECK_EQ(ll_ring_size(ac) + ll_ring_size(bc), 0);
        CHECK_EQ(ll_ring_pingpong(ap, bc, 0, rtt, SHORT_NS), LL_OK);
        CHECK_EQ(ll_ring_echo(ac, bp, 0, SHORT_NS), LL_OK);
        /* no echo running: the first round trip times out */
        CHECK_EQ(ll_ring_pingpong(ap, bc, 1, rtt, SHORT_NS), LL_ETIMEDOUT);
        uint8_t tmp[M];
        CHECK_EQ(f->pop(ac, tmp), 1); /* the message it sent */

        /* a correct echo */
        echo_arg ea = {ac, bp, N_ROUNDS, 0, 12345};
        pthread_t th;
        int started = pthread_create(&th, NULL, echo_thread, &ea) == 0;
        CHECK(started);
        if (started) {
            for (uint32_t i = 0; i < N_ROUNDS; i++)
                rtt[i] = -1;
            int rc = ll_ring_pingpong(ap, bc, N_ROUNDS, rtt, TIMEOUT_NS);
            pthread_join(th, NULL);
            CHECK_EQ(rc, LL_OK);
            CHECK_EQ(ea.result, LL_OK);
            int positive = 1;
            for (uint32_t i = 0; i < N_ROUNDS; i++)
                positive &= rtt[i] > 0;
            CHECK(positive);
        }
        CHECK_EQ(ll_ring_size(ac) + ll_ring_size(bc), 0);

        /* an echo that damages the third message: LL_ECORRUPT, right there */
        echo_arg ca = {ac, bp, 3, 2, 12345};
        started = pthread_create(&th, NULL, corrupt_echo_thread, &ca) == 0;
        CHECK(started);
        if (started) {
            for (uint32_t i = 0; i < 10; i++)
                rtt[i] = -1;
            int rc = ll_ring_pingpong(ap, bc, 10, rtt, TIMEOUT_NS);
            pthread_join(th, NULL);
            CHECK_EQ(rc, LL_ECORRUPT);
            CHECK_EQ(ca.result, LL_OK);
            CHECK(rtt[0] > 0 && rtt[1] > 0 && rtt[2] > 0);
            CHECK_EQ(rtt[3], -1); /* it stopped at the damaged one */
        }
        CHECK_EQ(ll_ring_size(ac) + ll_ring_size(bc), 0);
    }
    ll_ring_close(ap);
    ll_ring_close(ac);
    ll_ring_close(bp);
    ll_ring_close(bc);
    ll_ring_close(xc);
    ll_ring_close(yc);
    free(rtt);
    tring_free(&ta);
    tring_free(&tb);
    tring_free(&tx);
    tring_free(&ty);
}

/* ------------------------------- two threads: stamped one-way messages */
typedef struct {
    ll_ring *r;
    uint64_t n;
    int64_t *lat;
    int result;
} recv_arg;

static void *recv_thread(void *v)
{
    recv_arg *a = v;
    a->result = ll_ring_recv_stamped(a->r, a->n, a->lat, TIMEOUT_NS);
    return NULL;
}

static void test_stamped(const flav *f)
{
    enum { CAP = 8, M = 16 };
    tring t;
    if (!tring_new(&t, CAP, slot_for(f, M), f->flavour))
        return;
    ll_ring *p = open_role(&t, LL_RING_PRODUCER);
    ll_ring *c = open_role(&t, LL_RING_CONSUMER);
    int64_t *lat = calloc(N_ROUNDS, sizeof *lat);
    CHECK(lat != NULL);
    if (p && c && lat) {
        /* the producer sends only onto an empty ring: with one left in it, it times out */
        uint8_t msg[M] = {0}, out[M];
        CHECK_EQ(f->push(p, msg, M), 1);
        CHECK_EQ(ll_ring_send_stamped(p, 1, 0, SHORT_NS), LL_ETIMEDOUT);
        CHECK_EQ(f->pop(c, out), 1);
        CHECK_EQ(ll_ring_send_stamped(p, 0, 0, SHORT_NS), LL_OK);
        CHECK_EQ(ll_ring_recv_stamped(c, 0, lat, SHORT_NS), LL_OK);

        for (uint32_t i = 0; i < N_ROUNDS; i++)
            lat[i] = -1;
        recv_arg ra = {c, N_ROUNDS, lat, 12345};
        pthread_t th;
        int started = pthread_create(&th, NULL, recv_thread, &ra) == 0;
        CHECK(started);
        if (started) {
            int rc = ll_ring_send_stamped(p, N_ROUNDS, 1000, TIMEOUT_NS);
            pthread_join(th, NULL);
            CHECK_EQ(rc, LL_OK);
            CHECK_EQ(ra.result, LL_OK);
            int sane = 1;
            for (uint32_t i = 0; i < N_ROUNDS; i++)
                sane &= lat[i] >= 0 && lat[i] < (int64_t)TIMEOUT_NS;
            CHECK(sane);
            CHECK_EQ(ll_ring_size(c), 0);
        }
    }
    free(lat);
    ll_ring_close(p);
    ll_ring_close(c);
    tring_free(&t);
}

/* ------------------------------ two threads: a batch is seen whole */
/* A batch is published at once: in the index ring by one store of head, in
 * the seq-slot ring first-message-last (its first word, the one the consumer
 * polls, stored after all the others).  So with batches of B into a ring of
 * a multiple of B slots, a consumer taking all it can find always gets a
 * multiple of B - never the front of a batch the producer is still writing. */
enum { WB_CAP = 16, WB_BATCH = 4, WB_M = 16 };
#define WB_N (SANITIZED ? 40000u : 200000u)

typedef struct {
    const flav *f;
    ll_ring *r;
    int ok;
} whole_arg;

static void *whole_producer(void *v)
{
    whole_arg *a = v;
    uint8_t msg[WB_BATCH * WB_M];
    uint64_t deadline = ll_now_ns() + TIMEOUT_NS;
    a->ok = 1;
    for (uint32_t i = 0; i < WB_N && a->ok; i += WB_BATCH) {
        for (uint32_t j = 0; j < WB_BATCH; j++)
            fill(msg + j * WB_M, WB_M, i + j);
        int64_t got;
        while ((got = a->f->push_many(a->r, msg, WB_BATCH)) == 0 && ll_now_ns() < deadline)
            ll_cpu_relax();
        a->ok = got == WB_BATCH; /* the room is always a multiple of the batch too */
    }
    return NULL;
}

static void test_batch_whole(const flav *f)
{
    tring t;
    if (!tring_new(&t, WB_CAP, slot_for(f, WB_M), f->flavour))
        return;
    ll_ring *p = open_role(&t, LL_RING_PRODUCER);
    ll_ring *c = open_role(&t, LL_RING_CONSUMER);
    if (p && c) {
        whole_arg pa = {f, p, 0};
        pthread_t th;
        int started = pthread_create(&th, NULL, whole_producer, &pa) == 0;
        CHECK(started);
        if (started) {
            uint8_t out[WB_CAP * WB_M];
            uint64_t got = 0, partial = 0, pops = 0;
            int fifo = 1;
            uint64_t deadline = ll_now_ns() + TIMEOUT_NS;
            while (got < WB_N && ll_now_ns() < deadline) {
                int64_t k = f->pop_many(c, out, WB_CAP);
                if (k <= 0) {
                    fifo &= k == 0;
                    ll_cpu_relax();
                    continue;
                }
                pops++;
                partial += (uint64_t)k % WB_BATCH != 0;
                for (int64_t j = 0; j < k; j++)
                    fifo &= is_msg(out + j * WB_M, WB_M, got + (uint64_t)j);
                got += (uint64_t)k;
            }
            pthread_join(th, NULL);
            CHECK(pa.ok);
            CHECK_EQ(got, WB_N);
            CHECK(fifo);
            CHECK_EQ(partial, 0);
            CHECK(pops > 0);
        }
    }
    ll_ring_close(p);
    ll_ring_close(c);
    tring_free(&t);
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

static void *producer_thread(void *v)
{
    stream_arg *a = v;
    if (a->cpu >= 0 && ll_pin_self(a->cpu) != LL_OK)
        a->cpu = -1;
    a->result = ll_ring_produce_seq(a->r, a->start, a->n, a->batch, TIMEOUT_NS);
    return NULL;
}

static void *consumer_thread(void *v)
{
    stream_arg *a = v;
    if (a->cpu >= 0 && ll_pin_self(a->cpu) != LL_OK)
        a->cpu = -1;
    a->result = ll_ring_consume_seq(a->r, a->start, a->n, a->batch, TIMEOUT_NS, &a->bad);
    return NULL;
}

static void stream(const flav *f, uint64_t capacity, uint32_t msg_size, uint32_t batch, uint64_t start,
                   uint64_t counter0)
{
    tring t;
    if (!tring_new(&t, capacity, slot_for(f, msg_size), f->flavour))
        return;
    set_counters(&t, counter0);
    ll_ring *p = open_role(&t, LL_RING_PRODUCER);
    ll_ring *c = open_role(&t, LL_RING_CONSUMER);
    if (!p || !c) {
        ll_ring_close(p);
        ll_ring_close(c);
        tring_free(&t);
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
        fprintf(stderr, "  %s, capacity %llu, msg %u, batch %u: produce %lld, consume %lld, bad %llu\n", f->name,
                (unsigned long long)capacity, msg_size, batch, (long long)pa.result, (long long)ca.result,
                (unsigned long long)ca.bad);
    CHECK(pa.result >= 0);
    CHECK(ca.result >= 0);
    CHECK_EQ(ca.bad, 0);
    CHECK_EQ(ll_ring_size(c), 0);
    ll_ring_layout *l = L(&t);
    CHECK_EQ(atomic_load(&l->prod.head), counter0 + N_STREAM);
    CHECK_EQ(atomic_load(&l->cons.tail), counter0 + N_STREAM);
    ll_ring_close(p);
    ll_ring_close(c);
    tring_free(&t);
}

static void test_streams(const flav *f)
{
    int a, b;
    if (!two_allowed_cpus(&a, &b) && f == &FLAVOURS[0])
        printf("note: fewer than two usable CPUs, the stream threads are unpinned\n");
    stream(f, 4, 64, 1, 0, 0);
    stream(f, 4, 16, 3, 1000, 0); /* batches of 3 in 4 slots: nearly every batch straddles the wrap */
    stream(f, 1024, 64, 1, 0, 0);
    stream(f, 1024, 64, 32, 7, 0);
    stream(f, 1024, 24, 32, 0, 0); /* slots of 24 (index) / 32 (seq-slot) bytes; seq 16: 24 */
    stream(f, 64, 16, 5, 0, UINT64_MAX - N_STREAM / 2); /* the counters cross 2^64 mid-stream */
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    static const struct {
        const char *name;
        void (*fn)(const flav *);
        int per_flavour;
    } tests[] = {
        {"geometry", test_geometry, 0},
        {"cached_variant", test_cached_variant, 0},
        {"init_open_errors", test_init_open_errors, 1},
        {"full_empty_wrap", test_full_empty_wrap, 1},
        {"waits_close_reopen", test_waits_close_reopen, 1},
        {"wrong_calls", test_wrong_calls, 1},
        {"counter_wrap", test_counter_wrap, 1},
        {"heartbeat", test_heartbeat, 1},
        {"stream_args", test_stream_args, 1},
        {"named_segment", test_named_segment, 1},
        {"roles_one_process", test_roles_one_process, 1},
        /* the fork tests, before any thread is started */
        {"roles_dead_producer", test_roles_dead_producer, 1},
        {"roles_dead_consumer", test_roles_dead_consumer, 1},
        {"clean_close_not_dead", test_clean_close_not_dead, 1},
        {"takeover_mid_push", test_takeover_mid_push, 1},
        /* two threads on a ring: what TSan checks */
        {"pingpong", test_pingpong, 1},
        {"stamped", test_stamped, 1},
        {"batch_whole", test_batch_whole, 1},
        {"streams", test_streams, 1},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        for (int fl = 0; fl < (tests[i].per_flavour ? 2 : 1); fl++) {
            uint64_t t0 = ll_now_ns();
            int failed0 = failed;
            tests[i].fn(&FLAVOURS[fl]);
            printf("%-22s %-8s %6.3f s%s\n", tests[i].name, tests[i].per_flavour ? FLAVOURS[fl].name : "",
                   (double)(ll_now_ns() - t0) * 1e-9, failed > failed0 ? "  FAILED" : "");
        }
    return check_summary();
}
