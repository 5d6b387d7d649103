/* gitobj.h: writing a git loose object without git: its id (SHA-1 of
 * "TYPE SIZE\0" and the content) and the file objects/xx/yyyy... (the
 * header and content zlib-framed as one stored deflate block: a valid
 * zlib stream that git reads like any other). For the git:REMOTE
 * authority, whose commits are a few hundred bytes: building them here
 * saves starting `git fast-import` for every allocation. */
#ifndef TASKNUM_GITOBJ_H
#define TASKNUM_GITOBJ_H

#include <stddef.h>
#include <stdint.h>

/* The largest content gitobj_write takes (one stored block). */
#define GITOBJ_MAX 60000

/* SHA-1 of data[0..len) into out[20]. */
void gitobj_sha1(const void *data, size_t len, unsigned char out[20]);

/* Writes the object of type ("blob", "tree", "commit") and content
 * data[0..len) into the objects folder objdir (the repository's
 * "<common dir>/objects"), unless it is there already; hex gets its id (40
 * hex digits and a NUL). The file is written to a temp file in its folder
 * (made when missing) and renamed into place, read-only like git's.
 * Returns 0, or -1 with errno (EINVAL: content too large) and what set to
 * the file or folder that failed (what may be NULL). */
int gitobj_write(const char *objdir, const char *type, const void *data, size_t len,
                 char hex[41], char *what, size_t cap);

#endif
