/*
 * tests/c/test_shm_basics.c - lab 1's C code tested from C, no framework.
 *
 * Built by meson as `test_shm_basics_c` and run by `meson test`; `make
 * sanitize` runs it under ASan+UBSan and under TSan.  The threaded parts (a
 * seqlock writer and reader, the visibility handshake, the c2c ping-pong) are
 * what TSan is here for.
 *
 * Prints "N passed, M failed" and exits non-zero if anything failed.  Every
 * segment it creates is named /dev/shm/latencylab-ct-<pid>-<k> and unlinked
 * at the end, whatever happened.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "shm_layout.h"

#include "floors.h"
#include "shm_basics.h"

#include "check.h"

/* Segment names used, unlinked at exit. */
#define MAX_NAMES 64
static char names[MAX_NAMES][LL_SEG_NAME_MAX + 1];
static int n_names;

static const char *new_name(void)
{
    if (n_names == MAX_NAMES) {
        fprintf(stderr, "too many segment names\n");
        exit(2);
    }
    snprintf(names[n_names], sizeof names[n_names], "ct-%ld-%d", (long)getpid(), n_names);
    return names[n_names++];
}

static void unlink_all(void)
{
    for (int i = 0; i < n_names; i++)
        ll_seg_unlink(names[i]); /* ENOENT for those already gone: fine */
}

static int file_exists(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "/dev/shm/" LL_SEG_PREFIX "%s", name);
    struct stat st;
    return stat(path, &st) == 0;
}

/* Put `len` bytes at /dev/shm/latencylab-<name> by hand. */
static int write_file(const char *name, const void *data, size_t len)
{
    char path[128];
    snprintf(path, sizeof path, "/" LL_SEG_PREFIX "%s", name);
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return -1;
    ssize_t w = len ? write(fd, data, len) : 0;
    close(fd);
    return w == (ssize_t)len ? 0 : -1;
}

static void make_header(uint8_t *buf, uint64_t magic, uint32_t version, uint32_t header_size, uint64_t payload_size,
                        uint32_t kind)
{
    memset(buf, 0, LL_SEG_HEADER_SIZE);
    memcpy(buf + 0, &magic, 8);
    memcpy(buf + 8, &version, 4);
    memcpy(buf + 12, &header_size, 4);
    memcpy(buf + 16, &payload_size, 8);
    memcpy(buf + 24, &kind, 4);
    uint32_t pid = 1;
    memcpy(buf + 28, &pid, 4);
}

/* ----------------------------------------------------------------- names */
static void test_names(void)
{
    char longest[LL_SEG_NAME_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[LL_SEG_NAME_MAX] = '\0';
    CHECK_EQ(ll_seg_check_name(longest), LL_OK);
    longest[LL_SEG_NAME_MAX] = 'a';
    longest[LL_SEG_NAME_MAX + 1] = '\0';
    CHECK_EQ(ll_seg_check_name(longest), LL_EBADNAME); /* 64 characters */

    const char *good[] = {"a", "A.b-c_d", "0", "_x", "x.", "x-"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK_EQ(ll_seg_check_name(good[i]), LL_OK);
    const char *bad[] = {"", "a/b", "../x", "/abs", ".hidden", "-x", "caf\xc3\xa9", "a b", "a\n", "a*"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ(ll_seg_check_name(bad[i]), LL_EBADNAME);
    CHECK_EQ(ll_seg_check_name(NULL), LL_EBADNAME);

    int err = 0;
    CHECK(ll_seg_create("a/b", 64, LL_KIND_RAW, &err) == NULL);
    CHECK_EQ(err, LL_EBADNAME);
    err = 0;
    CHECK(ll_seg_attach("../x", LL_KIND_ANY, &err) == NULL);
    CHECK_EQ(err, LL_EBADNAME);
    CHECK_EQ(ll_seg_unlink(".hidden"), LL_EBADNAME);
    CHECK(ll_seg_create(NULL, 64, LL_KIND_RAW, NULL) == NULL); /* err may be NULL */
}

/* ------------------------------------------------------- create / attach */
static void test_lifecycle(void)
{
    const char *name = new_name();
    int err = 1;
    ll_segment *s = ll_seg_create(name, 4096, LL_KIND_RAW, &err);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    CHECK_EQ(err, LL_OK);
    CHECK(file_exists(name));
    CHECK_EQ(ll_seg_payload_size(s), 4096);
    CHECK_EQ(ll_seg_kind(s), LL_KIND_RAW);
    CHECK_EQ(ll_seg_creator_pid(s), getpid());

    char path[128];
    snprintf(path, sizeof path, "/dev/shm/" LL_SEG_PREFIX "%s", name);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(st.st_size == LL_SEG_HEADER_SIZE + 4096);

    uint8_t zeros[4096] = {0}, buf[4096];
    CHECK_EQ(ll_seg_read(s, 0, buf, sizeof buf), LL_OK);
    CHECK(memcmp(buf, zeros, sizeof buf) == 0);
    CHECK_EQ(ll_seg_write(s, 4091, "hello", 5), LL_OK);

    /* bounds */
    CHECK_EQ(ll_seg_write(s, 4092, "hello", 5), LL_EINVAL);
    CHECK_EQ(ll_seg_read(s, 4097, buf, 0), LL_EINVAL);
    CHECK_EQ(ll_seg_read(s, 1, buf, UINT64_MAX), LL_EINVAL); /* offset + n would wrap */
    CHECK_EQ(ll_seg_read(s, UINT64_MAX, buf, 2), LL_EINVAL);
    CHECK_EQ(ll_seg_read(s, 4096, buf, 0), LL_OK);
    CHECK_EQ(ll_seg_read(NULL, 0, buf, 1), LL_EINVAL);
    CHECK_EQ(ll_seg_read(s, 0, NULL, 1), LL_EINVAL);
    CHECK_EQ(ll_seg_write(s, 0, NULL, 1), LL_EINVAL);

    /* create again: EEXIST */
    err = 0;
    CHECK(ll_seg_create(name, 64, LL_KIND_RAW, &err) == NULL);
    CHECK_EQ(err, -EEXIST);

    /* attach sees the same bytes and header */
    err = 1;
    ll_segment *a = ll_seg_attach(name, LL_KIND_RAW, &err);
    CHECK(a != NULL);
    if (a != NULL) {
        CHECK_EQ(err, LL_OK);
        CHECK_EQ(ll_seg_payload_size(a), 4096);
        CHECK_EQ(ll_seg_creator_pid(a), getpid());
        CHECK_EQ(ll_seg_read(a, 4091, buf, 5), LL_OK);
        CHECK(memcmp(buf, "hello", 5) == 0);
        CHECK(ll_seg_payload(a) != ll_seg_payload(s)); /* two mappings of one object */
        CHECK_EQ(ll_seg_close(a), LL_OK);
    }
    /* the wrong kind */
    err = 0;
    CHECK(ll_seg_attach(name, LL_KIND_QUOTE, &err) == NULL);
    CHECK_EQ(err, LL_EBADKIND);

    /* unlink: the name goes, the mapping stays */
    CHECK_EQ(ll_seg_unlink(name), LL_OK);
    CHECK(!file_exists(name));
    CHECK_EQ(ll_seg_unlink(name), -ENOENT);
    CHECK_EQ(ll_seg_read(s, 4091, buf, 5), LL_OK);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK_EQ(ll_seg_close(s), LL_OK);
    CHECK_EQ(ll_seg_close(NULL), LL_EINVAL);

    err = 0;
    CHECK(ll_seg_attach(name, LL_KIND_ANY, &err) == NULL);
    CHECK_EQ(err, -ENOENT);
    CHECK_EQ(ll_seg_payload_size(NULL), 0);
}

static void test_sizes(void)
{
    const char *name = new_name();
    const uint64_t bad[] = {0, LL_SEG_MAX_PAYLOAD + 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int err = 0;
        CHECK(ll_seg_create(name, bad[i], LL_KIND_RAW, &err) == NULL);
        CHECK_EQ(err, LL_EBADSIZE);
        CHECK(!file_exists(name));
    }
    int err = 0;
    CHECK(ll_seg_create(name, 64, LL_KIND_QUOTE, &err) == NULL); /* a quote needs the channel's size */
    CHECK_EQ(err, LL_EBADSIZE);
    CHECK(!file_exists(name));

    ll_segment *s = ll_seg_create(name, LL_SEG_MAX_PAYLOAD, LL_KIND_RAW, &err); /* sparse on tmpfs */
    CHECK(s != NULL);
    if (s) {
        CHECK_EQ(ll_seg_write(s, LL_SEG_MAX_PAYLOAD - 1, "z", 1), LL_OK);
        CHECK_EQ(ll_seg_close(s), LL_OK);
    }
    CHECK_EQ(ll_seg_unlink(name), LL_OK);
}

/* -------------------------------------------------------------- headers */
static void test_headers(void)
{
    static uint8_t buf[LL_SEG_HEADER_SIZE + 256];
    struct {
        const char *what;
        uint64_t magic;
        uint32_t version, header_size;
        uint64_t payload_size;
        uint32_t kind;
        size_t file_size;
        int want;
    } cases[] = {
        {"bad magic", 0, 1, 128, 64, LL_KIND_RAW, 128 + 64, LL_EBADMAGIC},
        {"foreign magic", 0x1122334455667788ull, 1, 128, 64, LL_KIND_RAW, 128 + 64, LL_EBADMAGIC},
        {"bad version", LL_SEG_MAGIC, 2, 128, 64, LL_KIND_RAW, 128 + 64, LL_EBADVERSION},
        {"header size", LL_SEG_MAGIC, 1, 64, 64, LL_KIND_RAW, 128 + 64, LL_EBADLAYOUT},
        {"file longer", LL_SEG_MAGIC, 1, 128, 64, LL_KIND_RAW, 128 + 100, LL_EBADLAYOUT},
        {"file shorter", LL_SEG_MAGIC, 1, 128, 64, LL_KIND_RAW, 128 + 32, LL_EBADLAYOUT},
        {"payload zero", LL_SEG_MAGIC, 1, 128, 0, LL_KIND_RAW, 128, LL_EBADLAYOUT},
        {"payload huge", LL_SEG_MAGIC, 1, 128, 1ull << 40, LL_KIND_RAW, 128 + 64, LL_EBADLAYOUT},
        {"quote wrong size", LL_SEG_MAGIC, 1, 128, 64, LL_KIND_QUOTE, 128 + 64, LL_EBADLAYOUT},
        {"too short", LL_SEG_MAGIC, 1, 128, 64, LL_KIND_RAW, 10, LL_EBADMAGIC},
        {"empty", LL_SEG_MAGIC, 1, 128, 64, LL_KIND_RAW, 0, LL_EBADMAGIC},
        {"valid", LL_SEG_MAGIC, 1, 128, 64, LL_KIND_RAW, 128 + 64, LL_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *name = new_name();
        memset(buf, 0, sizeof buf);
        make_header(buf, cases[i].magic, cases[i].version, cases[i].header_size, cases[i].payload_size,
                    cases[i].kind);
        if (write_file(name, buf, cases[i].file_size) != 0) {
            CHECK(!"write_file");
            continue;
        }
        int err = 12345;
        ll_segment *s = ll_seg_attach(name, LL_KIND_ANY, &err);
        if (err != cases[i].want)
            fprintf(stderr, "  header case '%s': got %d, want %d\n", cases[i].what, err, cases[i].want);
        CHECK_EQ(err, cases[i].want);
        CHECK((s != NULL) == (cases[i].want == LL_OK));
        if (s)
            ll_seg_close(s);
        CHECK_EQ(ll_seg_unlink(name), LL_OK);
    }
}

/* ---------------------------------------------------------------- quote */
static void test_quote_single_thread(void)
{
    const char *name = new_name();
    int err;
    ll_segment *s = ll_seg_create(name, sizeof(ll_quote_channel), LL_KIND_QUOTE, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    ll_quote_channel *ch = ll_seg_payload(s);
    CHECK_EQ((uintptr_t)ch % LL_CACHELINE, 0);
    CHECK_EQ(ll_quote_seq(&ch->quote), 0);

    ll_quote q, got;
    uint64_t seq = 99;
    CHECK_EQ(ll_quote_read(&ch->quote, &got, &seq, 1000000), LL_OK);
    CHECK_EQ(seq, 0);
    ll_quote_write(&ch->quote, 42, -5, INT64_MAX, UINT32_MAX, 0, UINT64_MAX);
    CHECK_EQ(ll_quote_seq(&ch->quote), 2);
    CHECK_EQ(ll_quote_read(&ch->quote, &got, &seq, 1000000), LL_OK);
    CHECK_EQ(seq, 2);
    CHECK(got.instrument == 42 && got.bid == -5 && got.ask == INT64_MAX && got.bid_size == UINT32_MAX &&
          got.ask_size == 0 && got.ts_ns == UINT64_MAX);
    q = (ll_quote){.instrument = 7, .bid = 100, .ask = 101, .bid_size = 3, .ask_size = 4, .ts_ns = 5};
    ll_quote_store(&ch->quote, &q);
    CHECK_EQ(ll_quote_read(&ch->quote, &got, NULL, 1000000), LL_OK); /* seq_out may be NULL */
    CHECK(memcmp(&got, &q, sizeof q) == 0);

    /* a writer that died mid-write: seq stays odd, the read times out */
    atomic_store(&ch->quote.seq, 5);
    uint64_t t0 = ll_now_ns();
    CHECK_EQ(ll_quote_read(&ch->quote, &got, &seq, 20000000), LL_ETIMEDOUT);
    CHECK(ll_now_ns() - t0 < 2000000000ull);
    CHECK_EQ(ll_quote_read(&ch->quote, &got, &seq, 0), LL_ETIMEDOUT);
    atomic_store(&ch->quote.seq, 6);
    CHECK_EQ(ll_quote_read(&ch->quote, &got, &seq, 0), LL_OK);

    CHECK(ll_bench_access(&ch->quote, 1000) > 0);
    CHECK_EQ(ll_quote_seq(&ch->quote), 6 + 2000);
    CHECK_EQ(ll_bench_access(&ch->quote, 0), LL_EINVAL);
    CHECK_EQ(ll_bench_access(NULL, 10), LL_EINVAL);
    CHECK_EQ(ll_vis_writer(ch, 0, 0, 1000), LL_EINVAL);
    CHECK_EQ(ll_vis_writer(ch, 1, -1, 1000), LL_EINVAL);
    CHECK_EQ(ll_vis_writer(ch, 1, 0, 20000000), LL_ETIMEDOUT); /* nobody reading */
    int64_t lat[4];
    CHECK_EQ(ll_vis_reader(ch, 0, lat, 1000), LL_EINVAL);
    CHECK_EQ(ll_vis_reader(ch, 1, NULL, 1000), LL_EINVAL);
    CHECK_EQ(ll_vis_reader(ch, 1, lat, 20000000), LL_ETIMEDOUT); /* nobody writing */

    CHECK_EQ(ll_seg_close(s), LL_OK);
    CHECK_EQ(ll_seg_unlink(name), LL_OK);
}

static void test_layout(void)
{
    CHECK_EQ(ll_layout_info("header_size"), LL_SEG_HEADER_SIZE);
    CHECK_EQ(ll_layout_info("slot.size"), LL_CACHELINE);
    CHECK_EQ(ll_layout_info("slot.seq"), 0);
    CHECK_EQ(ll_layout_info("channel.size"), 2 * LL_PAD);
    CHECK_EQ(ll_layout_info("channel.ack"), LL_PAD);
    CHECK_EQ(ll_layout_info("no such key"), -1);
    CHECK_EQ(ll_layout_info(NULL), -1);
}

/* ---------------------------------------- seqlock stress: two threads */
#define STRESS_WRITES 200000

static ll_quote quote_for(uint64_t k)
{
    uint32_t bs = (uint32_t)(k % 1000 + 1);
    return (ll_quote){.instrument = (uint32_t)(k % 97), .bid = (int64_t)k, .ask = (int64_t)k + 1,
                      .bid_size = bs, .ask_size = bs + 1, .ts_ns = 3 * k};
}

struct stress {
    ll_quote_slot *slot;
    int writer_cpu, reader_cpu; /* -1: not pinned */
    atomic_int reader_ready;    /* the writer starts once the reader is reading */
    /* reader results */
    long reads, distinct, bad, backwards, timeouts;
};

static void *stress_writer(void *arg)
{
    struct stress *st = arg;
    if (st->writer_cpu >= 0)
        ll_pin_self(st->writer_cpu);
    uint64_t t0 = ll_now_ns();
    while (!atomic_load(&st->reader_ready) && ll_now_ns() - t0 < 10000000000ull)
        ll_cpu_relax();
    for (uint64_t k = 0; k < STRESS_WRITES; k++) {
        ll_quote q = quote_for(k);
        if (k & 1) /* both entry points */
            ll_quote_store(st->slot, &q);
        else
            ll_quote_write(st->slot, q.instrument, q.bid, q.ask, q.bid_size, q.ask_size, q.ts_ns);
    }
    return NULL;
}

static void *stress_reader(void *arg)
{
    struct stress *st = arg;
    if (st->reader_cpu >= 0)
        ll_pin_self(st->reader_cpu);
    int64_t last = -1;
    uint64_t t_end = ll_now_ns() + 60000000000ull; /* never hang */
    atomic_store(&st->reader_ready, 1);
    while (ll_now_ns() < t_end) {
        ll_quote q;
        uint64_t seq;
        if (ll_quote_read(st->slot, &q, &seq, 5000000000ull) != LL_OK) {
            st->timeouts++;
            break;
        }
        if (seq == 0) /* nothing written yet */
            continue;
        st->reads++;
        uint64_t k = (uint64_t)q.bid;
        ll_quote want = quote_for(k);
        if (memcmp(&q, &want, sizeof q) != 0 || seq != 2 * k + 2) {
            if (st->bad++ < 5)
                fprintf(stderr, "  torn quote: seq=%llu bid=%lld ask=%lld inst=%u sizes=%u/%u ts=%llu\n",
                        (unsigned long long)seq, (long long)q.bid, (long long)q.ask, q.instrument, q.bid_size,
                        q.ask_size, (unsigned long long)q.ts_ns);
        }
        if ((int64_t)k < last)
            st->backwards++;
        if ((int64_t)k != last)
            st->distinct++;
        last = (int64_t)k;
        if (k == STRESS_WRITES - 1)
            break;
    }
    return NULL;
}

static void test_seqlock_stress(void)
{
    const char *name = new_name();
    int err;
    ll_segment *s = ll_seg_create(name, sizeof(ll_quote_channel), LL_KIND_QUOTE, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    struct stress st = {.slot = &((ll_quote_channel *)ll_seg_payload(s))->quote, .writer_cpu = -1, .reader_cpu = -1};
    atomic_init(&st.reader_ready, 0);
    int two_cpus = two_allowed_cpus(&st.writer_cpu, &st.reader_cpu);
    pthread_t w, r;
    CHECK_EQ(pthread_create(&r, NULL, stress_reader, &st), 0);
    CHECK_EQ(pthread_create(&w, NULL, stress_writer, &st), 0);
    pthread_join(w, NULL);
    pthread_join(r, NULL);
    printf("  seqlock stress: %ld reads, %ld distinct quotes seen of %d written\n", st.reads, st.distinct,
           STRESS_WRITES);
    CHECK_EQ(st.bad, 0);
    CHECK_EQ(st.backwards, 0);
    CHECK_EQ(st.timeouts, 0);
    CHECK(st.reads > 0);
    if (two_cpus) /* pinned apart, the reads overlap the writes: many distinct quotes seen */
        CHECK(st.distinct > 100);
    CHECK_EQ(ll_quote_seq(st.slot), 2 * STRESS_WRITES);
    CHECK_EQ(ll_seg_close(s), LL_OK);
    CHECK_EQ(ll_seg_unlink(name), LL_OK);
}

/* ------------------------------- visibility handshake: two threads */
#define VIS_N 2000

struct vis {
    ll_quote_channel *ch;
    int64_t lat[VIS_N];
    int rc;
};

static void *vis_reader_main(void *arg)
{
    struct vis *v = arg;
    v->rc = ll_vis_reader(v->ch, VIS_N, v->lat, 10000000000ll);
    return NULL;
}

static void test_visibility_threads(void)
{
    const char *name = new_name();
    int err;
    ll_segment *s = ll_seg_create(name, sizeof(ll_quote_channel), LL_KIND_QUOTE, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    struct vis *v = calloc(1, sizeof *v);
    v->ch = ll_seg_payload(s);
    pthread_t r;
    CHECK_EQ(pthread_create(&r, NULL, vis_reader_main, v), 0);
    CHECK_EQ(ll_vis_writer(v->ch, VIS_N, 0, 10000000000ll), LL_OK);
    pthread_join(r, NULL);
    CHECK_EQ(v->rc, LL_OK);
    int ok = 1;
    for (int i = 0; i < VIS_N; i++)
        ok &= v->lat[i] > 0 && v->lat[i] < 1000000000ll;
    CHECK(ok);
    CHECK_EQ(ll_quote_seq(&v->ch->quote), 2 * VIS_N);
    free(v);
    CHECK_EQ(ll_seg_close(s), LL_OK);
    CHECK_EQ(ll_seg_unlink(name), LL_OK);
}

/* ------------------------------------------------ c2c ping-pong (floors.c) */
static void test_c2c(void)
{
    double out[3] = {0};
    CHECK_EQ(ll_c2c_rtt(0, 0, 10, 1, out), LL_EINVAL);
    CHECK_EQ(ll_c2c_rtt(0, 1, 0, 1, out), LL_EINVAL);
    CHECK_EQ(ll_c2c_rtt(0, 1, 10, 1, NULL), LL_EINVAL);

    int a, b;
    if (!two_allowed_cpus(&a, &b)) {
        printf("  c2c: fewer than 2 CPUs, skipped\n");
        return;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    CHECK_EQ(ll_c2c_rtt(a, b, 10000, 3, out), LL_OK);
    CHECK(out[0] > 0 && out[1] > 0 && out[2] > 0);
    printf("  c2c round trip CPUs %d<->%d: %.0f %.0f %.0f ns\n", a, b, out[0], out[1], out[2]);
    /* our affinity is given back afterwards */
    cpu_set_t after;
    CPU_ZERO(&after);
    CHECK(sched_getaffinity(0, sizeof after, &after) == 0 && CPU_EQUAL(&set, &after));

    /* a CPU we may not use: either side */
    int nope = CPU_SETSIZE - 1;
    if (!CPU_ISSET(nope, &set)) {
        CHECK_EQ(ll_c2c_rtt(a, nope, 100, 1, out), LL_ENOCPU);
        CHECK_EQ(ll_c2c_rtt(nope, a, 100, 1, out), LL_ENOCPU);
    }
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    test_names();
    test_lifecycle();
    test_sizes();
    test_headers();
    test_quote_single_thread();
    test_layout();
    test_seqlock_stress();
    test_visibility_threads();
    test_c2c();
    unlink_all();
    for (int i = 0; i < n_names; i++)
        if (file_exists(names[i])) {
            fprintf(stderr, "FAIL: segment %s left behind\n", names[i]);
            failed++;
        }
    return check_summary();
}
