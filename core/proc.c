/* proc.c: process facts from kill(2) and /proc. */
#include "proc.h"

#include "fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The fields after "(comm)" in /proc/PID/stat: the command name may hold
 * spaces and parentheses, so they start after the last ')'. */
static const char *stat_fields(pid_t pid, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    if (fdio_read_small(path, 0, buf, cap) < 0)
        return NULL;
    const char *close_paren = strrchr(buf, ')');
    if (close_paren == NULL || close_paren[1] != ' ') {
        errno = EPROTO;
        return NULL;
    }
    return close_paren + 2;   /* field 3, the state */
}

int proc_alive(pid_t pid)
{
    char buf[1024];
    if (pid <= 0) {
        errno = EINVAL;
        return -1;
    }
    if (kill(pid, 0) != 0 && errno != EPERM)
        return errno == ESRCH ? 0 : -1;
    const char *f = stat_fields(pid, buf, sizeof buf);
    if (f == NULL)
        return errno == ENOENT ? 0 : 1;   /* no /proc: trust kill() */
    return f[0] != 'Z' && f[0] != 'X';
}

/* Seconds since the epoch at which the system booted (the "btime" line;
 * the "intr" line before it can be long, so read line by line). */
static int boot_time(double *btime)
{
    FILE *f = fopen("/proc/stat", "re");
    char *line = NULL;
    size_t cap = 0;
    int found = 0;
    if (f == NULL)
        return -1;
    while (!found && getline(&line, &cap, f) != -1)
        if (strncmp(line, "btime ", 6) == 0) {
            *btime = strtod(line + 6, NULL);
            found = 1;
        }
    free(line);
    fclose(f);
    if (!found)
        errno = EPROTO;
    return found ? 0 : -1;
}

/* The start of process pid in clock ticks after boot (field 22 of
 * /proc/PID/stat, on the boot clock). 0 or -1 with errno. */
static int start_ticks(pid_t pid, unsigned long long *start)
{
    char buf[1024];
    if (pid <= 0) {
        errno = EINVAL;
        return -1;
    }
    const char *f = stat_fields(pid, buf, sizeof buf);
    if (f == NULL)
        return -1;
    /* field 22, starttime, is the 20th after the state (field 3) */
    for (int i = 3; i < 22 && f != NULL; i++) {
        f = strchr(f, ' ');
        if (f != NULL)
            f++;
    }
    if (f == NULL) {
        errno = EPROTO;
        return -1;
    }
    *start = strtoull(f, NULL, 10);
    return 0;
}

int proc_started(pid_t pid, double *epoch)
{
    double boot;
    double btime;
    if (proc_started_boot(pid, &boot) != 0 || boot_time(&btime) != 0)
        return -1;
    *epoch = btime + boot;
    return 0;
}

int proc_started_boot(pid_t pid, double *seconds)
{
    unsigned long long start;
    long ticks = sysconf(_SC_CLK_TCK);
    if (start_ticks(pid, &start) != 0)
        return -1;
    if (ticks <= 0) {
        errno = EPROTO;
        return -1;
    }
    *seconds = (double)start / (double)ticks;
    return 0;
}
