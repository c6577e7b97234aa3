/*
 * spsc_ring.c - lab 3: a lock-free single-producer/single-consumer ring in
 * shared memory (the layout is in spsc_layout.h).
 *
 * The whole algorithm is two counters that only grow:
 *   head  the next slot the producer will write (only the producer stores it)
 *   tail  the next slot the consumer will read  (only the consumer stores it)
 * head - tail is the number of messages in the ring; slot i lives at
 * slots[(i & mask) * slot_size].  Because each counter has exactly one writer,
 * no compare-and-swap and no lock is needed: a release store publishes a
 * counter, an acquire load observes it.
 *
 * The cached-index trick: the producer keeps its last view of tail, and only
 * re-reads the shared tail when the ring *looks* full; the consumer keeps its
 * last view of head and re-reads it only when the ring looks empty.  Most
 * operations then touch no line the other core is writing, which is what
 * makes a ring operation cost a few ns instead of a cache-line transfer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "spsc_ring.h"

/* Process-local state of one end of the ring: never shared. */
struct ll_ring {
    ll_ring_layout *l;
    uint64_t capacity, mask;
    uint32_t slot_size;
    int role;        /* LL_RING_PRODUCER or LL_RING_CONSUMER */
    uint32_t pid;    /* ours, as recorded in the header */
    uint64_t index;  /* our own counter (head or tail): we are its only writer */
    uint64_t cached; /* our last view of the other side's counter */
    int use_cache;   /* 0: re-read the other side's counter on every operation (the naive ring, for comparison) */
    uint32_t since_heartbeat;
};

static inline uint8_t *slot(const ll_ring *r, uint64_t i)
{
    return r->l->slots + (i & r->mask) * r->slot_size;
}

LL_EXPORT uint64_t ll_ring_bytes(uint64_t capacity, uint32_t slot_size)
{
    return offsetof(ll_ring_layout, slots) + capacity * slot_size;
}

LL_EXPORT int ll_ring_check_geometry(uint64_t capacity, uint32_t slot_size)
{
    if (capacity < 2 || capacity > LL_RING_MAX_CAPACITY || (capacity & (capacity - 1)) != 0)
        return LL_EINVAL;
    if (slot_size < LL_RING_MIN_SLOT || slot_size > LL_RING_MAX_SLOT || slot_size % 8 != 0)
        return LL_EBADSIZE;
    return LL_OK;
}

/* Write the header of a new ring into a zero-filled payload of `size` bytes. */
LL_EXPORT int ll_ring_init(void *payload, uint64_t size, uint64_t capacity, uint32_t slot_size)
{
    int rc = ll_ring_check_geometry(capacity, slot_size);
    if (rc != LL_OK)
        return rc;
    if (payload == NULL || ((uintptr_t)payload & (LL_PAD - 1)) != 0 || size < ll_ring_bytes(capacity, slot_size))
        return LL_EINVAL;
    ll_ring_layout *l = payload;
    l->hdr.version = LL_RING_VERSION;
    l->hdr.slot_size = slot_size;
    l->hdr.capacity = capacity;
    atomic_store_explicit(&l->prod.heartbeat, ll_now_ns(), memory_order_relaxed);
    /* release: the geometry above is visible to whoever sees the magic */
    atomic_store_explicit(&l->hdr.magic, LL_RING_MAGIC, memory_order_release);
    return LL_OK;
}

/* Check the header and claim a role.  A role held by a live process is
 * refused (a second producer); one held by a dead process is taken over. */
LL_EXPORT ll_ring *ll_ring_open(void *payload, uint64_t size, int role, int *err)
{
    ll_ring_layout *l = payload;
    int rc = LL_OK;
    if (payload == NULL || size < sizeof(ll_ring_layout) || (role != LL_RING_PRODUCER && role != LL_RING_CONSUMER))
        rc = LL_EINVAL;
    else if (atomic_load_explicit(&l->hdr.magic, memory_order_acquire) != LL_RING_MAGIC)
        rc = LL_EBADMAGIC;
    else if (l->hdr.version != LL_RING_VERSION)
        rc = LL_EBADVERSION;
    else if (ll_ring_check_geometry(l->hdr.capacity, l->hdr.slot_size) != LL_OK ||
             size < ll_ring_bytes(l->hdr.capacity, l->hdr.slot_size))
        rc = LL_EBADLAYOUT;
    if (rc != LL_OK) {
        *err = rc;
        return NULL;
    }
    uint32_t me = (uint32_t)getpid();
    _Atomic uint32_t *holder = role == LL_RING_PRODUCER ? &l->hdr.producer_pid : &l->hdr.consumer_pid;
    uint32_t cur = atomic_load_explicit(holder, memory_order_acquire);
    for (;;) {
        if (cur != 0 && cur != me && ll_pid_alive(cur)) {
            *err = LL_EBUSY;
            return NULL;
        }
        /* acq_rel: we see everything the previous holder published, and the
         * next process to look sees our claim. */
        if (atomic_compare_exchange_weak_explicit(holder, &cur, me, memory_order_acq_rel, memory_order_acquire))
            break;
    }
    ll_ring *r = calloc(1, sizeof *r);
    if (r == NULL) {
        atomic_store_explicit(holder, 0, memory_order_release);
        *err = LL_ENORES;
        return NULL;
    }
    r->l = l;
    r->capacity = l->hdr.capacity;
    r->mask = r->capacity - 1;
    r->slot_size = l->hdr.slot_size;
    r->role = role;
    r->pid = me;
    r->use_cache = 1;
    if (role == LL_RING_PRODUCER) {
        /* acquire: the consumer's reads of old slots are done before we reuse them */
        r->index = atomic_load_explicit(&l->prod.head, memory_order_acquire);
        r->cached = atomic_load_explicit(&l->cons.tail, memory_order_acquire);
        atomic_store_explicit(&l->prod.closed, 0, memory_order_relaxed);
        atomic_store_explicit(&l->prod.heartbeat, ll_now_ns(), memory_order_relaxed);
    } else {
        r->index = atomic_load_explicit(&l->cons.tail, memory_order_acquire);
        r->cached = atomic_load_explicit(&l->prod.head, memory_order_acquire);
    }
    *err = LL_OK;
    return r;
}

/* Give the role back.  A producer's close also marks the ring closed: the
 * consumer drains what is left, then gets LL_ECLOSED. */
LL_EXPORT void ll_ring_close(ll_ring *r)
{
    if (r == NULL)
        return;
    if (r->role == LL_RING_PRODUCER) {
        /* release: every message published before is visible with the flag */
        atomic_store_explicit(&r->l->prod.closed, 1, memory_order_release);
        atomic_store_explicit(&r->l->hdr.producer_pid, 0, memory_order_release);
    } else {
        atomic_store_explicit(&r->l->hdr.consumer_pid, 0, memory_order_release);
    }
    free(r);
}

/* Turn the cached-index trick off (0) or on (1, the default): with it off,
 * every push re-reads tail and every pop re-reads head, as a naive ring does -
 * lab 3 measures the difference. */
LL_EXPORT void ll_ring_set_cache(ll_ring *r, int enabled) { r->use_cache = enabled != 0; }

LL_EXPORT uint32_t ll_ring_slot_size(const ll_ring *r) { return r->slot_size; }
LL_EXPORT uint64_t ll_ring_capacity(const ll_ring *r) { return r->capacity; }

/* Messages in the ring, as seen from this end (exact for our own counter). */
LL_EXPORT uint64_t ll_ring_size(const ll_ring *r)
{
    uint64_t head = atomic_load_explicit(&r->l->prod.head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&r->l->cons.tail, memory_order_acquire);
    return head - tail;
}

static inline void beat(ll_ring *r)
{
    /* A clock read costs ~16 ns, as much as a push: once every 1024 pushes. */
    if (++r->since_heartbeat >= 1024) {
        r->since_heartbeat = 0;
        atomic_store_explicit(&r->l->prod.heartbeat, ll_now_ns(), memory_order_relaxed);
    }
}

/* ---------------------------------------------------------------- producer */

/* Free slots, refreshing the cached tail only when the cache says "full". */
static inline uint64_t free_slots(ll_ring *r, uint64_t want)
{
    uint64_t free = r->capacity - (r->index - r->cached);
    if (free < want || !r->use_cache) {
        /* acquire: pairs with the consumer's release store of tail - the
         * consumer has finished reading every slot below it, so we may
         * overwrite them. */
        r->cached = atomic_load_explicit(&r->l->cons.tail, memory_order_acquire);
        free = r->capacity - (r->index - r->cached);
    }
    return free;
}

/* One message of len <= slot_size bytes (a shorter one is zero-padded:
 * readers always get slot_size bytes).  1 if pushed, 0 if the ring is full. */
LL_EXPORT int ll_ring_push(ll_ring *r, const void *msg, uint32_t len)
{
    if (len > r->slot_size)
        return LL_EINVAL;
    if (free_slots(r, 1) == 0)
        return 0;
    uint8_t *dst = slot(r, r->index);
    memcpy(dst, msg, len);
    if (len < r->slot_size)
        memset(dst + len, 0, r->slot_size - len);
    r->index++;
    /* release: the message bytes above are visible to a consumer that sees
     * the new head (it loads head with acquire). */
    atomic_store_explicit(&r->l->prod.head, r->index, memory_order_release);
    beat(r);
    return 1;
}

/* Up to n messages of slot_size bytes each from msgs; returns how many fit.
 * One release store publishes the whole batch. */
LL_EXPORT uint64_t ll_ring_push_many(ll_ring *r, const void *msgs, uint64_t n)
{
    uint64_t k = free_slots(r, n);
    if (k > n)
        k = n;
    if (k == 0)
        return 0;
    uint64_t start = r->index & r->mask;
    uint64_t first = r->capacity - start < k ? r->capacity - start : k; /* up to the wrap */
    memcpy(slot(r, r->index), msgs, first * r->slot_size);
    memcpy(r->l->slots, (const uint8_t *)msgs + first * r->slot_size, (k - first) * r->slot_size);
    r->index += k;
    atomic_store_explicit(&r->l->prod.head, r->index, memory_order_release);
    r->since_heartbeat += (uint32_t)(k < 1024 ? k : 1024);
    beat(r);
    return k;
}

/* ---------------------------------------------------------------- consumer */

static inline uint64_t available(ll_ring *r, uint64_t want)
{
    uint64_t avail = r->cached - r->index;
    if (avail < want || !r->use_cache) {
        /* acquire: pairs with the producer's release store of head - every
         * slot below it holds a complete message. */
        r->cached = atomic_load_explicit(&r->l->prod.head, memory_order_acquire);
        avail = r->cached - r->index;
    }
    return avail;
}

/* One message into out (slot_size bytes).  1 if popped, 0 if the ring is empty. */
LL_EXPORT int ll_ring_pop(ll_ring *r, void *out)
{
    if (available(r, 1) == 0)
        return 0;
    memcpy(out, slot(r, r->index), r->slot_size);
    r->index++;
    /* release: our copy of the slot is complete before the producer can see
     * the slot free and overwrite it. */
    atomic_store_explicit(&r->l->cons.tail, r->index, memory_order_release);
    return 1;
}

/* Up to max messages into out (max x slot_size bytes); returns how many. */
LL_EXPORT uint64_t ll_ring_pop_many(ll_ring *r, void *out, uint64_t max)
{
    uint64_t k = available(r, max);
    if (k > max)
        k = max;
    if (k == 0)
        return 0;
    uint64_t start = r->index & r->mask;
    uint64_t first = r->capacity - start < k ? r->capacity - start : k;
    memcpy(out, slot(r, r->index), first * r->slot_size);
    memcpy((uint8_t *)out + first * r->slot_size, r->l->slots, (k - first) * r->slot_size);
    r->index += k;
    atomic_store_explicit(&r->l->cons.tail, r->index, memory_order_release);
    return k;
}

/* ------------------------------------------------------- waiting, liveness */

/* Why the other side is not answering: LL_ECLOSED (producer closed, ring
 * drained: consumer only), LL_EPEERDEAD (its process is gone), or LL_OK
 * (alive, just slow - or not attached yet). */
LL_EXPORT int ll_ring_peer_state(ll_ring *r)
{
    if (r->role == LL_RING_CONSUMER) {
        /* acquire: pairs with ll_ring_close's release, so head is final */
        if (atomic_load_explicit(&r->l->prod.closed, memory_order_acquire) &&
            atomic_load_explicit(&r->l->prod.head, memory_order_acquire) == r->index)
            return LL_ECLOSED;
        uint32_t pid = atomic_load_explicit(&r->l->hdr.producer_pid, memory_order_acquire);
        if (pid != 0 && !ll_pid_alive(pid))
            return LL_EPEERDEAD;
    } else {
        uint32_t pid = atomic_load_explicit(&r->l->hdr.consumer_pid, memory_order_acquire);
        if (pid != 0 && !ll_pid_alive(pid))
            return LL_EPEERDEAD;
    }
    return LL_OK;
}

/* ns since the producer's last heartbeat (pushes beat every 1024 messages,
 * and while waiting for space). */
LL_EXPORT uint64_t ll_ring_heartbeat_age_ns(const ll_ring *r)
{
    /* The heartbeat first, then the clock, and never below 0: a beat stored
     * after our clock read is newer than "now", and the unsigned difference
     * would wrap to ~584 years. */
    uint64_t beat = atomic_load_explicit(&r->l->prod.heartbeat, memory_order_relaxed);
    uint64_t now = ll_now_ns();
    return now > beat ? now - beat : 0;
}

/* Spin (with pause) until the ring has space (producer) or a message
 * (consumer): LL_OK, or LL_EPEERDEAD / LL_ECLOSED (checked every ~100 us of
 * waiting, not every spin), or LL_ETIMEDOUT after timeout_ns.  A waiting
 * producer keeps its heartbeat fresh. */
static int wait_ready(ll_ring *r, uint64_t timeout_ns)
{
    uint64_t t0 = 0, next_check = 0;
    for (uint32_t spins = 0;; spins++) {
        if (r->role == LL_RING_PRODUCER ? free_slots(r, 1) > 0 : available(r, 1) > 0)
            return LL_OK;
        ll_cpu_relax();
        if ((spins & 255) != 255)
            continue;
        uint64_t now = ll_now_ns();
        if (t0 == 0)
            t0 = next_check = now;
        if (r->role == LL_RING_PRODUCER)
            atomic_store_explicit(&r->l->prod.heartbeat, now, memory_order_relaxed);
        if (now >= next_check) {
            int st = ll_ring_peer_state(r);
            if (st != LL_OK) /* one last look: the message or the space may have just come */
                return (r->role == LL_RING_PRODUCER ? free_slots(r, 1) : available(r, 1)) > 0 ? LL_OK : st;
            next_check = now + 100000;
        }
        if (now - t0 > timeout_ns)
            return LL_ETIMEDOUT;
    }
}

LL_EXPORT int ll_ring_push_wait(ll_ring *r, const void *msg, uint32_t len, uint64_t timeout_ns)
{
    if (len > r->slot_size)
        return LL_EINVAL;
    int rc = wait_ready(r, timeout_ns);
    return rc == LL_OK ? ll_ring_push(r, msg, len) : rc;
}

LL_EXPORT int ll_ring_pop_wait(ll_ring *r, void *out, uint64_t timeout_ns)
{
    int rc = wait_ready(r, timeout_ns);
    return rc == LL_OK ? ll_ring_pop(r, out) : rc;
}

/* ---------------------------------------- sequenced streams (stress + bench) */
/* Message i of a stream: bytes 0..7 = i, bytes 8..15 = i * LL_RING_SEQ_MUL (a
 * checksum that a torn, stale or shifted slot cannot match), the rest zero.
 * The consumer checks every message: lost, duplicated or reordered messages
 * all show up as a wrong sequence number. */
static inline void seq_fill(uint8_t *slot_bytes, uint64_t i)
{
    uint64_t check = i * LL_RING_SEQ_MUL;
    memcpy(slot_bytes, &i, 8);
    memcpy(slot_bytes + 8, &check, 8);
}

static inline int seq_ok(const uint8_t *slot_bytes, uint64_t want)
{
    uint64_t i, check;
    memcpy(&i, slot_bytes, 8);
    memcpy(&check, slot_bytes + 8, 8);
    return i == want && check == want * LL_RING_SEQ_MUL;
}

static int check_stream(const ll_ring *r, int role, uint32_t batch)
{
    return r != NULL && r->role == role && r->slot_size >= 16 && batch > 0 && batch <= r->capacity;
}

/* Push messages start..start+n-1, `batch` at a time (1: ll_ring_push, more:
 * ll_ring_push_many).  Returns the elapsed ns, or a negative error
 * (LL_ETIMEDOUT, LL_EPEERDEAD) - timed inside C, so it is also the
 * producer's benchmark kernel. */
LL_EXPORT int64_t ll_ring_produce_seq(ll_ring *r, uint64_t start, uint64_t n, uint32_t batch, uint64_t timeout_ns)
{
    if (!check_stream(r, LL_RING_PRODUCER, batch))
        return LL_EINVAL;
    uint8_t *buf = calloc(batch, r->slot_size); /* setup, not the timed loop */
    if (buf == NULL)
        return LL_ENORES;
    int rc = LL_OK;
    uint64_t t0 = ll_now_ns();
    for (uint64_t i = start, end = start + n; i < end && rc == LL_OK;) {
        uint64_t k = end - i < batch ? end - i : batch;
        for (uint64_t j = 0; j < k; j++)
            seq_fill(buf + j * r->slot_size, i + j);
        for (uint64_t done = 0; done < k;) {
            uint64_t got = batch == 1 ? (uint64_t)ll_ring_push(r, buf, r->slot_size)
                                      : ll_ring_push_many(r, buf + done * r->slot_size, k - done);
            if (got == 0 && (rc = wait_ready(r, timeout_ns)) != LL_OK)
                break;
            done += got;
        }
        i += k;
    }
    uint64_t t1 = ll_now_ns();
    free(buf);
    return rc == LL_OK ? (int64_t)(t1 - t0) : rc;
}

/* Pop n messages expecting start..start+n-1, `batch` at a time; *bad counts
 * the messages that were not the expected one.  Returns elapsed ns or an
 * error (LL_ETIMEDOUT, LL_EPEERDEAD, LL_ECLOSED). */
LL_EXPORT int64_t ll_ring_consume_seq(ll_ring *r, uint64_t start, uint64_t n, uint32_t batch, uint64_t timeout_ns,
                                      uint64_t *bad)
{
    if (!check_stream(r, LL_RING_CONSUMER, batch) || bad == NULL)
        return LL_EINVAL;
    uint8_t *buf = calloc(batch, r->slot_size);
    if (buf == NULL)
        return LL_ENORES;
    int rc = LL_OK;
    *bad = 0;
    uint64_t t0 = ll_now_ns();
    for (uint64_t want = start, end = start + n; want < end;) {
        uint64_t max = end - want < batch ? end - want : batch;
        uint64_t got = batch == 1 ? (uint64_t)ll_ring_pop(r, buf) : ll_ring_pop_many(r, buf, max);
        if (got == 0) {
            if ((rc = wait_ready(r, timeout_ns)) != LL_OK)
                break;
            continue;
        }
        for (uint64_t j = 0; j < got; j++)
            *bad += !seq_ok(buf + j * r->slot_size, want + j);
        want += got;
    }
    uint64_t t1 = ll_now_ns();
    free(buf);
    return rc == LL_OK ? (int64_t)(t1 - t0) : rc;
}

/* ------------------------------------------------------------ ping-pong */
/* Round trips over two rings: message i goes out on `out`, the echo process
 * sends it back on `in`; rtt_ns[i] is the time from just before the push to
 * just after the pop.  Returns LL_OK, an error, or LL_EINVAL if an echo is
 * not the message sent. */
LL_EXPORT int ll_ring_pingpong(ll_ring *out, ll_ring *in, uint64_t n, int64_t *rtt_ns, uint64_t timeout_ns)
{
    if (!check_stream(out, LL_RING_PRODUCER, 1) || !check_stream(in, LL_RING_CONSUMER, 1) || rtt_ns == NULL ||
        out->slot_size != in->slot_size)
        return LL_EINVAL;
    uint8_t *msg = calloc(2, out->slot_size); /* the message, then the echo */
    if (msg == NULL)
        return LL_ENORES;
    uint8_t *echo = msg + out->slot_size;
    int rc = LL_OK;
    for (uint64_t i = 0; i < n && rc == LL_OK; i++) {
        seq_fill(msg, i);
        uint64_t t0 = ll_now_ns();
        while (ll_ring_push(out, msg, out->slot_size) == 0)
            if ((rc = wait_ready(out, timeout_ns)) != LL_OK)
                break;
        while (rc == LL_OK && ll_ring_pop(in, echo) == 0)
            rc = wait_ready(in, timeout_ns);
        rtt_ns[i] = (int64_t)(ll_now_ns() - t0);
        if (rc == LL_OK && !seq_ok(echo, i))
            rc = LL_EINVAL;
    }
    free(msg);
    return rc;
}

/* The other end: n times, pop a message from `in` and push it back on `out`. */
LL_EXPORT int ll_ring_echo(ll_ring *in, ll_ring *out, uint64_t n, uint64_t timeout_ns)
{
    if (!check_stream(in, LL_RING_CONSUMER, 1) || !check_stream(out, LL_RING_PRODUCER, 1) ||
        out->slot_size != in->slot_size)
        return LL_EINVAL;
    uint8_t *msg = malloc(in->slot_size);
    if (msg == NULL)
        return LL_ENORES;
    int rc = LL_OK;
    for (uint64_t i = 0; i < n && rc == LL_OK; i++) {
        while (ll_ring_pop(in, msg) == 0)
            if ((rc = wait_ready(in, timeout_ns)) != LL_OK)
                break;
        while (rc == LL_OK && ll_ring_push(out, msg, out->slot_size) == 0)
            rc = wait_ready(out, timeout_ns);
    }
    free(msg);
    return rc;
}

/* ------------------------------------------------------ layout facts */
LL_EXPORT int64_t ll_ring_layout_info(const char *what)
{
    static const ll_fact facts[] = {
        {"magic", (int64_t)LL_RING_MAGIC},
        {"version", LL_RING_VERSION},
        {"min_slot", LL_RING_MIN_SLOT},
        {"max_slot", LL_RING_MAX_SLOT},
        {"max_capacity", (int64_t)LL_RING_MAX_CAPACITY},
        {"hdr.magic", offsetof(ll_ring_header, magic)},
        {"hdr.version", offsetof(ll_ring_header, version)},
        {"hdr.slot_size", offsetof(ll_ring_header, slot_size)},
        {"hdr.capacity", offsetof(ll_ring_header, capacity)},
        {"hdr.producer_pid", offsetof(ll_ring_header, producer_pid)},
        {"hdr.consumer_pid", offsetof(ll_ring_header, consumer_pid)},
        {"prod.head", offsetof(ll_ring_layout, prod) + offsetof(ll_ring_producer_block, head)},
        {"prod.heartbeat", offsetof(ll_ring_layout, prod) + offsetof(ll_ring_producer_block, heartbeat)},
        {"prod.closed", offsetof(ll_ring_layout, prod) + offsetof(ll_ring_producer_block, closed)},
        {"cons.tail", offsetof(ll_ring_layout, cons) + offsetof(ll_ring_consumer_block, tail)},
        {"slots", offsetof(ll_ring_layout, slots)},
    };
    return ll_lookup_fact(facts, sizeof facts / sizeof facts[0], what);
}
