/*
 * spsc_ring.c - lab 3: a lock-free single-producer/single-consumer ring in
 * shared memory (the layout is in spsc_layout.h).
 *
 * The whole algorithm is two counters that only grow:
 *   head  the next slot the producer will write (only the producer stores it)
 *   tail  the next slot the consumer will read  (only the consumer stores it)
 * head - tail is the number of messages in the ring; message i lives in
 * slots[(i & mask) * slot_size].  Because each counter has exactly one writer,
 * no compare-and-swap and no lock is needed: a release store publishes, an
 * acquire load observes.
 *
 * Two flavours, which differ only in how the consumer learns that message i
 * is there:
 *   index     it reads head (> i).  Per message two lines move between the
 *             cores: the slot's, and head's (lab 3 section 6).
 *   seq-slot  it reads the slot's own sequence word (== i + 1), written by the
 *             producer after the message.  head's line leaves the path: one
 *             line moves per message.
 *
 * The cached-index trick (both flavours for tail, the index flavour for head):
 * the producer keeps its last view of tail and re-reads the shared tail only
 * when the ring *looks* full; the consumer keeps its last view of head and
 * re-reads it only when the ring looks empty.  Compiled out with
 * -DLL_RING_NO_CACHE (libspsc_ring_nocache.so), the naive ring.
 *
 * Memory orders.  Each release store and the acquire load it pairs with carry
 * one tag, here, in the Python ring (pyimpl/spsc_ring.py) and in the guide:
 *   [P1 -> C1]  head:       producer publishes (index flavour)  -> consumer sees messages
 *   [P3 -> C3]  slot seq:   producer publishes (seq-slot)       -> consumer sees the message
 *   [C2 -> P2]  tail:       consumer frees slots                -> producer may overwrite them
 *   [R1 -> R2]  magic:      ll_ring_init                        -> ll_ring_open
 *   [X1 -> X2]  closed:     producer closes                     -> consumer knows head is final
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "spsc_ring.h"

#ifdef LL_RING_NO_CACHE
#define LL_RING_CACHED 0 /* the naive ring: every operation reads the other side's counter */
#else
#define LL_RING_CACHED 1
#endif

/* Process-local state of one end of the ring: never shared. */
struct ll_ring {
    ll_ring_layout *l;
    uint64_t capacity, mask;
    uint32_t slot_size;
    uint32_t msg_size; /* slot_size (index) or slot_size - 8 (seq-slot) */
    uint32_t flavour;
    int role;          /* LL_RING_PRODUCER or LL_RING_CONSUMER */
    int lock_fd;       /* our own open file description: it holds the role's lock */
    uint64_t index;    /* our own counter (head or tail): we are its only writer */
    uint64_t cached;   /* our last view of the other side's counter */
    uint8_t *stage;    /* seq-slot producer: stage_slots whole slots, where a batch is laid out first */
    uint64_t stage_slots;
};

#define LL_RING_STAGE_BYTES 65536u /* a seq-slot producer's staging area (allocated at open, not per batch) */

static inline uint8_t *slot(const ll_ring *r, uint64_t i)
{
    return r->l->slots + (i & r->mask) * r->slot_size;
}

static inline _Atomic uint64_t *slot_seq(uint8_t *s)
{
    return (_Atomic uint64_t *)(void *)s; /* slots are 8-byte aligned: slot_size % 8 == 0, slots at 384 */
}

LL_EXPORT uint64_t ll_ring_bytes(uint64_t capacity, uint32_t slot_size)
{
    return offsetof(ll_ring_layout, slots) + capacity * slot_size;
}

LL_EXPORT int ll_ring_check_geometry(uint64_t capacity, uint32_t slot_size, uint32_t flavour)
{
    if (flavour != LL_RING_INDEX && flavour != LL_RING_SEQ_SLOT)
        return LL_EINVAL;
    if (capacity < 2 || capacity > LL_RING_MAX_CAPACITY || (capacity & (capacity - 1)) != 0)
        return LL_EINVAL;
    uint32_t min_slot = flavour == LL_RING_SEQ_SLOT ? LL_RING_MIN_SLOT + LL_RING_SEQ_BYTES : LL_RING_MIN_SLOT;
    if (slot_size < min_slot || slot_size > LL_RING_MAX_SLOT || slot_size % 8 != 0)
        return LL_EBADSIZE;
    return LL_OK;
}

LL_EXPORT int ll_ring_cached_index(void) { return LL_RING_CACHED; }

/* Write the header of a new ring into a zero-filled payload of `size` bytes. */
LL_EXPORT int ll_ring_init(void *payload, uint64_t size, uint64_t capacity, uint32_t slot_size, uint32_t flavour)
{
    int rc = ll_ring_check_geometry(capacity, slot_size, flavour);
    if (rc != LL_OK)
        return rc;
    if (payload == NULL || ((uintptr_t)payload & (LL_PAD - 1)) != 0 || size < ll_ring_bytes(capacity, slot_size))
        return LL_EINVAL;
    ll_ring_layout *l = payload;
    l->hdr.version = LL_RING_VERSION;
    l->hdr.slot_size = slot_size;
    l->hdr.capacity = capacity;
    l->hdr.flavour = flavour;
    atomic_store_explicit(&l->prod.heartbeat, ll_now_ns(), memory_order_relaxed);
    /* [R1] release: the geometry above is visible to whoever sees the magic (R2) */
    atomic_store_explicit(&l->hdr.magic, LL_RING_MAGIC, memory_order_release);
    return LL_OK;
}

static int check_header(const ll_ring_layout *l, uint64_t size)
{
    /* [R2] acquire: pairs with R1, so the geometry read below is the one ll_ring_init wrote */
    if (atomic_load_explicit(&l->hdr.magic, memory_order_acquire) != LL_RING_MAGIC)
        return LL_EBADMAGIC;
    if (l->hdr.version != LL_RING_VERSION)
        return LL_EBADVERSION;
    if (ll_ring_check_geometry(l->hdr.capacity, l->hdr.slot_size, l->hdr.flavour) != LL_OK ||
        size < ll_ring_bytes(l->hdr.capacity, l->hdr.slot_size))
        return LL_EBADLAYOUT;
    return LL_OK;
}

static inline _Atomic uint32_t *role_pid(ll_ring_layout *l, int role)
{
    return role == LL_RING_PRODUCER ? &l->hdr.producer_pid : &l->hdr.consumer_pid;
}

static inline int64_t role_lock_byte(int role)
{
    return role == LL_RING_PRODUCER ? LL_RING_LOCK_PRODUCER : LL_RING_LOCK_CONSUMER;
}

/* A seq-slot ring publishes with the slot's word, not with head: a producer
 * killed between the two stores (or in the middle of a batch) left head
 * behind what it published, or words of messages it never published.  A new
 * producer therefore (1) continues after the last message the words publish
 * - from head, or from tail if the consumer already took one head does not
 * count - and (2) rewrites the word of every free slot j to what the previous
 * lap left there, j - capacity + 1, so that a word the dead producer wrote for
 * a message beyond that point (a batch cut short before its first word, the
 * one that opens it) can never pass for a message: the consumer tests a word
 * for equality with j + 1, which j - capacity + 1 never is (0 would be, for
 * message 2^64 - 1).  Relaxed stores: our own later release store of that word
 * (P3) comes after these in program order. */
static inline int seq_ready(const ll_ring *r, uint64_t i);

static void recover_seq_producer(ll_ring *r)
{
    /* head - tail in 0..capacity, modulo 2^64; more means the consumer is past head */
    uint64_t tail = r->cached, i = r->index - tail > r->capacity ? tail : r->index;
    while (i - tail < r->capacity && seq_ready(r, i))
        i++;
    for (uint64_t j = i; j - tail < r->capacity; j++)
        atomic_store_explicit(slot_seq(slot(r, j)), j - r->capacity + 1, memory_order_relaxed);
    r->index = i;
    atomic_store_explicit(&r->l->prod.head, i, memory_order_relaxed);
}

/* Check the header and claim a role: the role's lock on our own open file
 * description.  A role held by anyone - another process, or another open
 * in this one - is refused (LL_EBUSY); one whose holder died is free again,
 * because the kernel dropped the dead holder's lock. */
LL_EXPORT ll_ring *ll_ring_open(void *payload, uint64_t size, int fd, int role, int *err)
{
    ll_ring_layout *l = payload;
    int rc = LL_OK;
    if (payload == NULL || size < sizeof(ll_ring_layout) || fd < 0 ||
        (role != LL_RING_PRODUCER && role != LL_RING_CONSUMER))
        rc = LL_EINVAL;
    else
        rc = check_header(l, size);
    if (rc != LL_OK) {
        *err = rc;
        return NULL;
    }
    int lock_fd = ll_ofd_reopen(fd);
    if (lock_fd < 0) {
        *err = lock_fd;
        return NULL;
    }
    rc = ll_ofd_lock(lock_fd, role_lock_byte(role), 1, F_WRLCK);
    ll_ring *r = rc == LL_OK ? calloc(1, sizeof *r) : NULL;
    if (r == NULL) {
        close(lock_fd); /* drops the lock if we took it */
        *err = rc == LL_OK ? LL_ENORES : rc;
        return NULL;
    }
    r->l = l;
    r->capacity = l->hdr.capacity;
    r->mask = r->capacity - 1;
    r->slot_size = l->hdr.slot_size;
    r->flavour = l->hdr.flavour;
    r->msg_size = r->flavour == LL_RING_SEQ_SLOT ? r->slot_size - LL_RING_SEQ_BYTES : r->slot_size;
    r->role = role;
    r->lock_fd = lock_fd;
    if (role == LL_RING_PRODUCER && r->flavour == LL_RING_SEQ_SLOT) {
        r->stage_slots = LL_RING_STAGE_BYTES / r->slot_size ? LL_RING_STAGE_BYTES / r->slot_size : 1;
        if (r->stage_slots > r->capacity)
            r->stage_slots = r->capacity;
        r->stage = malloc(r->stage_slots * r->slot_size);
        if (r->stage == NULL) {
            close(lock_fd);
            free(r);
            *err = LL_ENORES;
            return NULL;
        }
    }
    /* The lock, taken above, made us the only holder: a previous holder is
     * gone (its lock dropped), so its last stores are done.  The acquire loads
     * see them: [C2 -> P2] for a producer reading tail, [P1 -> C1] for a
     * consumer reading head.  Our own counter is ours to continue from. */
    if (role == LL_RING_PRODUCER) {
        r->index = atomic_load_explicit(&l->prod.head, memory_order_acquire);
        r->cached = atomic_load_explicit(&l->cons.tail, memory_order_acquire);
        if (r->flavour == LL_RING_SEQ_SLOT)
            recover_seq_producer(r);
        atomic_store_explicit(&l->prod.closed, 0, memory_order_relaxed);
        atomic_store_explicit(&l->prod.heartbeat, ll_now_ns(), memory_order_relaxed);
    } else {
        r->index = atomic_load_explicit(&l->cons.tail, memory_order_acquire);
        r->cached = atomic_load_explicit(&l->prod.head, memory_order_acquire);
    }
    /* relaxed: the pid is information (who holds it, for people and for
     * telling "closed" from "died"), not the claim */
    atomic_store_explicit(role_pid(l, role), (uint32_t)getpid(), memory_order_relaxed);
    *err = LL_OK;
    return r;
}

/* Give the role back.  A producer's close also marks the ring closed: the
 * consumer drains what is left, then gets LL_ECLOSED. */
LL_EXPORT void ll_ring_close(ll_ring *r)
{
    if (r == NULL)
        return;
    if (r->role == LL_RING_PRODUCER)
        /* [X1] release: every message published before is visible with the flag (X2) */
        atomic_store_explicit(&r->l->prod.closed, 1, memory_order_release);
    atomic_store_explicit(role_pid(r->l, r->role), 0, memory_order_relaxed);
    close(r->lock_fd); /* the role is free from here on */
    free(r->stage);
    free(r);
}

/* The producer's "no more messages", keeping its end (and the role) until
 * ll_ring_close: a consumer drains the ring, then sees LL_ECLOSED.  Lab 7's
 * engine and exchange end a stream this way in the middle of their loops. */
LL_EXPORT int ll_ring_finish(ll_ring *r)
{
    if (r == NULL || r->role != LL_RING_PRODUCER)
        return LL_EINVAL;
    /* [X1] release, as ll_ring_close's: the messages before are visible with the flag (X2) */
    atomic_store_explicit(&r->l->prod.closed, 1, memory_order_release);
    return LL_OK;
}

LL_EXPORT uint32_t ll_ring_flavour(const ll_ring *r) { return r->flavour; }
LL_EXPORT uint32_t ll_ring_slot_size(const ll_ring *r) { return r->slot_size; }
LL_EXPORT uint32_t ll_ring_msg_size(const ll_ring *r) { return r->msg_size; }
LL_EXPORT uint64_t ll_ring_capacity(const ll_ring *r) { return r->capacity; }

/* Messages in the ring as this end sees them: our own counter exactly (we are
 * its only writer), the other side's as one acquire load finds it. */
LL_EXPORT uint64_t ll_ring_size(const ll_ring *r)
{
    uint64_t n = r->role == LL_RING_PRODUCER
                     ? r->index - atomic_load_explicit(&r->l->cons.tail, memory_order_acquire)
                     : atomic_load_explicit(&r->l->prod.head, memory_order_acquire) - r->index;
    /* more than the capacity (a difference below 0, modulo 2^64): a seq-slot
     * producer killed between its word and head left head behind a message
     * the consumer already took; until a new producer recovers head, nothing
     * is in the ring */
    return n > r->capacity ? 0 : n;
}

/* The heartbeat rule (spsc_layout.h): whenever head crosses a multiple of
 * LL_RING_HEARTBEAT_EVERY (a power of two), i.e. about every that many
 * messages, batch or not.  A clock read costs about as much as a push. */
static inline void beat(ll_ring *r, uint64_t old_head)
{
    if (old_head / LL_RING_HEARTBEAT_EVERY != r->index / LL_RING_HEARTBEAT_EVERY)
        atomic_store_explicit(&r->l->prod.heartbeat, ll_now_ns(), memory_order_relaxed);
}

/* ------------------------------------------------ producer, both flavours */

/* Free slots, refreshing the cached tail only when the cache says "full". */
static inline uint64_t free_slots(ll_ring *r, uint64_t want)
{
    uint64_t free = r->capacity - (r->index - r->cached);
    if (!LL_RING_CACHED || free < want) {
        /* [P2] acquire: pairs with the consumer's release store of tail (C2) -
         * the consumer has finished reading every slot below it, so we may
         * overwrite them. */
        r->cached = atomic_load_explicit(&r->l->cons.tail, memory_order_acquire);
        free = r->capacity - (r->index - r->cached);
    }
    return free;
}

/* ----------------------------------------------------------- index flavour */

/* One message of len <= slot_size bytes (a shorter one is zero-padded:
 * readers always get slot_size bytes).  1 if pushed, 0 if the ring is full. */
static inline int index_push(ll_ring *r, const void *msg, uint32_t len)
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
    /* [P1] release: the message bytes above are visible to a consumer that
     * sees the new head (its acquire load, C1). */
    atomic_store_explicit(&r->l->prod.head, r->index, memory_order_release);
    beat(r, r->index - 1);
    return 1;
}

/* Up to n messages of slot_size bytes each from msgs; returns how many fit.
 * One release store publishes the whole batch. */
static inline int64_t index_push_many(ll_ring *r, const void *msgs, uint64_t n)
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
    /* [P1] release, as in index_push */
    atomic_store_explicit(&r->l->prod.head, r->index, memory_order_release);
    beat(r, r->index - k);
    return (int64_t)k;
}

static inline uint64_t index_available(ll_ring *r, uint64_t want)
{
    uint64_t avail = r->cached - r->index;
    if (!LL_RING_CACHED || avail < want) {
        /* [C1] acquire: pairs with the producer's release store of head (P1) -
         * every slot below it holds a complete message. */
        r->cached = atomic_load_explicit(&r->l->prod.head, memory_order_acquire);
        avail = r->cached - r->index;
    }
    return avail;
}

/* One message into out (slot_size bytes).  1 if popped, 0 if the ring is empty. */
static inline int index_pop(ll_ring *r, void *out)
{
    if (index_available(r, 1) == 0)
        return 0;
    memcpy(out, slot(r, r->index), r->slot_size);
    r->index++;
    /* [C2] release: our copy of the slot is complete before the producer can
     * see the slot free (P2) and overwrite it. */
    atomic_store_explicit(&r->l->cons.tail, r->index, memory_order_release);
    return 1;
}

/* Up to max messages into out (max x slot_size bytes); returns how many. */
static inline int64_t index_pop_many(ll_ring *r, void *out, uint64_t max)
{
    uint64_t k = index_available(r, max);
    if (k > max)
        k = max;
    if (k == 0)
        return 0;
    uint64_t start = r->index & r->mask;
    uint64_t first = r->capacity - start < k ? r->capacity - start : k;
    memcpy(out, slot(r, r->index), first * r->slot_size);
    memcpy((uint8_t *)out + first * r->slot_size, r->l->slots, (k - first) * r->slot_size);
    r->index += k;
    /* [C2] release, as in index_pop */
    atomic_store_explicit(&r->l->cons.tail, r->index, memory_order_release);
    return (int64_t)k;
}

/* -------------------------------------------------------- seq-slot flavour */

/* One message of len <= msg_size bytes behind the slot's sequence word. */
static inline int seq_push(ll_ring *r, const void *msg, uint32_t len)
{
    if (len > r->msg_size)
        return LL_EINVAL;
    if (free_slots(r, 1) == 0)
        return 0;
    uint8_t *s = slot(r, r->index);
    memcpy(s + LL_RING_SEQ_BYTES, msg, len);
    if (len < r->msg_size)
        memset(s + LL_RING_SEQ_BYTES + len, 0, r->msg_size - len);
    r->index++;
    /* [P3] release: the message bytes above are visible to a consumer that
     * sees this sequence word (its acquire load, C3). */
    atomic_store_explicit(slot_seq(s), r->index, memory_order_release);
    /* relaxed: head publishes nothing in this flavour; len() and the consumer's
     * "closed and drained" check read it, and the latter through X1 -> X2.
     * Nobody reads it per message, so its line stays in our cache. */
    atomic_store_explicit(&r->l->prod.head, r->index, memory_order_relaxed);
    beat(r, r->index - 1);
    return 1;
}

/* A batch is published first-message-last: every message with its word but
 * the first one's word, then that word.  A consumer polling the next slot sees
 * nothing of the batch until all of it is there, then all of it - so it reads
 * lines the producer has finished with, and the batch's lines cross together
 * (as the index ring's batch does under one store of head) instead of one by
 * one under the producer's pen.
 *
 * The slots are laid out (word + message) in a private staging area first and
 * copied into the ring in runs of whole slots: one large memcpy writes whole
 * cache lines (glibc uses `rep movsb`, which needs no read-for-ownership of a
 * line it overwrites entirely), where a 56-byte copy plus an 8-byte word per
 * slot must first fetch every line from the consumer's cache - with the cores
 * ~370 ns apart that took the C batch stream from ~75 M to ~250 M msg/s.  Of
 * the first slot only the message is copied (the consumer is polling its
 * word); the release store of its word comes after every byte copied. */
static inline int64_t seq_push_many(ll_ring *r, const void *msgs, uint64_t n)
{
    uint64_t k = free_slots(r, n);
    if (k > n)
        k = n;
    if (k == 0)
        return 0;
    const uint8_t *src = msgs;
    for (uint64_t done = 0; done < k;) {
        /* one run: up to the stage's size, and not across the end of the slot array */
        uint64_t at = (r->index + done) & r->mask;
        uint64_t run = k - done;
        if (run > r->stage_slots)
            run = r->stage_slots;
        if (run > r->capacity - at)
            run = r->capacity - at;
        for (uint64_t j = 0; j < run; j++) {
            uint8_t *st = r->stage + j * r->slot_size;
            uint64_t i = r->index + done + j + 1;
            memcpy(st, &i, 8);
            memcpy(st + LL_RING_SEQ_BYTES, src + (done + j) * r->msg_size, r->msg_size);
        }
        uint8_t *dst = r->l->slots + at * r->slot_size;
        uint64_t whole = 0;
        if (done == 0) {
            /* the batch's first slot: its message only.  The consumer is polling
             * its word right now; the word is written once, atomically, below. */
            memcpy(dst + LL_RING_SEQ_BYTES, r->stage + LL_RING_SEQ_BYTES, r->msg_size);
            whole = 1;
        }
        /* whole slots, words and all: the consumer reads none of these words
         * before it has seen the first one's (C3), which is stored after them */
        memcpy(dst + whole * r->slot_size, r->stage + whole * r->slot_size, (run - whole) * r->slot_size);
        done += run;
    }
    /* [P3] release, last: the first message's word opens the batch; every byte
     * copied above (the other words, the messages) is visible with it (C3) */
    atomic_store_explicit(slot_seq(slot(r, r->index)), r->index + 1, memory_order_release);
    r->index += k;
    atomic_store_explicit(&r->l->prod.head, r->index, memory_order_relaxed);
    beat(r, r->index - k);
    return (int64_t)k;
}

/* 1 if message i is in its slot. */
static inline int seq_ready(const ll_ring *r, uint64_t i)
{
    /* [C3] acquire: pairs with the producer's release store of the sequence
     * word (P3) - the message behind it is complete.  It cannot be overwritten
     * while we read it: the producer reuses the slot only after tail passes i (C2). */
    return atomic_load_explicit(slot_seq(slot(r, i)), memory_order_acquire) == i + 1;
}

static inline int seq_pop(ll_ring *r, void *out)
{
    if (!seq_ready(r, r->index))
        return 0;
    memcpy(out, slot(r, r->index) + LL_RING_SEQ_BYTES, r->msg_size);
    r->index++;
    /* [C2] release, as in index_pop */
    atomic_store_explicit(&r->l->cons.tail, r->index, memory_order_release);
    return 1;
}

/* Up to max messages (max x msg_size bytes): as many consecutive slots as are
 * ready, then one store of tail. */
static inline int64_t seq_pop_many(ll_ring *r, void *out, uint64_t max)
{
    uint64_t k = 0;
    for (; k < max && k < r->capacity && seq_ready(r, r->index + k); k++)
        memcpy((uint8_t *)out + k * r->msg_size, slot(r, r->index + k) + LL_RING_SEQ_BYTES, r->msg_size);
    if (k == 0)
        return 0;
    r->index += k;
    /* [C2] release */
    atomic_store_explicit(&r->l->cons.tail, r->index, memory_order_release);
    return (int64_t)k;
}

/* ------------------------------------------------------ the exported calls */
/* Each flavour's calls refuse a ring of the other flavour (its slots would be
 * misread): a check of one field next to the ones the call reads anyway. */

#define CHECK_END(r, flav, role_) \
    if ((r) == NULL || (r)->flavour != (flav) || (r)->role != (role_)) return LL_EINVAL

LL_EXPORT int ll_ring_push(ll_ring *r, const void *msg, uint32_t len)
{
    CHECK_END(r, LL_RING_INDEX, LL_RING_PRODUCER);
    return index_push(r, msg, len);
}
LL_EXPORT int64_t ll_ring_push_many(ll_ring *r, const void *msgs, uint64_t n)
{
    CHECK_END(r, LL_RING_INDEX, LL_RING_PRODUCER);
    return index_push_many(r, msgs, n);
}
LL_EXPORT int ll_ring_pop(ll_ring *r, void *out)
{
    CHECK_END(r, LL_RING_INDEX, LL_RING_CONSUMER);
    return index_pop(r, out);
}
LL_EXPORT int64_t ll_ring_pop_many(ll_ring *r, void *out, uint64_t max)
{
    CHECK_END(r, LL_RING_INDEX, LL_RING_CONSUMER);
    return index_pop_many(r, out, max);
}
LL_EXPORT int ll_seqring_push(ll_ring *r, const void *msg, uint32_t len)
{
    CHECK_END(r, LL_RING_SEQ_SLOT, LL_RING_PRODUCER);
    return seq_push(r, msg, len);
}
LL_EXPORT int64_t ll_seqring_push_many(ll_ring *r, const void *msgs, uint64_t n)
{
    CHECK_END(r, LL_RING_SEQ_SLOT, LL_RING_PRODUCER);
    return seq_push_many(r, msgs, n);
}
LL_EXPORT int ll_seqring_pop(ll_ring *r, void *out)
{
    CHECK_END(r, LL_RING_SEQ_SLOT, LL_RING_CONSUMER);
    return seq_pop(r, out);
}
LL_EXPORT int64_t ll_seqring_pop_many(ll_ring *r, void *out, uint64_t max)
{
    CHECK_END(r, LL_RING_SEQ_SLOT, LL_RING_CONSUMER);
    return seq_pop_many(r, out, max);
}

/* One flavour's four operations.  The kernels below are written once against
 * this table, and each exported kernel picks the table once per call - not
 * per message: with the table a compile-time constant, the compiler inlines
 * the operations into each copy of the kernel's loop. */
typedef struct ring_ops {
    int (*push)(ll_ring *, const void *, uint32_t);
    int64_t (*push_many)(ll_ring *, const void *, uint64_t);
    int (*pop)(ll_ring *, void *);
    int64_t (*pop_many)(ll_ring *, void *, uint64_t);
} ring_ops;

static const ring_ops INDEX_OPS = {index_push, index_push_many, index_pop, index_pop_many};
static const ring_ops SEQ_OPS = {seq_push, seq_push_many, seq_pop, seq_pop_many};

/* ------------------------------------------------------- waiting, liveness */

static inline int can_go(ll_ring *r)
{
    if (r->role == LL_RING_PRODUCER)
        return free_slots(r, 1) > 0;
    return r->flavour == LL_RING_SEQ_SLOT ? seq_ready(r, r->index) : index_available(r, 1) > 0;
}

/* Why the other side is not answering: LL_ECLOSED (producer closed, ring
 * drained: consumer only), LL_EPEERDEAD (it attached and its process is gone:
 * its pid is still recorded but its role lock was dropped by the kernel), or
 * LL_OK (alive, just slow - or not attached yet). */
LL_EXPORT int ll_ring_peer_state(ll_ring *r)
{
    int other = r->role == LL_RING_PRODUCER ? LL_RING_CONSUMER : LL_RING_PRODUCER;
    uint32_t pid = atomic_load_explicit(role_pid(r->l, other), memory_order_relaxed);
    int dead = pid != 0 && ll_ofd_held(r->lock_fd, role_lock_byte(other), 1) == 0;
    /* closed after the lock: a producer sets closed before it drops its lock,
     * so a clean close seen as "lock gone" also shows the flag here, and is
     * reported as a close (drained or not), never as a death */
    /* [X2] acquire: pairs with ll_ring_close's release (X1), so head is final */
    if (r->role == LL_RING_CONSUMER && atomic_load_explicit(&r->l->prod.closed, memory_order_acquire))
        return atomic_load_explicit(&r->l->prod.head, memory_order_relaxed) == r->index ? LL_ECLOSED : LL_OK;
    return dead ? LL_EPEERDEAD : LL_OK;
}

/* ns since the producer's last heartbeat (the rule in spsc_layout.h). */
LL_EXPORT uint64_t ll_ring_heartbeat_age_ns(const ll_ring *r)
{
    /* The heartbeat first, then the clock, and never below 0: a beat stored
     * after our clock read is newer than "now", and the unsigned difference
     * would wrap to ~584 years. */
    uint64_t beat_ns = atomic_load_explicit(&r->l->prod.heartbeat, memory_order_relaxed);
    uint64_t now = ll_now_ns();
    return now > beat_ns ? now - beat_ns : 0;
}

/* Spin (with pause) until the ring has space (producer) or a message
 * (consumer): LL_OK, or LL_EPEERDEAD / LL_ECLOSED (checked every ~100 us of
 * waiting, not every spin), or LL_ETIMEDOUT after timeout_ns.  A waiting
 * producer keeps its heartbeat fresh. */
static int wait_ready(ll_ring *r, uint64_t timeout_ns)
{
    uint64_t t0 = 0, next_check = 0;
    for (uint32_t spins = 0;; spins++) {
        if (can_go(r))
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
                return can_go(r) ? LL_OK : st;
            next_check = now + 100000;
        }
        if (now - t0 > timeout_ns)
            return LL_ETIMEDOUT;
    }
}

static inline const ring_ops *ops_of(const ll_ring *r)
{
    return r->flavour == LL_RING_SEQ_SLOT ? &SEQ_OPS : &INDEX_OPS;
}

LL_EXPORT int ll_ring_push_wait(ll_ring *r, const void *msg, uint32_t len, uint64_t timeout_ns)
{
    if (r == NULL || r->role != LL_RING_PRODUCER || len > r->msg_size)
        return LL_EINVAL;
    int rc = wait_ready(r, timeout_ns);
    return rc == LL_OK ? ops_of(r)->push(r, msg, len) : rc;
}

LL_EXPORT int ll_ring_pop_wait(ll_ring *r, void *out, uint64_t timeout_ns)
{
    if (r == NULL || r->role != LL_RING_CONSUMER)
        return LL_EINVAL;
    int rc = wait_ready(r, timeout_ns);
    return rc == LL_OK ? ops_of(r)->pop(r, out) : rc;
}

/* ---------------------------------------- sequenced streams (stress + bench) */
/* Message i of a stream (msg_size bytes): bytes 0..7 = i, bytes 8..15 =
 * i * LL_RING_SEQ_MUL (a checksum that a torn, stale or shifted slot cannot
 * match), the rest zero.  The consumer checks every message: lost, duplicated
 * or reordered messages all show up as a wrong sequence number. */
static inline void seq_fill(uint8_t *msg, uint64_t i)
{
    uint64_t check = i * LL_RING_SEQ_MUL;
    memcpy(msg, &i, 8);
    memcpy(msg + 8, &check, 8);
}

static inline int seq_ok(const uint8_t *msg, uint64_t want)
{
    uint64_t i, check;
    memcpy(&i, msg, 8);
    memcpy(&check, msg + 8, 8);
    return i == want && check == want * LL_RING_SEQ_MUL;
}

/* The one definition of a stream's arguments, in C (pyimpl.spsc_ring.check_stream
 * is the same rule for Python callers, tested against this one): an open end
 * of the right role, messages of at least 16 bytes, 1 <= batch <= capacity,
 * and start + n within 64 bits. */
LL_EXPORT int ll_ring_check_stream(const ll_ring *r, int role, uint64_t start, uint64_t n, uint32_t batch)
{
    if (r == NULL || r->role != role || r->msg_size < 16 || batch == 0 || batch > r->capacity)
        return LL_EINVAL;
    if (n > UINT64_MAX - start)
        return LL_EINVAL;
    return LL_OK;
}

/* Push messages start..start+n-1, `batch` at a time (1: push, more:
 * push_many).  Returns the elapsed ns, or a negative error (LL_ETIMEDOUT,
 * LL_EPEERDEAD) - timed inside C, so it is also the producer's benchmark kernel. */
static inline __attribute__((always_inline)) int64_t produce_seq(ll_ring *r, const ring_ops *ops, uint64_t start,
                                                                 uint64_t n, uint32_t batch, uint64_t timeout_ns,
                                                                 uint8_t *buf)
{
    const uint32_t m = r->msg_size;
    int rc = LL_OK;
    uint64_t t0 = ll_now_ns();
    for (uint64_t i = start, end = start + n; i < end && rc == LL_OK;) {
        uint64_t k = end - i < batch ? end - i : batch;
        for (uint64_t j = 0; j < k; j++)
            seq_fill(buf + j * m, i + j);
        for (uint64_t done = 0; done < k;) {
            int64_t got = batch == 1 ? ops->push(r, buf, m) : ops->push_many(r, buf + done * m, k - done);
            if (got < 0) { /* cannot happen with these arguments; never counted as messages */
                rc = (int)got;
                break;
            }
            if (got == 0 && (rc = wait_ready(r, timeout_ns)) != LL_OK)
                break;
            done += (uint64_t)got;
        }
        i += k;
    }
    uint64_t t1 = ll_now_ns();
    return rc == LL_OK ? (int64_t)(t1 - t0) : rc;
}

LL_EXPORT int64_t ll_ring_produce_seq(ll_ring *r, uint64_t start, uint64_t n, uint32_t batch, uint64_t timeout_ns)
{
    int rc = ll_ring_check_stream(r, LL_RING_PRODUCER, start, n, batch);
    if (rc != LL_OK)
        return rc;
    uint8_t *buf = calloc(batch, r->msg_size); /* setup, not the timed loop */
    if (buf == NULL)
        return LL_ENORES;
    int64_t out = r->flavour == LL_RING_SEQ_SLOT ? produce_seq(r, &SEQ_OPS, start, n, batch, timeout_ns, buf)
                                                  : produce_seq(r, &INDEX_OPS, start, n, batch, timeout_ns, buf);
    free(buf);
    return out;
}

/* Pop n messages expecting start..start+n-1, `batch` at a time; *bad counts
 * the messages that were not the expected one.  Returns elapsed ns or an
 * error (LL_ETIMEDOUT, LL_EPEERDEAD, LL_ECLOSED). */
static inline __attribute__((always_inline)) int64_t consume_seq(ll_ring *r, const ring_ops *ops, uint64_t start,
                                                                 uint64_t n, uint32_t batch, uint64_t timeout_ns,
                                                                 uint64_t *bad, uint8_t *buf)
{
    const uint32_t m = r->msg_size;
    int rc = LL_OK;
    uint64_t t0 = ll_now_ns();
    for (uint64_t want = start, end = start + n; want < end;) {
        uint64_t max = end - want < batch ? end - want : batch;
        int64_t got = batch == 1 ? ops->pop(r, buf) : ops->pop_many(r, buf, max);
        if (got < 0) {
            rc = (int)got;
            break;
        }
        if (got == 0) {
            if ((rc = wait_ready(r, timeout_ns)) != LL_OK)
                break;
            continue;
        }
        for (int64_t j = 0; j < got; j++)
            *bad += !seq_ok(buf + j * m, want + (uint64_t)j);
        want += (uint64_t)got;
    }
    uint64_t t1 = ll_now_ns();
    return rc == LL_OK ? (int64_t)(t1 - t0) : rc;
}

LL_EXPORT int64_t ll_ring_consume_seq(ll_ring *r, uint64_t start, uint64_t n, uint32_t batch, uint64_t timeout_ns,
                                      uint64_t *bad)
{
    int rc = ll_ring_check_stream(r, LL_RING_CONSUMER, start, n, batch);
    if (rc != LL_OK || bad == NULL)
        return rc != LL_OK ? rc : LL_EINVAL;
    uint8_t *buf = calloc(batch, r->msg_size);
    if (buf == NULL)
        return LL_ENORES;
    *bad = 0;
    int64_t out = r->flavour == LL_RING_SEQ_SLOT
                      ? consume_seq(r, &SEQ_OPS, start, n, batch, timeout_ns, bad, buf)
                      : consume_seq(r, &INDEX_OPS, start, n, batch, timeout_ns, bad, buf);
    free(buf);
    return out;
}

/* ------------------------------------------------------------ ping-pong */

static int check_pair(const ll_ring *out, const ll_ring *in)
{
    if (ll_ring_check_stream(out, LL_RING_PRODUCER, 0, 0, 1) != LL_OK ||
        ll_ring_check_stream(in, LL_RING_CONSUMER, 0, 0, 1) != LL_OK || out->msg_size != in->msg_size ||
        out->flavour != in->flavour)
        return LL_EINVAL;
    return LL_OK;
}

/* Round trips over two rings: message i goes out on `out`, the echo process
 * sends it back on `in`; rtt_ns[i] is the time from just before the push to
 * just after the pop.  Returns LL_OK, an error, or LL_ECORRUPT if an echo is
 * not the message sent (data damaged on the way: not the caller's mistake). */
static inline __attribute__((always_inline)) int pingpong(ll_ring *out, ll_ring *in, const ring_ops *ops, uint64_t n,
                                                          int64_t *rtt_ns, uint64_t timeout_ns, uint8_t *msg)
{
    uint8_t *echo = msg + out->msg_size;
    int rc = LL_OK;
    for (uint64_t i = 0; i < n && rc == LL_OK; i++) {
        seq_fill(msg, i);
        uint64_t t0 = ll_now_ns();
        int got;
        while ((got = ops->push(out, msg, out->msg_size)) == 0)
            if ((rc = wait_ready(out, timeout_ns)) != LL_OK)
                break;
        if (got < 0)
            rc = got;
        while (rc == LL_OK && (got = ops->pop(in, echo)) == 0)
            rc = wait_ready(in, timeout_ns);
        if (got < 0)
            rc = got;
        rtt_ns[i] = (int64_t)(ll_now_ns() - t0);
        if (rc == LL_OK && memcmp(echo, msg, out->msg_size) != 0)
            rc = LL_ECORRUPT;
    }
    return rc;
}

LL_EXPORT int ll_ring_pingpong(ll_ring *out, ll_ring *in, uint64_t n, int64_t *rtt_ns, uint64_t timeout_ns)
{
    if (check_pair(out, in) != LL_OK || rtt_ns == NULL)
        return LL_EINVAL;
    uint8_t *msg = calloc(2, out->msg_size); /* the message, then the echo */
    if (msg == NULL)
        return LL_ENORES;
    int rc = out->flavour == LL_RING_SEQ_SLOT ? pingpong(out, in, &SEQ_OPS, n, rtt_ns, timeout_ns, msg)
                                              : pingpong(out, in, &INDEX_OPS, n, rtt_ns, timeout_ns, msg);
    free(msg);
    return rc;
}

/* The other end: n times, pop a message from `in` and push it back on `out`. */
static inline __attribute__((always_inline)) int echo(ll_ring *in, ll_ring *out, const ring_ops *ops, uint64_t n,
                                                      uint64_t timeout_ns, uint8_t *msg)
{
    int rc = LL_OK;
    for (uint64_t i = 0; i < n && rc == LL_OK; i++) {
        int got;
        while ((got = ops->pop(in, msg)) == 0)
            if ((rc = wait_ready(in, timeout_ns)) != LL_OK)
                break;
        if (got < 0)
            rc = got;
        while (rc == LL_OK && (got = ops->push(out, msg, out->msg_size)) == 0)
            rc = wait_ready(out, timeout_ns);
        if (got < 0)
            rc = got;
    }
    return rc;
}

LL_EXPORT int ll_ring_echo(ll_ring *in, ll_ring *out, uint64_t n, uint64_t timeout_ns)
{
    if (check_pair(out, in) != LL_OK)
        return LL_EINVAL;
    uint8_t *msg = malloc(in->msg_size);
    if (msg == NULL)
        return LL_ENORES;
    int rc = in->flavour == LL_RING_SEQ_SLOT ? echo(in, out, &SEQ_OPS, n, timeout_ns, msg)
                                             : echo(in, out, &INDEX_OPS, n, timeout_ns, msg);
    free(msg);
    return rc;
}

/* ----------------------------------------------------- one-way latency */
/* Message i: bytes 0..7 = i, bytes 8..15 = the CLOCK_MONOTONIC ns just before
 * its push.  The producer sends the next only once the ring is empty again and
 * gap_ns have passed, so every message meets an idle ring and a consumer
 * already spinning on it: the figure is one message's way through the queue,
 * not a pipeline's pace. */
static inline __attribute__((always_inline)) int send_stamped(ll_ring *r, const ring_ops *ops, uint64_t n,
                                                              uint64_t gap_ns, uint64_t timeout_ns, uint8_t *msg)
{
    int rc = LL_OK;
    for (uint64_t i = 0; i < n && rc == LL_OK; i++) {
        uint64_t t = ll_now_ns(), deadline = t + timeout_ns;
        /* [P2] acquire, as in free_slots: the consumer is done with the last message */
        while (atomic_load_explicit(&r->l->cons.tail, memory_order_acquire) != r->index) {
            ll_cpu_relax();
            if ((t = ll_now_ns()) > deadline) {
                int st = ll_ring_peer_state(r);
                return st != LL_OK ? st : LL_ETIMEDOUT;
            }
        }
        for (uint64_t until = t + gap_ns; ll_now_ns() < until;)
            ll_cpu_relax();
        memcpy(msg, &i, 8);
        uint64_t stamp = ll_now_ns();
        memcpy(msg + 8, &stamp, 8);
        int got = ops->push(r, msg, r->msg_size);
        if (got < 0)
            rc = got;
        else if (got == 0) /* cannot happen: the ring is empty */
            rc = LL_ECORRUPT;
    }
    return rc;
}

LL_EXPORT int ll_ring_send_stamped(ll_ring *r, uint64_t n, uint64_t gap_ns, uint64_t timeout_ns)
{
    if (ll_ring_check_stream(r, LL_RING_PRODUCER, 0, n, 1) != LL_OK)
        return LL_EINVAL;
    uint8_t *msg = calloc(1, r->msg_size);
    if (msg == NULL)
        return LL_ENORES;
    int rc = r->flavour == LL_RING_SEQ_SLOT ? send_stamped(r, &SEQ_OPS, n, gap_ns, timeout_ns, msg)
                                            : send_stamped(r, &INDEX_OPS, n, gap_ns, timeout_ns, msg);
    free(msg);
    return rc;
}

static inline __attribute__((always_inline)) int recv_stamped(ll_ring *r, const ring_ops *ops, uint64_t n,
                                                              int64_t *lat_ns, uint64_t timeout_ns, uint8_t *msg)
{
    int rc = LL_OK;
    for (uint64_t i = 0; i < n && rc == LL_OK; i++) {
        int got;
        while ((got = ops->pop(r, msg)) == 0)
            if ((rc = wait_ready(r, timeout_ns)) != LL_OK)
                break;
        uint64_t now = ll_now_ns();
        if (got < 0)
            rc = got;
        if (rc != LL_OK)
            break;
        uint64_t seq, stamp;
        memcpy(&seq, msg, 8);
        memcpy(&stamp, msg + 8, 8);
        if (seq != i)
            rc = LL_ECORRUPT;
        lat_ns[i] = (int64_t)(now - stamp);
    }
    return rc;
}

LL_EXPORT int ll_ring_recv_stamped(ll_ring *r, uint64_t n, int64_t *lat_ns, uint64_t timeout_ns)
{
    if (ll_ring_check_stream(r, LL_RING_CONSUMER, 0, n, 1) != LL_OK || lat_ns == NULL)
        return LL_EINVAL;
    uint8_t *msg = calloc(1, r->msg_size);
    if (msg == NULL)
        return LL_ENORES;
    int rc = r->flavour == LL_RING_SEQ_SLOT ? recv_stamped(r, &SEQ_OPS, n, lat_ns, timeout_ns, msg)
                                            : recv_stamped(r, &INDEX_OPS, n, lat_ns, timeout_ns, msg);
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
        {"seq_bytes", LL_RING_SEQ_BYTES},
        {"flavour_index", LL_RING_INDEX},
        {"flavour_seq_slot", LL_RING_SEQ_SLOT},
        {"lock_producer", LL_RING_LOCK_PRODUCER},
        {"lock_consumer", LL_RING_LOCK_CONSUMER},
        {"heartbeat_every", LL_RING_HEARTBEAT_EVERY},
        {"hdr.magic", offsetof(ll_ring_header, magic)},
        {"hdr.version", offsetof(ll_ring_header, version)},
        {"hdr.slot_size", offsetof(ll_ring_header, slot_size)},
        {"hdr.capacity", offsetof(ll_ring_header, capacity)},
        {"hdr.producer_pid", offsetof(ll_ring_header, producer_pid)},
        {"hdr.consumer_pid", offsetof(ll_ring_header, consumer_pid)},
        {"hdr.flavour", offsetof(ll_ring_header, flavour)},
        {"prod.head", offsetof(ll_ring_layout, prod) + offsetof(ll_ring_producer_block, head)},
        {"prod.heartbeat", offsetof(ll_ring_layout, prod) + offsetof(ll_ring_producer_block, heartbeat)},
        {"prod.closed", offsetof(ll_ring_layout, prod) + offsetof(ll_ring_producer_block, closed)},
        {"cons.tail", offsetof(ll_ring_layout, cons) + offsetof(ll_ring_consumer_block, tail)},
        {"slots", offsetof(ll_ring_layout, slots)},
    };
    return ll_lookup_fact(facts, sizeof facts / sizeof facts[0], what);
}
