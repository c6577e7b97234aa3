/*
 * tests/c/test_order_book.c - lab 5's book tested from C, no framework.
 *
 * Built by meson as `test_order_book_c` and run by `meson test`; `make
 * sanitize` runs it under ASan+UBSan (the misaligned big-endian loads of
 * itch.h, the memmoves of the level arrays and the pool indices are what
 * they are here for).
 *
 * - updates by hand, with the expected best, depth and queues;
 * - every error code, and the book unchanged after each;
 * - capacity: the order pool and the instrument table full;
 * - the hash map: many refs with one home slot, deleted in every order
 *   (backward shift), checked by ll_book_check after every step;
 * - ITCH: messages built byte by byte, apply and apply_stream with their
 *   counts, truncation, bad frames, unknown types, lenient mode;
 * - a random stream of valid and invalid updates against a naive model
 *   (a flat array scanned linearly), compared after every step.
 *
 * Prints "N passed, M failed" and exits non-zero if anything failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "itch.h"
#include "order_book.h"

#include "check.h"
#include "itch_build.h"

static ll_book *new_book(uint64_t max_orders, uint64_t max_instruments)
{
    int err = 12345;
    ll_book *b = ll_book_create(max_orders, max_instruments, &err);
    CHECK(b != NULL);
    CHECK_EQ(err, LL_OK);
    return b;
}

/* best as four numbers (-1 for an empty side) */
static void best4(const ll_book *b, uint32_t locate, int64_t *bp, int64_t *bs, int64_t *ap, int64_t *as)
{
    uint64_t out[4] = {0};
    int mask = ll_book_best(b, locate, out);
    *bp = mask & 1 ? (int64_t)out[0] : -1;
    *bs = mask & 1 ? (int64_t)out[1] : -1;
    *ap = mask & 2 ? (int64_t)out[2] : -1;
    *as = mask & 2 ? (int64_t)out[3] : -1;
}

#define CHECK_BEST(b, loc, xbp, xbs, xap, xas)                                                                    \
    do {                                                                                                          \
        int64_t bp_, bs_, ap_, as_;                                                                               \
        best4(b, loc, &bp_, &bs_, &ap_, &as_);                                                                    \
        CHECK_EQ(bp_, xbp);                                                                                       \
        CHECK_EQ(bs_, xbs);                                                                                       \
        CHECK_EQ(ap_, xap);                                                                                       \
        CHECK_EQ(as_, xas);                                                                                       \
    } while (0)

/* ------------------------------------------------------------ by hand */
static void test_by_hand(void)
{
    ll_book *b = new_book(100, 4);
    ll_book_err err;
    CHECK_BEST(b, 1, -1, -1, -1, -1);
    CHECK_EQ(ll_book_add(b, 1, 10, 'B', 100, 1000000, &err), LL_OK); /* 100 @ 100.0000 */
    CHECK_EQ(ll_book_add(b, 1, 11, 'B', 200, 1000000, &err), LL_OK);
    CHECK_EQ(ll_book_add(b, 1, 12, 'B', 300, 990000, &err), LL_OK);
    CHECK_EQ(ll_book_add(b, 1, 13, 'S', 50, 1010000, &err), LL_OK);
    CHECK_EQ(ll_book_add(b, 1, 14, 'S', 60, 1020000, &err), LL_OK);
    CHECK_EQ(ll_book_add(b, 1, 15, 'S', 70, 1005000, &err), LL_OK); /* a new best ask */
    CHECK_EQ(ll_book_add(b, 2, 16, 'S', 5, 20000, &err), LL_OK);    /* another instrument */
    CHECK_EQ(ll_book_count(b), 7);
    CHECK_BEST(b, 1, 1000000, 300, 1005000, 70);
    CHECK_BEST(b, 2, -1, -1, 20000, 5);
    CHECK_BEST(b, 3, -1, -1, -1, -1);

    uint64_t bids[30], asks[30];
    int64_t got = ll_book_depth(b, 1, 10, bids, asks);
    CHECK_EQ(got & 0xFFFFFFFF, 2);
    CHECK_EQ(got >> 32, 3);
    CHECK_EQ(bids[0], 1000000);
    CHECK_EQ(bids[1], 300);
    CHECK_EQ(bids[2], 2);
    CHECK_EQ(bids[3], 990000);
    CHECK_EQ(bids[4], 300);
    CHECK_EQ(bids[5], 1);
    CHECK_EQ(asks[0], 1005000);
    CHECK_EQ(asks[3], 1010000);
    CHECK_EQ(asks[6], 1020000);
    CHECK_EQ(asks[8], 1);
    got = ll_book_depth(b, 1, 1, bids, asks);
    CHECK_EQ(got, 1 | (int64_t)1 << 32);
    CHECK_EQ(ll_book_level_count(b, 1), 2 | (int64_t)3 << 32);

    uint64_t q[8];
    CHECK_EQ(ll_book_queue(b, 1, 'B', 1000000, q, 8), 2);
    CHECK_EQ(q[0], 10);
    CHECK_EQ(q[1], 11);
    uint64_t o[4];
    CHECK_EQ(ll_book_order(b, 12, o), 1);
    CHECK_EQ(o[0], 1);
    CHECK_EQ(o[1], 'B');
    CHECK_EQ(o[2], 300);
    CHECK_EQ(o[3], 990000);
    CHECK_EQ(ll_book_order(b, 99, o), 0);

    /* executions and cancels */
    CHECK_EQ(ll_book_execute(b, 10, 30, &err), 70);
    CHECK_BEST(b, 1, 1000000, 270, 1005000, 70);
    CHECK_EQ(ll_book_cancel(b, 10, 70, &err), 0); /* all of it: gone */
    CHECK_EQ(ll_book_order(b, 10, o), 0);
    CHECK_EQ(ll_book_queue(b, 1, 'B', 1000000, q, 8), 1);
    CHECK_EQ(q[0], 11);
    CHECK_EQ(ll_book_execute(b, 15, 70, &err), 0); /* the best ask traded away */
    CHECK_BEST(b, 1, 1000000, 200, 1010000, 50);
    CHECK_EQ(ll_book_delete(b, 11, &err), LL_OK); /* the best bid level empties */
    CHECK_BEST(b, 1, 990000, 300, 1010000, 50);

    /* replace: new ref, same side and instrument, back of the queue */
    CHECK_EQ(ll_book_add(b, 1, 20, 'B', 10, 990000, &err), LL_OK);
    CHECK_EQ(ll_book_replace(b, 12, 21, 40, 990000, &err), LL_OK); /* same price: loses its place */
    CHECK_EQ(ll_book_queue(b, 1, 'B', 990000, q, 8), 2);
    CHECK_EQ(q[0], 20);
    CHECK_EQ(q[1], 21);
    CHECK_EQ(ll_book_order(b, 12, o), 0);
    CHECK_EQ(ll_book_order(b, 21, o), 1);
    CHECK_EQ(o[1], 'B');
    CHECK_EQ(o[2], 40);
    CHECK_BEST(b, 1, 990000, 50, 1010000, 50);
    CHECK_EQ(ll_book_replace(b, 13, 22, 5, 1000000, &err), LL_OK); /* an ask moved down */
    CHECK_BEST(b, 1, 990000, 50, 1000000, 5);
    CHECK_EQ(ll_book_order(b, 22, o), 1);
    CHECK_EQ(o[1], 'S');
    /* replace the only order of a level, to the same price */
    CHECK_EQ(ll_book_replace(b, 16, 23, 7, 20000, &err), LL_OK);
    CHECK_BEST(b, 2, -1, -1, 20000, 7);
    CHECK_EQ(ll_book_check(b), 0);

    /* ask prices at the extremes of u32, bids at 0 */
    CHECK_EQ(ll_book_add(b, 3, 30, 'S', 1, UINT32_MAX, &err), LL_OK);
    CHECK_EQ(ll_book_add(b, 3, 31, 'S', 1, 0, &err), LL_OK);
    CHECK_EQ(ll_book_add(b, 3, 32, 'B', 1, 0, &err), LL_OK);
    CHECK_BEST(b, 3, 0, 1, 0, 1);
    CHECK_EQ(ll_book_delete(b, 31, &err), LL_OK);
    CHECK_BEST(b, 3, 0, 1, UINT32_MAX, 1);
    CHECK_EQ(ll_book_check(b), 0);

    uint16_t locs[8];
    CHECK_EQ(ll_book_instruments(b, locs, 8), 3);
    CHECK_EQ(locs[0], 1);
    CHECK_EQ(locs[1], 2);
    CHECK_EQ(locs[2], 3);
    ll_book_destroy(b);
}

/* ------------------------------------------------------------ errors */
/* a fingerprint of the whole visible state of instruments 1..3 */
static uint64_t fingerprint(const ll_book *b)
{
    uint64_t h = ll_book_count(b) * 0x9E3779B97F4A7C15ull;
    for (uint32_t loc = 1; loc <= 3; loc++) {
        uint64_t bids[300], asks[300];
        int64_t got = ll_book_depth(b, loc, 100, bids, asks);
        h = h * 31 + (uint64_t)got;
        for (int64_t i = 0; i < 3 * (got & 0xFFFFFFFF); i++)
            h = h * 1000003 + bids[i];
        for (int64_t i = 0; i < 3 * (got >> 32); i++)
            h = h * 1000003 + asks[i];
        for (int side = 0; side < 2; side++)
            for (int64_t i = 0; i < ((side ? got >> 32 : got) & 0xFFFFFFFF); i++) {
                uint64_t q[64];
                int64_t k = ll_book_queue(b, loc, side ? 'S' : 'B', (uint32_t)(side ? asks : bids)[3 * i], q, 64);
                for (int64_t j = 0; j < k && j < 64; j++)
                    h = h * 131 + q[j];
            }
    }
    return h;
}

static void test_errors(void)
{
    ll_book *b = new_book(4, 2);
    ll_book_err err;
    CHECK_EQ(ll_book_add(b, 1, 1, 'B', 100, 500, &err), LL_OK);
    CHECK_EQ(ll_book_add(b, 1, 2, 'S', 100, 600, &err), LL_OK);
    uint64_t fp = fingerprint(b);

    memset(&err, 0, sizeof err);
    CHECK_EQ(ll_book_add(b, 1, 3, 'X', 100, 500, &err), LL_EBADSIDE);
    CHECK_EQ(err.code, LL_EBADSIDE);
    CHECK_EQ(err.side, 'X');
    CHECK_EQ(ll_book_add(b, 1, 3, 'B', 0, 500, &err), LL_EZEROSHARES);
    CHECK_EQ(err.ref, 3);
    CHECK_EQ(ll_book_add(b, 1, 1, 'B', 10, 500, &err), LL_EDUPORDER);
    CHECK_EQ(err.ref, 1);
    CHECK_EQ(ll_book_add(b, 0, 3, 'B', 10, 500, &err), LL_EBADLOCATE);
    CHECK_EQ(err.locate, 0);
    CHECK_EQ(ll_book_add(b, 70000, 3, 'B', 10, 500, &err), LL_EBADLOCATE);
    /* pyimpl's order: side before shares before duplicate before locate */
    CHECK_EQ(ll_book_add(b, 0, 1, 'Z', 0, 500, &err), LL_EBADSIDE);
    CHECK_EQ(ll_book_add(b, 0, 1, 'B', 0, 500, &err), LL_EZEROSHARES);
    CHECK_EQ(ll_book_add(b, 0, 1, 'B', 5, 500, &err), LL_EDUPORDER);

    CHECK_EQ(ll_book_execute(b, 9, 1, &err), LL_ENOORDER);
    CHECK_EQ(err.ref, 9);
    CHECK_EQ(ll_book_execute(b, 9, 0, &err), LL_ENOORDER); /* unknown before zero */
    CHECK_EQ(ll_book_execute(b, 1, 0, &err), LL_EZEROSHARES);
    CHECK_EQ(ll_book_cancel(b, 1, 101, &err), LL_EOVERFILL);
    CHECK_EQ(err.ref, 1);
    CHECK_EQ(err.shares, 101);
    CHECK_EQ(err.left, 100);
    CHECK_EQ(ll_book_delete(b, 9, &err), LL_ENOORDER);
    CHECK_EQ(ll_book_replace(b, 9, 10, 5, 5, &err), LL_ENOORDER);
    CHECK_EQ(err.ref, 9);
    CHECK_EQ(ll_book_replace(b, 1, 2, 5, 5, &err), LL_EDUPORDER);
    CHECK_EQ(err.ref, 2);
    CHECK_EQ(ll_book_replace(b, 1, 1, 5, 5, &err), LL_EDUPORDER);
    CHECK_EQ(ll_book_replace(b, 1, 7, 0, 5, &err), LL_EZEROSHARES);
    CHECK_EQ(err.ref, 7);
    CHECK_EQ(fingerprint(b), fp);
    CHECK_EQ(ll_book_check(b), 0);
    /* NULL err is fine for the updates */
    CHECK_EQ(ll_book_delete(b, 9, NULL), LL_ENOORDER);
    ll_book_destroy(b);

    int e = 0;
    CHECK(ll_book_create(0, 1, &e) == NULL);
    CHECK_EQ(e, LL_EINVAL);
    CHECK(ll_book_create(1, 0, &e) == NULL);
    CHECK(ll_book_create((uint64_t)LL_BOOK_MAX_ORDERS + 1, 1, &e) == NULL);
    CHECK(ll_book_create(1, LL_BOOK_MAX_INSTRUMENTS + 1, &e) == NULL);
    CHECK_EQ(e, LL_EINVAL);
}

/* ------------------------------------------------------------ capacity */
static void test_capacity(void)
{
    ll_book *b = new_book(3, 2);
    ll_book_err err;
    CHECK_EQ(ll_book_add(b, 1, 1, 'B', 1, 10, &err), LL_OK);
    CHECK_EQ(ll_book_add(b, 2, 2, 'B', 1, 10, &err), LL_OK);
    uint64_t fp = fingerprint(b);
    CHECK_EQ(ll_book_add(b, 3, 3, 'B', 1, 10, &err), LL_EBOOKFULL); /* a third instrument */
    CHECK_EQ(err.what, LL_BOOK_FULL_INSTRUMENTS);
    CHECK_EQ(err.capacity, 2);
    CHECK_EQ(fingerprint(b), fp);
    CHECK_EQ(ll_book_instruments(b, NULL, 0), 2);
    CHECK_EQ(ll_book_add(b, 1, 3, 'S', 1, 10, &err), LL_OK);
    fp = fingerprint(b);
    CHECK_EQ(ll_book_add(b, 1, 4, 'S', 1, 10, &err), LL_EBOOKFULL); /* the pool */
    CHECK_EQ(err.what, LL_BOOK_FULL_ORDERS);
    CHECK_EQ(err.capacity, 3);
    CHECK_EQ(ll_book_add(b, 0, 4, 'S', 1, 10, &err), LL_EBOOKFULL); /* pool before locate, as pyimpl */
    CHECK_EQ(fingerprint(b), fp);
    /* a replace in a full book: the old order makes room */
    CHECK_EQ(ll_book_replace(b, 3, 4, 2, 11, &err), LL_OK);
    CHECK_EQ(ll_book_count(b), 3);
    /* free one, and the pool takes one again (the free list) */
    CHECK_EQ(ll_book_delete(b, 1, &err), LL_OK);
    CHECK_EQ(ll_book_add(b, 1, 5, 'B', 1, 10, &err), LL_OK);
    CHECK_EQ(ll_book_stat(b, "orders_used"), 3);
    CHECK_EQ(ll_book_check(b), 0);
    ll_book_destroy(b);

    /* a side deeper than its initial array: the array grows, the book stays right */
    b = new_book(1000, 1);
    for (uint32_t i = 0; i < 500; i++)
        CHECK_EQ(ll_book_add(b, 7, i + 1, i % 2 ? 'S' : 'B', 1, (i * 7919u) % 100000u + 1, &err), LL_OK);
    CHECK(ll_book_stat(b, "level_growths") >= 4);
    CHECK_EQ(ll_book_check(b), 0);
    for (uint32_t i = 0; i < 500; i += 2)
        CHECK_EQ(ll_book_delete(b, i + 1, &err), LL_OK);
    CHECK_EQ(ll_book_level_count(b, 7) & 0xFFFFFFFF, 0);
    CHECK_EQ(ll_book_check(b), 0);
    ll_book_destroy(b);
}

/* ------------------------------------------------------------ the hash map */
static void test_collisions(void)
{
    /* 64 orders: a map of 128 slots.  Find refs whose home is slot 5 (about
     * one in 128) and refs whose home is slot 6 or 7, so their runs merge. */
    ll_book *b = new_book(64, 1);
    CHECK_EQ(ll_book_stat(b, "map_slots"), 128);
    uint64_t same[24], near[8];
    int ns = 0, nn = 0;
    for (uint64_t ref = 1; ns < 24 || nn < 8; ref++) {
        uint64_t h = ll_book_home_slot(b, ref);
        if (h == 5 && ns < 24)
            same[ns++] = ref;
        else if ((h == 6 || h == 7) && nn < 8)
            near[nn++] = ref;
    }
    /* refs whose run wraps around the end of the table */
    uint64_t wrap[6];
    int nw = 0;
    for (uint64_t ref = 1; nw < 6; ref++)
        if (ll_book_home_slot(b, ref) >= 125)
            wrap[nw++] = ref;

    ll_book_err err;
    uint32_t price = 100;
    for (int round = 0; round < 3; round++) {
        /* insert all, interleaved */
        for (int i = 0; i < 24; i++) {
            CHECK_EQ(ll_book_add(b, 1, same[i], 'B', 1, price + (uint32_t)i % 3, &err), LL_OK);
            if (i < 8)
                CHECK_EQ(ll_book_add(b, 1, near[i], 'S', 1, 1000, &err), LL_OK);
            if (i < 6)
                CHECK_EQ(ll_book_add(b, 1, wrap[i], 'S', 1, 1001, &err), LL_OK);
        }
        CHECK_EQ(ll_book_count(b), 38);
        CHECK_EQ(ll_book_check(b), 0);
        /* delete: round 0 front to back, round 1 back to front, round 2 every third then the rest */
        int order[38];
        uint64_t refs[38];
        for (int i = 0; i < 24; i++)
            refs[i] = same[i];
        for (int i = 0; i < 8; i++)
            refs[24 + i] = near[i];
        for (int i = 0; i < 6; i++)
            refs[32 + i] = wrap[i];
        int k = 0;
        if (round == 0)
            for (int i = 0; i < 38; i++)
                order[k++] = i;
        else if (round == 1)
            for (int i = 37; i >= 0; i--)
                order[k++] = i;
        else {
            for (int i = 0; i < 38; i += 3)
                order[k++] = i;
            for (int i = 0; i < 38; i++)
                if (i % 3)
                    order[k++] = i;
        }
        for (int i = 0; i < 38; i++) {
            CHECK_EQ(ll_book_delete(b, refs[order[i]], &err), LL_OK);
            CHECK_EQ(ll_book_check(b), 0);
            /* every other ref is still found, the deleted ones are not */
            for (int j = 0; j < 38; j++) {
                uint64_t o[4];
                int deleted = 0;
                for (int d = 0; d <= i; d++)
                    deleted |= order[d] == j;
                CHECK_EQ(ll_book_order(b, refs[j], o), !deleted);
            }
        }
        CHECK_EQ(ll_book_count(b), 0);
        price += 10;
    }
    ll_book_destroy(b);
}

/* ------------------------------------------------------------ ITCH (messages: itch_build.h) */
static void test_itch_apply(void)
{
    CHECK_EQ(ll_book_message_size('S'), 12);
    CHECK_EQ(ll_book_message_size('R'), 39);
    CHECK_EQ(ll_book_message_size('A'), 36);
    CHECK_EQ(ll_book_message_size('F'), 40);
    CHECK_EQ(ll_book_message_size('E'), 31);
    CHECK_EQ(ll_book_message_size('C'), 36);
    CHECK_EQ(ll_book_message_size('X'), 23);
    CHECK_EQ(ll_book_message_size('D'), 19);
    CHECK_EQ(ll_book_message_size('U'), 35);
    CHECK_EQ(ll_book_message_size('P'), 0);
    CHECK_EQ(ll_book_message_size(0x141), 0);

    uint8_t raw[80];
    uint8_t *m = raw + 1; /* misaligned on purpose: the loads must not care */
    CHECK_EQ(ll_be48((const uint8_t *)"\x00\x01\x00\x00\x00\x02"), (1ull << 32) | 2);

    ll_book *b = new_book(100, 4);
    ll_book_err err;
    size_t n = itch_directory(m, 3, "AAPL    ");
    CHECK_EQ(ll_book_apply(b, m, n, &err), 0);
    uint16_t locs[4];
    char stocks[32];
    CHECK_EQ(ll_book_symbols(b, locs, stocks, 4), 1);
    CHECK_EQ(locs[0], 3);
    CHECK(memcmp(stocks, "AAPL    ", 8) == 0);
    n = itch_directory(m, 0, "BAD     ");
    CHECK_EQ(ll_book_apply(b, m, n, &err), LL_EBADLOCATE);

    n = itch_add(m, 'A', 3, 42, 'B', 100, 1892300);
    CHECK_EQ(ll_book_apply(b, m, n, &err), 1);
    n = itch_add(m, 'F', 3, 43, 'S', 200, 1892400);
    CHECK_EQ(ll_book_apply(b, m, n, &err), 1);
    CHECK_BEST(b, 3, 1892300, 100, 1892400, 200);
    n = itch_add(m, 'A', 3, 44, 'Q', 100, 1);
    CHECK_EQ(ll_book_apply(b, m, n, &err), LL_EBADSIDE);
    CHECK_EQ(err.side, 'Q');
    n = itch_ref(m, 'E', 999, 42, 10);
    CHECK_EQ(ll_book_apply(b, m, n, &err), 1);
    n = itch_ref(m, 'C', 999, 42, 10);
    CHECK_EQ(ll_book_apply(b, m, n, &err), 1);
    n = itch_ref(m, 'X', 999, 42, 10);
    CHECK_EQ(ll_book_apply(b, m, n, &err), 1);
    CHECK_BEST(b, 3, 1892300, 70, 1892400, 200);
    n = itch_ref(m, 'X', 999, 42, 71);
    CHECK_EQ(ll_book_apply(b, m, n, &err), LL_EOVERFILL);
    CHECK_EQ(err.left, 70);
    n = itch_replace(m, 999, 43, 45, 300, 1892500);
    CHECK_EQ(ll_book_apply(b, m, n, &err), 1);
    CHECK_BEST(b, 3, 1892300, 70, 1892500, 300);
    n = itch_ref(m, 'D', 999, 42, 0);
    CHECK_EQ(ll_book_apply(b, m, n, &err), 1);
    CHECK_BEST(b, 3, -1, -1, 1892500, 300);
    n = itch_header(m, 'S', 0);
    m[LL_ITCH_OFF_S_EVENT] = 'O';
    CHECK_EQ(ll_book_apply(b, m, n, &err), 0);

    /* lengths and types */
    CHECK_EQ(ll_book_apply(b, m, 0, &err), LL_ETRUNCATED);
    CHECK_EQ(ll_book_apply(b, m, n - 1, &err), LL_EBADFRAME);
    CHECK_EQ(ll_book_apply(b, m, n + 1, &err), LL_EBADFRAME);
    m[0] = 'P';
    CHECK_EQ(ll_book_apply(b, m, 44, &err), LL_EUNKNOWNMSG);
    CHECK_EQ(err.type, 'P');
    CHECK_EQ(ll_book_check(b), 0);
    ll_book_destroy(b);
}

static void test_itch_stream(void)
{
    static uint8_t buf[4096];
    uint8_t m[64];
    size_t at = 0;
    at = itch_frame(buf, at, m, itch_directory(m, 1, "MSFT    "));
    at = itch_frame(buf, at, m, itch_add(m, 'A', 1, 1, 'B', 100, 4000000));
    at = itch_frame(buf, at, m, itch_add(m, 'F', 1, 2, 'S', 100, 4010000));
    m[0] = 'P'; /* a trade: unknown to the book, skipped */
    at = itch_frame(buf, at, m, 44);
    at = itch_frame(buf, at, m, 0); /* an empty frame: skipped too */
    at = itch_frame(buf, at, m, itch_ref(m, 'E', 999, 1, 100));
    size_t bad_at = at;
    at = itch_frame(buf, at, m, itch_ref(m, 'X', 999, 9, 1)); /* unknown order: rejected */
    at = itch_frame(buf, at, m, itch_replace(m, 999, 2, 3, 50, 4020000));
    at = itch_frame(buf, at, m, itch_ref(m, 'D', 999, 3, 0));

    ll_book *b = new_book(100, 4);
    ll_book_stats st;
    ll_book_err err;
    memset(&st, 0, sizeof st);
    /* strict: stops at the rejection, which it reports with its offset */
    int64_t rc = ll_book_apply_stream(b, buf, at, 0, &st, &err);
    CHECK_EQ(rc, LL_ENOORDER);
    CHECK_EQ(err.ref, 9);
    CHECK_EQ(err.offset, bad_at);
    CHECK_EQ(st.end, bad_at);
    CHECK_EQ(st.messages, 7); /* R A F P empty E, and the X that failed */
    ll_book_destroy(b);

    b = new_book(100, 4);
    memset(&st, 0, sizeof st);
    rc = ll_book_apply_stream(b, buf, at, 1, &st, &err);
    CHECK_EQ(rc, 9);
    CHECK_EQ(st.messages, 9);
    CHECK_EQ(st.book, 5);
    CHECK_EQ(st.other, 1);
    CHECK_EQ(st.rejected, 1);
    CHECK_EQ(st.skipped['P'], 1);
    CHECK_EQ(st.skipped[256], 1);
    CHECK_EQ(st.truncated, 0);
    CHECK_EQ(st.end, at);
    CHECK_EQ(ll_book_count(b), 0);
    CHECK_EQ(ll_book_check(b), 0);
    ll_book_destroy(b);

    /* batches of 2: the same result, in 5 calls */
    b = new_book(100, 4);
    memset(&st, 0, sizeof st);
    uint64_t off = 0;
    int calls = 0;
    while (off < at) {
        rc = ll_book_apply_frames(b, buf, at, off, 2, 1, &st, &err);
        CHECK(rc > 0);
        off = st.end;
        calls++;
    }
    CHECK_EQ(calls, 5);
    CHECK_EQ(st.messages, 9);
    CHECK_EQ(st.book, 5);
    CHECK_EQ(st.rejected, 1);
    ll_book_destroy(b);

    /* timed: one time per frame */
    b = new_book(100, 4);
    memset(&st, 0, sizeof st);
    int64_t ns[16];
    for (int i = 0; i < 16; i++)
        ns[i] = -1;
    rc = ll_book_apply_stream_timed(b, buf, at, 0, 1, &st, &err, ns, 16);
    CHECK_EQ(rc, 9);
    for (int i = 0; i < 9; i++)
        CHECK(ns[i] >= 0 && ns[i] < 1000000000);
    CHECK_EQ(ns[9], -1);
    ll_book_destroy(b);

    /* truncation: every prefix of the stream that cuts a frame */
    for (size_t cut = 1; cut < at; cut++) {
        b = new_book(100, 4);
        memset(&st, 0, sizeof st);
        memset(&err, 0, sizeof err);
        rc = ll_book_apply_stream(b, buf, cut, 1, &st, &err);
        CHECK(rc >= 0);
        if (st.truncated) {
            CHECK_EQ(err.code, LL_ETRUNCATED);
            CHECK_EQ(err.offset, st.end);
            CHECK(st.end < cut);
            CHECK_EQ(err.what, cut - st.end < 2 ? LL_BOOK_TRUNC_PREFIX : LL_BOOK_TRUNC_BODY);
        } else {
            CHECK_EQ(st.end, cut);
        }
        CHECK_EQ(ll_book_check(b), 0);
        ll_book_destroy(b);
    }

    /* a frame whose length is not its type's size */
    size_t k = itch_frame(buf, 0, m, itch_add(m, 'A', 1, 1, 'B', 100, 4000000));
    k = itch_frame(buf, k, m, 35); /* an A of 35 bytes */
    b = new_book(100, 4);
    memset(&st, 0, sizeof st);
    rc = ll_book_apply_stream(b, buf, k, 0, &st, &err);
    CHECK_EQ(rc, LL_EBADFRAME);
    CHECK_EQ(err.offset, 38);
    CHECK_EQ(err.type, 'A');
    memset(&st, 0, sizeof st);
    rc = ll_book_apply_stream(b, buf, k, 1, &st, &err); /* lenient: the duplicate is rejected, then it stops */
    CHECK_EQ(rc, 2);
    CHECK_EQ(st.truncated, 1);
    CHECK_EQ(st.messages, 2); /* the bad frame counts as read, as in pyimpl */
    CHECK_EQ(st.rejected, 1);
    ll_book_destroy(b);
}

/* ------------------------------------------------------------ random vs a model */
#define MODEL_MAX 48
typedef struct {
    int live;
    uint64_t ref;
    uint32_t locate, shares, price;
    int side;
    uint64_t seq; /* time priority */
} m_order;

static m_order model[MODEL_MAX * 4];
static int model_n;
static uint64_t model_seq;
static uint32_t model_inst[8];
static int model_ninst;

static m_order *m_find(uint64_t ref)
{
    for (int i = 0; i < model_n; i++)
        if (model[i].live && model[i].ref == ref)
            return &model[i];
    return NULL;
}

static int m_count(void)
{
    int c = 0;
    for (int i = 0; i < model_n; i++)
        c += model[i].live;
    return c;
}

static int m_has_inst(uint32_t loc)
{
    for (int i = 0; i < model_ninst; i++)
        if (model_inst[i] == loc)
            return 1;
    return 0;
}

static void m_rest(uint32_t loc, uint64_t ref, int side, uint32_t shares, uint32_t price)
{
    int i = 0;
    while (i < model_n && model[i].live)
        i++;
    if (i == model_n)
        model_n++;
    model[i] = (m_order){1, ref, loc, shares, price, side, ++model_seq};
}

static int m_add(uint32_t loc, uint64_t ref, char side, uint32_t shares, uint32_t price, int max_orders, int max_inst)
{
    if (side != 'B' && side != 'S')
        return LL_EBADSIDE;
    if (shares == 0)
        return LL_EZEROSHARES;
    if (m_find(ref))
        return LL_EDUPORDER;
    if (m_count() >= max_orders)
        return LL_EBOOKFULL;
    if (!m_has_inst(loc)) {
        if (loc == 0)
            return LL_EBADLOCATE;
        if (model_ninst >= max_inst)
            return LL_EBOOKFULL;
        model_inst[model_ninst++] = loc;
    }
    m_rest(loc, ref, side == 'B' ? 0 : 1, shares, price);
    return LL_OK;
}

static int64_t m_take(uint64_t ref, uint32_t shares)
{
    m_order *o = m_find(ref);
    if (!o)
        return LL_ENOORDER;
    if (shares == 0)
        return LL_EZEROSHARES;
    if (shares > o->shares)
        return LL_EOVERFILL;
    o->shares -= shares;
    if (o->shares == 0)
        o->live = 0;
    return o->shares;
}

static int m_replace(uint64_t ref, uint64_t new_ref, uint32_t shares, uint32_t price)
{
    m_order *o = m_find(ref);
    if (!o)
        return LL_ENOORDER;
    if (new_ref == ref || m_find(new_ref))
        return LL_EDUPORDER;
    if (shares == 0)
        return LL_EZEROSHARES;
    o->live = 0;
    m_rest(o->locate, new_ref, o->side, shares, price);
    return LL_OK;
}

/* the model's levels of one side, best first: price, shares, count */
static int m_depth(uint32_t loc, int side, uint64_t *out)
{
    int k = 0;
    for (;;) {
        /* the best price not yet listed */
        int found = 0;
        uint32_t best = 0;
        for (int i = 0; i < model_n; i++) {
            m_order *o = &model[i];
            if (!o->live || o->locate != loc || o->side != side)
                continue;
            if (k > 0 && (side == 0 ? o->price >= out[3 * (k - 1)] : o->price <= out[3 * (k - 1)]))
                continue;
            if (!found || (side == 0 ? o->price > best : o->price < best)) {
                best = o->price;
                found = 1;
            }
        }
        if (!found)
            return k;
        uint64_t shares = 0, count = 0;
        for (int i = 0; i < model_n; i++)
            if (model[i].live && model[i].locate == loc && model[i].side == side && model[i].price == best) {
                shares += model[i].shares;
                count++;
            }
        out[3 * k] = best;
        out[3 * k + 1] = shares;
        out[3 * k + 2] = count;
        k++;
    }
}

static uint64_t rng_state = 0x1234567;
static uint64_t rnd(uint64_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state % n;
}

static int compare_with_model(const ll_book *b)
{
    int bad = 0;
    if ((int)ll_book_count(b) != m_count())
        bad++;
    for (uint32_t loc = 1; loc <= 4; loc++) {
        uint64_t bids[3 * MODEL_MAX * 4], asks[3 * MODEL_MAX * 4], mb[3 * MODEL_MAX * 4], ma[3 * MODEL_MAX * 4];
        int64_t got = ll_book_depth(b, loc, MODEL_MAX * 4, bids, asks);
        int nb = m_depth(loc, 0, mb), na = m_depth(loc, 1, ma);
        if ((got & 0xFFFFFFFF) != nb || (got >> 32) != na)
            bad++;
        else if (memcmp(bids, mb, 3 * 8 * (size_t)nb) != 0 || memcmp(asks, ma, 3 * 8 * (size_t)na) != 0)
            bad++;
        /* each level's queue: the model's orders at that price by seq */
        for (int side = 0; side < 2 && !bad; side++)
            for (int l = 0; l < (side ? na : nb); l++) {
                uint32_t price = (uint32_t)(side ? ma : mb)[3 * l];
                uint64_t q[MODEL_MAX * 4];
                int64_t k = ll_book_queue(b, loc, side ? 'S' : 'B', price, q, MODEL_MAX * 4);
                uint64_t last_seq = 0;
                for (int64_t j = 0; j < k; j++) {
                    m_order *o = m_find(q[j]);
                    if (!o || o->price != price || o->side != side || o->seq <= last_seq)
                        bad++;
                    else
                        last_seq = o->seq;
                }
            }
    }
    return bad;
}

static void test_random_vs_model(void)
{
    const int max_orders = MODEL_MAX, max_inst = 3;
    ll_book *b = new_book(max_orders, max_inst);
    ll_book_err err;
    int mismatches = 0, checks_failed = 0;
    long ok_ops = 0, err_ops = 0;
    for (int step = 0; step < 60000; step++) {
        uint64_t ref = 1 + rnd(120); /* a small ref space: duplicates and unknown refs happen */
        uint32_t shares = (uint32_t)rnd(5) * (rnd(4) ? 100 : 1);
        uint32_t price = 1000 + (uint32_t)rnd(12) * 100 + (rnd(10) ? 0 : (uint32_t)rnd(100));
        int64_t got, want;
        switch (rnd(6)) {
        case 0:
        case 1: {
            uint32_t loc = (uint32_t)rnd(5); /* 0: a bad locate; 4: over the instrument limit */
            char side = rnd(30) ? (rnd(2) ? 'B' : 'S') : 'x';
            got = ll_book_add(b, loc, ref, (uint8_t)side, shares, price, &err);
            want = m_add(loc, ref, side, shares, price, max_orders, max_inst);
            break;
        }
        case 2:
            got = ll_book_execute(b, ref, shares / 2, &err);
            want = m_take(ref, shares / 2);
            break;
        case 3: {
            uint32_t q = (uint32_t)rnd(60);
            got = ll_book_cancel(b, ref, q, &err);
            want = m_take(ref, q);
            break;
        }
        case 4:
            got = ll_book_delete(b, ref, &err);
            {
                m_order *o = m_find(ref);
                want = o ? LL_OK : LL_ENOORDER;
                if (o)
                    o->live = 0;
            }
            break;
        default: {
            uint64_t new_ref = 1 + rnd(120);
            got = ll_book_replace(b, ref, new_ref, shares, price, &err);
            want = m_replace(ref, new_ref, shares, price);
            break;
        }
        }
        if (got != want) {
            if (mismatches < 5)
                fprintf(stderr, "step %d: got %lld, model %lld\n", step, (long long)got, (long long)want);
            mismatches++;
        }
        if (got < 0)
            err_ops++;
        else
            ok_ops++;
        if (step % 7 == 0 && compare_with_model(b))
            mismatches++;
        if (step % 97 == 0 && ll_book_check(b) != 0)
            checks_failed++;
    }
    CHECK_EQ(mismatches, 0);
    CHECK_EQ(checks_failed, 0);
    CHECK_EQ(ll_book_check(b), 0);
    CHECK(ok_ops > 10000);
    CHECK(err_ops > 10000);
    ll_book_destroy(b);
}

/* ll_book_prefault backs the pools with memory and changes nothing a book
 * holds: prefault an empty book and a book in use (with and without huge
 * pages), and the book stays exactly as before. */
static void test_prefault(void)
{
    ll_book *b = new_book(4096, 4);
    ll_book_err err;
    CHECK_EQ(ll_book_stat(b, "prefaulted"), 0);
    CHECK_EQ(ll_book_prefault(b, 0), LL_OK);
    CHECK_EQ(ll_book_stat(b, "prefaulted"), 1);
    for (uint64_t ref = 1; ref <= 1000; ref++)
        CHECK_EQ(ll_book_add(b, 1 + (uint32_t)(ref % 3), ref * 7, ref % 2 ? 'B' : 'S', (uint32_t)ref,
                             ref % 2 ? 1000 - (uint32_t)(ref % 50) : 2000 + (uint32_t)(ref % 50), &err),
                 LL_OK);
    uint64_t before[4], after[4];
    CHECK_EQ(ll_book_best(b, 1, before), 3);
    CHECK_EQ(ll_book_prefault(b, 1), LL_OK);
    CHECK_EQ(ll_book_stat(b, "prefaulted"), 2);
    CHECK_EQ(ll_book_best(b, 1, after), 3);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(before[i], after[i]);
    CHECK_EQ(ll_book_count(b), 1000);
    for (uint64_t ref = 1; ref <= 1000; ref += 2)
        CHECK_EQ(ll_book_delete(b, ref * 7, &err), LL_OK);
    CHECK_EQ(ll_book_count(b), 500);
    CHECK_EQ(ll_book_check(b), 0);
    ll_book_destroy(b);
}

int main(void)
{
    test_by_hand();
    test_prefault();
    test_errors();
    test_capacity();
    test_collisions();
    test_itch_apply();
    test_itch_stream();
    test_random_vs_model();
    return check_summary();
}
