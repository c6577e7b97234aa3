/*
 * Lab 5 exercise: decode ITCH 5.0's Order Executed With Price (see README.md).
 *
 * A 'C' message is 36 bytes: the 11-byte header every message has, then
 * order ref, executed shares, match number, printable, execution price
 * (lab 5's guide, section 2, has the header and the field list of each type;
 * work out the offsets from the sizes).  Every integer is big-endian and
 * unsigned; the message may start at any address.
 *
 * Fill *out from msg and return 0; return -1, writing nothing, when msg is
 * not a whole C message.  Write your own loads: cimpl/itch.h has them, and
 * the offsets, and is off limits here (the check refuses a file that
 * includes it).
 */
#include <stdint.h>
#include <string.h>

#include "exec_price.h"

/* A big-endian u16 at p: one worked example of a load (memcpy, because p
 * may be misaligned; then the two bytes swapped on a little-endian CPU). */
static uint16_t load_be16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap16(v);
#endif
    return v;
}

int ex_decode_exec_price(const uint8_t *msg, size_t len, struct ex_exec_price *out)
{
    (void)len; /* TODO: refuse what is not a whole C message */
    memset(out, 0, sizeof *out);
    out->stock_locate = load_be16(msg + 1);
    /* TODO: the tracking number, the timestamp (6 bytes), and the five fields after the header */
    return 0;
}
