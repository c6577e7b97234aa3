/*
 * exchange.h - lab 7's exchange simulator: the matching engine (C API
 * prefix ll_exch_).  The pure-Python twin, the reference semantics, is
 * pyimpl/exchange.py; cimpl/exchange.py binds this one with ctypes; lab 8's
 * backtester wraps the same matcher with latency models.
 *
 * One ll_exch holds two things:
 *   - the displayed book of the market feed: every order of the ITCH 5.0
 *     replay, with its FIFO queue per price level (lab 5's ll_book);
 *   - the client's orders (OUCH 5.0, ouch.h), matched against that book with
 *     price-time priority and an exact queue position from the L3 feed.
 * It has no clock and no thread: it is driven by events, one call each -
 * ll_exch_on_feed (one ITCH message) and ll_exch_on_order (one inbound OUCH
 * message, with the time it arrives) - and each call writes the outbound OUCH
 * messages it causes, concatenated, into the caller's buffer.  Whoever
 * drives it (lab 7's exchange process, lab 8's backtester) decides when
 * those events happen and how late the replies arrive.
 *
 * Semantics, in short (exchange.c explains them at length):
 *   1. An Enter Order that crosses the displayed opposite side fills at once,
 *      level by level from the best, at the resting orders' prices, up to its
 *      limit and quantity, taking the resting orders in FIFO order (liquidity
 *      'R').  The feed is a replay and never learns of our fills, so the
 *      exchange remembers per feed order how many shares the client took, and
 *      never takes them twice.  At most max_sweep price levels are looked at
 *      and max_sweep resting orders taken per aggressive order (this bounds
 *      the replies of one call): past that the book is treated as ended.
 *   2. The rest: IOC ('3') is canceled (reason 'I'); Day ('0') rests at its
 *      price behind the displayed shares there (shares_ahead).
 *   3. A resting client order fills (liquidity 'A', at its own price) when:
 *      a feed execution hits, on its side, an order behind it at its price or
 *      an order at a worse price (that aggressor would have met ours first);
 *      or a feed order arrives on the other side at a price that crosses it
 *      (those shares then count as taken).  Executions, cancels, deletes and
 *      replaces of feed orders ahead of it at its price shrink shares_ahead.
 *   4. Replace (OUCH 'U'): a new UserRefNum, new quantity (the replacement's
 *      open shares) and price.  The replacement keeps the queue position only
 *      if the price is the same, the quantity does not grow and it is Day;
 *      otherwise it is a new order at the back (and may cross).  Cancel ('X'):
 *      the quantity is the size to leave (0 = all); a partial cancel keeps the
 *      position; a cancel that would not reduce the order does nothing (no
 *      reply).  Client orders never trade with each other (the engine's
 *      self-trade prevention is upstream).
 *   5. Every bad client message is answered with Order Rejected (ouch.h's
 *      LL_OUCH_REJ_* codes), never an error return: a non-increasing
 *      UserRefNum (OTHER), a bad side, quantity 0 or above max_qty, an unknown
 *      symbol, price 0 or above u32, a time in force other than Day/IOC
 *      (OTHER), an unknown or finished order on cancel/replace, a full order
 *      table (PROCESSING_ERROR).  Checks run in that order (pyimpl's too).
 *      A UserRefNum that passes its check is used up even if a later check
 *      rejects the order.  Rejected orders are counted, not recorded.
 *   Bytes that are not an OUCH message (truncated, unknown type, nonzero
 *   appendage length) are the caller's bug: a negative error, nothing changes.
 *
 * Return codes: >= 0 on success, a negative error from common.h otherwise.
 * on_feed with an ITCH message the book refuses (unknown order, ...) returns
 * the book's error and changes nothing.  No memory is allocated after
 * ll_exch_create.  Single-threaded: one thread at a time per ll_exch.
 */
#ifndef LL_EXCHANGE_H
#define LL_EXCHANGE_H

#include <stdint.h>

#include "ouch.h"

typedef struct ll_exch ll_exch;
struct ll_book;

/* Capacities, fixed at create (0 in a field: its default, see below). */
typedef struct ll_exch_config {
    uint64_t max_feed_orders; /* resting feed orders in the displayed book (default 1 << 20) */
    uint32_t max_instruments; /* instruments (default 1024) */
    uint32_t max_orders;      /* client orders recorded in the session, replacements included (default 65536) */
    uint32_t max_open;        /* client orders resting at once (default 1024) */
    uint32_t max_fills;       /* fills recorded (default 1 << 20; more are still reported, and counted) */
    uint32_t max_qty;         /* the largest order quantity accepted (default 1000000) */
    uint32_t max_sweep;       /* levels looked at / resting orders taken by one aggressive order (default 256) */
} ll_exch_config;

#define LL_EXCH_DEFAULT_FEED_ORDERS (1u << 20)
#define LL_EXCH_DEFAULT_INSTRUMENTS 1024u
#define LL_EXCH_DEFAULT_ORDERS 65536u
#define LL_EXCH_DEFAULT_OPEN 1024u
#define LL_EXCH_DEFAULT_FILLS (1u << 20)
#define LL_EXCH_DEFAULT_MAX_QTY 1000000u
#define LL_EXCH_DEFAULT_SWEEP 256u
#define LL_EXCH_MAX_ORDERS (1u << 26) /* upper bound of max_orders, max_open, max_fills */

/* Order states (ll_exch_order.state) */
#define LL_EXCH_LIVE 'L'     /* resting */
#define LL_EXCH_FILLED 'F'
#define LL_EXCH_CANCELED 'C' /* by the client, or the IOC remainder */
#define LL_EXCH_REPLACED 'R' /* replaced by replaced_by; its leaves went to the replacement (counted in canceled) */

/* The exchange's record of one client order.  Invariant: filled + canceled + leaves == qty. */
typedef struct ll_exch_order {
    uint64_t order_ref;     /* the exchange's Order Reference Number (1, 2, ...) */
    uint64_t accepted_ns;   /* now_ns of the Enter / Replace that made it */
    uint32_t user_ref;      /* UserRefNum */
    uint32_t orig_user_ref; /* the order it replaced, 0 for an Enter */
    uint32_t replaced_by;   /* the replacement's UserRefNum, 0 if none */
    uint32_t price;         /* 1/10000 $ */
    uint32_t qty;
    uint32_t leaves;
    uint32_t filled;
    uint32_t canceled;
    uint32_t shares_ahead;  /* while live: displayed feed shares ahead of it at its price */
    uint16_t locate;
    uint8_t side;           /* 'B' / 'S' */
    uint8_t tif;            /* '0' / '3' */
    uint8_t state;          /* LL_EXCH_LIVE ... */
    uint8_t capacity, cross, display;
    char symbol[LL_OUCH_SYMBOL_LEN];
    char cl_ord_id[LL_OUCH_CLORDID_LEN];
    uint8_t pad_[6];
} ll_exch_order; /* 88 bytes */

/* One fill of a client order. */
typedef struct ll_exch_fill {
    uint64_t match;     /* the exchange's match number (1, 2, ...) */
    uint64_t timestamp; /* the Executed message's timestamp */
    uint32_t user_ref;
    uint32_t qty;
    uint32_t price;
    uint16_t locate;
    uint8_t side;       /* the client order's side */
    uint8_t liquidity;  /* 'A' added (it rested), 'R' removed (it crossed) */
} ll_exch_fill; /* 32 bytes */

/* ------------------------------------------------------------ lifetime */
void ll_exch_config_default(ll_exch_config *c);
/* NULL on failure, *err (if err != NULL) = LL_EINVAL (a capacity out of
 * range) or LL_ENORES. */
ll_exch *ll_exch_create(const ll_exch_config *c, int *err);
void ll_exch_destroy(ll_exch *x);
/* The capacities in use (defaults filled in). */
int ll_exch_get_config(const ll_exch *x, ll_exch_config *out);
/* The bytes `out` must hold for on_feed / on_order (the most one call can write). */
uint64_t ll_exch_reply_capacity(const ll_exch *x);

/* ------------------------------------------------------------ events */
/* A symbol, as an ITCH Stock Directory 'R' does (a feed replay sends R first). */
int ll_exch_add_symbol(ll_exch *x, uint32_t locate, const char *stock8);
/* One unframed ITCH 5.0 message (S R A F E C X D U; len = its type's size):
 * applied to the displayed book, then the client orders it fills.  Returns the
 * bytes of OUCH replies written to out (Order Executed, timestamp = the ITCH
 * message's), or an error: LL_EINVAL (NULL, cap < ll_exch_reply_capacity),
 * ITCH errors (LL_ETRUNCATED, LL_EBADFRAME, LL_EUNKNOWNMSG), the book's errors. */
int64_t ll_exch_on_feed(ll_exch *x, const uint8_t *msg, uint64_t len, uint8_t *out, uint64_t cap);
/* One inbound OUCH message (O U X) arriving at now_ns (the replies'
 * timestamp).  Returns the bytes of replies written to out (Accepted /
 * Replaced / Executed / Canceled / Rejected), or an error for bytes that are
 * not an OUCH message (ll_ouch_decode's) or LL_EINVAL. */
int64_t ll_exch_on_order(ll_exch *x, const uint8_t *msg, uint64_t len, uint64_t now_ns, uint8_t *out,
                         uint64_t cap);

/* ------------------------------------------------------------ records (for reconciliation) */
/* Orders first .. first+max-1, in the order they were accepted, into out;
 * returns how many orders there are in all. */
int64_t ll_exch_orders(const ll_exch *x, uint64_t first, ll_exch_order *out, uint64_t max);
/* 1 and *out if UserRefNum user_ref is a recorded order, 0 if not. */
int ll_exch_order_get(const ll_exch *x, uint32_t user_ref, ll_exch_order *out);
/* Fills first .. first+max-1, oldest first; returns how many are recorded. */
int64_t ll_exch_fills(const ll_exch *x, uint64_t first, ll_exch_fill *out, uint64_t max);
/* Net position (shares, buys +) and cash (1/10000 $, buys -) of one instrument; 0 both if none. */
int ll_exch_position(const ll_exch *x, uint32_t locate, int64_t out[2]);
/* The instruments that have a fill, ascending locate, with position and cash; returns how many. */
uint32_t ll_exch_positions(const ll_exch *x, uint16_t *locates, int64_t *position, int64_t *cash, uint32_t max);

/* ------------------------------------------------------------ queries, counters */
/* Shares of feed order `ref` the client has taken (0 if none or not resting), or -1 if not resting. */
int64_t ll_exch_taken(const ll_exch *x, uint64_t ref);
/* The displayed book (read-only: ll_book_best, ll_book_depth, ll_book_queue ... on it). */
const struct ll_book *ll_exch_book(const ll_exch *x);
/* A counter by name: "feed_messages" (applied: A F E C X D U S R), "feed_book"
 * (book updates), "orders" (Enters accepted), "replaces", "cancels" (accepted
 * Cancel messages that reduced an order), "cancel_noops", "fills",
 * "fills_added", "fills_removed", "fills_unrecorded", "rejects", "open"
 * (client orders resting), "shares_bought", "shares_sold"; -1 for an unknown name. */
int64_t ll_exch_stat(const ll_exch *x, const char *what);
/* counts[code] = rejects with that OUCH reason code, for code < n
 * (n <= LL_OUCH_REJ_MAX); returns the total number of rejects. */
int64_t ll_exch_rejects(const ll_exch *x, uint64_t *counts, uint32_t n);
/* Internal consistency (open lists sorted, counts agree, invariants): 0 or a
 * negative number naming the first check that failed. */
int64_t ll_exch_check(const ll_exch *x);

/* ------------------------------------------------------------ the codec, exported (ouch.h is static inline) */
int64_t ll_exch_ouch_encode(const ll_ouch_msg *m, int inbound, uint8_t *out, uint64_t cap);
int64_t ll_exch_ouch_decode(const uint8_t *buf, uint64_t len, int inbound, ll_ouch_msg *m);
uint32_t ll_exch_ouch_size(int inbound, uint32_t type);
/* sizeof / offsetof facts ("sizeof_order", "sizeof_fill", "sizeof_ouch_msg",
 * "sizeof_config", "ouch_size_enter", ...), -1 if unknown: the binding checks its ctypes mirrors. */
int64_t ll_exch_layout_info(const char *what);

#endif
