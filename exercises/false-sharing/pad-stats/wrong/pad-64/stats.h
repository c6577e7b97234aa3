/*
 * Lab 2 exercise: fix the stats block - a known-wrong answer: padded to one
 * cache line.  stats[0] and stats[1] no longer share a line, and in this
 * loop it runs as fast as 128 (guide section 7: padded64 ~ padded128 once
 * each core holds its own line).  But the two elements are the two halves
 * of one 128-byte pair, which the L2's adjacent-line prefetcher fetches
 * together (guide section 2): a miss on one line, say when the monitor
 * thread reads stats[1], can pull stats[0]'s line away from its writer.
 * The rule on x86-64 is 128.
 */
#ifndef EX_STATS_H
#define EX_STATS_H

#include <stdalign.h>
#include <stdint.h>

typedef struct {
    _Alignas(64) uint32_t strategy_id;
    uint32_t flags;
    uint64_t orders_sent;
    uint64_t fills;
    uint64_t rejects;
    int64_t position;
    uint64_t last_order_ns;
} strat_stats;

_Static_assert(alignof(strat_stats) == 64, "each element starts a cache line");
_Static_assert(sizeof(strat_stats) == 64, "one line per thread");

#endif
