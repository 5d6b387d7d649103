/* proc.h: what this host knows about a process by its pid, for judging the
 * holder named in a lock record or a legacy lock folder's info file. */
#ifndef TASKNUM_PROC_H
#define TASKNUM_PROC_H

#include <sys/types.h>

/* 1 when a process with that pid exists on this host and is not a zombie
 * (another user's process counts), 0 when there is none, -1 with errno
 * (EINVAL for pid <= 0). */
int proc_alive(pid_t pid);

/* The wall-clock time (seconds since the epoch) at which process pid
 * started, from /proc/PID/stat and the boot time in /proc/stat: good to
 * about a second while the wall clock is not stepped (the boot time in
 * /proc/stat moves with every step). Returns 0, or -1 with errno (ENOENT:
 * no such process). */
int proc_started(pid_t pid, double *epoch);

/* The same on the boot clock (CLOCK_BOOTTIME, seconds since boot, to the
 * clock tick): what no step of the wall clock moves. */
int proc_started_boot(pid_t pid, double *seconds);

#endif
