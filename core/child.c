/* child.c: a child process for `tasknum lock -- COMMAND`.
 *
 * posix_spawnp rather than fork: glibc starts the child with CLONE_VFORK,
 * so nothing of a large (or multi-threaded) parent is copied or run in the
 * child, and an exec that fails is reported as spawn's return value instead
 * of by a child that must _exit. The held lock's descriptor is close-on-exec
 * like every descriptor tasknum opens; a dup2 file action onto itself clears
 * that flag in the child only (glibc >= 2.29, POSIX 2024).
 *
 * Waiting sleeps in ppoll on a pidfd with every signal blocked except inside
 * ppoll, the pattern of lock.c: a SIGTERM for tasknum ends the sleep at once
 * and is not lost if it lands just before it. */
#include "child.h"
#include "envlist.h"

#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

int child_start(char *const argv[], char *const set[], int keep_fd,
                struct child *child)
{
    posix_spawn_file_actions_t actions;
    char **env = envlist_make(set);
    int err = env == NULL ? ENOMEM : posix_spawn_file_actions_init(&actions);
    if (err != 0) {
        free(env);
        errno = err;
        return -1;
    }
    if (keep_fd >= 0)
        err = posix_spawn_file_actions_adddup2(&actions, keep_fd, keep_fd);
    if (err == 0)
        err = posix_spawnp(&child->pid, argv[0], &actions, NULL, argv, env);
    posix_spawn_file_actions_destroy(&actions);
    free(env);
    if (err != 0) {
        errno = err;
        return -1;
    }
    child->reaped = 0;
    child->foreign = 0;
    child->done = -1;
    /* Our own unreaped child: its pid cannot be reused before we wait. */
    child->pidfd = pidfd_open(child->pid, 0);
    return 0;
}

static int decode(int status)
{
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

/* Collects the child's status: blocking, or not (returns -2 if running). */
static int reap(struct child *child, int block)
{
    int status;
    pid_t got;
    if (child->foreign) {   /* not ours to wait for: its pidfd says it ended */
        struct pollfd p = { .fd = child->pidfd, .events = POLLIN, .revents = 0 };
        if (poll(&p, 1, block ? -1 : 0) <= 0)
            return block ? -1 : -2;
        child->reaped = 1;
        return 0;
    }
    do
        got = waitpid(child->pid, &status, block ? 0 : WNOHANG);
    while (got == -1 && errno == EINTR && !block);
    if (got == 0)
        return -2;
    if (got == -1)
        return -1;
    child->reaped = 1;
    return decode(status);
}

/* Polls the pidfds of the children until one of them ends (its index in
 * *which and its status returned) or the wait is over. */
static int wait_pidfds(struct child *const *children, int n, double timeout,
                       const volatile sig_atomic_t *cancel, sig_atomic_t seen,
                       const sigset_t *mask, int *which)
{
    struct pollfd p[CHILD_WAIT_MAX];
    struct timespec deadline, left;
    int has_deadline = clock_deadline(timeout, &deadline);
    for (int i = 0; i < n; i++)
        p[i] = (struct pollfd){ .fd = children[i]->pidfd, .events = POLLIN, .revents = 0 };
    for (;;) {
        for (int i = 0; i < n; i++) {
            int status = reap(children[i], 0);
            if (status != -2) {
                *which = i;
                return status;
            }
        }
        if (cancel != NULL && *cancel != seen) {
            errno = EINTR;
            return -1;
        }
        if (has_deadline && !clock_left(&deadline, &left)) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (ppoll(p, (nfds_t)n, has_deadline ? &left : NULL, mask) == -1 && errno != EINTR)
            return -1;
    }
}

int child_wait_any(struct child *const *children, int n, double timeout,
                   const volatile sig_atomic_t *cancel, sig_atomic_t seen, int *which)
{
    if (n < 1 || n > CHILD_WAIT_MAX) {
        errno = EINVAL;
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (children[i]->reaped) {
            errno = ECHILD;
            return -1;
        }
    *which = 0;
    for (int i = 0; i < n; i++)
        if (children[i]->pidfd < 0) {   /* no pidfd: only a whole wait for one */
            if (n == 1)
                return reap(children[0], 1);
            errno = ENOSYS;
            return -1;
        }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int status = wait_pidfds(children, n, timeout, cancel, seen, &old, which);
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = err;
    return status;
}

int child_wait(struct child *child, double timeout,
               const volatile sig_atomic_t *cancel, sig_atomic_t seen)
{
    int which;
    return child_wait_any(&child, 1, timeout, cancel, seen, &which);
}

void child_forget(struct child *child)
{
    if (child->pidfd >= 0)
        close(child->pidfd);
    if (child->done >= 0)
        close(child->done);
    child->pidfd = -1;
    child->done = -1;
}
