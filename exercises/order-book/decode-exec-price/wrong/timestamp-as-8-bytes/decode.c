/*
 * Lab 5 exercise: decode ITCH 5.0's Order Executed With Price - a known-wrong
 * answer: an off-by-two.  The timestamp is read as 8 bytes ("a timestamp is a
 * u64"), so it swallows the top of the order ref, and every field after it is
 * read two bytes late; the price even reads two bytes past the message.  The
 * spec's timestamp is 6 bytes: a u16 and a u32.
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
    out->timestamp = load_be64(msg + 5); /* "a timestamp is a u64": 8 bytes, not 6 */
    out->order_ref = load_be64(msg + 13);
    out->executed_shares = load_be32(msg + 21);
    out->match_number = load_be64(msg + 25);
    out->printable = (char)msg[33];
    out->execution_price = load_be32(msg + 34); /* reads 2 bytes past the message */
    return 0;
}
