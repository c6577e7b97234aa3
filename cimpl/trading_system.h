/* trading_system.h - the C API of lab 7 (cimpl/trading_system.c): the
 * engine's loop, the C strategy, the exchange process's loop, and the
 * strategy's doorbell.  The wires are ts_layout.h's; the order manager is
 * oms.h's, the matcher exchange.h's.
 *
 * Return codes: >= 0 on success, a negative error from common.h otherwise. */
#ifndef LL_TRADING_SYSTEM_H
#define LL_TRADING_SYSTEM_H

#include <stdint.h>

#include "exchange.h"
#include "ml_inference.h"
#include "oms.h"
#include "spsc_ring.h"
#include "ts_layout.h"

/* ------------------------------------------------------------ the doorbell (see trading_system.c) */
void ll_ts_bell_ring(ll_ts_bell *b);
uint32_t ll_ts_bell_prepare(ll_ts_bell *b);
int ll_ts_bell_wait(ll_ts_bell *b, uint32_t seq, uint64_t timeout_ns);
void ll_ts_bell_cancel(ll_ts_bell *b);

/* ------------------------------------------------------------ the C strategy */
/* pyimpl.trading_system.SignalParams, field for field. */
typedef struct ll_ts_signal_params {
    double enter;
    uint32_t qty;
    uint32_t max_position;
    uint32_t order_ttl;
    uint32_t reject_cooldown;
} ll_ts_signal_params;

typedef struct ll_ts_signal ll_ts_signal;
ll_ts_signal *ll_ts_signal_create(ll_ml_model *model, const ll_ts_signal_params *p, int *err);
void ll_ts_signal_destroy(ll_ts_signal *s);
/* the intents for one snapshot (at most 2) into out: their count */
int ll_ts_signal_on_features(ll_ts_signal *s, const ll_ts_snapshot *snap, ll_ts_intent out[2]);
int ll_ts_signal_on_report(ll_ts_signal *s, const ll_ts_report *r);
uint64_t ll_ts_signal_count(const ll_ts_signal *s);

/* ------------------------------------------------------------ the engine */
typedef struct ll_ts_engine_cfg {
    uint64_t heartbeat_timeout_ns; /* no intent (of any kind) from the strategy for this long: it lapsed */
    uint64_t end_timeout_ns;       /* at the end: the longest wait for the strategy's bye, then for the last replies */
    uint32_t max_samples;          /* latency samples kept per figure */
    uint32_t backlog;              /* orders and reports that may wait for their rings (a power of two) */
    uint32_t yield_when_idle;      /* 1: sched_yield when there is nothing to do (a core shared with the
                                    * exchange); 0: spin (a core of its own) */
    uint32_t pad_;
} ll_ts_engine_cfg;

/* the figures the engine times (ns each) */
enum {
    LL_TS_S_TICK_TO_SIGNAL = 0, /* exchange send stamp -> the intent (or signal) in the engine */
    LL_TS_S_HOP_FEED = 1,       /* exchange push -> engine pop (the feed ring) */
    LL_TS_S_ENGINE = 2,         /* engine pop -> snapshot push (decode, book, features) */
    LL_TS_S_HOP_INTENT = 3,     /* strategy push -> engine pop (ring B) */
    LL_TS_S_STRATEGY = 4,       /* strategy pop of the snapshot -> its push of the intent */
    LL_TS_S_RISK = 5,           /* ll_oms_submit: the risk checks and the order's record */
    LL_TS_S_HOP_REPLY = 6,      /* exchange push -> engine pop (the replies ring) */
    LL_TS_N_SAMPLES = 7,
};

typedef struct ll_ts_engine_stats {
    uint64_t feed, snaps, dropped, gaps, gap_messages, feed_errors;
    uint64_t intents, signals, bad_intents, orders, cancels, rejects, fills, illegal, reply_errors;
    uint64_t kills, strategy_lost, lost_by_death, strategy_back, exchange_lost, backlog_full, left_open;
    uint64_t cancel_races; /* a cancel refused because the order had just filled: the race, counted */
    uint64_t resumed;      /* heartbeat halts lifted when a new strategy spoke */
} ll_ts_engine_stats;

typedef struct ll_ts_engine ll_ts_engine;
void ll_ts_engine_cfg_default(ll_ts_engine_cfg *c);
/* fe: lab 6's feature engine (its book is the feed's); strat NULL: the
 * strategy is another process, on rings A, B, C. */
ll_ts_engine *ll_ts_engine_create(ll_ml_engine *fe, ll_oms *oms, ll_ts_signal *strat, const ll_ts_engine_cfg *cfg,
                                  int *err);
void ll_ts_engine_destroy(ll_ts_engine *e);
/* The engine's loop, until the session is over (the feed closed and drained,
 * the strategy said bye, every order closed) or ctl->stop.  Ends: feed and
 * replies consumer, orders producer; with an external strategy snap and
 * report producer, intent consumer (NULL otherwise).  LL_OK, or the first
 * error (a backlog that overflowed: LL_ENORES). */
int ll_ts_engine_run(ll_ts_engine *e, ll_ring *feed, ll_ring *snap, ll_ring *intent, ll_ring *report,
                     ll_ring *orders, ll_ring *replies, ll_ts_control *ctl);
void ll_ts_engine_get_stats(const ll_ts_engine *e, ll_ts_engine_stats *out);
int64_t ll_ts_engine_samples(const ll_ts_engine *e, int which, int64_t *out, uint64_t max);

/* ------------------------------------------------------------ the exchange process */
enum { LL_TS_XWAIT_SLEEP = 0, LL_TS_XWAIT_YIELD = 1, LL_TS_XWAIT_SPIN = 2 };

typedef struct ll_ts_exchange_cfg {
    double rate;             /* feed messages per second; 0: as fast as the feed ring takes them */
    uint32_t wait;           /* between send times: LL_TS_XWAIT_SLEEP (the doorbell; the core goes to whoever
                              * shares it), _YIELD (poll, sched_yield), _SPIN (poll only: the core is ours) */
    uint32_t gap_every;      /* a fault: skip one sequence number every gap_every messages (0: never) */
    uint64_t end_timeout_ns; /* after the feed: the longest wait for the engine to finish its session */
    uint32_t max_samples;
    uint32_t backlog;        /* replies that may wait for the replies ring (a power of two) */
} ll_ts_exchange_cfg;

enum {
    LL_TS_X_TICK_TO_ORDER = 0, /* the tick's send stamp -> its Enter Order popped at the exchange */
    LL_TS_X_HOP_ORDER = 1,     /* engine push -> exchange pop (the orders ring) */
    LL_TS_X_LATE = 2,          /* a paced message's send time - its scheduled time */
    LL_TS_X_N_SAMPLES = 3,
};
/* a late exchange sends at most this many periods of overdue messages back to back, then moves its schedule on */
#define LL_TS_X_CATCH_UP 64

typedef struct ll_ts_exchange_stats {
    uint64_t published, full_waits, orders, replies, errors, backlog_full, engine_lost, timed_out, gaps_made;
} ll_ts_exchange_stats;

typedef struct ll_ts_exchange ll_ts_exchange;
void ll_ts_exchange_cfg_default(ll_ts_exchange_cfg *c);
ll_ts_exchange *ll_ts_exchange_create(ll_exch *x, const ll_ts_exchange_cfg *cfg, int *err);
void ll_ts_exchange_destroy(ll_ts_exchange *e);
/* Publish the framed ITCH stream buf (2-byte length, message) on the feed
 * ring, paced at cfg.rate, each message behind its seq and send stamp,
 * applying it to the matcher as it goes, and answer the orders; then close
 * the feed and serve orders until the engine closes the orders ring (or
 * ctl->stop, or the engine died). */
int ll_ts_exchange_run(ll_ts_exchange *e, const uint8_t *buf, uint64_t len, ll_ring *feed, ll_ring *orders,
                       ll_ring *replies, ll_ts_control *ctl);
void ll_ts_exchange_get_stats(const ll_ts_exchange *e, ll_ts_exchange_stats *out);
int64_t ll_ts_exchange_samples(const ll_ts_exchange *e, int which, int64_t *out, uint64_t max);

/* Facts for the binding's layout checks ("sizeof ll_ts_snapshot", ...); -1 if unknown. */
int64_t ll_ts_layout_info(const char *what);

#endif
