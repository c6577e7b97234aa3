/*
 * exchange.c - lab 7's exchange simulator: a matching engine that replays a
 * market feed (ITCH 5.0) and matches one client's orders (OUCH 5.0) into it.
 * The API and the rules in short are in exchange.h; pyimpl/exchange.py is
 * the same matcher in Python, and the tests hold the two to the same reply
 * bytes on random streams.
 *
 * 1. Why a replay needs a queue model.
 *
 *    The feed is history: every order in it was really placed, executed and
 *    cancelled, whatever our client does.  Our orders are the only thing that
 *    is new, so the question the simulator answers is "had our order been
 *    there, what would have happened to it?".  For an order that crosses the
 *    book (it takes liquidity) the answer is easy: it trades with what is
 *    displayed, best price first, first come first served at each price.  For
 *    an order that rests (it adds liquidity) it is the interesting part of the
 *    lab: on a price-time exchange an order at a price only trades after every
 *    order that arrived before it at that price has traded or left.  An L3
 *    feed (order by order, like ITCH) lets us follow that exactly:
 *
 *      - when our order joins a level we note shares_ahead: the displayed
 *        shares already there;
 *      - every later execution, cancel, delete or replace of an order that was
 *        ahead of ours at that level makes shares_ahead shrink by the shares
 *        that order loses;
 *      - an execution of an order that is BEHIND ours at our price (it came
 *        later), or at a worse price than ours (a sell aggressor hitting a bid
 *        of 99.99 while ours is at 100.00), means an aggressor came that would
 *        have met our order first: we fill ours with those shares;
 *      - an order added on the other side at a price that crosses ours would
 *        have traded with ours on arrival: we fill ours against it.
 *
 *    "Ahead" is decided by arrival numbers: every order that joins a level,
 *    a feed order or ours, gets the next number of one counter; a feed order
 *    is ahead of ours if it is on the same side at the same price with a
 *    smaller number.  No guessing, unlike the L2 queue models (hftbacktest's
 *    RiskAdverse / Prob models) that only see a level's total size.
 *
 * 2. What a replay cannot model: market impact.
 *
 *    The feed never learns of our fills.  When our buy takes 300 shares of a
 *    resting sell, the real seller keeps those shares in the history: the
 *    feed will later execute or cancel them as if nothing happened, and the
 *    buyer who really bought them will still buy them.  So we remember, per
 *    feed order, how many of its shares the client took, never take them
 *    twice, and let the feed's later executions of that order consume the
 *    taken shares first (then they are gone for both worlds).  What we cannot
 *    know is how the others would have reacted to our order: a real seller
 *    might have cancelled, a real buyer might have paid up.  The error grows
 *    with our size relative to the market's: a simulator like this one is
 *    only honest for small orders, which is what lab 8 measures.
 *    Likewise when a feed aggressor "fills" our resting order we do not take
 *    those shares away from the feed's order it really hit.
 *
 * 3. Data structures, all allocated in ll_exch_create, none after:
 *
 *    - the displayed book: lab 5's ll_book (its levels keep the FIFO of each
 *      price: ll_book_queue lists it, oldest first);
 *    - per feed order: its arrival number and the shares the client took, in
 *      an open-addressing hash keyed by the order ref (linear probing,
 *      backward-shift delete, so no tombstones pile up in a long replay; sized
 *      2x the book's order pool, a power of two);
 *    - per client order: its record (ll_exch_order, kept for the session: the
 *      reconciliation reads them), found by UserRefNum through a second hash;
 *    - the resting client orders of each (instrument, side) in one doubly
 *      linked list in priority order (best price first, then arrival): a feed
 *      event on that side walks it from the front and stops at the first
 *      price it cannot touch.  The client has few orders, so a short list
 *      beats a tree here;
 *    - the fill log, positions and cash per instrument, counters.
 *
 * Single-threaded: one ll_exch belongs to one thread (the exchange process's
 * loop, or the backtester's); no atomics, no locks.
 */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "exchange.h"
#include "itch.h"
#include "order_book.h"
#include "ouch.h"

#define NIL UINT32_MAX
#define N_LOCATES 65536u

/* a feed order's state beyond what the book holds */
typedef struct {
    uint64_t ref;
    uint64_t arrival; /* 0: empty slot */
    uint32_t taken;   /* shares the client took from it */
    uint32_t pad_;
} fo_slot;

/* a client order's links (beside its public record) */
typedef struct {
    uint64_t arrival;
    uint32_t prev, next; /* in its (locate, side) list while it rests */
    uint32_t listed;     /* 1 while in that list */
    uint32_t pad_;
} co_link;

typedef struct {
    uint64_t key; /* the 8 symbol bytes */
    uint32_t locate; /* 0: empty */
    uint32_t pad_;
} sym_slot;

struct ll_exch {
    ll_exch_config cfg;
    ll_book *book;
    /* feed orders */
    fo_slot *fo;
    uint64_t fo_mask;
    /* client orders */
    ll_exch_order *rec;
    co_link *link;
    uint32_t n_rec;
    uint32_t *ur_map; /* UserRefNum -> record index, NIL empty */
    uint64_t ur_mask;
    uint32_t *heads;  /* [locate * 2 + side]: the first resting order, NIL */
    uint32_t last_user_ref;
    uint32_t n_open;
    /* symbols */
    sym_slot *sym;
    uint64_t sym_mask;
    uint32_t n_sym;
    /* fills, positions */
    ll_exch_fill *fills;
    uint64_t n_fills;
    int64_t *position; /* [locate] */
    int64_t *cash;     /* [locate] */
    uint8_t *has_fill; /* [locate] */
    /* counters */
    uint64_t arrival;
    uint64_t order_ref;
    uint64_t match;
    uint64_t st_feed, st_feed_book, st_orders, st_replaces, st_cancels, st_cancel_noops;
    uint64_t st_fills, st_added, st_removed, st_unrecorded, st_rejects, st_bought, st_sold;
    uint64_t rejects[LL_OUCH_REJ_MAX];
    /* scratch for the book's queries */
    uint64_t *refs;   /* max_feed_orders */
    uint64_t *lv_bid; /* 3 * max_sweep */
    uint64_t *lv_ask;
};

/* ------------------------------------------------------------ small helpers */
static uint64_t pow2_at_least(uint64_t n)
{
    uint64_t p = 16;
    while (p < n)
        p <<= 1;
    return p;
}

static inline uint64_t mix64(uint64_t k)
{
    /* splitmix64's finalizer: refs of a feed are often consecutive numbers;
     * this spreads them over the table */
    k ^= k >> 30;
    k *= 0xbf58476d1ce4e5b9ull;
    k ^= k >> 27;
    k *= 0x94d049bb133111ebull;
    k ^= k >> 31;
    return k;
}

static inline int side_index(uint8_t side) { return side == 'B' ? 0 : 1; }
static inline uint8_t other_side(uint8_t side) { return side == 'B' ? 'S' : 'B'; }

/* better(a, b): price a has priority over price b on `side` */
static inline int better(uint8_t side, uint32_t a, uint32_t b) { return side == 'B' ? a > b : a < b; }

/* does a resting client order at price c on side cs meet an opposite price p? */
static inline int crosses(uint8_t cs, uint32_t c, uint32_t p) { return cs == 'B' ? c >= p : c <= p; }

static inline uint64_t sym_key(const char *s8)
{
    uint64_t k;
    memcpy(&k, s8, 8);
    return k;
}

/* ------------------------------------------------------------ the feed-order hash */
static fo_slot *fo_find(const ll_exch *x, uint64_t ref)
{
    for (uint64_t i = mix64(ref) & x->fo_mask;; i = (i + 1) & x->fo_mask) {
        fo_slot *s = &x->fo[i];
        if (s->arrival == 0)
            return NULL;
        if (s->ref == ref)
            return s;
    }
}

static void fo_insert(ll_exch *x, uint64_t ref, uint64_t arrival, uint32_t taken)
{
    /* the table has twice the book's capacity and the book refused duplicates: a free slot exists */
    uint64_t i = mix64(ref) & x->fo_mask;
    while (x->fo[i].arrival != 0 && x->fo[i].ref != ref)
        i = (i + 1) & x->fo_mask;
    x->fo[i].ref = ref;
    x->fo[i].arrival = arrival;
    x->fo[i].taken = taken;
}

/* Backward-shift deletion: pull later members of the probe run back into the
 * hole, so a lookup can still stop at the first empty slot. */
static void fo_erase(ll_exch *x, fo_slot *s)
{
    uint64_t hole = (uint64_t)(s - x->fo);
    uint64_t i = hole;
    for (;;) {
        i = (i + 1) & x->fo_mask;
        if (x->fo[i].arrival == 0)
            break;
        uint64_t home = mix64(x->fo[i].ref) & x->fo_mask;
        /* may the entry at i move to hole? yes if its home is not in (hole, i] (cyclically) */
        int in_between = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!in_between) {
            x->fo[hole] = x->fo[i];
            hole = i;
        }
    }
    x->fo[hole].arrival = 0;
    x->fo[hole].ref = 0;
    x->fo[hole].taken = 0;
}

/* ------------------------------------------------------------ symbols, UserRefNums */
static uint32_t sym_find(const ll_exch *x, const char *s8)
{
    uint64_t k = sym_key(s8);
    for (uint64_t i = mix64(k) & x->sym_mask;; i = (i + 1) & x->sym_mask) {
        if (x->sym[i].locate == 0)
            return 0;
        if (x->sym[i].key == k)
            return x->sym[i].locate;
    }
}

static int sym_set(ll_exch *x, uint32_t locate, const char *s8)
{
    uint64_t k = sym_key(s8);
    uint64_t i = mix64(k) & x->sym_mask;
    while (x->sym[i].locate != 0 && x->sym[i].key != k)
        i = (i + 1) & x->sym_mask;
    if (x->sym[i].locate == 0) {
        if (x->n_sym >= x->cfg.max_instruments)
            return LL_EBOOKFULL;
        x->n_sym++;
    }
    x->sym[i].key = k;
    x->sym[i].locate = locate; /* the last directory entry for a symbol wins */
    return LL_OK;
}

static uint32_t ur_find(const ll_exch *x, uint32_t user_ref)
{
    for (uint64_t i = mix64(user_ref) & x->ur_mask;; i = (i + 1) & x->ur_mask) {
        uint32_t r = x->ur_map[i];
        if (r == NIL || x->rec[r].user_ref == user_ref)
            return r;
    }
}

static void ur_insert(ll_exch *x, uint32_t user_ref, uint32_t r)
{
    uint64_t i = mix64(user_ref) & x->ur_mask;
    while (x->ur_map[i] != NIL)
        i = (i + 1) & x->ur_mask;
    x->ur_map[i] = r;
}

/* ------------------------------------------------------------ the open lists */
static uint32_t *head_of(ll_exch *x, uint16_t locate, uint8_t side)
{
    return &x->heads[(uint32_t)locate * 2 + (uint32_t)side_index(side)];
}

/* insert record r in priority order: after every order with a better price,
 * and after those at its price that arrived earlier */
static void open_insert(ll_exch *x, uint32_t r)
{
    const ll_exch_order *o = &x->rec[r];
    uint32_t *head = head_of(x, o->locate, o->side);
    uint32_t prev = NIL, cur = *head;
    while (cur != NIL) {
        const ll_exch_order *c = &x->rec[cur];
        if (better(o->side, o->price, c->price) ||
            (o->price == c->price && x->link[r].arrival < x->link[cur].arrival))
            break;
        prev = cur;
        cur = x->link[cur].next;
    }
    x->link[r].prev = prev;
    x->link[r].next = cur;
    if (prev == NIL)
        *head = r;
    else
        x->link[prev].next = r;
    if (cur != NIL)
        x->link[cur].prev = r;
    x->link[r].listed = 1;
    x->n_open++;
}

static void open_remove(ll_exch *x, uint32_t r)
{
    const ll_exch_order *o = &x->rec[r];
    uint32_t *head = head_of(x, o->locate, o->side);
    uint32_t prev = x->link[r].prev, next = x->link[r].next;
    if (prev == NIL)
        *head = next;
    else
        x->link[prev].next = next;
    if (next != NIL)
        x->link[next].prev = prev;
    x->link[r].prev = x->link[r].next = NIL;
    x->link[r].listed = 0;
    x->n_open--;
}

/* record n takes record r's place in its list (a replace that keeps priority) */
static void open_swap(ll_exch *x, uint32_t r, uint32_t n)
{
    const ll_exch_order *o = &x->rec[r];
    uint32_t prev = x->link[r].prev, next = x->link[r].next;
    x->link[n].prev = prev;
    x->link[n].next = next;
    x->link[n].arrival = x->link[r].arrival;
    if (prev == NIL)
        *head_of(x, o->locate, o->side) = n;
    else
        x->link[prev].next = n;
    if (next != NIL)
        x->link[next].prev = n;
    x->link[n].listed = 1;
    x->link[r].prev = x->link[r].next = NIL;
    x->link[r].listed = 0;
}

/* ------------------------------------------------------------ replies */
typedef struct {
    uint8_t *out;
    uint64_t pos;
} sink;

static void put_msg(sink *k, const ll_ouch_msg *m)
{
    /* the caller's buffer holds ll_exch_reply_capacity bytes: every reply of one call fits */
    int64_t n = ll_ouch_encode(m, LL_OUCH_OUTBOUND, k->out + k->pos, LL_OUCH_MAX_SIZE);
    if (n > 0)
        k->pos += (uint64_t)n;
}

static void reply_reject(ll_exch *x, sink *k, uint64_t ts, uint32_t user_ref, uint16_t reason, const char *clordid)
{
    ll_ouch_msg m;
    memset(&m, 0, sizeof m);
    m.type = 'J';
    m.timestamp = ts;
    m.user_ref = user_ref;
    m.reason = reason;
    if (clordid)
        memcpy(m.cl_ord_id, clordid, LL_OUCH_CLORDID_LEN);
    else
        memset(m.cl_ord_id, ' ', LL_OUCH_CLORDID_LEN);
    put_msg(k, &m);
    x->st_rejects++;
    if (reason < LL_OUCH_REJ_MAX)
        x->rejects[reason]++;
}

static void reply_canceled(sink *k, uint64_t ts, uint32_t user_ref, uint32_t qty, uint8_t reason)
{
    ll_ouch_msg m;
    memset(&m, 0, sizeof m);
    m.type = 'C';
    m.timestamp = ts;
    m.user_ref = user_ref;
    m.qty = qty;
    m.reason = reason;
    put_msg(k, &m);
}

/* Accepted ('A') or Replaced ('U') for record r */
static void reply_accepted(sink *k, uint8_t type, uint64_t ts, const ll_exch_order *o)
{
    ll_ouch_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.timestamp = ts;
    m.user_ref = o->user_ref;
    m.orig_user_ref = o->orig_user_ref;
    m.side = o->side;
    m.qty = o->qty;
    memcpy(m.symbol, o->symbol, LL_OUCH_SYMBOL_LEN);
    m.price = o->price;
    m.tif = o->tif;
    m.display = o->display;
    m.order_ref = o->order_ref;
    m.capacity = o->capacity;
    m.ise = LL_OUCH_ISE_NO;
    m.cross = o->cross;
    m.state = LL_OUCH_STATE_LIVE;
    memcpy(m.cl_ord_id, o->cl_ord_id, LL_OUCH_CLORDID_LEN);
    put_msg(k, &m);
}

/* Record r fills qty at price: the Executed reply, the fill log, the
 * position; a filled order leaves its list. */
static void fill(ll_exch *x, sink *k, uint32_t r, uint32_t qty, uint32_t price, uint8_t liq, uint64_t ts)
{
    ll_exch_order *o = &x->rec[r];
    o->leaves -= qty;
    o->filled += qty;
    x->match++;
    ll_ouch_msg m;
    memset(&m, 0, sizeof m);
    m.type = 'E';
    m.timestamp = ts;
    m.user_ref = o->user_ref;
    m.qty = qty;
    m.price = price;
    m.liquidity = liq;
    m.match = x->match;
    put_msg(k, &m);
    if (x->n_fills < x->cfg.max_fills) {
        ll_exch_fill *f = &x->fills[x->n_fills++];
        f->match = x->match;
        f->timestamp = ts;
        f->user_ref = o->user_ref;
        f->qty = qty;
        f->price = price;
        f->locate = o->locate;
        f->side = o->side;
        f->liquidity = liq;
    } else {
        x->st_unrecorded++;
    }
    int64_t notional = (int64_t)qty * (int64_t)price;
    if (o->side == 'B') {
        x->position[o->locate] += qty;
        x->cash[o->locate] -= notional;
        x->st_bought += qty;
    } else {
        x->position[o->locate] -= qty;
        x->cash[o->locate] += notional;
        x->st_sold += qty;
    }
    x->has_fill[o->locate] = 1;
    x->st_fills++;
    if (liq == LL_OUCH_LIQ_ADDED)
        x->st_added++;
    else
        x->st_removed++;
    if (o->leaves == 0) {
        if (x->link[r].listed)
            open_remove(x, r);
        o->state = LL_EXCH_FILLED;
        o->shares_ahead = 0;
    }
}

/* ------------------------------------------------------------ queue position */
/* A feed order (side, price, arrival) lost d shares that were still there
 * for us (not taken): every resting client order behind it at that price is
 * d shares closer to the front. */
static void ahead_shrink(ll_exch *x, uint16_t locate, uint8_t side, uint32_t price, uint64_t arrival, uint32_t d)
{
    if (d == 0)
        return;
    for (uint32_t r = *head_of(x, locate, side); r != NIL; r = x->link[r].next) {
        ll_exch_order *o = &x->rec[r];
        if (better(side, price, o->price))
            break; /* this order and all after it are at worse prices */
        if (o->price == price && x->link[r].arrival > arrival)
            o->shares_ahead = o->shares_ahead > d ? o->shares_ahead - d : 0;
    }
}

/* The shares at (locate, side, price) still there for us: displayed minus taken. */
static uint32_t level_available(ll_exch *x, uint16_t locate, uint8_t side, uint32_t price)
{
    int64_t n = ll_book_queue(x->book, locate, side, price, x->refs, x->cfg.max_feed_orders);
    uint64_t sum = 0;
    for (int64_t i = 0; i < n && (uint64_t)i < x->cfg.max_feed_orders; i++) {
        uint64_t info[4];
        if (!ll_book_order(x->book, x->refs[i], info))
            continue;
        const fo_slot *s = fo_find(x, x->refs[i]);
        sum += info[2] - (s ? s->taken : 0);
    }
    return sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
}

/* ------------------------------------------------------------ taking liquidity */
/* Record r (live, not in a list) crosses the displayed opposite side: take
 * the shares still there, best level first, FIFO within a level, up to its
 * limit and leaves; at most max_sweep levels looked at and max_sweep orders taken. */
static void sweep(ll_exch *x, sink *k, uint32_t r, uint64_t ts)
{
    ll_exch_order *o = &x->rec[r];
    uint8_t opp = other_side(o->side);
    int64_t nn = ll_book_depth(x->book, o->locate, x->cfg.max_sweep, x->lv_bid, x->lv_ask);
    uint64_t nb = (uint64_t)nn & 0xffffffffu, na = (uint64_t)nn >> 32;
    const uint64_t *lv = opp == 'B' ? x->lv_bid : x->lv_ask;
    uint64_t nlev = opp == 'B' ? nb : na;
    uint32_t taken_orders = 0;
    for (uint64_t i = 0; i < nlev && o->leaves > 0 && taken_orders < x->cfg.max_sweep; i++) {
        uint32_t price = (uint32_t)lv[3 * i];
        if (!crosses(o->side, o->price, price))
            break;
        int64_t cnt = ll_book_queue(x->book, o->locate, opp, price, x->refs, x->cfg.max_feed_orders);
        for (int64_t j = 0; j < cnt && (uint64_t)j < x->cfg.max_feed_orders; j++) {
            if (o->leaves == 0 || taken_orders >= x->cfg.max_sweep)
                break;
            uint64_t info[4];
            fo_slot *s = fo_find(x, x->refs[j]);
            if (s == NULL || !ll_book_order(x->book, x->refs[j], info))
                continue;
            uint32_t avail = (uint32_t)info[2] - s->taken;
            if (avail == 0)
                continue;
            uint32_t t = avail < o->leaves ? avail : o->leaves;
            s->taken += t;
            taken_orders++;
            /* the feed order is t shares smaller for us: our own resting orders behind it move up */
            ahead_shrink(x, o->locate, opp, price, s->arrival, t);
            fill(x, k, r, t, price, LL_OUCH_LIQ_REMOVED, ts);
        }
    }
}

/* After its sweep: an IOC's remainder is canceled, a Day order rests. */
static void rest_or_cancel(ll_exch *x, sink *k, uint32_t r, uint64_t ts)
{
    ll_exch_order *o = &x->rec[r];
    if (o->leaves == 0)
        return;
    if (o->tif == LL_OUCH_TIF_IOC) {
        uint32_t n = o->leaves;
        o->canceled += n;
        o->leaves = 0;
        o->state = LL_EXCH_CANCELED;
        reply_canceled(k, ts, o->user_ref, n, LL_OUCH_CANCEL_IOC);
        return;
    }
    o->shares_ahead = level_available(x, o->locate, o->side, o->price);
    x->link[r].arrival = ++x->arrival;
    open_insert(x, r);
}

/* ------------------------------------------------------------ feed events */
/* A feed order (locate, side, price) was added with `shares`: resting client
 * orders on the other side that it crosses fill against it, best first. */
static void feed_added(ll_exch *x, sink *k, uint16_t locate, uint64_t ref, uint8_t side, uint32_t shares,
                       uint32_t price, uint64_t ts)
{
    uint64_t arrival = ++x->arrival;
    uint32_t left = shares;
    uint8_t cs = other_side(side);
    uint32_t r = *head_of(x, locate, cs);
    while (r != NIL && left > 0) {
        uint32_t next = x->link[r].next;
        ll_exch_order *o = &x->rec[r];
        if (!crosses(cs, o->price, price))
            break;
        uint32_t f = left < o->leaves ? left : o->leaves;
        left -= f;
        fill(x, k, r, f, o->price, LL_OUCH_LIQ_ADDED, ts);
        r = next;
    }
    fo_insert(x, ref, arrival, shares - left);
}

/* n shares of feed order `ref` (pre-update: `info`, its slot s) executed. */
static void feed_executed(ll_exch *x, sink *k, const uint64_t info[4], fo_slot *s, uint32_t n, uint64_t ts)
{
    uint16_t locate = (uint16_t)info[0];
    uint8_t side = (uint8_t)info[1];
    uint32_t rem = (uint32_t)info[2], price = (uint32_t)info[3];
    uint64_t arrival = s ? s->arrival : 0;
    uint32_t t = s ? s->taken : 0;
    /* the execution eats the shares we already took first: those are gone in both worlds */
    uint32_t kk = n < t ? n : t;
    uint32_t d = n - kk;
    if (s) {
        if (rem == n)
            fo_erase(x, s);
        else
            s->taken = t - kk;
    }
    uint32_t left = n;
    uint32_t r = *head_of(x, locate, side);
    while (r != NIL) {
        uint32_t next = x->link[r].next;
        ll_exch_order *o = &x->rec[r];
        if (better(side, price, o->price))
            break; /* ours and the rest are at worse prices: untouched */
        int ahead_of_it = better(side, o->price, price) || (o->price == price && x->link[r].arrival < arrival);
        if (ahead_of_it) {
            /* the aggressor that hit it would have met ours first */
            if (left > 0) {
                uint32_t f = left < o->leaves ? left : o->leaves;
                left -= f;
                fill(x, k, r, f, o->price, LL_OUCH_LIQ_ADDED, ts);
            }
        } else if (d > 0) { /* same price, it was ahead of ours */
            o->shares_ahead = o->shares_ahead > d ? o->shares_ahead - d : 0;
        }
        r = next;
    }
}

/* Feed order (pre-update info, slot s) lost n shares by a cancel (n = rem: delete). */
static void feed_reduced(ll_exch *x, const uint64_t info[4], fo_slot *s, uint32_t n)
{
    uint32_t rem = (uint32_t)info[2];
    uint32_t t = s ? s->taken : 0;
    uint32_t rem2 = rem - n;
    uint32_t t2 = t < rem2 ? t : rem2;
    uint32_t d = (rem - t) - (rem2 - t2);
    uint64_t arrival = s ? s->arrival : 0;
    if (s) {
        if (rem2 == 0)
            fo_erase(x, s);
        else
            s->taken = t2;
    }
    ahead_shrink(x, (uint16_t)info[0], (uint8_t)info[1], (uint32_t)info[3], arrival, d);
}

static uint64_t itch_ts(const uint8_t *msg) { return ll_be48(msg + LL_ITCH_OFF_TIMESTAMP); }

LL_EXPORT int64_t ll_exch_on_feed(ll_exch *x, const uint8_t *msg, uint64_t len, uint8_t *out, uint64_t cap)
{
    if (x == NULL || msg == NULL || out == NULL || cap < ll_exch_reply_capacity(x))
        return LL_EINVAL;
    if (len == 0)
        return LL_ETRUNCATED;
    uint8_t t = msg[0];
    uint32_t size = ll_itch_size(t);
    if (size == 0)
        return LL_EUNKNOWNMSG;
    if (len < size)
        return LL_ETRUNCATED;
    if (len > size)
        return LL_EBADFRAME;
    /* what the book knows of the order before the update (E C X D U) */
    uint64_t info[4] = {0, 0, 0, 0};
    uint64_t ref = 0;
    int known = 0;
    if (t == 'E' || t == 'C' || t == 'X' || t == 'D' || t == 'U') {
        ref = ll_be64(msg + LL_ITCH_OFF_E_REF); /* U's original ref sits at the same offset */
        known = ll_book_order(x->book, ref, info);
    }
    if (t == 'R') {
        /* the directory: the book's (it refuses locate 0), then ours */
        ll_book_err e;
        int rc = ll_book_apply(x->book, msg, len, &e);
        if (rc < 0)
            return rc;
        uint32_t locate = ll_be16(msg + LL_ITCH_OFF_LOCATE);
        rc = sym_set(x, locate, (const char *)msg + LL_ITCH_OFF_R_STOCK);
        if (rc < 0)
            return rc;
        x->st_feed++;
        return 0;
    }
    ll_book_err e;
    memset(&e, 0, sizeof e);
    int rc = ll_book_apply(x->book, msg, len, &e);
    if (rc < 0)
        return rc;
    x->st_feed++;
    if (rc == 0)
        return 0; /* S */
    x->st_feed_book++;
    sink k = {out, 0};
    uint64_t ts = itch_ts(msg);
    fo_slot *s = known ? fo_find(x, ref) : NULL;
    switch (t) {
    case 'A':
    case 'F':
        feed_added(x, &k, ll_be16(msg + LL_ITCH_OFF_LOCATE), ll_be64(msg + LL_ITCH_OFF_A_REF),
                   msg[LL_ITCH_OFF_A_SIDE], ll_be32(msg + LL_ITCH_OFF_A_SHARES), ll_be32(msg + LL_ITCH_OFF_A_PRICE),
                   ts);
        break;
    case 'E':
    case 'C':
        feed_executed(x, &k, info, s, ll_be32(msg + LL_ITCH_OFF_E_SHARES), ts);
        break;
    case 'X':
        feed_reduced(x, info, s, ll_be32(msg + LL_ITCH_OFF_E_SHARES));
        break;
    case 'D':
        feed_reduced(x, info, s, (uint32_t)info[2]);
        break;
    case 'U':
        /* a replace is a delete and an add: the new order goes to the back */
        feed_reduced(x, info, s, (uint32_t)info[2]);
        feed_added(x, &k, (uint16_t)info[0], ll_be64(msg + LL_ITCH_OFF_U_NEW_REF), (uint8_t)info[1],
                   ll_be32(msg + LL_ITCH_OFF_U_SHARES), ll_be32(msg + LL_ITCH_OFF_U_PRICE), ts);
        break;
    default:
        break;
    }
    return (int64_t)k.pos;
}

/* ------------------------------------------------------------ client orders */
/* The checks shared by Enter and Replace, after the UserRefNum's: 0 or a reject code. */
static uint16_t check_order(const ll_exch *x, uint32_t qty, uint64_t price, uint32_t *price32)
{
    if (qty == 0)
        return LL_OUCH_REJ_INVALID_QUANTITY;
    if (qty > x->cfg.max_qty)
        return LL_OUCH_REJ_SHARES_EXCEED_THRESHOLD;
    if (price == 0 || ll_ouch_price_u32(price, price32) != 0)
        return LL_OUCH_REJ_INVALID_PRICE;
    return 0;
}

static int tif_ok(uint8_t tif) { return tif == LL_OUCH_TIF_DAY || tif == LL_OUCH_TIF_IOC; }

static uint32_t new_record(ll_exch *x, uint32_t user_ref, uint64_t now_ns)
{
    uint32_t r = x->n_rec++;
    ll_exch_order *o = &x->rec[r];
    memset(o, 0, sizeof *o);
    o->user_ref = user_ref;
    o->order_ref = ++x->order_ref;
    o->accepted_ns = now_ns;
    o->state = LL_EXCH_LIVE;
    x->link[r].prev = x->link[r].next = NIL;
    x->link[r].arrival = 0;
    x->link[r].listed = 0;
    ur_insert(x, user_ref, r);
    return r;
}

static void on_enter(ll_exch *x, sink *k, const ll_ouch_msg *m, uint64_t ts)
{
    if (m->user_ref <= x->last_user_ref) {
        reply_reject(x, k, ts, m->user_ref, LL_OUCH_REJ_OTHER, m->cl_ord_id);
        return;
    }
    x->last_user_ref = m->user_ref;
    if (m->side != 'B' && m->side != 'S') {
        reply_reject(x, k, ts, m->user_ref, LL_OUCH_REJ_INVALID_SIDE, m->cl_ord_id);
        return;
    }
    uint32_t price = 0;
    uint16_t why = 0;
    uint32_t locate = 0;
    if (m->qty == 0)
        why = LL_OUCH_REJ_INVALID_QUANTITY;
    else if (m->qty > x->cfg.max_qty)
        why = LL_OUCH_REJ_SHARES_EXCEED_THRESHOLD;
    else if ((locate = sym_find(x, m->symbol)) == 0)
        why = LL_OUCH_REJ_INVALID_SYMBOL;
    else if (m->price == 0 || ll_ouch_price_u32(m->price, &price) != 0)
        why = LL_OUCH_REJ_INVALID_PRICE;
    else if (!tif_ok(m->tif))
        why = LL_OUCH_REJ_OTHER;
    else if (x->n_rec >= x->cfg.max_orders || x->n_open >= x->cfg.max_open)
        why = LL_OUCH_REJ_PROCESSING_ERROR;
    if (why) {
        reply_reject(x, k, ts, m->user_ref, why, m->cl_ord_id);
        return;
    }
    uint32_t r = new_record(x, m->user_ref, ts);
    ll_exch_order *o = &x->rec[r];
    o->price = price;
    o->qty = o->leaves = m->qty;
    o->locate = (uint16_t)locate;
    o->side = m->side;
    o->tif = m->tif;
    o->capacity = m->capacity;
    o->cross = m->cross;
    o->display = m->display;
    memcpy(o->symbol, m->symbol, LL_OUCH_SYMBOL_LEN);
    memcpy(o->cl_ord_id, m->cl_ord_id, LL_OUCH_CLORDID_LEN);
    x->st_orders++;
    reply_accepted(k, 'A', ts, o);
    sweep(x, k, r, ts);
    rest_or_cancel(x, k, r, ts);
}

static void on_replace(ll_exch *x, sink *k, const ll_ouch_msg *m, uint64_t ts)
{
    if (m->user_ref <= x->last_user_ref) {
        reply_reject(x, k, ts, m->user_ref, LL_OUCH_REJ_OTHER, m->cl_ord_id);
        return;
    }
    x->last_user_ref = m->user_ref;
    uint32_t g = ur_find(x, m->orig_user_ref);
    uint32_t price = 0;
    uint16_t why = 0;
    if (g == NIL || x->rec[g].state != LL_EXCH_LIVE)
        why = LL_OUCH_REJ_REPLACE_NOT_ALLOWED;
    else
        why = check_order(x, m->qty, m->price, &price);
    if (!why && !tif_ok(m->tif))
        why = LL_OUCH_REJ_OTHER;
    if (!why && x->n_rec >= x->cfg.max_orders)
        why = LL_OUCH_REJ_PROCESSING_ERROR;
    if (why) {
        reply_reject(x, k, ts, m->user_ref, why, m->cl_ord_id);
        return;
    }
    uint32_t r = new_record(x, m->user_ref, ts);
    ll_exch_order *orig = &x->rec[g];
    ll_exch_order *o = &x->rec[r];
    o->orig_user_ref = orig->user_ref;
    o->price = price;
    o->qty = o->leaves = m->qty;
    o->locate = orig->locate;
    o->side = orig->side;
    o->tif = m->tif;
    o->capacity = orig->capacity;
    o->cross = orig->cross;
    o->display = m->display;
    memcpy(o->symbol, orig->symbol, LL_OUCH_SYMBOL_LEN);
    memcpy(o->cl_ord_id, m->cl_ord_id, LL_OUCH_CLORDID_LEN);
    /* Priority: NASDAQ keeps an order's place in the queue only when the
     * change cannot hurt the orders behind it - the same price and no more
     * shares.  Anything else is a new order at the back. */
    int keep = price == orig->price && m->qty <= orig->leaves && m->tif == LL_OUCH_TIF_DAY;
    orig->canceled += orig->leaves;
    orig->leaves = 0;
    orig->state = LL_EXCH_REPLACED;
    orig->replaced_by = o->user_ref;
    x->st_replaces++;
    reply_accepted(k, 'U', ts, o);
    if (keep) {
        o->shares_ahead = orig->shares_ahead;
        open_swap(x, g, r);
    } else {
        open_remove(x, g);
        sweep(x, k, r, ts);
        rest_or_cancel(x, k, r, ts);
    }
    orig->shares_ahead = 0;
}

static void on_cancel(ll_exch *x, sink *k, const ll_ouch_msg *m, uint64_t ts)
{
    uint32_t r = ur_find(x, m->user_ref);
    if (r == NIL || x->rec[r].state != LL_EXCH_LIVE) {
        reply_reject(x, k, ts, m->user_ref, LL_OUCH_REJ_CANCEL_NOT_ALLOWED, r == NIL ? NULL : x->rec[r].cl_ord_id);
        return;
    }
    ll_exch_order *o = &x->rec[r];
    if (m->qty >= o->leaves) {
        x->st_cancel_noops++; /* it would not reduce the order: nothing to do */
        return;
    }
    uint32_t dec = o->leaves - m->qty;
    o->leaves = m->qty;
    o->canceled += dec;
    x->st_cancels++;
    if (o->leaves == 0) {
        open_remove(x, r);
        o->state = LL_EXCH_CANCELED;
        o->shares_ahead = 0;
    }
    /* a partial cancel keeps its place: the orders behind lose nothing */
    reply_canceled(k, ts, o->user_ref, dec, LL_OUCH_CANCEL_USER);
}

LL_EXPORT int64_t ll_exch_on_order(ll_exch *x, const uint8_t *msg, uint64_t len, uint64_t now_ns, uint8_t *out,
                                   uint64_t cap)
{
    if (x == NULL || msg == NULL || out == NULL || cap < ll_exch_reply_capacity(x))
        return LL_EINVAL;
    ll_ouch_msg m;
    int64_t n = ll_ouch_decode(msg, len, LL_OUCH_INBOUND, &m);
    if (n < 0)
        return n;
    sink k = {out, 0};
    switch (m.type) {
    case 'O': on_enter(x, &k, &m, now_ns); break;
    case 'U': on_replace(x, &k, &m, now_ns); break;
    default: on_cancel(x, &k, &m, now_ns); break;
    }
    return (int64_t)k.pos;
}

/* ------------------------------------------------------------ lifetime */
LL_EXPORT void ll_exch_config_default(ll_exch_config *c)
{
    if (c == NULL)
        return;
    c->max_feed_orders = LL_EXCH_DEFAULT_FEED_ORDERS;
    c->max_instruments = LL_EXCH_DEFAULT_INSTRUMENTS;
    c->max_orders = LL_EXCH_DEFAULT_ORDERS;
    c->max_open = LL_EXCH_DEFAULT_OPEN;
    c->max_fills = LL_EXCH_DEFAULT_FILLS;
    c->max_qty = LL_EXCH_DEFAULT_MAX_QTY;
    c->max_sweep = LL_EXCH_DEFAULT_SWEEP;
}

LL_EXPORT void ll_exch_destroy(ll_exch *x)
{
    if (x == NULL)
        return;
    ll_book_destroy(x->book);
    free(x->fo);
    free(x->rec);
    free(x->link);
    free(x->ur_map);
    free(x->heads);
    free(x->sym);
    free(x->fills);
    free(x->position);
    free(x->cash);
    free(x->has_fill);
    free(x->refs);
    free(x->lv_bid);
    free(x->lv_ask);
    free(x);
}

LL_EXPORT ll_exch *ll_exch_create(const ll_exch_config *c, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    ll_exch_config cfg;
    ll_exch_config_default(&cfg);
    if (c != NULL) {
        if (c->max_feed_orders)
            cfg.max_feed_orders = c->max_feed_orders;
        if (c->max_instruments)
            cfg.max_instruments = c->max_instruments;
        if (c->max_orders)
            cfg.max_orders = c->max_orders;
        if (c->max_open)
            cfg.max_open = c->max_open;
        if (c->max_fills)
            cfg.max_fills = c->max_fills;
        if (c->max_qty)
            cfg.max_qty = c->max_qty;
        if (c->max_sweep)
            cfg.max_sweep = c->max_sweep;
    }
    if (cfg.max_feed_orders > LL_BOOK_MAX_ORDERS || cfg.max_instruments > LL_BOOK_MAX_INSTRUMENTS ||
        cfg.max_orders > LL_EXCH_MAX_ORDERS || cfg.max_open > LL_EXCH_MAX_ORDERS ||
        cfg.max_fills > LL_EXCH_MAX_ORDERS || cfg.max_sweep > LL_EXCH_MAX_ORDERS) {
        *err = LL_EINVAL;
        return NULL;
    }
    ll_exch *x = calloc(1, sizeof *x);
    if (x == NULL) {
        *err = LL_ENORES;
        return NULL;
    }
    x->cfg = cfg;
    int berr = 0;
    x->book = ll_book_create(cfg.max_feed_orders, cfg.max_instruments, &berr);
    uint64_t fo_cap = pow2_at_least(2 * cfg.max_feed_orders);
    uint64_t ur_cap = pow2_at_least(2 * (uint64_t)cfg.max_orders);
    uint64_t sym_cap = pow2_at_least(2 * (uint64_t)cfg.max_instruments);
    x->fo = calloc(fo_cap, sizeof *x->fo);
    x->fo_mask = fo_cap - 1;
    x->rec = calloc(cfg.max_orders, sizeof *x->rec);
    x->link = calloc(cfg.max_orders, sizeof *x->link);
    x->ur_map = malloc(ur_cap * sizeof *x->ur_map);
    x->ur_mask = ur_cap - 1;
    x->heads = malloc((size_t)N_LOCATES * 2 * sizeof *x->heads);
    x->sym = calloc(sym_cap, sizeof *x->sym);
    x->sym_mask = sym_cap - 1;
    x->fills = calloc(cfg.max_fills, sizeof *x->fills);
    x->position = calloc(N_LOCATES, sizeof *x->position);
    x->cash = calloc(N_LOCATES, sizeof *x->cash);
    x->has_fill = calloc(N_LOCATES, 1);
    x->refs = calloc(cfg.max_feed_orders, sizeof *x->refs);
    x->lv_bid = calloc(3 * (size_t)cfg.max_sweep, sizeof *x->lv_bid);
    x->lv_ask = calloc(3 * (size_t)cfg.max_sweep, sizeof *x->lv_ask);
    if (x->book == NULL || !x->fo || !x->rec || !x->link || !x->ur_map || !x->heads || !x->sym || !x->fills ||
        !x->position || !x->cash || !x->has_fill || !x->refs || !x->lv_bid || !x->lv_ask) {
        ll_exch_destroy(x);
        *err = LL_ENORES;
        return NULL;
    }
    memset(x->ur_map, 0xff, ur_cap * sizeof *x->ur_map);
    memset(x->heads, 0xff, (size_t)N_LOCATES * 2 * sizeof *x->heads);
    *err = LL_OK;
    return x;
}

LL_EXPORT int ll_exch_get_config(const ll_exch *x, ll_exch_config *out)
{
    if (x == NULL || out == NULL)
        return LL_EINVAL;
    *out = x->cfg;
    return LL_OK;
}

LL_EXPORT uint64_t ll_exch_reply_capacity(const ll_exch *x)
{
    if (x == NULL)
        return 0;
    return LL_OUCH_SIZE_REPLACED + LL_OUCH_SIZE_CANCELED + LL_OUCH_SIZE_REJECTED +
           ((uint64_t)x->cfg.max_sweep + x->cfg.max_open) * LL_OUCH_SIZE_EXECUTED;
}

LL_EXPORT int ll_exch_add_symbol(ll_exch *x, uint32_t locate, const char *stock8)
{
    if (x == NULL || stock8 == NULL)
        return LL_EINVAL;
    int rc = ll_book_add_symbol(x->book, locate, stock8);
    if (rc < 0)
        return rc;
    return sym_set(x, locate, stock8);
}

/* ------------------------------------------------------------ records, queries */
LL_EXPORT int64_t ll_exch_orders(const ll_exch *x, uint64_t first, ll_exch_order *out, uint64_t max)
{
    if (x == NULL || (out == NULL && max > 0))
        return LL_EINVAL;
    for (uint64_t i = 0; i < max && first + i < x->n_rec; i++)
        out[i] = x->rec[first + i];
    return x->n_rec;
}

LL_EXPORT int ll_exch_order_get(const ll_exch *x, uint32_t user_ref, ll_exch_order *out)
{
    if (x == NULL || out == NULL)
        return LL_EINVAL;
    uint32_t r = ur_find(x, user_ref);
    if (r == NIL)
        return 0;
    *out = x->rec[r];
    return 1;
}

LL_EXPORT int64_t ll_exch_fills(const ll_exch *x, uint64_t first, ll_exch_fill *out, uint64_t max)
{
    if (x == NULL || (out == NULL && max > 0))
        return LL_EINVAL;
    for (uint64_t i = 0; i < max && first + i < x->n_fills; i++)
        out[i] = x->fills[first + i];
    return (int64_t)x->n_fills;
}

LL_EXPORT int ll_exch_position(const ll_exch *x, uint32_t locate, int64_t out[2])
{
    if (x == NULL || out == NULL || locate >= N_LOCATES)
        return LL_EINVAL;
    out[0] = x->position[locate];
    out[1] = x->cash[locate];
    return LL_OK;
}

LL_EXPORT uint32_t ll_exch_positions(const ll_exch *x, uint16_t *locates, int64_t *position, int64_t *cash,
                                     uint32_t max)
{
    if (x == NULL)
        return 0;
    uint32_t n = 0;
    for (uint32_t l = 0; l < N_LOCATES; l++) {
        if (!x->has_fill[l])
            continue;
        if (n < max) {
            if (locates)
                locates[n] = (uint16_t)l;
            if (position)
                position[n] = x->position[l];
            if (cash)
                cash[n] = x->cash[l];
        }
        n++;
    }
    return n;
}

LL_EXPORT int64_t ll_exch_taken(const ll_exch *x, uint64_t ref)
{
    if (x == NULL)
        return LL_EINVAL;
    uint64_t info[4];
    if (!ll_book_order(x->book, ref, info))
        return -1;
    const fo_slot *s = fo_find(x, ref);
    return s ? s->taken : 0;
}

LL_EXPORT const struct ll_book *ll_exch_book(const ll_exch *x) { return x ? x->book : NULL; }

LL_EXPORT int64_t ll_exch_stat(const ll_exch *x, const char *what)
{
    if (x == NULL || what == NULL)
        return -1;
    const struct {
        const char *name;
        uint64_t value;
    } t[] = {
        {"feed_messages", x->st_feed},     {"feed_book", x->st_feed_book},
        {"orders", x->st_orders},          {"replaces", x->st_replaces},
        {"cancels", x->st_cancels},        {"cancel_noops", x->st_cancel_noops},
        {"fills", x->st_fills},            {"fills_added", x->st_added},
        {"fills_removed", x->st_removed},  {"fills_unrecorded", x->st_unrecorded},
        {"rejects", x->st_rejects},        {"open", x->n_open},
        {"shares_bought", x->st_bought},   {"shares_sold", x->st_sold},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(t[i].name, what) == 0)
            return (int64_t)t[i].value;
    return -1;
}

LL_EXPORT int64_t ll_exch_rejects(const ll_exch *x, uint64_t *counts, uint32_t n)
{
    if (x == NULL || (counts == NULL && n > 0) || n > LL_OUCH_REJ_MAX)
        return LL_EINVAL;
    for (uint32_t i = 0; i < n; i++)
        counts[i] = x->rejects[i];
    return (int64_t)x->st_rejects;
}

LL_EXPORT int64_t ll_exch_check(const ll_exch *x)
{
    if (x == NULL)
        return LL_EINVAL;
    uint32_t open = 0;
    for (uint32_t r = 0; r < x->n_rec; r++) {
        const ll_exch_order *o = &x->rec[r];
        if ((uint64_t)o->filled + o->canceled + o->leaves != o->qty)
            return -1;
        if ((o->state == LL_EXCH_LIVE) != (o->leaves > 0))
            return -2;
        if (ur_find(x, o->user_ref) != r)
            return -3;
        open += o->state == LL_EXCH_LIVE;
    }
    if (open != x->n_open)
        return -4;
    uint32_t listed = 0;
    for (uint32_t h = 0; h < N_LOCATES * 2; h++) {
        uint32_t prev = NIL;
        for (uint32_t r = x->heads[h]; r != NIL; r = x->link[r].next) {
            const ll_exch_order *o = &x->rec[r];
            if (o->state != LL_EXCH_LIVE || (uint32_t)o->locate * 2 + (uint32_t)side_index(o->side) != h)
                return -5;
            if (x->link[r].prev != prev)
                return -6;
            if (prev != NIL) {
                const ll_exch_order *p = &x->rec[prev];
                if (better(o->side, o->price, p->price) ||
                    (o->price == p->price && x->link[r].arrival < x->link[prev].arrival))
                    return -7;
            }
            prev = r;
            if (++listed > x->n_open)
                return -8;
        }
    }
    if (listed != x->n_open)
        return -9;
    int64_t pos = 0;
    for (uint64_t i = 0; i < x->n_fills; i++)
        pos += x->fills[i].side == 'B' ? (int64_t)x->fills[i].qty : -(int64_t)x->fills[i].qty;
    int64_t total = 0;
    for (uint32_t l = 0; l < N_LOCATES; l++)
        total += x->position[l];
    if (x->st_unrecorded == 0 && pos != total)
        return -10;
    return LL_OK;
}

/* ------------------------------------------------------------ the codec, exported */
LL_EXPORT int64_t ll_exch_ouch_encode(const ll_ouch_msg *m, int inbound, uint8_t *out, uint64_t cap)
{
    if (m == NULL || out == NULL)
        return LL_EINVAL;
    return ll_ouch_encode(m, inbound, out, cap);
}

LL_EXPORT int64_t ll_exch_ouch_decode(const uint8_t *buf, uint64_t len, int inbound, ll_ouch_msg *m)
{
    if (m == NULL || (buf == NULL && len > 0))
        return LL_EINVAL;
    if (len == 0)
        return LL_ETRUNCATED;
    return ll_ouch_decode(buf, len, inbound, m);
}

LL_EXPORT uint32_t ll_exch_ouch_size(int inbound, uint32_t type)
{
    return type > 255 ? 0 : ll_ouch_size(inbound, (uint8_t)type);
}

LL_EXPORT int64_t ll_exch_layout_info(const char *what)
{
    static const ll_fact facts[] = {
        {"sizeof_order", sizeof(ll_exch_order)},
        {"sizeof_fill", sizeof(ll_exch_fill)},
        {"sizeof_ouch_msg", sizeof(ll_ouch_msg)},
        {"sizeof_config", sizeof(ll_exch_config)},
        {"order_cl_ord_id", offsetof(ll_exch_order, cl_ord_id)},
        {"order_symbol", offsetof(ll_exch_order, symbol)},
        {"ouch_msg_symbol", offsetof(ll_ouch_msg, symbol)},
        {"ouch_msg_cl_ord_id", offsetof(ll_ouch_msg, cl_ord_id)},
        {"ouch_size_enter", LL_OUCH_SIZE_ENTER},
        {"ouch_size_replace", LL_OUCH_SIZE_REPLACE},
        {"ouch_size_cancel", LL_OUCH_SIZE_CANCEL},
        {"ouch_size_system", LL_OUCH_SIZE_SYSTEM},
        {"ouch_size_accepted", LL_OUCH_SIZE_ACCEPTED},
        {"ouch_size_replaced", LL_OUCH_SIZE_REPLACED},
        {"ouch_size_executed", LL_OUCH_SIZE_EXECUTED},
        {"ouch_size_canceled", LL_OUCH_SIZE_CANCELED},
        {"ouch_size_rejected", LL_OUCH_SIZE_REJECTED},
    };
    if (what == NULL)
        return -1;
    return ll_lookup_fact(facts, sizeof facts / sizeof facts[0], what);
}
