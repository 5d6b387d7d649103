/* run.c: a command run to its end with stdin fed and stdout, stderr read.
 *
 * posix_spawnp (CLONE_VFORK in glibc: nothing of the parent is copied) with
 * POSIX_SPAWN_SETSID, so the command and everything it starts (git's
 * ssh, remote helpers, receive-pack of a file:// push) is one process group
 * that a timeout can kill at once, with no terminal to prompt on. One
 * thread ppoll()s the three pipes and a pidfd with every signal blocked
 * except inside ppoll, the pattern of lock.c and child.c: a SIGTERM for
 * tasknum ends the wait at once and is not lost just before it. SIGPIPE is
 * blocked while feeding stdin (a command that does not read its input gets
 * EPIPE, not tasknum killed) and consumed if it was not pending before. */
#include "run.h"
#include "clock.h"
#include "envlist.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* A growing output buffer, NUL-terminated, kept to cap bytes. */
struct buf {
    char *data;
    size_t len, size, cap;
    int *truncated;
};

static int buf_init(struct buf *b, size_t cap, int *truncated)
{
    b->size = 256;
    b->len = 0;
    b->cap = cap;
    b->truncated = truncated;
    b->data = malloc(b->size);
    if (b->data == NULL)
        return -1;
    b->data[0] = '\0';
    return 0;
}

static int buf_add(struct buf *b, const char *p, size_t n)
{
    if (b->len + n > b->cap) {
        *b->truncated = 1;
        n = b->cap - b->len;
    }
    if (b->len + n + 1 > b->size) {
        size_t size = b->size;
        while (b->len + n + 1 > size)
            size *= 2;
        char *grown = realloc(b->data, size);
        if (grown == NULL)
            return -1;
        b->data = grown;
        b->size = size;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* Reads what fd has now into b; closes fd at end of file. -1 with errno. */
static int drain(int *fd, struct buf *b)
{
    char chunk[4096];
    for (;;) {
        ssize_t got = read(*fd, chunk, sizeof chunk);
        if (got > 0) {
            if (buf_add(b, chunk, (size_t)got) != 0)
                return -1;
            continue;
        }
        if (got == 0) {
            close_fd(fd);
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -1;
    }
}

/* Writes what it can of input to fd; closes fd when all is written or the
 * command closed its end (EPIPE). -1 with errno on other errors. */
static int feed(int *fd, const char *input, size_t inlen, size_t *done)
{
    while (*done < inlen) {
        ssize_t put = write(*fd, input + *done, inlen - *done);
        if (put > 0) {
            *done += (size_t)put;
            continue;
        }
        if (put == -1 && errno == EINTR)
            continue;
        if (put == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (put == -1 && errno == EPIPE)
            break;
        return -1;
    }
    close_fd(fd);
    return 0;
}

static int decode(int status)
{
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

/* waitpid: 1 reaped (status set), 0 still running (when !block), -1. */
static int reap(pid_t pid, int block, int *status)
{
    int st;
    pid_t got;
    do
        got = waitpid(pid, &st, block ? 0 : WNOHANG);
    while (got == -1 && errno == EINTR);
    if (got == 0)
        return 0;
    if (got == -1)
        return -1;
    *status = decode(st);
    return 1;
}

static int start(char *const argv[], char *const set[], int in, int out,
                 int err, pid_t *pid)
{
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t none, defaults;
    char **env = envlist_make(set);
    if (env == NULL)
        return ENOMEM;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) {
        free(env);
        return rc;
    }
    rc = posix_spawnattr_init(&attr);
    if (rc != 0) {
        posix_spawn_file_actions_destroy(&actions);
        free(env);
        return rc;
    }
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGHUP);
    sigaddset(&defaults, SIGQUIT);
    if (in >= 0)
        rc = posix_spawn_file_actions_adddup2(&actions, in, 0);
    else
        rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&actions, out, 1);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&actions, err, 2);
    if (rc == 0)
        rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK
                                              | POSIX_SPAWN_SETSIGDEF);
    if (rc == 0)
        rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0)
        rc = posix_spawnattr_setsigdefault(&attr, &defaults);
    if (rc == 0)
        rc = posix_spawnp(pid, argv[0], &actions, &attr, argv, env);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    free(env);
    return rc;
}

/* The running command and what is being exchanged with it. */
struct job {
    pid_t pid;
    int pidfd, in, out, err, exited, status;
    const char *input;
    size_t inlen, fed;
    struct buf o, e;
};

/* One round: sleep until something happens (at most left seconds, < 0 no
 * limit), then move the data. 0, or -1 with errno. */
static int step(struct job *j, double left, const sigset_t *mask)
{
    struct pollfd p[4];
    int n = 0, io = -1, oo = -1, eo = -1, po = -1;
    if (j->in >= 0) {
        io = n;
        p[n++] = (struct pollfd){ .fd = j->in, .events = POLLOUT };
    }
    if (j->out >= 0) {
        oo = n;
        p[n++] = (struct pollfd){ .fd = j->out, .events = POLLIN };
    }
    if (j->err >= 0) {
        eo = n;
        p[n++] = (struct pollfd){ .fd = j->err, .events = POLLIN };
    }
    if (j->pidfd >= 0 && !j->exited) {
        po = n;
        p[n++] = (struct pollfd){ .fd = j->pidfd, .events = POLLIN };
    }
    struct timespec ts, *limit = NULL;
    if (po < 0 && !j->exited && j->out < 0 && j->err < 0)
        left = left < 0 || left > 0.005 ? 0.005 : left;  /* no pidfd: poll waitpid */
    if (left >= 0) {
        ts = clock_span(left);
        limit = &ts;
    }
    if (ppoll(p, (nfds_t)n, limit, mask) == -1)
        return errno == EINTR ? 0 : -1;
    if (io >= 0 && p[io].revents != 0 && feed(&j->in, j->input, j->inlen, &j->fed) != 0)
        return -1;
    if (oo >= 0 && p[oo].revents != 0 && drain(&j->out, &j->o) != 0)
        return -1;
    if (eo >= 0 && p[eo].revents != 0 && drain(&j->err, &j->e) != 0)
        return -1;
    if (!j->exited && (po < 0 || p[po].revents != 0)) {
        int got = reap(j->pid, 0, &j->status);
        if (got < 0)
            return -1;
        j->exited = got;
    }
    return 0;
}

/* Runs the exchange until the command ended and its output is read.
 * Returns 0, or -1 with errno (ETIMEDOUT, EINTR, or a system error). */
static int exchange(struct job *j, double timeout,
                    const volatile sig_atomic_t *cancel, const sigset_t *mask)
{
    double deadline = clock_seconds() + timeout;
    for (;;) {
        if (j->exited) {
            /* Everything it wrote is in the pipes: take it, and do not wait
             * for whatever it left behind holding them open. */
            close_fd(&j->in);
            if (j->out >= 0 && drain(&j->out, &j->o) != 0)
                return -1;
            if (j->err >= 0 && drain(&j->err, &j->e) != 0)
                return -1;
            return 0;
        }
        if (cancel != NULL && *cancel != 0) {
            errno = EINTR;
            return -1;
        }
        double left = timeout < 0 ? -1 : deadline - clock_seconds();
        if (timeout >= 0 && left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (step(j, left, mask) != 0)
            return -1;
    }
}

int run_command(char *const argv[], char *const set[], const char *input,
                size_t inlen, double timeout,
                const volatile sig_atomic_t *cancel, size_t cap,
                struct run_result *r)
{
    struct job j = { .pid = -1, .pidfd = -1, .in = -1, .out = -1, .err = -1,
                     .status = -1, .input = input, .inlen = inlen };
    int child_in = -1, child_out = -1, child_err = -1, rc = 0, saved = 0;
    memset(r, 0, sizeof *r);
    r->status = -1;
    if (buf_init(&j.o, cap, &r->truncated) != 0 || buf_init(&j.e, cap, &r->truncated) != 0) {
        saved = ENOMEM;
        goto out;
    }
    int pin[2] = { -1, -1 }, pout[2], perr[2];
    if ((input != NULL && pipe2(pin, O_CLOEXEC) != 0) || pipe2(pout, O_CLOEXEC) != 0) {
        saved = errno;
        close_fd(&pin[0]);
        close_fd(&pin[1]);
        goto out;
    }
    if (pipe2(perr, O_CLOEXEC) != 0) {
        saved = errno;
        close_fd(&pin[0]);
        close_fd(&pin[1]);
        close(pout[0]);
        close(pout[1]);
        goto out;
    }
    child_in = pin[0], j.in = pin[1];
    child_out = pout[1], j.out = pout[0];
    child_err = perr[1], j.err = perr[0];
    rc = start(argv, set, child_in, child_out, child_err, &j.pid);
    close_fd(&child_in);
    close_fd(&child_out);
    close_fd(&child_err);
    if (rc != 0) {
        saved = rc;
        j.pid = -1;
        goto out;
    }
    if (j.in >= 0)
        fcntl(j.in, F_SETFL, O_NONBLOCK);
    fcntl(j.out, F_SETFL, O_NONBLOCK);
    fcntl(j.err, F_SETFL, O_NONBLOCK);
    j.pidfd = pidfd_open(j.pid, 0); /* our unreaped child: the pid is ours */

    sigset_t all, old, pending;
    sigfillset(&all);
    sigemptyset(&pending);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    sigpending(&pending);
    int pipe_was_pending = sigismember(&pending, SIGPIPE);
    /* ppoll sleeps with the caller's mask less SIGPIPE */
    sigset_t mask = old;
    sigaddset(&mask, SIGPIPE);
    if (exchange(&j, timeout, cancel, &mask) != 0) {
        saved = errno;
        if (!j.exited) {
            kill(-j.pid, SIGKILL);
            kill(j.pid, SIGKILL);
            if (reap(j.pid, 1, &j.status) == 1)
                j.exited = 1;
        }
    }
    if (!pipe_was_pending) {
        struct timespec zero = { 0, 0 };
        sigset_t only;
        sigemptyset(&only);
        sigaddset(&only, SIGPIPE);
        while (sigtimedwait(&only, NULL, &zero) == SIGPIPE)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (saved == 0 && !j.exited)
        saved = ECHILD;
    r->status = saved == 0 ? j.status : -1;
out:
    close_fd(&j.in);
    close_fd(&j.out);
    close_fd(&j.err);
    close_fd(&j.pidfd);
    if (j.o.data == NULL || j.e.data == NULL) {
        free(j.o.data);
        free(j.e.data);
        j.o.data = j.e.data = NULL;
        /* an empty result that run_free accepts */
        r->out = calloc(1, 1);
        r->err = calloc(1, 1);
        if (saved == 0)
            saved = ENOMEM;
    } else {
        r->out = j.o.data;
        r->outlen = j.o.len;
        r->err = j.e.data;
        r->errlen = j.e.len;
    }
    if (saved != 0) {
        errno = saved;
        return -1;
    }
    return 0;
}

void run_free(struct run_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}
