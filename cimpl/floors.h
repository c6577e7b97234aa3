/* floors.h - the C API of the machine floors (cimpl/floors.c). */
#ifndef LL_FLOORS_H
#define LL_FLOORS_H

#include <stdint.h>

int64_t ll_noop(int64_t x);
int64_t ll_timer_overhead(int64_t n);
int64_t ll_memcpy_best_ns(int64_t bytes, int64_t reps);
int ll_c2c_rtt(int cpu_a, int cpu_b, int64_t n_per_batch, int64_t batches, double *batch_ns);

#endif
