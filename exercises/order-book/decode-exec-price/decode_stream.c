/*
 * The exercise's own harness (not the learner's file): every 'C' message of a
 * framed ITCH stream (2-byte big-endian length, then the message) through
 * the learner's ex_decode_exec_price, into out[0..cap).  Each message is
 * copied into a zeroed 64-byte buffer first, so a decoder that reads past
 * the 36 bytes reads zeros, not the next frame (and never out of bounds).
 * Returns the number decoded, or -(k + 1) if the decoder refused the k-th
 * C message (k from 0), or INT64_MIN if there are more than cap.
 */
#include <stdint.h>
#include <string.h>

#include "exec_price.h"

size_t ex_exec_price_size(void)
{
    return sizeof(struct ex_exec_price);
}

int64_t ex_decode_stream(const uint8_t *buf, size_t len, struct ex_exec_price *out, int64_t cap)
{
    size_t pos = 0;
    int64_t k = 0;
    while (pos + 2 <= len) {
        size_t n = (size_t)buf[pos] << 8 | buf[pos + 1];
        const uint8_t *body = buf + pos + 2;
        if (pos + 2 + n > len)
            break;
        if (n > 0 && body[0] == 'C') {
            uint8_t copy[64] = {0};
            if (k >= cap)
                return INT64_MIN;
            memcpy(copy, body, n < sizeof copy ? n : sizeof copy);
            if (ex_decode_exec_price(copy, n, &out[k]) != 0)
                return -(k + 1);
            k++;
        }
        pos += 2 + n;
    }
    return k;
}
