/* clock.h: the monotonic clock, and deadlines on it, for every wait in the
 * core (lock waits, child waits, sleeps, durations measured from Lua). */
#ifndef TASKNUM_CLOCK_H
#define TASKNUM_CLOCK_H

#include <time.h>

/* The monotonic clock now. Never fails on Linux. */
struct timespec clock_now(void);

/* The monotonic clock now, in seconds, for durations. */
double clock_seconds(void);

/* seconds as a timespec; seconds must be >= 0 and finite (the caller
 * checks), fractions kept to the nanosecond. */
struct timespec clock_span(double seconds);

/* Sets *deadline to now + seconds and returns 1; returns 0 (no deadline:
 * wait forever) when seconds is negative, NaN, or beyond ~a century. */
int clock_deadline(double seconds, struct timespec *deadline);

/* Sets *left to the time until deadline. Returns 1 while some is left
 * (possibly zero), 0 once the deadline has passed. */
int clock_left(const struct timespec *deadline, struct timespec *left);

#endif
