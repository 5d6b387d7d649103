/* holders.h: which processes hold a lock on a file, found in /proc: the
 * descriptors open on that file whose fdinfo lists a granted lock. For
 * naming a holder that wrote no record, and for finding the processes a
 * command left holding a shared lock. Only the processes whose /proc
 * entries this user may read are seen (its own, or all of them as root). */
#ifndef TASKNUM_HOLDERS_H
#define TASKNUM_HOLDERS_H

#include <stddef.h>
#include <sys/types.h>

/* One lock: the process, the descriptor it holds it through, and the
 * bytes, start to end inclusive (end -1: to the end of the file and
 * beyond). An open file description shared by several processes (or
 * descriptors) is listed once for each. */
struct holder_lock {
    pid_t pid;
    int fd;
    long long start;
    long long end;
};

/* Fills out with at most cap of the locks held on the file with device
 * dev and inode ino. Returns how many there are (more than cap when some
 * did not fit), or -1 with errno when /proc cannot be read at all. */
long holders_find(dev_t dev, ino_t ino, struct holder_lock *out, size_t cap);

#endif
