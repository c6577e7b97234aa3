/*
 * backtest.h - lab 8's event-driven backtester in C (cimpl/backtest.c, API
 * prefix ll_bt_).  The reference semantics are pyimpl/backtest.py's `run`:
 * the same four time-ordered streams merged by one loop, the same tie order,
 * the same pieces, so the same fills, marks, orders and counts.
 *
 *   exchange time t          the ITCH message's own timestamp
 *     feed message t   -- F -->  engine + strategy at feed_at[i]
 *     order decided d  -- O -->  exchange at d + order_delay[k]
 *     reply at exch u  -- R -->  engine + strategy at u + reply_delay[k]
 *
 * The pieces are lab 7's, created by the caller and wired as lab 7's engine
 * wires them (trading_system.c): the exchange's matcher (ll_exch, the true
 * book and the exact L3 queue position), lab 6's features over lab 5's book
 * (ll_ml_engine, the engine's view), the order manager with its risk checks
 * (ll_oms), OUCH 5.0 bytes between them (ouch.h).  The delays are arrays the
 * caller draws (pyimpl.backtest.draw_latencies): the feed arrival of every
 * message, and order / reply delays used in turn, cyclically.
 *
 * The strategy is driven in one of two ways:
 *   - ll_bt_run(bt, sig): lab 7's C strategy (ll_ts_signal) is called inline;
 *     the whole stream runs in C; ll_bt_run_mm(bt, mm) the same with lab 8's
 *     market maker in C (ll_bt_mm, below), and ll_bt_run_strategy(bt, s) with
 *     any C strategy behind the two-function interface ll_bt_strategy;
 *   - ll_bt_next(bt, n): the loop runs until the strategy must be called - a
 *     snapshot (a book update reached the engine) or a report - and returns
 *     it in the event slot (ll_bt_event_slot); the caller calls its strategy,
 *     writes the snapshot's answer into the intent slots (ll_bt_intent_slots) and
 *     calls ll_bt_next(bt, n_intents) again.  A Python strategy pays one
 *     ctypes call per strategy call this way.
 * ll_bt_run is ll_bt_next with the C strategy as the caller: one loop.
 *
 * Use:
 *   n = ll_bt_count_frames(buf, len, &end);       the messages, to size the pieces (pyimpl does)
 *   bt = ll_bt_create(x, fe, oms, &cfg, &err);   fresh pieces, the framed stream in cfg
 *   ll_bt_stamps(bt, stamps, n);                  each message's exchange time, to draw delays from
 *   ll_bt_set_latency(bt, feed_at, n, od, nod, rd, nrd);
 *   loop: ll_bt_next / ll_bt_run until LL_BT_EV_DONE (read the records at every LL_BT_EV_FLUSH)
 *   ll_bt_get_stats, ll_bt_reconcile, ll_bt_symbols; ll_bt_destroy (then the pieces)
 *
 * Return codes: >= 0 on success, a negative error from common.h otherwise.
 * An error of the loop is sticky (every later call returns it).  No memory
 * is allocated after ll_bt_create (ll_bt_reconcile excepted: it runs once, at
 * the end).  Single-threaded: one thread at a time per ll_bt and its pieces.
 */
#ifndef LL_BACKTEST_H
#define LL_BACKTEST_H

#include <stdint.h>

#include "exchange.h"
#include "ml_inference.h"
#include "oms.h"
#include "trading_system.h"
#include "ts_layout.h"

typedef struct ll_bt ll_bt;

/* ------------------------------------------------------------ configuration */
typedef struct ll_bt_config {
    const uint8_t *stream;   /* the framed ITCH 5.0 stream (2-byte length, message); must outlive the ll_bt */
    uint64_t len;
    double maker_fee;        /* $ per share when our order rested (liquidity 'A'); negative = a rebate */
    double taker_fee;        /* $ per share when it crossed ('R') */
    uint32_t lenient;        /* 0: a bad frame or a message the book refuses is an error of ll_bt_next;
                              * 1: the replay ends there (ll_bt_stream_error says where) */
    uint32_t progress;       /* 1: an LL_BT_EV_PROGRESS event every 65536 messages through the engine */
    uint32_t skip_reports;   /* bit k set: reports of kind k (LL_REPORT_*) are not handed to the strategy
                              * (it has no handler for them); 0: every report is */
    uint32_t leg_capacity;   /* messages in flight per leg, a power of two (0: 65536); more is LL_ENORES */
    uint32_t record_rows;    /* rows of each record buffer (fills, marks, orders) before a FLUSH (0: 65536) */
    uint32_t pad_;
} ll_bt_config;

/* The largest time or delay ll_bt_set_latency takes (2^56 ns, about two
 * years): far below the loop's "never" (INT64_MAX), whatever the chain of
 * delays an order and its replies add up to. */
#define LL_BT_MAX_NS (1ll << 56)
/* Intent slots: the most intents one snapshot can be answered with. */
#define LL_BT_MAX_INTENTS 256u
/* pyimpl's progress period: every 65536 messages through the engine */
#define LL_BT_PROGRESS_EVERY 65536u

/* ------------------------------------------------------------ events */
enum {
    LL_BT_EV_DONE = 0,     /* the replay is over: every message seen, every order and reply delivered */
    LL_BT_EV_SNAPSHOT = 1, /* call the strategy's on_features(ev->snap); answer with ll_bt_next(bt, n) */
    LL_BT_EV_REPORT = 2,   /* call the strategy's report handler with ev->report */
    LL_BT_EV_PROGRESS = 3, /* ev->events messages went through the engine (cfg.progress) */
    LL_BT_EV_FLUSH = 4,    /* a record buffer is full: read them (ll_bt_records) before the next call empties them */
    LL_BT_EV_STOPPED = 5,  /* ll_bt_stop was called and what was pending is done */
};

/* The event slot (ll_bt_event_slot): what ll_bt_next / ll_bt_run returned last. */
typedef struct ll_bt_event {
    uint32_t kind;   /* LL_BT_EV_* (the return value) */
    uint32_t pad_;
    uint64_t events; /* messages through the engine so far (pyimpl's event index) */
    union {
        ll_ts_snapshot snap;  /* SNAPSHOT: lab 7's ring-A message: seq = message index + 1, send_ns = its
                               * exchange time, engine_ns = when the engine saw it */
        ll_ts_report report;  /* REPORT: lab 7's ring-C message (ns = the engine's time) */
    };
} ll_bt_event;

/* ------------------------------------------------------------ records */
/* One execution of our orders (pyimpl's Result.fills row; the binding turns
 * side into +1/-1, price into $). */
typedef struct ll_bt_fill {
    int64_t ts_ns;      /* the exchange's time of the fill (the Executed message's timestamp) */
    int64_t seen_ns;    /* when the engine learnt it */
    double fee;         /* $ (maker_fee or taker_fee x qty) */
    uint32_t cl_ord_id;
    uint32_t price;     /* ITCH units */
    uint32_t qty;
    uint16_t locate;
    uint8_t side;       /* 'B' / 'S' */
    uint8_t liquidity;  /* 'A' / 'R' */
} ll_bt_fill;

/* One book update of the true book (pyimpl's Result.marks row). */
typedef struct ll_bt_mark {
    int64_t ts_ns;      /* the message's exchange time */
    uint32_t bid, ask;  /* best prices after it, 0 when that side is empty */
    uint16_t locate;
    uint16_t pad_[3];
} ll_bt_mark;

/* One Enter Order sent (pyimpl's Result.orders row). */
typedef struct ll_bt_order {
    int64_t decided_ns; /* the engine's time when it left */
    int64_t arrive_ns;  /* when it reaches the exchange */
    uint32_t cl_ord_id;
    uint32_t price;
    uint32_t qty;
    uint16_t locate;
    uint8_t side;
    uint8_t pad_;
} ll_bt_order;

enum { LL_BT_FILLS = 0, LL_BT_MARKS = 1, LL_BT_ORDERS = 2 };

typedef struct ll_bt_stats {
    uint64_t frames;       /* messages in the stream (up to a bad frame) */
    uint64_t events;       /* messages through the engine (pyimpl's Result.events) */
    uint64_t book_updates;
    uint64_t snapshots;    /* snapshots handed to the strategy */
    uint64_t orders_sent;  /* OUCH Enter Orders */
    uint64_t cancels_sent; /* OUCH Cancel Orders (the strategy's and the kill switch's) */
    uint64_t rejects;      /* intents the risk checks refused */
    uint64_t fills, marks, orders; /* records written in all (flushed or not) */
    uint64_t halted;       /* the kill switch's reason, 0 if it never tripped */
    uint64_t max_in_flight; /* the most messages one leg held at once */
} ll_bt_stats;

/* ------------------------------------------------------------ life */
/* The frames of a framed stream before the first bad one (the messages a
 * replay would have: pyimpl sizes its pieces from it); *end = the offset
 * where framing stopped: len, or that bad frame's. */
int64_t ll_bt_count_frames(const uint8_t *buf, uint64_t len, uint64_t *end);
/* x, fe, oms: fresh (no message, no order yet), owned by the caller, kept
 * until ll_bt_destroy.  The stream is framed here: a bad frame is not an
 * error of create (ll_bt_stream_error says where it is).  NULL on error with
 * *err (if err) = LL_EINVAL (a NULL, used pieces, a capacity that is not a
 * power of two) or LL_ENORES. */
ll_bt *ll_bt_create(ll_exch *x, ll_ml_engine *fe, ll_oms *oms, const ll_bt_config *cfg, int *err);
void ll_bt_destroy(ll_bt *bt);

/* The exchange time of each message (ns since midnight: bytes 5..10 of the
 * message) into out, at most max; returns how many messages there are. */
int64_t ll_bt_stamps(const ll_bt *bt, int64_t *out, uint64_t max);
/* The delays, before the first ll_bt_next: feed_at[i] = when message i
 * reaches the engine (n_feed = the messages ll_bt_stamps counts); order and
 * reply delays (n >= 1 each), used in turn and then again from the first.
 * Every value in 0 .. LL_BT_MAX_NS.  The arrays must outlive the run.
 * LL_EINVAL otherwise (a wrong length, a NULL, a value out of range, a run
 * already started). */
int ll_bt_set_latency(ll_bt *bt, const int64_t *feed_at, uint64_t n_feed, const int64_t *order_delay,
                      uint64_t n_order, const int64_t *reply_delay, uint64_t n_reply);

/* ------------------------------------------------------------ the loop */
/* The event slot and the intent slots (LL_BT_MAX_INTENTS ll_ts_intent, of
 * which the loop reads kind, side, locate, cl_ord_id, price, qty).  Fixed
 * for the life of bt: a binding keeps their addresses. */
const ll_bt_event *ll_bt_event_slot(const ll_bt *bt);
ll_ts_intent *ll_bt_intent_slots(ll_bt *bt);

/* Run to the next strategy call.  n: how many intents the caller wrote into
 * the intent slots in answer to the snapshot just returned (0 after any
 * other event, or for no answer).  Returns the event's kind (LL_BT_EV_*),
 * its content in ll_bt_event_slot(bt), or a negative error: LL_EINVAL (intents
 * that answer no snapshot, n too large, no latency set), a stream error in
 * strict mode (ll_bt_stream_error), LL_ENORES (a leg is full). */
int ll_bt_next(ll_bt *bt, uint32_t n);
/* A C strategy the loop calls inline: on_features writes the snapshot's
 * answer into out (LL_BT_MAX_INTENTS slots) and returns how many; on_report
 * takes every report (LL_REPORT_*: the strategy picks what it needs).  A
 * negative return, or more intents than the slots, is an error of the loop
 * (sticky, as any other).  state is the strategy's own, passed back. */
typedef struct ll_bt_strategy {
    int (*on_features)(void *state, const ll_ts_snapshot *snap, ll_ts_intent *out);
    int (*on_report)(void *state, const ll_ts_report *r);
    void *state;
} ll_bt_strategy;

/* The whole replay with a C strategy called inline (NULL: a strategy that
 * never answers, for timing the rest).  Returns at every event the strategy
 * does not take: PROGRESS, FLUSH, STOPPED, DONE, or an error. */
int ll_bt_run_strategy(ll_bt *bt, const ll_bt_strategy *s);
/* ll_bt_run_strategy with lab 7's C strategy (NULL: none). */
int ll_bt_run(ll_bt *bt, ll_ts_signal *sig);
/* Finish what is pending (the intents given with the next ll_bt_next, and
 * their reports), then return LL_BT_EV_STOPPED instead of going on: a
 * strategy failed, and the replay ends where it failed. */
void ll_bt_stop(ll_bt *bt);

/* ------------------------------------------------------------ the market maker in C */
/* pyimpl.trading_system.MarketMaker's twin (the rules are MarketMakerParams'
 * docstring): on each snapshot of a symbol it quotes, with both sides
 * quoted, a bid at the best bid and an ask at the best ask, skewed by
 * lots = position / qty (truncated toward zero) x skew_ticks ticks ($0.01)
 * away from the touch on the side that would add to the inventory; a side
 * only while one more fill keeps |position| <= max_position; one working
 * order per (symbol, side): one at another price (or on a side no longer
 * allowed) is cancelled, and the new one goes out once that cancel is
 * confirmed; after a rejection the side waits reject_cooldown snapshots of
 * its symbol.  The same intents as the Python class on the same calls (a
 * test holds the two loops' results equal).  A price that does not fit an
 * order (a bid at or below 0, an ask above UINT32_MAX) is not quoted; once
 * the ids run out (cl_ord_id UINT32_MAX used) no new order is sent.  State by
 * locate, sized at create: no allocation after it. */
typedef struct ll_bt_mm_params {
    uint32_t qty;             /* shares per order, >= 1 */
    uint32_t skew_ticks;      /* ticks per lot of inventory */
    int64_t max_position;     /* |position| cap, 0 .. LL_BT_MM_MAX_POSITION */
    uint32_t reject_cooldown; /* snapshots of its symbol a side waits after a rejection */
    uint32_t first_id;        /* its first cl_ord_id, >= 1 (then +1 per order) */
    const uint16_t *symbols;  /* the locates it quotes (copied by create); NULL: every symbol */
    uint32_t n_symbols;       /* how many (symbols non-NULL; 0: none) */
    uint32_t pad_;
} ll_bt_mm_params;

#define LL_BT_MM_MAX_POSITION (1ll << 62)
#define LL_BT_MM_TICK 100u /* ITCH price units per $0.01 (MarketMaker.TICK) */

typedef struct ll_bt_mm ll_bt_mm;

typedef struct ll_bt_mm_stats {
    uint64_t fills, rejects; /* MarketMaker.fills / .rejects: EXECUTED reports; REJECTED, HALTED (and unknown) ones */
    uint64_t orders, cancels; /* NEW and CANCEL intents written */
} ll_bt_mm_stats;

/* NULL on error with *err (if err) = LL_EINVAL (p NULL, qty 0, max_position
 * out of range, first_id 0, symbols NULL with n_symbols > 0) or LL_ENORES. */
ll_bt_mm *ll_bt_mm_create(const ll_bt_mm_params *p, int *err);
void ll_bt_mm_destroy(ll_bt_mm *mm);
/* on_features: the answer (at most 2 intents: bid side, then ask side) into
 * out; returns how many, or LL_EINVAL (a NULL). */
int ll_bt_mm_on_features(ll_bt_mm *mm, const ll_ts_snapshot *snap, ll_ts_intent out[2]);
/* Any report (pyimpl's on_execution / on_cancel / on_reject / on_accept, by
 * kind; HALTED and unknown kinds as on_reject).  LL_OK or LL_EINVAL. */
int ll_bt_mm_on_report(ll_bt_mm *mm, const ll_ts_report *r);
/* Its counts, and one symbol's position as the reports told it. */
void ll_bt_mm_get_stats(const ll_bt_mm *mm, ll_bt_mm_stats *out);
int64_t ll_bt_mm_position(const ll_bt_mm *mm, uint16_t locate);
/* ll_bt_run_strategy with the market maker (NULL: none). */
int ll_bt_run_mm(ll_bt *bt, ll_bt_mm *mm);

/* ------------------------------------------------------------ results */
/* The record buffer `which` (LL_BT_FILLS / MARKS / ORDERS): *rows = its
 * rows, written since the last FLUSH (valid until the next ll_bt_next or
 * ll_bt_run); returns how many, or LL_EINVAL. */
int64_t ll_bt_records(const ll_bt *bt, int which, const void **rows);
void ll_bt_get_stats(const ll_bt *bt, ll_bt_stats *out);
/* The first thing wrong with the stream that stopped (or, in strict mode,
 * will stop) the replay: 0 if none, else its error code, with its message
 * index (0-based) and the offset of its frame (its length prefix) in *message
 * and *offset: a bad frame (LL_ETRUNCATED, LL_EBADFRAME) found by create,
 * or a message the exchange's book refused (the book's error). */
int64_t ll_bt_stream_error(const ll_bt *bt, uint64_t *message, uint64_t *offset);
/* The symbols of the stream's directory (ITCH 'R') the engine has seen, in
 * the order it saw them: locates[i] and its 8-character ITCH name at
 * names8 + 8 i; returns how many there are (out NULL: just the count). */
int64_t ll_bt_symbols(const ll_bt *bt, uint16_t *locates, char *names8, uint64_t max);
/* Lab 7's reconciliation: 1 if the order manager's fills (order, shares,
 * price) equal the exchange's one for one and every symbol's net position
 * agrees, 0 if not, LL_ENORES. */
int ll_bt_reconcile(const ll_bt *bt);

/* sizeof / offsetof facts ("sizeof ll_bt_event", "offsetof ll_bt_event.snap",
 * ...), -1 if unknown: the binding checks its mirrors. */
int64_t ll_bt_layout_info(const char *what);

#endif
