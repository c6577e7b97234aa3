/*
 * The exercise's own header (not the learner's file): the decoded Order
 * Executed With Price message ('C', 36 bytes) of NASDAQ TotalView-ITCH 5.0,
 * and the decoder the learner writes in decode.c.
 *
 * The fields are the message's, in wire order, as native integers: no
 * scaling, no conversion.  Prices stay ITCH's integers in 1/10000 dollar, as
 * everywhere in lab 5.
 */
#ifndef EX_EXEC_PRICE_H
#define EX_EXEC_PRICE_H

#include <stddef.h>
#include <stdint.h>

struct ex_exec_price {
    uint16_t stock_locate;
    uint16_t tracking_number;
    uint64_t timestamp;       /* ns since midnight (6 bytes on the wire) */
    uint64_t order_ref;       /* the resting order that traded */
    uint32_t executed_shares;
    uint64_t match_number;
    char printable;           /* 'Y' or 'N', as on the wire */
    uint32_t execution_price; /* 1/10000 dollar */
};

/* Decode the message at msg (len bytes: its body, type byte first, no length
 * prefix) into *out and return 0; return -1 and leave *out untouched if it is
 * not a whole 'C' message.  msg may be at any address (no alignment). */
int ex_decode_exec_price(const uint8_t *msg, size_t len, struct ex_exec_price *out);

#endif
