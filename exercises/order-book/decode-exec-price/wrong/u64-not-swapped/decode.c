/*
 * Lab 5 exercise: decode ITCH 5.0's Order Executed With Price - a known-wrong
 * answer: the byte order.  load_be64 copies the 8 bytes and forgets the swap,
 * so on x86 the order ref and the match number come out little-endian (ref 42
 * reads as 0x2a00000000000000).  The 16- and 32-bit fields are right, which
 * is why the check names the field.
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
    memcpy(&v, p, sizeof v); /* the swap forgotten: a little-endian load */
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
