/* clock.c: the monotonic clock and deadlines on it. */
#include "clock.h"

#define NSEC 1000000000L

struct timespec clock_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t;
}

double clock_seconds(void)
{
    struct timespec t = clock_now();
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct timespec clock_span(double seconds)
{
    struct timespec t;
    t.tv_sec = (time_t)seconds;
    t.tv_nsec = (long)((seconds - (double)t.tv_sec) * 1e9);
    if (t.tv_nsec >= NSEC)   /* rounding just below a whole second */
        t.tv_nsec = NSEC - 1;
    return t;
}

int clock_deadline(double seconds, struct timespec *deadline)
{
    if (!(seconds >= 0) || seconds > 3e9)
        return 0;
    struct timespec t = clock_now(), span = clock_span(seconds);
    t.tv_sec += span.tv_sec;
    t.tv_nsec += span.tv_nsec;
    if (t.tv_nsec >= NSEC) {
        t.tv_sec++;
        t.tv_nsec -= NSEC;
    }
    *deadline = t;
    return 1;
}

int clock_left(const struct timespec *deadline, struct timespec *left)
{
    struct timespec t = clock_now();
    left->tv_sec = deadline->tv_sec - t.tv_sec;
    left->tv_nsec = deadline->tv_nsec - t.tv_nsec;
    if (left->tv_nsec < 0) {
        left->tv_sec--;
        left->tv_nsec += NSEC;
    }
    return left->tv_sec >= 0;
}
