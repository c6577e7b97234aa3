/*
 * The exercise's own probe of the learner's layout (not the learner's file):
 * compiled with the stats.h being judged (its path in EX_HEADER), it answers
 * ex_fact("sizeof"), ex_fact("alignof"), ex_fact("off.<field>"),
 * ex_fact("size.<field>") and ex_fact("type.<field>") (1 uint64_t, 2 int64_t,
 * 3 uint32_t, 4 int32_t, 0 anything else), -1 for an unknown key.  A field
 * that is gone fails the build, naming it.
 */
#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include EX_HEADER

#define TYPE_CODE(x) _Generic((x), uint64_t: 1, int64_t: 2, uint32_t: 3, int32_t: 4, default: 0)
#define FIELD(f)                                                                                      \
    {"off." #f, (int64_t)offsetof(strat_stats, f)}, {"size." #f, (int64_t)sizeof(((strat_stats *)0)->f)}, \
        {"type." #f, TYPE_CODE(((strat_stats *)0)->f)}

int64_t ex_fact(const char *what)
{
    static const ll_fact facts[] = {
        {"sizeof", (int64_t)sizeof(strat_stats)},
        {"alignof", (int64_t)_Alignof(strat_stats)},
        FIELD(strategy_id), FIELD(flags), FIELD(orders_sent), FIELD(fills), FIELD(rejects), FIELD(position),
        FIELD(last_order_ns),
    };
    return ll_lookup_fact(facts, sizeof facts / sizeof facts[0], what);
}
