/* durable.h: replacing a file's content so that a crash at any instant
 * leaves either the old content or the new, whole, on disk. */
#ifndef TASKNUM_DURABLE_H
#define TASKNUM_DURABLE_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Prefix of every temp file durable_replace creates beside TARGET:
 * ".TARGETNAME.tmp-" followed by six random characters. */
#define DURABLE_TEMP_TAG ".tmp-"

/* Makes data the new content of path. Symlinks are followed: the temp file
 * is created beside the real target and renamed over it, so the link stays.
 * Steps: create a uniquely named temp file exclusively (O_EXCL, never through
 * a symlink), give it the target's mode (and owner and group when running as
 * root), write, fsync, rename over the target, fsync the folder. Returns 0
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

/* Creates path with content data, durably, only if nothing is there: the
 * temp file is hard-linked to path (link() fails with EEXIST where rename()
 * would replace) and then removed. -1 with errno EEXIST if path exists. */
int durable_create(const char *path, const char *data, size_t len,
                   char *where, size_t cap);

/* Overwrites len bytes of an existing file at offset at, in place, and
 * returns only after fdatasync has: one flush, no rename, no folder sync
 * (the file's size does not change when the bytes fit in it). For records
 * that keep two copies at page-aligned offsets and are read with a check,
 * so that a write torn by a crash costs only the copy being written. The
 * file is not created: -1 with ENOENT when it is missing. On failure
 * returns -1 with errno kept and path in where (cap bytes, may be NULL). */
int durable_overwrite(const char *path, off_t at, const void *data, size_t len,
                      char *where, size_t cap);

/* Removes the temp files a killed writer left beside path's real target.
 * Only safe while holding the state lock. Returns how many were removed, or
 * -1 with errno. */
int durable_sweep(const char *path);

/* Counts such temp files without removing them (for status). -1 on error. */
int durable_count_temps(const char *path);

#endif
