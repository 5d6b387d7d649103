/* fdio.h: whole reads and writes on a descriptor, retrying short counts
 * and EINTR, so that no caller writes that loop again. */
#ifndef TASKNUM_FDIO_H
#define TASKNUM_FDIO_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Reads into buf until cap bytes are in or the end of the file. Returns
 * how many were read (less than cap only at the end of the file), or -1
 * with read's errno (what was read before the error is lost). */
ssize_t fdio_read_all(int fd, void *buf, size_t cap);

/* Opens path read-only (close-on-exec; flags adds e.g. O_NOFOLLOW), reads
 * up to cap - 1 bytes into buf and NUL-terminates them. Returns the length,
 * or -1 with the errno of open or read (EINVAL when cap is 0). Never leaves
 * the descriptor open. For small files: /proc entries, lock records. */
ssize_t fdio_read_small(const char *path, int flags, char *buf, size_t cap);

/* Writes all of iov[0..iovcnt) in order at the file offset. Returns 0, or
 * -1 with write's errno (part may have been written). */
int fdio_write_all(int fd, const struct iovec *iov, int iovcnt);

/* Writes all len bytes of buf at offset at (pwrite: the file offset does
 * not move). Returns 0, or -1 with pwrite's errno. */
int fdio_pwrite_all(int fd, const void *buf, size_t len, off_t at);

#endif
