/*
 * oms.c - lab 7: the engine's order manager and pre-trade risk checks
 * (the API, the state table and the check order are documented in oms.h;
 * pyimpl/oms.py is the same machine in Python, the reference the tests hold
 * this file to).
 *
 * Why an OMS sits between a strategy and an exchange.  On 1 August 2012
 * Knight Capital's SMARS router, half-upgraded, sent millions of child orders
 * for 45 minutes from a retired "Power Peg" code path: 4 million executions in
 * 154 stocks, a $460 million loss, the firm sold within the week.  The SEC's
 * order against Knight (2013, the first under Rule 15c3-5, the "market access
 * rule") lists what was missing: no limit on the orders or the position a
 * strategy could build, no check that compared orders sent with executions
 * received, no kill switch that an operator trusted.  Every check below is
 * one of those, or one of MiFID II RTS 6 Art. 15's (price collars, maximum
 * order value and volume, message limits), or the FIA's (a kill switch that
 * cancels the working orders and still lets risk-reducing orders through).
 *
 * Design for a hot path: no allocation after ll_oms_create; every lookup
 * O(1):
 *  - user_ref -> order is an array index: we assign user_refs 1, 2, 3, ...
 *    ourselves, so the order of user_ref r is orders[r - 1] (no hash needed:
 *    a hash map is for keys somebody else picks);
 *  - cl_ord_id -> order and match number -> fill are open-addressing hash
 *    tables, power-of-two sized >= 2x their capacity (at most half full),
 *    linear probing.  Orders and fills are never deleted in a session (they
 *    are the reconciliation record), so there are no tombstones;
 *  - per symbol, a locate -> symbol table of 65536 entries (ITCH locates are
 *    16 bits), the running position, open quantities and PnL, and a doubly
 *    linked list of its open orders (the self-match check walks it: the only
 *    check that is not O(1), bounded by the symbol's open orders, so last);
 *  - the totals the gross-exposure and loss checks need (positions at their
 *    mark, open-order notional, realized and unrealized PnL) are running
 *    sums, updated by each change: a check never walks the symbols.
 * Money is kept in 128 bits (gcc/clang's __int128): price x shares fits 64
 * bits for one order, but sums over a session need not, and a wrapped sum
 * in a risk check is a check that says yes to everything.
 */
#include "oms.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"

__extension__ typedef __int128 i128;

#define I64_MAX_ ((i128)INT64_MAX)
#define I64_MIN_ ((i128)INT64_MIN)

static int64_t clamp64(i128 v)
{
    return v > I64_MAX_ ? INT64_MAX : v < I64_MIN_ ? INT64_MIN : (int64_t)v;
}

static i128 abs128(i128 v) { return v < 0 ? -v : v; }

typedef struct {
    uint64_t exch_ref, sent_ns;
    uint32_t cl_ord_id, price, qty, filled, canceled;
    uint32_t prev, next; /* the symbol's open list: order index + 1, 0 = none */
    uint16_t locate, sym;
    uint8_t side, state, acked, pad_;
} order_t;

typedef struct {
    i128 cost, realized;
    int64_t pos, open_buy, open_sell, bought, sold;
    uint32_t bid, ask, mark, open_orders;
    uint32_t open_head;  /* first open order: index + 1 */
    uint32_t rate_n, rate_head; /* the symbol's rate ring: timestamps stored, next slot to write */
    uint16_t locate;
    uint8_t has_mid;
} sym_t;

struct ll_oms {
    ll_oms_limits lim;
    uint32_t max_orders, max_symbols, max_fills;
    uint32_t n_orders, n_symbols, n_fills;
    uint32_t open_orders;
    order_t *orders;
    sym_t *syms;
    uint16_t *sym_of;          /* locate -> symbol index + 1 */
    uint32_t *id_tab;          /* cl_ord_id -> order index + 1 */
    uint64_t id_mask;
    uint32_t *match_tab;       /* match number -> fill index + 1 */
    uint64_t match_mask;
    ll_oms_fill_rec *fills;
    uint64_t *rate_sym;        /* max_symbols x rate_orders_symbol timestamps */
    uint64_t *rate_all;        /* rate_orders_total timestamps */
    uint32_t rate_all_n, rate_all_head;
    uint64_t clock;            /* the latest submit time (time never runs back for the throttle) */
    /* running totals over every symbol */
    i128 realized, unrealized; /* unrealized = sum of pos x mark - cost */
    i128 pos_notional;         /* sum of |pos| x mark */
    i128 open_notional;        /* sum of price x leaves over the open orders */
    /* the kill switch */
    uint16_t halted;
    uint8_t halt_report;       /* the HALTED report is still to be taken */
    uint64_t halt_ns;
    uint32_t *kill_q;          /* order indices whose cancel the kill switch queued */
    uint32_t kq_head, kq_tail;
    ll_oms_counters c;
};

/* ------------------------------------------------------------ limits */
LL_EXPORT void ll_oms_limits_default(ll_oms_limits *out)
{
    if (out == NULL)
        return;
    /* labs/07-trading-system/risk.toml says why each is what it is (a test checks they agree) */
    *out = (ll_oms_limits){
        .max_order_qty = 1000,
        .max_order_notional = 1000000000ull, /* $100,000 */
        .collar_ticks = 50,
        .collar_ref = LL_OMS_COLLAR_SAME_SIDE,
        .max_long = 5000,
        .max_short = 5000,
        .max_gross_notional = 5000000000ull, /* $500,000 */
        .max_open_orders = 50,
        .rate_orders_symbol = 50,
        .rate_orders_total = 200,
        .rate_window_ns = 1000000000ull,
        .max_loss = 100000000ull, /* $10,000 */
        .self_match = 1,
    };
}

static int limits_ok(const ll_oms_limits *l)
{
    if (l->collar_ref != LL_OMS_COLLAR_SAME_SIDE && l->collar_ref != LL_OMS_COLLAR_MID)
        return 0;
    if (l->rate_orders_symbol > LL_OMS_MAX_RATE || l->rate_orders_total > LL_OMS_MAX_RATE)
        return 0;
    if ((l->rate_orders_symbol || l->rate_orders_total) && l->rate_window_ns == 0)
        return 0;
    if (l->self_match > 1)
        return 0;
    return 1;
}

/* ------------------------------------------------------------ life */
static uint64_t table_size(uint64_t n)
{
    uint64_t s = 16;
    while (s < 2 * n)
        s <<= 1;
    return s;
}

LL_EXPORT void ll_oms_destroy(ll_oms *o)
{
    if (o == NULL)
        return;
    free(o->orders);
    free(o->syms);
    free(o->sym_of);
    free(o->id_tab);
    free(o->match_tab);
    free(o->fills);
    free(o->rate_sym);
    free(o->rate_all);
    free(o->kill_q);
    free(o);
}

LL_EXPORT ll_oms *ll_oms_create(const ll_oms_limits *limits, uint32_t max_orders, uint32_t max_symbols,
                                uint32_t max_fills, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    ll_oms_limits lim;
    if (limits == NULL)
        ll_oms_limits_default(&lim);
    else
        lim = *limits;
    if (max_orders == 0 || max_orders > LL_OMS_MAX_ORDERS || max_symbols == 0 || max_symbols > LL_OMS_MAX_SYMBOLS ||
        max_fills == 0 || max_fills > LL_OMS_MAX_FILLS || !limits_ok(&lim)) {
        *err = LL_EINVAL;
        return NULL;
    }
    ll_oms *o = calloc(1, sizeof *o);
    if (o == NULL) {
        *err = LL_ENORES;
        return NULL;
    }
    o->lim = lim;
    o->max_orders = max_orders;
    o->max_symbols = max_symbols;
    o->max_fills = max_fills;
    uint64_t ids = table_size(max_orders), matches = table_size(max_fills);
    o->id_mask = ids - 1;
    o->match_mask = matches - 1;
    o->orders = calloc(max_orders, sizeof *o->orders);
    o->syms = calloc(max_symbols, sizeof *o->syms);
    o->sym_of = calloc(65536, sizeof *o->sym_of);
    o->id_tab = calloc(ids, sizeof *o->id_tab);
    o->match_tab = calloc(matches, sizeof *o->match_tab);
    o->fills = calloc(max_fills, sizeof *o->fills);
    o->kill_q = calloc(max_orders, sizeof *o->kill_q);
    /* calloc(0) may return NULL: size the rings at least 1 */
    o->rate_sym = calloc((size_t)max_symbols * (lim.rate_orders_symbol ? lim.rate_orders_symbol : 1), sizeof(uint64_t));
    o->rate_all = calloc(lim.rate_orders_total ? lim.rate_orders_total : 1, sizeof(uint64_t));
    if (!o->orders || !o->syms || !o->sym_of || !o->id_tab || !o->match_tab || !o->fills || !o->kill_q ||
        !o->rate_sym || !o->rate_all) {
        ll_oms_destroy(o);
        *err = LL_ENORES;
        return NULL;
    }
    *err = LL_OK;
    return o;
}

LL_EXPORT void ll_oms_get_limits(const ll_oms *o, ll_oms_limits *out)
{
    if (o != NULL && out != NULL)
        *out = o->lim;
}

LL_EXPORT int ll_oms_add_symbol(ll_oms *o, uint32_t locate)
{
    if (o == NULL)
        return LL_EINVAL;
    if (locate == 0 || locate > 65535)
        return LL_EBADLOCATE;
    if (o->sym_of[locate])
        return LL_OK;
    if (o->n_symbols == o->max_symbols)
        return LL_EBOOKFULL;
    sym_t *s = &o->syms[o->n_symbols];
    memset(s, 0, sizeof *s);
    s->locate = (uint16_t)locate;
    o->sym_of[locate] = (uint16_t)(++o->n_symbols);
    return LL_OK;
}

static sym_t *sym_get(const ll_oms *o, uint32_t locate)
{
    if (locate == 0 || locate > 65535 || !o->sym_of[locate])
        return NULL;
    return &o->syms[o->sym_of[locate] - 1];
}

/* ------------------------------------------------------------ hash tables */
static uint64_t mix(uint64_t k, uint64_t mask)
{
    /* Fibonacci hashing: the high bits of k x 2^64/phi; the strategy's ids are
     * often sequential, and this spreads them without clustering */
    k *= 0x9E3779B97F4A7C15ull;
    return (k ^ (k >> 29)) & mask;
}

static uint32_t id_find(const ll_oms *o, uint32_t cl_ord_id) /* order index + 1, 0 if none */
{
    for (uint64_t i = mix(cl_ord_id, o->id_mask);; i = (i + 1) & o->id_mask) {
        uint32_t v = o->id_tab[i];
        if (v == 0 || o->orders[v - 1].cl_ord_id == cl_ord_id)
            return v;
    }
}

static void id_insert(ll_oms *o, uint32_t cl_ord_id, uint32_t idx1)
{
    uint64_t i = mix(cl_ord_id, o->id_mask);
    while (o->id_tab[i])
        i = (i + 1) & o->id_mask;
    o->id_tab[i] = idx1;
}

static int match_seen(const ll_oms *o, uint64_t m)
{
    for (uint64_t i = mix(m, o->match_mask);; i = (i + 1) & o->match_mask) {
        uint32_t v = o->match_tab[i];
        if (v == 0)
            return 0;
        if (o->fills[v - 1].match_number == m)
            return 1;
    }
}

static void match_insert(ll_oms *o, uint64_t m, uint32_t idx1)
{
    uint64_t i = mix(m, o->match_mask);
    while (o->match_tab[i])
        i = (i + 1) & o->match_mask;
    o->match_tab[i] = idx1;
}

/* ------------------------------------------------------------ running sums */
static int is_open(uint8_t state) { return state >= LL_OMS_PENDING_NEW && state <= LL_OMS_CANCEL_PENDING; }
static uint32_t leaves_of(const order_t *r) { return r->qty - r->filled - r->canceled; }

/* A change to a symbol's position, cost or mark: take its share out of the
 * totals before, put it back after. */
static void sym_out(ll_oms *o, const sym_t *s)
{
    o->unrealized -= (i128)s->pos * s->mark - s->cost;
    o->pos_notional -= abs128((i128)s->pos) * s->mark;
}

static void sym_in(ll_oms *o, const sym_t *s)
{
    o->unrealized += (i128)s->pos * s->mark - s->cost;
    o->pos_notional += abs128((i128)s->pos) * s->mark;
}

/* shares leave the open book of an order (executed or canceled) */
static void open_shrink(ll_oms *o, sym_t *s, order_t *r, uint32_t q)
{
    if (r->side == 'B')
        s->open_buy -= q;
    else
        s->open_sell -= q;
    o->open_notional -= (i128)r->price * q;
}

static void open_link(ll_oms *o, sym_t *s, uint32_t idx)
{
    order_t *r = &o->orders[idx];
    r->prev = 0;
    r->next = s->open_head;
    if (s->open_head)
        o->orders[s->open_head - 1].prev = idx + 1;
    s->open_head = idx + 1;
    s->open_orders++;
    o->open_orders++;
}

/* the order reached a final state: off its symbol's open list */
static void open_unlink(ll_oms *o, sym_t *s, uint32_t idx)
{
    order_t *r = &o->orders[idx];
    if (r->prev)
        o->orders[r->prev - 1].next = r->next;
    else
        s->open_head = r->next;
    if (r->next)
        o->orders[r->next - 1].prev = r->prev;
    r->prev = r->next = 0;
    s->open_orders--;
    o->open_orders--;
}

/* ------------------------------------------------------------ reports */
static void report(const ll_oms *o, ll_ts_report *rep, uint8_t kind, const order_t *r, uint32_t price, uint32_t qty,
                   uint16_t reason, uint64_t now_ns)
{
    memset(rep, 0, sizeof *rep);
    rep->kind = kind;
    rep->price = price;
    rep->qty = qty;
    rep->reason = reason;
    rep->ns = now_ns;
    if (r != NULL) {
        rep->cl_ord_id = r->cl_ord_id;
        rep->side = r->side;
        rep->locate = r->locate;
        rep->leaves = leaves_of(r);
        rep->position = o->syms[r->sym].pos;
    }
}

static void sendout(ll_oms_send *send, uint8_t kind, uint32_t idx, const order_t *r)
{
    memset(send, 0, sizeof *send);
    send->kind = kind;
    send->side = r->side;
    send->locate = r->locate;
    send->user_ref = idx + 1;
    send->cl_ord_id = r->cl_ord_id;
    send->price = r->price;
    send->qty = kind == LL_OMS_SEND_NEW ? r->qty : 0;
}

/* ------------------------------------------------------------ the kill switch */
static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int64_t kill(ll_oms *o, uint16_t reason, uint64_t now_ns)
{
    if (o->halted)
        return 0;
    o->halted = reason;
    o->halt_ns = now_ns;
    o->halt_report = 1;
    o->c.kills = 1;
    /* Cancel-on-disconnect: every working order goes, oldest first.  Orders
     * whose cancel is already on its way are not cancelled twice. */
    uint32_t n = 0;
    for (uint32_t si = 0; si < o->n_symbols; si++)
        for (uint32_t i = o->syms[si].open_head; i; i = o->orders[i - 1].next)
            if (o->orders[i - 1].state != LL_OMS_CANCEL_PENDING) {
                o->orders[i - 1].state = LL_OMS_CANCEL_PENDING;
                o->kill_q[n++] = i - 1;
            }
    qsort(o->kill_q, n, sizeof *o->kill_q, cmp_u32);
    o->kq_head = 0;
    o->kq_tail = n;
    return n;
}

/* The loss limit: realized + unrealized at the mark below -max_loss halts.
 * An intraday loss limit is the last line when every per-order check passed
 * and the strategy is simply wrong (or the market moved): Knight had none
 * that acted on its own, and lost $460 M in 45 minutes. */
static void loss_check(ll_oms *o, uint64_t now_ns)
{
    if (o->lim.max_loss && !o->halted && o->realized + o->unrealized < -(i128)o->lim.max_loss)
        kill(o, LL_RISK_LOSS, now_ns);
}

LL_EXPORT int64_t ll_oms_kill(ll_oms *o, uint16_t reason, uint64_t now_ns)
{
    if (o == NULL || (reason != LL_RISK_KILL_MANUAL && reason != LL_RISK_LOSS && reason != LL_RISK_HEARTBEAT))
        return LL_EINVAL;
    return kill(o, reason, now_ns);
}

/* A lapsed strategy's halt is lifted when a strategy speaks again (the engine
 * calls this): its orders were all canceled at the lapse, so the new one
 * starts with none working.  The other halts stay: a loss limit or an
 * operator's kill is lifted by a person, not by the strategy coming back. */
LL_EXPORT int ll_oms_resume(ll_oms *o)
{
    if (o == NULL)
        return LL_EINVAL;
    if (o->halted != LL_RISK_HEARTBEAT || ll_oms_pending(o) > 0)
        return 0;
    o->halted = 0;
    o->c.resumes++;
    return 1;
}

LL_EXPORT int ll_oms_halted(const ll_oms *o) { return o ? o->halted : 0; }

LL_EXPORT uint64_t ll_oms_pending(const ll_oms *o)
{
    return o ? o->halt_report + (uint64_t)(o->kq_tail - o->kq_head) : 0;
}

LL_EXPORT int ll_oms_next_action(ll_oms *o, ll_oms_send *send, ll_ts_report *rep)
{
    if (o == NULL || send == NULL || rep == NULL)
        return LL_EINVAL;
    if (o->halt_report) {
        o->halt_report = 0;
        report(o, rep, LL_REPORT_HALTED, NULL, 0, 0, o->halted, o->halt_ns);
        return LL_OMS_ACT_REPORT;
    }
    while (o->kq_head < o->kq_tail) {
        uint32_t idx = o->kill_q[o->kq_head++];
        order_t *r = &o->orders[idx];
        if (!is_open(r->state))
            continue; /* filled (or canceled, rejected) since the kill: nothing left to cancel */
        r->state = LL_OMS_CANCEL_PENDING;
        o->c.cancels_sent++;
        sendout(send, LL_OMS_SEND_CANCEL, idx, r);
        return LL_OMS_ACT_SEND;
    }
    return LL_OMS_ACT_NONE;
}

/* ------------------------------------------------------------ rate rings */
/* A sliding window, not a fixed one: "at most N in any window_ns", checked
 * against the N-th most recent send.  A fixed window (reset every second)
 * lets 2N through across a boundary.  The ring holds the last N send times;
 * when it is full its oldest entry is the one N sends ago. */
static int rate_full(const uint64_t *ring, uint32_t n, uint32_t head, uint64_t cap, uint64_t window, uint64_t now)
{
    return cap && n == cap && now - ring[head] < window;
}

static void rate_push(uint64_t *ring, uint32_t *n, uint32_t *head, uint64_t cap, uint64_t now)
{
    if (!cap)
        return;
    ring[*head] = now;
    *head = (uint32_t)((*head + 1) % cap);
    if (*n < cap)
        (*n)++;
}

/* ------------------------------------------------------------ submit */
static int reject(ll_oms *o, ll_ts_report *rep, const ll_ts_intent *in, const sym_t *s, int reason, uint64_t now_ns)
{
    o->c.rejected++;
    o->c.rejects[reason]++;
    memset(rep, 0, sizeof *rep);
    rep->kind = LL_REPORT_REJECTED;
    rep->side = in->side;
    rep->locate = in->locate;
    rep->cl_ord_id = in->cl_ord_id;
    rep->price = in->price;
    rep->qty = in->qty;
    rep->reason = (uint16_t)reason;
    rep->position = s ? s->pos : 0;
    rep->ns = now_ns;
    return reason;
}

/* the checks 1-16 of oms.h, in order; LL_RISK_OK or the first that fails */
static int risk_checks(ll_oms *o, const ll_ts_intent *in, const sym_t *s, uint64_t t)
{
    const ll_oms_limits *L = &o->lim;
    int buy = in->side == 'B';
    /* 1. Halted: nothing new goes out, whatever it is. */
    if (o->halted)
        return o->halted;
    /* 2-4. Malformed orders: a side byte that is neither, zero shares, a
     * price of 0 (a market order by accident) or beyond any real price (a
     * price in the wrong units).  No configuration lifts these. */
    if (in->side != 'B' && in->side != 'S')
        return LL_RISK_BAD_SIDE;
    if (in->qty == 0 || in->qty > LL_OMS_QTY_SANE)
        return LL_RISK_BAD_QTY;
    if (in->price == 0 || in->price > LL_OMS_PRICE_SANE)
        return LL_RISK_BAD_PRICE;
    /* 5. Restricted securities (15c3-5): only declared symbols trade. */
    if (s == NULL)
        return LL_RISK_UNKNOWN_SYMBOL;
    /* 6. A reused cl_ord_id makes every later report about it ambiguous:
     * which order did that fill belong to?  Always on. */
    if (id_find(o, in->cl_ord_id))
        return LL_RISK_DUPLICATE_ID;
    /* 7. The order table holds the session's orders (the reconciliation record). */
    if (o->n_orders == o->max_orders)
        return LL_RISK_CAPACITY;
    /* 8-9. Fat fingers (15c3-5's "erroneous orders", RTS 6's maximum order
     * volume and value): 10x the shares or a price a digit off.  Mizuho's
     * 2005 J-Com order sold 610,000 shares at 1 yen instead of 1 share at
     * 610,000 yen: a quantity and a notional limit both stop it. */
    if (L->max_order_qty && in->qty > L->max_order_qty)
        return LL_RISK_MAX_QTY;
    if (L->max_order_notional && (uint64_t)in->price * in->qty > L->max_order_notional)
        return LL_RISK_MAX_NOTIONAL;
    /* 10. Price collar (RTS 6 Art. 15): a limit far from the market is an
     * error (or will become a wild trade when the book is thin: the 2010 Flash
     * Crash printed trades at $0.01 and $100,000).  No market, no reference:
     * rejected, not waved through. */
    if (L->collar_ticks) {
        i128 band = (i128)L->collar_ticks * 100;
        if (L->collar_ref == LL_OMS_COLLAR_MID) {
            if (!s->bid || !s->ask)
                return LL_RISK_NO_MARKET;
            /* |p - (b + a) / 2| <= band, in integers: |2p - (b + a)| <= 2 band */
            if (abs128(2 * (i128)in->price - ((i128)s->bid + s->ask)) > 2 * band)
                return LL_RISK_COLLAR;
        } else {
            uint32_t ref = buy ? s->bid : s->ask;
            if (!ref)
                return LL_RISK_NO_MARKET;
            if (abs128((i128)in->price - ref) > band)
                return LL_RISK_COLLAR;
        }
    }
    /* 11. Open orders: a strategy that forgets to cancel piles up working
     * orders, every one of which can fill at once in a fast market. */
    if (L->max_open_orders && (uint64_t)o->open_orders + 1 > L->max_open_orders)
        return LL_RISK_MAX_OPEN_ORDERS;
    /* 12-13. Message rate (RTS 6's message limits, the exchanges' throttles):
     * the runaway loop - Knight's SMARS sent orders as fast as it could for 45
     * minutes.  Only orders actually sent count. */
    if (rate_full(o->rate_sym + (size_t)(s - o->syms) * L->rate_orders_symbol, s->rate_n, s->rate_head,
                  L->rate_orders_symbol, L->rate_window_ns, t))
        return LL_RISK_RATE_SYMBOL;
    if (rate_full(o->rate_all, o->rate_all_n, o->rate_all_head, L->rate_orders_total, L->rate_window_ns, t))
        return LL_RISK_RATE_TOTAL;
    /* 14. Position limits counting open orders: the position if every open
     * order of this side (and this one) filled.  Checking the position alone
     * lets a strategy rest 100 orders that are each within the limit and
     * together 100x it. */
    if (buy && L->max_long && (i128)s->pos + s->open_buy + in->qty > (i128)L->max_long)
        return LL_RISK_MAX_LONG;
    if (!buy && L->max_short && -((i128)s->pos - s->open_sell - in->qty) > (i128)L->max_short)
        return LL_RISK_MAX_SHORT;
    /* 15. Gross exposure (15c3-5's credit threshold): the capital at risk
     * across every symbol, positions at the mark plus every open order. */
    if (L->max_gross_notional &&
        o->pos_notional + o->open_notional + (i128)in->price * in->qty > (i128)L->max_gross_notional)
        return LL_RISK_MAX_GROSS;
    /* 16. Self-match prevention: a buy at or above our own resting sell would
     * trade with ourselves - a wash trade (market manipulation in the eyes of
     * the SEC and of MAR, whatever the intent), and fees for nothing. */
    if (L->self_match)
        for (uint32_t i = s->open_head; i; i = o->orders[i - 1].next) {
            const order_t *r = &o->orders[i - 1];
            if (r->side != in->side && (buy ? r->price <= in->price : r->price >= in->price))
                return LL_RISK_SELF_MATCH;
        }
    return LL_RISK_OK;
}

LL_EXPORT int ll_oms_cancel(ll_oms *o, uint32_t cl_ord_id, uint64_t now_ns, ll_oms_send *send, ll_ts_report *rep)
{
    if (o == NULL || send == NULL || rep == NULL)
        return LL_EINVAL;
    o->c.cancel_intents++;
    uint32_t idx1 = id_find(o, cl_ord_id);
    int reason = LL_RISK_OK;
    order_t *r = idx1 ? &o->orders[idx1 - 1] : NULL;
    if (r == NULL)
        reason = LL_RISK_UNKNOWN_ORDER;
    else if (!is_open(r->state))
        reason = LL_RISK_ORDER_CLOSED;
    else if (r->state == LL_OMS_CANCEL_PENDING)
        reason = LL_RISK_CANCEL_PENDING;
    if (reason) {
        o->c.cancel_rejected++;
        o->c.rejects[reason]++;
        report(o, rep, LL_REPORT_REJECTED, r, r ? r->price : 0, r ? r->qty : 0, (uint16_t)reason, now_ns);
        rep->cl_ord_id = cl_ord_id;
        return reason;
    }
    r->state = LL_OMS_CANCEL_PENDING;
    o->c.cancels_sent++;
    sendout(send, LL_OMS_SEND_CANCEL, idx1 - 1, r);
    return LL_RISK_OK;
}

LL_EXPORT int ll_oms_submit(ll_oms *o, const ll_ts_intent *in, uint64_t now_ns, ll_oms_send *send, ll_ts_report *rep)
{
    if (o == NULL || in == NULL || send == NULL || rep == NULL)
        return LL_EINVAL;
    if (in->kind == LL_INTENT_CANCEL)
        return ll_oms_cancel(o, in->cl_ord_id, now_ns, send, rep);
    if (in->kind != LL_INTENT_NEW)
        return LL_EINVAL;
    o->c.intents++;
    if (now_ns > o->clock)
        o->clock = now_ns;
    uint64_t t = o->clock;
    sym_t *s = sym_get(o, in->locate);
    int reason = risk_checks(o, in, s, t);
    if (reason)
        return reject(o, rep, in, s, reason, now_ns);

    uint32_t idx = o->n_orders++;
    order_t *r = &o->orders[idx];
    memset(r, 0, sizeof *r);
    r->cl_ord_id = in->cl_ord_id;
    r->price = in->price;
    r->qty = in->qty;
    r->locate = in->locate;
    r->sym = (uint16_t)(s - o->syms);
    r->side = in->side;
    r->state = LL_OMS_PENDING_NEW;
    r->sent_ns = now_ns;
    id_insert(o, in->cl_ord_id, idx + 1);
    open_link(o, s, idx);
    if (r->side == 'B')
        s->open_buy += r->qty;
    else
        s->open_sell += r->qty;
    o->open_notional += (i128)r->price * r->qty;
    rate_push(o->rate_sym + (size_t)r->sym * o->lim.rate_orders_symbol, &s->rate_n, &s->rate_head,
              o->lim.rate_orders_symbol, t);
    rate_push(o->rate_all, &o->rate_all_n, &o->rate_all_head, o->lim.rate_orders_total, t);
    o->c.sent++;
    sendout(send, LL_OMS_SEND_NEW, idx, r);
    return LL_RISK_OK;
}

/* ------------------------------------------------------------ exchange replies */
static int illegal(ll_oms *o, int kind)
{
    o->c.illegal++;
    o->c.illegals[kind]++;
    return kind;
}

static order_t *order_of(ll_oms *o, uint32_t user_ref)
{
    return user_ref >= 1 && user_ref <= o->n_orders ? &o->orders[user_ref - 1] : NULL;
}

LL_EXPORT int ll_oms_on_accepted(ll_oms *o, uint32_t user_ref, uint64_t exch_ref, uint64_t now_ns, ll_ts_report *rep)
{
    if (o == NULL || rep == NULL)
        return LL_EINVAL;
    order_t *r = order_of(o, user_ref);
    if (r == NULL)
        return illegal(o, LL_OMS_BAD_UNKNOWN_REF);
    if (!is_open(r->state))
        return illegal(o, LL_OMS_BAD_AFTER_CLOSE);
    if (r->acked)
        return illegal(o, LL_OMS_BAD_ACCEPT_TWICE);
    r->acked = 1;
    r->exch_ref = exch_ref;
    if (r->state == LL_OMS_PENDING_NEW)
        r->state = LL_OMS_ACCEPTED;
    o->c.accepted++;
    report(o, rep, LL_REPORT_ACCEPTED, r, r->price, r->qty, 0, now_ns);
    return 0;
}

/* Average cost, in integers (oms.h, ll_oms_position_rec): realized PnL is
 * exact whenever the position is flat, and the rounding of a partial close
 * moves between realized and unrealized, never out of their sum. */
static void apply_fill(sym_t *s, uint8_t side, uint32_t qty, uint32_t price)
{
    int64_t dq = side == 'B' ? (int64_t)qty : -(int64_t)qty;
    if (s->pos == 0 || (s->pos > 0) == (dq > 0)) { /* opens or adds */
        s->pos += dq;
        s->cost += (i128)dq * price;
        return;
    }
    int64_t apos = s->pos < 0 ? -s->pos : s->pos;
    int64_t close = (int64_t)qty < apos ? (int64_t)qty : apos;
    i128 removed = s->cost * close / apos; /* C's division truncates toward zero */
    i128 sign = s->pos > 0 ? 1 : -1;
    s->realized += sign * price * close - removed;
    s->cost -= removed;
    s->pos += dq > 0 ? close : -close;
    int64_t rest = (int64_t)qty - close; /* through zero: the rest opens the other way */
    if (rest) {
        s->pos += dq > 0 ? rest : -rest;
        s->cost = (i128)(dq > 0 ? rest : -rest) * price;
    }
}

LL_EXPORT int ll_oms_on_executed(ll_oms *o, uint32_t user_ref, uint32_t qty, uint32_t price, uint64_t match_number,
                                 uint8_t liquidity, uint64_t now_ns, ll_ts_report *rep)
{
    if (o == NULL || rep == NULL)
        return LL_EINVAL;
    order_t *r = order_of(o, user_ref);
    if (r == NULL)
        return illegal(o, LL_OMS_BAD_UNKNOWN_REF);
    if (qty == 0)
        return illegal(o, LL_OMS_BAD_ZERO_QTY);
    if (!is_open(r->state))
        return illegal(o, LL_OMS_BAD_AFTER_CLOSE);
    if (!r->acked)
        return illegal(o, LL_OMS_BAD_NOT_ACCEPTED);
    if (qty > leaves_of(r))
        return illegal(o, LL_OMS_BAD_OVERFILL);
    if (price == 0 || (r->side == 'B' ? price > r->price : price < r->price))
        return illegal(o, LL_OMS_BAD_FILL_PRICE);
    if (match_seen(o, match_number))
        return illegal(o, LL_OMS_BAD_DUP_MATCH);

    sym_t *s = &o->syms[r->sym];
    sym_out(o, s);
    o->realized -= s->realized;
    apply_fill(s, r->side, qty, price);
    o->realized += s->realized;
    if (r->side == 'B')
        s->bought += qty;
    else
        s->sold += qty;
    if (!s->has_mid)
        s->mark = price;
    sym_in(o, s);
    open_shrink(o, s, r, qty);
    r->filled += qty;
    if (leaves_of(r) == 0) {
        r->state = LL_OMS_FILLED;
        open_unlink(o, s, user_ref - 1);
    } else if (r->state != LL_OMS_CANCEL_PENDING) {
        r->state = LL_OMS_PARTIALLY_FILLED;
    }
    if (o->n_fills < o->max_fills) {
        ll_oms_fill_rec *f = &o->fills[o->n_fills++];
        *f = (ll_oms_fill_rec){.match_number = match_number, .ns = now_ns, .user_ref = user_ref,
                               .cl_ord_id = r->cl_ord_id, .qty = qty, .price = price, .locate = r->locate,
                               .side = r->side, .liquidity = liquidity};
        match_insert(o, match_number, o->n_fills);
    } else {
        o->c.fills_unrecorded++;
    }
    o->c.executions++;
    report(o, rep, LL_REPORT_EXECUTED, r, price, qty, 0, now_ns);
    loss_check(o, now_ns);
    return 0;
}

LL_EXPORT int ll_oms_on_canceled(ll_oms *o, uint32_t user_ref, uint32_t qty, uint8_t reason, uint64_t now_ns,
                                 ll_ts_report *rep)
{
    if (o == NULL || rep == NULL)
        return LL_EINVAL;
    order_t *r = order_of(o, user_ref);
    if (r == NULL)
        return illegal(o, LL_OMS_BAD_UNKNOWN_REF);
    if (qty == 0)
        return illegal(o, LL_OMS_BAD_ZERO_QTY);
    if (!is_open(r->state))
        return illegal(o, LL_OMS_BAD_AFTER_CLOSE);
    if (!r->acked)
        return illegal(o, LL_OMS_BAD_NOT_ACCEPTED);
    if (qty > leaves_of(r))
        return illegal(o, LL_OMS_BAD_OVERCANCEL);
    sym_t *s = &o->syms[r->sym];
    open_shrink(o, s, r, qty);
    r->canceled += qty;
    if (leaves_of(r) == 0) {
        r->state = LL_OMS_CANCELED;
        open_unlink(o, s, user_ref - 1);
    }
    o->c.canceled++;
    report(o, rep, LL_REPORT_CANCELED, r, r->price, qty, reason, now_ns);
    return 0;
}

LL_EXPORT int ll_oms_on_rejected(ll_oms *o, uint32_t user_ref, uint16_t reason, uint64_t now_ns, ll_ts_report *rep)
{
    if (o == NULL || rep == NULL)
        return LL_EINVAL;
    order_t *r = order_of(o, user_ref);
    if (r == NULL)
        return illegal(o, LL_OMS_BAD_UNKNOWN_REF);
    if (!is_open(r->state))
        return illegal(o, LL_OMS_BAD_AFTER_CLOSE);
    if (r->acked)
        return illegal(o, LL_OMS_BAD_REJECT_ACCEPTED);
    sym_t *s = &o->syms[r->sym];
    open_shrink(o, s, r, leaves_of(r));
    r->canceled = r->qty - r->filled; /* all of it (filled is 0: it never traded) */
    r->state = LL_OMS_REJECTED;
    open_unlink(o, s, user_ref - 1);
    o->c.exch_rejected++;
    report(o, rep, LL_REPORT_REJECTED, r, r->price, r->qty, (uint16_t)(LL_RISK_EXCHANGE | (reason & 0x7FFFu)), now_ns);
    return 0;
}

LL_EXPORT int ll_oms_on_cancel_rejected(ll_oms *o, uint32_t user_ref, uint64_t now_ns, ll_ts_report *rep)
{
    if (o == NULL || rep == NULL)
        return LL_EINVAL;
    order_t *r = order_of(o, user_ref);
    if (r == NULL)
        return illegal(o, LL_OMS_BAD_UNKNOWN_REF);
    if (!is_open(r->state))
        return illegal(o, LL_OMS_BAD_AFTER_CLOSE);
    if (r->state != LL_OMS_CANCEL_PENDING)
        return illegal(o, LL_OMS_BAD_NO_CANCEL);
    r->state = r->filled ? LL_OMS_PARTIALLY_FILLED : r->acked ? LL_OMS_ACCEPTED : LL_OMS_PENDING_NEW;
    o->c.cancel_refused++;
    report(o, rep, LL_REPORT_REJECTED, r, r->price, r->qty, LL_RISK_CANCEL_REFUSED, now_ns);
    return 0;
}

/* ------------------------------------------------------------ market data */
LL_EXPORT int ll_oms_on_quote(ll_oms *o, uint32_t locate, uint32_t bid, uint32_t ask, uint64_t now_ns)
{
    if (o == NULL)
        return LL_EINVAL;
    sym_t *s = sym_get(o, locate);
    if (s == NULL)
        return 0;
    o->c.quotes++;
    s->bid = bid;
    s->ask = ask;
    if (bid && ask) {
        sym_out(o, s);
        s->mark = (uint32_t)(((uint64_t)bid + ask) / 2);
        s->has_mid = 1;
        sym_in(o, s);
        loss_check(o, now_ns);
    }
    return 1;
}

/* ------------------------------------------------------------ queries */
LL_EXPORT void ll_oms_get_counters(const ll_oms *o, ll_oms_counters *out)
{
    if (o != NULL && out != NULL)
        *out = o->c;
}

LL_EXPORT uint32_t ll_oms_order_count(const ll_oms *o) { return o ? o->n_orders : 0; }
LL_EXPORT uint32_t ll_oms_open_orders(const ll_oms *o) { return o ? o->open_orders : 0; }
LL_EXPORT uint64_t ll_oms_fill_count(const ll_oms *o) { return o ? o->n_fills : 0; }

static void order_rec(const ll_oms *o, uint32_t idx, ll_oms_order_rec *out)
{
    const order_t *r = &o->orders[idx];
    *out = (ll_oms_order_rec){.exch_ref = r->exch_ref, .sent_ns = r->sent_ns, .user_ref = idx + 1,
                              .cl_ord_id = r->cl_ord_id, .price = r->price, .qty = r->qty, .filled = r->filled,
                              .canceled = r->canceled, .leaves = leaves_of(r), .locate = r->locate,
                              .side = r->side, .state = r->state};
}

LL_EXPORT int ll_oms_order(const ll_oms *o, uint32_t user_ref, ll_oms_order_rec *out)
{
    if (o == NULL || out == NULL || user_ref == 0 || user_ref > o->n_orders)
        return 0;
    order_rec(o, user_ref - 1, out);
    return 1;
}

LL_EXPORT int ll_oms_order_by_id(const ll_oms *o, uint32_t cl_ord_id, ll_oms_order_rec *out)
{
    if (o == NULL || out == NULL)
        return 0;
    uint32_t idx1 = id_find(o, cl_ord_id);
    if (!idx1)
        return 0;
    order_rec(o, idx1 - 1, out);
    return 1;
}

LL_EXPORT int64_t ll_oms_orders(const ll_oms *o, uint64_t from, ll_oms_order_rec *out, uint64_t max)
{
    if (o == NULL || (out == NULL && max))
        return LL_EINVAL;
    int64_t n = 0;
    for (uint64_t i = from; i < o->n_orders && (uint64_t)n < max; i++)
        order_rec(o, (uint32_t)i, &out[n++]);
    return n;
}

LL_EXPORT int64_t ll_oms_fills(const ll_oms *o, uint64_t from, ll_oms_fill_rec *out, uint64_t max)
{
    if (o == NULL || (out == NULL && max))
        return LL_EINVAL;
    int64_t n = 0;
    for (uint64_t i = from; i < o->n_fills && (uint64_t)n < max; i++)
        out[n++] = o->fills[i];
    return n;
}

static void position_rec(const sym_t *s, ll_oms_position_rec *out)
{
    *out = (ll_oms_position_rec){.position = s->pos, .cost = clamp64(s->cost), .realized = clamp64(s->realized),
                                 .unrealized = clamp64((i128)s->pos * s->mark - s->cost),
                                 .open_buy_qty = s->open_buy, .open_sell_qty = s->open_sell, .bought = s->bought,
                                 .sold = s->sold, .mark = s->mark, .bid = s->bid, .ask = s->ask,
                                 .open_orders = s->open_orders, .locate = s->locate};
}

LL_EXPORT int ll_oms_position(const ll_oms *o, uint32_t locate, ll_oms_position_rec *out)
{
    if (o == NULL || out == NULL)
        return 0;
    const sym_t *s = sym_get(o, locate);
    if (s == NULL)
        return 0;
    position_rec(s, out);
    return 1;
}

LL_EXPORT int64_t ll_oms_positions(const ll_oms *o, ll_oms_position_rec *out, uint64_t max)
{
    if (o == NULL || (out == NULL && max))
        return LL_EINVAL;
    int64_t n = 0;
    for (uint32_t i = 0; i < o->n_symbols && (uint64_t)n < max; i++)
        position_rec(&o->syms[i], &out[n++]);
    return n;
}

LL_EXPORT void ll_oms_totals(const ll_oms *o, int64_t out[3])
{
    if (o == NULL || out == NULL)
        return;
    out[0] = clamp64(o->realized);
    out[1] = clamp64(o->unrealized);
    out[2] = clamp64(o->pos_notional + o->open_notional);
}

LL_EXPORT int64_t ll_oms_check(const ll_oms *o)
{
    if (o == NULL)
        return LL_EINVAL;
    i128 realized = 0, unrealized = 0, pos_notional = 0, open_notional = 0;
    uint32_t open_total = 0;
    for (uint32_t si = 0; si < o->n_symbols; si++) {
        const sym_t *s = &o->syms[si];
        int64_t ob = 0, os = 0, bought = 0, sold = 0;
        uint32_t n_open = 0;
        for (uint32_t i = 0; i < o->n_orders; i++) {
            const order_t *r = &o->orders[i];
            if (r->sym != si)
                continue;
            if (r->side == 'B')
                bought += r->filled;
            else
                sold += r->filled;
            if (is_open(r->state)) {
                n_open++;
                if (r->side == 'B')
                    ob += leaves_of(r);
                else
                    os += leaves_of(r);
                open_notional += (i128)r->price * leaves_of(r);
            }
        }
        uint32_t linked = 0;
        for (uint32_t i = s->open_head; i && linked <= o->n_orders; i = o->orders[i - 1].next) {
            if (!is_open(o->orders[i - 1].state) || o->orders[i - 1].sym != si)
                return 10;
            linked++;
        }
        if (n_open != s->open_orders || linked != n_open)
            return 11;
        if (ob != s->open_buy || os != s->open_sell)
            return 12;
        if (bought != s->bought || sold != s->sold || s->pos != bought - sold)
            return 13;
        if (s->pos == 0 && s->cost != 0)
            return 14;
        realized += s->realized;
        unrealized += (i128)s->pos * s->mark - s->cost;
        pos_notional += abs128((i128)s->pos) * s->mark;
        open_total += n_open;
    }
    if (open_total != o->open_orders)
        return 15;
    if (realized != o->realized || unrealized != o->unrealized || pos_notional != o->pos_notional ||
        open_notional != o->open_notional)
        return 16;
    for (uint32_t i = 0; i < o->n_orders; i++) {
        const order_t *r = &o->orders[i];
        if ((uint64_t)r->filled + r->canceled > r->qty)
            return 20;
        if (is_open(r->state) != (leaves_of(r) > 0))
            return 21;
        if (r->state == LL_OMS_FILLED && r->filled == 0) /* (a decrement may have taken some first) */
            return 22;
        if (id_find(o, r->cl_ord_id) != i + 1)
            return 23;
    }
    for (uint32_t i = 0; i < o->n_fills; i++)
        if (!match_seen(o, o->fills[i].match_number))
            return 30;
    return 0;
}

/* ------------------------------------------------------------ layout */
#define OFF(t, f) (int64_t) offsetof(t, f)
LL_EXPORT int64_t ll_oms_layout_info(const char *what)
{
    static const ll_fact facts[] = {
        {"sizeof_limits", sizeof(ll_oms_limits)},
        {"sizeof_send", sizeof(ll_oms_send)},
        {"sizeof_report", sizeof(ll_ts_report)},
        {"sizeof_intent", sizeof(ll_ts_intent)},
        {"sizeof_order_rec", sizeof(ll_oms_order_rec)},
        {"sizeof_fill_rec", sizeof(ll_oms_fill_rec)},
        {"sizeof_position_rec", sizeof(ll_oms_position_rec)},
        {"sizeof_counters", sizeof(ll_oms_counters)},
        {"send.user_ref", OFF(ll_oms_send, user_ref)},
        {"send.qty", OFF(ll_oms_send, qty)},
        {"report.kind", OFF(ll_ts_report, kind)},
        {"report.side", OFF(ll_ts_report, side)},
        {"report.locate", OFF(ll_ts_report, locate)},
        {"report.cl_ord_id", OFF(ll_ts_report, cl_ord_id)},
        {"report.price", OFF(ll_ts_report, price)},
        {"report.qty", OFF(ll_ts_report, qty)},
        {"report.leaves", OFF(ll_ts_report, leaves)},
        {"report.reason", OFF(ll_ts_report, reason)},
        {"report.position", OFF(ll_ts_report, position)},
        {"report.ns", OFF(ll_ts_report, ns)},
        {"intent.kind", OFF(ll_ts_intent, kind)},
        {"intent.side", OFF(ll_ts_intent, side)},
        {"intent.locate", OFF(ll_ts_intent, locate)},
        {"intent.cl_ord_id", OFF(ll_ts_intent, cl_ord_id)},
        {"intent.price", OFF(ll_ts_intent, price)},
        {"intent.qty", OFF(ll_ts_intent, qty)},
        {"order_rec.leaves", OFF(ll_oms_order_rec, leaves)},
        {"order_rec.state", OFF(ll_oms_order_rec, state)},
        {"fill_rec.liquidity", OFF(ll_oms_fill_rec, liquidity)},
        {"position_rec.mark", OFF(ll_oms_position_rec, mark)},
        {"position_rec.locate", OFF(ll_oms_position_rec, locate)},
        {"counters.rejects", OFF(ll_oms_counters, rejects)},
        {"counters.illegals", OFF(ll_oms_counters, illegals)},
        {"limits.self_match", OFF(ll_oms_limits, self_match)},
        {"risk_n", LL_RISK_N},
        {"risk_slots", LL_RISK_SLOTS},
        {"bad_n", LL_OMS_BAD_N},
        {"bad_slots", LL_OMS_BAD_SLOTS},
        {"risk_exchange", LL_RISK_EXCHANGE},
        {"qty_sane", LL_OMS_QTY_SANE},
        {"price_sane", LL_OMS_PRICE_SANE},
        {"max_orders", LL_OMS_MAX_ORDERS},
        {"max_fills", LL_OMS_MAX_FILLS},
        {"max_symbols", LL_OMS_MAX_SYMBOLS},
        {"max_rate", LL_OMS_MAX_RATE},
    };
    return ll_lookup_fact(facts, sizeof facts / sizeof facts[0], what);
}
