/* alloc.h: the allocation arithmetic, exact for every 64-bit input. */
#ifndef TASKNUM_ALLOC_H
#define TASKNUM_ALLOC_H

#include <stdint.h>

/* Hands out count numbers starting at next within the inclusive range
 * [min, max], wrapping from max back to min. Writes them to out[0..count)
 * when out is not NULL, the counter after them to *new_next, and whether the
 * counter passed max (so [max] with next becoming min is wrapped) to
 * *wrapped. Returns 0, or -1 with errno EINVAL when min > max, next lies
 * outside the range, count < 1 or count exceeds the size of the range. No
 * intermediate value overflows, even for min = INT64_MIN, max = INT64_MAX. */
int alloc_take(int64_t next, int64_t count, int64_t min, int64_t max,
               int64_t *out, int64_t *new_next, int *wrapped);

#endif
