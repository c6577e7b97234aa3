/*
 * shm_basics.c - lab 1: POSIX shared memory and a seqlock-protected quote.
 *
 * Part 1, the segment: shm_open(O_CREAT|O_EXCL, 0600) + ftruncate + mmap,
 * with a header (magic, version, sizes, kind) that an attacher checks before
 * it trusts a single byte of the payload.
 *
 * Part 2, the quote: one writer publishes a quote, any number of readers in
 * any process read it, never seeing half of one write and half of another.
 * The writer never waits for readers (a market-data publisher must not).
 *
 * Part 3, the benchmarks: loops timed inside C, because one write + read takes
 * a few ns and a single ctypes call from Python costs ~100x that.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "shm_basics.h"

/* ===================================================================== */
/* Part 1: the segment                                                   */
/* ===================================================================== */

/* What a Python caller holds: an opaque pointer to this (declared in shm_basics.h).  Allocated on
 * create/attach (not a hot path), freed by close. */
struct ll_segment {
    ll_seg_header *hdr; /* start of the mapping */
    uint8_t *payload;   /* hdr + LL_SEG_HEADER_SIZE */
    size_t map_size;    /* header + payload */
    uint64_t payload_size;
    uint32_t kind;
    int fd;             /* kept open: it holds the "attached" lock (shm_layout.h) until close */
};

LL_EXPORT int ll_seg_check_name(const char *name)
{
    if (name == NULL)
        return LL_EBADNAME;
    size_t n = strnlen(name, LL_SEG_NAME_MAX + 1);
    if (n == 0 || n > LL_SEG_NAME_MAX)
        return LL_EBADNAME;
    if (name[0] == '.' || name[0] == '-')
        return LL_EBADNAME;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == '-';
        if (!ok)
            return LL_EBADNAME;
    }
    return LL_OK;
}

/* "/latencylab-<name>", the form shm_open wants.  Name already checked. */
static void shm_path(const char *name, char out[1 + sizeof LL_SEG_PREFIX + LL_SEG_NAME_MAX])
{
    out[0] = '/';
    strcpy(out + 1, LL_SEG_PREFIX);
    strcat(out, name);
}

static ll_segment *fail(int *err, int code)
{
    if (err)
        *err = code;
    return NULL;
}

/* Map the file and take the "attached" read lock; the handle owns fd from
 * here on (on failure fd is closed). */
static ll_segment *map_segment(int fd, size_t map_size, int *err)
{
    int rc = ll_ofd_lock(fd, LL_SEG_LOCK_ATTACHED, 1, F_RDLCK);
    if (rc != LL_OK) { /* only a write lock could refuse it, and nobody takes one on this byte */
        close(fd);
        return fail(err, rc);
    }
    void *base = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        int e = errno;
        close(fd);
        return fail(err, -e);
    }
    ll_segment *s = calloc(1, sizeof *s);
    if (s == NULL) {
        munmap(base, map_size);
        close(fd);
        return fail(err, -ENOMEM);
    }
    s->hdr = base;
    s->payload = (uint8_t *)base + LL_SEG_HEADER_SIZE;
    s->map_size = map_size;
    s->fd = fd;
    return s;
}

/* Unmap, close (which drops the lock), free. */
static int release_segment(ll_segment *s)
{
    int rc = munmap(s->hdr, s->map_size) == 0 ? LL_OK : -errno;
    close(s->fd);
    free(s);
    return rc;
}

LL_EXPORT ll_segment *ll_seg_create(const char *name, uint64_t payload_size, uint32_t kind, int *err)
{
    int rc = ll_seg_check_name(name);
    if (rc != LL_OK)
        return fail(err, rc);
    if (payload_size == 0 || payload_size > LL_SEG_MAX_PAYLOAD)
        return fail(err, LL_EBADSIZE);
    if (kind == LL_KIND_QUOTE && payload_size != sizeof(ll_quote_channel))
        return fail(err, LL_EBADSIZE);

    char path[1 + sizeof LL_SEG_PREFIX + LL_SEG_NAME_MAX];
    shm_path(name, path);
    /* O_EXCL: never adopt a segment somebody else made (it could be a stale
     * one, or a trap).  0600: only our user may map it. */
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return fail(err, -errno);
    size_t map_size = LL_SEG_HEADER_SIZE + (size_t)payload_size;
    /* ftruncate on tmpfs zero-fills: the magic reads 0 until we publish it. */
    if (ftruncate(fd, (off_t)map_size) != 0) {
        int e = errno;
        close(fd);
        shm_unlink(path);
        return fail(err, -e);
    }
    ll_segment *s = map_segment(fd, map_size, err); /* owns fd now */
    if (s == NULL) {
        shm_unlink(path);
        return NULL;
    }
    s->payload_size = payload_size;
    s->kind = kind;
    s->hdr->version = LL_SEG_VERSION;
    s->hdr->header_size = LL_SEG_HEADER_SIZE;
    s->hdr->payload_size = payload_size;
    s->hdr->kind = kind;
    s->hdr->creator_pid = (uint32_t)getpid();
    /* release: the fields above become visible no later than the magic, so an
     * attacher that reads the magic with acquire sees a complete header. */
    atomic_store_explicit(&s->hdr->magic, LL_SEG_MAGIC, memory_order_release);
    if (err)
        *err = LL_OK;
    return s;
}

LL_EXPORT ll_segment *ll_seg_attach(const char *name, uint32_t kind, int *err)
{
    int rc = ll_seg_check_name(name);
    if (rc != LL_OK)
        return fail(err, rc);
    char path[1 + sizeof LL_SEG_PREFIX + LL_SEG_NAME_MAX];
    shm_path(name, path);
    int fd = shm_open(path, O_RDWR, 0);
    if (fd < 0)
        return fail(err, -errno);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fail(err, -e);
    }
    /* Too small to hold our header: not ours, or its creator is still
     * between shm_open and ftruncate. */
    if (st.st_size < (off_t)LL_SEG_HEADER_SIZE) {
        close(fd);
        return fail(err, LL_EBADMAGIC);
    }
    ll_segment *s = map_segment(fd, (size_t)st.st_size, err); /* owns fd now */
    if (s == NULL)
        return NULL;
    /* acquire: pairs with the creator's release store of the magic. */
    uint64_t magic = atomic_load_explicit(&s->hdr->magic, memory_order_acquire);
    int bad = LL_OK;
    if (magic != LL_SEG_MAGIC)
        bad = LL_EBADMAGIC;
    else if (s->hdr->version != LL_SEG_VERSION)
        bad = LL_EBADVERSION;
    else if (s->hdr->header_size != LL_SEG_HEADER_SIZE || s->hdr->payload_size == 0 ||
             s->hdr->payload_size > LL_SEG_MAX_PAYLOAD ||
             (uint64_t)st.st_size != LL_SEG_HEADER_SIZE + s->hdr->payload_size)
        bad = LL_EBADLAYOUT;
    else if (kind != LL_KIND_ANY && s->hdr->kind != kind)
        bad = LL_EBADKIND;
    else if (s->hdr->kind == LL_KIND_QUOTE && s->hdr->payload_size != sizeof(ll_quote_channel))
        bad = LL_EBADLAYOUT;
    if (bad != LL_OK) {
        release_segment(s);
        return fail(err, bad);
    }
    s->payload_size = s->hdr->payload_size;
    s->kind = s->hdr->kind;
    if (err)
        *err = LL_OK;
    return s;
}

LL_EXPORT void *ll_seg_payload(const ll_segment *s) { return s ? s->payload : NULL; }
LL_EXPORT uint64_t ll_seg_payload_size(const ll_segment *s) { return s ? s->payload_size : 0; }
LL_EXPORT uint32_t ll_seg_kind(const ll_segment *s) { return s ? s->kind : 0; }
LL_EXPORT uint32_t ll_seg_creator_pid(const ll_segment *s) { return s ? s->hdr->creator_pid : 0; }
/* The segment's open file: a ring end opens its own description of it for its role lock. */
LL_EXPORT int ll_seg_fd(const ll_segment *s) { return s ? s->fd : -1; }

/* Bounds-checked copies, so Python can move bytes without a raw pointer. */
LL_EXPORT int ll_seg_read(const ll_segment *s, uint64_t offset, void *dst, uint64_t n)
{
    if (s == NULL || dst == NULL || offset > s->payload_size || n > s->payload_size - offset)
        return LL_EINVAL;
    memcpy(dst, s->payload + offset, (size_t)n);
    return LL_OK;
}

LL_EXPORT int ll_seg_write(ll_segment *s, uint64_t offset, const void *src, uint64_t n)
{
    if (s == NULL || src == NULL || offset > s->payload_size || n > s->payload_size - offset)
        return LL_EINVAL;
    memcpy(s->payload + offset, src, (size_t)n);
    return LL_OK;
}

/* Unmap, drop the "attached" lock and free the handle.  The segment itself
 * lives on until unlinked. */
LL_EXPORT int ll_seg_close(ll_segment *s)
{
    if (s == NULL)
        return LL_EINVAL;
    return release_segment(s);
}

/* Remove the name; processes that mapped it keep their mapping. */
LL_EXPORT int ll_seg_unlink(const char *name)
{
    int rc = ll_seg_check_name(name);
    if (rc != LL_OK)
        return rc;
    char path[1 + sizeof LL_SEG_PREFIX + LL_SEG_NAME_MAX];
    shm_path(name, path);
    return shm_unlink(path) == 0 ? LL_OK : -errno;
}

/* ===================================================================== */
/* Part 2: the seqlock-protected quote                                   */
/* ===================================================================== */

/* Writer (one only).  seq goes odd, the fields are stored, seq goes even.
 *
 * - The odd store is relaxed, followed by a release fence: the fence orders
 *   the odd store before every field store below it, so a reader that sees
 *   any new field value also sees (via its acquire fence) the odd seq, or a
 *   later value, when it re-reads seq - and retries.
 * - The field stores are relaxed: their order among themselves is irrelevant.
 * - The final even store is release: every field store is visible before a
 *   reader can see the new even seq.
 * On x86-64 all of this compiles to plain movs (stores are never reordered
 * with older stores there); the fences only stop the compiler. */
LL_EXPORT void ll_quote_write(ll_quote_slot *s, uint32_t instrument, int64_t bid, int64_t ask,
                              uint32_t bid_size, uint32_t ask_size, uint64_t ts_ns)
{
    /* relaxed: only this thread writes seq, so it reads its own last value. */
    uint64_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
    atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&s->instrument, instrument, memory_order_relaxed);
    atomic_store_explicit(&s->bid, bid, memory_order_relaxed);
    atomic_store_explicit(&s->ask, ask, memory_order_relaxed);
    atomic_store_explicit(&s->bid_size, bid_size, memory_order_relaxed);
    atomic_store_explicit(&s->ask_size, ask_size, memory_order_relaxed);
    atomic_store_explicit(&s->ts_ns, ts_ns, memory_order_relaxed);
    atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

/* The same, taking a whole ll_quote: one ctypes call from Python passes the
 * 40 bytes that struct.pack made (and range-checked). */
LL_EXPORT void ll_quote_store(ll_quote_slot *s, const ll_quote *q)
{
    ll_quote_write(s, q->instrument, q->bid, q->ask, q->bid_size, q->ask_size, q->ts_ns);
}

/* One read attempt: 1 and *out filled when consistent, 0 when a write was in
 * progress or overlapped the read (the caller retries).
 * - seq1 is loaded with acquire: pairs with the writer's final release store,
 *   so the fields we read next are at least as new as seq1 says.
 * - the fields are relaxed loads (they may race with a writer: that is why
 *   they are atomic), followed by an acquire fence: no field load can move
 *   below the re-read of seq.  If a writer started meanwhile, the fence
 *   synchronises with its release fence and seq2 shows the odd (or later)
 *   value, so we discard the torn copy. */
static inline int quote_try_read(const ll_quote_slot *s, ll_quote *out, uint64_t *seq_out)
{
    ll_quote_slot *m = (ll_quote_slot *)s; /* C11 atomics take non-const pointers */
    uint64_t seq1 = atomic_load_explicit(&m->seq, memory_order_acquire);
    if (seq1 & 1)
        return 0;
    out->instrument = atomic_load_explicit(&m->instrument, memory_order_relaxed);
    out->reserved = 0;
    out->bid = atomic_load_explicit(&m->bid, memory_order_relaxed);
    out->ask = atomic_load_explicit(&m->ask, memory_order_relaxed);
    out->bid_size = atomic_load_explicit(&m->bid_size, memory_order_relaxed);
    out->ask_size = atomic_load_explicit(&m->ask_size, memory_order_relaxed);
    out->ts_ns = atomic_load_explicit(&m->ts_ns, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    uint64_t seq2 = atomic_load_explicit(&m->seq, memory_order_relaxed);
    if (seq1 != seq2)
        return 0;
    *seq_out = seq1;
    return 1;
}

/* Read a consistent quote, retrying while writes overlap.  A writer killed
 * mid-write leaves seq odd forever: give up after timeout_ns instead of
 * spinning for ever (the clock is checked only every 1024 attempts). */
LL_EXPORT int ll_quote_read(const ll_quote_slot *s, ll_quote *out, uint64_t *seq_out, uint64_t timeout_ns)
{
    uint64_t seq;
    uint64_t deadline = 0;
    for (uint64_t tries = 0;; tries++) {
        if (quote_try_read(s, out, &seq)) {
            if (seq_out)
                *seq_out = seq;
            return LL_OK;
        }
        if ((tries & 1023) == 1023) {
            uint64_t now = ll_now_ns();
            if (deadline == 0) /* saturate: a huge timeout must not wrap into the past */
                deadline = timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
            else if (now > deadline)
                return LL_ETIMEDOUT;
        }
        ll_cpu_relax();
    }
}

LL_EXPORT uint64_t ll_quote_seq(const ll_quote_slot *s)
{
    return atomic_load_explicit(&((ll_quote_slot *)s)->seq, memory_order_acquire);
}

/* ===================================================================== */
/* Part 3: benchmarks, timed inside C                                    */
/* ===================================================================== */

/* n x (one write + one read) of the quote in this process.  Returns the
 * elapsed ns, or a negative error.  The checksum goes to a volatile sink so
 * the compiler cannot drop the reads (atomic loads are not elided anyway). */
static volatile uint64_t sink;

LL_EXPORT int64_t ll_bench_access(ll_quote_slot *s, int64_t n)
{
    if (s == NULL || n <= 0)
        return LL_EINVAL;
    ll_quote q;
    uint64_t seq, sum = 0;
    uint64_t t0 = ll_now_ns();
    for (int64_t i = 0; i < n; i++) {
        ll_quote_write(s, 7, 1000000 + i, 1000100 + i, 100, 200, (uint64_t)i);
        if (ll_quote_read(s, &q, &seq, 1000000000ull) != LL_OK)
            return LL_ETIMEDOUT;
        sum += (uint64_t)q.bid;
    }
    uint64_t t1 = ll_now_ns();
    sink = sum;
    return (int64_t)(t1 - t0);
}

/* Visibility benchmark, writer side.  Waits for the reader to say it is
 * spinning, then n times: stamp a quote with the clock and publish it, wait
 * until the reader acknowledges that sequence number, pause gap_ns (so the
 * reader is back in its spin loop and the lines have settled), repeat.
 * Returns LL_OK, or LL_ETIMEDOUT if the reader stops answering. */
LL_EXPORT int ll_vis_writer(ll_quote_channel *ch, int64_t n, int64_t gap_ns, int64_t timeout_ns)
{
    if (ch == NULL || n <= 0 || gap_ns < 0 || timeout_ns <= 0)
        return LL_EINVAL;
    /* acquire: pairs with the reader's release store of ready. */
    uint64_t t_start = ll_now_ns();
    while (!atomic_load_explicit(&ch->ready, memory_order_acquire)) {
        if (ll_now_ns() - t_start > (uint64_t)timeout_ns)
            return LL_ETIMEDOUT;
        ll_cpu_relax();
    }
    for (int64_t i = 0; i < n; i++) {
        uint64_t t = ll_now_ns();
        ll_quote_write(&ch->quote, 1, 1000000 + i, 1000100 + i, 100, 100, t);
        uint64_t want = atomic_load_explicit(&ch->quote.seq, memory_order_relaxed);
        /* acquire: once we see the ack, the reader is done with this quote. */
        while (atomic_load_explicit(&ch->ack, memory_order_acquire) != want) {
            if (ll_now_ns() - t > (uint64_t)timeout_ns)
                return LL_ETIMEDOUT;
            ll_cpu_relax();
        }
        uint64_t until = ll_now_ns() + (uint64_t)gap_ns;
        while (ll_now_ns() < until)
            ll_cpu_relax();
    }
    return LL_OK;
}

/* Visibility benchmark, reader side: spin on the sequence number; each time a
 * new even value appears read the quote and record now - ts_ns, the one-way
 * time from the writer's clock read to our seeing the quote (it includes one
 * clock read, ~20 ns; see `latencylab machine`).  Returns LL_OK with lat_ns[]
 * filled, or LL_ETIMEDOUT if no new quote arrives within timeout_ns. */
LL_EXPORT int ll_vis_reader(ll_quote_channel *ch, int64_t n, int64_t *lat_ns, int64_t timeout_ns)
{
    if (ch == NULL || lat_ns == NULL || n <= 0 || timeout_ns <= 0)
        return LL_EINVAL;
    uint64_t last = atomic_load_explicit(&ch->quote.seq, memory_order_acquire);
    /* release: everything before (our initial read) is done when the writer sees ready. */
    atomic_store_explicit(&ch->ready, 1, memory_order_release);
    ll_quote q;
    for (int64_t i = 0; i < n; i++) {
        uint64_t t_wait = ll_now_ns();
        uint64_t seq;
        for (uint32_t spins = 0;; spins++) {
            seq = atomic_load_explicit(&ch->quote.seq, memory_order_acquire);
            if (seq != last && !(seq & 1))
                break;
            if ((spins & 255) == 255 && ll_now_ns() - t_wait > (uint64_t)timeout_ns)
                return LL_ETIMEDOUT;
            ll_cpu_relax();
        }
        if (ll_quote_read(&ch->quote, &q, &seq, (uint64_t)timeout_ns) != LL_OK)
            return LL_ETIMEDOUT;
        uint64_t now = ll_now_ns();
        lat_ns[i] = (int64_t)(now - q.ts_ns);
        last = seq;
        /* release: our reads of this quote are complete before the writer
         * sees the ack and overwrites it. */
        atomic_store_explicit(&ch->ack, seq, memory_order_release);
    }
    return LL_OK;
}

/* ===================================================================== */
/* Layout facts for the Python side to check itself against              */
/* ===================================================================== */
LL_EXPORT int64_t ll_layout_info(const char *what)
{
    static const ll_fact facts[] = {
        {"header_size", LL_SEG_HEADER_SIZE},
        {"magic", (int64_t)LL_SEG_MAGIC},
        {"version", LL_SEG_VERSION},
        {"name_max", LL_SEG_NAME_MAX},
        {"max_payload", (int64_t)LL_SEG_MAX_PAYLOAD},
        {"kind_raw", LL_KIND_RAW},
        {"kind_quote", LL_KIND_QUOTE},
        {"kind_counters", LL_KIND_COUNTERS},
        {"kind_ring", LL_KIND_RING},
        {"kind_control", LL_KIND_CONTROL},
        {"lock_attached", LL_SEG_LOCK_ATTACHED},
        {"lock_bytes", LL_SEG_LOCK_BYTES},
        {"hdr.magic", offsetof(ll_seg_header, magic)},
        {"hdr.version", offsetof(ll_seg_header, version)},
        {"hdr.header_size", offsetof(ll_seg_header, header_size)},
        {"hdr.payload_size", offsetof(ll_seg_header, payload_size)},
        {"hdr.kind", offsetof(ll_seg_header, kind)},
        {"hdr.creator_pid", offsetof(ll_seg_header, creator_pid)},
        {"slot.size", sizeof(ll_quote_slot)},
        {"slot.seq", offsetof(ll_quote_slot, seq)},
        {"slot.instrument", offsetof(ll_quote_slot, instrument)},
        {"slot.bid", offsetof(ll_quote_slot, bid)},
        {"slot.ask", offsetof(ll_quote_slot, ask)},
        {"slot.bid_size", offsetof(ll_quote_slot, bid_size)},
        {"slot.ask_size", offsetof(ll_quote_slot, ask_size)},
        {"slot.ts_ns", offsetof(ll_quote_slot, ts_ns)},
        {"channel.size", sizeof(ll_quote_channel)},
        {"channel.ack", offsetof(ll_quote_channel, ack)},
        {"channel.ready", offsetof(ll_quote_channel, ready)},
    };
    return ll_lookup_fact(facts, sizeof facts / sizeof facts[0], what);
}
