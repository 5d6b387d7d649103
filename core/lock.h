/* lock.h: an exclusive Linux open-file-description lock on a lock file that
 * is never renamed, replaced or deleted. The kernel drops it when the last
 * descriptor of its holder closes, so a holder killed by SIGKILL frees it at
 * once, and it wakes a waiter the moment it is released: no polling. */
#ifndef TASKNUM_LOCK_H
#define TASKNUM_LOCK_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

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
 * lock that lock_acquire asks for, so the others keep waiting. Byte
 * LOCK_KEEPER_BYTE belongs to the process that keeps the legacy folder of
 * such a hold (keeper.h). */
#define LOCK_MAX_DEPTH 64
#define LOCK_KEEPER_BYTE LOCK_MAX_DEPTH

/* Keeps only byte (0 <= byte < LOCK_MAX_DEPTH) of the lock held on fd and
 * unlocks the rest; never lets the lock go in between. 0 or -1 with errno. */
int lock_narrow(int fd, long byte);

/* For a process started under a holder that exported its descriptor fd
 * and byte: checks that fd is open on the same file as path (dev and
 * inode) and proves that fd's open file description holds byte now (a new
 * description sees byte locked, by a lock on that byte alone; fd sees no
 * conflict there; the new one still sees it locked), then opens path anew
 * and takes byte + 1 there, waiting as lock_acquire does. Never closes,
 * changes the lock on fd. Returns the new descriptor
 * (release it with lock_release), or -1 with errno: EBADF (fd not open),
 * ESTALE (fd is another file), EPERM (fd does not hold byte: the
 * variables were not meant for us), ELOOP (fd holds byte but it is the
 * last one: nested too deep to share), ETIMEDOUT, EINTR, or open/fcntl's. */
int lock_adopt(int fd, long byte, const char *path, double timeout,
               const volatile sig_atomic_t *cancel);

/* Opens the lock file path as lock_acquire does (flags O_RDONLY or O_RDWR;
 * never through a link, never blocking, a regular file with one name),
 * without making it or locking anything: for the keeper (keeper.h) and for
 * rewriting the record of a hold shared with other processes. */
int lock_open(const char *path, int flags);

/* Replaces the lock file's content with record (who holds it), so that a
 * waiter that times out can name the holder: written over the old record in
 * place and padded with spaces to the file's length, never truncated.
 * Returns 0 or -1 with errno. */
int lock_describe(int fd, const char *record, size_t len);

/* Reads up to cap - 1 bytes of the holder record of path into buf, NUL
 * terminated, without the trailing padding. Returns the length, or -1 with
 * errno. Takes no lock. Records are bounded by their writers (tasknum
 * keeps them under 4 KB); LOCK_RECORD_MAX is what readers make room for. */
#define LOCK_RECORD_MAX 65536
long lock_read_record(const char *path, char *buf, size_t cap);

/* Tells whether some process holds the lock on path: 1 held, 0 free or the
 * file does not exist, -1 with errno. Takes no lock. */
int lock_probe(const char *path);

/* Releases the lock by closing fd, if fd >= 0; sets *fd to -1. Idempotent. */
void lock_release(int *fd);

#endif
