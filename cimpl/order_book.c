/*
 * order_book.c - lab 5: an order-by-order (L3) limit order book, fed by
 * NASDAQ TotalView-ITCH 5.0 messages (cimpl/itch.h), with the semantics of
 * pyimpl/order_book.py (the reference: both must agree on every stream).
 *
 * A market-data handler does three things per message: find the order the
 * message names (an execution names it by its 64-bit ref), change its
 * shares, and keep each price level's totals and the best prices right.  At
 * millions of messages per second every one of those must be a few cache
 * lines and no system call.  So:
 *
 * 1. No allocation on the hot path.  Orders live in a pool preallocated at
 *    create time (max_orders of them, 32 bytes each), handed out from a free
 *    list; price levels too (a level holds at least one order, so max_orders
 *    levels always suffice).  The pools (and the map below) are anonymous
 *    mappings: zero pages that the kernel only backs with memory when they
 *    are first touched, so a book sized for 4 M orders costs what it holds -
 *    and each first touch is a page fault on the hot path.  ll_book_prefault
 *    takes them all up front (as a production handler does before the market
 *    opens; it would also mlock them); the benchmarks call it, the tests
 *    mostly do not.
 *
 * 2. ref -> order: an open-addressing hash map (one flat array of {ref, pool
 *    index} slots, a power of two >= 2 * max_orders so it is at most half
 *    full), linear probing in Robin Hood order.  A lookup is a hash, usually
 *    one cache line, and the order's own line: no pointer chasing through
 *    buckets.  The hash: see home() - it keeps the feed's sequential refs near
 *    each other in the map (a full 64-bit mix scatters every add to a cold
 *    cache line and page: 4x slower on labs.feed's stream at the default
 *    capacity).  Deletion is by backward shift: the entries after the hole
 *    that sit past their home slot move back into it, so there are no
 *    tombstones, and a map that sees billions of adds and deletes a day never
 *    degrades or needs a rehash; the Robin Hood order (see map_dist) lets the
 *    shift stop at the first entry that sits in its home slot.
 *
 * 3. Per instrument and side, the price levels, best first.  Two designs fit:
 *
 *    (a) a ladder: an array indexed by price tick around the touch, O(1) to
 *        find a level.  But ITCH prices are in 1/10000 $ with stub quotes from
 *        $0.0001 to $200,000 on real days, so the ladder needs a window that
 *        recentres when the touch moves, an overflow structure for what falls
 *        outside, and, when the touch level empties, a scan (or a bitmap
 *        search) over the empty ticks to the next level: with $0.01 ticks in
 *        $0.0001 units, 99 of every 100 rungs are always empty.
 *    (b) a sorted array of {key, level} per side with the best at the END,
 *        key = price for bids and ~price for asks, so both sides sort
 *        ascending and the best is always e[n - 1].  Finding a price steps down
 *        from the end a few entries (orders arrive near the touch: most adds,
 *        executions and cancels are within a few levels of it), then falls
 *        back to a binary search.  A new level shifts the entries
 *        between it and the end - few, near the touch - and the best after the
 *        touch empties is simply the new last entry.
 *
 *    We use (b), measured: labs.feed.simulate(1_000_000, seed=0) through
 *    ll_book_apply_stream, median of 7 runs on the 2-core Xeon VM, with
 *    max_orders 4 M / 64 K (the map 128 MB / 2 MB):
 *
 *        (b) this file                                  23.6 / 27.4 M msg/s
 *        (a) an idealised ladder: the $0.01 tick known  27.4 / 31.0 M msg/s
 *            in advance, 16384 ticks a side that never
 *            recentre, no overflow, a bitmap to find
 *            the next level when the touch empties
 *
 *    The ladder wins by ~14% (~6 ns a message of ~40) in the case most
 *    favourable to it.  A real one must also detect each instrument's tick
 *    (sub-dollar stocks quote in $0.0001: a $0.01 ladder in those units is
 *    99% empty rungs), recentre when the touch walks out of its window, and
 *    send stub quotes to an overflow structure - each a branch on every
 *    update and a slow path that a latency histogram's tail will show.  The
 *    sorted array gets any price right with no special case, and its cost is
 *    bounded by the levels between a price and the touch: on this feed the
 *    step-down finds most levels in one to three compares of one cache line
 *    (a side's array is 8 bytes a level).  Building the ladder is an
 *    exercise of the lab.
 *
 *    The per-side arrays start at 16 levels and grow by doubling (realloc,
 *    counted in the stat "level_growths"): an allocation on the hot path, but
 *    one per doubling of a side's depth, not one per message - a few per
 *    instrument a day.  Growing happens before the book changes, so a failed
 *    realloc (LL_ENORES) leaves the book as it was.
 *
 * 4. Each level keeps its total shares, its order count, and the FIFO of its
 *    orders (an intrusive doubly-linked list through pool indices: prev/next
 *    live in the order itself, so linking costs no allocation).  ITCH names
 *    the order on every execution, so following the feed does not need the
 *    queue; a matching engine does (the oldest order at the best price trades
 *    first), and ll_book_queue shows it.  A replace loses time priority: the
 *    new order goes to the back of its level's queue.
 *
 * 5. Instruments: stock locate (u16) -> instrument slot through a 65536-entry
 *    u32 table (0 = none yet), slots created on an instrument's first order,
 *    up to max_instruments.
 *
 * Every update checks everything it can reject before it changes anything,
 * in pyimpl.order_book's order, so a rejected message leaves the book as it
 * was and both books raise the same error.
 *
 * Single-threaded: a book belongs to one thread (a feed handler's), so there
 * are no atomics and no locks here.  The Python binding releases the GIL
 * around each call (ctypes.CDLL): two Python threads must not share a Book.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"
#include "itch.h"
#include "order_book.h"

#define NIL UINT32_MAX
#define SIDE_BID 0
#define SIDE_ASK 1
#define LINEAR_STEPS 16       /* step down this many levels from the touch before bisecting */
#define INITIAL_SIDE_LEVELS 16

/* A resting order: 32 bytes, two per cache line. */
typedef struct {
    uint64_t ref;
    uint32_t shares;      /* left; 0 marks a free pool entry */
    uint32_t price;
    uint32_t prev, next;  /* the level's FIFO (oldest first); `next` also links the free list */
    uint32_t level;       /* its level's index in the level pool */
    uint16_t locate;
    uint8_t side;         /* SIDE_BID / SIDE_ASK */
    uint8_t pad_;
} bk_order;

/* A price level: 24 bytes. */
typedef struct {
    uint64_t shares;      /* total of its orders' shares (u64: many u32s add up) */
    uint32_t price;
    uint32_t count;       /* orders; 0 marks a free pool entry */
    uint32_t head, tail;  /* oldest, newest order */
} bk_level;

/* One entry of a side's sorted level array. */
typedef struct {
    uint32_t key;         /* bids: price; asks: ~price - both ascending, best last */
    uint32_t level;
} bk_entry;

typedef struct {
    bk_entry *e;
    uint32_t n, cap;
} bk_side;

typedef struct {
    bk_side side[2];
    uint16_t locate;
} bk_instrument;

/* A hash map slot: 16 bytes, four per cache line. */
typedef struct {
    uint64_t ref;
    uint32_t idx1;        /* pool index + 1; 0 = empty (so zero-filled memory is an empty map) */
    uint32_t home;        /* home(ref), kept so a deletion's backward shift need not hash (map_erase) */
} bk_slot;

struct ll_book {
    bk_order *orders;     /* the three pools below are mmap'ed: see pool_map */
    uint32_t max_orders, orders_used, order_free, n_orders; /* used: high-water mark of the pool */
    bk_level *levels;
    uint32_t levels_used, level_free, n_levels;
    bk_slot *map;
    uint64_t map_mask;
    bk_instrument *inst;
    uint32_t max_inst, n_inst;
    uint32_t *inst_of;    /* [65536]: locate -> instrument slot + 1, 0 = none */
    char (*stock)[8];     /* [65536]: the directory, raw 8-byte stock names */
    uint8_t *has_stock;   /* [65536] */
    uint32_t n_stocks;
    uint64_t level_growths;
    size_t orders_bytes, levels_bytes, map_bytes; /* for munmap */
    int prefaulted;
};

/* ------------------------------------------------------------ the hash map */

/* splitmix64's finaliser (Stafford's "mix13"): every input bit flips each
 * output bit with probability ~1/2, so sequential inputs scatter evenly. */
static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* The home slot of a ref.  NASDAQ numbers orders sequentially through the
 * day, so the orders resting at any moment are mostly recent refs: a narrow
 * window of the ref space.  A full mix, mix64(ref) & mask, sends each new ref
 * to a random slot of a map sized for max_orders (128 MB at the default 4 M
 * orders): every add is then a cache miss, a TLB miss and, the first time,
 * a page fault.  So only the block number is mixed, ref >> HASH_BLOCK_BITS,
 * and the low bits stay: a block of 4096 consecutive refs lands in one
 * aligned run of 4096 slots (64 KB, permuted by the XOR), and the few blocks
 * that hold live orders stay in cache.  Within a block the XOR is a
 * bijection, so any refs of one block get distinct slots; blocks land at
 * random, so refs with a large stride (or random ones) spread as well as with
 * a full mix.  The weak spot is a map smaller than a block (max_orders <
 * 2048): there refs of one block whose stride is a power of two >= the map's
 * size share a home slot.
 *
 * Measured on labs.feed.simulate(1_000_000, seed=0), apply_stream, median
 * of 7, 2-core Xeon VM.  max_orders 4 M (a 128 MB map): full mix 6.1 M
 * msg/s, this 23.5 (identity, ref & mask: 24.8).  max_orders 64 K (a 2 MB
 * map, in L2 either way): full mix 29.9, this 27.6 - there the locality costs
 * a little: runs of consecutive live refs make longer probe sequences for the
 * keys that land inside them. */
#define HASH_BLOCK_BITS 12
static inline uint64_t home(const ll_book *b, uint64_t ref)
{
    return (mix64(ref >> HASH_BLOCK_BITS) ^ ref) & b->map_mask;
}

/* Robin Hood order.  Linear probing with one rule more: within a run of
 * occupied slots the entries stay sorted by their home slot (an insert goes
 * in front of the first entry whose home comes after its own, and the rest
 * of the run moves up one slot).  Each slot keeps its entry's home, so the
 * rule costs no hashing.  It buys two early stops:
 * - a lookup stops at the first entry that is closer to its home than the
 *   key would be there (the key cannot be further on);
 * - a deletion shifts back only the entries that sit past their home, and
 *   stops at the first one that sits in its home slot.
 * On labs.feed's stream every ref sits in its home slot (consecutive refs
 * fill consecutive slots of their block), so the runs are long but nothing
 * is displaced: plain backward-shift deletion walked on to the end of each
 * run (3.5 slots per deletion on simulate(200_000), a mispredicted branch
 * at its end), this one looks at one slot (section 5.5 of the guide). */

/* How far slot i is from home h, cyclically. */
static inline uint64_t map_dist(const ll_book *b, uint64_t i, uint64_t h) { return (i - h) & b->map_mask; }

/* The slot holding `ref`, or (not found) the slot where it would go
 * (map_insert's `slot`); *idx = its pool index, or NIL. */
static inline uint64_t map_probe(const ll_book *b, uint64_t ref, uint32_t *idx)
{
    const uint64_t h = home(b, ref);
    uint64_t i = h;
    for (;;) {
        const bk_slot *s = &b->map[i];
        if (s->idx1 == 0 || map_dist(b, i, s->home) < map_dist(b, i, h)) {
            *idx = NIL; /* empty, or an entry whose home comes after ref's */
            return i;
        }
        if (s->ref == ref) {
            *idx = s->idx1 - 1;
            return i;
        }
        i = (i + 1) & b->map_mask;
    }
}

static inline uint32_t map_find(const ll_book *b, uint64_t ref)
{
    uint32_t idx;
    map_probe(b, ref, &idx);
    return idx;
}

/* Put ref at `slot` (map_probe's answer for it, the map unchanged since),
 * moving the entries from there to the next empty slot up by one. */
static inline void map_insert(ll_book *b, uint64_t slot, uint64_t ref, uint32_t idx)
{
    bk_slot carry = {ref, idx + 1, (uint32_t)home(b, ref)};
    for (uint64_t i = slot;; i = (i + 1) & b->map_mask) {
        bk_slot next = b->map[i];
        b->map[i] = carry;
        if (next.idx1 == 0)
            return;
        carry = next;
    }
}

/* Backward-shift deletion.  Empty slot `hole`; while the next entry sits
 * past its home, move it back into the hole (its slot becomes the hole).
 * Stop at an empty slot or an entry in its home slot: the order by home
 * means no entry after that one has its home at or before the hole.  The
 * map is then exactly as if the key had never been inserted. */
static inline void map_erase(ll_book *b, uint64_t hole)
{
    for (;;) {
        uint64_t j = (hole + 1) & b->map_mask;
        const bk_slot *s = &b->map[j];
        if (s->idx1 == 0 || s->home == j)
            break;
        b->map[hole] = *s;
        hole = j;
    }
    b->map[hole] = (bk_slot){0, 0, 0};
}

/* ------------------------------------------------------------ pools */

static inline uint32_t order_alloc(ll_book *b)
{
    uint32_t i = b->order_free;
    if (i != NIL)
        b->order_free = b->orders[i].next;
    else
        i = b->orders_used++; /* fresh from the (lazily mapped) pool */
    b->n_orders++;
    return i;
}

static inline void order_free(ll_book *b, uint32_t i)
{
    b->orders[i].shares = 0;
    b->orders[i].next = b->order_free;
    b->order_free = i;
    b->n_orders--;
}

static inline uint32_t level_alloc(ll_book *b)
{
    uint32_t i = b->level_free;
    if (i != NIL)
        b->level_free = b->levels[i].head;
    else
        i = b->levels_used++;
    b->n_levels++;
    return i;
}

static inline void level_free(ll_book *b, uint32_t i)
{
    b->levels[i].count = 0;
    b->levels[i].head = b->level_free;
    b->level_free = i;
    b->n_levels--;
}

/* ------------------------------------------------------------ sides */

static inline uint32_t side_key(int side, uint32_t price) { return side == SIDE_BID ? price : ~price; }

/* The number of entries with key <= k: where k is, or would be inserted.
 * Step down from the best first (the common case: near the touch), then
 * bisect what is left. */
static inline uint32_t side_upper(const bk_side *s, uint32_t k)
{
    uint32_t i = s->n;
    for (int step = 0; step < LINEAR_STEPS && i > 0; step++, i--)
        if (s->e[i - 1].key <= k)
            return i;
    uint32_t lo = 0, hi = i; /* e[hi..n) > k */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->e[mid].key <= k)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The level at `price`, or NIL; *pos = where it is or would go. */
static inline uint32_t side_find(const bk_side *s, int side, uint32_t price, uint32_t *pos)
{
    uint32_t k = side_key(side, price);
    uint32_t i = side_upper(s, k);
    *pos = i;
    if (i > 0 && s->e[i - 1].key == k) {
        *pos = i - 1;
        return s->e[i - 1].level;
    }
    return NIL;
}

/* Room for one more level: grow by doubling.  LL_ENORES if realloc fails
 * (the side is unchanged). */
static int side_reserve(ll_book *b, bk_side *s)
{
    if (s->n < s->cap)
        return LL_OK;
    uint32_t cap = s->cap * 2;
    bk_entry *e = realloc(s->e, (size_t)cap * sizeof *e);
    if (e == NULL)
        return LL_ENORES;
    s->e = e;
    s->cap = cap;
    b->level_growths++;
    return LL_OK;
}

/* ------------------------------------------------------------ instruments */

static inline bk_instrument *instrument(const ll_book *b, uint32_t locate)
{
    if (locate > 0xFFFF)
        return NULL;
    uint32_t slot = b->inst_of[locate];
    return slot ? &b->inst[slot - 1] : NULL;
}

static int instrument_create(ll_book *b, uint16_t locate, bk_instrument **out)
{
    bk_instrument *in = &b->inst[b->n_inst];
    memset(in, 0, sizeof *in);
    in->locate = locate;
    for (int side = 0; side < 2; side++) {
        in->side[side].e = malloc(INITIAL_SIDE_LEVELS * sizeof(bk_entry));
        in->side[side].cap = INITIAL_SIDE_LEVELS;
    }
    if (in->side[0].e == NULL || in->side[1].e == NULL) {
        free(in->side[0].e);
        free(in->side[1].e);
        memset(in, 0, sizeof *in);
        return LL_ENORES;
    }
    b->inst_of[locate] = ++b->n_inst;
    *out = in;
    return LL_OK;
}

/* ------------------------------------------------------------ the core */

/* Rest a new order (every check done, room reserved): pool, level, map.
 * li/pos: side_find's answer for its price. */
static inline void rest(ll_book *b, bk_instrument *in, int side, uint16_t locate, uint64_t ref, uint32_t shares,
                 uint32_t price, uint64_t map_slot, uint32_t li, uint32_t pos)
{
    bk_side *s = &in->side[side];
    uint32_t oi = order_alloc(b);
    if (li == NIL) {
        /* a new level: open a gap at pos (the entries after it are the
         * levels better than this one - few, when orders arrive near the touch) */
        li = level_alloc(b);
        bk_level *l = &b->levels[li];
        l->shares = 0;
        l->price = price;
        l->count = 0;
        l->head = l->tail = NIL;
        for (uint32_t k = s->n; k > pos; k--) /* a few entries: a loop, no memmove call */
            s->e[k] = s->e[k - 1];
        s->e[pos].key = side_key(side, price);
        s->e[pos].level = li;
        s->n++;
    }
    bk_level *l = &b->levels[li];
    bk_order *o = &b->orders[oi];
    o->ref = ref;
    o->shares = shares;
    o->price = price;
    o->level = li;
    o->locate = locate;
    o->side = (uint8_t)side;
    /* join the back of the level's queue: time priority */
    o->next = NIL;
    o->prev = l->tail;
    if (l->tail != NIL)
        b->orders[l->tail].next = oi;
    else
        l->head = oi;
    l->tail = oi;
    l->count++;
    l->shares += shares;
    map_insert(b, map_slot, ref, oi);
}

/* Take a resting order out of its level (removing the level if it was its
 * last order), out of the map (map_slot: where its ref is) and back to the pool. */
static inline void unrest(ll_book *b, uint32_t oi, uint64_t map_slot)
{
    bk_order *o = &b->orders[oi];
    bk_level *l = &b->levels[o->level];
    if (o->prev != NIL)
        b->orders[o->prev].next = o->next;
    else
        l->head = o->next;
    if (o->next != NIL)
        b->orders[o->next].prev = o->prev;
    else
        l->tail = o->prev;
    l->shares -= o->shares;
    if (--l->count == 0) {
        bk_side *s = &b->inst[b->inst_of[o->locate] - 1].side[o->side];
        uint32_t pos;
        side_find(s, o->side, o->price, &pos);
        for (uint32_t k = pos; k + 1 < s->n; k++)
            s->e[k] = s->e[k + 1];
        s->n--;
        level_free(b, o->level);
    }
    map_erase(b, map_slot);
    order_free(b, oi);
}

static int fail_ref(ll_book_err *err, int code, uint64_t ref)
{
    if (err) {
        err->code = code;
        err->ref = ref;
    }
    return code;
}

static int fail_full(ll_book_err *err, int what, uint64_t capacity)
{
    if (err) {
        err->code = LL_EBOOKFULL;
        err->what = (uint8_t)what;
        err->capacity = capacity;
    }
    return LL_EBOOKFULL;
}

/* pyimpl.order_book.Book.add's checks, in its order: side, shares,
 * duplicate, order pool, locate, instrument table. */
static inline int book_add(ll_book *b, uint32_t locate, uint64_t ref, uint8_t side_byte, uint32_t shares,
                           uint32_t price, ll_book_err *err)
{
    int side;
    if (side_byte == 'B')
        side = SIDE_BID;
    else if (side_byte == 'S')
        side = SIDE_ASK;
    else {
        if (err) {
            err->code = LL_EBADSIDE;
            err->side = side_byte;
        }
        return LL_EBADSIDE;
    }
    if (shares == 0)
        return fail_ref(err, LL_EZEROSHARES, ref);
    uint32_t found;
    uint64_t slot = map_probe(b, ref, &found);
    if (found != NIL)
        return fail_ref(err, LL_EDUPORDER, ref);
    if (b->n_orders >= b->max_orders)
        return fail_full(err, LL_BOOK_FULL_ORDERS, b->max_orders);
    bk_instrument *in = instrument(b, locate);
    if (in == NULL) {
        if (locate == 0 || locate > 0xFFFF) {
            if (err) {
                err->code = LL_EBADLOCATE;
                err->locate = locate;
            }
            return LL_EBADLOCATE;
        }
        if (b->n_inst >= b->max_inst)
            return fail_full(err, LL_BOOK_FULL_INSTRUMENTS, b->max_inst);
        int rc = instrument_create(b, (uint16_t)locate, &in);
        if (rc != LL_OK)
            return rc;
    }
    uint32_t pos;
    uint32_t li = side_find(&in->side[side], side, price, &pos);
    if (li == NIL) { /* a new level: room for it first (the only allocation, and a rare one) */
        int rc = side_reserve(b, &in->side[side]);
        if (rc != LL_OK)
            return rc;
    }
    rest(b, in, side, (uint16_t)locate, ref, shares, price, slot, li, pos);
    return LL_OK;
}

/* An execution or a cancel: pyimpl's _take (unknown ref, zero shares,
 * overfill).  The shares left; the order is gone at 0. */
static inline int64_t book_take(ll_book *b, uint64_t ref, uint32_t shares, ll_book_err *err)
{
    uint32_t oi;
    uint64_t slot = map_probe(b, ref, &oi);
    if (oi == NIL)
        return fail_ref(err, LL_ENOORDER, ref);
    if (shares == 0)
        return fail_ref(err, LL_EZEROSHARES, ref);
    bk_order *o = &b->orders[oi];
    if (shares > o->shares) {
        if (err) {
            err->code = LL_EOVERFILL;
            err->ref = ref;
            err->shares = shares;
            err->left = o->shares;
        }
        return LL_EOVERFILL;
    }
    uint32_t left = o->shares - shares;
    if (left == 0) {
        unrest(b, oi, slot);
    } else {
        o->shares = left;
        b->levels[o->level].shares -= shares;
    }
    return left;
}

static inline int book_delete(ll_book *b, uint64_t ref, ll_book_err *err)
{
    uint32_t oi;
    uint64_t slot = map_probe(b, ref, &oi);
    if (oi == NIL)
        return fail_ref(err, LL_ENOORDER, ref);
    unrest(b, oi, slot);
    return LL_OK;
}

/* pyimpl's replace: unknown ref, new ref resting (or == ref), zero shares;
 * then the old order goes and the new one rests on the same side of the same
 * instrument, at the back of its level's queue. */
static inline int book_replace(ll_book *b, uint64_t ref, uint64_t new_ref, uint32_t shares, uint32_t price,
                               ll_book_err *err)
{
    uint32_t oi;
    uint64_t slot = map_probe(b, ref, &oi);
    if (oi == NIL)
        return fail_ref(err, LL_ENOORDER, ref);
    if (new_ref == ref || map_find(b, new_ref) != NIL)
        return fail_ref(err, LL_EDUPORDER, new_ref);
    if (shares == 0)
        return fail_ref(err, LL_EZEROSHARES, new_ref);
    bk_order *o = &b->orders[oi];
    uint16_t locate = o->locate;
    int side = o->side;
    bk_instrument *in = &b->inst[b->inst_of[locate] - 1];
    bk_side *s = &in->side[side];
    uint32_t pos;
    if (side_find(s, side, price, &pos) == NIL) { /* room for a new level, before anything changes */
        int rc = side_reserve(b, s);
        if (rc != LL_OK)
            return rc;
    }
    unrest(b, oi, slot);
    /* the removal may have shifted map entries and level entries: look again */
    uint32_t none;
    uint64_t new_slot = map_probe(b, new_ref, &none);
    uint32_t li = side_find(s, side, price, &pos);
    rest(b, in, side, locate, new_ref, shares, price, new_slot, li, pos);
    return LL_OK;
}

/* ------------------------------------------------------------ ITCH */

/* One message of type m[0], its full size already checked.  1: a book
 * update, 0: S or R, < 0: rejected (LL_EUNKNOWNMSG for an unknown type).
 * The one switch on the type byte: each case reads its fields at their fixed
 * offsets (itch.h) and calls the book.  The locate field of E/C/X/D/U is not
 * read: the order's own instrument counts. */
static inline int apply_msg(ll_book *b, const uint8_t *m, ll_book_err *err)
{
    int64_t rc;
    switch (m[0]) {
    case 'A':
    case 'F': {
        uint16_t locate = ll_be16(m + LL_ITCH_OFF_LOCATE);
        rc = book_add(b, locate, ll_be64(m + LL_ITCH_OFF_A_REF), m[LL_ITCH_OFF_A_SIDE],
                      ll_be32(m + LL_ITCH_OFF_A_SHARES), ll_be32(m + LL_ITCH_OFF_A_PRICE), err);
        /* A stream without Stock Directory messages (a hand-made one, or a
         * file cut after its start) still names its instruments: an add
         * carries the stock too.  An R message, before or after, wins. */
        if (rc >= 0 && !b->has_stock[locate] && m[LL_ITCH_OFF_A_STOCK] != ' ') /* left-justified: blank */
            ll_book_add_symbol(b, locate, (const char *)m + LL_ITCH_OFF_A_STOCK);
        break;
    }
    case 'E':
    case 'C': /* executed with price: the book ignores the price */
    case 'X':
        rc = book_take(b, ll_be64(m + LL_ITCH_OFF_E_REF), ll_be32(m + LL_ITCH_OFF_E_SHARES), err);
        break;
    case 'D':
        rc = book_delete(b, ll_be64(m + LL_ITCH_OFF_E_REF), err);
        break;
    case 'U':
        rc = book_replace(b, ll_be64(m + LL_ITCH_OFF_U_REF), ll_be64(m + LL_ITCH_OFF_U_NEW_REF),
                          ll_be32(m + LL_ITCH_OFF_U_SHARES), ll_be32(m + LL_ITCH_OFF_U_PRICE), err);
        break;
    case 'R':
        rc = ll_book_add_symbol(b, ll_be16(m + LL_ITCH_OFF_LOCATE), (const char *)m + LL_ITCH_OFF_R_STOCK);
        if (rc < 0 && err) {
            err->code = rc;
            err->locate = 0;
        }
        return rc < 0 ? (int)rc : 0;
    case 'S':
        return 0;
    default:
        if (err) {
            err->code = LL_EUNKNOWNMSG;
            err->type = m[0];
        }
        return LL_EUNKNOWNMSG;
    }
    return rc < 0 ? (int)rc : 1;
}

/* The framed-stream loop behind the three apply_stream entry points: at most
 * max_msgs frames from `pos`.  Counters live in locals and reach *st at the
 * end: through the pointer, every ++ would be a store the compiler must
 * keep (st->book could alias a level's uint64_t shares, as far as it knows).
 * With `ns`, each frame's time is recorded: one clock read per frame, the
 * previous read being the start of the next frame's interval. */
static inline int64_t run_frames(ll_book *b, const uint8_t *buf, uint64_t len, uint64_t pos, uint64_t max_msgs,
                                 int lenient, ll_book_stats *st, ll_book_err *err, int64_t *ns)
{
    uint64_t done = 0, book = 0, other = 0, rejected = 0;
    int64_t rc = 0;
    uint64_t t0 = ns ? ll_now_ns() : 0;
    while (pos < len && done < max_msgs) {
        if (len - pos < 2) {
            rc = LL_ETRUNCATED;
            err->what = LL_BOOK_TRUNC_PREFIX;
            goto bad_frame;
        }
        uint32_t n = ll_be16(buf + pos);
        uint64_t body = pos + 2;
        if (n > len - body) {
            rc = LL_ETRUNCATED;
            err->what = LL_BOOK_TRUNC_BODY;
            goto bad_frame;
        }
        done++;
        if (n == 0) {
            st->skipped[256]++; /* an empty frame: pyimpl counts it under "" */
        } else {
            uint8_t t = buf[body];
            uint32_t size = ll_itch_size(t);
            if (size == 0) {
                st->skipped[t]++;
            } else if (size != n) {
                rc = LL_EBADFRAME;
                err->type = t;
                goto bad_frame; /* counted in `messages`, as pyimpl does */
            } else {
                int r = apply_msg(b, buf + body, err);
                if (r > 0)
                    book++;
                else if (r == 0)
                    other++;
                else if (lenient)
                    rejected++;
                else {
                    err->offset = pos;
                    rc = r;
                    st->end = pos;
                    goto out;
                }
            }
        }
        pos = body + n;
        if (ns) {
            uint64_t t1 = ll_now_ns();
            ns[done - 1] = (int64_t)(t1 - t0);
            t0 = t1;
        }
    }
    st->end = pos;
    rc = (int64_t)done;
    goto out;
bad_frame:
    err->code = rc;
    err->offset = pos;
    st->end = pos;
    if (lenient) {
        st->truncated = 1;
        rc = (int64_t)done;
    }
out:
    st->messages += done;
    st->book += book;
    st->other += other;
    st->rejected += rejected;
    return rc;
}

/* ------------------------------------------------------------ memory */

/* The three big pools (orders, levels, the map: 352 MiB at the default 4 M
 * orders) are anonymous private mappings: zero-filled, page-aligned (so they
 * can be advised), and backed by memory only where they are touched.  That
 * keeps a book cheap to create and to hold (the tests create hundreds), but
 * every first touch of a page is a page fault, and with lazy backing those
 * land in the stream: ~790 faults in labs.feed.simulate(200_000), ~10% of the
 * C book's time there (labs/05-order-book/README.md, section 5.5).  So a
 * feed handler calls ll_book_prefault before the market opens. */
static void *pool_map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void pool_unmap(void *p, size_t bytes)
{
    if (p != NULL)
        munmap(p, bytes);
}

/* Back every page of [p, p + bytes) with memory now: the kernel's
 * MADV_POPULATE_WRITE (Linux 5.14+) in one call, else a write to each page
 * (the value it holds, so a book in use is not changed). */
static int populate(void *p, size_t bytes)
{
#ifdef MADV_POPULATE_WRITE
    if (madvise(p, bytes, MADV_POPULATE_WRITE) == 0)
        return LL_OK;
#endif
    long page = sysconf(_SC_PAGESIZE);
    volatile uint8_t *q = p;
    for (size_t i = 0; i < bytes; i += (size_t)page)
        q[i] = q[i];
    return LL_OK;
}

/* Take every page fault of the pools now, not in the stream.  `huge`: ask
 * for transparent huge pages first (MADV_HUGEPAGE; advisory, and only worth
 * it when everything is populated anyway: a lazily touched 2 MiB page costs
 * a 2 MiB clear at its first touch).  Returns LL_OK (the memory is then
 * resident: 352 MiB at the default capacity). */
LL_EXPORT int ll_book_prefault(ll_book *b, int huge)
{
    void *pools[3] = {b->orders, b->levels, b->map};
    size_t bytes[3] = {b->orders_bytes, b->levels_bytes, b->map_bytes};
    for (int i = 0; i < 3; i++) {
#ifdef MADV_HUGEPAGE
        if (huge)
            madvise(pools[i], bytes[i], MADV_HUGEPAGE);
#else
        (void)huge;
#endif
        populate(pools[i], bytes[i]);
    }
    b->prefaulted = 1 + (huge != 0);
    return LL_OK;
}

/* ------------------------------------------------------------ the API */

LL_EXPORT ll_book *ll_book_create(uint64_t max_orders, uint64_t max_instruments, int *err)
{
    if (max_orders == 0 || max_orders > LL_BOOK_MAX_ORDERS || max_instruments == 0 ||
        max_instruments > LL_BOOK_MAX_INSTRUMENTS) {
        *err = LL_EINVAL;
        return NULL;
    }
    ll_book *b = calloc(1, sizeof *b);
    if (b == NULL) {
        *err = LL_ENORES;
        return NULL;
    }
    uint64_t slots = 16;
    while (slots < 2 * max_orders)
        slots <<= 1;
    b->max_orders = (uint32_t)max_orders;
    b->max_inst = (uint32_t)max_instruments;
    b->order_free = b->level_free = NIL;
    b->map_mask = slots - 1;
    b->orders_bytes = max_orders * sizeof *b->orders;
    b->levels_bytes = max_orders * sizeof *b->levels;
    b->map_bytes = slots * sizeof *b->map;
    b->orders = pool_map(b->orders_bytes);
    b->levels = pool_map(b->levels_bytes);
    b->map = pool_map(b->map_bytes);
    b->inst = calloc(max_instruments, sizeof *b->inst);
    b->inst_of = calloc(65536, sizeof *b->inst_of);
    b->stock = calloc(65536, sizeof *b->stock);
    b->has_stock = calloc(65536, 1);
    if (!b->orders || !b->levels || !b->map || !b->inst || !b->inst_of || !b->stock || !b->has_stock) {
        ll_book_destroy(b);
        *err = LL_ENORES;
        return NULL;
    }
    *err = LL_OK;
    return b;
}

LL_EXPORT void ll_book_destroy(ll_book *b)
{
    if (b == NULL)
        return;
    if (b->inst != NULL)
        for (uint32_t i = 0; i < b->n_inst; i++) {
            free(b->inst[i].side[0].e);
            free(b->inst[i].side[1].e);
        }
    pool_unmap(b->orders, b->orders_bytes);
    pool_unmap(b->levels, b->levels_bytes);
    pool_unmap(b->map, b->map_bytes);
    free(b->inst);
    free(b->inst_of);
    free(b->stock);
    free(b->has_stock);
    free(b);
}

/* The directory: 8 raw bytes (space padded, as in 'R'); a later entry for
 * the same locate replaces the earlier one. */
LL_EXPORT int ll_book_add_symbol(ll_book *b, uint32_t locate, const char *stock8)
{
    if (locate == 0 || locate > 0xFFFF)
        return LL_EBADLOCATE;
    memcpy(b->stock[locate], stock8, 8);
    if (!b->has_stock[locate]) {
        b->has_stock[locate] = 1;
        b->n_stocks++;
    }
    return LL_OK;
}

/* Up to max directory entries, by locate: locates[i] and stocks8[8 i..8 i + 8).
 * Returns the number of entries in the directory (call with max 0 to size). */
LL_EXPORT uint32_t ll_book_symbols(const ll_book *b, uint16_t *locates, char *stocks8, uint32_t max)
{
    uint32_t k = 0;
    for (uint32_t loc = 1; loc <= 0xFFFF && k < max; loc++)
        if (b->has_stock[loc]) {
            locates[k] = (uint16_t)loc;
            memcpy(stocks8 + 8 * (size_t)k, b->stock[loc], 8);
            k++;
        }
    return b->n_stocks;
}

LL_EXPORT int ll_book_add(ll_book *b, uint32_t locate, uint64_t ref, uint8_t side, uint32_t shares, uint32_t price,
                          ll_book_err *err)
{
    return book_add(b, locate, ref, side, shares, price, err);
}

LL_EXPORT int64_t ll_book_execute(ll_book *b, uint64_t ref, uint32_t shares, ll_book_err *err)
{
    return book_take(b, ref, shares, err);
}

LL_EXPORT int64_t ll_book_cancel(ll_book *b, uint64_t ref, uint32_t shares, ll_book_err *err)
{
    return book_take(b, ref, shares, err);
}

LL_EXPORT int ll_book_delete(ll_book *b, uint64_t ref, ll_book_err *err) { return book_delete(b, ref, err); }

LL_EXPORT int ll_book_replace(ll_book *b, uint64_t ref, uint64_t new_ref, uint32_t shares, uint32_t price,
                              ll_book_err *err)
{
    return book_replace(b, ref, new_ref, shares, price, err);
}

/* One unframed message: len must be its type's size (pyimpl.order_book's
 * apply: no bytes -> LL_ETRUNCATED, an unknown type -> LL_EUNKNOWNMSG,
 * another length -> LL_EBADFRAME). */
LL_EXPORT int ll_book_apply(ll_book *b, const uint8_t *msg, uint64_t len, ll_book_err *err)
{
    if (len == 0) {
        err->code = LL_ETRUNCATED;
        return LL_ETRUNCATED;
    }
    uint32_t size = ll_itch_size(msg[0]);
    err->type = msg[0];
    if (size == 0) {
        err->code = LL_EUNKNOWNMSG;
        return LL_EUNKNOWNMSG;
    }
    if (len != size) {
        err->code = LL_EBADFRAME;
        return LL_EBADFRAME;
    }
    return apply_msg(b, msg, err);
}

LL_EXPORT int64_t ll_book_apply_frames(ll_book *b, const uint8_t *buf, uint64_t len, uint64_t offset,
                                       uint64_t max_msgs, int lenient, ll_book_stats *st, ll_book_err *err)
{
    return run_frames(b, buf, len, offset, max_msgs, lenient, st, err, NULL);
}

LL_EXPORT int64_t ll_book_apply_stream(ll_book *b, const uint8_t *buf, uint64_t len, int lenient, ll_book_stats *st,
                                       ll_book_err *err)
{
    return run_frames(b, buf, len, 0, UINT64_MAX, lenient, st, err, NULL);
}

/* As apply_frames, recording each frame's time (framing, decode, update and
 * one clock read: ll_now_ns, CLOCK_MONOTONIC from the vDSO) in ns[0..n_max):
 * at most n_max frames are read, from `offset`. */
LL_EXPORT int64_t ll_book_apply_stream_timed(ll_book *b, const uint8_t *buf, uint64_t len, uint64_t offset,
                                             int lenient, ll_book_stats *st, ll_book_err *err, int64_t *ns,
                                             uint64_t n_max)
{
    return run_frames(b, buf, len, offset, n_max, lenient, st, err, ns);
}

/* ------------------------------------------------------------ queries */

/* out = {bid price, bid shares, ask price, ask shares}; bit 0 set: there is a
 * bid, bit 1: an ask. */
LL_EXPORT int ll_book_best(const ll_book *b, uint32_t locate, uint64_t out[4])
{
    const bk_instrument *in = instrument(b, locate);
    int mask = 0;
    if (in == NULL)
        return 0;
    for (int side = 0; side < 2; side++) {
        const bk_side *s = &in->side[side];
        if (s->n > 0) {
            const bk_level *l = &b->levels[s->e[s->n - 1].level];
            out[2 * side] = l->price;
            out[2 * side + 1] = l->shares;
            mask |= 1 << side;
        }
    }
    return mask;
}

static uint32_t side_depth(const ll_book *b, const bk_side *s, uint32_t n, uint64_t *out)
{
    uint32_t k = n < s->n ? n : s->n;
    for (uint32_t i = 0; i < k; i++) {
        const bk_level *l = &b->levels[s->e[s->n - 1 - i].level];
        out[3 * i] = l->price;
        out[3 * i + 1] = l->shares;
        out[3 * i + 2] = l->count;
    }
    return k;
}

/* The top n levels of each side, best first, as (price, shares, orders)
 * triples in bids[0..3n) and asks[0..3n).  Returns bid levels | ask levels << 32. */
LL_EXPORT int64_t ll_book_depth(const ll_book *b, uint32_t locate, uint32_t n, uint64_t *bids, uint64_t *asks)
{
    const bk_instrument *in = instrument(b, locate);
    if (in == NULL)
        return 0;
    uint64_t nb = side_depth(b, &in->side[SIDE_BID], n, bids);
    uint64_t na = side_depth(b, &in->side[SIDE_ASK], n, asks);
    return (int64_t)(nb | na << 32);
}

/* Levels on each side: bids | asks << 32. */
LL_EXPORT int64_t ll_book_level_count(const ll_book *b, uint32_t locate)
{
    const bk_instrument *in = instrument(b, locate);
    if (in == NULL)
        return 0;
    return (int64_t)((uint64_t)in->side[SIDE_BID].n | (uint64_t)in->side[SIDE_ASK].n << 32);
}

/* out = {locate, side byte, shares left, price}; 1 if resting, 0 if not. */
LL_EXPORT int ll_book_order(const ll_book *b, uint64_t ref, uint64_t out[4])
{
    uint32_t oi = map_find(b, ref);
    if (oi == NIL)
        return 0;
    const bk_order *o = &b->orders[oi];
    out[0] = o->locate;
    out[1] = o->side == SIDE_BID ? 'B' : 'S';
    out[2] = o->shares;
    out[3] = o->price;
    return 1;
}

/* The refs queued at one level, oldest first (the first max of them);
 * returns how many the level holds (0: no such level). */
LL_EXPORT int64_t ll_book_queue(const ll_book *b, uint32_t locate, uint8_t side_byte, uint32_t price, uint64_t *refs,
                                uint64_t max)
{
    const bk_instrument *in = instrument(b, locate);
    if (in == NULL || (side_byte != 'B' && side_byte != 'S'))
        return 0;
    int side = side_byte == 'B' ? SIDE_BID : SIDE_ASK;
    uint32_t pos;
    uint32_t li = side_find(&in->side[side], side, price, &pos);
    if (li == NIL)
        return 0;
    uint64_t k = 0;
    for (uint32_t oi = b->levels[li].head; oi != NIL && k < max; oi = b->orders[oi].next)
        refs[k++] = b->orders[oi].ref;
    return b->levels[li].count;
}

LL_EXPORT uint64_t ll_book_count(const ll_book *b) { return b->n_orders; }

/* The locates of the instruments that have seen an order, in the order they
 * first did; returns how many there are. */
LL_EXPORT uint32_t ll_book_instruments(const ll_book *b, uint16_t *locates, uint32_t max)
{
    for (uint32_t i = 0; i < b->n_inst && i < max; i++)
        locates[i] = b->inst[i].locate;
    return b->n_inst;
}

/* ------------------------------------------------------------ introspection */

LL_EXPORT int64_t ll_book_stat(const ll_book *b, const char *what)
{
    const ll_fact facts[] = {
        {"orders", b->n_orders},
        {"levels", b->n_levels},
        {"instruments", b->n_inst},
        {"symbols", b->n_stocks},
        {"max_orders", b->max_orders},
        {"max_instruments", b->max_inst},
        {"map_slots", (int64_t)(b->map_mask + 1)},
        {"orders_used", b->orders_used}, /* the pool's high-water mark */
        {"levels_used", b->levels_used},
        {"level_growths", (int64_t)b->level_growths},
        {"prefaulted", b->prefaulted}, /* 0 no, 1 yes, 2 yes with MADV_HUGEPAGE */
    };
    return ll_lookup_fact(facts, sizeof facts / sizeof facts[0], what);
}

/* Every invariant of the book, checked the slow way: 0 if all hold, else
 * minus the line of the first that fails.  For the tests. */
#define EXPECT(cond)                                                                                              \
    do {                                                                                                          \
        if (!(cond))                                                                                              \
            return -(int64_t)__LINE__;                                                                            \
    } while (0)

LL_EXPORT int64_t ll_book_check(const ll_book *b)
{
    /* the map: each entry names a live order with its ref, reachable from its
     * home slot without crossing an empty slot */
    uint64_t in_map = 0;
    for (uint64_t i = 0; i <= b->map_mask; i++) {
        const bk_slot *s = &b->map[i];
        if (s->idx1 == 0)
            continue;
        in_map++;
        EXPECT(s->idx1 - 1 < b->orders_used);
        const bk_order *o = &b->orders[s->idx1 - 1];
        EXPECT(o->shares > 0 && o->ref == s->ref && s->home == home(b, s->ref));
        for (uint64_t j = home(b, s->ref); j != i; j = (j + 1) & b->map_mask)
            EXPECT(b->map[j].idx1 != 0);
        /* Robin Hood order: the entry before it is no further from its home
         * than this one is from its own, plus one */
        const bk_slot *p = &b->map[(i - 1) & b->map_mask];
        EXPECT(p->idx1 == 0 || map_dist(b, i, s->home) <= map_dist(b, (i - 1) & b->map_mask, p->home) + 1);
    }
    EXPECT(in_map == b->n_orders);
    /* the levels: sorted strictly, best last, each with its queue's totals */
    uint64_t orders = 0, levels = 0;
    for (uint32_t i = 0; i < b->n_inst; i++) {
        const bk_instrument *in = &b->inst[i];
        EXPECT(in->locate != 0 && b->inst_of[in->locate] == i + 1);
        for (int side = 0; side < 2; side++) {
            const bk_side *s = &in->side[side];
            EXPECT(s->n <= s->cap);
            for (uint32_t k = 0; k < s->n; k++) {
                EXPECT(k == 0 || s->e[k - 1].key < s->e[k].key);
                uint32_t li = s->e[k].level;
                EXPECT(li < b->levels_used);
                const bk_level *l = &b->levels[li];
                EXPECT(l->count > 0 && side_key(side, l->price) == s->e[k].key);
                uint64_t shares = 0, count = 0;
                uint32_t prev = NIL;
                for (uint32_t oi = l->head; oi != NIL; oi = b->orders[oi].next) {
                    const bk_order *o = &b->orders[oi];
                    EXPECT(count < b->n_orders);
                    EXPECT(o->shares > 0 && o->prev == prev && o->level == li && o->price == l->price);
                    EXPECT(o->side == side && o->locate == in->locate);
                    EXPECT(map_find(b, o->ref) == oi);
                    shares += o->shares;
                    count++;
                    prev = oi;
                }
                EXPECT(l->tail == prev && count == l->count && shares == l->shares);
                orders += count;
                levels++;
            }
        }
    }
    EXPECT(orders == b->n_orders && levels == b->n_levels);
    /* the pools: live + free = used */
    uint64_t free_orders = 0, free_levels = 0;
    for (uint32_t oi = b->order_free; oi != NIL; oi = b->orders[oi].next) {
        EXPECT(oi < b->orders_used && b->orders[oi].shares == 0 && free_orders < b->orders_used);
        free_orders++;
    }
    for (uint32_t li = b->level_free; li != NIL; li = b->levels[li].head) {
        EXPECT(li < b->levels_used && b->levels[li].count == 0 && free_levels < b->levels_used);
        free_levels++;
    }
    EXPECT(b->n_orders + free_orders == b->orders_used);
    EXPECT(b->n_levels + free_levels == b->levels_used);
    return 0;
}

/* The home slot of a ref in this book's map (tests build colliding refs). */
LL_EXPORT uint64_t ll_book_home_slot(const ll_book *b, uint64_t ref) { return home(b, ref); }

LL_EXPORT uint32_t ll_book_message_size(uint32_t type) { return type > 255 ? 0 : ll_itch_size((uint8_t)type); }

LL_EXPORT int64_t ll_book_layout_info(const char *what)
{
    static const ll_fact facts[] = {
        {"max_orders", LL_BOOK_MAX_ORDERS},
        {"max_instruments", LL_BOOK_MAX_INSTRUMENTS},
        {"sizeof_order", sizeof(bk_order)},
        {"sizeof_level", sizeof(bk_level)},
        {"sizeof_slot", sizeof(bk_slot)},
        {"sizeof_entry", sizeof(bk_entry)},
        {"sizeof_err", sizeof(ll_book_err)},
        {"err.code", offsetof(ll_book_err, code)},
        {"err.ref", offsetof(ll_book_err, ref)},
        {"err.offset", offsetof(ll_book_err, offset)},
        {"err.capacity", offsetof(ll_book_err, capacity)},
        {"err.shares", offsetof(ll_book_err, shares)},
        {"err.left", offsetof(ll_book_err, left)},
        {"err.locate", offsetof(ll_book_err, locate)},
        {"err.side", offsetof(ll_book_err, side)},
        {"err.what", offsetof(ll_book_err, what)},
        {"err.type", offsetof(ll_book_err, type)},
        {"sizeof_stats", sizeof(ll_book_stats)},
        {"stats.rejected", offsetof(ll_book_stats, rejected)},
        {"stats.end", offsetof(ll_book_stats, end)},
        {"stats.skipped", offsetof(ll_book_stats, skipped)},
    };
    return ll_lookup_fact(facts, sizeof facts / sizeof facts[0], what);
}
