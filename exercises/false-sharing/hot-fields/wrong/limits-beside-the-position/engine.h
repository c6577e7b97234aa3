/*
 * Lab 2 exercise: lay out the engine's shared block - a known-wrong answer:
 * the writers are apart, but the limits share the gateway's block.  "They
 * are read-mostly, they cost nothing" - only while nobody writes their line.
 * Every fill the gateway books invalidates the line holding max_position in
 * the strategy's cache, and the strategy reads max_position on every order:
 * a miss per order, served from the gateway's core (guide section 4,
 * "Read-mostly vs written").
 */
#ifndef EX_ENGINE_H
#define EX_ENGINE_H

#include <stdint.h>

#include "common.h"

typedef struct {
    _Alignas(LL_PAD) uint64_t md_seq;
    uint64_t md_last_ts_ns;
    _Alignas(LL_PAD) uint64_t orders_sent;
    uint64_t last_order_ns;
    _Alignas(LL_PAD) uint64_t fills;
    int64_t position;
    int64_t max_position;
    uint32_t strategy_id;
    uint32_t flags;
} engine_shared;

#endif
