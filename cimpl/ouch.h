/*
 * ouch.h - NASDAQ OUCH 5.0 on the wire, for lab 7's exchange simulator
 * (cimpl/exchange.c) and engine (cimpl/trading_system.c).  The Python twin
 * is pyimpl/ouch.py, whose STRUCTS table is the same layout; tests/test_ouch.py
 * checks that both produce the same bytes.
 *
 * Spec followed: "O*U*C*H Version 5.0" (Nasdaq, the US equities order-entry
 * protocol), section 2 (inbound: client -> exchange) and section 3 (outbound:
 * exchange -> client).  Like ITCH (itch.h), every message is fixed fields,
 * packed, integers big-endian and unsigned, Alpha fields ASCII, left-justified
 * and space padded.  Unlike ITCH:
 *   - there is no locate: orders name their stock by its 8-char symbol;
 *   - prices are 8 bytes with 4 implied decimals (OUCH 5.0 widened them from
 *     OUCH 4's 4 bytes).  Our prices everywhere else are ITCH's u32 in 1/10000
 *     dollar: the same scale, so converting is a width check, no arithmetic.
 *     A price that does not fit in u32 is refused (ll_ouch_price_u32: the
 *     exchange rejects the order with LL_OUCH_REJ_INVALID_PRICE);
 *   - outbound messages carry an 8-byte timestamp (ns since midnight) right
 *     after the type byte;
 *   - inbound orders are named by the client's UserRefNum (u32), which must be
 *     strictly increasing within a session for every Enter Order and every
 *     Replace Order's new UserRefNum (the spec's rule; the exchange rejects a
 *     number that is not above the last one it accepted);
 *   - the same type byte means different messages in each direction ('U' is
 *     Replace Order inbound and Order Replaced outbound), so there are two
 *     size functions and every decoder says which direction it reads.
 *
 * Where we simplify (said once here, and in pyimpl/ouch.py):
 *   - No optional appendages: every message that has an Appendage Length field
 *     is sent with 0, and a decoder refuses any other value (LL_EBADFRAME):
 *     the sizes below are then fixed, as in ITCH.  (Real OUCH 5.0 carries
 *     MinQty, MaxFloor, PegOffset, ... as TagValue appendages.)
 *   - Only the messages of the lab: inbound Enter 'O', Replace 'U', Cancel 'X';
 *     outbound System Event 'S', Accepted 'A', Replaced 'U', Executed 'E',
 *     Canceled 'C', Rejected 'J'.  (Modify, Mass Cancel, Account Query, Broken
 *     Trade, Cancel Pending, Priority Update, ... are left out.)
 *   - ClOrdID (14 Alpha) carries the strategy's u32 order id in decimal,
 *     left-justified and space padded ("42            "): the spec's Alpha
 *     convention.  ll_ouch_put_clordid / ll_ouch_get_clordid convert.
 *   - Sides: the spec has B, S, T (sell short), E (sell short exempt); the lab
 *     trades B and S only (the exchange rejects T/E with INVALID_SIDE).
 *   - Time in force: '0' Day and '3' IOC only (the spec also has '5' GTX,
 *     '6' GTT, 'E' after hours; the exchange rejects them).
 *
 * Message layouts (offset: field, size).  Inbound:
 *   O Enter Order (47):   0 type, 1 UserRefNum 4, 5 Side 1, 6 Quantity 4,
 *                         10 Symbol 8, 18 Price 8, 26 TimeInForce 1, 27 Display 1,
 *                         28 Capacity 1, 29 IntermarketSweepEligibility 1,
 *                         30 CrossType 1, 31 ClOrdID 14, 45 AppendageLength 2
 *   U Replace Order (40): 0 type, 1 OrigUserRefNum 4, 5 UserRefNum 4, 9 Quantity 4,
 *                         13 Price 8, 21 TimeInForce 1, 22 Display 1,
 *                         23 IntermarketSweepEligibility 1, 24 ClOrdID 14,
 *                         38 AppendageLength 2
 *   X Cancel Order (9):   0 type, 1 UserRefNum 4, 5 Quantity 4 (the order's
 *                         intended size after the cancel: 0 = cancel it all)
 * Outbound (all: 0 type, 1 Timestamp 8):
 *   S System Event (10):  9 EventCode 1 ('S' start of day, 'E' end of day)
 *   A Order Accepted (64): 9 UserRefNum 4, 13 Side 1, 14 Quantity 4, 18 Symbol 8,
 *                         26 Price 8, 34 TimeInForce 1, 35 Display 1,
 *                         36 OrderReferenceNumber 8, 44 Capacity 1, 45 ISE 1,
 *                         46 CrossType 1, 47 OrderState 1, 48 ClOrdID 14,
 *                         62 AppendageLength 2
 *   U Order Replaced (68): 9 OrigUserRefNum 4, 13 UserRefNum 4, 17 Side 1,
 *                         18 Quantity 4, 22 Symbol 8, 30 Price 8, 38 TimeInForce 1,
 *                         39 Display 1, 40 OrderReferenceNumber 8, 48 Capacity 1,
 *                         49 ISE 1, 50 CrossType 1, 51 OrderState 1,
 *                         52 ClOrdID 14, 66 AppendageLength 2
 *   E Order Executed (36): 9 UserRefNum 4, 13 Quantity 4, 17 Price 8,
 *                         25 LiquidityFlag 1, 26 MatchNumber 8, 34 AppendageLength 2
 *   C Order Canceled (18): 9 UserRefNum 4, 13 Quantity 4 (shares taken off),
 *                         17 Reason 1
 *   J Order Rejected (29): 9 UserRefNum 4, 13 Reason 2 (u16 code), 15 ClOrdID 14
 * The largest is 68 bytes: every message fits ll_ts_wire.msg (96, ts_layout.h).
 *
 * Like itch.h, fields are loads and stores at fixed offsets through memcpy
 * (ll_be32 ... ll_put_be64 come from itch.h), no struct overlay: a message
 * can start at any byte.  ll_ouch_msg is a decoded message of any type: one
 * flat struct (the union of every type's fields), so the ctypes binding needs
 * one Structure, not nine; fields a type does not have are left 0.
 */
#ifndef LL_OUCH_H
#define LL_OUCH_H

#include <stdint.h>
#include <string.h>

#include "common.h"
#include "itch.h" /* ll_be16/32/64, ll_put_be16/32/64 */

/* ------------------------------------------------------------ sizes */
enum {
    /* inbound */
    LL_OUCH_SIZE_ENTER = 47,   /* 'O' */
    LL_OUCH_SIZE_REPLACE = 40, /* 'U' */
    LL_OUCH_SIZE_CANCEL = 9,   /* 'X' */
    /* outbound */
    LL_OUCH_SIZE_SYSTEM = 10,   /* 'S' */
    LL_OUCH_SIZE_ACCEPTED = 64, /* 'A' */
    LL_OUCH_SIZE_REPLACED = 68, /* 'U' */
    LL_OUCH_SIZE_EXECUTED = 36, /* 'E' */
    LL_OUCH_SIZE_CANCELED = 18, /* 'C' */
    LL_OUCH_SIZE_REJECTED = 29, /* 'J' */
    LL_OUCH_MAX_SIZE = 68,
};

enum { LL_OUCH_INBOUND = 1, LL_OUCH_OUTBOUND = 0 };

/* The size of an inbound (client -> exchange) message of type t; 0 if unknown. */
static inline uint32_t ll_ouch_in_size(uint8_t t)
{
    switch (t) {
    case 'O': return LL_OUCH_SIZE_ENTER;
    case 'U': return LL_OUCH_SIZE_REPLACE;
    case 'X': return LL_OUCH_SIZE_CANCEL;
    default: return 0;
    }
}

/* The size of an outbound (exchange -> client) message of type t; 0 if unknown. */
static inline uint32_t ll_ouch_out_size(uint8_t t)
{
    switch (t) {
    case 'S': return LL_OUCH_SIZE_SYSTEM;
    case 'A': return LL_OUCH_SIZE_ACCEPTED;
    case 'U': return LL_OUCH_SIZE_REPLACED;
    case 'E': return LL_OUCH_SIZE_EXECUTED;
    case 'C': return LL_OUCH_SIZE_CANCELED;
    case 'J': return LL_OUCH_SIZE_REJECTED;
    default: return 0;
    }
}

static inline uint32_t ll_ouch_size(int inbound, uint8_t t)
{
    return inbound ? ll_ouch_in_size(t) : ll_ouch_out_size(t);
}

/* ------------------------------------------------------------ field offsets */
enum {
    LL_OUCH_OFF_TYPE = 0,
    /* O Enter Order */
    LL_OUCH_OFF_O_USERREF = 1,
    LL_OUCH_OFF_O_SIDE = 5,
    LL_OUCH_OFF_O_QTY = 6,
    LL_OUCH_OFF_O_SYMBOL = 10,
    LL_OUCH_OFF_O_PRICE = 18,
    LL_OUCH_OFF_O_TIF = 26,
    LL_OUCH_OFF_O_DISPLAY = 27,
    LL_OUCH_OFF_O_CAPACITY = 28,
    LL_OUCH_OFF_O_ISE = 29,
    LL_OUCH_OFF_O_CROSS = 30,
    LL_OUCH_OFF_O_CLORDID = 31,
    LL_OUCH_OFF_O_APPENDAGE = 45,
    /* U Replace Order (inbound) */
    LL_OUCH_OFF_UI_ORIG = 1,
    LL_OUCH_OFF_UI_USERREF = 5,
    LL_OUCH_OFF_UI_QTY = 9,
    LL_OUCH_OFF_UI_PRICE = 13,
    LL_OUCH_OFF_UI_TIF = 21,
    LL_OUCH_OFF_UI_DISPLAY = 22,
    LL_OUCH_OFF_UI_ISE = 23,
    LL_OUCH_OFF_UI_CLORDID = 24,
    LL_OUCH_OFF_UI_APPENDAGE = 38,
    /* X Cancel Order */
    LL_OUCH_OFF_X_USERREF = 1,
    LL_OUCH_OFF_X_QTY = 5,
    /* outbound: every type */
    LL_OUCH_OFF_TIMESTAMP = 1,
    /* S System Event */
    LL_OUCH_OFF_S_EVENT = 9,
    /* A Order Accepted */
    LL_OUCH_OFF_A_USERREF = 9,
    LL_OUCH_OFF_A_SIDE = 13,
    LL_OUCH_OFF_A_QTY = 14,
    LL_OUCH_OFF_A_SYMBOL = 18,
    LL_OUCH_OFF_A_PRICE = 26,
    LL_OUCH_OFF_A_TIF = 34,
    LL_OUCH_OFF_A_DISPLAY = 35,
    LL_OUCH_OFF_A_ORDERREF = 36,
    LL_OUCH_OFF_A_CAPACITY = 44,
    LL_OUCH_OFF_A_ISE = 45,
    LL_OUCH_OFF_A_CROSS = 46,
    LL_OUCH_OFF_A_STATE = 47,
    LL_OUCH_OFF_A_CLORDID = 48,
    LL_OUCH_OFF_A_APPENDAGE = 62,
    /* U Order Replaced (outbound) */
    LL_OUCH_OFF_UO_ORIG = 9,
    LL_OUCH_OFF_UO_USERREF = 13,
    LL_OUCH_OFF_UO_SIDE = 17,
    LL_OUCH_OFF_UO_QTY = 18,
    LL_OUCH_OFF_UO_SYMBOL = 22,
    LL_OUCH_OFF_UO_PRICE = 30,
    LL_OUCH_OFF_UO_TIF = 38,
    LL_OUCH_OFF_UO_DISPLAY = 39,
    LL_OUCH_OFF_UO_ORDERREF = 40,
    LL_OUCH_OFF_UO_CAPACITY = 48,
    LL_OUCH_OFF_UO_ISE = 49,
    LL_OUCH_OFF_UO_CROSS = 50,
    LL_OUCH_OFF_UO_STATE = 51,
    LL_OUCH_OFF_UO_CLORDID = 52,
    LL_OUCH_OFF_UO_APPENDAGE = 66,
    /* E Order Executed */
    LL_OUCH_OFF_E_USERREF = 9,
    LL_OUCH_OFF_E_QTY = 13,
    LL_OUCH_OFF_E_PRICE = 17,
    LL_OUCH_OFF_E_LIQUIDITY = 25,
    LL_OUCH_OFF_E_MATCH = 26,
    LL_OUCH_OFF_E_APPENDAGE = 34,
    /* C Order Canceled */
    LL_OUCH_OFF_C_USERREF = 9,
    LL_OUCH_OFF_C_QTY = 13,
    LL_OUCH_OFF_C_REASON = 17,
    /* J Order Rejected */
    LL_OUCH_OFF_J_USERREF = 9,
    LL_OUCH_OFF_J_REASON = 13,
    LL_OUCH_OFF_J_CLORDID = 15,
};

#define LL_OUCH_SYMBOL_LEN 8
#define LL_OUCH_CLORDID_LEN 14

/* ------------------------------------------------------------ field values */
/* Time in force (the lab accepts Day and IOC) */
#define LL_OUCH_TIF_DAY '0'
#define LL_OUCH_TIF_IOC '3'
/* Liquidity flag of an execution: we added (our resting order was hit) or removed */
#define LL_OUCH_LIQ_ADDED 'A'
#define LL_OUCH_LIQ_REMOVED 'R'
/* Order state in Accepted / Replaced */
#define LL_OUCH_STATE_LIVE 'L'
#define LL_OUCH_STATE_DEAD 'D'
/* Order Canceled reasons (1 char) */
#define LL_OUCH_CANCEL_USER 'U' /* user requested */
#define LL_OUCH_CANCEL_IOC 'I'  /* immediate or cancel: the part that did not fill at once */
/* What the exchange puts in fields the lab does not use (and echoes back) */
#define LL_OUCH_DISPLAY_VISIBLE 'Y'
#define LL_OUCH_CAPACITY_PRINCIPAL 'P'
#define LL_OUCH_ISE_NO 'N'
#define LL_OUCH_CROSS_CONTINUOUS 'N'

/* Order Rejected reasons: OUCH 5.0 codes (u16), the ones the exchange sends.
 * The spec has no code of its own for a UserRefNum that is not increasing or
 * a time in force the venue does not take: those are OTHER. */
enum {
    LL_OUCH_REJ_INVALID_SIDE = 0x0009,
    LL_OUCH_REJ_PROCESSING_ERROR = 0x000A, /* the exchange's table of orders is full */
    LL_OUCH_REJ_OTHER = 0x000F,            /* UserRefNum not increasing; time in force not Day/IOC */
    LL_OUCH_REJ_CANCEL_NOT_ALLOWED = 0x0010, /* cancel of an unknown or no longer live order */
    LL_OUCH_REJ_INVALID_QUANTITY = 0x0013, /* quantity 0 */
    LL_OUCH_REJ_REPLACE_NOT_ALLOWED = 0x0015, /* replace of an unknown or no longer live order */
    LL_OUCH_REJ_INVALID_SYMBOL = 0x0017,  /* a symbol the feed's directory does not have */
    LL_OUCH_REJ_INVALID_PRICE = 0x001D,   /* price 0, or above the u32 range of ITCH prices */
    LL_OUCH_REJ_SHARES_EXCEED_THRESHOLD = 0x001E, /* quantity above the exchange's max */
    LL_OUCH_REJ_MAX = 0x0040,             /* codes are < this (counters are indexed by code) */
};

/* ------------------------------------------------------------ a decoded message */
typedef struct ll_ouch_msg {
    uint64_t timestamp;   /* outbound: ns since midnight */
    uint64_t price;       /* the wire's 8-byte price, 4 implied decimals */
    uint64_t order_ref;   /* A, U out: the exchange's Order Reference Number */
    uint64_t match;       /* E: match number */
    uint32_t user_ref;    /* UserRefNum (U: the replacement's) */
    uint32_t orig_user_ref; /* U in/out: the order being replaced */
    uint32_t qty;         /* Quantity (C: shares canceled; X: intended size after) */
    uint16_t reason;      /* J: the u16 code; C: the 1-char reason */
    uint8_t type;         /* the message type byte */
    uint8_t side, tif, display, capacity, ise, cross, state, liquidity, event;
    char symbol[LL_OUCH_SYMBOL_LEN];   /* space padded */
    char cl_ord_id[LL_OUCH_CLORDID_LEN]; /* space padded */
    uint8_t pad_[2];
} ll_ouch_msg; /* 80 bytes */

/* ------------------------------------------------------------ helpers */
/* OUCH 8-byte price -> our u32; 0 if it fits, -1 if not. */
static inline int ll_ouch_price_u32(uint64_t wire, uint32_t *out)
{
    if (wire > UINT32_MAX)
        return -1;
    *out = (uint32_t)wire;
    return 0;
}

/* ClOrdID <-> u32: decimal, left-justified, space padded to 14 chars. */
static inline void ll_ouch_put_clordid(char *p, uint32_t id)
{
    char digits[10];
    int n = 0;
    do {
        digits[n++] = (char)('0' + id % 10);
        id /= 10;
    } while (id);
    for (int i = 0; i < LL_OUCH_CLORDID_LEN; i++)
        p[i] = i < n ? digits[n - 1 - i] : ' ';
}

/* The order lab 7's engine (and lab 8's backtester) sends for a strategy's
 * intent: an Enter Order, Day, visible, principal, continuous; or, when
 * enter is 0, a Cancel of all of user_ref (side, qty, symbol, price, cl_ord_id
 * unused).  m is cleared first. */
static inline void ll_ouch_engine_order(ll_ouch_msg *m, int enter, uint32_t user_ref, uint8_t side, uint32_t qty,
                                        const char *symbol8, uint32_t price, uint32_t cl_ord_id)
{
    memset(m, 0, sizeof *m);
    m->user_ref = user_ref;
    if (!enter) {
        m->type = 'X';
        m->qty = 0; /* the size to leave after the cancel: nothing */
        return;
    }
    m->type = 'O';
    m->side = side;
    m->qty = qty;
    memcpy(m->symbol, symbol8, LL_OUCH_SYMBOL_LEN);
    m->price = price;
    m->tif = LL_OUCH_TIF_DAY;
    m->display = LL_OUCH_DISPLAY_VISIBLE;
    m->capacity = LL_OUCH_CAPACITY_PRINCIPAL;
    m->ise = LL_OUCH_ISE_NO;
    m->cross = LL_OUCH_CROSS_CONTINUOUS;
    ll_ouch_put_clordid(m->cl_ord_id, cl_ord_id);
}

/* 0 and *id if p holds 1-10 decimal digits, then spaces, and the value fits a u32; -1 otherwise. */
static inline int ll_ouch_get_clordid(const char *p, uint32_t *id)
{
    uint64_t v = 0;
    int i = 0;
    while (i < LL_OUCH_CLORDID_LEN && p[i] >= '0' && p[i] <= '9' && i < 10)
        v = v * 10 + (uint64_t)(p[i++] - '0');
    if (i == 0 || v > UINT32_MAX)
        return -1;
    for (; i < LL_OUCH_CLORDID_LEN; i++)
        if (p[i] != ' ')
            return -1;
    *id = (uint32_t)v;
    return 0;
}

/* Write message m (its m->type, in the direction `inbound`) at out; its size,
 * or LL_EUNKNOWNMSG for a type that direction does not have, LL_EINVAL if
 * cap is too small.  Fields the type does not have are not read. */
static inline int64_t ll_ouch_encode(const ll_ouch_msg *m, int inbound, uint8_t *out, uint64_t cap)
{
    uint32_t n = ll_ouch_size(inbound, m->type);
    if (n == 0)
        return LL_EUNKNOWNMSG;
    if (cap < n)
        return LL_EINVAL;
    memset(out, 0, n); /* appendage lengths: 0 */
    out[0] = m->type;
    if (inbound) {
        switch (m->type) {
        case 'O':
            ll_put_be32(out + LL_OUCH_OFF_O_USERREF, m->user_ref);
            out[LL_OUCH_OFF_O_SIDE] = m->side;
            ll_put_be32(out + LL_OUCH_OFF_O_QTY, m->qty);
            memcpy(out + LL_OUCH_OFF_O_SYMBOL, m->symbol, LL_OUCH_SYMBOL_LEN);
            ll_put_be64(out + LL_OUCH_OFF_O_PRICE, m->price);
            out[LL_OUCH_OFF_O_TIF] = m->tif;
            out[LL_OUCH_OFF_O_DISPLAY] = m->display;
            out[LL_OUCH_OFF_O_CAPACITY] = m->capacity;
            out[LL_OUCH_OFF_O_ISE] = m->ise;
            out[LL_OUCH_OFF_O_CROSS] = m->cross;
            memcpy(out + LL_OUCH_OFF_O_CLORDID, m->cl_ord_id, LL_OUCH_CLORDID_LEN);
            break;
        case 'U':
            ll_put_be32(out + LL_OUCH_OFF_UI_ORIG, m->orig_user_ref);
            ll_put_be32(out + LL_OUCH_OFF_UI_USERREF, m->user_ref);
            ll_put_be32(out + LL_OUCH_OFF_UI_QTY, m->qty);
            ll_put_be64(out + LL_OUCH_OFF_UI_PRICE, m->price);
            out[LL_OUCH_OFF_UI_TIF] = m->tif;
            out[LL_OUCH_OFF_UI_DISPLAY] = m->display;
            out[LL_OUCH_OFF_UI_ISE] = m->ise;
            memcpy(out + LL_OUCH_OFF_UI_CLORDID, m->cl_ord_id, LL_OUCH_CLORDID_LEN);
            break;
        default: /* 'X' */
            ll_put_be32(out + LL_OUCH_OFF_X_USERREF, m->user_ref);
            ll_put_be32(out + LL_OUCH_OFF_X_QTY, m->qty);
            break;
        }
        return n;
    }
    ll_put_be64(out + LL_OUCH_OFF_TIMESTAMP, m->timestamp);
    switch (m->type) {
    case 'S':
        out[LL_OUCH_OFF_S_EVENT] = m->event;
        break;
    case 'A':
        ll_put_be32(out + LL_OUCH_OFF_A_USERREF, m->user_ref);
        out[LL_OUCH_OFF_A_SIDE] = m->side;
        ll_put_be32(out + LL_OUCH_OFF_A_QTY, m->qty);
        memcpy(out + LL_OUCH_OFF_A_SYMBOL, m->symbol, LL_OUCH_SYMBOL_LEN);
        ll_put_be64(out + LL_OUCH_OFF_A_PRICE, m->price);
        out[LL_OUCH_OFF_A_TIF] = m->tif;
        out[LL_OUCH_OFF_A_DISPLAY] = m->display;
        ll_put_be64(out + LL_OUCH_OFF_A_ORDERREF, m->order_ref);
        out[LL_OUCH_OFF_A_CAPACITY] = m->capacity;
        out[LL_OUCH_OFF_A_ISE] = m->ise;
        out[LL_OUCH_OFF_A_CROSS] = m->cross;
        out[LL_OUCH_OFF_A_STATE] = m->state;
        memcpy(out + LL_OUCH_OFF_A_CLORDID, m->cl_ord_id, LL_OUCH_CLORDID_LEN);
        break;
    case 'U':
        ll_put_be32(out + LL_OUCH_OFF_UO_ORIG, m->orig_user_ref);
        ll_put_be32(out + LL_OUCH_OFF_UO_USERREF, m->user_ref);
        out[LL_OUCH_OFF_UO_SIDE] = m->side;
        ll_put_be32(out + LL_OUCH_OFF_UO_QTY, m->qty);
        memcpy(out + LL_OUCH_OFF_UO_SYMBOL, m->symbol, LL_OUCH_SYMBOL_LEN);
        ll_put_be64(out + LL_OUCH_OFF_UO_PRICE, m->price);
        out[LL_OUCH_OFF_UO_TIF] = m->tif;
        out[LL_OUCH_OFF_UO_DISPLAY] = m->display;
        ll_put_be64(out + LL_OUCH_OFF_UO_ORDERREF, m->order_ref);
        out[LL_OUCH_OFF_UO_CAPACITY] = m->capacity;
        out[LL_OUCH_OFF_UO_ISE] = m->ise;
        out[LL_OUCH_OFF_UO_CROSS] = m->cross;
        out[LL_OUCH_OFF_UO_STATE] = m->state;
        memcpy(out + LL_OUCH_OFF_UO_CLORDID, m->cl_ord_id, LL_OUCH_CLORDID_LEN);
        break;
    case 'E':
        ll_put_be32(out + LL_OUCH_OFF_E_USERREF, m->user_ref);
        ll_put_be32(out + LL_OUCH_OFF_E_QTY, m->qty);
        ll_put_be64(out + LL_OUCH_OFF_E_PRICE, m->price);
        out[LL_OUCH_OFF_E_LIQUIDITY] = m->liquidity;
        ll_put_be64(out + LL_OUCH_OFF_E_MATCH, m->match);
        break;
    case 'C':
        ll_put_be32(out + LL_OUCH_OFF_C_USERREF, m->user_ref);
        ll_put_be32(out + LL_OUCH_OFF_C_QTY, m->qty);
        out[LL_OUCH_OFF_C_REASON] = (uint8_t)m->reason;
        break;
    default: /* 'J' */
        ll_put_be32(out + LL_OUCH_OFF_J_USERREF, m->user_ref);
        ll_put_be16(out + LL_OUCH_OFF_J_REASON, m->reason);
        memcpy(out + LL_OUCH_OFF_J_CLORDID, m->cl_ord_id, LL_OUCH_CLORDID_LEN);
        break;
    }
    return n;
}

/* Read one message of direction `inbound` from buf (exactly its type's size:
 * len must equal it).  Its size, or LL_ETRUNCATED (len 0 or shorter than the
 * type's size), LL_EUNKNOWNMSG (a type that direction does not have),
 * LL_EBADFRAME (len longer than the size, or a nonzero appendage length).
 * Field values are not judged here (a side 'Z' decodes): the exchange
 * validates them and answers with Order Rejected. */
static inline int64_t ll_ouch_decode(const uint8_t *buf, uint64_t len, int inbound, ll_ouch_msg *m)
{
    if (len == 0)
        return LL_ETRUNCATED;
    uint32_t n = ll_ouch_size(inbound, buf[0]);
    if (n == 0)
        return LL_EUNKNOWNMSG;
    if (len < n)
        return LL_ETRUNCATED;
    if (len > n)
        return LL_EBADFRAME;
    memset(m, 0, sizeof *m);
    m->type = buf[0];
    if (inbound) {
        switch (m->type) {
        case 'O':
            if (ll_be16(buf + LL_OUCH_OFF_O_APPENDAGE) != 0)
                return LL_EBADFRAME;
            m->user_ref = ll_be32(buf + LL_OUCH_OFF_O_USERREF);
            m->side = buf[LL_OUCH_OFF_O_SIDE];
            m->qty = ll_be32(buf + LL_OUCH_OFF_O_QTY);
            memcpy(m->symbol, buf + LL_OUCH_OFF_O_SYMBOL, LL_OUCH_SYMBOL_LEN);
            m->price = ll_be64(buf + LL_OUCH_OFF_O_PRICE);
            m->tif = buf[LL_OUCH_OFF_O_TIF];
            m->display = buf[LL_OUCH_OFF_O_DISPLAY];
            m->capacity = buf[LL_OUCH_OFF_O_CAPACITY];
            m->ise = buf[LL_OUCH_OFF_O_ISE];
            m->cross = buf[LL_OUCH_OFF_O_CROSS];
            memcpy(m->cl_ord_id, buf + LL_OUCH_OFF_O_CLORDID, LL_OUCH_CLORDID_LEN);
            break;
        case 'U':
            if (ll_be16(buf + LL_OUCH_OFF_UI_APPENDAGE) != 0)
                return LL_EBADFRAME;
            m->orig_user_ref = ll_be32(buf + LL_OUCH_OFF_UI_ORIG);
            m->user_ref = ll_be32(buf + LL_OUCH_OFF_UI_USERREF);
            m->qty = ll_be32(buf + LL_OUCH_OFF_UI_QTY);
            m->price = ll_be64(buf + LL_OUCH_OFF_UI_PRICE);
            m->tif = buf[LL_OUCH_OFF_UI_TIF];
            m->display = buf[LL_OUCH_OFF_UI_DISPLAY];
            m->ise = buf[LL_OUCH_OFF_UI_ISE];
            memcpy(m->cl_ord_id, buf + LL_OUCH_OFF_UI_CLORDID, LL_OUCH_CLORDID_LEN);
            break;
        default: /* 'X' */
            m->user_ref = ll_be32(buf + LL_OUCH_OFF_X_USERREF);
            m->qty = ll_be32(buf + LL_OUCH_OFF_X_QTY);
            break;
        }
        return n;
    }
    m->timestamp = ll_be64(buf + LL_OUCH_OFF_TIMESTAMP);
    switch (m->type) {
    case 'S':
        m->event = buf[LL_OUCH_OFF_S_EVENT];
        break;
    case 'A':
        if (ll_be16(buf + LL_OUCH_OFF_A_APPENDAGE) != 0)
            return LL_EBADFRAME;
        m->user_ref = ll_be32(buf + LL_OUCH_OFF_A_USERREF);
        m->side = buf[LL_OUCH_OFF_A_SIDE];
        m->qty = ll_be32(buf + LL_OUCH_OFF_A_QTY);
        memcpy(m->symbol, buf + LL_OUCH_OFF_A_SYMBOL, LL_OUCH_SYMBOL_LEN);
        m->price = ll_be64(buf + LL_OUCH_OFF_A_PRICE);
        m->tif = buf[LL_OUCH_OFF_A_TIF];
        m->display = buf[LL_OUCH_OFF_A_DISPLAY];
        m->order_ref = ll_be64(buf + LL_OUCH_OFF_A_ORDERREF);
        m->capacity = buf[LL_OUCH_OFF_A_CAPACITY];
        m->ise = buf[LL_OUCH_OFF_A_ISE];
        m->cross = buf[LL_OUCH_OFF_A_CROSS];
        m->state = buf[LL_OUCH_OFF_A_STATE];
        memcpy(m->cl_ord_id, buf + LL_OUCH_OFF_A_CLORDID, LL_OUCH_CLORDID_LEN);
        break;
    case 'U':
        if (ll_be16(buf + LL_OUCH_OFF_UO_APPENDAGE) != 0)
            return LL_EBADFRAME;
        m->orig_user_ref = ll_be32(buf + LL_OUCH_OFF_UO_ORIG);
        m->user_ref = ll_be32(buf + LL_OUCH_OFF_UO_USERREF);
        m->side = buf[LL_OUCH_OFF_UO_SIDE];
        m->qty = ll_be32(buf + LL_OUCH_OFF_UO_QTY);
        memcpy(m->symbol, buf + LL_OUCH_OFF_UO_SYMBOL, LL_OUCH_SYMBOL_LEN);
        m->price = ll_be64(buf + LL_OUCH_OFF_UO_PRICE);
        m->tif = buf[LL_OUCH_OFF_UO_TIF];
        m->display = buf[LL_OUCH_OFF_UO_DISPLAY];
        m->order_ref = ll_be64(buf + LL_OUCH_OFF_UO_ORDERREF);
        m->capacity = buf[LL_OUCH_OFF_UO_CAPACITY];
        m->ise = buf[LL_OUCH_OFF_UO_ISE];
        m->cross = buf[LL_OUCH_OFF_UO_CROSS];
        m->state = buf[LL_OUCH_OFF_UO_STATE];
        memcpy(m->cl_ord_id, buf + LL_OUCH_OFF_UO_CLORDID, LL_OUCH_CLORDID_LEN);
        break;
    case 'E':
        if (ll_be16(buf + LL_OUCH_OFF_E_APPENDAGE) != 0)
            return LL_EBADFRAME;
        m->user_ref = ll_be32(buf + LL_OUCH_OFF_E_USERREF);
        m->qty = ll_be32(buf + LL_OUCH_OFF_E_QTY);
        m->price = ll_be64(buf + LL_OUCH_OFF_E_PRICE);
        m->liquidity = buf[LL_OUCH_OFF_E_LIQUIDITY];
        m->match = ll_be64(buf + LL_OUCH_OFF_E_MATCH);
        break;
    case 'C':
        m->user_ref = ll_be32(buf + LL_OUCH_OFF_C_USERREF);
        m->qty = ll_be32(buf + LL_OUCH_OFF_C_QTY);
        m->reason = buf[LL_OUCH_OFF_C_REASON];
        break;
    default: /* 'J' */
        m->user_ref = ll_be32(buf + LL_OUCH_OFF_J_USERREF);
        m->reason = ll_be16(buf + LL_OUCH_OFF_J_REASON);
        memcpy(m->cl_ord_id, buf + LL_OUCH_OFF_J_CLORDID, LL_OUCH_CLORDID_LEN);
        break;
    }
    return n;
}

#endif
