/* lockdir.h: the legacy lock folder's steps that always go together
 * (tasknum.legacy says the protocol): preparing a folder under a private
 * name before the kernel lock, so that entering under it is one rename,
 * and taking it away to be cleared after the lock is released. Every name
 * is reached through beside.c: no link followed, foreign objects named. */
#ifndef TASKNUM_LOCKDIR_H
#define TASKNUM_LOCKDIR_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "beside.h"

/* What failed, for the binding's message: err on rel below the folder
 * (found: a foreign object there), or a folder inside a folder removed
 * (err ENOTEMPTY, inner its name). */
struct lockdir_fail {
    int err;
    char rel[NAME_MAX + 16];   /* a name, or a name and /info */
    char inner[4096];
    struct beside_found found;
};

/* Largest pid the kernel gives (pid_max's ceiling): larger ones name no process. */
#define LOCKDIR_PID_MAX 4194304L

/* Removes NAME.tmp-PID folders below dir left by processes that are gone
 * (no process has PID; self's own is left to the caller), and anything
 * that is not a folder in such a name (refused, as beside_remove_tree
 * does, when it is foreign: a link, a FIFO). A folder whose PID is alive
 * is a live process's, prepared or taken away: left. A dir that cannot
 * be listed sweeps nothing. 0, or -1 with fail filled. */
int lockdir_sweep(const char *dir, const char *name, long self, struct lockdir_fail *fail);

/* Sweeps (lockdir_sweep), then makes NAME.tmp-PID below dir (one of ours
 * left by a process that had this pid is removed first) with the file
 * info holding text, both after like (may be NULL); tmp (cap bytes) gets
 * the name. 0, or -1 with fail filled and *stage 0 when the sweep failed,
 * 1 when making the folder did (nothing is left behind then). */
int lockdir_prepare(const char *dir, const char *name, long pid, const char *text,
                    size_t len, const struct beside_like *like, char *tmp, size_t cap,
                    int *stage, struct lockdir_fail *fail);

/* Renames the folder name below dir to away and reads its info: 1 when
 * it holds info (trailing blanks ignored; info NULL: no info readable),
 * 0 when there was no folder or it is another holder's (put back, without
 * replacing whatever took its place meanwhile), -1 with fail filled. A
 * folder of that name in the way at away is removed first. */
int lockdir_leave(const char *dir, const char *name, const char *away, const char *info,
                  struct lockdir_fail *fail);

#endif
