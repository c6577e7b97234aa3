/*
 * tests/c/test_backtest.c - lab 8's backtester loop (cimpl/backtest.c)
 * tested from C, no framework.
 *
 * Built by meson as `test_backtest_c` (with lab 7's pieces and labs 3, 5, 6
 * under them) and run by `meson test`; `make sanitize` runs it under
 * ASan+UBSan and TSan.  tests/test_backtest_c.py holds the loop to
 * pyimpl.backtest on simulated streams; this file checks it by hand:
 *
 * - mode b by hand: a strategy that joins the bid behind a feed order; the
 *   feed order ahead executes (no fill for us), one behind us executes (we
 *   are filled first: 100 shares at our price, liquidity 'A'); the reports
 *   in order (accepted, executed), the records, reconciliation;
 * - the same with latencies: the snapshot arrives feed_at later, the order
 *   joins the queue when it arrives;
 * - mode a: lab 7's C strategy inline (a logistic model that always says
 *   "up": it buys at the ask and crosses), and a strategy that never answers;
 * - the C market maker (ll_bt_mm): by hand, call by call (quotes, cancels
 *   on a move, the new quote once the cancel is confirmed, the cooldown
 *   after a reject, a refused cancel, the skew, the cap, its symbols, ids
 *   running out, extreme positions, bad input); and inline in the loop
 *   (ll_bt_run_mm) on the hand stream: it joins both sides, its bid fills,
 *   and it re-quotes the bid one tick lower (skewed by the new position);
 * - FLUSH with small record buffers: every mark read once;
 * - bad input: NULLs, used pieces, latency arrays of the wrong length or
 *   out of range, intents that answer no snapshot; a truncated stream
 *   (strict: an error naming the offset; lenient: the frames before it), a
 *   message the book refuses (its index), a full leg (LL_ENORES).
 *
 * Prints "N passed, M failed" and exits non-zero if anything failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backtest.h"
#include "common.h"
#include "exchange.h"
#include "itch.h"
#include "ml_inference.h"
#include "oms.h"
#include "trading_system.h"

#include "check.h"
#include "itch_build.h"

#define P 10000u /* $1 */
#define DRAWS 4

static uint8_t stream[1 << 16];
static size_t stream_len;

static void put(const uint8_t *m, size_t n) { stream_len = itch_frame(stream, stream_len, m, n); }

/* The hand stream: one symbol, a bid of 100 at $100.00 (ref 1) and an ask at
 * $100.01; then, once our bid has joined behind ref 1: ref 1 executes (it was
 * ahead of us), ref 3 joins behind us and executes (an aggressor would have
 * met us first: we fill). */
static void build_stream(void)
{
    uint8_t m[64];
    stream_len = 0;
    put(m, itch_directory(m, 1, "TEST    "));
    put(m, itch_add(m, 'A', 1, 1, 'B', 100, 100 * P));
    put(m, itch_add(m, 'A', 1, 2, 'S', 100, 100 * P + 100));
    put(m, itch_ref(m, 'E', 1, 1, 100));                      /* ahead of us: takes ref 1 only */
    put(m, itch_add(m, 'A', 1, 3, 'B', 200, 100 * P));        /* behind us */
    put(m, itch_ref(m, 'E', 1, 3, 150));                      /* we fill first: 100 of the 150 */
    put(m, itch_add(m, 'A', 1, 4, 'S', 300, 100 * P + 200));  /* more book updates */
}

typedef struct {
    ll_exch *x;
    ll_ml_engine *fe;
    ll_oms *oms;
    ll_bt *bt;
    int64_t feed_at[64], od[DRAWS], rd[DRAWS];
} rig;

/* Fresh pieces (permissive risk limits) and a backtester over buf. */
static int rig_open(rig *r, const uint8_t *buf, size_t len, const ll_bt_config *over, int64_t feed, int64_t order,
                    int64_t reply)
{
    int err;
    memset(r, 0, sizeof *r);
    ll_exch_config xc;
    ll_exch_config_default(&xc);
    r->x = ll_exch_create(&xc, &err);
    r->fe = ll_ml_engine_create(1 << 12, 64, 5, 50, 50, 0.97, 0.05, 10000.0, &err);
    ll_oms_limits lim;
    memset(&lim, 0, sizeof lim); /* every check off */
    r->oms = ll_oms_create(&lim, 1024, 64, 4096, &err);
    ll_bt_config c;
    memset(&c, 0, sizeof c);
    if (over != NULL)
        c = *over;
    c.stream = buf, c.len = len, c.maker_fee = -0.002, c.taker_fee = 0.003;
    r->bt = ll_bt_create(r->x, r->fe, r->oms, &c, &err);
    if (r->bt == NULL)
        return err;
    int64_t stamps[64];
    int64_t n = ll_bt_stamps(r->bt, stamps, 64);
    for (int64_t i = 0; i < n && i < 64; i++)
        r->feed_at[i] = stamps[i] + feed;
    for (int i = 0; i < DRAWS; i++)
        r->od[i] = order, r->rd[i] = reply;
    return ll_bt_set_latency(r->bt, r->feed_at, (uint64_t)n, r->od, DRAWS, r->rd, DRAWS);
}

static void rig_close(rig *r)
{
    ll_bt_destroy(r->bt);
    ll_oms_destroy(r->oms);
    ll_ml_engine_destroy(r->fe);
    ll_exch_destroy(r->x);
}

/* ------------------------------------------------------------ mode b by hand */
static void test_join_the_queue(int64_t feed, int64_t order, int64_t reply)
{
    build_stream();
    rig r;
    CHECK_EQ(rig_open(&r, stream, stream_len, NULL, feed, order, reply), LL_OK);
    const ll_bt_event *ev = ll_bt_event_slot(r.bt);
    ll_ts_intent *in = ll_bt_intent_slots(r.bt);
    int kinds[16], n_kinds = 0, snaps = 0, sent = 0;
    uint32_t n = 0;
    for (int k; (k = ll_bt_next(r.bt, n)) != LL_BT_EV_DONE;) {
        n = 0;
        CHECK(k > 0);
        if (k < 0)
            break;
        if (k == LL_BT_EV_SNAPSHOT) {
            snaps++;
            CHECK(ev->snap.engine_ns >= ev->snap.send_ns + (uint64_t)feed);
            if (!sent && ev->snap.bid && ev->snap.ask) { /* join the bid */
                memset(in, 0, sizeof *in);
                in->kind = LL_INTENT_NEW, in->side = 'B', in->locate = 1, in->cl_ord_id = 7;
                in->price = ev->snap.bid, in->qty = 100;
                n = 1, sent = 1;
            }
        } else if (k == LL_BT_EV_REPORT && n_kinds < 16)
            kinds[n_kinds++] = ev->report.kind;
    }
    ll_bt_stats st;
    ll_bt_get_stats(r.bt, &st);
    CHECK_EQ(st.frames, 7);
    CHECK_EQ(st.events, 7);
    CHECK_EQ(st.book_updates, 6);
    CHECK_EQ(st.snapshots, 6);
    CHECK_EQ(snaps, 6);
    CHECK_EQ(st.orders_sent, 1);
    CHECK_EQ(st.fills, 1);
    CHECK_EQ(n_kinds, 2);
    CHECK_EQ(kinds[0], LL_REPORT_ACCEPTED);
    CHECK_EQ(kinds[1], LL_REPORT_EXECUTED);
    const void *rows;
    CHECK_EQ(ll_bt_records(r.bt, LL_BT_FILLS, &rows), 1);
    const ll_bt_fill *f = rows;
    CHECK_EQ(f->qty, 100);
    CHECK_EQ(f->price, 100 * P);
    CHECK_EQ(f->liquidity, 'A');
    CHECK_EQ(f->side, 'B');
    CHECK_EQ(f->cl_ord_id, 7);
    CHECK_EQ(f->seen_ns, f->ts_ns + reply);
    CHECK(f->fee == -0.002 * 100);
    CHECK_EQ(ll_bt_records(r.bt, LL_BT_MARKS, &rows), 6);
    const ll_bt_mark *mk = rows;
    CHECK_EQ(mk[0].bid, 100 * P);
    CHECK_EQ(mk[0].ask, 0);
    CHECK_EQ(mk[1].ask, 100 * P + 100);
    CHECK_EQ(ll_bt_records(r.bt, LL_BT_ORDERS, &rows), 1);
    const ll_bt_order *o = rows;
    CHECK_EQ(o->arrive_ns, o->decided_ns + order);
    CHECK_EQ(ll_bt_reconcile(r.bt), 1);
    uint16_t loc;
    char name[8];
    CHECK_EQ(ll_bt_symbols(r.bt, &loc, name, 1), 1);
    CHECK(loc == 1 && memcmp(name, "TEST    ", 8) == 0);
    CHECK_EQ(ll_bt_next(r.bt, 0), LL_BT_EV_DONE); /* done stays done */
    rig_close(&r);
}

/* ------------------------------------------------------------ mode a */
static void test_c_strategy(void)
{
    build_stream();
    rig r;
    CHECK_EQ(rig_open(&r, stream, stream_len, NULL, 0, 0, 0), LL_OK);
    CHECK_EQ(ll_bt_run(r.bt, NULL), LL_BT_EV_DONE); /* a strategy that never answers */
    ll_bt_stats st;
    ll_bt_get_stats(r.bt, &st);
    CHECK_EQ(st.snapshots, 6);
    CHECK_EQ(st.orders_sent, 0);
    rig_close(&r);

    /* logistic on the spread with weight 0 and bias 5: P(up) = 0.993, always */
    int err;
    uint32_t widths[2] = {1, 1}, cols[1] = {0};
    double mean[1] = {0}, scale[1] = {1}, w[1] = {0}, b[1] = {5};
    const double *W[1] = {w}, *B[1] = {b};
    ll_ml_model *m = ll_ml_model_create(LL_ML_LOGISTIC, 1, widths, mean, scale, W, B, cols, &err);
    CHECK(m != NULL);
    ll_ts_signal_params p = {0.6, 100, 500, 20, 50};
    ll_ts_signal *sig = ll_ts_signal_create(m, &p, &err);
    CHECK(sig != NULL);
    CHECK_EQ(rig_open(&r, stream, stream_len, NULL, 0, 0, 0), LL_OK);
    CHECK_EQ(ll_bt_run(r.bt, sig), LL_BT_EV_DONE);
    ll_bt_get_stats(r.bt, &st);
    CHECK(st.orders_sent >= 1);
    CHECK(st.fills >= 1);
    const void *rows;
    CHECK(ll_bt_records(r.bt, LL_BT_FILLS, &rows) >= 1);
    CHECK_EQ(((const ll_bt_fill *)rows)->liquidity, 'R'); /* it bought at the ask: it crossed */
    CHECK_EQ(((const ll_bt_fill *)rows)->price, 100 * P + 100);
    CHECK_EQ(ll_bt_reconcile(r.bt), 1);
    rig_close(&r);
    ll_ts_signal_destroy(sig);
    ll_ml_model_destroy(m);
}

/* ------------------------------------------------------------ the market maker */
static ll_ts_snapshot mm_snap(uint16_t locate, uint32_t bid, uint32_t ask)
{
    ll_ts_snapshot s;
    memset(&s, 0, sizeof s);
    s.locate = locate, s.bid = bid, s.ask = ask;
    return s;
}

static ll_ts_report mm_report(uint8_t kind, uint8_t side, uint16_t locate, uint32_t cid, uint32_t leaves,
                              int64_t position)
{
    ll_ts_report r;
    memset(&r, 0, sizeof r);
    r.kind = kind, r.side = side, r.locate = locate, r.cl_ord_id = cid, r.leaves = leaves, r.position = position;
    return r;
}

#define BIDP (100 * P)
#define ASKP (100 * P + 100)

static void test_mm_by_hand(void)
{
    int err;
    uint16_t syms[2] = {5, 9};
    ll_bt_mm_params p = {.qty = 100, .skew_ticks = 1, .max_position = 200, .reject_cooldown = 2, .first_id = 1,
                         .symbols = syms, .n_symbols = 2};
    ll_bt_mm *mm = ll_bt_mm_create(&p, &err);
    CHECK(mm != NULL && err == LL_OK);
    ll_ts_intent out[2];
    ll_ts_snapshot s = mm_snap(5, BIDP, ASKP);
    ll_ts_report r;
    /* both sides at the touch, bid first */
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 2);
    CHECK(out[0].kind == LL_INTENT_NEW && out[0].side == 'B' && out[0].price == BIDP && out[0].cl_ord_id == 1);
    CHECK(out[1].kind == LL_INTENT_NEW && out[1].side == 'S' && out[1].price == ASKP && out[1].cl_ord_id == 2);
    CHECK(out[0].qty == 100 && out[0].locate == 5);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 0); /* still right: nothing */
    /* not its symbol, or a side empty: nothing */
    ll_ts_snapshot other = mm_snap(6, BIDP, ASKP), empty = mm_snap(5, 0, ASKP);
    CHECK_EQ(ll_bt_mm_on_features(mm, &other, out), 0);
    CHECK_EQ(ll_bt_mm_on_features(mm, &empty, out), 0);
    /* the touch moves: both cancelled, once */
    s = mm_snap(5, BIDP + 100, ASKP + 100);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 2);
    CHECK(out[0].kind == LL_INTENT_CANCEL && out[0].cl_ord_id == 1 && out[1].kind == LL_INTENT_CANCEL &&
          out[1].cl_ord_id == 2);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 0); /* the cancels are out: wait */
    /* the bid's cancel confirmed: the new bid goes out; the ask still waits */
    r = mm_report(LL_REPORT_ACCEPTED, 'B', 5, 1, 100, 0);
    CHECK_EQ(ll_bt_mm_on_report(mm, &r), LL_OK);
    r = mm_report(LL_REPORT_CANCELED, 'B', 5, 1, 0, 0);
    CHECK_EQ(ll_bt_mm_on_report(mm, &r), LL_OK);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 1);
    CHECK(out[0].kind == LL_INTENT_NEW && out[0].side == 'B' && out[0].price == BIDP + 100 && out[0].cl_ord_id == 3);
    /* that bid is refused: the bid waits 2 snapshots, then quotes again */
    r = mm_report(LL_REPORT_REJECTED, 'B', 5, 3, 0, 0);
    CHECK_EQ(ll_bt_mm_on_report(mm, &r), LL_OK);
    r = mm_report(LL_REPORT_CANCELED, 'S', 5, 2, 0, 0);
    CHECK_EQ(ll_bt_mm_on_report(mm, &r), LL_OK);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 1); /* the ask only */
    CHECK(out[0].side == 'S' && out[0].price == ASKP + 100 && out[0].cl_ord_id == 4);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 0);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 1);
    CHECK(out[0].side == 'B' && out[0].cl_ord_id == 5);
    /* a refused cancel (leaves > 0): the order still works, and is cancelled again */
    s = mm_snap(5, BIDP, ASKP + 100);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 1);
    CHECK(out[0].kind == LL_INTENT_CANCEL && out[0].cl_ord_id == 5);
    r = mm_report(LL_REPORT_REJECTED, 'B', 5, 5, 100, 0);
    CHECK_EQ(ll_bt_mm_on_report(mm, &r), LL_OK);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 1);
    CHECK(out[0].kind == LL_INTENT_CANCEL && out[0].cl_ord_id == 5);
    /* a cancel refused because the order had closed (leaves 0, cancelling): gone, no cooldown */
    r = mm_report(LL_REPORT_REJECTED, 'B', 5, 5, 0, 0);
    CHECK_EQ(ll_bt_mm_on_report(mm, &r), LL_OK);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 1);
    CHECK(out[0].kind == LL_INTENT_NEW && out[0].side == 'B' && out[0].price == BIDP && out[0].cl_ord_id == 6);
    /* the ask fills: short 100, one lot: the ask is skewed one tick up */
    r = mm_report(LL_REPORT_EXECUTED, 'S', 5, 4, 0, -100);
    CHECK_EQ(ll_bt_mm_on_report(mm, &r), LL_OK);
    CHECK_EQ(ll_bt_mm_position(mm, 5), -100);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 1);
    CHECK(out[0].side == 'S' && out[0].price == ASKP + 200 && out[0].cl_ord_id == 7);
    /* short 150: still one lot (toward zero), the ask's price is right, but one more fill would
     * pass the cap: it is cancelled; its last 50 fill first (the race): gone, nothing more to send */
    r = mm_report(LL_REPORT_EXECUTED, 'S', 5, 7, 50, -150);
    CHECK_EQ(ll_bt_mm_on_report(mm, &r), LL_OK);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 1);
    CHECK(out[0].kind == LL_INTENT_CANCEL && out[0].cl_ord_id == 7);
    r = mm_report(LL_REPORT_EXECUTED, 'S', 5, 7, 0, -200);
    CHECK_EQ(ll_bt_mm_on_report(mm, &r), LL_OK);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 0); /* not allowed, nothing to cancel */
    /* a report of no order of ours, the kill switch's report: counted, nothing else */
    r = mm_report(LL_REPORT_HALTED, 0, 0, 0, 0, 0);
    CHECK_EQ(ll_bt_mm_on_report(mm, &r), LL_OK);
    r = mm_report(LL_REPORT_REJECTED, 'B', 9, 999, 0, 0);
    CHECK_EQ(ll_bt_mm_on_report(mm, &r), LL_OK);
    ll_bt_mm_stats st;
    ll_bt_mm_get_stats(mm, &st);
    CHECK_EQ(st.fills, 3);
    CHECK_EQ(st.rejects, 5);
    CHECK_EQ(st.orders, 7);
    CHECK_EQ(st.cancels, 5);
    /* long 200 on locate 9: the bid is not allowed, the bid price skew is 2 lots - nothing; the ask is */
    r = mm_report(LL_REPORT_EXECUTED, 'B', 9, 12345, 0, 200);
    CHECK_EQ(ll_bt_mm_on_report(mm, &r), LL_OK);
    ll_ts_snapshot s9 = mm_snap(9, BIDP, ASKP);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s9, out), 1);
    CHECK(out[0].side == 'S' && out[0].price == ASKP);
    /* bad input */
    CHECK_EQ(ll_bt_mm_on_features(NULL, &s, out), LL_EINVAL);
    CHECK_EQ(ll_bt_mm_on_features(mm, NULL, out), LL_EINVAL);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, NULL), LL_EINVAL);
    CHECK_EQ(ll_bt_mm_on_report(mm, NULL), LL_EINVAL);
    CHECK_EQ(ll_bt_mm_on_report(NULL, &r), LL_EINVAL);
    CHECK_EQ(ll_bt_mm_position(NULL, 5), 0);
    ll_bt_mm_get_stats(NULL, &st);
    ll_bt_mm_get_stats(mm, NULL);
    ll_bt_mm_destroy(mm);
    ll_bt_mm_destroy(NULL);

    ll_bt_mm_params bad = p;
    bad.qty = 0;
    CHECK(ll_bt_mm_create(&bad, &err) == NULL && err == LL_EINVAL);
    bad = p, bad.max_position = -1;
    CHECK(ll_bt_mm_create(&bad, &err) == NULL && err == LL_EINVAL);
    bad = p, bad.max_position = LL_BT_MM_MAX_POSITION + 1;
    CHECK(ll_bt_mm_create(&bad, &err) == NULL && err == LL_EINVAL);
    bad = p, bad.first_id = 0;
    CHECK(ll_bt_mm_create(&bad, &err) == NULL && err == LL_EINVAL);
    bad = p, bad.symbols = NULL;
    CHECK(ll_bt_mm_create(&bad, &err) == NULL && err == LL_EINVAL);
    CHECK(ll_bt_mm_create(NULL, NULL) == NULL);

    /* the extremes: every symbol, qty 1, the largest cap and skew; the ids run out after one */
    ll_bt_mm_params x = {.qty = 1, .skew_ticks = UINT32_MAX, .max_position = LL_BT_MM_MAX_POSITION,
                         .reject_cooldown = UINT32_MAX, .first_id = UINT32_MAX, .symbols = NULL, .n_symbols = 0};
    mm = ll_bt_mm_create(&x, &err);
    CHECK(mm != NULL);
    s = mm_snap(65535, 1, UINT32_MAX);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 1); /* the bid takes the last id */
    CHECK(out[0].side == 'B' && out[0].cl_ord_id == UINT32_MAX);
    s = mm_snap(3, BIDP, ASKP);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 0); /* no ids left */
    r = mm_report(LL_REPORT_EXECUTED, 'S', 3, 1, 0, INT64_MIN); /* not its order; a position no cap allows */
    CHECK_EQ(ll_bt_mm_on_report(mm, &r), LL_OK);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 0);
    ll_bt_mm_destroy(mm);
    x.first_id = 1;
    mm = ll_bt_mm_create(&x, &err);
    r = mm_report(LL_REPORT_EXECUTED, 'S', 3, 77, 0, INT64_MIN); /* short beyond any cap: a bid, no ask */
    CHECK_EQ(ll_bt_mm_on_report(mm, &r), LL_OK);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 1);
    CHECK(out[0].kind == LL_INTENT_NEW && out[0].side == 'B' && out[0].price == BIDP && out[0].cl_ord_id == 1);
    r = mm_report(LL_REPORT_EXECUTED, 'B', 3, 77, 0, INT64_MAX); /* long beyond it: the bid goes, an ask */
    CHECK_EQ(ll_bt_mm_on_report(mm, &r), LL_OK);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 2);
    CHECK(out[0].kind == LL_INTENT_CANCEL && out[0].cl_ord_id == 1);
    CHECK(out[1].kind == LL_INTENT_NEW && out[1].side == 'S' && out[1].price == ASKP && out[1].cl_ord_id == 2);
    r = mm_report(LL_REPORT_EXECUTED, 'B', 3, 77, 0, -1); /* short one lot: the ask skewed past UINT32_MAX */
    CHECK_EQ(ll_bt_mm_on_report(mm, &r), LL_OK);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 1); /* the ask is cancelled; the bid still waits for its cancel */
    CHECK(out[0].kind == LL_INTENT_CANCEL && out[0].cl_ord_id == 2);
    r = mm_report(LL_REPORT_CANCELED, 'B', 3, 1, 0, -1);
    CHECK_EQ(ll_bt_mm_on_report(mm, &r), LL_OK);
    CHECK_EQ(ll_bt_mm_on_features(mm, &s, out), 1);
    CHECK(out[0].kind == LL_INTENT_NEW && out[0].side == 'B' && out[0].price == BIDP && out[0].cl_ord_id == 3);
    ll_bt_mm_destroy(mm);
}

static void test_mm_inline(uint32_t skew, int64_t max_position, int64_t lat)
{
    build_stream();
    rig r;
    int err;
    CHECK_EQ(rig_open(&r, stream, stream_len, NULL, lat, lat, lat), LL_OK);
    ll_bt_mm_params p = {.qty = 100, .skew_ticks = skew, .max_position = max_position, .reject_cooldown = 50,
                         .first_id = 1, .symbols = NULL, .n_symbols = 0};
    ll_bt_mm *mm = ll_bt_mm_create(&p, &err);
    CHECK(mm != NULL);
    CHECK_EQ(ll_bt_run_mm(r.bt, mm), LL_BT_EV_DONE);
    ll_bt_stats st;
    ll_bt_get_stats(r.bt, &st);
    CHECK_EQ(st.snapshots, 6);
    CHECK_EQ(st.fills, 1);
    CHECK_EQ(st.rejects, 0);
    CHECK_EQ(ll_bt_mm_position(mm, 1), 100);
    const void *rows;
    CHECK_EQ(ll_bt_records(r.bt, LL_BT_FILLS, &rows), 1);
    const ll_bt_fill *f = rows;
    CHECK(f->side == 'B' && f->price == BIDP && f->qty == 100 && f->liquidity == 'A' && f->cl_ord_id == 1);
    /* its bid and ask at the touch once both sides are quoted; after the fill a
     * new bid, one tick (one lot x skew) below the touch, unless the cap says no */
    int64_t n = ll_bt_records(r.bt, LL_BT_ORDERS, &rows);
    const ll_bt_order *o = rows;
    CHECK_EQ(n, max_position >= 200 ? 3 : 2);
    CHECK_EQ(st.orders_sent, n);
    CHECK(n >= 2 && o[0].side == 'B' && o[0].price == BIDP && o[1].side == 'S' && o[1].price == ASKP);
    if (n == 3)
        CHECK(o[2].side == 'B' && o[2].price == BIDP - skew * 100 && o[2].cl_ord_id == 3);
    CHECK_EQ(ll_bt_reconcile(r.bt), 1);
    ll_bt_mm_stats ms;
    ll_bt_mm_get_stats(mm, &ms);
    CHECK_EQ(ms.fills, 1);
    CHECK_EQ(ms.orders, (uint64_t)n);
    rig_close(&r);
    ll_bt_mm_destroy(mm);

    /* a C strategy that answers with an error, or too many intents: an error of the loop, sticky */
    CHECK_EQ(rig_open(&r, stream, stream_len, NULL, 0, 0, 0), LL_OK);
    ll_bt_strategy broken = {NULL, NULL, NULL};
    CHECK_EQ(ll_bt_run_strategy(r.bt, &broken), LL_EINVAL);
    CHECK_EQ(ll_bt_run_strategy(NULL, NULL), LL_EINVAL);
    rig_close(&r);
}

static int too_many(void *st, const ll_ts_snapshot *snap, ll_ts_intent *out)
{
    (void)st, (void)snap, (void)out;
    return LL_BT_MAX_INTENTS + 1;
}

static int failing(void *st, const ll_ts_snapshot *snap, ll_ts_intent *out)
{
    (void)st, (void)snap, (void)out;
    return LL_ECORRUPT;
}

static int ignore_report(void *st, const ll_ts_report *r)
{
    (void)st, (void)r;
    return LL_OK;
}

static void test_strategy_errors(void)
{
    build_stream();
    rig r;
    ll_bt_strategy s = {too_many, ignore_report, NULL};
    CHECK_EQ(rig_open(&r, stream, stream_len, NULL, 0, 0, 0), LL_OK);
    CHECK_EQ(ll_bt_run_strategy(r.bt, &s), LL_EINVAL);
    CHECK_EQ(ll_bt_next(r.bt, 0), LL_EINVAL); /* sticky */
    rig_close(&r);
    s.on_features = failing;
    CHECK_EQ(rig_open(&r, stream, stream_len, NULL, 0, 0, 0), LL_OK);
    CHECK_EQ(ll_bt_run_strategy(r.bt, &s), LL_ECORRUPT);
    CHECK_EQ(ll_bt_run_mm(r.bt, NULL), LL_ECORRUPT);
    rig_close(&r);
}

/* ------------------------------------------------------------ FLUSH */
static void test_flush(void)
{
    static uint8_t big[1 << 17]; /* 1500 adds (38 bytes a frame) and 1500 deletes (21) */
    size_t len = 0;
    uint8_t m[64];
    len = itch_frame(big, len, m, itch_directory(m, 1, "TEST    "));
    for (uint64_t ref = 1; ref <= 1500; ref++) /* 1500 adds, then 1500 deletes: 3000 book updates */
        len = itch_frame(big, len, m, itch_add(m, 'A', 1, ref, ref & 1 ? 'B' : 'S', 100,
                                                (ref & 1 ? 90 : 110) * P + (uint32_t)(ref % 7) * 100));
    for (uint64_t ref = 1; ref <= 1500; ref++)
        len = itch_frame(big, len, m, itch_ref(m, 'D', 1, ref, 0));
    ll_bt_config c;
    memset(&c, 0, sizeof c);
    c.record_rows = 1024;
    c.progress = 1;
    rig r;
    int err;
    memset(&r, 0, sizeof r);
    ll_exch_config xc;
    ll_exch_config_default(&xc);
    r.x = ll_exch_create(&xc, &err);
    r.fe = ll_ml_engine_create(1 << 12, 64, 5, 50, 50, 0.97, 0.05, 10000.0, &err);
    r.oms = ll_oms_create(NULL, 1024, 64, 4096, &err);
    c.stream = big, c.len = len;
    r.bt = ll_bt_create(r.x, r.fe, r.oms, &c, &err);
    CHECK(r.bt != NULL);
    int64_t n = ll_bt_stamps(r.bt, NULL, 0);
    CHECK_EQ(n, 3001);
    int64_t *stamps = calloc((size_t)n, sizeof *stamps), zero[1] = {0};
    CHECK_EQ(ll_bt_stamps(r.bt, stamps, (uint64_t)n), n);
    CHECK_EQ(ll_bt_set_latency(r.bt, stamps, (uint64_t)n, zero, 1, zero, 1), LL_OK);
    int64_t marks = 0, flushes = 0;
    int k;
    while ((k = ll_bt_run(r.bt, NULL)) == LL_BT_EV_FLUSH || k == LL_BT_EV_PROGRESS) {
        const void *rows;
        if (k == LL_BT_EV_FLUSH) {
            flushes++;
            marks += ll_bt_records(r.bt, LL_BT_MARKS, &rows);
        }
    }
    CHECK_EQ(k, LL_BT_EV_DONE);
    const void *rows;
    marks += ll_bt_records(r.bt, LL_BT_MARKS, &rows);
    CHECK_EQ(marks, 3000);
    CHECK(flushes >= 3);
    free(stamps);
    rig_close(&r);
}

/* ------------------------------------------------------------ bad input */
static void test_errors(void)
{
    build_stream();
    int err;
    rig r;
    CHECK_EQ(rig_open(&r, stream, stream_len, NULL, 0, 0, 0), LL_OK);
    ll_bt_config c;
    memset(&c, 0, sizeof c);
    c.stream = stream, c.len = stream_len;
    CHECK(ll_bt_create(NULL, r.fe, r.oms, &c, &err) == NULL && err == LL_EINVAL);
    CHECK(ll_bt_create(r.x, r.fe, r.oms, NULL, &err) == NULL && err == LL_EINVAL);
    c.leg_capacity = 3; /* not a power of two */
    CHECK(ll_bt_create(r.x, r.fe, r.oms, &c, &err) == NULL && err == LL_EINVAL);
    c.leg_capacity = 0;
    c.record_rows = 10; /* below one message's headroom */
    CHECK(ll_bt_create(r.x, r.fe, r.oms, &c, &err) == NULL && err == LL_EINVAL);
    c.record_rows = 0;
    /* the latency arrays */
    int64_t big[DRAWS] = {LL_BT_MAX_NS + 1, 0, 0, 0}, neg[DRAWS] = {-1, 0, 0, 0};
    CHECK_EQ(ll_bt_set_latency(r.bt, r.feed_at, 6, r.od, DRAWS, r.rd, DRAWS), LL_EINVAL); /* 7 messages */
    CHECK_EQ(ll_bt_set_latency(r.bt, r.feed_at, 7, r.od, 0, r.rd, DRAWS), LL_EINVAL);
    CHECK_EQ(ll_bt_set_latency(r.bt, r.feed_at, 7, NULL, DRAWS, r.rd, DRAWS), LL_EINVAL);
    CHECK_EQ(ll_bt_set_latency(r.bt, r.feed_at, 7, big, DRAWS, r.rd, DRAWS), LL_EINVAL);
    CHECK_EQ(ll_bt_set_latency(r.bt, r.feed_at, 7, r.od, DRAWS, neg, DRAWS), LL_EINVAL);
    CHECK_EQ(ll_bt_next(NULL, 0), LL_EINVAL);
    CHECK_EQ(ll_bt_next(r.bt, 1), LL_EINVAL); /* intents that answer no snapshot */
    CHECK_EQ(ll_bt_next(r.bt, 0), LL_BT_EV_SNAPSHOT);
    CHECK_EQ(ll_bt_next(r.bt, LL_BT_MAX_INTENTS + 1), LL_EINVAL);
    /* used pieces: this exchange has seen messages */
    CHECK(ll_bt_create(r.x, r.fe, r.oms, &c, &err) == NULL && err == LL_EINVAL);
    /* stop: the message in progress is not counted */
    ll_bt_stop(r.bt);
    CHECK_EQ(ll_bt_next(r.bt, 0), LL_BT_EV_STOPPED);
    CHECK_EQ(ll_bt_event_slot(r.bt)->events, 1);
    CHECK_EQ(ll_bt_set_latency(r.bt, r.feed_at, 7, r.od, DRAWS, r.rd, DRAWS), LL_EINVAL); /* started */
    const void *rows;
    CHECK_EQ(ll_bt_records(r.bt, 9, &rows), LL_EINVAL);
    rig_close(&r);

    /* a truncated stream: strict, an error before anything runs; lenient, the frames before it */
    uint64_t msg, off;
    size_t cut = stream_len - 7;
    CHECK_EQ(rig_open(&r, stream, cut, NULL, 0, 0, 0), LL_OK);
    CHECK_EQ(ll_bt_stream_error(r.bt, &msg, &off), LL_ETRUNCATED);
    CHECK_EQ(msg, 6);
    CHECK_EQ(off, cut - (36 - 7) - 2);
    CHECK_EQ(ll_bt_next(r.bt, 0), LL_ETRUNCATED);
    CHECK_EQ(ll_bt_next(r.bt, 0), LL_ETRUNCATED); /* sticky */
    rig_close(&r);
    memset(&c, 0, sizeof c);
    c.lenient = 1;
    CHECK_EQ(rig_open(&r, stream, cut, &c, 0, 0, 0), LL_OK);
    CHECK_EQ(ll_bt_run(r.bt, NULL), LL_BT_EV_DONE);
    ll_bt_stats st;
    ll_bt_get_stats(r.bt, &st);
    CHECK_EQ(st.events, 6);
    rig_close(&r);

    /* a message the book refuses: a delete of an order that is not there */
    uint8_t m[64];
    size_t keep = stream_len;
    put(m, itch_ref(m, 'D', 1, 999, 0));
    CHECK_EQ(rig_open(&r, stream, stream_len, NULL, 0, 0, 0), LL_OK);
    CHECK_EQ(ll_bt_run(r.bt, NULL), LL_ENOORDER);
    CHECK_EQ(ll_bt_stream_error(r.bt, &msg, &off), LL_ENOORDER);
    CHECK_EQ(msg, 7);
    CHECK_EQ(off, keep);
    rig_close(&r);
    CHECK_EQ(rig_open(&r, stream, stream_len, &c, 0, 0, 0), LL_OK);
    CHECK_EQ(ll_bt_run(r.bt, NULL), LL_BT_EV_DONE);
    ll_bt_get_stats(r.bt, &st);
    CHECK_EQ(st.events, 7);
    CHECK_EQ(ll_bt_stream_error(r.bt, &msg, NULL), LL_ENOORDER);
    rig_close(&r);

    /* a leg of one message: two orders in flight at once do not fit */
    build_stream();
    memset(&c, 0, sizeof c);
    c.leg_capacity = 1;
    CHECK_EQ(rig_open(&r, stream, stream_len, &c, 0, 1000000, 0), LL_OK);
    ll_ts_intent *in = ll_bt_intent_slots(r.bt);
    int k;
    uint32_t n = 0, id = 1;
    while ((k = ll_bt_next(r.bt, n)) > 0) {
        n = 0;
        if (k == LL_BT_EV_SNAPSHOT && ll_bt_event_slot(r.bt)->snap.bid) {
            memset(in, 0, sizeof *in);
            in->kind = LL_INTENT_NEW, in->side = 'B', in->locate = 1, in->cl_ord_id = id++;
            in->price = 99 * P, in->qty = 100;
            n = 1;
        }
    }
    CHECK_EQ(k, LL_ENORES);
    rig_close(&r);
}

int main(void)
{
    test_join_the_queue(0, 0, 0);
    test_join_the_queue(3, 2, 5); /* below the stream's 7 ns gaps: the same story, later */
    test_c_strategy();
    test_mm_by_hand();
    test_mm_inline(1, 500, 0);
    test_mm_inline(2, 500, 3); /* below the stream's 7 ns gaps: the same story, later */
    test_mm_inline(1, 100, 0); /* the cap: long 100, no bid */
    test_strategy_errors();
    test_flush();
    test_errors();
    CHECK_EQ(ll_bt_layout_info("sizeof ll_bt_event"), sizeof(ll_bt_event));
    CHECK_EQ(ll_bt_layout_info("no such thing"), -1);
    return check_summary();
}
