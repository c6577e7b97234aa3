/*
 * Lab 5 exercise: decode ITCH 5.0's Order Executed With Price - the solution.
 *
 *     offset  0  type 'C'          1
 *             1  stock locate      u16
 *             3  tracking number   u16
 *             5  timestamp         u48   (6 bytes: a u16 and a u32, no 48-bit load)
 *            11  order ref         u64
 *            19  executed shares   u32
 *            23  match number      u64
 *            31  printable         1 char
 *            32  execution price   u32   (1/10000 $, kept as it is)
 *            36  (the size)
 *
 * Each load is a memcpy into a native integer (the message may start at any
 * byte: dereferencing a misaligned uint64_t * is undefined behaviour) and a
 * byte swap on a little-endian CPU: one unaligned load and one BSWAP (or one
 * MOVBE) each.  The type is checked as well as the length: an 'A' is 36 bytes
 * too.  Nothing is written to *out before the message is known to be a C.
 */
#include <stdint.h>
#include <string.h>

#include "exec_price.h"

static uint16_t load_be16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap16(v);
#endif
    return v;
}

static uint32_t load_be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

static uint64_t load_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

enum { SIZE_C = 36 };

int ex_decode_exec_price(const uint8_t *msg, size_t len, struct ex_exec_price *out)
{
    if (len != SIZE_C || msg[0] != 'C')
        return -1;
    out->stock_locate = load_be16(msg + 1);
    out->tracking_number = load_be16(msg + 3);
    out->timestamp = (uint64_t)load_be16(msg + 5) << 32 | load_be32(msg + 7);
    out->order_ref = load_be64(msg + 11);
    out->executed_shares = load_be32(msg + 19);
    out->match_number = load_be64(msg + 23);
    out->printable = (char)msg[31];
    out->execution_price = load_be32(msg + 32);
    return 0;
}
