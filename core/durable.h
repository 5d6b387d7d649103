/* durable.h: replacing a file's content so that a crash at any instant
 * leaves either the old content or the new, whole, on disk. */
#ifndef TASKNUM_DURABLE_H
#define TASKNUM_DURABLE_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "beside.h"

/* Prefix of every temp file durable_replace creates beside TARGET:
 * ".TARGETNAME.tmp-" followed by six random characters. */
#define DURABLE_TEMP_TAG ".tmp-"

/* Makes data the new content of path. Symlinks are followed: the temp file
 * is created beside the real target and renamed over it, so the link stays.
 * Steps: create a uniquely named temp file exclusively (O_EXCL, never through
 * a symlink), give it the target's attributes (its owner when running as
 * root; its group, kept by chown when the caller is a member of it: a group
 * that cannot be kept fails with EPERM when it has rights others lack; its
 * extended attributes and POSIX ACL; its mode), write, fsync, rename over
 * the target, fsync the folder. A target that is not a regular file fails
 * with ELOOP (a link that appeared after resolving), EISDIR or ENXIO. Returns 0
 * only after the folder fsync has returned. On failure returns -1 with errno
 * kept, nothing changed, the temp file removed, and the path the failure was
 * about copied into where (cap bytes, may be NULL): the temp file for write
 * and fsync errors, the folder when the temp file cannot be created, the
 * target for stat and rename errors. If *cancel (may be NULL) is non-zero
 * before the rename, gives up with EINTR.
 * One failure comes after the rename: if the folder fsync fails, returns -1
 * with its errno and the folder in where, and the new content IS in place,
 * only not known to survive a crash. Callers must not treat that -1 as
 * "nothing changed". A dangling symlink or missing file is created at path
 * itself (the link is replaced by a regular file). */
int durable_replace(const char *path, const char *data, size_t len,
                    const volatile sig_atomic_t *cancel,
                    char *where, size_t cap);

/* The same, with the content given as iovcnt pieces written in order: an
 * edit is written as the text before it, the new bytes, and the text after
 * it, without building the new text in memory. */
int durable_replacev(const char *path, const struct iovec *iov, int iovcnt,
                     const volatile sig_atomic_t *cancel,
                     char *where, size_t cap);

/* Creates path with content data, durably, only if nothing is there (not
 * even a dangling link): the temp file is hard-linked to path (link() fails
 * with EEXIST where rename() would replace, and never follows a link) and
 * then removed. like (may be NULL: mode 0644 less the umask) is a file
 * whose group, mode (and owner, as root) the new one takes, as beside.h's
 * new files do. -1 with errno EEXIST if path exists. */
int durable_create(const char *path, const char *data, size_t len,
                   const char *like, char *where, size_t cap);

/* Overwrites len bytes of an existing file at offset at, in place, and
 * returns only after fdatasync has: one flush, no rename, no folder sync
 * (the file's size does not change when the bytes fit in it). For records
 * that keep two copies at page-aligned offsets and are read with a check,
 * so that a write torn by a crash costs only the copy being written. The
 * file is not created: -1 with ENOENT when it is missing. It is never
 * reached through a link at path (ELOOP), and must be a regular file
 * (ENXIO: the open does not wait on a FIFO) with no other name (EMLINK).
 * flush 0 skips the fdatasync: for a copy whose loss in a crash costs
 * nothing (a mark that only follows one kept elsewhere). On failure
 * returns -1 with errno kept and path in where (cap bytes, may be NULL). */
int durable_overwrite(const char *path, off_t at, const void *data, size_t len, int flush,
                      char *where, size_t cap);

/* Removes the temp files a killed writer left beside path's real target.
 * Only safe while holding the state lock. Returns how many were removed, or
 * -1 with errno. Only regular files are removed; anything else in a temp
 * file's name (a link, a FIFO, a folder) is foreign and left in place:
 * -1 with ELOOP, ENXIO or EISDIR, found (may be NULL) filled and its name
 * copied into where (cap bytes, may be NULL). */
int durable_sweep(const char *path, struct beside_found *found, char *where, size_t cap);

/* Counts such temp files without removing them (for status). -1 on error,
 * as durable_sweep. */
int durable_count_temps(const char *path, struct beside_found *found, char *where, size_t cap);

/* The folder of path's real target, into dir (cap bytes). 0 or -1. */
int durable_folder(const char *path, char *dir, size_t cap);

#endif
