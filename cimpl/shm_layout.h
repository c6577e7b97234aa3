/*
 * shm_layout.h - the byte layout of lab 1's shared-memory objects.
 *
 * This header is the one definition of the layout.  The pure-Python
 * implementation (pyimpl/shm_basics.py) writes the same bytes with struct and
 * memoryview; tests/test_shm_basics.py asks the C library for every size and
 * offset below (ll_layout_info) and checks Python agrees.
 *
 *   /dev/shm/latencylab-<name>
 *   +-------------------------------+  offset 0
 *   | ll_seg_header (128 bytes)     |  magic, version, sizes, kind, creator pid
 *   +-------------------------------+  offset 128
 *   | payload (payload_size bytes)  |  for kind LL_KIND_QUOTE: ll_quote_channel
 *   +-------------------------------+
 */
#ifndef LL_SHM_LAYOUT_H
#define LL_SHM_LAYOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

/* ------------------------------------------------------------------ names */
/* Every segment this project creates is /dev/shm/latencylab-<name>, so that
 * `latencylab clean` can find ours and only ours by the prefix. */
#define LL_SEG_PREFIX "latencylab-"
/* <name>: 1..LL_SEG_NAME_MAX characters from [A-Za-z0-9_.-], not starting
 * with '.' or '-': no '/', so no path tricks, and no hidden files. */
#define LL_SEG_NAME_MAX 63
/* Largest payload we agree to create: 1 GiB. */
#define LL_SEG_MAX_PAYLOAD (1ull << 30)

/* ------------------------------------------------------------------ locks */
/* Who holds a segment is told by open-file-description locks (common.h) on
 * bytes of the segment's file, never by a pid alone: every open Segment holds
 * a read lock on byte LL_SEG_LOCK_ATTACHED for as long as it is open (so
 * `latencylab clean` can tell a segment in use from one left behind), and a
 * ring's producer and consumer hold write locks on bytes 0 and 1
 * (spsc_layout.h).  Locks are advisory: the bytes are read and written as
 * usual, the locks only say who is there. */
#define LL_SEG_LOCK_ATTACHED 2
#define LL_SEG_LOCK_BYTES 3 /* bytes [0, 3) carry locks: `clean` asks about all of them */

/* ----------------------------------------------------------------- header */
#define LL_SEG_MAGIC 0x314d48534c4c4c4cull /* "LLLLSHM1" read as little-endian bytes */
#define LL_SEG_VERSION 1u
#define LL_SEG_HEADER_SIZE 128u

/* What the payload holds.  Attaching with the wrong kind is an error. */
enum {
    LL_KIND_RAW = 1,   /* plain bytes */
    LL_KIND_QUOTE = 2, /* an ll_quote_channel */
    LL_KIND_COUNTERS = 3, /* lab 2: a 128-byte description, then per-worker counters */
    LL_KIND_RING = 4,     /* lab 3: an SPSC ring (spsc_layout.h) */
    LL_KIND_CONTROL = 5,  /* lab 7: a trading system's control block (ts_layout.h) */
    LL_KIND_ANY = 0,   /* attach: accept any kind */
};

typedef struct ll_seg_header {
    /* Written last by the creator with a release store, read first by an
     * attacher with an acquire load: an attacher that sees the magic also sees
     * every other header field (they were written before it). */
    _Atomic uint64_t magic;
    uint32_t version;
    uint32_t header_size;
    uint64_t payload_size;
    uint32_t kind;
    uint32_t creator_pid;
    uint8_t reserved[LL_SEG_HEADER_SIZE - 32];
} ll_seg_header;

_Static_assert(sizeof(ll_seg_header) == LL_SEG_HEADER_SIZE, "header is 128 bytes");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "an atomic u64 has the plain u64 layout");

/* ------------------------------------------------------------------ quote */
/* A top-of-book quote: what the writer publishes and a reader gets back. */
typedef struct ll_quote {
    uint32_t instrument;
    uint32_t reserved;
    int64_t bid;       /* price in ticks (1/10000 of a currency unit) */
    int64_t ask;
    uint32_t bid_size;
    uint32_t ask_size;
    uint64_t ts_ns;    /* CLOCK_MONOTONIC when the writer published it */
} ll_quote;

_Static_assert(sizeof(ll_quote) == 40, "quote is 40 bytes");

/* The quote as it lives in shared memory: a sequence counter plus the fields,
 * all in ONE cache line, so a reader's retry loop touches a single line.
 *
 * The fields are _Atomic and accessed with memory_order_relaxed: a seqlock
 * reader reads them while the writer may be writing them, and in C11 that is a
 * data race (undefined behaviour) unless the accesses are atomic.  On x86-64
 * (and ARM64) a relaxed 4- or 8-byte atomic load or store is an ordinary mov,
 * so this costs nothing; the ordering comes from the fences in shm_basics.c.
 * See Boehm, "Can Seqlocks Get Along With Programming Language Memory
 * Models?" (MSPC 2012). */
typedef struct ll_quote_slot {
    _Alignas(LL_CACHELINE) _Atomic uint64_t seq; /* odd while a write is in progress */
    _Atomic uint32_t instrument;
    _Atomic uint32_t reserved;
    _Atomic int64_t bid;
    _Atomic int64_t ask;
    _Atomic uint32_t bid_size;
    _Atomic uint32_t ask_size;
    _Atomic uint64_t ts_ns;
} ll_quote_slot;

_Static_assert(sizeof(ll_quote_slot) == LL_CACHELINE, "the quote fills exactly one cache line");

/* The payload of a LL_KIND_QUOTE segment: the quote on its own 128 bytes, and
 * an "ack" line that one reader may write to tell the writer what it has seen
 * (the visibility benchmark uses it).  The ack lives 128 bytes away so the
 * reader's stores never touch the quote's line, nor the line the adjacent-line
 * prefetcher pairs with it. */
typedef struct ll_quote_channel {
    ll_quote_slot quote;
    uint8_t pad0[LL_PAD - sizeof(ll_quote_slot)];
    _Alignas(LL_PAD) _Atomic uint64_t ack;    /* last sequence number the reader saw */
    _Atomic uint64_t ready;                   /* reader is up and spinning */
    uint8_t pad1[LL_PAD - 16];
} ll_quote_channel;

_Static_assert(sizeof(ll_quote_channel) == 2 * LL_PAD, "channel is two 128-byte blocks");
_Static_assert(offsetof(ll_quote_channel, ack) == LL_PAD, "ack is 128 bytes after the quote");

#endif
