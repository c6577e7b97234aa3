/* spsc_ring.h - the C API of lab 3 (cimpl/spsc_ring.c).  Return codes: 1 / a
 * count on success, 0 for "full" / "empty", a negative error (common.h). */
#ifndef LL_SPSC_RING_H
#define LL_SPSC_RING_H

#include <stdint.h>

#include "spsc_layout.h"

enum { LL_RING_PRODUCER = 1, LL_RING_CONSUMER = 2 };

typedef struct ll_ring ll_ring; /* one end of a ring, process-local */

uint64_t ll_ring_bytes(uint64_t capacity, uint32_t slot_size);
int ll_ring_check_geometry(uint64_t capacity, uint32_t slot_size);
int ll_ring_init(void *payload, uint64_t size, uint64_t capacity, uint32_t slot_size);
ll_ring *ll_ring_open(void *payload, uint64_t size, int role, int *err);
void ll_ring_close(ll_ring *r);
void ll_ring_set_cache(ll_ring *r, int enabled);
uint32_t ll_ring_slot_size(const ll_ring *r);
uint64_t ll_ring_capacity(const ll_ring *r);
uint64_t ll_ring_size(const ll_ring *r);

int ll_ring_push(ll_ring *r, const void *msg, uint32_t len);
uint64_t ll_ring_push_many(ll_ring *r, const void *msgs, uint64_t n);
int ll_ring_pop(ll_ring *r, void *out);
uint64_t ll_ring_pop_many(ll_ring *r, void *out, uint64_t max);
int ll_ring_push_wait(ll_ring *r, const void *msg, uint32_t len, uint64_t timeout_ns);
int ll_ring_pop_wait(ll_ring *r, void *out, uint64_t timeout_ns);
int ll_ring_peer_state(ll_ring *r);
uint64_t ll_ring_heartbeat_age_ns(const ll_ring *r);

/* sequenced streams: the stress tests' and benchmarks' kernels */
#define LL_RING_SEQ_MUL 0x9E3779B97F4A7C15ull
int64_t ll_ring_produce_seq(ll_ring *r, uint64_t start, uint64_t n, uint32_t batch, uint64_t timeout_ns);
int64_t ll_ring_consume_seq(ll_ring *r, uint64_t start, uint64_t n, uint32_t batch, uint64_t timeout_ns,
                            uint64_t *bad);

/* round trips over two rings, and the echo at the other end */
int ll_ring_pingpong(ll_ring *out, ll_ring *in, uint64_t n, int64_t *rtt_ns, uint64_t timeout_ns);
int ll_ring_echo(ll_ring *in, ll_ring *out, uint64_t n, uint64_t timeout_ns);

int64_t ll_ring_layout_info(const char *what);

#endif
