/*
 * itch.h - NASDAQ TotalView-ITCH 5.0 on the wire, for lab 5's C book
 * (cimpl/order_book.c).  The Python twin is pyimpl/itch.py, whose STRUCTS
 * table is the layout; tests/test_order_book_c.py checks the sizes below
 * against its MESSAGE_SIZES.
 *
 * Every message starts with the same 11-byte header:
 *
 *     offset  0  type            1 ASCII byte
 *             1  stock locate    u16
 *             3  tracking number u16
 *             5  timestamp       u48, ns since midnight
 *
 * then the fields of its type, packed (no padding), all integers big-endian
 * and unsigned, prices u32 in 1/10000 dollar.  So every type has one fixed
 * size, and a field is a fixed offset: decoding is a load at that offset and a
 * byte swap, nothing else.  There is no "decode into a struct" step: the book
 * reads the two or three fields it needs straight from the message.
 *
 * The loads go through memcpy: a message starts at any byte (the frames are
 * 2 + 12..40 bytes long), and dereferencing a misaligned uint32_t* is
 * undefined behaviour in C (UBSan says so; some CPUs fault).  memcpy of a
 * constant size compiles to one unaligned load on x86-64 and AArch64, and
 * __builtin_bswap* to one BSWAP/REV (or MOVBE): two instructions per field.
 */
#ifndef LL_ITCH_H
#define LL_ITCH_H

#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------ sizes */
enum {
    LL_ITCH_HEADER = 11,
    LL_ITCH_SIZE_S = 12, /* System Event */
    LL_ITCH_SIZE_R = 39, /* Stock Directory */
    LL_ITCH_SIZE_A = 36, /* Add Order, no MPID attribution */
    LL_ITCH_SIZE_F = 40, /* Add Order with MPID attribution */
    LL_ITCH_SIZE_E = 31, /* Order Executed */
    LL_ITCH_SIZE_C = 36, /* Order Executed With Price */
    LL_ITCH_SIZE_X = 23, /* Order Cancel */
    LL_ITCH_SIZE_D = 19, /* Order Delete */
    LL_ITCH_SIZE_U = 35, /* Order Replace */
};

/* The size of a message of type `t`, 0 for a type this decoder does not know
 * (a real feed has many more: trades, crosses, imbalances... the book skips
 * them).  The compiler turns the switch into one table lookup. */
static inline uint32_t ll_itch_size(uint8_t t)
{
    switch (t) {
    case 'S': return LL_ITCH_SIZE_S;
    case 'R': return LL_ITCH_SIZE_R;
    case 'A': return LL_ITCH_SIZE_A;
    case 'F': return LL_ITCH_SIZE_F;
    case 'E': return LL_ITCH_SIZE_E;
    case 'C': return LL_ITCH_SIZE_C;
    case 'X': return LL_ITCH_SIZE_X;
    case 'D': return LL_ITCH_SIZE_D;
    case 'U': return LL_ITCH_SIZE_U;
    default: return 0;
    }
}

/* ------------------------------------------------------------ field offsets */
enum {
    LL_ITCH_OFF_TYPE = 0,
    LL_ITCH_OFF_LOCATE = 1,   /* u16, every type */
    LL_ITCH_OFF_TRACKING = 3, /* u16, every type */
    LL_ITCH_OFF_TIMESTAMP = 5, /* u48, every type */

    LL_ITCH_OFF_S_EVENT = 11, /* S: event code (1 char) */
    LL_ITCH_OFF_R_STOCK = 11, /* R: stock (8 chars, space padded) */

    LL_ITCH_OFF_A_REF = 11,    /* A, F: order reference number, u64 */
    LL_ITCH_OFF_A_SIDE = 19,   /* A, F: 'B' or 'S' */
    LL_ITCH_OFF_A_SHARES = 20, /* A, F: u32 */
    LL_ITCH_OFF_A_STOCK = 24,  /* A, F: 8 chars */
    LL_ITCH_OFF_A_PRICE = 32,  /* A, F: u32, 1/10000 $ */
    LL_ITCH_OFF_F_MPID = 36,   /* F: attribution, 4 chars */

    LL_ITCH_OFF_E_REF = 11,    /* E, C, X, D: the order's reference number */
    LL_ITCH_OFF_E_SHARES = 19, /* E, C: executed shares; X: cancelled shares (u32) */
    LL_ITCH_OFF_E_MATCH = 23,  /* E, C: match number, u64 */
    LL_ITCH_OFF_C_PRINTABLE = 31,
    LL_ITCH_OFF_C_PRICE = 32, /* C: execution price (the book ignores it) */

    LL_ITCH_OFF_U_REF = 11,     /* U: original order reference number */
    LL_ITCH_OFF_U_NEW_REF = 19, /* U: new order reference number */
    LL_ITCH_OFF_U_SHARES = 27,
    LL_ITCH_OFF_U_PRICE = 31,
};

/* ------------------------------------------------------------ big-endian loads */
static inline uint16_t ll_be16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap16(v);
#endif
    return v;
}

static inline uint32_t ll_be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

static inline uint64_t ll_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* The 6-byte timestamp: a u16 and a u32 (there is no 48-bit load). */
static inline uint64_t ll_be48(const uint8_t *p)
{
    return (uint64_t)ll_be16(p) << 32 | ll_be32(p + 2);
}

/* ------------------------------------------------------------ stores (tests, encoders) */
static inline void ll_put_be16(uint8_t *p, uint16_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap16(v);
#endif
    memcpy(p, &v, sizeof v);
}

static inline void ll_put_be32(uint8_t *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    memcpy(p, &v, sizeof v);
}

static inline void ll_put_be64(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, sizeof v);
}

#endif
