/* keeper.h: the process that keeps the legacy lock folder of a hold that
 * other processes share (`tasknum lock`), for exactly as long as any of them
 * holds the kernel lock, whichever of them ends or is killed first. */
#ifndef TASKNUM_KEEPER_H
#define TASKNUM_KEEPER_H

#include "child.h"

#include <sys/types.h>

/* Starts the keeper of the legacy folder `folder`, made by the holder of
 * the kernel lock on lock_path, whose shared open file description holds
 * byte `byte` only (lock_narrow). Before it starts, this takes byte
 * LOCK_KEEPER_BYTE on a description the keeper alone keeps: allocations,
 * which ask for the whole file, wait for that byte too, so that the
 * keeper is always the first to know the hold has ended. The keeper
 *  - names itself in folder/info ("PID:EPOCH"), if info still names
 *    expect_pid (the holder, or a keeper before it),
 *  - every period seconds writes a fresh EPOCH into info (by a rename) and
 *    touches the folder, while info still names it,
 *  - puts back at once (an inotify watch wakes it) an info file or a folder
 *    that an old script removed while the hold lasts (a script's wrong
 *    `rm -rf`, an exit trap's `rm -f info; rmdir`): info written anew, the
 *    folder renamed into place from a spare one kept ready beside it
 *    (NAME.tmp-PID), never replacing a folder a script made first, which is
 *    the script's and is left alone,
 *  - waits on a description of its own for `byte`, which it gets once no
 *    process holds the shared description any more,
 *  - then removes the folder (if info still names it), lets its locks go,
 *    says so on its done descriptor (keeper->done: a byte, or the end of
 *    the pipe if it dies), and lives on KEEPER_LINGER seconds before it
 *    exits 0: an old script that read its pid in info just before, and
 *    checks it with kill -0 only now, must not find it gone and break the
 *    next holder's folder instead.
 * The folder is opened here (its last step never through a link) and
 * reached by that descriptor; info is written as a new file with the mode
 * and group of the info it replaces; the folder is removed only while its
 * name still leads to that descriptor's folder.
 * It runs in a session of its own, as "tasknum-keeper", with stdin,
 * stdout and stderr on /dev/null and no other descriptor, ignoring
 * SIGINT, SIGHUP and SIGPIPE; it is forked twice, so that it is not this
 * process's child (never its zombie). Returns 0 once it has named itself
 * in info, with *keeper filled (foreign: child_wait sees its end on the
 * pidfd; keeper->done becomes readable when the hold is over), or -1
 * with errno: ESTALE when info no longer names expect_pid, EAGAIN when
 * another keeper holds LOCK_KEEPER_BYTE, or the errno of fork, open,
 * fcntl or rename. */
#define KEEPER_LINGER 3

int keeper_start(const char *lock_path, long byte, const char *folder,
                 pid_t expect_pid, double period, struct child *keeper);

#endif
