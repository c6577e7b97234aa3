/*
 * ts_layout.h - lab 7's wires: the messages that cross between the three
 * processes of the trading system, each in one slot of a lab-3 seq-slot ring
 * (spsc_layout.h) inside a lab-1 segment.  One definition: pyimpl's
 * trading_system module packs the same bytes with struct formats, and a test
 * checks its sizes and offsets against ll_ts_layout_info().
 *
 *   exchange ──feed──▶ engine ──snap (A)──▶ strategy
 *   exchange ◀─orders─ engine ◀─intent (B)─ strategy
 *   exchange ──replies▶ engine ──report (C)─▶ strategy
 *
 * Ring    slot  message          when full
 * feed     64   ll_ts_feed       the exchange waits: a real feed would drop (UDP), we count the wait instead
 * snap    128   ll_ts_snapshot   the engine never waits: the snapshot is dropped and counted
 * intent   64   ll_ts_intent     the strategy waits: an intent is never lost
 * report   64   ll_ts_report     the engine keeps it in its own backlog, in order: never lost
 * orders  128   ll_ts_wire       the engine keeps it in its backlog: never lost
 * replies 128   ll_ts_wire       the exchange keeps it in its backlog: never lost
 *
 * Reports have their own ring, not ring A: snapshots may be dropped when the
 * strategy falls behind, executions may not, and a queue that mixes the two
 * must either drop an execution or stop dropping snapshots (head-of-line).
 *
 * Every time is CLOCK_MONOTONIC in ns (ll_now_ns in C, time.monotonic_ns()
 * in Python: the same clock, shared by every process on one machine).
 * Prices are ITCH's: u32, 1/10000 dollar.  Sides are ITCH's bytes 'B' / 'S'.
 */
#ifndef LL_TS_LAYOUT_H
#define LL_TS_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "spsc_layout.h"

#define LL_TS_N_FEATURES 9 /* lab 6's row (ml_inference.h, LL_ML_N_FEATURES) */

/* ------------------------------------------------------------ feed: exchange -> engine */
/* One ITCH 5.0 message, unframed (its length follows from its type byte,
 * ll_itch_size), behind the exchange's sequence number and send stamp: the
 * shape of one message of a MoldUDP64 packet. */
typedef struct ll_ts_feed {
    uint64_t seq;     /* 1, 2, 3, ... every message of the session; a jump is a gap */
    uint64_t send_ns; /* when the exchange pushed it */
    uint8_t msg[40];  /* the ITCH message (the largest type the book reads is 40 bytes) */
} ll_ts_feed;

/* ------------------------------------------------------------ ring A: engine -> strategy */
enum { LL_SNAP_FEATURES_OK = 1 }; /* flags: every feature is finite (the model may run) */

typedef struct ll_ts_snapshot {
    uint64_t seq;        /* feed seq of the book update this snapshot follows */
    uint64_t send_ns;    /* that message's exchange send stamp: the start of tick-to-signal */
    uint64_t engine_ns;  /* when the engine pushed this snapshot */
    uint16_t locate;     /* ITCH stock locate */
    uint16_t flags;      /* LL_SNAP_* */
    uint32_t dropped;    /* snapshots the engine dropped since the last one that got through (ring full) */
    uint32_t bid, ask;   /* best prices, 0 when that side is empty */
    uint32_t bid_size, ask_size;
    double features[LL_TS_N_FEATURES]; /* lab 6's features after this update */
} ll_ts_snapshot;

/* ------------------------------------------------------------ ring B: strategy -> engine */
enum {
    LL_INTENT_NEW = 1,       /* a limit order: side, price, qty, cl_ord_id (the strategy's own id, unique) */
    LL_INTENT_CANCEL = 2,    /* cancel cl_ord_id's order (qty 0: all of it) */
    LL_INTENT_HEARTBEAT = 3, /* I am alive (sent when the strategy has had nothing to say for a while) */
    LL_INTENT_BYE = 4,       /* the strategy stops on purpose: not a lapse */
    LL_INTENT_SIGNAL = 5,    /* the model ran on a snapshot and asks for nothing: the signal, for the record
                              * (tick-to-signal is timed on every model run, not only on the rare ones that trade) */
};

typedef struct ll_ts_intent {
    uint8_t kind;        /* LL_INTENT_* */
    uint8_t side;        /* 'B' / 'S' */
    uint16_t locate;
    uint32_t cl_ord_id;  /* the strategy's id for the order (OUCH's ClOrdID, in decimal) */
    uint32_t price;
    uint32_t qty;
    uint64_t seq;        /* the snapshot's feed seq this intent answers (0: none) */
    uint64_t send_ns;    /* that snapshot's exchange send stamp (tick-to-signal = arrival - this) */
    uint64_t recv_ns;    /* when the strategy read the snapshot */
    uint64_t sent_ns;    /* when the strategy pushed this intent */
    uint32_t signal_ppm; /* the model's P(up) x 1e6, rounded (0 when no model ran) */
    uint32_t pad_;
} ll_ts_intent;

/* ------------------------------------------------------------ ring C: engine -> strategy */
enum {
    LL_REPORT_ACCEPTED = 1,
    LL_REPORT_EXECUTED = 2,
    LL_REPORT_CANCELED = 3,
    LL_REPORT_REJECTED = 4, /* by the engine's risk checks or by the exchange: reason says which */
    LL_REPORT_HALTED = 5,   /* the kill switch tripped: reason says why; no new orders from now on */
};

typedef struct ll_ts_report {
    uint8_t kind;       /* LL_REPORT_* */
    uint8_t side;
    uint16_t locate;
    uint32_t cl_ord_id;
    uint32_t price;     /* EXECUTED: the fill's price */
    uint32_t qty;       /* EXECUTED: shares filled; CANCELED: shares canceled */
    uint32_t leaves;    /* the order's shares still open after this */
    uint16_t reason;    /* REJECTED / HALTED: a reason code (oms.h's LL_RISK_*, or the exchange's) */
    uint16_t pad_;
    int64_t position;   /* the symbol's position after this report */
    uint64_t ns;        /* when the engine pushed it */
} ll_ts_report;

/* ------------------------------------------------------------ orders and replies: engine <-> exchange */
/* One OUCH 5.0 message (ouch.h), behind the stamps that time its trip. */
typedef struct ll_ts_wire {
    uint64_t sent_ns;   /* when the sender pushed it */
    uint64_t tick_ns;   /* orders: the send stamp of the tick that caused it (tick-to-order); 0 if none */
    uint16_t len;       /* bytes of msg in use */
    uint16_t pad_[3];
    uint8_t msg[96];    /* the OUCH message */
} ll_ts_wire;

/* the message sizes of the slots they travel in (seq-slot: 8 bytes of the slot are its sequence word) */
#define LL_TS_FEED_SLOT 64u
#define LL_TS_SNAP_SLOT 128u
#define LL_TS_INTENT_SLOT 64u
#define LL_TS_REPORT_SLOT 64u
#define LL_TS_WIRE_SLOT 128u

_Static_assert(sizeof(ll_ts_feed) == LL_TS_FEED_SLOT - LL_RING_SEQ_BYTES, "a feed message fills its slot");
_Static_assert(sizeof(ll_ts_snapshot) == LL_TS_SNAP_SLOT - LL_RING_SEQ_BYTES, "a snapshot fills its slot");
_Static_assert(sizeof(ll_ts_intent) == LL_TS_INTENT_SLOT - LL_RING_SEQ_BYTES, "an intent fills its slot");
_Static_assert(sizeof(ll_ts_report) <= LL_TS_REPORT_SLOT - LL_RING_SEQ_BYTES, "a report fits its slot");
_Static_assert(sizeof(ll_ts_wire) <= LL_TS_WIRE_SLOT - LL_RING_SEQ_BYTES, "a wire message fits its slot");
_Static_assert(offsetof(ll_ts_snapshot, features) == 48, "features start at 48");

/* ------------------------------------------------------------ the control segment */
/* One more lab-1 segment (kind LL_KIND_CONTROL) per run, beside the rings:
 * the supervisor's orders (stop, kill), each process's state and heartbeat,
 * the live counters the dashboard reads, and the strategy's doorbell.
 *
 * Each process writes only its own ll_ts_proc block (128 bytes: no false
 * sharing between writers, lab 2), with relaxed stores: the dashboard reads
 * each counter whole (an aligned 8-byte atomic), not the set of them at one
 * instant, and nothing is decided from them.  The decisions (stop, kill) are
 * single words with their own orders, commented where they are used. */
#define LL_TS_CONTROL_MAGIC 0x314c5254435354ull /* "TSCTRL1" */
#define LL_TS_CONTROL_VERSION 1u
#define LL_TS_MAX_SYMBOLS 16u /* the dashboard's positions table */

enum { LL_TS_EXCHANGE = 0, LL_TS_ENGINE = 1, LL_TS_STRATEGY = 2, LL_TS_N_PROCS = 3 };
enum { LL_PROC_STARTING = 0, LL_PROC_RUNNING = 1, LL_PROC_DONE = 2, LL_PROC_FAILED = 3 };

/* counters[] of each process: what index means what (pyimpl.trading_system.COUNTERS names them) */
enum {
    LL_CNT_FEED = 0,       /* exchange: feed messages published; engine: feed messages read; strategy: snapshots read */
    LL_CNT_SNAPS = 1,      /* engine: snapshots pushed */
    LL_CNT_DROPPED = 2,    /* engine: snapshots dropped (ring A full) */
    LL_CNT_INTENTS = 3,    /* engine: intents read; strategy: intents sent */
    LL_CNT_ORDERS = 4,     /* engine: OUCH orders sent; exchange: orders received */
    LL_CNT_FILLS = 5,      /* engine / exchange: executions */
    LL_CNT_REJECTS = 6,    /* engine: risk rejections; exchange: OUCH rejects */
    LL_CNT_GAPS = 7,       /* engine: feed sequence gaps */
    LL_CNT_FULL_WAITS = 8, /* exchange: pushes that found the feed ring full */
    LL_CNT_BACKLOG = 9,    /* engine: messages waiting in its backlogs (orders + reports), now */
    LL_CNT_HALTED = 10,    /* engine: the kill switch's reason (0: trading) */
    LL_CNT_LAST_SEQ = 11,  /* engine: the last feed seq read */
    LL_CNT_EXCHANGE_LOST = 12, /* engine: 1 once the exchange is gone (trading halted for that) */
    LL_CNT_N = 14,
};

typedef struct ll_ts_proc {
    _Atomic uint32_t pid;
    _Atomic uint32_t state;           /* LL_PROC_* */
    _Atomic uint64_t heartbeat_ns;    /* the process's last sign of life */
    _Atomic uint64_t counters[LL_CNT_N];
} ll_ts_proc;

/* A doorbell: an eventcount on one futex word.  The engine rings the
 * strategy's after a push to ring A or C, and the exchange's after a push to
 * the orders ring, but only while `sleeper` says that process is asleep (a
 * FUTEX_WAKE is a system call, ~1 us: never on the path of a process that is
 * polling). */
typedef struct ll_ts_bell {
    _Atomic uint32_t seq;     /* the futex word: +1 per ring while someone sleeps */
    _Atomic uint32_t sleeper; /* 1 while the strategy is (about to be) asleep */
    uint8_t reserved[LL_PAD - 8];
} ll_ts_bell;

typedef struct ll_ts_position {
    _Atomic int64_t locate;    /* 0: unused row */
    _Atomic int64_t position;  /* shares */
    _Atomic int64_t realized;  /* PnL, price units x shares (1/10000 $) */
    _Atomic int64_t unrealized;
} ll_ts_position;

typedef struct ll_ts_control {
    _Atomic uint64_t magic;   /* written last by the creator (release) */
    uint32_t version;
    uint32_t reserved0;
    _Atomic uint32_t stop;    /* supervisor -> everyone: wind down now */
    _Atomic uint32_t kill;    /* supervisor -> engine: the manual kill switch (`latencylab system kill`) */
    uint8_t reserved1[LL_PAD - 24];
    _Alignas(LL_PAD) ll_ts_proc procs[LL_TS_N_PROCS];
    _Alignas(LL_PAD) ll_ts_bell bell;  /* the strategy's */
    _Alignas(LL_PAD) ll_ts_bell xbell; /* the exchange's: it sleeps between its send times */
    _Alignas(LL_PAD) ll_ts_position positions[LL_TS_MAX_SYMBOLS];
} ll_ts_control;

_Static_assert(sizeof(ll_ts_proc) == LL_PAD, "a process block is 128 bytes");
_Static_assert(offsetof(ll_ts_control, procs) == LL_PAD, "process blocks at 128");
_Static_assert(offsetof(ll_ts_control, bell) == 4 * LL_PAD, "the bell at 512");
_Static_assert(offsetof(ll_ts_control, xbell) == 5 * LL_PAD, "the exchange's bell at 640");
_Static_assert(offsetof(ll_ts_control, positions) == 6 * LL_PAD, "positions at 768");

#endif
