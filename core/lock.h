/* lock.h: an exclusive Linux open-file-description lock on a lock file that
 * is never renamed, replaced or deleted. The kernel drops it when the last
 * descriptor of its holder closes, so a holder killed by SIGKILL frees it at
 * once, and it wakes a waiter the moment it is released: no polling. */
#ifndef TASKNUM_LOCK_H
#define TASKNUM_LOCK_H

#include <signal.h>
#include <stddef.h>

/* Opens path (creating it 0644 if needed, never through a symlink at the
 * last component) and takes an exclusive OFD lock on the whole file. Waits
 * at most timeout seconds: timeout < 0 waits forever, 0 tries once.
 * Returns the locked descriptor (close-on-exec), or -1 with errno:
 * ETIMEDOUT when the time ran out, EINTR when *cancel became non-zero
 * (cancel may be NULL: signals never end the wait then), or the errno of
 * open/fcntl (EINVAL for a NaN timeout). Other signals do not end the wait
 * early. The wait is a helper thread that exists only while waiting; the
 * uncontended path takes the lock with one fcntl and starts no thread. */
int lock_acquire(const char *path, double timeout,
                 const volatile sig_atomic_t *cancel);

/* Replaces the lock file's content with record (who holds it), so that a
 * waiter that times out can name the holder. Returns 0 or -1 with errno. */
int lock_describe(int fd, const char *record, size_t len);

/* Reads up to cap - 1 bytes of the holder record of path into buf, NUL
 * terminated. Returns the length, or -1 with errno. Takes no lock. */
long lock_read_record(const char *path, char *buf, size_t cap);

/* Tells whether some process holds the lock on path: 1 held, 0 free or the
 * file does not exist, -1 with errno. Takes no lock. */
int lock_probe(const char *path);

/* Releases the lock by closing fd, if fd >= 0; sets *fd to -1. Idempotent. */
void lock_release(int *fd);

#endif
