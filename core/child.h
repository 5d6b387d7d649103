/* child.h: running a command as a child process and waiting for it, for
 * `tasknum lock -- COMMAND`. The child gets this process's environment with
 * some variables set, and one descriptor (the held lock) left open across
 * exec; everything else close-on-exec stays closed. (Not named spawn.h:
 * with -Icore, that name would hide the system <spawn.h>.) */
#ifndef TASKNUM_CHILD_H
#define TASKNUM_CHILD_H

#include <signal.h>
#include <sys/types.h>

/* A started child: its pid and, where the kernel has pidfd_open, a pidfd
 * to sleep on (else -1). Reaped is set once its status has been collected.
 * A foreign one is not this process's child (a keeper, keeper.h): its end
 * is seen on the pidfd only, as status 0, and someone else reaps it; done
 * is a descriptor it signals through (-1 when none). */
struct child {
    pid_t pid;
    int pidfd;
    int reaped;
    int foreign;
    int done;
};

/* Starts argv[0] (looked up in PATH like execvp) with argv. The environment
 * is this process's with each "NAME=value" of set (NULL-terminated, may be
 * NULL) added or replacing NAME. keep_fd, if >= 0, stays open in the child
 * (its close-on-exec flag is cleared there only). Returns 0 and fills *child,
 * or -1 with errno: the errno of the exec when the command could not be
 * started (ENOENT: not found, EACCES: not executable, ...), or of the
 * allocation or spawn itself. */
int child_start(char *const argv[], char *const set[], int keep_fd,
                struct child *child);

/* Waits for the child to end, at most timeout seconds (< 0, NaN or over
 * ~a century: no limit). Returns its exit status, or 128 + the signal that
 * killed it (as shells report it). Returns -1 with errno ETIMEDOUT when the time ran out, or
 * EINTR as soon as *cancel (may be NULL) differs from seen, so that the
 * caller can pass a signal on and wait again; a signal that arrives just
 * before the sleep is not lost. Other errnos come from waitpid. Without a
 * pidfd the timeout and *cancel are not watched: it waits until the end. */
int child_wait(struct child *child, double timeout,
               const volatile sig_atomic_t *cancel, sig_atomic_t seen);

/* The same for the first of n children (1 <= n <= CHILD_WAIT_MAX) to end:
 * its index goes to *which. With n > 1 every child needs a pidfd (else
 * ENOSYS); ECHILD if one of them was reaped already. */
#define CHILD_WAIT_MAX 4
int child_wait_any(struct child *const *children, int n, double timeout,
                   const volatile sig_atomic_t *cancel, sig_atomic_t seen, int *which);

/* Closes the pidfd (and done); does not wait for or signal the child.
 * Idempotent. */
void child_forget(struct child *child);

#endif
