/* itch_build.h - the C tests' ITCH 5.0 message builders (lab 5's book and
 * lab 6's features are fed the same bytes): each writes one message into m
 * (at least 64 bytes) at the spec's offsets (cimpl/itch.h) and returns its
 * size; itch_frame appends a message to a framed buffer.  Timestamps
 * increase from message to message, as in a real feed. */
#ifndef LL_TEST_ITCH_BUILD_H
#define LL_TEST_ITCH_BUILD_H

#include <stdint.h>
#include <string.h>

#include "itch.h"

static uint64_t itch_stamp = 1000; /* ns since midnight of the next message */

static inline size_t itch_header(uint8_t *m, char type, uint16_t locate)
{
    memset(m, 0, 64);
    m[0] = (uint8_t)type;
    ll_put_be16(m + LL_ITCH_OFF_LOCATE, locate);
    itch_stamp += 7;
    ll_put_be16(m + LL_ITCH_OFF_TIMESTAMP, (uint16_t)(itch_stamp >> 32));
    ll_put_be32(m + LL_ITCH_OFF_TIMESTAMP + 2, (uint32_t)itch_stamp);
    return ll_itch_size((uint8_t)type);
}

/* A or F (F: attributed to GSCO), stock "TEST" */
static inline size_t itch_add(uint8_t *m, char type, uint16_t locate, uint64_t ref, char side, uint32_t shares,
                              uint32_t price)
{
    size_t n = itch_header(m, type, locate);
    ll_put_be64(m + LL_ITCH_OFF_A_REF, ref);
    m[LL_ITCH_OFF_A_SIDE] = (uint8_t)side;
    ll_put_be32(m + LL_ITCH_OFF_A_SHARES, shares);
    memcpy(m + LL_ITCH_OFF_A_STOCK, "TEST    ", 8);
    ll_put_be32(m + LL_ITCH_OFF_A_PRICE, price);
    if (type == 'F')
        memcpy(m + LL_ITCH_OFF_F_MPID, "GSCO", 4);
    return n;
}

/* E, C, X (with shares) or D (shares unused) */
static inline size_t itch_ref(uint8_t *m, char type, uint16_t locate, uint64_t ref, uint32_t shares)
{
    size_t n = itch_header(m, type, locate);
    ll_put_be64(m + LL_ITCH_OFF_E_REF, ref);
    if (type != 'D')
        ll_put_be32(m + LL_ITCH_OFF_E_SHARES, shares);
    if (type == 'C') {
        m[LL_ITCH_OFF_C_PRINTABLE] = 'Y';
        ll_put_be32(m + LL_ITCH_OFF_C_PRICE, 123);
    }
    return n;
}

static inline size_t itch_replace(uint8_t *m, uint16_t locate, uint64_t ref, uint64_t new_ref, uint32_t shares,
                                  uint32_t price)
{
    size_t n = itch_header(m, 'U', locate);
    ll_put_be64(m + LL_ITCH_OFF_U_REF, ref);
    ll_put_be64(m + LL_ITCH_OFF_U_NEW_REF, new_ref);
    ll_put_be32(m + LL_ITCH_OFF_U_SHARES, shares);
    ll_put_be32(m + LL_ITCH_OFF_U_PRICE, price);
    return n;
}

static inline size_t itch_directory(uint8_t *m, uint16_t locate, const char *stock8)
{
    size_t n = itch_header(m, 'R', locate);
    memcpy(m + LL_ITCH_OFF_R_STOCK, stock8, 8);
    return n;
}

/* append a frame at buf + at: the 2-byte length, then the message; the new end */
static inline size_t itch_frame(uint8_t *buf, size_t at, const uint8_t *m, size_t n)
{
    ll_put_be16(buf + at, (uint16_t)n);
    memcpy(buf + at + 2, m, n);
    return at + 2 + n;
}

#endif
