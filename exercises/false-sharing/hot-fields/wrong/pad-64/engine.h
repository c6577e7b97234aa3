/*
 * Lab 2 exercise: lay out the engine's shared block - a known-wrong answer:
 * each writer's fields on a cache line of their own, 64 bytes apart.  No two
 * writers share a line, which is the textbook fix - but the feed's line and
 * the strategy's are the two halves of one 128-byte pair, and so are the
 * gateway's and the limits'.  Intel's L2 adjacent-line prefetcher completes
 * every line it fetches with its pair (guide section 2): a miss on one line
 * can pull the other away from the core writing it.  On x86-64 the rule is
 * 128.
 */
#ifndef EX_ENGINE_H
#define EX_ENGINE_H

#include <stdint.h>

typedef struct {
    _Alignas(64) uint64_t md_seq;
    uint64_t md_last_ts_ns;
    _Alignas(64) uint64_t orders_sent;
    uint64_t last_order_ns;
    _Alignas(64) uint64_t fills;
    int64_t position;
    _Alignas(64) int64_t max_position;
    uint32_t strategy_id;
    uint32_t flags;
} engine_shared;

#endif
