/* spsc_ring.h - the C API of lab 3 (cimpl/spsc_ring.c).  Return codes: 1 / a
 * count on success, 0 for "full" / "empty", a negative error (common.h).
 *
 * Two flavours of ring (spsc_layout.h) with one set of calls for opening,
 * waiting, liveness and the benchmark kernels, and their own push/pop:
 * ll_ring_push/pop/push_many/pop_many for LL_RING_INDEX rings,
 * ll_seqring_push/... for LL_RING_SEQ_SLOT rings (the other flavour's call
 * refuses with LL_EINVAL).  Every call whose result says whether it happened
 * is LL_MUST_USE: ignoring a failed push does not compile clean.
 *
 * The same source builds twice: libspsc_ring.so, and libspsc_ring_nocache.so
 * with -DLL_RING_NO_CACHE, the naive ring that re-reads the other side's
 * counter on every operation (what lab 3 measures the cached index against).
 * The variant is chosen at compile time, so the ring's hot path carries no
 * switch; ll_ring_cached_index() says which build a library is. */
#ifndef LL_SPSC_RING_H
#define LL_SPSC_RING_H

#include <stdint.h>

#include "spsc_layout.h"

enum { LL_RING_PRODUCER = 1, LL_RING_CONSUMER = 2 };

typedef struct ll_ring ll_ring; /* one end of a ring, process-local */

uint64_t ll_ring_bytes(uint64_t capacity, uint32_t slot_size);
LL_MUST_USE int ll_ring_check_geometry(uint64_t capacity, uint32_t slot_size, uint32_t flavour);
LL_MUST_USE int ll_ring_init(void *payload, uint64_t size, uint64_t capacity, uint32_t slot_size, uint32_t flavour);
/* fd: an open descriptor of the segment's file; the end opens its own
 * description of it and holds the role's lock on that until ll_ring_close. */
LL_MUST_USE ll_ring *ll_ring_open(void *payload, uint64_t size, int fd, int role, int *err);
void ll_ring_close(ll_ring *r);
/* producer: no more messages (the consumer sees LL_ECLOSED once drained); the end stays open until ll_ring_close */
int ll_ring_finish(ll_ring *r);
int ll_ring_cached_index(void); /* 1: this library keeps the cached index; 0: the no-cache build */
uint32_t ll_ring_flavour(const ll_ring *r);
uint32_t ll_ring_slot_size(const ll_ring *r);
uint32_t ll_ring_msg_size(const ll_ring *r);
uint64_t ll_ring_capacity(const ll_ring *r);
uint64_t ll_ring_size(const ll_ring *r);

/* LL_RING_INDEX rings */
LL_MUST_USE int ll_ring_push(ll_ring *r, const void *msg, uint32_t len);
LL_MUST_USE int64_t ll_ring_push_many(ll_ring *r, const void *msgs, uint64_t n);
LL_MUST_USE int ll_ring_pop(ll_ring *r, void *out);
LL_MUST_USE int64_t ll_ring_pop_many(ll_ring *r, void *out, uint64_t max);
/* LL_RING_SEQ_SLOT rings: the same contracts */
LL_MUST_USE int ll_seqring_push(ll_ring *r, const void *msg, uint32_t len);
LL_MUST_USE int64_t ll_seqring_push_many(ll_ring *r, const void *msgs, uint64_t n);
LL_MUST_USE int ll_seqring_pop(ll_ring *r, void *out);
LL_MUST_USE int64_t ll_seqring_pop_many(ll_ring *r, void *out, uint64_t max);
/* either flavour */
LL_MUST_USE int ll_ring_push_wait(ll_ring *r, const void *msg, uint32_t len, uint64_t timeout_ns);
LL_MUST_USE int ll_ring_pop_wait(ll_ring *r, void *out, uint64_t timeout_ns);
int ll_ring_peer_state(ll_ring *r);
uint64_t ll_ring_heartbeat_age_ns(const ll_ring *r);

/* sequenced streams: the stress tests' and benchmarks' kernels (either flavour) */
#define LL_RING_SEQ_MUL 0x9E3779B97F4A7C15ull
LL_MUST_USE int ll_ring_check_stream(const ll_ring *r, int role, uint64_t start, uint64_t n, uint32_t batch);
LL_MUST_USE int64_t ll_ring_produce_seq(ll_ring *r, uint64_t start, uint64_t n, uint32_t batch,
                                        uint64_t timeout_ns);
LL_MUST_USE int64_t ll_ring_consume_seq(ll_ring *r, uint64_t start, uint64_t n, uint32_t batch,
                                        uint64_t timeout_ns, uint64_t *bad);

/* round trips over two rings, and the echo at the other end */
LL_MUST_USE int ll_ring_pingpong(ll_ring *out, ll_ring *in, uint64_t n, int64_t *rtt_ns, uint64_t timeout_ns);
LL_MUST_USE int ll_ring_echo(ll_ring *in, ll_ring *out, uint64_t n, uint64_t timeout_ns);
/* one-way latency: the producer sends n messages on an idle ring, each
 * stamped with CLOCK_MONOTONIC just before its push (and spaced gap_ns
 * apart, after the consumer has taken the previous one); the consumer
 * writes now - stamp for each into lat_ns. */
LL_MUST_USE int ll_ring_send_stamped(ll_ring *r, uint64_t n, uint64_t gap_ns, uint64_t timeout_ns);
LL_MUST_USE int ll_ring_recv_stamped(ll_ring *r, uint64_t n, int64_t *lat_ns, uint64_t timeout_ns);

int64_t ll_ring_layout_info(const char *what);

#endif
