/*
 * tests/c/test_ml_inference.c - lab 6's features and model tested from C.
 *
 * Built by meson as `test_ml_inference_c` (with cimpl/order_book.c and
 * -ffp-contract=off, as the library) and run by `meson test`; `make
 * sanitize` runs it under ASan+UBSan and TSan.
 *
 * - features by hand on a tiny stream (adds, a cancel, an execution, a
 *   second level): spread, mid, microprice, l1, depth imbalance, OFI and
 *   trade intensity, exactly;
 * - the ring buffers with small windows: mid_return NaN until the window
 *   fills, then the log of the mid `window` mids ago; the OFI sum dropping
 *   the term that leaves; the EWMA volatility;
 * - framed streams: rows, locates, timestamps; S/R/unknown/empty frames;
 *   truncation, bad frames, book errors with their offsets; full arrays;
 * - a hand-made logistic model and a small MLP with known probabilities,
 *   blocks vs single rows (the same bits), non-finite inputs, bad arrays;
 * - the pipeline and the timing kernels.
 *
 * Prints "N passed, M failed" and exits non-zero if anything failed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "itch.h"
#include "ml_inference.h"

#include "check.h"
#include "itch_build.h"

/* bit-for-bit equality, NaN equal to NaN */
static int same(double a, double b)
{
    if (isnan(a) && isnan(b))
        return 1;
    return memcmp(&a, &b, sizeof a) == 0;
}

#define CHECK_SAME(a, b)                                                                                          \
    do {                                                                                                          \
        double x_ = (a), y_ = (b);                                                                                \
        if (same(x_, y_)) {                                                                                       \
            passed++;                                                                                             \
        } else {                                                                                                  \
            failed++;                                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s == %s (%.17g != %.17g)\n", __FILE__, __LINE__, #a, #b, x_, y_);       \
        }                                                                                                         \
    } while (0)

/* the row in out must be these nine values, bit for bit */
static void check_row(const double *out, double spread, double mid, double micro, double l1, double depth,
                      double ofi, double ret, double vol, double intensity, int line)
{
    const double want[LL_ML_N_FEATURES] = {spread, mid, micro, l1, depth, ofi, ret, vol, intensity};
    for (int i = 0; i < LL_ML_N_FEATURES; i++) {
        if (same(out[i], want[i])) {
            passed++;
        } else {
            failed++;
            fprintf(stderr, "FAIL line %d: feature %d is %.17g, expected %.17g\n", line, i, out[i], want[i]);
        }
    }
}
#define CHECK_ROW(out, ...) check_row(out, __VA_ARGS__, __LINE__)

/* pyimpl.ml_inference's constants; Python computes (1.0 - VOL_LAMBDA) and
 * (1.0 - TRADE_ALPHA), which are not the literals 0.03 and 0.95 */
#define PRICE 10000.0
#define LAMBDA 0.97
#define OML (1.0 - 0.97)
#define OMA (1.0 - 0.05)

static ll_ml_engine *new_engine(uint32_t ofi_w, uint32_t ret_w)
{
    int err = 12345;
    ll_ml_engine *e = ll_ml_engine_create(1000, 16, 5, ofi_w, ret_w, 0.97, 0.05, PRICE, &err);
    CHECK(e != NULL);
    CHECK_EQ(err, LL_OK);
    return e;
}

/* ------------------------------------------------------------ ITCH messages (itch_build.h) */
/* apply one message; the return code */
static int apply(ll_ml_engine *e, const uint8_t *m, size_t n, double *out)
{
    ll_book_err err;
    memset(&err, 0, sizeof err);
    return ll_ml_engine_apply(e, m, n, out, &err);
}

/* ------------------------------------------------------------ features by hand */
static void test_by_hand(void)
{
    ll_ml_engine *e = new_engine(50, 50);
    uint8_t m[64];
    double out[LL_ML_N_FEATURES];
    const double N = NAN;

    /* a bid alone: the touch is one-sided */
    CHECK_EQ(apply(e, m, itch_add(m, 'A', 1, 1, 'B', 100, 1000000), out), 1);
    CHECK_ROW(out, N, N, N, N, 1.0, 0.0, N, 0.0, 0.0);
    /* the ask: 100 @ 100.0000 x 300 @ 100.1000 */
    CHECK_EQ(apply(e, m, itch_add(m, 'A', 1, 2, 'S', 300, 1001000), out), 1);
    CHECK_ROW(out, 0.1, 100.05, 100.025, -0.5, -0.5, 0.0, N, 0.0, 0.0);
    /* 200 of the ask cancelled: OFI e = 100 - 100 - 100 + 300 */
    CHECK_EQ(apply(e, m, itch_ref(m, 'X', 1, 2, 200), out), 1);
    CHECK_ROW(out, 0.1, 100.05, 100.05, 0.0, 0.0, 200.0, N, 0.0, 0.0);
    /* 40 of the bid executed: e = 60 - 100 - 100 + 100; intensity 0.05 * 40 */
    CHECK_EQ(apply(e, m, itch_ref(m, 'E', 1, 1, 40), out), 1);
    CHECK_ROW(out, 0.1, 100.05, 100.0375, -0.25, -0.25, 160.0, N, 0.0, 0.05 * 40.0);
    /* a second bid level, 500 @ 99.9900: the touch is unchanged (e = 0), depth is not */
    CHECK_EQ(apply(e, m, itch_add(m, 'A', 1, 3, 'B', 500, 999900), out), 1);
    double intensity = OMA * (0.05 * 40.0);
    CHECK_ROW(out, 0.1, 100.05, 100.0375, -0.25, (560.0 - 100.0) / 660.0, 160.0, N, 0.0, intensity);
    /* a C (executed with price) of 10 shares of the ask: mid unchanged, intensity up */
    CHECK_EQ(apply(e, m, itch_ref(m, 'C', 1, 2, 10), out), 1);
    intensity = OMA * intensity + 0.05 * 10.0;
    double micro = (1000000.0 * 90 + 1001000.0 * 60) / 150.0 / PRICE;
    CHECK_ROW(out, 0.1, 100.05, micro, (60.0 - 90.0) / 150.0, (560.0 - 90.0) / 650.0, 160.0 + (60 - 60 - 90 + 100),
              N, 0.0, intensity);
    /* a better bid moves the mid: the one-update return feeds the volatility */
    CHECK_EQ(apply(e, m, itch_add(m, 'A', 1, 4, 'B', 20, 1000500), out), 1);
    intensity = OMA * intensity;
    double mid = 2001500.0 / 20000.0, r = log(mid / 100.05), var = LAMBDA * 0.0 + OML * r * r;
    CHECK_SAME(out[1], mid);
    CHECK_SAME(out[7], sqrt(var));
    CHECK(out[7] > 0.0);
    CHECK_SAME(out[8], intensity);
    CHECK_SAME(out[5], 170.0 + 20);  /* e = 20 - 0 - 90 + 90 */
    /* the other instrument is untouched by all that: its first row */
    CHECK_EQ(apply(e, m, itch_add(m, 'A', 2, 9, 'S', 5, 20000), out), 1);
    CHECK_ROW(out, N, N, N, N, -1.0, 0.0, N, 0.0, 0.0);
    /* an S and an R give no row; an unknown type and bad lengths are errors */
    ll_book_err err;
    out[0] = 42.0;
    CHECK_EQ(ll_ml_engine_apply(e, m, itch_header(m, 'S', 0), out, &err), 0);
    CHECK_EQ(ll_ml_engine_apply(e, m, itch_header(m, 'R', 3), out, &err), 0);
    CHECK_SAME(out[0], 42.0);
    m[0] = 'Z';
    CHECK_EQ(ll_ml_engine_apply(e, m, 20, out, &err), LL_EUNKNOWNMSG);
    CHECK_EQ(ll_ml_engine_apply(e, m, itch_add(m, 'A', 1, 5, 'B', 1, 1) - 1, out, &err), LL_EBADFRAME);
    CHECK_EQ(ll_ml_engine_apply(e, m, 0, out, &err), LL_ETRUNCATED);
    /* a rejected update: no row, the book's error */
    CHECK_EQ(apply(e, m, itch_ref(m, 'D', 1, 777, 0), out), LL_ENOORDER);
    CHECK_EQ(ll_ml_engine_apply(e, m, itch_ref(m, 'X', 1, 1, 1000), out, &err), LL_EOVERFILL);
    CHECK_EQ(err.ref, 1);
    CHECK_EQ(err.left, 60);
    /* update() by hand, bad arguments */
    CHECK_EQ(ll_ml_engine_update(e, 1, 0, out), LL_OK);
    CHECK_EQ(ll_ml_engine_update(e, 65536, 0, out), LL_EINVAL);
    CHECK_EQ(ll_ml_engine_update(e, 1, 0, NULL), LL_EINVAL);
    CHECK_EQ(ll_ml_engine_apply(NULL, m, 19, out, &err), LL_EINVAL);
    CHECK_EQ(ll_ml_engine_apply(e, m, 19, out, NULL), LL_EINVAL);
    ll_ml_engine_destroy(e);
    ll_ml_engine_destroy(NULL);
}

static void test_create_checks(void)
{
    int err = 0;
    CHECK(ll_ml_engine_create(1000, 16, 0, 50, 50, 0.97, 0.05, PRICE, &err) == NULL);
    CHECK_EQ(err, LL_EINVAL);
    CHECK(ll_ml_engine_create(1000, 16, 5, 0, 50, 0.97, 0.05, PRICE, &err) == NULL);
    CHECK(ll_ml_engine_create(1000, 16, 5, 50, LL_ML_MAX_WINDOW + 1, 0.97, 0.05, PRICE, &err) == NULL);
    CHECK(ll_ml_engine_create(1000, 16, 5, 50, 50, NAN, 0.05, PRICE, &err) == NULL);
    CHECK(ll_ml_engine_create(1000, 16, 5, 50, 50, 0.97, 1.5, PRICE, &err) == NULL);
    CHECK(ll_ml_engine_create(1000, 16, 5, 50, 50, 0.97, 0.05, 0.0, &err) == NULL);
    CHECK_EQ(err, LL_EINVAL);
    CHECK(ll_ml_engine_create(0, 16, 5, 50, 50, 0.97, 0.05, PRICE, &err) == NULL); /* the book's check */
    CHECK_EQ(err, LL_EINVAL);
    CHECK_EQ(ll_ml_info("n_features"), LL_ML_N_FEATURES);
    CHECK_EQ(ll_ml_info("lanes"), 8);
    CHECK_EQ(ll_ml_info("sizeof_err"), sizeof(ll_book_err));
    CHECK_EQ(ll_ml_info("nope"), -1);
}

/* ------------------------------------------------------------ windows */
static void test_windows(void)
{
    ll_ml_engine *e = new_engine(3, 2); /* OFI over 3 updates, the return over 2 mids */
    uint8_t m[64];
    double out[LL_ML_N_FEATURES];
    const double N = NAN;

    CHECK_EQ(apply(e, m, itch_add(m, 'A', 1, 1, 'B', 100, 1000000), out), 1); /* one-sided: e = 0 */
    CHECK_SAME(out[5], 0.0);
    CHECK_EQ(apply(e, m, itch_add(m, 'A', 1, 2, 'S', 100, 1001000), out), 1); /* first mid */
    CHECK_SAME(out[5], 0.0);
    CHECK_SAME(out[6], N);
    CHECK_EQ(apply(e, m, itch_add(m, 'A', 1, 3, 'B', 50, 1000000), out), 1); /* e = 150 - 100 - 100 + 100 */
    CHECK_SAME(out[5], 50.0);
    CHECK_SAME(out[6], N); /* 2 mids: not yet RETURN_WINDOW + 1 */
    CHECK_EQ(apply(e, m, itch_add(m, 'A', 1, 4, 'S', 30, 1001000), out), 1); /* e = 150 - 150 - 130 + 100 */
    CHECK_SAME(out[5], 20.0);                                          /* 0 + 50 - 30: the first 0 left */
    CHECK_SAME(out[6], 0.0);                                           /* log(100.05 / 100.05) */
    CHECK_SAME(out[7], 0.0);
    CHECK_EQ(apply(e, m, itch_add(m, 'A', 1, 5, 'B', 10, 1000500), out), 1); /* e = 10 - 0 - 130 + 130 */
    double mid = 2001500.0 / 20000.0;
    double r1 = log(mid / 100.05), var = LAMBDA * 0.0 + OML * r1 * r1;
    CHECK_SAME(out[1], mid);
    CHECK_SAME(out[5], 30.0);                 /* 50 - 30 + 10 */
    CHECK_SAME(out[6], log(mid / 100.05));    /* the mid 2 mids ago */
    CHECK_SAME(out[7], sqrt(var));
    CHECK_EQ(apply(e, m, itch_ref(m, 'D', 1, 5, 0), out), 1); /* e = 0 - 10 - 130 + 130 */
    double r2 = log(100.05 / mid);
    var = LAMBDA * var + OML * r2 * r2;
    CHECK_SAME(out[5], -30.0);                /* -30 + 10 - 10: the 50 left */
    CHECK_SAME(out[6], 0.0);                  /* log(100.05 / 100.05), 2 mids ago */
    CHECK_SAME(out[7], sqrt(var));
    /* 100 of the ask's 130 deleted: e = 150 - 150 - 30 + 130; the mid is unchanged (r = 0) */
    CHECK_EQ(apply(e, m, itch_ref(m, 'D', 1, 2, 0), out), 1);
    var = LAMBDA * var + OML * 0.0 * 0.0;
    CHECK_SAME(out[5], 100.0);                /* 10 - 10 + 100: the -30 left */
    CHECK_SAME(out[6], log(100.05 / mid));    /* 2 mids ago: the 100.075 */
    CHECK_SAME(out[7], sqrt(var));
    /* the ask side empties: a one-sided row, e = 0, the return window untouched */
    CHECK_EQ(apply(e, m, itch_ref(m, 'D', 1, 4, 0), out), 1);
    CHECK_ROW(out, N, N, N, N, 1.0, 90.0, N, sqrt(var), 0.0); /* -10 + 100 + 0: the 10 left */
    CHECK_EQ(apply(e, m, itch_add(m, 'A', 1, 6, 'S', 10, 1001000), out), 1); /* two-sided again */
    CHECK_SAME(out[5], 100.0);                /* e = 0 (the touch before was one-sided): 100 + 0 + 0 */
    CHECK_SAME(out[6], 0.0);                  /* log(100.05 / 100.05): the windows went on where they were */
    ll_ml_engine_destroy(e);
}

/* ------------------------------------------------------------ streams */
static size_t tiny_stream(uint8_t *buf)
{
    uint8_t m[64];
    size_t at = 0;
    at = itch_frame(buf, at, m, itch_header(m, 'S', 0));
    at = itch_frame(buf, at, m, itch_header(m, 'R', 1));
    at = itch_frame(buf, at, m, itch_add(m, 'A', 1, 1, 'B', 100, 1000000));
    at = itch_frame(buf, at, m, itch_add(m, 'A', 1, 2, 'S', 300, 1001000));
    at = itch_frame(buf, at, m, 0);                           /* an empty frame: skipped */
    m[0] = 'P';
    at = itch_frame(buf, at, m, 44);                          /* an unknown type: skipped */
    at = itch_frame(buf, at, m, itch_ref(m, 'X', 1, 2, 200));
    at = itch_frame(buf, at, m, itch_add(m, 'A', 2, 3, 'B', 7, 5000));
    at = itch_frame(buf, at, m, itch_ref(m, 'E', 1, 1, 40));
    at = itch_frame(buf, at, m, itch_ref(m, 'D', 2, 3, 0));
    return at;
}

static void test_streams(void)
{
    uint8_t buf[1024];
    size_t len = tiny_stream(buf);
    CHECK_EQ(ll_ml_count_updates(buf, len), 6);
    CHECK_EQ(ll_ml_count_updates(buf, len - 1), 5); /* the last frame cut short */
    CHECK_EQ(ll_ml_count_updates(NULL, 0), 0);

    /* rows from the stream = rows from apply, message by message */
    ll_ml_engine *e = new_engine(50, 50), *f = new_engine(50, 50);
    double feats[6 * LL_ML_N_FEATURES], out[LL_ML_N_FEATURES];
    uint16_t locs[6];
    int64_t stamps[6];
    ll_book_err err;
    memset(&err, 0, sizeof err);
    CHECK_EQ(ll_ml_engine_apply_stream(e, buf, len, feats, locs, stamps, 6, &err), 6);
    size_t pos = 0;
    int row = 0;
    while (pos < len) {
        uint32_t n = ll_be16(buf + pos);
        int rc = n ? apply(f, buf + pos + 2, n, out) : 0;
        if (rc == LL_EUNKNOWNMSG)
            rc = 0;
        CHECK(rc >= 0);
        if (rc == 1) {
            for (int i = 0; i < LL_ML_N_FEATURES; i++)
                CHECK_SAME(feats[row * LL_ML_N_FEATURES + i], out[i]);
            CHECK_EQ(locs[row], ll_be16(buf + pos + 2 + LL_ITCH_OFF_LOCATE));
            CHECK_EQ(stamps[row], (int64_t)ll_be48(buf + pos + 2 + LL_ITCH_OFF_TIMESTAMP));
            row++;
        }
        pos += 2 + n;
    }
    CHECK_EQ(row, 6);
    CHECK(stamps[5] > stamps[0]);
    ll_ml_engine_destroy(e);
    ll_ml_engine_destroy(f);

    /* errors: where, and what the binding needs to word them */
    e = new_engine(50, 50);
    CHECK_EQ(ll_ml_engine_apply_stream(e, buf, len, feats, locs, stamps, 5, &err), LL_EINVAL); /* arrays full */
    ll_ml_engine_destroy(e);
    e = new_engine(50, 50);
    CHECK_EQ(ll_ml_engine_apply_stream(e, buf, len - 1, feats, locs, stamps, 6, &err), LL_ETRUNCATED);
    CHECK_EQ(err.what, LL_BOOK_TRUNC_BODY);
    CHECK_EQ(err.offset, len - 21);
    ll_ml_engine_destroy(e);
    uint8_t one[3] = {0, 19, 'D'};
    e = new_engine(50, 50);
    CHECK_EQ(ll_ml_engine_apply_stream(e, one, 1, feats, locs, stamps, 6, &err), LL_ETRUNCATED);
    CHECK_EQ(err.what, LL_BOOK_TRUNC_PREFIX);
    CHECK_EQ(err.offset, 0);
    one[1] = 1; /* a D frame of 1 byte */
    CHECK_EQ(ll_ml_engine_apply_stream(e, one, 3, feats, locs, stamps, 6, &err), LL_EBADFRAME);
    CHECK_EQ(err.type, 'D');
    uint8_t bad[256], m[64];
    size_t at = itch_frame(bad, 0, m, itch_add(m, 'A', 1, 1, 'B', 100, 1000000));
    size_t second = at;
    at = itch_frame(bad, at, m, itch_add(m, 'A', 1, 1, 'B', 100, 1000000)); /* a duplicate ref */
    CHECK_EQ(ll_ml_engine_apply_stream(e, bad, at, feats, locs, stamps, 6, &err), LL_EDUPORDER);
    CHECK_EQ(err.offset, second);
    CHECK_EQ(err.ref, 1);
    CHECK_EQ(ll_ml_engine_apply_stream(e, NULL, 10, feats, locs, stamps, 6, &err), LL_EINVAL);
    CHECK_EQ(ll_ml_engine_apply_stream(e, bad, 0, NULL, NULL, NULL, 0, &err), 0);
    ll_ml_engine_destroy(e);

    /* the feature timing kernel: one time per update, and the checksum of
     * the rows its timed calls produced = the checksum of apply_stream's rows */
    e = new_engine(50, 50);
    f = new_engine(50, 50);
    int64_t ns[6] = {-1, -1, -1, -1, -1, -1};
    uint64_t sum = 0;
    CHECK_EQ(ll_ml_engine_feature_times(e, buf, len, ns, &sum, 6, &err), 6);
    for (int i = 0; i < 6; i++)
        CHECK(ns[i] >= 0 && ns[i] < 1000000000);
    CHECK_EQ(ll_ml_engine_apply_stream(f, buf, len, feats, locs, stamps, 6, &err), 6);
    CHECK_EQ(sum, ll_ml_feature_checksum(feats, 6));
    CHECK(sum != ll_ml_feature_checksum(feats, 5)); /* not a constant */
    CHECK_EQ(ll_ml_engine_feature_times(e, buf, len, ns, NULL, 6, &err), LL_EINVAL);
    ll_ml_engine_destroy(e);
    ll_ml_engine_destroy(f);

    /* the checksum by hand: value k's bits times 2k + 1, mod 2^64 */
    double two[2 * LL_ML_N_FEATURES] = {0};
    two[0] = 1.0;                    /* bits 0x3ff0000000000000, k = 0: x 1 */
    two[LL_ML_N_FEATURES + 1] = 2.0; /* bits 0x4000000000000000, k = 10: x 21 */
    CHECK_EQ(ll_ml_feature_checksum(two, 2), 0x3ff0000000000000u + 0x4000000000000000u * 21u);
    two[0] = 0.0;
    two[1] = 1.0; /* the same value one place on: another sum */
    CHECK(ll_ml_feature_checksum(two, 2) != 0x3ff0000000000000u + 0x4000000000000000u * 21u);
    CHECK_EQ(ll_ml_feature_checksum(NULL, 0), 0);
}

/* ------------------------------------------------------------ the model */
static ll_ml_model *logistic(const uint32_t *cols)
{
    static const uint32_t widths[] = {2, 1};
    static const double mean[] = {1.0, 2.0}, scale[] = {2.0, 4.0}, w0[] = {0.5, -0.25}, b0[] = {0.1};
    const double *W[] = {w0}, *b[] = {b0};
    int err = 1;
    ll_ml_model *m = ll_ml_model_create(LL_ML_LOGISTIC, 1, widths, mean, scale, W, b, cols, &err);
    CHECK(m != NULL);
    CHECK_EQ(err, LL_OK);
    return m;
}

/* 2 -> 3 (ReLU) -> 1: W0 = [[1, -1, 0.5], [2, 1, -3]], b0 = [0, 0.5, 0.25]; W1 = [1, -2, 4], b1 = -0.5 */
static const uint32_t mlp_widths[] = {2, 3, 1};
static const double mlp_mean[] = {0.0, 1.0}, mlp_scale[] = {1.0, 2.0};
static const double mlp_w0[] = {1.0, -1.0, 0.5, 2.0, 1.0, -3.0}, mlp_b0[] = {0.0, 0.5, 0.25};
static const double mlp_w1[] = {1.0, -2.0, 4.0}, mlp_b1[] = {-0.5};

static ll_ml_model *mlp(void)
{
    static const uint32_t cols[] = {0, 1};
    const double *W[] = {mlp_w0, mlp_w1}, *b[] = {mlp_b0, mlp_b1};
    int err = 1;
    ll_ml_model *m = ll_ml_model_create(LL_ML_MLP, 2, mlp_widths, mlp_mean, mlp_scale, W, b, cols, &err);
    CHECK(m != NULL);
    CHECK_EQ(err, LL_OK);
    return m;
}

static double mlp_by_hand(double x0, double x1)
{
    double z0 = (x0 - 0.0) / 1.0, z1 = (x1 - 1.0) / 2.0;
    double h[3];
    for (int j = 0; j < 3; j++) {
        double a = 0.0 + z0 * mlp_w0[j];
        a = a + z1 * mlp_w0[3 + j];
        a = a + mlp_b0[j];
        h[j] = a < 0.0 ? 0.0 : a;
    }
    double o = 0.0 + h[0] * mlp_w1[0];
    o = o + h[1] * mlp_w1[1];
    o = o + h[2] * mlp_w1[2];
    o = o + mlp_b1[0];
    return 1.0 / (1.0 + exp(-o));
}

static void test_model(void)
{
    static const uint32_t cols[] = {5, 3};
    ll_ml_model *m = logistic(cols);
    double p = -1.0, x[2] = {3.0, 6.0}; /* standardised: (1, 1) */
    uint64_t bad[2] = {99, 99};
    CHECK_EQ(ll_ml_predict_one(m, x, 2, &p, bad), LL_OK);
    CHECK_SAME(p, 1.0 / (1.0 + exp(-((0.0 + 1.0 * 0.5 + 1.0 * -0.25) + 0.1))));
    CHECK(fabs(p - 1.0 / (1.0 + exp(-0.35))) < 1e-15);
    CHECK_EQ(ll_ml_predict_one(m, x, 3, &p, bad), LL_EINVAL);
    x[1] = INFINITY;
    CHECK_EQ(ll_ml_predict_one(m, x, 2, &p, bad), LL_ENONFINITE);
    CHECK_EQ(bad[0], 1);
    ll_ml_model_destroy(m);
    ll_ml_model_destroy(NULL);

    /* the MLP: 7 rows, so a block of 4 and a tail of 3 */
    m = mlp();
    double X[14] = {0.0, 1.0, 1.0, 1.0, -1.0, 3.0, 2.5, -4.0, 0.3, 0.7, -2.0, -2.0, 10.0, 0.0};
    double out[14], one;
    CHECK_EQ(ll_ml_predict_proba(m, X, 7, 2, out, bad), 7);
    for (int i = 0; i < 7; i++) {
        double want = mlp_by_hand(X[2 * i], X[2 * i + 1]);
        CHECK_SAME(out[2 * i + 1], want);
        CHECK_SAME(out[2 * i], 1.0 - want);
        CHECK_EQ(ll_ml_predict_one(m, X + 2 * i, 2, &one, bad), LL_OK);
        CHECK_SAME(one, out[2 * i + 1]); /* a row alone = the row in a block */
    }
    CHECK_EQ(ll_ml_predict_proba(m, X, 0, 2, NULL, bad), 0);
    CHECK_EQ(ll_ml_predict_proba(m, X, 7, 3, out, bad), LL_EINVAL);
    X[11] = NAN; /* row 5, column 1 */
    X[13] = NAN;
    CHECK_EQ(ll_ml_predict_proba(m, X, 7, 2, out, bad), LL_ENONFINITE);
    CHECK_EQ(bad[0], 5);
    CHECK_EQ(bad[1], 1);
    X[2] = -INFINITY; /* row 1, column 0: in the first block */
    CHECK_EQ(ll_ml_predict_proba(m, X, 7, 2, out, bad), LL_ENONFINITE);
    CHECK_EQ(bad[0], 1);
    CHECK_EQ(bad[1], 0);
    CHECK_EQ(ll_ml_predict_times(m, X, 7, 2, (int64_t[7]){0}, bad), LL_ENONFINITE);
    CHECK_EQ(bad[0], 1);
    CHECK_EQ(ll_ml_batch_ns(m, X, 7, 2, 3, 7, out, bad), LL_ENONFINITE);
    X[2] = 1.0;
    X[11] = X[13] = 0.5;
    int64_t ns[7];
    CHECK_EQ(ll_ml_predict_times(m, X, 7, 2, ns, bad), 7);
    for (int i = 0; i < 7; i++)
        CHECK(ns[i] >= 0 && ns[i] < 1000000000);
    CHECK(ll_ml_batch_ns(m, X, 7, 2, 3, 7, out, bad) >= 0);
    CHECK_SAME(out[3], mlp_by_hand(1.0, 1.0));
    /* in calls of 1, 2, 3 (the last call short) or 8 rows: the same rows out */
    double want[14];
    CHECK_EQ(ll_ml_predict_proba(m, X, 7, 2, want, bad), 7);
    for (uint64_t batch = 1; batch <= 8; batch++) {
        memset(out, 0, sizeof out);
        CHECK(ll_ml_batch_ns(m, X, 7, 2, 2, batch, out, bad) >= 0);
        for (int i = 0; i < 14; i++)
            CHECK_SAME(out[i], want[i]);
    }
    CHECK_EQ(ll_ml_batch_ns(m, X, 7, 2, 1, 0, out, bad), LL_EINVAL); /* a call of 0 rows */
    X[9] = NAN;                                                     /* row 4: in the third call of 2 rows */
    CHECK_EQ(ll_ml_batch_ns(m, X, 7, 2, 1, 2, out, bad), LL_ENONFINITE);
    CHECK_EQ(bad[0], 4); /* the row in X, not in its call */
    CHECK_EQ(bad[1], 1);
    ll_ml_model_destroy(m);
}

/* every kernel variant this CPU has gives the same bits, one row and in blocks */
static void test_isa_variants(void)
{
    enum { K = 7, H = 37, N = 11 }; /* widths that are not multiples of the lanes, a partial block */
    static double w0[K * H], b0[H], w1[H * H], b1[H], w2[H], b2[1], mean[K], scale[K], X[N * K];
    uint64_t s = 12345;
#define RND() ((double)((s = s * 6364136223846793005ull + 1442695040888963407ull) >> 11) / 9007199254740992.0 - 0.5)
    for (int i = 0; i < K * H; i++)
        w0[i] = RND();
    for (int i = 0; i < H * H; i++)
        w1[i] = RND() / 3;
    for (int i = 0; i < H; i++) {
        b0[i] = b1[i] = RND();
        w2[i] = RND();
    }
    b2[0] = 0.1;
    for (int i = 0; i < K; i++) {
        mean[i] = RND();
        scale[i] = 1.0 + RND();
    }
    for (int i = 0; i < N * K; i++)
        X[i] = 4 * RND();
#undef RND
    const uint32_t widths[] = {K, H, H, 1}, cols[K] = {0, 1, 2, 3, 4, 5, 6};
    const double *W[] = {w0, w1, w2}, *b[] = {b0, b1, b2};
    int err;
    ll_ml_model *m = ll_ml_model_create(LL_ML_MLP, 3, widths, mean, scale, W, b, cols, &err);
    CHECK(m != NULL);
    int best = ll_ml_model_isa(m, -1);
    CHECK(best >= 0 && best <= 2);
    double ref[2 * N], out[2 * N], one;
    uint64_t bad[2];
    CHECK_EQ(ll_ml_model_isa(m, 0), 0);
    CHECK_EQ(ll_ml_predict_proba(m, X, N, K, ref, bad), N);
    int variants = 0;
    for (int isa = 0; isa <= 2; isa++) {
        if (ll_ml_model_isa(m, isa) != isa)
            continue;
        variants++;
        CHECK_EQ(ll_ml_predict_proba(m, X, N, K, out, bad), N);
        for (int i = 0; i < N; i++) {
            CHECK_SAME(out[2 * i + 1], ref[2 * i + 1]);
            CHECK_EQ(ll_ml_predict_one(m, X + i * K, K, &one, bad), LL_OK);
            CHECK_SAME(one, ref[2 * i + 1]);
        }
    }
    CHECK(variants >= 1);
    /* and a naive scalar forward pass, the sums in the same order: the same bits */
    for (int n = 0; n < N; n++) {
        double a0[H], a1[H], z[K], o = 0.0;
        for (int j = 0; j < K; j++)
            z[j] = (X[n * K + j] - mean[j]) / scale[j];
        for (int j = 0; j < H; j++) {
            double acc = 0.0;
            for (int i = 0; i < K; i++)
                acc += z[i] * w0[i * H + j];
            acc = acc + b0[j];
            a0[j] = acc < 0.0 ? 0.0 : acc;
        }
        for (int j = 0; j < H; j++) {
            double acc = 0.0;
            for (int i = 0; i < H; i++)
                acc += a0[i] * w1[i * H + j];
            acc = acc + b1[j];
            a1[j] = acc < 0.0 ? 0.0 : acc;
        }
        for (int i = 0; i < H; i++)
            o += a1[i] * w2[i];
        o = o + b2[0];
        CHECK_SAME(ref[2 * n + 1], 1.0 / (1.0 + exp(-o)));
        CHECK_SAME(ref[2 * n], 1.0 - ref[2 * n + 1]);
    }
    printf("kernel variants compared: %d (create picked %d)\n", variants, best);
    CHECK_EQ(ll_ml_model_isa(m, 3), LL_EINVAL);
    CHECK_EQ(ll_ml_model_isa(NULL, 0), LL_EINVAL);
    ll_ml_model_destroy(m);
}

static void test_bad_models(void)
{
    uint32_t widths[] = {2, 3, 1}, cols[] = {0, 1};
    double mean[] = {0.0, 1.0}, scale[] = {1.0, 2.0}, w0[6], b0[3], w1[3], b1[1];
    memcpy(w0, mlp_w0, sizeof w0);
    memcpy(b0, mlp_b0, sizeof b0);
    memcpy(w1, mlp_w1, sizeof w1);
    memcpy(b1, mlp_b1, sizeof b1);
    const double *W[] = {w0, w1}, *b[] = {b0, b1};
    int err = 0;
#define REJECTED(kind, n, code)                                                                                   \
    do {                                                                                                          \
        err = 0;                                                                                                  \
        CHECK(ll_ml_model_create(kind, n, widths, mean, scale, W, b, cols, &err) == NULL);                        \
        CHECK_EQ(err, code);                                                                                      \
    } while (0)
    ll_ml_model *m = ll_ml_model_create(LL_ML_MLP, 2, widths, mean, scale, W, b, cols, &err);
    CHECK(m != NULL);
    ll_ml_model_destroy(m);
    REJECTED(LL_ML_LOGISTIC, 2, LL_EBADMODEL); /* a logistic model has one layer */
    REJECTED(7, 2, LL_EBADMODEL);
    REJECTED(LL_ML_MLP, 0, LL_EBADMODEL);
    REJECTED(LL_ML_MLP, LL_ML_MAX_LAYERS + 1, LL_EBADMODEL);
    REJECTED(LL_ML_MLP, 1, LL_EBADMODEL); /* layer 0 has 3 outputs: not a binary model */
    scale[1] = 0.0;
    REJECTED(LL_ML_MLP, 2, LL_EBADMODEL);
    scale[1] = -1.0;
    REJECTED(LL_ML_MLP, 2, LL_EBADMODEL);
    scale[1] = 2.0;
    mean[0] = NAN;
    REJECTED(LL_ML_MLP, 2, LL_EBADMODEL);
    mean[0] = 0.0;
    w0[4] = INFINITY;
    REJECTED(LL_ML_MLP, 2, LL_EBADMODEL);
    w0[4] = 1.0;
    b1[0] = NAN;
    REJECTED(LL_ML_MLP, 2, LL_EBADMODEL);
    b1[0] = -0.5;
    cols[1] = LL_ML_N_FEATURES;
    REJECTED(LL_ML_MLP, 2, LL_EBADMODEL);
    cols[1] = 1;
    widths[1] = 0;
    REJECTED(LL_ML_MLP, 2, LL_EBADMODEL);
    widths[1] = 3;
    widths[2] = 2;
    REJECTED(LL_ML_MLP, 2, LL_EBADMODEL);
    widths[2] = 1;
    W[1] = NULL;
    REJECTED(LL_ML_MLP, 2, LL_EBADMODEL);
    W[1] = w1;
    CHECK(ll_ml_model_create(LL_ML_MLP, 2, widths, NULL, scale, W, b, cols, &err) == NULL);
    CHECK_EQ(err, LL_EINVAL);
    m = ll_ml_model_create(LL_ML_MLP, 2, widths, mean, scale, W, b, cols, NULL); /* err may be NULL */
    CHECK(m != NULL);
    ll_ml_model_destroy(m);
#undef REJECTED
}

/* ------------------------------------------------------------ the pipeline */
static void test_pipeline(void)
{
    static const uint32_t cols[] = {5, 3}; /* ofi, l1_imbalance */
    ll_ml_model *m = logistic(cols);
    ll_ml_engine *e = new_engine(50, 50);
    uint8_t buf[1024];
    size_t len = tiny_stream(buf);
    ll_book_err err;
    double p, row[LL_ML_N_FEATURES], sigs[6];
    int n_sig = 0;
    size_t pos = 0;
    ll_ml_engine *f = new_engine(50, 50);
    while (pos < len) {
        uint32_t n = ll_be16(buf + pos);
        uint8_t t = n ? buf[pos + 2] : 0;
        if (n && ll_itch_size(t)) {
            p = -1.0;
            int rc = ll_ml_pipeline_on_message(e, m, buf + pos + 2, n, &p, &err);
            int rf = apply(f, buf + pos + 2, n, row);
            CHECK(rc >= 0 && rf >= 0);
            int finite = rf == 1 && isfinite(row[5]) && isfinite(row[3]);
            CHECK_EQ(rc, finite);
            if (rc == 1) {
                double x[2] = {row[5], row[3]}, q;
                uint64_t bad;
                CHECK_EQ(ll_ml_predict_one(m, x, 2, &q, &bad), LL_OK);
                CHECK_SAME(p, q);
                sigs[n_sig++] = p;
            } else {
                CHECK_SAME(p, -1.0);
            }
        }
        pos += 2 + n;
    }
    CHECK_EQ(n_sig, 3); /* the ask arrives, the cancel, the execution (instrument 2 is one-sided) */
    ll_ml_engine_destroy(e);
    ll_ml_engine_destroy(f);

    e = new_engine(50, 50);
    int64_t ns[6];
    double sig[6];
    CHECK_EQ(ll_ml_pipeline_run_timed(e, m, buf, len, ns, sig, 6, &err), 3);
    for (int i = 0; i < 3; i++) {
        CHECK_SAME(sig[i], sigs[i]);
        CHECK(ns[i] >= 0 && ns[i] < 1000000000);
    }
    ll_ml_engine_destroy(e);
    e = new_engine(50, 50);
    CHECK_EQ(ll_ml_pipeline_run_timed(e, m, buf, len, ns, sig, 2, &err), LL_EINVAL); /* room for 2 only */
    CHECK_EQ(ll_ml_pipeline_run_timed(e, NULL, buf, len, ns, sig, 6, &err), LL_EINVAL);
    CHECK_EQ(ll_ml_pipeline_on_message(e, m, buf, 0, &p, &err), LL_ETRUNCATED);
    ll_ml_engine_destroy(e);
    ll_ml_model_destroy(m);
}

int main(void)
{
    test_by_hand();
    test_create_checks();
    test_windows();
    test_streams();
    test_model();
    test_isa_variants();
    test_bad_models();
    test_pipeline();
    return check_summary();
}
