/*
 * tests/c/test_oms.c - lab 7's order manager and risk checks tested from C,
 * no framework (built by meson as `test_oms_c` with cimpl/oms.c alone).
 *
 * - create / add_symbol argument checks;
 * - every risk check: tripped, and passed just inside its limit;
 * - the state table of oms.h from every state, every event; illegal replies
 *   leave every record byte-for-byte as it was;
 * - average-cost PnL by hand; the kill switch and the fill that races it;
 * - the cl_ord_id hash with ids that share their low bits, to capacity;
 * - a random stream of intents, replies (valid and not), quotes and kills,
 *   with ll_oms_check (every invariant recomputed from scratch) after each step.
 * The C/Python agreement is tests/test_oms.py's.
 * Prints "N passed, M failed" and exits non-zero if anything failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "oms.h"

#include "check.h"

#define PX 1000000u /* $100.00 */

static ll_oms_limits off_limits(void)
{
    ll_oms_limits l;
    memset(&l, 0, sizeof l);
    l.rate_window_ns = 1000;
    return l;
}

static ll_oms *make(const ll_oms_limits *l, uint32_t max_orders, uint32_t max_fills)
{
    int err = 12345;
    ll_oms *o = ll_oms_create(l, max_orders, 4, max_fills, &err);
    CHECK(o != NULL);
    CHECK_EQ(err, LL_OK);
    CHECK_EQ(ll_oms_add_symbol(o, 1), LL_OK);
    CHECK_EQ(ll_oms_add_symbol(o, 2), LL_OK);
    return o;
}

static ll_oms_send snd;
static ll_ts_report rep;

/* a NEW intent; the return code (0 sent, > 0 a reason) */
static int submit(ll_oms *o, uint8_t side, uint32_t cl, uint32_t price, uint32_t qty, uint16_t loc, uint64_t t)
{
    ll_ts_intent in;
    memset(&in, 0, sizeof in);
    in.kind = LL_INTENT_NEW;
    in.side = side;
    in.locate = loc;
    in.cl_ord_id = cl;
    in.price = price;
    in.qty = qty;
    int rc = ll_oms_submit(o, &in, t, &snd, &rep);
    if (rc > 0) {
        CHECK_EQ(rep.kind, LL_REPORT_REJECTED);
        CHECK_EQ(rep.reason, rc);
        CHECK_EQ(rep.cl_ord_id, cl);
    }
    return rc;
}

static uint32_t live(ll_oms *o, uint8_t side, uint32_t cl, uint32_t price, uint32_t qty, uint16_t loc)
{
    CHECK_EQ(submit(o, side, cl, price, qty, loc, 0), 0);
    uint32_t ref = snd.user_ref;
    CHECK_EQ(ll_oms_on_accepted(o, ref, 1000 + ref, 0, &rep), 0);
    return ref;
}

/* ------------------------------------------------------------ api */
static void test_api(void)
{
    int err = 0;
    ll_oms_limits l = off_limits();
    CHECK(ll_oms_create(&l, 0, 4, 4, &err) == NULL);
    CHECK_EQ(err, LL_EINVAL);
    CHECK(ll_oms_create(&l, LL_OMS_MAX_ORDERS + 1, 4, 4, &err) == NULL);
    CHECK(ll_oms_create(&l, 4, 0, 4, &err) == NULL);
    CHECK(ll_oms_create(&l, 4, 4, 0, &err) == NULL);
    l.collar_ref = 2;
    CHECK(ll_oms_create(&l, 4, 4, 4, &err) == NULL);
    l = off_limits();
    l.rate_orders_total = 3;
    l.rate_window_ns = 0;
    CHECK(ll_oms_create(&l, 4, 4, 4, &err) == NULL);
    l.rate_window_ns = 1;
    l.rate_orders_total = LL_OMS_MAX_RATE + 1;
    CHECK(ll_oms_create(&l, 4, 4, 4, &err) == NULL);
    CHECK_EQ(err, LL_EINVAL);

    ll_oms *o = ll_oms_create(NULL, 4, 2, 4, &err); /* NULL: the defaults */
    CHECK(o != NULL);
    ll_oms_limits got, def;
    ll_oms_get_limits(o, &got);
    ll_oms_limits_default(&def);
    CHECK(memcmp(&got, &def, sizeof got) == 0);
    CHECK_EQ(def.max_order_qty, 1000);
    CHECK_EQ(def.self_match, 1);
    CHECK_EQ(ll_oms_add_symbol(o, 0), LL_EBADLOCATE);
    CHECK_EQ(ll_oms_add_symbol(o, 65536), LL_EBADLOCATE);
    CHECK_EQ(ll_oms_add_symbol(o, 5), LL_OK);
    CHECK_EQ(ll_oms_add_symbol(o, 5), LL_OK);
    CHECK_EQ(ll_oms_add_symbol(o, 6), LL_OK);
    CHECK_EQ(ll_oms_add_symbol(o, 7), LL_EBOOKFULL);
    CHECK_EQ(ll_oms_add_symbol(NULL, 7), LL_EINVAL);
    ll_ts_intent in = {.kind = LL_INTENT_HEARTBEAT};
    CHECK_EQ(ll_oms_submit(o, &in, 0, &snd, &rep), LL_EINVAL);
    in.kind = LL_INTENT_NEW;
    CHECK_EQ(ll_oms_submit(o, NULL, 0, &snd, &rep), LL_EINVAL);
    CHECK_EQ(ll_oms_submit(o, &in, 0, NULL, &rep), LL_EINVAL);
    CHECK_EQ(ll_oms_on_executed(o, 1, 1, 1, 1, 'A', 0, NULL), LL_EINVAL);
    CHECK_EQ(ll_oms_kill(o, LL_RISK_BAD_SIDE, 0), LL_EINVAL);
    CHECK_EQ(ll_oms_on_quote(o, 9, 1, 2, 0), 0); /* undeclared: ignored */
    CHECK_EQ(ll_oms_on_quote(o, 5, 1, 2, 0), 1);
    ll_oms_counters c;
    ll_oms_get_counters(o, &c);
    CHECK_EQ(c.intents, 0);
    CHECK_EQ(c.quotes, 1);
    CHECK_EQ(ll_oms_layout_info("sizeof_send"), sizeof(ll_oms_send));
    CHECK_EQ(ll_oms_layout_info("risk_n"), LL_RISK_N);
    CHECK_EQ(ll_oms_layout_info("nope"), -1);
    CHECK_EQ(ll_oms_check(o), 0);
    ll_oms_destroy(o);
    ll_oms_destroy(NULL);
}

/* ------------------------------------------------------------ risk checks */
static void test_risk(void)
{
    ll_oms_limits l = off_limits();
    ll_oms *o = make(&l, 64, 64);
    /* always on */
    CHECK_EQ(submit(o, 'X', 1, PX, 100, 1, 0), LL_RISK_BAD_SIDE);
    CHECK_EQ(submit(o, 'B', 1, PX, 0, 1, 0), LL_RISK_BAD_QTY);
    CHECK_EQ(submit(o, 'B', 1, PX, LL_OMS_QTY_SANE + 1, 1, 0), LL_RISK_BAD_QTY);
    CHECK_EQ(submit(o, 'B', 1, 0, 100, 1, 0), LL_RISK_BAD_PRICE);
    CHECK_EQ(submit(o, 'B', 1, LL_OMS_PRICE_SANE + 1, 100, 1, 0), LL_RISK_BAD_PRICE);
    CHECK_EQ(submit(o, 'B', 1, PX, 100, 3, 0), LL_RISK_UNKNOWN_SYMBOL);
    CHECK_EQ(submit(o, 'B', 1, PX, LL_OMS_QTY_SANE, 1, 0), 0);
    CHECK_EQ(snd.user_ref, 1);
    CHECK_EQ(snd.kind, LL_OMS_SEND_NEW);
    CHECK_EQ(submit(o, 'S', 2, LL_OMS_PRICE_SANE, 1, 1, 0), 0);
    CHECK_EQ(snd.user_ref, 2);
    CHECK_EQ(submit(o, 'S', 2, PX, 1, 2, 0), LL_RISK_DUPLICATE_ID);
    ll_oms_counters c;
    ll_oms_get_counters(o, &c);
    CHECK_EQ(c.rejects[LL_RISK_BAD_QTY], 2);
    CHECK_EQ(c.rejected, 7);
    CHECK_EQ(c.sent, 2);
    ll_oms_destroy(o);

    l = off_limits();
    o = make(&l, 2, 4); /* capacity */
    CHECK_EQ(submit(o, 'B', 1, PX, 1, 1, 0), 0);
    CHECK_EQ(submit(o, 'B', 2, PX, 1, 1, 0), 0);
    CHECK_EQ(submit(o, 'B', 3, PX, 1, 1, 0), LL_RISK_CAPACITY);
    ll_oms_destroy(o);

    l = off_limits();
    l.max_order_qty = 100;
    l.max_order_notional = (uint64_t)PX * 100;
    o = make(&l, 64, 64);
    CHECK_EQ(submit(o, 'B', 1, PX, 100, 1, 0), 0);
    CHECK_EQ(submit(o, 'B', 2, PX, 101, 1, 0), LL_RISK_MAX_QTY);
    CHECK_EQ(submit(o, 'B', 3, PX + 1, 99, 1, 0), 0);
    CHECK_EQ(submit(o, 'B', 4, PX + 1, 100, 1, 0), LL_RISK_MAX_NOTIONAL);
    ll_oms_destroy(o);

    l = off_limits();
    l.collar_ticks = 5;
    o = make(&l, 64, 64);
    CHECK_EQ(submit(o, 'B', 1, PX, 1, 1, 0), LL_RISK_NO_MARKET);
    ll_oms_on_quote(o, 1, PX, PX + 300, 0);
    CHECK_EQ(submit(o, 'B', 1, PX + 500, 1, 1, 0), 0);
    CHECK_EQ(submit(o, 'B', 2, PX + 501, 1, 1, 0), LL_RISK_COLLAR);
    CHECK_EQ(submit(o, 'B', 3, PX - 500, 1, 1, 0), 0);
    CHECK_EQ(submit(o, 'B', 4, PX - 501, 1, 1, 0), LL_RISK_COLLAR);
    CHECK_EQ(submit(o, 'S', 5, PX + 800, 1, 1, 0), 0);
    CHECK_EQ(submit(o, 'S', 6, PX + 801, 1, 1, 0), LL_RISK_COLLAR);
    ll_oms_on_quote(o, 1, 0, PX + 300, 0);
    CHECK_EQ(submit(o, 'B', 7, PX, 1, 1, 0), LL_RISK_NO_MARKET);
    ll_oms_destroy(o);

    l = off_limits();
    l.collar_ticks = 5;
    l.collar_ref = LL_OMS_COLLAR_MID;
    o = make(&l, 64, 64);
    ll_oms_on_quote(o, 1, PX, PX + 301, 0); /* mid 100.01505 */
    CHECK_EQ(submit(o, 'B', 1, PX + 650, 1, 1, 0), 0);
    CHECK_EQ(submit(o, 'B', 2, PX + 651, 1, 1, 0), LL_RISK_COLLAR);
    CHECK_EQ(submit(o, 'S', 3, PX + 150 - 499, 1, 1, 0), 0);
    CHECK_EQ(submit(o, 'S', 4, PX + 150 - 500, 1, 1, 0), LL_RISK_COLLAR);
    ll_oms_on_quote(o, 1, PX, 0, 0);
    CHECK_EQ(submit(o, 'S', 5, PX, 1, 1, 0), LL_RISK_NO_MARKET);
    ll_oms_destroy(o);

    l = off_limits();
    l.max_open_orders = 2;
    o = make(&l, 64, 64);
    uint32_t r1 = live(o, 'B', 1, PX, 10, 1);
    CHECK_EQ(submit(o, 'B', 2, PX, 10, 1, 0), 0);
    CHECK_EQ(submit(o, 'B', 3, PX, 10, 1, 0), LL_RISK_MAX_OPEN_ORDERS);
    CHECK_EQ(ll_oms_on_canceled(o, r1, 10, 'U', 0, &rep), 0);
    CHECK_EQ(submit(o, 'B', 3, PX, 10, 1, 0), 0);
    ll_oms_destroy(o);

    l = off_limits();
    l.rate_orders_symbol = 3;
    l.rate_orders_total = 4;
    l.rate_window_ns = 1000;
    o = make(&l, 64, 64);
    for (uint32_t i = 0; i < 3; i++)
        CHECK_EQ(submit(o, 'B', 10 + i, PX, 1, 1, 100 + i), 0);
    CHECK_EQ(submit(o, 'B', 20, PX, 1, 1, 1099), LL_RISK_RATE_SYMBOL);
    CHECK_EQ(submit(o, 'B', 21, PX, 1, 2, 1099), 0);
    CHECK_EQ(submit(o, 'B', 22, PX, 1, 2, 1099), LL_RISK_RATE_TOTAL);
    CHECK_EQ(submit(o, 'B', 23, PX, 1, 1, 1100), 0); /* the first left both windows */
    CHECK_EQ(submit(o, 'B', 24, PX, 1, 1, 1100), LL_RISK_RATE_SYMBOL);
    CHECK_EQ(submit(o, 'B', 25, PX, 1, 1, 50), LL_RISK_RATE_SYMBOL); /* time back: the latest */
    ll_oms_destroy(o);

    l = off_limits();
    l.max_long = 300;
    l.max_short = 300;
    o = make(&l, 64, 64);
    r1 = live(o, 'B', 1, PX, 200, 1);
    CHECK_EQ(submit(o, 'B', 2, PX, 100, 1, 0), 0);
    CHECK_EQ(submit(o, 'B', 3, PX, 1, 1, 0), LL_RISK_MAX_LONG);
    CHECK_EQ(ll_oms_on_executed(o, r1, 200, PX, 1, 'A', 0, &rep), 0); /* long 200 + 100 open */
    CHECK_EQ(rep.position, 200);
    CHECK_EQ(submit(o, 'B', 3, PX, 1, 1, 0), LL_RISK_MAX_LONG);
    CHECK_EQ(submit(o, 'S', 4, PX + 1, 500, 1, 0), 0); /* 200 - 500 = -300 */
    CHECK_EQ(submit(o, 'S', 5, PX + 1, 1, 1, 0), LL_RISK_MAX_SHORT);
    ll_oms_destroy(o);

    l = off_limits();
    l.max_gross_notional = (uint64_t)PX * 300;
    o = make(&l, 64, 64);
    r1 = live(o, 'B', 1, PX, 100, 1);
    CHECK_EQ(submit(o, 'S', 2, PX, 100, 2, 0), 0);
    CHECK_EQ(submit(o, 'B', 3, PX, 101, 1, 0), LL_RISK_MAX_GROSS);
    CHECK_EQ(submit(o, 'B', 3, PX, 100, 1, 0), 0);
    int64_t tot[3];
    ll_oms_totals(o, tot);
    CHECK_EQ(tot[2], (int64_t)PX * 300);
    ll_oms_destroy(o);

    l = off_limits();
    l.self_match = 1;
    o = make(&l, 64, 64);
    r1 = live(o, 'S', 1, PX, 100, 1);
    CHECK_EQ(submit(o, 'B', 2, PX - 1, 1, 1, 0), 0);
    CHECK_EQ(submit(o, 'B', 3, PX, 1, 1, 0), LL_RISK_SELF_MATCH);
    CHECK_EQ(submit(o, 'B', 3, PX, 1, 2, 0), 0);
    CHECK_EQ(submit(o, 'S', 4, PX - 1, 1, 1, 0), LL_RISK_SELF_MATCH);
    CHECK_EQ(ll_oms_on_canceled(o, r1, 100, 'U', 0, &rep), 0);
    CHECK_EQ(submit(o, 'B', 5, PX, 1, 1, 0), 0);
    CHECK_EQ(ll_oms_check(o), 0);
    ll_oms_destroy(o);
}

/* ------------------------------------------------------------ the state table */
enum { S_PN, S_AC, S_PF, S_CP, S_CPU, S_CPP, S_FI, S_CA, S_RE, N_START };
enum { E_ACC, E_EX10, E_EXALL, E_CXL10, E_CXLALL, E_REJ, E_CXLREJ, E_CANCEL, N_EV };
#define BAD(k) (100 + (k))
#define RISK(k) (200 + (k))
static const int table[N_START][N_EV] = {
    [S_PN] = {LL_OMS_ACCEPTED, BAD(LL_OMS_BAD_NOT_ACCEPTED), BAD(LL_OMS_BAD_NOT_ACCEPTED), BAD(LL_OMS_BAD_NOT_ACCEPTED),
              BAD(LL_OMS_BAD_NOT_ACCEPTED), LL_OMS_REJECTED, BAD(LL_OMS_BAD_NO_CANCEL), LL_OMS_CANCEL_PENDING},
    [S_AC] = {BAD(LL_OMS_BAD_ACCEPT_TWICE), LL_OMS_PARTIALLY_FILLED, LL_OMS_FILLED, LL_OMS_ACCEPTED, LL_OMS_CANCELED,
              BAD(LL_OMS_BAD_REJECT_ACCEPTED), BAD(LL_OMS_BAD_NO_CANCEL), LL_OMS_CANCEL_PENDING},
    [S_PF] = {BAD(LL_OMS_BAD_ACCEPT_TWICE), LL_OMS_PARTIALLY_FILLED, LL_OMS_FILLED, LL_OMS_PARTIALLY_FILLED,
              LL_OMS_CANCELED, BAD(LL_OMS_BAD_REJECT_ACCEPTED), BAD(LL_OMS_BAD_NO_CANCEL), LL_OMS_CANCEL_PENDING},
    [S_CP] = {BAD(LL_OMS_BAD_ACCEPT_TWICE), LL_OMS_CANCEL_PENDING, LL_OMS_FILLED, LL_OMS_CANCEL_PENDING,
              LL_OMS_CANCELED, BAD(LL_OMS_BAD_REJECT_ACCEPTED), LL_OMS_ACCEPTED, RISK(LL_RISK_CANCEL_PENDING)},
    [S_CPU] = {LL_OMS_CANCEL_PENDING, BAD(LL_OMS_BAD_NOT_ACCEPTED), BAD(LL_OMS_BAD_NOT_ACCEPTED),
               BAD(LL_OMS_BAD_NOT_ACCEPTED), BAD(LL_OMS_BAD_NOT_ACCEPTED), LL_OMS_REJECTED, LL_OMS_PENDING_NEW,
               RISK(LL_RISK_CANCEL_PENDING)},
    [S_CPP] = {BAD(LL_OMS_BAD_ACCEPT_TWICE), LL_OMS_CANCEL_PENDING, LL_OMS_FILLED, LL_OMS_CANCEL_PENDING,
               LL_OMS_CANCELED, BAD(LL_OMS_BAD_REJECT_ACCEPTED), LL_OMS_PARTIALLY_FILLED, RISK(LL_RISK_CANCEL_PENDING)},
};
static const int path[N_START][4] = {
    [S_PN] = {-1}, [S_AC] = {E_ACC, -1}, [S_PF] = {E_ACC, E_EX10, -1}, [S_CP] = {E_ACC, E_CANCEL, -1},
    [S_CPU] = {E_CANCEL, -1}, [S_CPP] = {E_ACC, E_EX10, E_CANCEL, -1}, [S_FI] = {E_ACC, E_EXALL, -1},
    [S_CA] = {E_ACC, E_CXLALL, -1}, [S_RE] = {E_REJ, -1},
};

static uint64_t next_match = 1;

static int event(ll_oms *o, uint32_t ref, int ev)
{
    ll_oms_order_rec r;
    CHECK_EQ(ll_oms_order(o, ref, &r), 1);
    uint32_t rest = r.leaves ? r.leaves : 10;
    switch (ev) {
    case E_ACC: return ll_oms_on_accepted(o, ref, 77, 0, &rep);
    case E_EX10: return ll_oms_on_executed(o, ref, 10, PX, next_match++, 'A', 0, &rep);
    case E_EXALL: return ll_oms_on_executed(o, ref, rest, PX, next_match++, 'A', 0, &rep);
    case E_CXL10: return ll_oms_on_canceled(o, ref, 10, 'U', 0, &rep);
    case E_CXLALL: return ll_oms_on_canceled(o, ref, rest, 'U', 0, &rep);
    case E_REJ: return ll_oms_on_rejected(o, ref, 3, 0, &rep);
    case E_CXLREJ: return ll_oms_on_cancel_rejected(o, ref, 0, &rep);
    default: return ll_oms_cancel(o, r.cl_ord_id, 0, &snd, &rep);
    }
}

typedef struct {
    ll_oms_order_rec orders[8];
    ll_oms_position_rec pos[2];
    int64_t tot[3];
    uint64_t fills;
} snap_t;

static void snap(const ll_oms *o, snap_t *s)
{
    memset(s, 0, sizeof *s);
    CHECK(ll_oms_orders(o, 0, s->orders, 8) >= 0);
    CHECK_EQ(ll_oms_positions(o, s->pos, 2), 2);
    ll_oms_totals(o, s->tot);
    s->fills = ll_oms_fill_count(o);
}

static void test_states(void)
{
    for (int start = 0; start < N_START; start++)
        for (int ev = 0; ev < N_EV; ev++) {
            ll_oms_limits l = off_limits();
            ll_oms *o = make(&l, 8, 64);
            CHECK_EQ(submit(o, 'B', 1, PX, 100, 1, 0), 0);
            uint32_t ref = snd.user_ref;
            for (int i = 0; path[start][i] >= 0 && i < 4; i++)
                CHECK(event(o, ref, path[start][i]) <= 0);
            int want = start >= S_FI ? (ev == E_CANCEL ? RISK(LL_RISK_ORDER_CLOSED) : BAD(LL_OMS_BAD_AFTER_CLOSE))
                                     : table[start][ev];
            snap_t before, after;
            snap(o, &before);
            ll_oms_counters c0, c1;
            ll_oms_get_counters(o, &c0);
            int rc = event(o, ref, ev);
            ll_oms_get_counters(o, &c1);
            snap(o, &after);
            CHECK_EQ(ll_oms_check(o), 0);
            if (want >= 200) {
                CHECK_EQ(rc, want - 200);
                CHECK(memcmp(before.orders, after.orders, sizeof before.orders) == 0);
            } else if (want >= 100) {
                if (rc != want - 100)
                    fprintf(stderr, "start %d event %d: rc %d, want illegal %d\n", start, ev, rc, want - 100);
                CHECK_EQ(rc, want - 100);
                CHECK(memcmp(&before, &after, sizeof before) == 0); /* harmless */
                CHECK_EQ(c1.illegal, c0.illegal + 1);
                CHECK_EQ(c1.illegals[want - 100], c0.illegals[want - 100] + 1);
            } else {
                ll_oms_order_rec r;
                ll_oms_order(o, ref, &r);
                if (rc != 0 || r.state != want)
                    fprintf(stderr, "start %d event %d: rc %d state %d, want state %d\n", start, ev, rc, r.state,
                            want);
                CHECK_EQ(rc, 0);
                CHECK_EQ(r.state, want);
                CHECK_EQ(r.filled + r.canceled + r.leaves, r.qty);
            }
            ll_oms_destroy(o);
        }
}

static void test_illegal_replies(void)
{
    ll_oms_limits l = off_limits();
    ll_oms *o = make(&l, 8, 64);
    uint32_t r = live(o, 'B', 1, PX, 100, 1);
    CHECK_EQ(ll_oms_on_executed(o, r, 10, PX - 100, 5, 'A', 0, &rep), 0);
    snap_t before, after;
    snap(o, &before);
    CHECK_EQ(ll_oms_on_executed(o, 0, 1, PX, 9, 'A', 0, &rep), LL_OMS_BAD_UNKNOWN_REF);
    CHECK_EQ(ll_oms_on_accepted(o, 2, 1, 0, &rep), LL_OMS_BAD_UNKNOWN_REF);
    CHECK_EQ(ll_oms_on_canceled(o, 0xFFFFFFFFu, 1, 'U', 0, &rep), LL_OMS_BAD_UNKNOWN_REF);
    CHECK_EQ(ll_oms_on_executed(o, r, 0, PX, 9, 'A', 0, &rep), LL_OMS_BAD_ZERO_QTY);
    CHECK_EQ(ll_oms_on_canceled(o, r, 0, 'U', 0, &rep), LL_OMS_BAD_ZERO_QTY);
    CHECK_EQ(ll_oms_on_executed(o, r, 91, PX, 9, 'A', 0, &rep), LL_OMS_BAD_OVERFILL);
    CHECK_EQ(ll_oms_on_canceled(o, r, 91, 'U', 0, &rep), LL_OMS_BAD_OVERCANCEL);
    CHECK_EQ(ll_oms_on_executed(o, r, 1, 0, 9, 'A', 0, &rep), LL_OMS_BAD_FILL_PRICE);
    CHECK_EQ(ll_oms_on_executed(o, r, 1, PX + 1, 9, 'A', 0, &rep), LL_OMS_BAD_FILL_PRICE);
    CHECK_EQ(ll_oms_on_executed(o, r, 1, PX, 5, 'A', 0, &rep), LL_OMS_BAD_DUP_MATCH);
    snap(o, &after);
    CHECK(memcmp(&before, &after, sizeof before) == 0);
    ll_oms_counters c;
    ll_oms_get_counters(o, &c);
    CHECK_EQ(c.illegal, 10);
    CHECK_EQ(c.illegals[LL_OMS_BAD_UNKNOWN_REF], 3);
    CHECK_EQ(c.illegals[LL_OMS_BAD_FILL_PRICE], 2);
    CHECK_EQ(ll_oms_check(o), 0);
    ll_oms_destroy(o);
}

/* ------------------------------------------------------------ PnL */
static void fill(ll_oms *o, uint8_t side, uint32_t qty, uint32_t price)
{
    uint32_t n = ll_oms_order_count(o) + 1;
    uint32_t r = live(o, side, n, price, qty, 1);
    CHECK_EQ(ll_oms_on_executed(o, r, qty, price, n, 'A', 0, &rep), 0);
}

static void test_pnl(void)
{
    ll_oms_limits l = off_limits();
    ll_oms *o = make(&l, 64, 64);
    ll_oms_position_rec p;
    fill(o, 'B', 100, 100000);
    fill(o, 'B', 50, 103000);
    ll_oms_position(o, 1, &p);
    CHECK_EQ(p.position, 150);
    CHECK_EQ(p.cost, 15150000);
    fill(o, 'S', 60, 105000);
    ll_oms_position(o, 1, &p);
    CHECK_EQ(p.realized, 240000);
    CHECK_EQ(p.cost, 9090000);
    fill(o, 'S', 120, 100000);
    ll_oms_position(o, 1, &p);
    CHECK_EQ(p.position, -30);
    CHECK_EQ(p.cost, -3000000);
    CHECK_EQ(p.realized, 150000);
    fill(o, 'B', 10, 99000);
    ll_oms_position(o, 1, &p);
    CHECK_EQ(p.realized, 160000);
    ll_oms_on_quote(o, 1, 98000, 98200, 0);
    ll_oms_position(o, 1, &p);
    CHECK_EQ(p.mark, 98100);
    CHECK_EQ(p.unrealized, 38000);
    fill(o, 'B', 20, 98100);
    ll_oms_position(o, 1, &p);
    CHECK_EQ(p.position, 0);
    CHECK_EQ(p.cost, 0);
    CHECK_EQ(p.realized, 198000);
    int64_t tot[3];
    ll_oms_totals(o, tot);
    CHECK_EQ(tot[0], 198000);
    CHECK_EQ(tot[1], 0);
    CHECK_EQ(ll_oms_check(o), 0);
    ll_oms_destroy(o);
}

/* ------------------------------------------------------------ kill switch */
static void test_kill(void)
{
    ll_oms_limits l = off_limits();
    l.max_loss = 500000;
    ll_oms *o = make(&l, 64, 64);
    uint32_t r1 = live(o, 'B', 1, PX, 100, 1);
    CHECK_EQ(ll_oms_on_executed(o, r1, 100, PX, 1, 'A', 0, &rep), 0);
    uint32_t r2 = live(o, 'B', 2, PX - 1000, 10, 1);
    uint32_t r3 = live(o, 'B', 3, PX - 2000, 10, 2);
    CHECK_EQ(submit(o, 'B', 4, PX - 3000, 10, 1, 0), 0); /* pending new */
    uint32_t r4 = snd.user_ref;
    uint32_t r5 = live(o, 'B', 5, PX - 3000, 10, 1);
    CHECK_EQ(ll_oms_cancel(o, 5, 0, &snd, &rep), 0); /* its cancel is already on the way */
    ll_oms_on_quote(o, 1, PX - 10000, PX, 0); /* -500,000: at the limit */
    CHECK_EQ(ll_oms_halted(o), 0);
    ll_oms_on_quote(o, 1, PX - 10002, PX, 7); /* -500,100 */
    CHECK_EQ(ll_oms_halted(o), LL_RISK_LOSS);
    CHECK_EQ(ll_oms_pending(o), 1 + 3);
    CHECK_EQ(ll_oms_kill(o, LL_RISK_KILL_MANUAL, 8), 0); /* already halted */
    CHECK_EQ(submit(o, 'S', 6, PX, 1, 1, 0), LL_RISK_LOSS);
    CHECK_EQ(ll_oms_on_executed(o, r2, 10, PX - 1000, 2, 'A', 0, &rep), 0); /* races the kill */
    CHECK_EQ(ll_oms_next_action(o, &snd, &rep), LL_OMS_ACT_REPORT);
    CHECK_EQ(rep.kind, LL_REPORT_HALTED);
    CHECK_EQ(rep.reason, LL_RISK_LOSS);
    CHECK_EQ(rep.ns, 7);
    CHECK_EQ(ll_oms_next_action(o, &snd, &rep), LL_OMS_ACT_SEND);
    CHECK_EQ(snd.user_ref, r3); /* r2 filled meanwhile: skipped */
    CHECK_EQ(snd.kind, LL_OMS_SEND_CANCEL);
    CHECK_EQ(ll_oms_next_action(o, &snd, &rep), LL_OMS_ACT_SEND);
    CHECK_EQ(snd.user_ref, r4);
    CHECK_EQ(ll_oms_next_action(o, &snd, &rep), LL_OMS_ACT_NONE);
    CHECK_EQ(ll_oms_pending(o), 0);
    (void)r5;
    /* risk-reducing: cancels still pass */
    CHECK_EQ(ll_oms_on_cancel_rejected(o, r3, 0, &rep), 0);
    CHECK_EQ(ll_oms_cancel(o, 3, 0, &snd, &rep), 0);
    CHECK_EQ(ll_oms_check(o), 0);
    ll_oms_destroy(o);
}

/* ------------------------------------------------------------ the hash */
static void test_hash(void)
{
    ll_oms_limits l = off_limits();
    enum { N = 4096 };
    int err;
    ll_oms *o = ll_oms_create(&l, N, 1, 16, &err);
    CHECK(o != NULL);
    CHECK_EQ(ll_oms_add_symbol(o, 1), LL_OK);
    int ok = 1;
    for (uint32_t i = 0; i < N; i++) /* ids that differ only in their high bits */
        ok &= submit(o, 'B', i << 20 | 7, PX, 1, 1, 0) == 0;
    CHECK(ok);
    CHECK_EQ(submit(o, 'B', 99, PX, 1, 1, 0), LL_RISK_CAPACITY);
    CHECK_EQ(submit(o, 'B', 5u << 20 | 7, PX, 1, 1, 0), LL_RISK_DUPLICATE_ID);
    ll_oms_order_rec r;
    ok = 1;
    for (uint32_t i = 0; i < N; i++)
        ok &= ll_oms_order_by_id(o, i << 20 | 7, &r) == 1 && r.user_ref == i + 1;
    CHECK(ok);
    CHECK_EQ(ll_oms_order_by_id(o, 8, &r), 0);
    CHECK_EQ(ll_oms_open_orders(o), N);
    CHECK_EQ(ll_oms_check(o), 0);
    ll_oms_destroy(o);
}

/* ------------------------------------------------------------ a random stream */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void test_random(void)
{
    ll_oms_limits l = off_limits();
    l.max_order_qty = 300;
    l.max_long = l.max_short = 600;
    l.max_open_orders = 12;
    l.rate_orders_symbol = 20;
    l.rate_window_ns = 1000;
    l.self_match = 1;
    l.max_loss = 5000000;
    int bad = 0;
    for (int round = 0; round < 20; round++) {
        ll_oms *o = make(&l, 256, 64);
        ll_oms_on_quote(o, 1, PX, PX + 100, 0);
        ll_oms_on_quote(o, 2, PX, PX + 100, 0);
        uint64_t t = 0;
        for (int step = 0; step < 400; step++) {
            uint32_t n = ll_oms_order_count(o);
            uint32_t ref = rnd(10) ? 1 + rnd(n ? n : 1) : rnd(n + 2);
            switch (rnd(12)) {
            case 0: case 1: case 2:
                (void)submit(o, rnd(8) ? (rnd(2) ? 'B' : 'S') : 'X', rnd(300), PX + (rnd(13) - 6) * 100, rnd(320),
                             (uint16_t)(1 + rnd(3)), t);
                break;
            case 3: case 4: (void)ll_oms_on_accepted(o, ref, ref, t, &rep); break;
            case 5: case 6: {
                ll_oms_order_rec r;
                uint32_t q = ll_oms_order(o, ref, &r) && rnd(2) ? r.leaves : rnd(120);
                uint32_t p = ll_oms_order(o, ref, &r) ? r.price + (rnd(4) ? 0 : 100) : PX;
                (void)ll_oms_on_executed(o, ref, q, p, rnd(2000), 'A', t, &rep);
                break;
            }
            case 7: (void)ll_oms_on_canceled(o, ref, rnd(2) ? rnd(100) : 1000, 'U', t, &rep); break;
            case 8: (void)ll_oms_cancel(o, rnd(300), t, &snd, &rep); break;
            case 9:
                if (rnd(3) == 0)
                    (void)ll_oms_on_rejected(o, ref, 1, t, &rep);
                else
                    (void)ll_oms_on_cancel_rejected(o, ref, t, &rep);
                break;
            case 10: ll_oms_on_quote(o, 1 + rnd(2), PX + (rnd(20) - 10) * 100, PX + 1000, t); break;
            default:
                t += rnd(500);
                if (rnd(200) == 0)
                    (void)ll_oms_kill(o, LL_RISK_KILL_MANUAL, t);
                while (ll_oms_next_action(o, &snd, &rep) != LL_OMS_ACT_NONE)
                    ;
            }
            int64_t rc = ll_oms_check(o);
            if (rc && !bad) {
                fprintf(stderr, "random round %d step %d: ll_oms_check %lld\n", round, step, (long long)rc);
                bad = 1;
            }
        }
        ll_oms_destroy(o);
    }
    CHECK(!bad);
}

int main(void)
{
    test_api();
    test_risk();
    test_states();
    test_illegal_replies();
    test_pnl();
    test_kill();
    test_hash();
    test_random();
    return check_summary();
}
