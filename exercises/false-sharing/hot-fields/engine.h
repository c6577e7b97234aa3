/*
 * Lab 2 exercise: lay out the engine's shared block (see README.md).
 *
 * Three threads of a trading engine share this block in memory, each writing
 * its own fields on its hot path; the limits are set once at start-up and
 * read on every order.  As written the fields are packed into 72 bytes, so
 * every thread's stores take the others' lines away (guide sections 1 and 4).
 *
 * Lay it out so that the fields of different writers never share a 128-byte
 * block, and no thread's fields share a block with the read-mostly limits:
 * one writer per 128-byte block.  Keep every field and its type.  Then make
 * engine_dtype.py describe the same bytes for a Python monitor.
 */
#ifndef EX_ENGINE_H
#define EX_ENGINE_H

#include <stdint.h>

typedef struct {
    /* written by the feed-handler thread, on every market-data message */
    uint64_t md_seq;
    uint64_t md_last_ts_ns;
    /* written by the strategy thread, on every order */
    uint64_t orders_sent;
    uint64_t last_order_ns;
    /* written by the order-gateway thread, on every fill */
    uint64_t fills;
    int64_t position;
    /* set once at start-up, then read on every order (the risk limits) */
    int64_t max_position;
    uint32_t strategy_id;
    uint32_t flags;
} engine_shared; /* 72 bytes */

#endif
