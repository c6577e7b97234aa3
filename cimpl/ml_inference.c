/*
 * ml_inference.c - lab 6: order-book features on every book update and a
 * small dense model evaluated on them, with the semantics of
 * pyimpl/ml_inference.py (the reference: the same feature bits, the same
 * probabilities within 1e-12).
 *
 * Features.  The engine owns a lab 5 book (cimpl/order_book.c is compiled
 * into this library) and, per stock locate, the state pyimpl's _State holds:
 * the touch after the last update, the OFI ring (int64: the terms are
 * integers, so the running sum stays exact when the oldest term leaves), the
 * ring of the last RETURN_WINDOW mids, the EWMA variance and trade
 * intensity.  Each update is O(1): one depth query of DEPTH_LEVELS levels a
 * side, a ring slot each, a handful of divisions, one or two log()s and a
 * sqrt().  To give pyimpl's bits, every formula is the same float64
 * operations in the same order as pyimpl's Python expressions (Python
 * evaluates a * b * c as (a * b) * c, converts an int operand to float
 * exactly below 2^53, and its int / int is the correctly rounded quotient,
 * which for operands below 2^53 is one IEEE division of the converted
 * values), log/sqrt are libm's (math.log and math.sqrt call the same), and
 * meson builds this file with -ffp-contract=off so the compiler never fuses a
 * multiply and an add into an FMA (one rounding instead of two).
 *
 * The state of all 65536 locates is one calloc'ed table (each entry padded
 * to a cache-line multiple, the rings right after its scalars), indexed by
 * locate: no lookup, no allocation on the hot path, and the kernel only backs
 * the pages of the locates a stream actually uses (~900 bytes each with the
 * default windows; 58 MB of address space in all).  All zeros is the initial
 * state, as pyimpl's _State() is for a locate it has not seen.
 *
 * The model.  pyimpl computes a = (x - mean) / scale, then a = a @ W + b per
 * layer, ReLU between, 1 / (1 + exp(-a)) at the end.  Here each W is kept in
 * NumPy's (in, out) orientation, row-major, NOT transposed, every row padded
 * with zeros to a multiple of LANES (8) outputs, 64-byte aligned (one block
 * for the whole model).  The inner loop runs over a tile of outputs for one
 * input i: broadcast a[i], multiply a contiguous, aligned slice of W's row i,
 * add into accumulators that stay in registers for the whole sum (see "the
 * kernels" below).  Every output accumulates its own sum in input order, so
 * the loop is SIMD across outputs without reassociating any sum.  A
 * transposed W would make the inner loop a dot product over i: a reduction,
 * which the compiler may not vectorise without -ffast-math's reassociation
 * (which would change the bits from one build to the next).  The batch path runs BLOCK (4)
 * rows through a tile together: each W vector is loaded once for 4 rows.  A
 * row gives the same bits alone or in a block, in any kernel variant (the
 * same operations per output), so predict_one equals predict_proba's column
 * 1 exactly.  Against NumPy the sums differ in order (BLAS blocks and uses
 * FMA): ~1e-16, far inside the 1e-12 the tests ask.
 *
 * Scratch (the activations of BLOCK rows, twice, for the widest layer) is
 * allocated with the model: predicting allocates nothing, and a model is for
 * one thread at a time.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "itch.h"
#include "ml_inference.h"

#define N_LOCATES 65536
#define LANES 8  /* outputs per accumulator block: one cache line of W per input */
#define BLOCK 4  /* rows per block in the batch path */

/* ------------------------------------------------------------ features */

/* One locate's state: 80 bytes of scalars, then int64 ofi_ring[ofi_window]
 * and double mid_ring[return_window] (offsets in the engine). */
typedef struct {
    int64_t bid, bid_size, ask, ask_size; /* the touch after the last update (bid 0: none) */
    int64_t ofi;                          /* the sum of the OFI ring */
    uint64_t mids;                        /* mids seen */
    double last_mid, var, intensity;
    uint32_t ofi_pos, mid_pos;
} ml_state;

struct ll_ml_engine {
    ll_book *book;
    uint8_t *states; /* N_LOCATES entries of `stride` bytes */
    size_t stride, ofi_off, mid_off;
    uint32_t depth, ofi_w, ret_w;
    double lambda, one_minus_lambda; /* VOL_LAMBDA and (1.0 - VOL_LAMBDA), as Python computes it */
    double alpha, one_minus_alpha;   /* TRADE_ALPHA and (1.0 - TRADE_ALPHA) */
    double price, two_price;         /* PRICE and 2 * PRICE */
};

static inline size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

LL_EXPORT ll_ml_engine *ll_ml_engine_create(uint64_t max_orders, uint64_t max_instruments, uint32_t depth_levels,
                                            uint32_t ofi_window, uint32_t return_window, double vol_lambda,
                                            double trade_alpha, double price_scale, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    if (depth_levels == 0 || depth_levels > LL_ML_MAX_DEPTH || ofi_window == 0 || ofi_window > LL_ML_MAX_WINDOW ||
        return_window == 0 || return_window > LL_ML_MAX_WINDOW || !(vol_lambda >= 0.0 && vol_lambda <= 1.0) ||
        !(trade_alpha >= 0.0 && trade_alpha <= 1.0) || !(price_scale > 0.0 && isfinite(price_scale))) {
        *err = LL_EINVAL;
        return NULL;
    }
    ll_ml_engine *e = calloc(1, sizeof *e);
    if (e == NULL) {
        *err = LL_ENORES;
        return NULL;
    }
    e->book = ll_book_create(max_orders, max_instruments, err);
    if (e->book == NULL) {
        free(e);
        return NULL;
    }
    e->depth = depth_levels;
    e->ofi_w = ofi_window;
    e->ret_w = return_window;
    e->lambda = vol_lambda;
    e->one_minus_lambda = 1.0 - vol_lambda;
    e->alpha = trade_alpha;
    e->one_minus_alpha = 1.0 - trade_alpha;
    e->price = price_scale;
    e->two_price = 2 * price_scale;
    e->ofi_off = sizeof(ml_state);
    e->mid_off = e->ofi_off + (size_t)ofi_window * sizeof(int64_t);
    e->stride = round64(e->mid_off + (size_t)return_window * sizeof(double));
    e->states = calloc(N_LOCATES, e->stride); /* zero pages, backed when first touched */
    if (e->states == NULL) {
        ll_book_destroy(e->book);
        free(e);
        *err = LL_ENORES;
        return NULL;
    }
    *err = LL_OK;
    return e;
}

LL_EXPORT void ll_ml_engine_destroy(ll_ml_engine *e)
{
    if (e == NULL)
        return;
    ll_book_destroy(e->book);
    free(e->states);
    free(e);
}

/* pyimpl's FeatureEngine.update, operation for operation (see the header
 * comment); locate < N_LOCATES. */
static inline void features(ll_ml_engine *e, uint32_t locate, uint64_t executed, double *out)
{
    uint8_t *raw = e->states + (size_t)locate * e->stride;
    ml_state *st = (ml_state *)raw;
    int64_t *ofi_ring = (int64_t *)(raw + e->ofi_off);
    double *mid_ring = (double *)(raw + e->mid_off);
    uint64_t bids[3 * LL_ML_MAX_DEPTH], asks[3 * LL_ML_MAX_DEPTH];
    uint64_t got = (uint64_t)ll_book_depth(e->book, locate, e->depth, bids, asks);
    uint32_t nb = (uint32_t)got, na = (uint32_t)(got >> 32);
    int64_t bid = 0, bid_size = 0, ask = 0, ask_size = 0;
    if (nb && na) {
        bid = (int64_t)bids[0];
        bid_size = (int64_t)bids[1];
        ask = (int64_t)asks[0];
        ask_size = (int64_t)asks[1];
    }
    /* order-flow imbalance of this update against the previous touch */
    int64_t ev = 0;
    if (bid && st->bid)
        ev = (bid >= st->bid ? bid_size : 0) - (bid <= st->bid ? st->bid_size : 0) - (ask <= st->ask ? ask_size : 0) +
             (ask >= st->ask ? st->ask_size : 0);
    st->ofi += ev - ofi_ring[st->ofi_pos];
    ofi_ring[st->ofi_pos] = ev;
    st->ofi_pos = st->ofi_pos + 1 == e->ofi_w ? 0 : st->ofi_pos + 1;
    st->bid = bid;
    st->bid_size = bid_size;
    st->ask = ask;
    st->ask_size = ask_size;
    st->intensity = e->one_minus_alpha * st->intensity + e->alpha * (double)executed;
    uint64_t b5 = 0, a5 = 0;
    for (uint32_t i = 0; i < nb; i++)
        b5 += bids[3 * i + 1];
    for (uint32_t i = 0; i < na; i++)
        a5 += asks[3 * i + 1];
    double depth = b5 + a5 ? (double)((int64_t)b5 - (int64_t)a5) / (double)(b5 + a5) : NAN;
    if (!bid) {
        out[0] = out[1] = out[2] = out[3] = NAN;
        out[4] = depth;
        out[5] = (double)st->ofi;
        out[6] = NAN;
        out[7] = sqrt(st->var);
        out[8] = st->intensity;
        return;
    }
    double mid = (double)(bid + ask) / e->two_price;
    double spread = (double)(ask - bid) / e->price;
    double micro = ((double)bid * (double)ask_size + (double)ask * (double)bid_size) / (double)(bid_size + ask_size) /
                   e->price;
    double l1 = (double)(bid_size - ask_size) / (double)(bid_size + ask_size);
    if (st->mids) { /* the one-update return feeds the volatility */
        double r = log(mid / st->last_mid);
        st->var = e->lambda * st->var + e->one_minus_lambda * r * r;
    }
    double old = mid_ring[st->mid_pos]; /* the mid RETURN_WINDOW mids ago (once there are that many) */
    double ret = st->mids >= e->ret_w ? log(mid / old) : NAN;
    mid_ring[st->mid_pos] = mid;
    st->mid_pos = st->mid_pos + 1 == e->ret_w ? 0 : st->mid_pos + 1;
    st->mids++;
    st->last_mid = mid;
    out[0] = spread;
    out[1] = mid;
    out[2] = micro;
    out[3] = l1;
    out[4] = depth;
    out[5] = (double)st->ofi;
    out[6] = ret;
    out[7] = sqrt(st->var);
    out[8] = st->intensity;
}

LL_EXPORT int ll_ml_engine_update(ll_ml_engine *e, uint32_t locate, uint64_t executed, double *out)
{
    if (e == NULL || out == NULL || locate >= N_LOCATES)
        return LL_EINVAL;
    features(e, locate, executed, out);
    return LL_OK;
}

/* The shares an E or C message executes (0 for the other types). */
static inline uint64_t executed_shares(const uint8_t *m)
{
    return m[0] == 'E' || m[0] == 'C' ? ll_be32(m + LL_ITCH_OFF_E_SHARES) : 0;
}

LL_EXPORT int ll_ml_engine_apply(ll_ml_engine *e, const uint8_t *msg, uint64_t len, double *out, ll_book_err *err)
{
    if (e == NULL || out == NULL || err == NULL || (msg == NULL && len > 0))
        return LL_EINVAL;
    int rc = ll_book_apply(e->book, msg, len, err);
    if (rc <= 0)
        return rc;
    features(e, ll_be16(msg + LL_ITCH_OFF_LOCATE), executed_shares(msg), out);
    return 1;
}

static inline int is_update(uint8_t t) { return ll_itch_size(t) != 0 && t != 'S' && t != 'R'; }

LL_EXPORT int64_t ll_ml_count_updates(const uint8_t *buf, uint64_t len)
{
    if (buf == NULL && len > 0)
        return LL_EINVAL;
    int64_t k = 0;
    uint64_t pos = 0;
    while (len - pos >= 2) {
        uint32_t n = ll_be16(buf + pos);
        if (n > len - pos - 2)
            break;
        if (n > 0 && is_update(buf[pos + 2]))
            k++;
        pos += 2 + (uint64_t)n;
    }
    return k;
}

enum { RUN_ROWS, RUN_FEATURE_TIMES, RUN_PIPELINE };

/* Row r's share of the checksum of feature rows (pyimpl's feature_checksum):
 * the IEEE bits of value k (row-major, k = r * LL_ML_N_FEATURES + column)
 * times 2k + 1, summed mod 2^64.  An odd multiplier is invertible mod 2^64,
 * so changing any one value, or moving it, changes the sum. */
static inline uint64_t checksum_row(const double *row, uint64_t r)
{
    uint64_t s = 0, k = r * LL_ML_N_FEATURES;
    for (uint64_t j = 0; j < LL_ML_N_FEATURES; j++) {
        uint64_t bits;
        memcpy(&bits, &row[j], sizeof bits);
        s += bits * (2 * (k + j) + 1);
    }
    return s;
}

LL_EXPORT uint64_t ll_ml_feature_checksum(const double *features, uint64_t rows)
{
    uint64_t s = 0;
    for (uint64_t r = 0; features != NULL && r < rows; r++)
        s += checksum_row(features + (size_t)r * LL_ML_N_FEATURES, r);
    return s;
}

static inline int64_t frame_error(ll_book_err *err, int code, uint64_t pos)
{
    err->code = code;
    err->offset = pos;
    return code;
}

static inline double predict_row(ll_ml_model *m, const double *x);
static inline int gather(const ll_ml_model *m, const double *row, double **x);

/* The framed-stream loop of apply_stream, feature_times and run_timed (one
 * body, the mode a constant at each call site): pyimpl's apply_stream's
 * framing and errors, with err filled as ll_book_apply_stream fills it.
 * feature_times also sums the checksum of the rows its timed calls produced
 * into *checksum (on success). */
static inline int64_t run_stream(ll_ml_engine *e, ll_ml_model *m, const uint8_t *buf, uint64_t len, const int mode,
                                 double *feats, uint16_t *locs, int64_t *stamps, int64_t *ns, double *sig,
                                 uint64_t *checksum, uint64_t max_rows, ll_book_err *err)
{
    uint64_t pos = 0, rows = 0, sum = 0;
    double row[LL_ML_N_FEATURES];
    while (pos < len) {
        uint64_t t0 = mode == RUN_PIPELINE ? ll_now_ns() : 0;
        if (len - pos < 2) {
            err->what = LL_BOOK_TRUNC_PREFIX;
            return frame_error(err, LL_ETRUNCATED, pos);
        }
        uint32_t n = ll_be16(buf + pos);
        uint64_t body = pos + 2;
        if (n > len - body) {
            err->what = LL_BOOK_TRUNC_BODY;
            return frame_error(err, LL_ETRUNCATED, pos);
        }
        const uint8_t *msg = buf + body;
        uint32_t size = n ? ll_itch_size(msg[0]) : 0;
        if (size != 0) { /* a known type (unknown ones and empty frames are skipped) */
            if (size != n) {
                err->type = msg[0];
                return frame_error(err, LL_EBADFRAME, pos);
            }
            if (rows >= max_rows && is_update(msg[0]))
                return frame_error(err, LL_EINVAL, pos); /* the caller's arrays are full */
            int r = ll_book_apply(e->book, msg, n, err);
            if (r < 0) {
                err->offset = pos;
                return r;
            }
            if (r > 0) {
                uint32_t locate = ll_be16(msg + LL_ITCH_OFF_LOCATE);
                uint64_t executed = executed_shares(msg);
                if (mode == RUN_ROWS) {
                    features(e, locate, executed, feats + (size_t)LL_ML_N_FEATURES * rows);
                    locs[rows] = (uint16_t)locate;
                    stamps[rows] = (int64_t)ll_be48(msg + LL_ITCH_OFF_TIMESTAMP);
                    rows++;
                } else if (mode == RUN_FEATURE_TIMES) {
                    uint64_t t1 = ll_now_ns();
                    features(e, locate, executed, row);
                    /* The sink.  Nothing else reads `row` before the clock:
                     * were features() inlined, the compiler could drop or sink
                     * the arithmetic of the values only the row holds.  The
                     * empty asm takes the row's address and may read memory,
                     * so all nine values are computed and stored before the
                     * second clock read; the checksum after it (untimed)
                     * lets the caller check which values the timed path made. */
                    __asm__ __volatile__("" : : "r"(row) : "memory");
                    ns[rows] = (int64_t)(ll_now_ns() - t1);
                    sum += checksum_row(row, rows);
                    rows++;
                } else {
                    double *x;
                    features(e, locate, executed, row);
                    if (gather(m, row, &x)) {
                        double p = predict_row(m, x);
                        ns[rows] = (int64_t)(ll_now_ns() - t0);
                        sig[rows++] = p;
                    }
                }
            }
        }
        pos = body + n;
    }
    if (mode == RUN_FEATURE_TIMES)
        *checksum = sum;
    return (int64_t)rows;
}

LL_EXPORT int64_t ll_ml_engine_apply_stream(ll_ml_engine *e, const uint8_t *buf, uint64_t len, double *features_out,
                                            uint16_t *locates, int64_t *timestamps, uint64_t max_rows,
                                            ll_book_err *err)
{
    if (e == NULL || err == NULL || (buf == NULL && len > 0) ||
        (max_rows > 0 && (features_out == NULL || locates == NULL || timestamps == NULL)))
        return LL_EINVAL;
    return run_stream(e, NULL, buf, len, RUN_ROWS, features_out, locates, timestamps, NULL, NULL, NULL, max_rows,
                      err);
}

LL_EXPORT int64_t ll_ml_engine_feature_times(ll_ml_engine *e, const uint8_t *buf, uint64_t len, int64_t *ns,
                                             uint64_t *checksum, uint64_t max_rows, ll_book_err *err)
{
    if (e == NULL || err == NULL || checksum == NULL || (buf == NULL && len > 0) || (max_rows > 0 && ns == NULL))
        return LL_EINVAL;
    return run_stream(e, NULL, buf, len, RUN_FEATURE_TIMES, NULL, NULL, NULL, ns, NULL, checksum, max_rows, err);
}

/* ------------------------------------------------------------ the model */

typedef struct {
    const double *W; /* in x ow, row-major, zero padding columns */
    const double *b; /* ow, zero padding */
    uint32_t in, out, ow; /* ow: out padded to LANES */
} ml_layer;

typedef void (*forward_fn)(ll_ml_model *m, double *p);

struct ll_ml_model {
    uint32_t kind, n_layers, n_in, width; /* width: the widest padded activation (>= n_in) */
    ml_layer layer[LL_ML_MAX_LAYERS];
    const double *mean, *scale;
    const uint32_t *cols; /* n_in feature row columns */
    double *x;            /* n_in: the pipeline's gathered input */
    double *s0, *s1;      /* BLOCK x width each: activations, ping-pong */
    forward_fn fwd1, fwdb; /* s0's standardised rows through the layers: one row, BLOCK rows */
    int isa;               /* the kernels in use: ISA_* */
    double sink;           /* keeps the timed predictions alive */
    void *mem;             /* the one 64-byte aligned block all of the above point into */
};

/* ---- the kernels
 *
 * One dense layer for R rows (1, or BLOCK in the batch path), a tile of JT
 * vectors of VW outputs at a time: for each input i, broadcast a[r][i] and
 * add a[r][i] * W[i][j0 .. j0 + JT * VW) into JT accumulators per row, which
 * stay in registers for the whole sum.  JT is chosen so that R x JT
 * accumulators fill about half the register file: enough independent add
 * chains to hide the add latency (4 cycles, 2 per cycle), few enough not to
 * spill.  Outputs past the last full tile go one vector at a time.  The
 * vectors are GCC's vector extension: element-wise IEEE operations, so a
 * variant, a tile or a block gives each output the same operations in the
 * same order, hence the same bits (tested across variants in
 * tests/c/test_ml_inference.c).  (A plain loop left to the auto-vectoriser
 * was vectorised across inputs, with in-order scalar adds: 3x slower.)
 *
 * Variants: the baseline (SSE2 on x86-64: 2 doubles a vector) and, on
 * x86-64, AVX2 (4) and AVX-512F (8) compiled with target attributes and
 * picked at model create time from the CPU (__builtin_cpu_supports): the
 * portable build then still uses the wide registers where they exist.  No
 * FMA in any of them: -ffp-contract=off. */
#define JTMAX 8

#define DEFINE_KERNELS(SUF, ATTR, VW, JT1, JTB)                                                                   \
    typedef double SUF##_v __attribute__((vector_size((VW) * sizeof(double))));                                 \
    typedef int64_t SUF##_m __attribute__((vector_size((VW) * sizeof(double))));                                 \
    static inline __attribute__((always_inline)) ATTR void SUF##_tile(                                           \
        const int R, const int JT, const double *restrict a, uint32_t lda, const ml_layer *L, uint32_t j0,     \
        double *restrict out, uint32_t ldo, int relu)                                                          \
    {                                                                                                            \
        const SUF##_v zero = {0.0};                                                                              \
        SUF##_v acc[BLOCK][JTMAX];                                                                               \
        for (int r = 0; r < R; r++)                                                                              \
            for (int q = 0; q < JT; q++)                                                                         \
                acc[r][q] = zero;                                                                                \
        const double *w = L->W + j0;                                                                            \
        for (uint32_t i = 0; i < L->in; i++, w += L->ow) {                                                      \
            double ar[BLOCK];                                                                                    \
            for (int r = 0; r < R; r++)                                                                          \
                ar[r] = a[(size_t)r * lda + i];                                                                  \
            for (int q = 0; q < JT; q++) { /* each W vector loaded once, used by the R rows */                   \
                SUF##_v wv;                                                                                      \
                memcpy(&wv, w + q * (VW), sizeof wv); /* aligned: rows are padded to LANES doubles */            \
                for (int r = 0; r < R; r++)                                                                      \
                    acc[r][q] += ar[r] * wv;                                                                     \
            }                                                                                                    \
        }                                                                                                        \
        for (int r = 0; r < R; r++)                                                                              \
            for (int q = 0; q < JT; q++) {                                                                       \
                SUF##_v bv, v;                                                                                   \
                memcpy(&bv, L->b + j0 + q * (VW), sizeof bv);                                                   \
                v = acc[r][q] + bv; /* (a @ W) + b, as NumPy */                                                  \
                if (relu) {         /* v < 0 ? +0 : v per element; a NaN stays, as with np.maximum */            \
                    SUF##_m bits, neg = v < zero;                                                                \
                    memcpy(&bits, &v, sizeof v);                                                                 \
                    bits &= ~neg;                                                                                \
                    memcpy(&v, &bits, sizeof v);                                                                 \
                }                                                                                                \
                memcpy(out + (size_t)r * ldo + j0 + q * (VW), &v, sizeof v);                                    \
            }                                                                                                    \
    }                                                                                                            \
    static inline __attribute__((always_inline)) ATTR void SUF##_forward(ll_ml_model *m, const int R,           \
                                                                         const int JT, double *p)               \
    {                                                                                                            \
        double *cur = m->s0, *nxt = m->s1;                                                                      \
        const uint32_t ld = m->width, last = m->n_layers - 1;                                                   \
        for (uint32_t l = 0; l <= last; l++) {                                                                   \
            const ml_layer *L = &m->layer[l];                                                                   \
            uint32_t j0 = 0;                                                                                     \
            for (; j0 + JT * (VW) <= L->ow; j0 += JT * (VW))                                                     \
                SUF##_tile(R, JT, cur, ld, L, j0, nxt, ld, l < last);                                            \
            for (; j0 < L->ow; j0 += (VW))                                                                       \
                SUF##_tile(R, 1, cur, ld, L, j0, nxt, ld, l < last);                                             \
            double *t = cur;                                                                                     \
            cur = nxt;                                                                                           \
            nxt = t;                                                                                             \
        }                                                                                                        \
        for (int r = 0; r < R; r++)                                                                              \
            p[r] = 1.0 / (1.0 + exp(-cur[(size_t)r * ld]));                                                     \
    }                                                                                                            \
    static ATTR void SUF##_forward1(ll_ml_model *m, double *p) { SUF##_forward(m, 1, JT1, p); }                 \
    static ATTR void SUF##_forwardb(ll_ml_model *m, double *p) { SUF##_forward(m, BLOCK, JTB, p); }

enum { ISA_BASE = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };

/* baseline: 16 (SSE2: xmm) registers of 2 doubles */
DEFINE_KERNELS(base, , 2, 8, 2)
#if defined(__x86_64__) && defined(__GNUC__)
#define ML_MULTIVERSION 1
DEFINE_KERNELS(avx2, __attribute__((target("avx2"))), 4, 8, 2)          /* 16 ymm registers of 4 */
DEFINE_KERNELS(avx512, __attribute__((target("avx512f"))), 8, 4, 4)     /* 32 zmm registers of 8 */
#endif

/* Use the kernels of `isa` if this CPU has them: the level in use, or LL_EINVAL. */
static int use_isa(ll_ml_model *m, int isa)
{
    switch (isa) {
    case ISA_BASE:
        m->fwd1 = base_forward1;
        m->fwdb = base_forwardb;
        break;
#ifdef ML_MULTIVERSION
    case ISA_AVX2:
        if (!__builtin_cpu_supports("avx2"))
            return LL_EINVAL;
        m->fwd1 = avx2_forward1;
        m->fwdb = avx2_forwardb;
        break;
    case ISA_AVX512:
        if (!__builtin_cpu_supports("avx512f"))
            return LL_EINVAL;
        m->fwd1 = avx512_forward1;
        m->fwdb = avx512_forwardb;
        break;
#endif
    default:
        return LL_EINVAL;
    }
    m->isa = isa;
    return isa;
}

static int all_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

static inline uint32_t pad_lanes(uint32_t n) { return (n + LANES - 1) / LANES * LANES; }

LL_EXPORT ll_ml_model *ll_ml_model_create(uint32_t kind, uint32_t n_layers, const uint32_t *widths,
                                          const double *mean, const double *scale, const double *const *W,
                                          const double *const *b, const uint32_t *cols, int *err)
{
    int dummy;
    if (err == NULL)
        err = &dummy;
    if (widths == NULL || mean == NULL || scale == NULL || W == NULL || b == NULL || cols == NULL) {
        *err = LL_EINVAL;
        return NULL;
    }
    *err = LL_EBADMODEL;
    if ((kind != LL_ML_LOGISTIC && kind != LL_ML_MLP) || n_layers == 0 || n_layers > LL_ML_MAX_LAYERS ||
        (kind == LL_ML_LOGISTIC && n_layers != 1) || widths[n_layers] != 1)
        return NULL;
    for (uint32_t i = 0; i <= n_layers; i++)
        if (widths[i] == 0 || widths[i] > LL_ML_MAX_WIDTH)
            return NULL;
    uint32_t n_in = widths[0];
    if (!all_finite(mean, n_in) || !all_finite(scale, n_in))
        return NULL;
    for (uint32_t j = 0; j < n_in; j++)
        if (!(scale[j] > 0.0) || cols[j] >= LL_ML_N_FEATURES)
            return NULL;
    for (uint32_t l = 0; l < n_layers; l++)
        if (W[l] == NULL || b[l] == NULL || !all_finite(W[l], (size_t)widths[l] * widths[l + 1]) ||
            !all_finite(b[l], widths[l + 1]))
            return NULL;

    /* one block: mean, scale, cols, x, each W and b, s0, s1 - each region
     * starting on a cache line */
    uint32_t width = pad_lanes(n_in);
    for (uint32_t l = 0; l < n_layers; l++)
        if (pad_lanes(widths[l + 1]) > width)
            width = pad_lanes(widths[l + 1]);
    size_t total = 3 * round64(n_in * sizeof(double)) + round64(n_in * sizeof(uint32_t)) +
                   2 * round64((size_t)BLOCK * width * sizeof(double));
    for (uint32_t l = 0; l < n_layers; l++)
        total += round64((size_t)widths[l] * pad_lanes(widths[l + 1]) * sizeof(double)) +
                 round64(pad_lanes(widths[l + 1]) * sizeof(double));
    ll_ml_model *m = calloc(1, sizeof *m);
    uint8_t *mem = aligned_alloc(LL_CACHELINE, total);
    if (m == NULL || mem == NULL) {
        free(m);
        free(mem);
        *err = LL_ENORES;
        return NULL;
    }
    memset(mem, 0, total);
    m->mem = mem;
    m->kind = kind;
    m->n_layers = n_layers;
    m->n_in = n_in;
    m->width = width;
    uint8_t *p = mem;
#define TAKE(bytes) (p += round64(bytes), p - round64(bytes))
    double *mn = (double *)TAKE(n_in * sizeof(double));
    double *sc = (double *)TAKE(n_in * sizeof(double));
    uint32_t *cl = (uint32_t *)TAKE(n_in * sizeof(uint32_t));
    m->x = (double *)TAKE(n_in * sizeof(double));
    memcpy(mn, mean, n_in * sizeof(double));
    memcpy(sc, scale, n_in * sizeof(double));
    memcpy(cl, cols, n_in * sizeof(uint32_t));
    m->mean = mn;
    m->scale = sc;
    m->cols = cl;
    for (uint32_t l = 0; l < n_layers; l++) {
        uint32_t in = widths[l], out = widths[l + 1], ow = pad_lanes(out);
        double *w = (double *)TAKE((size_t)in * ow * sizeof(double));
        double *bb = (double *)TAKE(ow * sizeof(double));
        for (uint32_t i = 0; i < in; i++)
            memcpy(w + (size_t)i * ow, W[l] + (size_t)i * out, out * sizeof(double));
        memcpy(bb, b[l], out * sizeof(double));
        m->layer[l] = (ml_layer){.W = w, .b = bb, .in = in, .out = out, .ow = ow};
    }
    m->s0 = (double *)TAKE((size_t)BLOCK * width * sizeof(double));
    m->s1 = (double *)TAKE((size_t)BLOCK * width * sizeof(double));
#undef TAKE
    if (use_isa(m, ISA_AVX512) < 0 && use_isa(m, ISA_AVX2) < 0)
        use_isa(m, ISA_BASE);
    *err = LL_OK;
    return m;
}

LL_EXPORT void ll_ml_model_destroy(ll_ml_model *m)
{
    if (m == NULL)
        return;
    free(m->mem);
    free(m);
}

/* The kernels a model uses: isa < 0 asks which (0 baseline, 1 AVX2, 2
 * AVX-512F); another value switches to those if the CPU has them (for the
 * tests: every variant must give the same bits).  The level, or LL_EINVAL. */
LL_EXPORT int ll_ml_model_isa(ll_ml_model *m, int isa)
{
    if (m == NULL)
        return LL_EINVAL;
    return isa < 0 ? m->isa : use_isa(m, isa);
}

/* (x - mean) / scale into row r of s0. */
static inline void standardise(ll_ml_model *m, const double *x, int r)
{
    double *z = m->s0 + (size_t)r * m->width;
    for (uint32_t j = 0; j < m->n_in; j++)
        z[j] = (x[j] - m->mean[j]) / m->scale[j];
}

/* The first column of x[0..k) that is NaN or inf, or k. */
static inline uint64_t first_bad(const double *x, uint64_t k)
{
    for (uint64_t j = 0; j < k; j++)
        if (!isfinite(x[j]))
            return j;
    return k;
}

/* P(1) of one finite row of the model's width. */
static inline double predict_row(ll_ml_model *m, const double *x)
{
    double p;
    standardise(m, x, 0);
    m->fwd1(m, &p);
    return p;
}

/* The model's inputs from a feature row into m->x; 0 if one is not finite. */
static inline int gather(const ll_ml_model *m, const double *row, double **x)
{
    int ok = 1;
    for (uint32_t j = 0; j < m->n_in; j++) {
        double v = row[m->cols[j]];
        ok &= isfinite(v) != 0;
        m->x[j] = v;
    }
    *x = m->x;
    return ok;
}

static int64_t predict_rows(ll_ml_model *m, const double *X, uint64_t n, double *out, uint64_t *bad)
{
    const uint64_t k = m->n_in;
    double p[BLOCK];
    uint64_t r0 = 0;
    for (; r0 + BLOCK <= n; r0 += BLOCK) {
        for (int r = 0; r < BLOCK; r++) {
            const double *x = X + (r0 + (uint64_t)r) * k;
            uint64_t j = first_bad(x, k);
            if (j < k) {
                bad[0] = r0 + (uint64_t)r;
                bad[1] = j;
                return LL_ENONFINITE;
            }
            standardise(m, x, r);
        }
        m->fwdb(m, p);
        for (int r = 0; r < BLOCK; r++) {
            out[2 * (r0 + (uint64_t)r)] = 1.0 - p[r];
            out[2 * (r0 + (uint64_t)r) + 1] = p[r];
        }
    }
    for (; r0 < n; r0++) { /* the tail, row by row: the same bits as in a block */
        const double *x = X + r0 * k;
        uint64_t j = first_bad(x, k);
        if (j < k) {
            bad[0] = r0;
            bad[1] = j;
            return LL_ENONFINITE;
        }
        double q = predict_row(m, x);
        out[2 * r0] = 1.0 - q;
        out[2 * r0 + 1] = q;
    }
    return (int64_t)n;
}

LL_EXPORT int64_t ll_ml_predict_proba(ll_ml_model *m, const double *X, uint64_t n, uint64_t k, double *out,
                                      uint64_t *bad)
{
    if (m == NULL || bad == NULL || k != m->n_in || (n > 0 && (X == NULL || out == NULL)))
        return LL_EINVAL;
    return predict_rows(m, X, n, out, bad);
}

LL_EXPORT int ll_ml_predict_one(ll_ml_model *m, const double *x, uint64_t k, double *p, uint64_t *bad_col)
{
    if (m == NULL || x == NULL || p == NULL || bad_col == NULL || k != m->n_in)
        return LL_EINVAL;
    uint64_t j = first_bad(x, k);
    if (j < k) {
        *bad_col = j;
        return LL_ENONFINITE;
    }
    *p = predict_row(m, x);
    return LL_OK;
}

LL_EXPORT int64_t ll_ml_predict_times(ll_ml_model *m, const double *X, uint64_t n, uint64_t k, int64_t *ns,
                                      uint64_t *bad)
{
    if (m == NULL || bad == NULL || k != m->n_in || (n > 0 && (X == NULL || ns == NULL)))
        return LL_EINVAL;
    for (uint64_t i = 0; i < n; i++) { /* untimed: the finite check of every row first */
        uint64_t j = first_bad(X + i * k, k);
        if (j < k) {
            bad[0] = i;
            bad[1] = j;
            return LL_ENONFINITE;
        }
    }
    double sink = 0.0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t t0 = ll_now_ns();
        const double *x = X + i * k;
        /* predict_one's work: its finite check, standardise, layers, logistic */
        if (first_bad(x, k) < k)
            return LL_ENONFINITE;
        sink += predict_row(m, x);
        ns[i] = (int64_t)(ll_now_ns() - t0);
    }
    m->sink = sink;
    return (int64_t)n;
}

/* `repeats` sweeps over X, each in predict_proba calls of `batch` rows (the
 * last call of a sweep takes what is left), as a Python caller's loop over
 * X[i:i + batch] would: the same rows per call whatever the language. */
LL_EXPORT int64_t ll_ml_batch_ns(ll_ml_model *m, const double *X, uint64_t n, uint64_t k, uint64_t repeats,
                                 uint64_t batch, double *out, uint64_t *bad)
{
    if (m == NULL || bad == NULL || k != m->n_in || batch == 0 || (n > 0 && (X == NULL || out == NULL)))
        return LL_EINVAL;
    uint64_t t0 = ll_now_ns();
    for (uint64_t rep = 0; rep < repeats; rep++) {
        for (uint64_t r0 = 0; r0 < n; r0 += batch) {
            uint64_t rows = n - r0 < batch ? n - r0 : batch;
            int64_t rc = predict_rows(m, X + r0 * k, rows, out + 2 * r0, bad);
            if (rc < 0) {
                bad[0] += r0; /* the row in X, not in the call */
                return rc;
            }
        }
    }
    return (int64_t)(ll_now_ns() - t0);
}

/* ------------------------------------------------------------ tick to signal */

LL_EXPORT int ll_ml_pipeline_on_message(ll_ml_engine *e, ll_ml_model *m, const uint8_t *msg, uint64_t len,
                                        double *p, ll_book_err *err)
{
    if (e == NULL || m == NULL || p == NULL || err == NULL || (msg == NULL && len > 0))
        return LL_EINVAL;
    double row[LL_ML_N_FEATURES], *x;
    int rc = ll_ml_engine_apply(e, msg, len, row, err);
    if (rc <= 0)
        return rc;
    if (!gather(m, row, &x))
        return 0;
    *p = predict_row(m, x);
    return 1;
}

LL_EXPORT int ll_ml_model_on_row(ll_ml_model *m, const double *row, double *p)
{
    if (m == NULL || row == NULL || p == NULL)
        return LL_EINVAL;
    double *x;
    if (!gather(m, row, &x))
        return 0;
    *p = predict_row(m, x);
    return 1;
}

LL_EXPORT ll_book *ll_ml_engine_book(ll_ml_engine *e) { return e ? e->book : NULL; }

LL_EXPORT int64_t ll_ml_pipeline_run_timed(ll_ml_engine *e, ll_ml_model *m, const uint8_t *buf, uint64_t len,
                                           int64_t *ns, double *sig, uint64_t max_rows, ll_book_err *err)
{
    if (e == NULL || m == NULL || err == NULL || (buf == NULL && len > 0) ||
        (max_rows > 0 && (ns == NULL || sig == NULL)))
        return LL_EINVAL;
    return run_stream(e, m, buf, len, RUN_PIPELINE, NULL, NULL, NULL, ns, sig, NULL, max_rows, err);
}

LL_EXPORT int64_t ll_ml_info(const char *what)
{
    static const ll_fact facts[] = {
        {"n_features", LL_ML_N_FEATURES}, {"max_depth", LL_ML_MAX_DEPTH},   {"max_window", LL_ML_MAX_WINDOW},
        {"max_layers", LL_ML_MAX_LAYERS}, {"max_width", LL_ML_MAX_WIDTH},   {"lanes", LANES},
        {"block", BLOCK},                 {"sizeof_err", sizeof(ll_book_err)},
    };
    return ll_lookup_fact(facts, sizeof facts / sizeof facts[0], what);
}
