/* ml_inference.h - the C API of lab 6 (cimpl/ml_inference.c): order-book
 * features computed on every book update, a small dense model (logistic
 * regression or an MLP) evaluated on them, and the two chained (ITCH message
 * in, signal out).  The reference semantics are pyimpl/ml_inference.py's: the
 * same features to the bit, probabilities within 1e-12.
 *
 * Return codes: >= 0 on success (a count, 1/0 for "a row / a signal was
 * written or not"), a negative error from common.h otherwise.  Every input is
 * checked (NULL, sizes, finiteness).  No function allocates after create:
 * the engine's per-instrument state, the book's pools and the model's scratch
 * are all sized there.
 *
 * Single-threaded: an engine or a model belongs to one thread at a time (the
 * model's scratch activations live in the model). */
#ifndef LL_ML_INFERENCE_H
#define LL_ML_INFERENCE_H

#include <stdint.h>

#include "order_book.h"

/* One feature row: spread, mid, microprice, l1_imbalance, depth_imbalance,
 * ofi, mid_return, ewma_vol, trade_intensity (pyimpl.ml_inference.FEATURES). */
#define LL_ML_N_FEATURES 9

/* The limits create accepts. */
#define LL_ML_MAX_DEPTH 64       /* depth levels read per side */
#define LL_ML_MAX_WINDOW 1024    /* OFI and return windows (updates) */
#define LL_ML_MAX_LAYERS 16
#define LL_ML_MAX_WIDTH 4096     /* inputs or outputs of a layer */

enum { LL_ML_LOGISTIC = 0, LL_ML_MLP = 1 }; /* model kinds, pyimpl's KINDS */

typedef struct ll_ml_engine ll_ml_engine;
typedef struct ll_ml_model ll_ml_model;

/* ------------------------------------------------------------ features */

/* An order book (lab 5's, compiled into this library) and the feature state
 * of every stock locate.  The windows and constants come from the caller
 * (pyimpl.ml_inference's DEPTH_LEVELS, OFI_WINDOW, RETURN_WINDOW, VOL_LAMBDA,
 * TRADE_ALPHA, PRICE): one definition, in Python. */
ll_ml_engine *ll_ml_engine_create(uint64_t max_orders, uint64_t max_instruments, uint32_t depth_levels,
                                  uint32_t ofi_window, uint32_t return_window, double vol_lambda,
                                  double trade_alpha, double price_scale, int *err);
void ll_ml_engine_destroy(ll_ml_engine *e);

/* The features of instrument `locate` after its book changed (`executed`:
 * the shares this update traded) into out[LL_ML_N_FEATURES]; 0 or LL_EINVAL. */
int ll_ml_engine_update(ll_ml_engine *e, uint32_t locate, uint64_t executed, double *out);

/* One unframed ITCH message, as ll_book_apply: 1 = a book update (its row in
 * out), 0 = S or R (out untouched), or an error (err filled as the book does). */
int ll_ml_engine_apply(ll_ml_engine *e, const uint8_t *msg, uint64_t len, double *out, ll_book_err *err);

/* Upper bound of the rows a framed stream can give: its frames of the
 * book-update types (A F E C X D U), counted up to the first bad frame. */
int64_t ll_ml_count_updates(const uint8_t *buf, uint64_t len);

/* A framed stream (strict, as ll_book_apply_stream): the row after every
 * book update in features[LL_ML_N_FEATURES * i ..], its locate and its
 * timestamp (ns since midnight, from the message).  Rows written, or an error
 * (err->offset: the failing frame; the rows before it were applied).
 * LL_EINVAL if more than max_rows rows would be written. */
int64_t ll_ml_engine_apply_stream(ll_ml_engine *e, const uint8_t *buf, uint64_t len, double *features,
                                  uint16_t *locates, int64_t *timestamps, uint64_t max_rows, ll_book_err *err);

/* As apply_stream, writing for each book update the ns of its feature
 * computation only (depth query + arithmetic, between two ll_now_ns() reads:
 * one clock read's cost is inside each figure), and into *checksum the
 * checksum of the rows those timed calls produced (ll_ml_feature_checksum of
 * what apply_stream would return; computed after each second clock read). */
int64_t ll_ml_engine_feature_times(ll_ml_engine *e, const uint8_t *buf, uint64_t len, int64_t *ns,
                                   uint64_t *checksum, uint64_t max_rows, ll_book_err *err);

/* The checksum of `rows` feature rows (row-major, LL_ML_N_FEATURES each):
 * the sum over value k of its IEEE bits times 2k + 1, mod 2^64 (pyimpl's
 * feature_checksum).  Any one value changed or moved changes it. */
uint64_t ll_ml_feature_checksum(const double *features, uint64_t rows);

/* ------------------------------------------------------------ the model */

/* A model: standardise ((x - mean) / scale), then n_layers dense layers,
 * ReLU between, the logistic function after the last (1 output).
 * widths[0] = n_in, widths[i + 1] = layer i's outputs; W[i] points to layer
 * i's weights, widths[i] x widths[i + 1] row-major (NumPy's (in, out)), b[i]
 * to its bias.  cols[j] < LL_ML_N_FEATURES: the feature row column of input
 * j (for the pipeline).  Everything is copied.  LL_EBADMODEL for arrays that
 * do not fit or hold NaN/inf, a scale that is not positive, a logistic model
 * with more than one layer. */
ll_ml_model *ll_ml_model_create(uint32_t kind, uint32_t n_layers, const uint32_t *widths, const double *mean,
                                const double *scale, const double *const *W, const double *const *b,
                                const uint32_t *cols, int *err);
void ll_ml_model_destroy(ll_ml_model *m);

/* The model's kernels: isa < 0 asks which are in use (0 the baseline, 1
 * AVX2, 2 AVX-512F: create picks the widest this CPU has); 0..2 switches to
 * those if the CPU has them (LL_EINVAL if not).  Every variant gives the
 * same bits. */
int ll_ml_model_isa(ll_ml_model *m, int isa);

/* P(1) for each row of X (n rows of k doubles, row-major) into
 * out[2 i] = 1 - p, out[2 i + 1] = p.  n, or LL_EINVAL (k is not the model's
 * width), or LL_ENONFINITE with bad[0] = row, bad[1] = column of the first
 * NaN/inf in row-major order (then out is partly written). */
int64_t ll_ml_predict_proba(ll_ml_model *m, const double *X, uint64_t n, uint64_t k, double *out, uint64_t *bad);

/* P(1) for one row of k doubles into *p; LL_ENONFINITE with *bad_col. */
int ll_ml_predict_one(ll_ml_model *m, const double *x, uint64_t k, double *p, uint64_t *bad_col);

/* Timing kernels (ll_now_ns, CLOCK_MONOTONIC via the vDSO, ~16 ns a read).
 * predict_times: each row predicted alone, ns[i] its time (the finite check
 * of the whole X is done first, untimed).  batch_ns: `repeats` sweeps over X,
 * each in predict_proba calls of `batch` rows (>= 1; the last call of a sweep
 * takes the rest), into out (n x 2): the total elapsed ns; LL_ENONFINITE with
 * bad[0] the row in X. */
int64_t ll_ml_predict_times(ll_ml_model *m, const double *X, uint64_t n, uint64_t k, int64_t *ns, uint64_t *bad);
int64_t ll_ml_batch_ns(ll_ml_model *m, const double *X, uint64_t n, uint64_t k, uint64_t repeats, uint64_t batch,
                       double *out, uint64_t *bad);

/* The model on a whole feature row (LL_ML_N_FEATURES values: it reads its
 * own columns, as the pipeline does): 1 = P(1) in *p, 0 = one of its inputs
 * is not finite (no signal), LL_EINVAL.  Lab 7's C strategy calls this. */
int ll_ml_model_on_row(ll_ml_model *m, const double *row, double *p);

/* The engine's order book (lab 5's), for the queries of ll_book_* (lab 7's
 * engine reads the best prices from it); NULL for NULL. */
ll_book *ll_ml_engine_book(ll_ml_engine *e);

/* ------------------------------------------------------------ tick to signal */

/* One message through engine and model: 1 = a signal in *p, 0 = none (S, R,
 * or one of the model's features not finite), or an error as
 * ll_ml_engine_apply's. */
int ll_ml_pipeline_on_message(ll_ml_engine *e, ll_ml_model *m, const uint8_t *msg, uint64_t len, double *p,
                              ll_book_err *err);

/* A framed stream through engine and model (strict): for each message that
 * produced a signal, ns[k] = from the start of decoding its frame to the
 * signal (decode -> book -> features -> predict; one clock read at each end)
 * and sig[k] = the signal.  Signals written, or an error as apply_stream's;
 * LL_EINVAL if more than max_rows signals would be written. */
int64_t ll_ml_pipeline_run_timed(ll_ml_engine *e, ll_ml_model *m, const uint8_t *buf, uint64_t len, int64_t *ns,
                                 double *sig, uint64_t max_rows, ll_book_err *err);

/* Facts for the binding's checks: "n_features", "max_depth", "max_window",
 * "max_layers", "max_width", "lanes" (the model's output block); -1 if unknown. */
int64_t ll_ml_info(const char *what);

#endif
