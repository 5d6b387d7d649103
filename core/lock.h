/* lock.h: an exclusive Linux open-file-description lock on a lock file that
 * is never renamed, replaced or deleted. The kernel drops it when the last
 * descriptor of its holder closes, so a holder killed by SIGKILL frees it at
 * once, and it wakes a waiter the moment it is released: no polling. */
#ifndef TASKNUM_LOCK_H
#define TASKNUM_LOCK_H

#include <signal.h>
#include <stddef.h>

#include "beside.h"

/* Opens path (never through a link at the last component, never blocking,
 * only a regular file with one name: see beside.h; created when missing
 * with the group, mode and, as root, owner of like, the state file's
 * model) and takes an exclusive OFD lock on the whole file. Waits
 * at most timeout seconds: timeout < 0 waits forever, 0 tries once.
 * Returns the locked descriptor (close-on-exec), or -1 with errno:
 * ETIMEDOUT when the time ran out, EINTR when *cancel became non-zero
 * (cancel may be NULL: signals never end the wait then), or the errno of
 * open/fcntl (EINVAL for a NaN timeout). Other signals do not end the wait
 * early. The wait is a helper thread that exists only while waiting; the
 * uncontended path takes the lock with one fcntl and starts no thread. */
int lock_acquire(const char *path, const struct beside_like *like, double timeout,
                 const volatile sig_atomic_t *cancel);

/* Sharing a held lock with the commands a holder runs (tasknum lock): the
 * holder narrows its lock to one byte, N (0 for a lock from lock_acquire);
 * a command that inherited its descriptor adopts the lock and takes byte
 * N + 1 on a descriptor of its own, so that commands run side by side under
 * one holder still take turns. Every byte conflicts with the whole-file
 * lock that lock_acquire asks for, so the others keep waiting. */
#define LOCK_MAX_DEPTH 64

/* Keeps only byte (0 <= byte < LOCK_MAX_DEPTH) of the lock held on fd and
 * unlocks the rest; never lets the lock go in between. 0 or -1 with errno. */
int lock_narrow(int fd, long byte);

/* For a process started under a holder that exported its descriptor fd
 * and byte: checks that fd is open on the same file as path (dev and
 * inode), takes byte on fd (the holder's own open file description, so it
 * is granted at once), then opens path anew and takes byte + 1 there,
 * waiting as lock_acquire does. Never closes or unlocks fd. Returns the new
 * descriptor (release it with lock_release), or -1 with errno: EBADF (fd not
 * open), ESTALE (fd is another file), EAGAIN (someone else holds byte on
 * that file: fd was not the holder's), ETIMEDOUT, EINTR, or open/fcntl's. */
int lock_adopt(int fd, long byte, const char *path, double timeout,
               const volatile sig_atomic_t *cancel);

/* Replaces the lock file's content with record (who holds it), so that a
 * waiter that times out can name the holder: written over the old record in
 * place and padded with spaces to the file's length, never truncated.
 * Returns 0 or -1 with errno. */
int lock_describe(int fd, const char *record, size_t len);

/* Reads up to cap - 1 bytes of the holder record of path into buf, NUL
 * terminated, without the trailing padding. Returns the length, or -1 with
 * errno. Takes no lock. */
long lock_read_record(const char *path, char *buf, size_t cap);

/* Tells whether some process holds the lock on path: 1 held, 0 free or the
 * file does not exist, -1 with errno. Takes no lock. */
int lock_probe(const char *path);

/* Releases the lock by closing fd, if fd >= 0; sets *fd to -1. Idempotent. */
void lock_release(int *fd);

#endif
