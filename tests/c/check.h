/* check.h - the C tests' tiny harness: CHECK / CHECK_EQ count passes and
 * failures; a test's main() ends with `return check_summary();`, which prints
 * the "N passed, M failed" line CI reads and gives the exit status. */
#ifndef LL_TEST_CHECK_H
#define LL_TEST_CHECK_H

#include <sched.h>
#include <stdio.h>

static int passed, failed;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (cond) {                                                                     \
            passed++;                                                                   \
        } else {                                                                        \
            failed++;                                                                   \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);             \
        }                                                                               \
    } while (0)

#define CHECK_EQ(a, b)                                                                  \
    do {                                                                                \
        long long va_ = (long long)(a), vb_ = (long long)(b);                           \
        if (va_ == vb_) {                                                               \
            passed++;                                                                   \
        } else {                                                                        \
            failed++;                                                                   \
            fprintf(stderr, "FAIL %s:%d: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, \
                    #a, #b, va_, vb_);                                                  \
        }                                                                               \
    } while (0)

/* The first two CPUs this process may run on; 0 (and -1s) if fewer than two. */
static inline int two_allowed_cpus(int *a, int *b)
{
    *a = *b = -1;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 0;
    for (int c = 0; c < CPU_SETSIZE && *b < 0; c++)
        if (CPU_ISSET(c, &set)) {
            if (*a < 0)
                *a = c;
            else
                *b = c;
        }
    if (*b < 0)
        *a = -1;
    return *b >= 0;
}

static inline int check_summary(void)
{
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#endif
