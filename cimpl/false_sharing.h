/* false_sharing.h - the C API of lab 2 (cimpl/false_sharing.c). */
#ifndef LL_FALSE_SHARING_H
#define LL_FALSE_SHARING_H

#include <stdint.h>

enum { LL_FS_PLAIN = 0, LL_FS_ATOMIC = 1 };
#define LL_FS_MAX_WORKERS 256

/* One worker in the calling thread: pin to `cpu` (-1: don't), increment the
 * int64 at `counter` n times; returns the loop's elapsed ns or an error. */
int64_t ll_fs_increment(void *counter, int64_t n, int kind, int cpu);

/* `workers` threads, thread i pinned to cpus[i] (cpus NULL, or an entry < 0: unpinned),
 * incrementing the int64 at base + i*stride n times each, started together.
 * elapsed_ns[i] gets thread i's loop time.  Returns LL_OK or an error. */
int ll_fs_run(void *base, int workers, int64_t stride, int64_t n, int kind, const int *cpus, int64_t *elapsed_ns);

#endif
