/* holders.c: the processes that hold a lock on a file, from /proc/PID/fd
 * (which file each descriptor is open on) and /proc/PID/fdinfo/FD (the
 * locks granted to that open file description, one "lock:" line each,
 * ending with the first and last byte, or "EOF"). */
#include "holders.h"

#include "fdio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A name of digits only: a pid or a descriptor. */
static long number(const char *name)
{
    char *end;
    if (name[0] < '0' || name[0] > '9')
        return -1;
    long n = strtol(name, &end, 10);
    return *end == '\0' ? n : -1;
}

/* The last two words of a "lock:" line: the first byte and the last
 * (or EOF). 0, or -1 when the line is not one. */
static int lock_range(char *line, long long *start, long long *end)
{
    char *last = strrchr(line, ' ');
    if (last == NULL || last == line)
        return -1;
    *last = '\0';
    char *first = strrchr(line, ' ');
    if (first == NULL)
        return -1;
    char *stop;
    *start = strtoll(first + 1, &stop, 10);
    if (*stop != '\0')
        return -1;
    if (strcmp(last + 1, "EOF") == 0) {
        *end = -1;
        return 0;
    }
    *end = strtoll(last + 1, &stop, 10);
    return *stop == '\0' ? 0 : -1;
}

/* Adds the locks that /proc/pid/fdinfo/fd lists; returns the new count. */
static long add_locks(long pid, long fd, struct holder_lock *out, size_t cap, long n)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/fdinfo/%ld", pid, fd);
    if (fdio_read_small(path, 0, buf, sizeof buf) < 0)
        return n;
    for (char *line = buf, *next; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        long long start, end;
        if (strncmp(line, "lock:", 5) != 0 || lock_range(line, &start, &end) != 0)
            continue;
        if ((size_t)n < cap)
            out[n] = (struct holder_lock){ .pid = (pid_t)pid, .fd = (int)fd,
                                           .start = start, .end = end };
        n++;
    }
    return n;
}

/* Adds the locks held through the descriptors of pid open on the file. */
static long scan_process(long pid, dev_t dev, ino_t ino, struct holder_lock *out,
                         size_t cap, long n)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd", pid);
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd == -1)
        return n;                  /* gone, or another user's */
    DIR *fds = fdopendir(dfd);
    if (fds == NULL) {
        close(dfd);
        return n;
    }
    struct dirent *e;
    while ((e = readdir(fds)) != NULL) {
        long fd = number(e->d_name);
        struct stat st;
        if (fd < 0 || fstatat(dfd, e->d_name, &st, 0) != 0)
            continue;
        if (st.st_dev == dev && st.st_ino == ino)
            n = add_locks(pid, fd, out, cap, n);
    }
    closedir(fds);
    return n;
}

long holders_find(dev_t dev, ino_t ino, struct holder_lock *out, size_t cap)
{
    DIR *proc = opendir("/proc");
    if (proc == NULL)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(proc)) != NULL) {
        long pid = number(e->d_name);
        if (pid > 0)
            n = scan_process(pid, dev, ino, out, cap, n);
    }
    closedir(proc);
    return n;
}
