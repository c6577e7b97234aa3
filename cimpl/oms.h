/*
 * oms.h - lab 7's order manager and pre-trade risk checks (cimpl/oms.c).
 *
 * The engine calls it and it does no I/O: it works on structured values
 * (the engine encodes and decodes the OUCH bytes).  Between the strategy and
 * the exchange it
 *   - turns the strategy's intents (ts_layout.h's ll_ts_intent) into orders to
 *     send (ll_oms_send) or into rejections (an ll_ts_report of kind REJECTED
 *     with an LL_RISK_* reason), after the pre-trade risk checks below;
 *   - assigns each order its OUCH UserRefNum: 1, 2, 3, ... in the order sent;
 *   - follows each order through its states on the exchange's replies and
 *     says what to report to the strategy (an ll_ts_report: the engine stamps
 *     `ns` again if it wants the push time and pushes it on ring C);
 *   - keeps positions, average cost and PnL per symbol;
 *   - holds the kill switch.
 * Single-threaded (the engine's one thread); every array is allocated by
 * ll_oms_create and nothing after.  pyimpl/oms.py is the same machine in pure
 * Python, and the tests drive both with the same inputs.
 *
 * Units.  Prices are ITCH's: u32, 1/10000 dollar ($1 = 10000).  A tick is
 * $0.01 = 100 price units.  Notional, cost and PnL are price units x shares
 * (so $1 of PnL = 10000), signed 64-bit in the API; inside they are kept in
 * 128 bits and a query clamps to the int64 range (no lab session comes near).
 *
 * Return codes.  Negative: a caller error (common.h: LL_EINVAL for a NULL or
 * out-of-range argument...), nothing changed.  Zero or positive: what
 * happened, documented per function; in particular a REJECTED intent and an
 * illegal exchange reply are results, never errors: the strategy's and the
 * exchange's mistakes are counted and survived, not the caller's bug.
 *
 * ----------------------------------------------------------------- states
 * An order is created by ll_oms_submit in PENDING_NEW (sent, not yet
 * acknowledged).  "open" = PENDING_NEW, ACCEPTED, PARTIALLY_FILLED or
 * CANCEL_PENDING: its leaves may still trade.  FILLED, CANCELED, REJECTED are
 * final.  An order remembers whether the exchange has accepted it (`acked`),
 * which CANCEL_PENDING needs (a cancel may be sent before the accept arrives).
 *
 *   from \ event     accepted        executed(q)          canceled(q)          rejected      cancel()         cancel_rejected
 *   PENDING_NEW      ACCEPTED        !NOT_ACCEPTED        !NOT_ACCEPTED        REJECTED      CANCEL_PENDING   !NO_CANCEL
 *   ACCEPTED         !ACCEPT_TWICE   PARTIALLY_FILLED     CANCELED (q=leaves)  !REJECT_ACC.  CANCEL_PENDING   !NO_CANCEL
 *                                    or FILLED (q=leaves) or ACCEPTED (q<leaves: a decrement)
 *   PARTIALLY_FILLED !ACCEPT_TWICE   PARTIALLY_FILLED     CANCELED (q=leaves)  !REJECT_ACC.  CANCEL_PENDING   !NO_CANCEL
 *                                    or FILLED            or PARTIALLY_FILLED
 *   CANCEL_PENDING   (acked: !ACCEPT_TWICE) (the race:     CANCELED (q=leaves)  (not acked:   reject           back to what it was:
 *                    (not acked: stays CANCEL_PENDING,    or stays             REJECTED;     CANCEL_PENDING   PENDING_NEW, ACCEPTED
 *                     now acked)     a fill racing the    CANCEL_PENDING       acked:                         or PARTIALLY_FILLED
 *                                    cancel is legal)     (q<leaves)           !REJECT_ACC.)
 *                                    stays, or FILLED
 *                                    (not acked: !NOT_ACCEPTED)
 *   FILLED/CANCELED/ !AFTER_CLOSE    !AFTER_CLOSE         !AFTER_CLOSE         !AFTER_CLOSE  reject           !AFTER_CLOSE
 *   REJECTED                                                                                 ORDER_CLOSED
 *
 * "!X" is an illegal transition of kind LL_OMS_BAD_X: counted (by kind), the
 * on_* call returns X (> 0) and writes no report, and the order is left
 * exactly as it was (no state, quantity, position or PnL change).  Also
 * illegal, whatever the state: a reply for a user_ref never sent
 * (!UNKNOWN_REF), zero shares (!ZERO_QTY), more shares executed or canceled
 * than the order has left (!OVERFILL, !OVERCANCEL), an execution at price 0
 * or through the order's limit (a buy above it, a sell below it:
 * !FILL_PRICE), an execution whose match number was seen before (a replayed
 * message: !DUP_MATCH).  The checks run in that order: UNKNOWN_REF, ZERO_QTY,
 * AFTER_CLOSE, the state's own (NOT_ACCEPTED, ACCEPT_TWICE, REJECT_ACCEPTED,
 * NO_CANCEL), OVERFILL / OVERCANCEL, FILL_PRICE, DUP_MATCH.
 * The OMS does not guess when the exchange says something impossible (an
 * ignored execution may have been a real trade): it refuses to corrupt its
 * records, counts it, and leaves the disagreement to reconciliation
 * (ll_oms_orders / ll_oms_fills against the exchange's own records).
 * Invariant, every order, always: filled + canceled + leaves = qty, where
 * `canceled` counts every share that will never trade (canceled, or all of a
 * REJECTED order's).
 *
 * ----------------------------------------------------------------- risk checks
 * ll_oms_submit runs them in this order, cheapest and most fundamental first
 * (a malformed order is rejected before anything looks anything up; the one
 * check that scans - self-match - comes last).  The first that fails is the
 * reason; nothing is changed by a rejection except the counters.
 *    1 kill switch        halted: the kill reason (LL_RISK_KILL_MANUAL, _LOSS, _HEARTBEAT)
 *    2 BAD_SIDE           side not 'B' / 'S'
 *    3 BAD_QTY            qty 0 or above LL_OMS_QTY_SANE (whatever the limits say)
 *    4 BAD_PRICE          price 0 or above LL_OMS_PRICE_SANE
 *    5 UNKNOWN_SYMBOL     locate not declared by ll_oms_add_symbol
 *    6 DUPLICATE_ID       cl_ord_id already used by an order sent this session
 *    7 CAPACITY           the order table (max_orders, for the session) is full
 *    8 MAX_QTY            qty > max_order_qty
 *    9 MAX_NOTIONAL       price x qty > max_order_notional
 *   10 NO_MARKET / COLLAR the collar's reference is missing / |price - ref| > collar_ticks ticks
 *   11 MAX_OPEN_ORDERS    open orders + 1 > max_open_orders
 *   12 RATE_SYMBOL        rate_orders_symbol orders already sent for this symbol in the window
 *   13 RATE_TOTAL         rate_orders_total orders already sent in the window
 *   14 MAX_LONG/MAX_SHORT worst case if every open order of that side and this one fill
 *   15 MAX_GROSS          gross exposure with this order > max_gross_notional
 *   16 SELF_MATCH         it would cross one of our own open orders on the other side
 * A limit of 0 turns its check off (1-7 are always on).  Cancels pass no risk
 * check but the order's own state (risk-reducing actions are always allowed,
 * even halted) and are not throttled.
 */
#ifndef LL_OMS_H
#define LL_OMS_H

#include <stdint.h>

#include "ts_layout.h"

typedef struct ll_oms ll_oms;

/* ----------------------------------------------------------------- reason codes */
/* Why an intent was rejected (ll_ts_report.reason of a REJECTED report), why
 * trading halted (of a HALTED report).  Stable numbers: the strategy sees
 * them, and pyimpl.oms.Risk has the same values (a test checks). */
enum {
    LL_RISK_OK = 0,
    LL_RISK_KILL_MANUAL = 1,    /* halted: ll_oms_kill by an operator */
    LL_RISK_LOSS = 2,           /* halted: realized + unrealized PnL fell below -max_loss */
    LL_RISK_HEARTBEAT = 3,      /* halted: the strategy's heartbeat lapsed (the engine calls kill) */
    LL_RISK_BAD_SIDE = 4,
    LL_RISK_BAD_QTY = 5,
    LL_RISK_BAD_PRICE = 6,
    LL_RISK_UNKNOWN_SYMBOL = 7,
    LL_RISK_DUPLICATE_ID = 8,
    LL_RISK_CAPACITY = 9,
    LL_RISK_MAX_QTY = 10,
    LL_RISK_MAX_NOTIONAL = 11,
    LL_RISK_COLLAR = 12,
    LL_RISK_NO_MARKET = 13,
    LL_RISK_MAX_OPEN_ORDERS = 14,
    LL_RISK_RATE_SYMBOL = 15,
    LL_RISK_RATE_TOTAL = 16,
    LL_RISK_MAX_LONG = 17,
    LL_RISK_MAX_SHORT = 18,
    LL_RISK_MAX_GROSS = 19,
    LL_RISK_SELF_MATCH = 20,
    /* a cancel intent the OMS refuses */
    LL_RISK_UNKNOWN_ORDER = 21, /* no order with that cl_ord_id was sent */
    LL_RISK_ORDER_CLOSED = 22,  /* the order is FILLED, CANCELED or REJECTED */
    LL_RISK_CANCEL_PENDING = 23, /* a cancel is already on its way */
    /* the exchange refused our cancel (report kind REJECTED, leaves > 0: the order lives on) */
    LL_RISK_CANCEL_REFUSED = 24,
    LL_RISK_N = 25,             /* codes below this are defined */
    LL_RISK_SLOTS = 32,         /* the counters' array size: room to add codes without a layout change */
};
/* A REJECTED report for an order the exchange refused carries the exchange's
 * reason (OUCH 5.0's reject reason, < 0x8000) with this bit set: never
 * confused with the OMS's own codes. */
#define LL_RISK_EXCHANGE 0x8000u

/* ----------------------------------------------------------------- order states */
enum {
    LL_OMS_PENDING_NEW = 1,
    LL_OMS_ACCEPTED = 2,
    LL_OMS_PARTIALLY_FILLED = 3,
    LL_OMS_CANCEL_PENDING = 4,
    LL_OMS_FILLED = 5,
    LL_OMS_CANCELED = 6,
    LL_OMS_REJECTED = 7,
};

/* ----------------------------------------------------------------- illegal transitions */
/* What an on_* call returns (> 0) for a reply it refuses; counted by kind. */
enum {
    LL_OMS_BAD_UNKNOWN_REF = 1,     /* a user_ref never sent */
    LL_OMS_BAD_ZERO_QTY = 2,        /* an execution or a cancel of 0 shares */
    LL_OMS_BAD_AFTER_CLOSE = 3,     /* any reply for a FILLED, CANCELED or REJECTED order */
    LL_OMS_BAD_NOT_ACCEPTED = 4,    /* an execution or a cancel before the exchange accepted the order */
    LL_OMS_BAD_ACCEPT_TWICE = 5,    /* an accept of an order already accepted */
    LL_OMS_BAD_REJECT_ACCEPTED = 6, /* a reject of an order already accepted */
    LL_OMS_BAD_NO_CANCEL = 7,       /* a cancel-reject while no cancel of ours is pending */
    LL_OMS_BAD_OVERFILL = 8,        /* executed shares > leaves */
    LL_OMS_BAD_OVERCANCEL = 9,      /* canceled shares > leaves */
    LL_OMS_BAD_FILL_PRICE = 10,     /* price 0, or a buy above / a sell below its limit */
    LL_OMS_BAD_DUP_MATCH = 11,      /* an execution's match number was already seen */
    LL_OMS_BAD_N = 12,
    LL_OMS_BAD_SLOTS = 16,
};

/* ----------------------------------------------------------------- limits */
enum { LL_OMS_COLLAR_SAME_SIDE = 0, LL_OMS_COLLAR_MID = 1 };

/* Sanity bounds no configuration lifts (checks 3 and 4): an order above
 * them is a bug (a price in dollars x 10000 twice, shares and price
 * swapped...), not a trade.  The price bound is ITCH's largest, $199,999.99. */
#define LL_OMS_QTY_SANE 1000000u
#define LL_OMS_PRICE_SANE 1999999900u
/* Capacities ll_oms_create accepts. */
#define LL_OMS_MAX_ORDERS (1u << 24)
#define LL_OMS_MAX_FILLS (1u << 26)
#define LL_OMS_MAX_SYMBOLS 65535u
#define LL_OMS_MAX_RATE (1u << 16) /* rate_orders_symbol / _total: the rings are that many timestamps */

/* Every pre-trade limit; 0 = that check off.  Fixed at create (the rate rings
 * are sized from it).  The defaults (ll_oms_limits_default) are
 * labs/07-trading-system/risk.toml's, where each says what failure it prevents. */
typedef struct ll_oms_limits {
    uint64_t max_order_qty;      /* shares per order */
    uint64_t max_order_notional; /* price x qty per order, price units x shares */
    uint64_t collar_ticks;       /* |price - reference| <= collar_ticks x 100 */
    uint64_t collar_ref;         /* LL_OMS_COLLAR_SAME_SIDE (a buy against the best bid, a sell
                                  * against the best ask) or LL_OMS_COLLAR_MID ((bid + ask) / 2) */
    uint64_t max_long;           /* shares per symbol: position + open buys + this buy */
    uint64_t max_short;          /* shares per symbol: -(position - open sells - this sell) */
    uint64_t max_gross_notional; /* sum over symbols of |position| x mark, plus price x leaves of
                                  * every open order, plus this order's price x qty */
    uint64_t max_open_orders;
    uint64_t rate_orders_symbol; /* orders sent per symbol per rate_window_ns (sliding) */
    uint64_t rate_orders_total;  /* orders sent in all per rate_window_ns */
    uint64_t rate_window_ns;     /* must be > 0 when a rate limit is on */
    uint64_t max_loss;           /* kill when realized + unrealized < -max_loss (price units x shares) */
    uint64_t self_match;         /* 1: reject an order that would cross our own (0: off) */
} ll_oms_limits;

void ll_oms_limits_default(ll_oms_limits *out);

/* ----------------------------------------------------------------- outputs */
enum { LL_OMS_SEND_NEW = 1, LL_OMS_SEND_CANCEL = 2 };

/* An order message for the engine to encode as OUCH 5.0 and send:
 * NEW: Enter Order (UserRefNum, side, qty, the locate's symbol, price, ClOrdID);
 * CANCEL: Cancel Order (UserRefNum, quantity 0 = cancel all that is left). */
typedef struct ll_oms_send {
    uint8_t kind;       /* LL_OMS_SEND_* */
    uint8_t side;       /* 'B' / 'S' */
    uint16_t locate;
    uint32_t user_ref;  /* OUCH UserRefNum */
    uint32_t cl_ord_id;
    uint32_t price;     /* NEW: the limit price; CANCEL: the order's */
    uint32_t qty;       /* NEW: shares; CANCEL: 0 (all) */
    uint32_t pad_;
} ll_oms_send;

/* Reports are ts_layout.h's ll_ts_report, filled as:
 *   kind      LL_REPORT_ACCEPTED / EXECUTED / CANCELED / REJECTED / HALTED
 *   cl_ord_id, side, locate: the order's (HALTED: 0)
 *   price     EXECUTED: the fill's price; otherwise the order's limit price
 *   qty       EXECUTED: shares filled; CANCELED: shares canceled; otherwise the order's qty
 *   leaves    the order's shares still open after this (0 once final)
 *   reason    REJECTED: LL_RISK_*, or LL_RISK_EXCHANGE | the exchange's reason;
 *             CANCELED: the exchange's cancel reason byte (OUCH 'U' user, ...); HALTED: the kill reason
 *   position  the symbol's signed position after this (HALTED: 0)
 *   ns        the now_ns of the call that produced it */

/* Kill-switch actions, drained with ll_oms_next_action. */
enum { LL_OMS_ACT_NONE = 0, LL_OMS_ACT_REPORT = 1, LL_OMS_ACT_SEND = 2 };

/* ----------------------------------------------------------------- records (reconciliation) */
typedef struct ll_oms_order_rec {
    uint64_t exch_ref;   /* OUCH Order Reference Number from the accept (0 before) */
    uint64_t sent_ns;    /* now_ns of the submit */
    uint32_t user_ref;
    uint32_t cl_ord_id;
    uint32_t price;
    uint32_t qty;
    uint32_t filled;
    uint32_t canceled;   /* shares that will never trade: canceled, or all of a rejected order */
    uint32_t leaves;     /* qty - filled - canceled */
    uint16_t locate;
    uint8_t side;
    uint8_t state;       /* LL_OMS_* state */
} ll_oms_order_rec;

typedef struct ll_oms_fill_rec {
    uint64_t match_number;
    uint64_t ns;
    uint32_t user_ref;
    uint32_t cl_ord_id;
    uint32_t qty;
    uint32_t price;
    uint16_t locate;
    uint8_t side;
    uint8_t liquidity;   /* OUCH's liquidity flag, as received */
    uint32_t pad_;
} ll_oms_fill_rec;

/* Average cost: `cost` is the signed cost of the open position (a long of 10
 * bought at 100.00 has cost +10 x 1000000; a short, a negative cost).  A fill
 * that adds to the position adds price x qty to it; one that reduces it takes
 * away cost x closed / |position| (rounded toward zero) and realizes
 * price x closed x sign(position) minus that; one that crosses through zero
 * closes all and opens the rest at its price.  Flat again, cost is exactly 0
 * and realized is exactly the money made.  unrealized = position x mark - cost. */
typedef struct ll_oms_position_rec {
    int64_t position;      /* signed shares: the signed sum of fills */
    int64_t cost;
    int64_t realized;
    int64_t unrealized;
    int64_t open_buy_qty;  /* leaves of the open buy orders */
    int64_t open_sell_qty;
    int64_t bought;        /* shares bought in all */
    int64_t sold;
    uint32_t mark;         /* the mid of the last two-sided quote; before any, the last fill's price; 0: none */
    uint32_t bid, ask;     /* the last quote (0: that side empty) */
    uint32_t open_orders;
    uint16_t locate;
    uint16_t pad_;
} ll_oms_position_rec;

typedef struct ll_oms_counters {
    uint64_t intents;        /* NEW intents submitted */
    uint64_t sent;           /* orders sent (passed every check) */
    uint64_t rejected;       /* NEW intents rejected by the OMS */
    uint64_t cancel_intents; /* cancels asked for (strategy) */
    uint64_t cancels_sent;   /* cancels sent: the strategy's and the kill switch's */
    uint64_t cancel_rejected;/* cancels refused by the OMS */
    uint64_t accepted, executions, canceled, exch_rejected, cancel_refused; /* legal replies */
    uint64_t fills_unrecorded; /* executions applied but not logged: the fill table was full */
    uint64_t illegal;        /* illegal replies in all */
    uint64_t quotes;         /* on_quote calls for declared symbols */
    uint64_t kills;          /* 0 or 1: kill switch tripped */
    uint64_t resumes;        /* heartbeat halts lifted (ll_oms_resume) */
    uint64_t rejects[LL_RISK_SLOTS];   /* by reason (NEW and cancel intents) */
    uint64_t illegals[LL_OMS_BAD_SLOTS]; /* by kind */
} ll_oms_counters;

/* ----------------------------------------------------------------- life */
/* limits NULL: the defaults.  max_orders: orders for the session (never
 * freed: they are the reconciliation record), 1..LL_OMS_MAX_ORDERS;
 * max_symbols 1..LL_OMS_MAX_SYMBOLS; max_fills: executions logged,
 * 1..LL_OMS_MAX_FILLS.  NULL on error with *err (if err) = LL_EINVAL (a bad
 * capacity or limit: a rate limit above LL_OMS_MAX_RATE or without a window,
 * a collar_ref that is neither) or LL_ENORES (out of memory). */
ll_oms *ll_oms_create(const ll_oms_limits *limits, uint32_t max_orders, uint32_t max_symbols, uint32_t max_fills,
                      int *err);
void ll_oms_destroy(ll_oms *o);
void ll_oms_get_limits(const ll_oms *o, ll_oms_limits *out);

/* Declare a symbol the OMS may trade (ITCH stock locate 1..65535).  LL_OK
 * (again for a declared one), LL_EBADLOCATE (0 or > 65535), LL_EBOOKFULL
 * (max_symbols declared). */
int ll_oms_add_symbol(ll_oms *o, uint32_t locate);

/* ----------------------------------------------------------------- strategy -> exchange */
/* An intent from ring B.  NEW: LL_RISK_OK (0) and *send = the order (now
 * PENDING_NEW), or a reason (> 0) and *rep = the REJECTED report.  CANCEL:
 * as ll_oms_cancel(in->cl_ord_id).  Other kinds (heartbeat, bye: the
 * engine's) and NULLs: LL_EINVAL.  now_ns drives the rate limits; a time
 * earlier than a previous submit's counts as that one (the clock is monotonic). */
int ll_oms_submit(ll_oms *o, const ll_ts_intent *in, uint64_t now_ns, ll_oms_send *send, ll_ts_report *rep);
/* Cancel the order cl_ord_id: LL_RISK_OK and *send = the cancel (the order is
 * CANCEL_PENDING), or LL_RISK_UNKNOWN_ORDER / ORDER_CLOSED / CANCEL_PENDING and
 * *rep = the REJECTED report (its leaves, position: the order's).  Allowed halted. */
int ll_oms_cancel(ll_oms *o, uint32_t cl_ord_id, uint64_t now_ns, ll_oms_send *send, ll_ts_report *rep);

/* ----------------------------------------------------------------- exchange -> strategy */
/* Each: 0 and *rep = what to report, or LL_OMS_BAD_* (> 0: refused, counted,
 * nothing written, nothing changed), or LL_EINVAL (NULL).  An execution may
 * trip the loss limit: then the kill switch's actions are queued
 * (ll_oms_pending > 0) after this report. */
int ll_oms_on_accepted(ll_oms *o, uint32_t user_ref, uint64_t exch_ref, uint64_t now_ns, ll_ts_report *rep);
int ll_oms_on_executed(ll_oms *o, uint32_t user_ref, uint32_t qty, uint32_t price, uint64_t match_number,
                       uint8_t liquidity, uint64_t now_ns, ll_ts_report *rep);
/* qty: the shares the exchange took off (OUCH's decrement); all that is left closes the order */
int ll_oms_on_canceled(ll_oms *o, uint32_t user_ref, uint32_t qty, uint8_t reason, uint64_t now_ns,
                       ll_ts_report *rep);
/* reason: the exchange's (< 0x8000), reported as LL_RISK_EXCHANGE | reason */
int ll_oms_on_rejected(ll_oms *o, uint32_t user_ref, uint16_t reason, uint64_t now_ns, ll_ts_report *rep);
/* the exchange refused our cancel (too late, unknown to it): the order goes
 * back to its state before the cancel; reported REJECTED, LL_RISK_CANCEL_REFUSED */
int ll_oms_on_cancel_rejected(ll_oms *o, uint32_t user_ref, uint64_t now_ns, ll_ts_report *rep);
/* (OUCH Replace is not supported: the strategy's intents have no replace.) */

/* ----------------------------------------------------------------- market data */
/* The symbol's best bid and ask (0: that side empty), for the collar and the
 * mark.  1 if the locate is declared (applied), 0 if not (ignored).  May trip
 * the loss limit (the mark moved): see ll_oms_pending. */
int ll_oms_on_quote(ll_oms *o, uint32_t locate, uint32_t bid, uint32_t ask, uint64_t now_ns);

/* ----------------------------------------------------------------- kill switch */
/* Halt trading with `reason` (LL_RISK_KILL_MANUAL, LL_RISK_LOSS or
 * LL_RISK_HEARTBEAT; else LL_EINVAL): from now on every NEW intent is
 * rejected with that reason; cancels still pass.  Every open order not
 * already CANCEL_PENDING goes CANCEL_PENDING and its cancel is queued, after a
 * HALTED report; returns how many cancels were queued.  Once halted, a second
 * kill changes nothing and returns 0 (the first reason stays). */
int64_t ll_oms_kill(ll_oms *o, uint16_t reason, uint64_t now_ns);
/* 0 while trading, else the kill reason. */
int ll_oms_halted(const ll_oms *o);
/* Lift a LL_RISK_HEARTBEAT halt once its actions are all taken (a new
 * strategy took over): 1 = trading again, 0 = not halted, halted for another
 * reason (those stay until a person restarts the engine), or actions still
 * pending. */
int ll_oms_resume(ll_oms *o);
/* Actions queued by the kill switch and not yet taken (the HALTED report, the cancels). */
uint64_t ll_oms_pending(const ll_oms *o);
/* Take the next one: LL_OMS_ACT_REPORT (*rep = the HALTED report, first),
 * LL_OMS_ACT_SEND (*send = a cancel), LL_OMS_ACT_NONE when none is left.
 * A queued order that closed meanwhile (filled in the race) is skipped. */
int ll_oms_next_action(ll_oms *o, ll_oms_send *send, ll_ts_report *rep);

/* ----------------------------------------------------------------- queries */
void ll_oms_get_counters(const ll_oms *o, ll_oms_counters *out);
uint32_t ll_oms_order_count(const ll_oms *o);  /* orders sent (= the last user_ref) */
uint32_t ll_oms_open_orders(const ll_oms *o);
uint64_t ll_oms_fill_count(const ll_oms *o);   /* fills logged */
/* One order by user_ref / by cl_ord_id: 1 and *out, or 0 if none. */
int ll_oms_order(const ll_oms *o, uint32_t user_ref, ll_oms_order_rec *out);
int ll_oms_order_by_id(const ll_oms *o, uint32_t cl_ord_id, ll_oms_order_rec *out);
/* Orders from the index `from` (user_ref - 1), at most max, in user_ref
 * order; fills likewise in arrival order; returns how many were written. */
int64_t ll_oms_orders(const ll_oms *o, uint64_t from, ll_oms_order_rec *out, uint64_t max);
int64_t ll_oms_fills(const ll_oms *o, uint64_t from, ll_oms_fill_rec *out, uint64_t max);
/* One symbol: 1 and *out, 0 if not declared.  All: in declaration order. */
int ll_oms_position(const ll_oms *o, uint32_t locate, ll_oms_position_rec *out);
int64_t ll_oms_positions(const ll_oms *o, ll_oms_position_rec *out, uint64_t max);
/* Totals over every symbol: out[0] realized, out[1] unrealized, out[2] gross
 * exposure (positions at the mark + open orders, as MAX_GROSS counts it). */
void ll_oms_totals(const ll_oms *o, int64_t out[3]);

/* Internal consistency (the tests call it after every step): 0 if every
 * invariant holds (per order filled + canceled + leaves = qty; per symbol the
 * open counts and quantities, the position and the gross sums recomputed from
 * scratch equal the running ones), else a positive code saying which failed. */
int64_t ll_oms_check(const ll_oms *o);
/* A size, an offset or a constant by name (sizeof_send, send.user_ref,
 * risk_n, ...): the binding checks its structs against C's; -1 if unknown. */
int64_t ll_oms_layout_info(const char *what);

#endif
