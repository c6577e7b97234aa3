/*
 * Lab 2 exercise: fix the stats block of a strategy engine (see README.md).
 *
 * Each strategy thread of an engine owns one of these, in an array
 * (strat_stats stats[16]); a monitor thread reads all of them once a second.
 * Thread i increments stats[i].orders_sent on every order.  As written, an
 * element is 48 bytes: stats[0] and stats[1] share a cache line, and the two
 * threads' counters fight over it (guide sections 1 and 3).
 *
 * Fix the layout, without removing a field or changing a type: make every
 * element start its own 128-byte block (`_Alignas`), and guard it with
 * `_Static_assert`s on sizeof and _Alignof, so a later edit that breaks it
 * fails the build.  LL_PAD (128) is in cimpl/common.h.
 */
#ifndef EX_STATS_H
#define EX_STATS_H

#include <stdint.h>

typedef struct {
    uint32_t strategy_id;   /* set once at start-up */
    uint32_t flags;         /* set once at start-up */
    uint64_t orders_sent;   /* every order */
    uint64_t fills;         /* every fill */
    uint64_t rejects;
    int64_t position;       /* every fill */
    uint64_t last_order_ns; /* every order */
} strat_stats;              /* 48 bytes */

#endif
