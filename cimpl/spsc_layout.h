/*
 * spsc_layout.h - the byte layout of lab 3's single-producer/single-consumer
 * ring, inside a lab-1 segment of kind LL_KIND_RING.  One definition: the
 * pure-Python side (pyimpl/spsc_ring.py) writes the same bytes, and a test
 * checks its constants against ll_ring_layout_info().
 *
 *   payload offset 0     ll_ring_header   read-mostly: geometry, flavour, who is attached
 *   payload offset 128   producer block   head (written by the producer only), heartbeat, closed
 *   payload offset 256   consumer block   tail (written by the consumer only)
 *   payload offset 384   slots            capacity x slot_size bytes
 *
 * Each block has its own 128 bytes (two cache lines, see lab 2): the producer's
 * stores to head never invalidate the line holding tail, and the other way round.
 *
 * Two flavours share this layout; the header says which one a ring is:
 *
 *   LL_RING_INDEX     a slot is the message (msg_size = slot_size).  The consumer
 *                     learns that slot i is written from head > i.
 *   LL_RING_SEQ_SLOT  a slot is an 8-byte sequence word, then the message
 *                     (msg_size = slot_size - 8).  The producer writes the message,
 *                     then the slot's sequence word = i + 1 (release); the consumer
 *                     polls the sequence word of the slot it wants next, so head's
 *                     line leaves the path and one cache line moves per message
 *                     (the FastForward / Disruptor idea).  A fresh ring's slots read
 *                     0, which no message has (i + 1 > 0 for 2^64 - 1 messages).
 *
 * Who holds a role is told by an open-file-description lock on one byte of the
 * segment's file (the producer byte 0, the consumer byte 1; common.h), taken
 * by C and by Python alike and dropped by the kernel when the holder dies.
 * The pids in the header are for people and for telling "closed" from "died".
 */
#ifndef LL_SPSC_LAYOUT_H
#define LL_SPSC_LAYOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define LL_RING_MAGIC 0x31474e49524c4c4cull /* "LLLRING1" as little-endian bytes */
#define LL_RING_VERSION 2u                  /* 2: the flavour field, the role locks */
#define LL_RING_MIN_SLOT 8u
#define LL_RING_MAX_SLOT 65536u
#define LL_RING_MAX_CAPACITY (1ull << 24) /* slots; and capacity x slot_size <= the segment limit */
#define LL_RING_SEQ_BYTES 8u              /* the sequence word in front of a seq-slot message */

enum { LL_RING_INDEX = 1, LL_RING_SEQ_SLOT = 2 }; /* ll_ring_header.flavour */

/* file offsets of the role locks (bytes of the segment header, locked, never written for it) */
#define LL_RING_LOCK_PRODUCER 0
#define LL_RING_LOCK_CONSUMER 1

/* The producer stores a heartbeat whenever head crosses a multiple of
 * LL_RING_HEARTBEAT_EVERY (push and push_many alike: about every that many
 * messages), and every ~100 us while it waits: both languages follow this one
 * rule (a test checks it). */
#define LL_RING_HEARTBEAT_EVERY 1024u

typedef struct ll_ring_header {
    /* [R1 -> R2] written last by ll_ring_init (release), read first by
     * ll_ring_open (acquire): a ring whose magic is there has its whole header */
    _Atomic uint64_t magic;
    uint32_t version;
    uint32_t slot_size;   /* bytes per slot, a multiple of 8 */
    uint64_t capacity;    /* slots, a power of two */
    /* pid of the attached producer / consumer, 0 when none: information, not
     * the claim (the role lock is); a pid whose lock is gone died attached */
    _Atomic uint32_t producer_pid;
    _Atomic uint32_t consumer_pid;
    uint32_t flavour;     /* LL_RING_INDEX or LL_RING_SEQ_SLOT */
    uint8_t reserved[LL_PAD - 36];
} ll_ring_header;

typedef struct ll_ring_producer_block {
    _Atomic uint64_t head;      /* next slot to write; only the producer stores it */
    _Atomic uint64_t heartbeat; /* CLOCK_MONOTONIC ns of the producer's last sign of life */
    _Atomic uint32_t closed;    /* 1: the producer closed the ring (no more messages) */
    uint8_t reserved[LL_PAD - 20];
} ll_ring_producer_block;

typedef struct ll_ring_consumer_block {
    _Atomic uint64_t tail; /* next slot to read; only the consumer stores it */
    uint8_t reserved[LL_PAD - 8];
} ll_ring_consumer_block;

typedef struct ll_ring_layout {
    ll_ring_header hdr;
    _Alignas(LL_PAD) ll_ring_producer_block prod;
    _Alignas(LL_PAD) ll_ring_consumer_block cons;
    _Alignas(LL_PAD) uint8_t slots[];
} ll_ring_layout;

_Static_assert(sizeof(ll_ring_header) == LL_PAD, "header is one 128-byte block");
_Static_assert(offsetof(ll_ring_layout, prod) == LL_PAD, "producer block at 128");
_Static_assert(offsetof(ll_ring_layout, cons) == 2 * LL_PAD, "consumer block at 256");
_Static_assert(offsetof(ll_ring_layout, slots) == 3 * LL_PAD, "slots at 384");

#endif
