/* alloc.c: the allocation arithmetic. Every number is handled as an unsigned
 * offset from min, so the range size (up to 2^64 for INT64_MIN..INT64_MAX)
 * and every step stay exact; nothing is computed in signed arithmetic that
 * could overflow. */
#include "alloc.h"

#include <errno.h>
#include <stddef.h>

/* min + off, computed without signed overflow. Precondition: the result lies
 * in [min, max], so it fits an int64. */
static int64_t at_offset(int64_t min, uint64_t off)
{
    uint64_t u = (uint64_t)min + off;   /* modulo 2^64: well defined */
    if (u <= (uint64_t)INT64_MAX)
        return (int64_t)u;
    return -(int64_t)(~u) - 1;          /* two's complement, no overflow */
}

int alloc_take(int64_t next, int64_t count, int64_t min, int64_t max,
               int64_t *out, int64_t *new_next, int *wrapped)
{
    if (min > max || next < min || next > max || count < 1) {
        errno = EINVAL;
        return -1;
    }
    /* span = size - 1, which always fits a uint64 (size may be 2^64). */
    uint64_t span = (uint64_t)max - (uint64_t)min;
    uint64_t off = (uint64_t)next - (uint64_t)min;
    uint64_t n = (uint64_t)count;
    if (n - 1 > span) {
        errno = EINVAL;
        return -1;
    }
    if (out != NULL) {
        uint64_t o = off;
        for (uint64_t i = 0; i < n; i++) {
            out[i] = at_offset(min, o);
            o = (o == span) ? 0 : o + 1;
        }
    }
    /* The counter steps n times; it passes max iff n > span - off steps
     * remain before it. */
    uint64_t room = span - off;
    int wrap = n > room;
    uint64_t end = wrap ? n - room - 1 : off + n;
    if (new_next != NULL)
        *new_next = at_offset(min, end);
    if (wrapped != NULL)
        *wrapped = wrap;
    return 0;
}
