/*
 * tests/c/test_exchange.c - lab 7's matcher (cimpl/exchange.c) and OUCH
 * codec (cimpl/ouch.h) tested from C, no framework.
 *
 * Built by meson as `test_exchange_c` (with cimpl/order_book.c) and run by
 * `meson test`; `make sanitize` runs it under ASan+UBSan.
 *
 * - the codec: every type encoded and decoded back, a hand-written Enter
 *   Order read at the spec's offsets, truncated / unknown / oversized /
 *   appendage-carrying input refused, ClOrdID and price conversions;
 * - the matcher by hand: crossing level by level, taken shares, resting
 *   behind the queue, fills from executions behind / at worse prices and
 *   from crossing adds, IOC, replace and cancel, every reject reason, the
 *   ITCH errors (nothing changes), ll_exch_check after every step;
 * - the feed-order hash: thousands of adds and deletes in scrambled order
 *   (backward-shift deletion), every live order's taken count still found.
 *
 * Prints "N passed, M failed" and exits non-zero if anything failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "exchange.h"
#include "itch.h"
#include "order_book.h"
#include "ouch.h"

#include "check.h"
#include "itch_build.h"

#define P 10000u
#define T 100u

static uint8_t *out_buf;
static uint64_t out_cap;
static ll_ouch_msg rep[512];
static int n_rep;
static uint64_t now = 1000;

/* split the replies of the last call into rep[] */
static int split(int64_t n)
{
    n_rep = 0;
    if (n < 0)
        return (int)n;
    for (int64_t pos = 0; pos < n && n_rep < 512;) {
        uint32_t size = ll_ouch_out_size(out_buf[pos]);
        CHECK(size > 0);
        if (size == 0)
            break;
        CHECK_EQ(ll_ouch_decode(out_buf + pos, size, LL_OUCH_OUTBOUND, &rep[n_rep]), size);
        n_rep++;
        pos += size;
    }
    return n_rep;
}

static int feed(ll_exch *x, const uint8_t *m, size_t n)
{
    int rc = split(ll_exch_on_feed(x, m, n, out_buf, out_cap));
    CHECK_EQ(ll_exch_check(x), 0);
    return rc;
}

static int add(ll_exch *x, uint64_t ref, char side, uint32_t shares, uint32_t price)
{
    uint8_t m[64];
    return feed(x, m, itch_add(m, 'A', 1, ref, side, shares, price));
}

static int ref_msg(ll_exch *x, char type, uint64_t ref, uint32_t shares)
{
    uint8_t m[64];
    return feed(x, m, itch_ref(m, type, 1, ref, shares));
}

static int order(ll_exch *x, const ll_ouch_msg *m)
{
    uint8_t buf[LL_OUCH_MAX_SIZE];
    int64_t n = ll_ouch_encode(m, LL_OUCH_INBOUND, buf, sizeof buf);
    CHECK(n > 0);
    int rc = split(ll_exch_on_order(x, buf, (uint64_t)n, ++now, out_buf, out_cap));
    CHECK_EQ(ll_exch_check(x), 0);
    return rc;
}

static int enter(ll_exch *x, uint32_t uref, char side, uint32_t qty, uint32_t price, char tif)
{
    ll_ouch_msg m;
    memset(&m, 0, sizeof m);
    m.type = 'O';
    m.user_ref = uref;
    m.side = (uint8_t)side;
    m.qty = qty;
    memcpy(m.symbol, "TEST    ", 8);
    m.price = price;
    m.tif = (uint8_t)tif;
    m.display = 'Y';
    m.capacity = 'P';
    m.ise = 'N';
    m.cross = 'N';
    ll_ouch_put_clordid(m.cl_ord_id, uref);
    return order(x, &m);
}

static int replace(ll_exch *x, uint32_t orig, uint32_t uref, uint32_t qty, uint32_t price, char tif)
{
    ll_ouch_msg m;
    memset(&m, 0, sizeof m);
    m.type = 'U';
    m.orig_user_ref = orig;
    m.user_ref = uref;
    m.qty = qty;
    m.price = price;
    m.tif = (uint8_t)tif;
    m.display = 'Y';
    m.ise = 'N';
    ll_ouch_put_clordid(m.cl_ord_id, uref);
    return order(x, &m);
}

static int cancel(ll_exch *x, uint32_t uref, uint32_t qty)
{
    ll_ouch_msg m;
    memset(&m, 0, sizeof m);
    m.type = 'X';
    m.user_ref = uref;
    m.qty = qty;
    return order(x, &m);
}

static ll_exch_order rec(ll_exch *x, uint32_t uref)
{
    ll_exch_order o;
    memset(&o, 0, sizeof o);
    CHECK_EQ(ll_exch_order_get(x, uref, &o), 1);
    return o;
}

static ll_exch *new_exch(uint32_t max_open, uint32_t max_orders, uint32_t max_sweep)
{
    ll_exch_config c;
    memset(&c, 0, sizeof c);
    c.max_feed_orders = 1 << 14;
    c.max_instruments = 8;
    c.max_orders = max_orders;
    c.max_open = max_open;
    c.max_fills = 1 << 12;
    c.max_qty = 1000;
    c.max_sweep = max_sweep;
    int err = 1;
    ll_exch *x = ll_exch_create(&c, &err);
    CHECK(x != NULL);
    CHECK_EQ(err, LL_OK);
    uint64_t cap = ll_exch_reply_capacity(x);
    if (cap > out_cap) {
        free(out_buf);
        out_buf = malloc(cap);
        out_cap = cap;
    }
    CHECK_EQ(ll_exch_add_symbol(x, 1, "TEST    "), LL_OK);
    return x;
}

/* ------------------------------------------------------------ the codec */
static void test_codec(void)
{
    static const uint8_t types_in[] = {'O', 'U', 'X'};
    static const uint8_t types_out[] = {'S', 'A', 'U', 'E', 'C', 'J'};
    uint8_t buf[LL_OUCH_MAX_SIZE + 8];
    for (int dir = 0; dir < 2; dir++) {
        const uint8_t *types = dir ? types_in : types_out;
        int n = dir ? 3 : 6;
        for (int i = 0; i < n; i++) {
            ll_ouch_msg m, back;
            memset(&back, 0, sizeof back);
            memset(&m, 0, sizeof m);
            m.type = types[i];
            m.timestamp = dir ? 0 : 0x0102030405060708ull;
            m.user_ref = 0xA1B2C3D4u;
            m.qty = 777;
            m.reason = m.type == 'C' ? 'U' : 0x1D;
            if (m.type != 'X' && m.type != 'S' && m.type != 'C' && m.type != 'J') {
                m.price = 0xFFFFFFFFull;
                m.tif = '3';
                m.display = 'Y';
                m.ise = 'N';
            }
            if (m.type == 'U')
                m.orig_user_ref = 5;
            if (m.type == 'O' || m.type == 'A' || (m.type == 'U' && !dir)) {
                m.side = 'S';
                memcpy(m.symbol, "MSFT    ", 8);
                m.capacity = 'P';
                m.cross = 'N';
            }
            if (m.type == 'A' || (m.type == 'U' && !dir)) {
                m.order_ref = 99;
                m.state = 'L';
            }
            if (m.type == 'E') {
                m.liquidity = 'A';
                m.match = 1234567;
                m.qty = 10;
            }
            if (m.type == 'S')
                m.event = 'S';
            if (m.type == 'O' || m.type == 'U' || m.type == 'A' || m.type == 'J')
                ll_ouch_put_clordid(m.cl_ord_id, 42);
            int64_t len = ll_ouch_encode(&m, dir, buf, sizeof buf);
            CHECK_EQ(len, ll_ouch_size(dir, m.type));
            CHECK(len <= 96);
            CHECK_EQ(ll_ouch_decode(buf, (uint64_t)len, dir, &back), len);
            uint8_t again[LL_OUCH_MAX_SIZE];
            CHECK_EQ(ll_ouch_encode(&back, dir, again, sizeof again), len);
            CHECK(memcmp(buf, again, (size_t)len) == 0);
            CHECK_EQ(back.type, m.type);
            CHECK_EQ(back.user_ref, m.type == 'S' ? 0 : m.user_ref);
            CHECK_EQ(ll_ouch_decode(buf, (uint64_t)len - 1, dir, &back), LL_ETRUNCATED);
            CHECK_EQ(ll_ouch_decode(buf, (uint64_t)len + 1, dir, &back), LL_EBADFRAME);
            CHECK_EQ(ll_ouch_encode(&m, dir, buf, (uint64_t)len - 1), LL_EINVAL);
        }
    }
    /* a hand-written Enter Order, at the spec's offsets */
    uint8_t e[47];
    memset(e, 0, sizeof e);
    e[0] = 'O';
    e[1] = 0x01, e[2] = 0x02, e[3] = 0x03, e[4] = 0x04;
    e[5] = 'B';
    e[9] = 200; /* quantity 200 */
    memcpy(e + 10, "AAPL    ", 8);
    e[23] = 0x1C, e[24] = 0xDF, e[25] = 0xCC; /* price 1892300 = 0x1CDFCC */
    e[26] = '0';
    memcpy(e + 31, "7             ", 14);
    ll_ouch_msg m;
    CHECK_EQ(ll_ouch_decode(e, 47, LL_OUCH_INBOUND, &m), 47);
    CHECK_EQ(m.user_ref, 0x01020304);
    CHECK_EQ(m.side, 'B');
    CHECK_EQ(m.qty, 200);
    CHECK(memcmp(m.symbol, "AAPL    ", 8) == 0);
    CHECK_EQ(m.price, 1892300);
    CHECK_EQ(m.tif, '0');
    uint32_t id = 0;
    CHECK_EQ(ll_ouch_get_clordid(m.cl_ord_id, &id), 0);
    CHECK_EQ(id, 7);
    e[46] = 1; /* an appendage */
    CHECK_EQ(ll_ouch_decode(e, 47, LL_OUCH_INBOUND, &m), LL_EBADFRAME);
    CHECK_EQ(ll_ouch_decode(e, 0, LL_OUCH_INBOUND, &m), LL_ETRUNCATED);
    e[0] = 'A'; /* outbound only */
    CHECK_EQ(ll_ouch_decode(e, 47, LL_OUCH_INBOUND, &m), LL_EUNKNOWNMSG);
    e[0] = 'Q';
    CHECK_EQ(ll_ouch_decode(e, 47, LL_OUCH_OUTBOUND, &m), LL_EUNKNOWNMSG);
    CHECK_EQ(ll_ouch_in_size('U'), 40);
    CHECK_EQ(ll_ouch_out_size('U'), 68);
    /* conversions */
    uint32_t p32 = 0;
    CHECK_EQ(ll_ouch_price_u32(0xFFFFFFFFull, &p32), 0);
    CHECK_EQ(p32, 0xFFFFFFFFu);
    CHECK_EQ(ll_ouch_price_u32(1ull << 32, &p32), -1);
    char cl[14];
    ll_ouch_put_clordid(cl, 4294967295u);
    CHECK(memcmp(cl, "4294967295    ", 14) == 0);
    CHECK_EQ(ll_ouch_get_clordid(cl, &id), 0);
    CHECK_EQ(id, 4294967295u);
    CHECK_EQ(ll_ouch_get_clordid("4294967296    ", &id), -1);
    CHECK_EQ(ll_ouch_get_clordid("              ", &id), -1);
    CHECK_EQ(ll_ouch_get_clordid("12 3          ", &id), -1);
    CHECK_EQ(ll_exch_layout_info("sizeof_order"), (int64_t)sizeof(ll_exch_order));
    CHECK_EQ(ll_exch_layout_info("nope"), -1);
}

/* ------------------------------------------------------------ the matcher */
static void test_cross_and_taken(void)
{
    ll_exch *x = new_exch(64, 256, 256);
    add(x, 1, 'S', 100, 10 * P);
    add(x, 2, 'S', 200, 10 * P);
    add(x, 3, 'S', 300, 10 * P + T);
    add(x, 4, 'S', 100, 10 * P + 3 * T);
    CHECK_EQ(enter(x, 1, 'B', 450, 10 * P + 2 * T, '0'), 4);
    CHECK_EQ(rep[0].type, 'A');
    CHECK_EQ(rep[1].qty, 100);
    CHECK_EQ(rep[1].price, 10 * P);
    CHECK_EQ(rep[1].liquidity, 'R');
    CHECK_EQ(rep[2].qty, 200);
    CHECK_EQ(rep[3].qty, 150);
    CHECK_EQ(rep[3].price, 10 * P + T);
    CHECK_EQ(rep[3].match, 3);
    CHECK_EQ(ll_exch_taken(x, 3), 150);
    CHECK_EQ(ll_exch_taken(x, 4), 0);
    CHECK_EQ(ll_exch_taken(x, 99), -1);
    CHECK_EQ(rec(x, 1).state, LL_EXCH_FILLED);
    /* only 150 of #3 are left for us */
    CHECK_EQ(enter(x, 2, 'B', 500, 10 * P + T, '0'), 2);
    CHECK_EQ(rep[1].qty, 150);
    CHECK_EQ(rec(x, 2).leaves, 350);
    int64_t pos[2];
    CHECK_EQ(ll_exch_position(x, 1, pos), LL_OK);
    CHECK_EQ(pos[0], 600);
    CHECK_EQ(pos[1], -(int64_t)(300 * 10 * P + 300 * (10 * P + T)));
    /* the feed executes the shares we took: they go first, then forgotten */
    CHECK_EQ(ref_msg(x, 'E', 3, 200), 0);
    CHECK_EQ(ll_exch_taken(x, 3), 100);
    CHECK_EQ(ref_msg(x, 'D', 3, 0), 0);
    CHECK_EQ(ll_exch_taken(x, 3), -1);
    /* IOC remainder */
    CHECK_EQ(enter(x, 3, 'B', 150, 10 * P + 3 * T, '3'), 3);
    CHECK_EQ(rep[1].qty, 100);
    CHECK_EQ(rep[2].type, 'C');
    CHECK_EQ(rep[2].qty, 50);
    CHECK_EQ(rep[2].reason, 'I');
    CHECK_EQ(rec(x, 3).canceled, 50);
    CHECK_EQ(ll_exch_stat(x, "fills_removed"), 5);
    CHECK_EQ(ll_exch_stat(x, "open"), 1);
    ll_exch_destroy(x);
}

static void test_queue_position(void)
{
    ll_exch *x = new_exch(64, 256, 256);
    add(x, 10, 'B', 100, 10 * P);
    add(x, 11, 'B', 200, 10 * P);
    CHECK_EQ(enter(x, 1, 'B', 100, 10 * P, '0'), 1);
    CHECK_EQ(rec(x, 1).shares_ahead, 300);
    CHECK_EQ(ref_msg(x, 'E', 10, 100), 0);
    CHECK_EQ(rec(x, 1).shares_ahead, 200);
    CHECK_EQ(ref_msg(x, 'X', 11, 50), 0);
    CHECK_EQ(rec(x, 1).shares_ahead, 150);
    add(x, 12, 'B', 500, 10 * P); /* behind us */
    CHECK_EQ(rec(x, 1).shares_ahead, 150);
    CHECK_EQ(ref_msg(x, 'C', 11, 150), 0);
    CHECK_EQ(rec(x, 1).shares_ahead, 0);
    CHECK_EQ(ref_msg(x, 'E', 12, 60), 1); /* behind us: that aggressor met us first */
    CHECK_EQ(rep[0].qty, 60);
    CHECK_EQ(rep[0].liquidity, 'A');
    CHECK_EQ(rep[0].price, 10 * P);
    CHECK_EQ(ref_msg(x, 'E', 12, 100), 1);
    CHECK_EQ(rep[0].qty, 40);
    CHECK_EQ(rec(x, 1).state, LL_EXCH_FILLED);
    /* worse price */
    CHECK_EQ(enter(x, 2, 'B', 100, 10 * P + T, '0'), 1);
    CHECK_EQ(ref_msg(x, 'E', 12, 30), 1);
    CHECK_EQ(rep[0].qty, 30);
    CHECK_EQ(rep[0].price, 10 * P + T);
    /* an opposite add that crosses */
    CHECK_EQ(enter(x, 3, 'S', 100, 11 * P, '0'), 1);
    CHECK_EQ(add(x, 20, 'B', 60, 11 * P + T), 1);
    CHECK_EQ(rep[0].qty, 60);
    CHECK_EQ(rep[0].price, 11 * P);
    CHECK_EQ(ll_exch_taken(x, 20), 60);
    /* a feed replace of an order ahead sends it behind us */
    add(x, 30, 'S', 100, 12 * P);
    CHECK_EQ(enter(x, 4, 'S', 10, 12 * P, '0'), 1);
    CHECK_EQ(rec(x, 4).shares_ahead, 100);
    uint8_t m[64];
    CHECK_EQ(feed(x, m, itch_replace(m, 1, 30, 31, 100, 12 * P)), 0);
    CHECK_EQ(rec(x, 4).shares_ahead, 0);
    CHECK_EQ(ref_msg(x, 'E', 31, 5), 1);
    CHECK_EQ(rep[0].qty, 5);
    ll_exch_destroy(x);
}

static void test_replace_cancel(void)
{
    ll_exch *x = new_exch(64, 256, 256);
    add(x, 10, 'B', 300, 10 * P);
    enter(x, 1, 'B', 100, 10 * P, '0');
    add(x, 11, 'B', 200, 10 * P);
    CHECK_EQ(replace(x, 1, 2, 60, 10 * P, '0'), 1); /* down: keeps its place */
    CHECK_EQ(rep[0].type, 'U');
    CHECK_EQ(rep[0].orig_user_ref, 1);
    CHECK_EQ(rep[0].user_ref, 2);
    CHECK_EQ(rec(x, 1).state, LL_EXCH_REPLACED);
    CHECK_EQ(rec(x, 1).replaced_by, 2);
    CHECK_EQ(rec(x, 2).shares_ahead, 300);
    CHECK_EQ(replace(x, 2, 3, 100, 10 * P, '0'), 1); /* up: to the back */
    CHECK_EQ(rec(x, 3).shares_ahead, 500);
    CHECK_EQ(cancel(x, 3, 30), 1);
    CHECK_EQ(rep[0].type, 'C');
    CHECK_EQ(rep[0].qty, 70);
    CHECK_EQ(rep[0].reason, 'U');
    CHECK_EQ(rec(x, 3).shares_ahead, 500);
    CHECK_EQ(cancel(x, 3, 30), 0); /* no reduction: nothing */
    CHECK_EQ(ll_exch_stat(x, "cancel_noops"), 1);
    CHECK_EQ(cancel(x, 3, 0), 1);
    CHECK_EQ(rec(x, 3).state, LL_EXCH_CANCELED);
    CHECK_EQ(cancel(x, 3, 0), 1);
    CHECK_EQ(rep[0].type, 'J');
    CHECK_EQ(rep[0].reason, LL_OUCH_REJ_CANCEL_NOT_ALLOWED);
    CHECK_EQ(ll_exch_stat(x, "open"), 0);
    ll_exch_order all[8];
    CHECK_EQ(ll_exch_orders(x, 0, all, 8), 3);
    for (int i = 0; i < 3; i++)
        CHECK_EQ((int64_t)all[i].filled + all[i].canceled + all[i].leaves, all[i].qty);
    ll_exch_destroy(x);
}

static void test_rejects(void)
{
    ll_exch *x = new_exch(2, 4, 256);
    CHECK_EQ(enter(x, 5, 'B', 1, 10 * P, '0'), 1);
    CHECK_EQ(rep[0].type, 'A');
#define REJ(call, code)                                                                                         \
    do {                                                                                                        \
        CHECK_EQ(call, 1);                                                                                      \
        CHECK_EQ(rep[0].type, 'J');                                                                             \
        CHECK_EQ(rep[0].reason, code);                                                                          \
    } while (0)
    REJ(enter(x, 5, 'B', 1, 10 * P, '0'), LL_OUCH_REJ_OTHER);
    REJ(enter(x, 6, 'E', 1, 10 * P, '0'), LL_OUCH_REJ_INVALID_SIDE);
    REJ(enter(x, 7, 'B', 0, 10 * P, '0'), LL_OUCH_REJ_INVALID_QUANTITY);
    REJ(enter(x, 8, 'B', 1001, 10 * P, '0'), LL_OUCH_REJ_SHARES_EXCEED_THRESHOLD);
    REJ(enter(x, 9, 'B', 1, 0, '0'), LL_OUCH_REJ_INVALID_PRICE);
    REJ(enter(x, 10, 'B', 1, 10 * P, '6'), LL_OUCH_REJ_OTHER);
    REJ(replace(x, 77, 11, 1, 10 * P, '0'), LL_OUCH_REJ_REPLACE_NOT_ALLOWED);
    REJ(cancel(x, 77, 0), LL_OUCH_REJ_CANCEL_NOT_ALLOWED);
    ll_ouch_msg m;
    memset(&m, 0, sizeof m);
    m.type = 'O';
    m.user_ref = 12;
    m.side = 'B';
    m.qty = 1;
    m.price = 1ull << 32;
    m.tif = '0';
    memcpy(m.symbol, "TEST    ", 8);
    REJ(order(x, &m), LL_OUCH_REJ_INVALID_PRICE);
    m.user_ref = 13;
    m.price = P;
    memcpy(m.symbol, "NOPE    ", 8);
    REJ(order(x, &m), LL_OUCH_REJ_INVALID_SYMBOL);
    CHECK_EQ(enter(x, 14, 'B', 1, 10 * P, '0'), 1);
    REJ(enter(x, 15, 'B', 1, 10 * P, '0'), LL_OUCH_REJ_PROCESSING_ERROR); /* max_open 2 */
    uint64_t counts[LL_OUCH_REJ_MAX];
    CHECK_EQ(ll_exch_rejects(x, counts, LL_OUCH_REJ_MAX), 11);
    CHECK_EQ(counts[LL_OUCH_REJ_OTHER], 2);
    CHECK_EQ(counts[LL_OUCH_REJ_INVALID_PRICE], 2);
    CHECK_EQ(ll_exch_rejects(x, counts, LL_OUCH_REJ_MAX + 1), LL_EINVAL);
    CHECK_EQ(ll_exch_stat(x, "orders"), 2);
    /* bytes that are not OUCH, ITCH the book refuses: errors, nothing changes */
    uint8_t junk[64] = {'O', 0};
    CHECK_EQ(ll_exch_on_order(x, junk, 10, 1, out_buf, out_cap), LL_ETRUNCATED);
    junk[0] = 'Z';
    CHECK_EQ(ll_exch_on_order(x, junk, 47, 1, out_buf, out_cap), LL_EUNKNOWNMSG);
    CHECK_EQ(ll_exch_on_order(x, junk, 0, 1, out_buf, out_cap), LL_ETRUNCATED);
    CHECK_EQ(ll_exch_on_order(x, junk, 47, 1, out_buf, ll_exch_reply_capacity(x) - 1), LL_EINVAL);
    uint8_t mm[64];
    size_t n = itch_ref(mm, 'E', 1, 999, 1);
    CHECK_EQ(ll_exch_on_feed(x, mm, n, out_buf, out_cap), LL_ENOORDER);
    CHECK_EQ(ll_exch_on_feed(x, mm, n - 1, out_buf, out_cap), LL_ETRUNCATED);
    CHECK_EQ(ll_exch_on_feed(x, mm, n + 1, out_buf, out_cap), LL_EBADFRAME);
    mm[0] = 'Q';
    CHECK_EQ(ll_exch_on_feed(x, mm, n, out_buf, out_cap), LL_EUNKNOWNMSG);
    CHECK_EQ(ll_exch_stat(x, "feed_messages"), 0);
    CHECK_EQ(ll_exch_check(x), 0);
    ll_exch_destroy(x);
    /* bad capacities */
    ll_exch_config c;
    memset(&c, 0, sizeof c);
    c.max_feed_orders = (uint64_t)LL_BOOK_MAX_ORDERS + 1;
    int err = 0;
    CHECK(ll_exch_create(&c, &err) == NULL);
    CHECK_EQ(err, LL_EINVAL);
}

/* Thousands of feed orders added and removed in scrambled order, some partly
 * taken: the backward-shift deletion must keep every live entry findable. */
static void test_hash_churn(void)
{
    ll_exch *x = new_exch(64, 256, 4096);
    enum { N = 3000 };
    uint64_t seed = 12345;
    static uint8_t alive[N + 1];
    memset(alive, 0, sizeof alive);
    for (uint64_t r = 1; r <= N; r++) {
        add(x, r * 7919, 'S', 10, 20 * P + (uint32_t)(r % 5) * T);
        alive[r] = 1;
    }
    /* take a few shares off the front levels */
    CHECK(enter(x, 1, 'B', 35, 20 * P, '3') >= 2);
    for (int step = 0; step < 2 * N; step++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t r = 1 + (seed >> 33) % N;
        if (!alive[r])
            continue;
        ref_msg(x, 'D', r * 7919, 0);
        alive[r] = 0;
    }
    int64_t live = 0;
    for (uint64_t r = 1; r <= N; r++) {
        int64_t t = ll_exch_taken(x, r * 7919);
        if (alive[r]) {
            CHECK(t >= 0);
            live++;
        } else {
            CHECK_EQ(t, -1);
        }
    }
    CHECK_EQ((int64_t)ll_book_count(ll_exch_book(x)), live);
    ll_exch_destroy(x);
}

int main(void)
{
    test_codec();
    test_cross_and_taken();
    test_queue_position();
    test_replace_cancel();
    test_rejects();
    test_hash_churn();
    free(out_buf);
    return check_summary();
}
