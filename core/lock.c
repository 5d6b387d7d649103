/* lock.c: an exclusive OFD lock on a whole lock file.
 *
 * Waiting with a timeout, without polling and without touching the process's
 * signal dispositions (this code also runs inside other people's Lua
 * programs): a helper thread, with every signal blocked, sleeps in
 * F_OFD_SETLKW and writes one byte to a pipe when the lock is granted. The
 * calling thread ppoll()s the pipe with the time left. To give up it cancels
 * the helper (F_OFD_SETLKW is a cancellation point in glibc), joins it, and
 * closes the descriptor, which drops the lock if the helper got it in the
 * last instant. The kernel wakes the helper the moment the lock is free. */
#include "lock.h"

#include "beside.h"
#include "clock.h"
#include "fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What the helper thread shares with the waiting thread. */
struct waiter {
    int fd;       /* the lock file, owned by the waiting thread */
    off_t start;  /* the bytes to lock: len 0 means to the end and beyond */
    off_t len;
    int wake;     /* write end of the pipe */
    int err;      /* 0 when the lock was granted, else the errno */
};

static struct flock byte_range(short type, off_t start, off_t len)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;           /* 0: to the end of the file and beyond */
    fl.l_pid = 0;             /* required for OFD locks */
    return fl;
}

static struct flock whole_file(short type)
{
    return byte_range(type, 0, 0);
}

static int try_lock(int fd, int cmd, off_t start, off_t len)
{
    struct flock fl = byte_range(F_WRLCK, start, len);
    int rc;
    do
        rc = fcntl(fd, cmd, &fl);
    while (rc == -1 && errno == EINTR && cmd == F_OFD_SETLK);
    return rc;
}

static void *wait_for_lock(void *arg)
{
    struct waiter *w = arg;
    char byte = 0;
    /* Signals are blocked in this thread, so only cancellation ends this. */
    w->err = try_lock(w->fd, F_OFD_SETLKW, w->start, w->len) == 0 ? 0 : errno;
    while (write(w->wake, &byte, 1) == -1 && errno == EINTR)
        ;
    return NULL;
}

/* Starts the helper with every signal blocked from its first instruction:
 * the mask is inherited, so no signal meant for the process lands there. */
static int start_waiter(pthread_t *tid, struct waiter *w)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(tid, NULL, wait_for_lock, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* Sleeps until the helper writes to rd. Returns 0 then, or the errno that
 * ends the wait: ETIMEDOUT, EINTR (cancelled), or a ppoll error. All signals
 * stay blocked except inside ppoll, which restores the caller's mask while
 * it sleeps: a signal whose handler sets *cancel just before ppoll is not
 * lost, it interrupts ppoll. */
static int sleep_on_pipe(int rd, const struct timespec *deadline,
                         const volatile sig_atomic_t *cancel,
                         const sigset_t *caller_mask)
{
    struct pollfd p = { .fd = rd, .events = POLLIN, .revents = 0 };
    for (;;) {
        struct timespec left, *limit = NULL;
        if (cancel != NULL && *cancel != 0)
            return EINTR;
        if (deadline != NULL) {
            if (!clock_left(deadline, &left))
                return ETIMEDOUT;
            limit = &left;
        }
        int n = ppoll(&p, 1, limit, caller_mask);
        if (n > 0)
            return 0;
        if (n == 0)
            return ETIMEDOUT;
        if (errno != EINTR)
            return errno;
    }
}

/* Waits on the pipe with the signal mask arranged for sleep_on_pipe. */
static int wait_on_pipe(int rd, const struct timespec *deadline,
                        const volatile sig_atomic_t *cancel)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = sleep_on_pipe(rd, deadline, cancel, &old);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err;
}

/* The slow path: fd is open and the lock is busy. Returns 0 with the lock
 * held on fd, or an errno. Never leaves the thread or the pipe behind. */
static int wait_slow(int fd, off_t start, off_t len, double timeout,
                     const volatile sig_atomic_t *cancel)
{
    struct timespec deadline;
    int has_deadline = clock_deadline(timeout, &deadline);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) == -1)
        return errno;
    struct waiter w = { .fd = fd, .start = start, .len = len,
                        .wake = pipefd[1], .err = 0 };
    pthread_t tid;
    int err = start_waiter(&tid, &w);
    if (err == 0) {
        err = wait_on_pipe(pipefd[0], has_deadline ? &deadline : NULL, cancel);
        if (err != 0)
            pthread_cancel(tid);
        pthread_join(tid, NULL);
        if (err == 0)
            err = w.err;
    }
    close(pipefd[0]);
    close(pipefd[1]);
    return err;
}

/* Opens the lock file for flags (O_RDONLY or O_RDWR) without following a
 * link, never blocking, and only if it is a regular file with one name
 * (beside.h): made when missing and like is given, with like's group, mode
 * and (as root) owner. */
static int open_lock_file(const char *path, int flags, const struct beside_like *like)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    flags |= like ? O_CREAT : 0;
    if (slash == NULL || (size_t)(slash - path) >= sizeof dir) {
        if (slash != NULL) {
            errno = ENAMETOOLONG;
            return -1;
        }
        return beside_open(".", path, flags, like, NULL, NULL);
    }
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    memcpy(dir, path, n);
    dir[n] = '\0';
    return beside_open(dir, slash + 1, flags, like, NULL, NULL);
}

int lock_open(const char *path, int flags)
{
    return open_lock_file(path, flags, NULL);
}

/* Opens path and locks the bytes [start, start + len) (len 0: to the end),
 * as lock_acquire describes. */
static int acquire_range(const char *path, const struct beside_like *like,
                         off_t start, off_t len,
                         double timeout, const volatile sig_atomic_t *cancel)
{
    if (timeout != timeout) {   /* NaN */
        errno = EINVAL;
        return -1;
    }
    int fd = open_lock_file(path, O_RDWR, like);
    if (fd == -1)
        return -1;
    if (try_lock(fd, F_OFD_SETLK, start, len) == 0)
        return fd;
    int err = errno;
    if (err == EAGAIN || err == EACCES)
        err = timeout == 0 ? ETIMEDOUT : wait_slow(fd, start, len, timeout, cancel);
    if (err == 0)
        return fd;
    close(fd);   /* drops the lock if the helper got it as we gave up */
    errno = err;
    return -1;
}

int lock_acquire(const char *path, const struct beside_like *like, double timeout,
                 const volatile sig_atomic_t *cancel)
{
    return acquire_range(path, like, 0, 0, timeout, cancel);
}

int lock_narrow(int fd, long byte)
{
    struct flock below = byte_range(F_UNLCK, 0, (off_t)byte);
    struct flock above = byte_range(F_UNLCK, (off_t)byte + 1, 0);
    if (byte < 0 || byte >= LOCK_MAX_DEPTH) {
        errno = EINVAL;
        return -1;
    }
    if (byte > 0 && fcntl(fd, F_OFD_SETLK, &below) == -1)
        return -1;
    return fcntl(fd, F_OFD_SETLK, &above);
}

/* Whether fd is open on the very file path names (not a symlink to it). */
static int same_file(int fd, const char *path)
{
    struct stat held, named;
    if (fstat(fd, &held) == -1)
        return -1;
    if (lstat(path, &named) == -1)
        return -1;
    if (held.st_dev != named.st_dev || held.st_ino != named.st_ino
        || !S_ISREG(named.st_mode)) {
        errno = ESTALE;
        return -1;
    }
    return 0;
}

/* The lock that conflicts with a write lock on byte, as fd sees it: 1 with
 * *exact set when it is a write lock on that byte alone, 0 when nothing
 * conflicts (locks of fd's own description never do), -1 with errno. */
static int conflict_on(int fd, long byte, int *exact)
{
    struct flock fl = byte_range(F_WRLCK, (off_t)byte, 1);
    if (fcntl(fd, F_OFD_GETLK, &fl) == -1)
        return -1;
    *exact = fl.l_type == F_WRLCK && fl.l_start == (off_t)byte && fl.l_len == 1;
    return fl.l_type != F_UNLCK;
}

/* Proves that fd's open file description holds byte now. Seen from a
 * description of our own (opened anew), byte is held, by a lock on that
 * byte alone, as a holder's narrowed lock is (a whole-file lock is some
 * other process's: the shared description only ever holds one byte); seen
 * from fd, nothing conflicts there, so that lock is fd's own; and seen
 * anew once more, it is still held: a description that holds byte keeps
 * it for as long as we keep fd open, while one that merely saw it free
 * between two lookups (someone else's lock released and another's taken)
 * is caught by the first or the last. 0, or -1 with errno EPERM (not
 * proven) or open/fcntl's. */
static int holds_byte(int fd, const char *path, long byte)
{
    int fresh = open_lock_file(path, O_RDONLY, NULL);
    if (fresh == -1)
        return -1;
    int exact = 0, mine = 0, still = 0, err = 0;
    int held = conflict_on(fresh, byte, &exact);
    if (held == 1 && exact) {
        int other = conflict_on(fd, byte, &mine);
        if (other == 0)
            held = conflict_on(fresh, byte, &still);
        else
            held = other;
    }
    if (held == -1)
        err = errno;
    else if (!(held == 1 && exact && still))
        err = EPERM;
    close(fresh);
    errno = err;
    return err == 0 ? 0 : -1;
}

int lock_adopt(int fd, long byte, const char *path, double timeout,
               const volatile sig_atomic_t *cancel)
{
    if (fd < 0 || byte < 0 || byte >= LOCK_MAX_DEPTH) {
        errno = fd < 0 ? EBADF : EINVAL;
        return -1;
    }
    if (same_file(fd, path) != 0 || holds_byte(fd, path, byte) != 0)
        return -1;
    /* fd's description holds byte (a no-op, which must succeed). */
    if (try_lock(fd, F_OFD_SETLK, (off_t)byte, 1) != 0)
        return -1;
    if (byte + 1 >= LOCK_MAX_DEPTH) {
        errno = ELOOP;   /* proven, but no byte is left for us */
        return -1;
    }
    return acquire_range(path, NULL, (off_t)byte + 1, 1, timeout, cancel);
}

/* The record overwrites the old one in place, padded with spaces to the
 * file's length, in one write: no ftruncate, a journalled metadata change
 * that cost 0.3 to 3 ms per allocation on a busy disk, under the lock.
 * Readers see the JSON record followed by blanks. A file longer than a
 * page (never written by tasknum) is truncated as before. */
int lock_describe(int fd, const char *record, size_t len)
{
    char buf[4096];
    struct stat st;
    if (fstat(fd, &st) == -1)
        return -1;
    if ((size_t)st.st_size <= len)
        return fdio_pwrite_all(fd, record, len, 0);
    if ((size_t)st.st_size > sizeof buf)
        return ftruncate(fd, 0) == -1 ? -1 : fdio_pwrite_all(fd, record, len, 0);
    memcpy(buf, record, len);
    memset(buf + len, ' ', (size_t)st.st_size - len);
    return fdio_pwrite_all(fd, buf, (size_t)st.st_size, 0);
}

long lock_read_record(const char *path, char *buf, size_t cap)
{
    ssize_t len = fdio_read_small(path, O_NOFOLLOW | O_NONBLOCK, buf, cap);
    if (len < 0)
        return -1;
    while (len > 0 && buf[len - 1] == ' ') /* the padding lock_describe adds */
        len--;
    buf[len] = '\0';
    return (long)len;
}

/* F_OFD_GETLK reports a conflicting lock from any open file description,
 * this process's included. The kernel does not require a writable
 * descriptor to test for a write lock, so a read-only open suffices (and
 * works on a lock file the caller may not write). */
int lock_probe(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd == -1)
        return errno == ENOENT ? 0 : -1;
    struct flock fl = whole_file(F_WRLCK);
    int rc = fcntl(fd, F_OFD_GETLK, &fl);
    int err = errno;
    close(fd);
    if (rc == -1) {
        errno = err;
        return -1;
    }
    return fl.l_type != F_UNLCK;
}

void lock_release(int *fd)
{
    if (fd == NULL || *fd < 0)
        return;
    int err = errno;
    close(*fd);
    *fd = -1;
    errno = err;
}
