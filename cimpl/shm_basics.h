/* shm_basics.h - the C API of lab 1 (cimpl/shm_basics.c); the ctypes
 * bindings in cimpl/shm_basics.py declare the same signatures. */
#ifndef LL_SHM_BASICS_H
#define LL_SHM_BASICS_H

#include <stdint.h>

#include "shm_layout.h"

typedef struct ll_segment ll_segment; /* opaque: create/attach allocate, close frees */

/* segments: 0 / a handle on success, else a negative error (common.h) */
int ll_seg_check_name(const char *name);
ll_segment *ll_seg_create(const char *name, uint64_t payload_size, uint32_t kind, int *err);
ll_segment *ll_seg_attach(const char *name, uint32_t kind, int *err);
void *ll_seg_payload(const ll_segment *s);
uint64_t ll_seg_payload_size(const ll_segment *s);
uint32_t ll_seg_kind(const ll_segment *s);
uint32_t ll_seg_creator_pid(const ll_segment *s);
int ll_seg_fd(const ll_segment *s);
int ll_seg_read(const ll_segment *s, uint64_t offset, void *dst, uint64_t n);
int ll_seg_write(ll_segment *s, uint64_t offset, const void *src, uint64_t n);
int ll_seg_close(ll_segment *s);
int ll_seg_unlink(const char *name);

/* the seqlock-protected quote: one writer, many readers */
void ll_quote_write(ll_quote_slot *s, uint32_t instrument, int64_t bid, int64_t ask, uint32_t bid_size,
                    uint32_t ask_size, uint64_t ts_ns);
void ll_quote_store(ll_quote_slot *s, const ll_quote *q);
int ll_quote_read(const ll_quote_slot *s, ll_quote *out, uint64_t *seq_out, uint64_t timeout_ns);
uint64_t ll_quote_seq(const ll_quote_slot *s);

/* benchmark kernels, timed inside C */
int64_t ll_bench_access(ll_quote_slot *s, int64_t n);
int ll_vis_writer(ll_quote_channel *ch, int64_t n, int64_t gap_ns, int64_t timeout_ns);
int ll_vis_reader(ll_quote_channel *ch, int64_t n, int64_t *lat_ns, int64_t timeout_ns);

/* layout facts (sizes, offsets, constants) for the Python side's self-check */
int64_t ll_layout_info(const char *what);

#endif
