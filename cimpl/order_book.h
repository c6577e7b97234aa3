/* order_book.h - the C API of lab 5 (cimpl/order_book.c): an order-by-order
 * (L3) limit order book fed by ITCH 5.0 messages (cimpl/itch.h).
 *
 * Return codes: >= 0 on success (a count, the shares left...), a negative
 * error from common.h otherwise; a rejected update leaves the book as it was.
 * The book is single-threaded: one thread at a time per book (no atomics, no
 * locks - the lab is about the data structures, lab 3 about crossing cores). */
#ifndef LL_ORDER_BOOK_H
#define LL_ORDER_BOOK_H

#include <stdint.h>

typedef struct ll_book ll_book;

/* The largest capacities ll_book_create accepts (pyimpl.order_book's too). */
#define LL_BOOK_MAX_ORDERS (1u << 30)
#define LL_BOOK_MAX_INSTRUMENTS 65535u

/* What the book reports about a rejected update: which order, how many
 * shares, ... - enough for the binding to raise the same exception, with the
 * same words, as pyimpl.order_book.  Written only when a call fails. */
typedef struct {
    int64_t code;     /* the error (LL_E*) */
    uint64_t ref;     /* the order ref the error is about */
    uint64_t offset;  /* apply_stream: offset of the frame (its length prefix) */
    uint64_t capacity; /* LL_EBOOKFULL: the capacity that is exhausted */
    uint32_t shares;  /* LL_EOVERFILL: the shares asked for */
    uint32_t left;    /* LL_EOVERFILL: the shares the order has left */
    uint32_t locate;  /* LL_EBADLOCATE */
    uint8_t side;     /* LL_EBADSIDE: the side byte */
    uint8_t what;     /* LL_EBOOKFULL: LL_BOOK_FULL_*; LL_ETRUNCATED: LL_BOOK_TRUNC_* */
    uint8_t type;     /* the message type byte */
    uint8_t pad_;
} ll_book_err;

enum { LL_BOOK_FULL_ORDERS = 1, LL_BOOK_FULL_INSTRUMENTS = 2 };
enum { LL_BOOK_TRUNC_PREFIX = 1, LL_BOOK_TRUNC_BODY = 2 };

/* Counts of a framed stream; the apply functions add to them (zero it first). */
typedef struct {
    uint64_t messages;  /* frames read */
    uint64_t book;      /* book updates applied: A F E C X D U */
    uint64_t other;     /* known messages that are no update: S R */
    uint64_t rejected;  /* book messages the book refused (lenient mode) */
    uint64_t truncated; /* 1: the stream ended mid-frame or had a bad frame (lenient mode) */
    uint64_t end;       /* the offset where reading stopped */
    uint64_t skipped[257]; /* unknown types, by type byte; [256]: empty frames */
} ll_book_stats;

ll_book *ll_book_create(uint64_t max_orders, uint64_t max_instruments, int *err);
void ll_book_destroy(ll_book *b);
/* Back every page of the book's pools with memory now (they are mapped
 * lazily), so no page fault lands in the stream; huge != 0: transparent huge
 * pages first.  What a feed handler does before the market opens. */
int ll_book_prefault(ll_book *b, int huge);

/* the instrument directory (ITCH 'R') */
int ll_book_add_symbol(ll_book *b, uint32_t locate, const char *stock8);
uint32_t ll_book_symbols(const ll_book *b, uint16_t *locates, char *stocks8, uint32_t max);

/* updates: 0 / the shares left, or an error */
int ll_book_add(ll_book *b, uint32_t locate, uint64_t ref, uint8_t side, uint32_t shares, uint32_t price,
                ll_book_err *err);
int64_t ll_book_execute(ll_book *b, uint64_t ref, uint32_t shares, ll_book_err *err);
int64_t ll_book_cancel(ll_book *b, uint64_t ref, uint32_t shares, ll_book_err *err);
int ll_book_delete(ll_book *b, uint64_t ref, ll_book_err *err);
int ll_book_replace(ll_book *b, uint64_t ref, uint64_t new_ref, uint32_t shares, uint32_t price, ll_book_err *err);

/* ITCH bytes (err must not be NULL here; the updates above accept NULL).
 * apply: one unframed message of exactly its type's size;
 * 1 = a book update, 0 = another known type (S, R), or an error. */
int ll_book_apply(ll_book *b, const uint8_t *msg, uint64_t len, ll_book_err *err);
/* Framed streams (2-byte big-endian length, then the message).  Frames read
 * in this call, or an error (strict mode; stats->end is then the offset of the
 * frame that failed).  _frames reads at most max_msgs frames from `offset`
 * (Python calling C per batch); _timed writes each frame's decode + update
 * time, in ns, to ns[i] for at most n_max frames. */
int64_t ll_book_apply_stream(ll_book *b, const uint8_t *buf, uint64_t len, int lenient, ll_book_stats *st,
                             ll_book_err *err);
int64_t ll_book_apply_frames(ll_book *b, const uint8_t *buf, uint64_t len, uint64_t offset, uint64_t max_msgs,
                             int lenient, ll_book_stats *st, ll_book_err *err);
int64_t ll_book_apply_stream_timed(ll_book *b, const uint8_t *buf, uint64_t len, uint64_t offset, int lenient,
                                   ll_book_stats *st, ll_book_err *err, int64_t *ns, uint64_t n_max);

/* queries */
int ll_book_best(const ll_book *b, uint32_t locate, uint64_t out[4]);
int64_t ll_book_depth(const ll_book *b, uint32_t locate, uint32_t n, uint64_t *bids, uint64_t *asks);
int64_t ll_book_level_count(const ll_book *b, uint32_t locate);
int ll_book_order(const ll_book *b, uint64_t ref, uint64_t out[4]);
int64_t ll_book_queue(const ll_book *b, uint32_t locate, uint8_t side, uint32_t price, uint64_t *refs, uint64_t max);
uint64_t ll_book_count(const ll_book *b);
uint32_t ll_book_instruments(const ll_book *b, uint16_t *locates, uint32_t max);

/* introspection, for the tests and the guide */
int64_t ll_book_stat(const ll_book *b, const char *what);
int64_t ll_book_check(const ll_book *b);
uint64_t ll_book_home_slot(const ll_book *b, uint64_t ref);
uint32_t ll_book_message_size(uint32_t type);
int64_t ll_book_layout_info(const char *what);

#endif
