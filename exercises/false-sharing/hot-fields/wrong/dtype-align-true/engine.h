/*
 * Lab 2 exercise: lay out the engine's shared block - a known-wrong answer.
 * This C struct is the solution's; the mistake is in engine_dtype.py.
 */
#ifndef EX_ENGINE_H
#define EX_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h" /* LL_PAD: 128 on x86-64 */

typedef struct {
    /* written by the feed-handler thread, on every market-data message */
    _Alignas(LL_PAD) uint64_t md_seq;
    uint64_t md_last_ts_ns;
    /* written by the strategy thread, on every order */
    _Alignas(LL_PAD) uint64_t orders_sent;
    uint64_t last_order_ns;
    /* written by the order-gateway thread, on every fill */
    _Alignas(LL_PAD) uint64_t fills;
    int64_t position;
    /* set once at start-up, then read on every order (the risk limits) */
    _Alignas(LL_PAD) int64_t max_position;
    uint32_t strategy_id;
    uint32_t flags;
} engine_shared;

_Static_assert(_Alignof(engine_shared) == LL_PAD, "the block starts a 128-byte pair");
_Static_assert(offsetof(engine_shared, orders_sent) - offsetof(engine_shared, md_last_ts_ns) >= LL_PAD - 8,
               "the feed's and the strategy's fields in different pairs");
_Static_assert(offsetof(engine_shared, max_position) % LL_PAD == 0, "the limits on a pair of their own");
_Static_assert(sizeof(engine_shared) == 4 * LL_PAD, "four pairs: one per writer, one for the limits");

#endif
