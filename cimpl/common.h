/*
 * common.h - small helpers every lab's C code shares: the clock, CPU pinning,
 * the spin-wait hint, cache-line constants and the error codes that the ctypes
 * bindings turn into Python exceptions.
 */
#ifndef LL_COMMON_H
#define LL_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* One cache line on x86-64 and most ARM cores. */
#define LL_CACHELINE 64
/* What to pad cross-core fields to on x86-64: the L2 "adjacent-line"
 * prefetcher fetches lines in 128-byte pairs, so two fields 64 bytes apart
 * still interfere.  Lab 2 measures this. */
#define LL_PAD 128

#define LL_EXPORT __attribute__((visibility("default")))
/* A call whose result says whether it happened (a push that found the ring
 * full, an error): ignoring it is a warning, and -Werror makes it an error.
 * (GCC does not accept a (void) cast as using it: handle the result.) */
#define LL_MUST_USE __attribute__((warn_unused_result))

/* Error codes returned by the library.  A negative errno (-ENOENT, ...) is an
 * OS error; the values below are our own.  Keep in sync with
 * cimpl/_lib.py:ERRORS (a test checks every code has a message there). */
enum {
    LL_OK = 0,
    LL_EBADNAME = -1001,    /* segment name empty, too long, or bad characters */
    LL_EBADSIZE = -1002,    /* size zero or above LL_SEG_MAX_PAYLOAD */
    LL_EBADMAGIC = -1003,   /* not a latencylab segment (or not initialised yet) */
    LL_EBADVERSION = -1004, /* a latencylab segment of another layout version */
    LL_EBADLAYOUT = -1005,  /* header sizes disagree with the file size */
    LL_EBADKIND = -1006,    /* a segment of another kind (e.g. not a quote) */
    LL_ETIMEDOUT = -1007,   /* the other side did not answer in time */
    LL_EINVAL = -1008,      /* a bad argument (NULL, n <= 0, offset out of range) */
    LL_ENOCPU = -1009,      /* could not pin to the requested CPU */
    LL_ENORES = -1010,      /* out of resources: memory, or a thread that would not start */
    LL_EBUSY = -1011,       /* the role (producer, consumer) is held by a live process */
    LL_EPEERDEAD = -1012,   /* the other side's process is gone */
    LL_ECLOSED = -1013,     /* the producer closed the ring and it is drained */
    /* lab 5, the order book (cimpl/order_book.c): a rejected update leaves the book unchanged */
    LL_ENOORDER = -1014,    /* no resting order has that ref */
    LL_EDUPORDER = -1015,   /* an order with that ref is already resting */
    LL_EZEROSHARES = -1016, /* zero shares (an add, an execution, a cancel, a replace) */
    LL_EOVERFILL = -1017,   /* more shares executed or cancelled than the order has left */
    LL_EBADSIDE = -1018,    /* a side that is neither 'B' nor 'S' */
    LL_EBADLOCATE = -1019,  /* stock locate 0 */
    LL_EBOOKFULL = -1020,   /* the order pool or the instrument table is full */
    /* lab 5, ITCH bytes (cimpl/itch.h) */
    LL_ETRUNCATED = -1021,  /* a frame or a message cut short */
    LL_EBADFRAME = -1022,   /* a frame or message whose length is not its type's size */
    LL_EUNKNOWNMSG = -1023, /* a message type the decoder does not know */
    /* lab 6, ML inference (cimpl/ml_inference.c) */
    LL_EBADMODEL = -1024,   /* model arrays that do not fit, hold NaN/inf, or a scale <= 0 */
    LL_ENONFINITE = -1025,  /* an input feature is NaN or inf (the call says which row/column) */
    /* lab 3, the ring */
    LL_ECORRUPT = -1026,    /* data arrived damaged (an echo that is not the message sent): never a caller's mistake */
};

/* CLOCK_MONOTONIC, the clock Python's time.monotonic_ns() reads too, so a
 * timestamp written by C can be compared with one taken in Python (and across
 * processes: on x86-64 with an invariant TSC the clock is consistent between
 * cores).  Served from the vDSO: about 20 ns, no system call. */
static inline uint64_t ll_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Tell the core we are spinning: frees pipeline resources for the sibling
 * hyper-thread and avoids a memory-order mis-speculation flush on exit. */
static inline void ll_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Pin the calling thread to one CPU.  Returns LL_OK or LL_ENOCPU. */
int ll_pin_self(int cpu);

/* A layout fact (a size, an offset, a constant) by name: each lab's
 * ll_*layout_info lets the Python side check its constants against C's. */
typedef struct {
    const char *key;
    int64_t value;
} ll_fact;
int64_t ll_lookup_fact(const ll_fact *facts, size_t n, const char *key); /* -1 if absent */

/* 1 if process `pid` exists and is not a zombie (killed but not yet reaped
 * counts as dead), 0 otherwise. */
int ll_pid_alive(uint32_t pid);

/* Open-file-description locks (fcntl F_OFD_SETLK), the one mechanism that
 * says who holds a segment or a ring role.  Such a lock belongs to one open
 * file description, not to a process: two opens in one process conflict like
 * two processes do, and the kernel drops the lock when the description's last
 * fd closes - a killed holder frees what it held, with no pid to go stale.
 * The pure-Python side takes the same locks with fcntl.fcntl.
 *
 * ll_ofd_reopen: a new description of the file `fd` is open on (through
 * /proc/self/fd, so an unlinked file works too), O_RDWR|O_CLOEXEC; >= 0 or -errno.
 * ll_ofd_lock: take a lock of `type` (F_RDLCK/F_WRLCK) on bytes [start, start+len)
 * without waiting: LL_OK, LL_EBUSY (another description holds a conflicting
 * lock) or -errno.
 * ll_ofd_held: 1 if another description holds a lock that conflicts with a
 * write lock on those bytes, 0 if none, -errno on error. */
int ll_ofd_reopen(int fd);
int ll_ofd_lock(int fd, int64_t start, int64_t len, int type);
int ll_ofd_held(int fd, int64_t start, int64_t len);

#endif
