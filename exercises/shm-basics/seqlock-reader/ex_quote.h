/* The exercise's quote stream (not the learner's file): every field of quote k
 * is derived from k, as in tests/test_shm_cross_process.py:quote_for, and the
 * k-th write (from 0) on a fresh segment is published under seq 2k + 2. */
#ifndef EX_QUOTE_H
#define EX_QUOTE_H

#define EX_STOP 0xFFFFFFFFu /* the instrument of the writer's last quote (k % 97 never is) */
#define EX_INSTRUMENT(k) ((uint32_t)((k) % 97))
#define EX_BID(k) ((int64_t)(k))
#define EX_ASK(k) ((int64_t)(k) + 1)
#define EX_BID_SIZE(k) ((uint32_t)((k) % 1000 + 1))
#define EX_ASK_SIZE(k) ((uint32_t)((k) % 1000 + 2))
#define EX_TS(k) ((uint64_t)(k) * 3)

#endif
