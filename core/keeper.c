/* keeper.c: the keeper of a shared hold's legacy folder (keeper.h).
 *
 * A forked child that never returns to its parent's code: it runs only
 * this file's loop and leaves with _exit. It waits for the shared byte in
 * F_OFD_SETLKW, woken every period by SIGALRM to refresh the folder; the
 * kernel grants it the byte the moment the last descriptor of the shared
 * description is closed, and nobody else can take the whole file before
 * the keeper has removed the folder and exited, because it holds
 * LOCK_KEEPER_BYTE until then. */
#include "keeper.h"

#include "fdio.h"
#include "lock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct keeper {
    const char *lock_path;
    long byte;
    double period;
    pid_t pid;
    int dir;               /* the folder that holds the legacy folder */
    int own;               /* the legacy folder itself, opened without links */
    const char *name;      /* the legacy folder's name in dir */
    char tmp[64];          /* info.tmp-PID: refreshes are renamed over info */
    char away[NAME_MAX + 1];   /* NAME.tmp-PID: where the folder goes to be removed */
};

static int write_lock(int fd, int cmd, long byte)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = (off_t)byte;
    fl.l_len = 1;
    return fcntl(fd, cmd, &fl);
}

/* The pid that info names, or -1; *st gets info's mode and owner. */
static pid_t named(const struct keeper *k, struct stat *st)
{
    char text[64];
    int fd = openat(k->own, "info", O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd == -1)
        return -1;
    struct stat mine;
    ssize_t n = -1;
    if (fstat(fd, st != NULL ? st : &mine) == 0 && S_ISREG((st != NULL ? st : &mine)->st_mode))
        n = fdio_read_all(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    char *end;
    long pid = strtol(text, &end, 10);
    return end != text && *end == ':' ? (pid_t)pid : -1;
}

/* Whether the name of the legacy folder still leads to the keeper's. */
static int in_place(const struct keeper *k)
{
    struct stat here, own;
    return fstatat(k->dir, k->name, &here, AT_SYMLINK_NOFOLLOW) == 0 && fstat(k->own, &own) == 0
        && here.st_dev == own.st_dev && here.st_ino == own.st_ino;
}

/* Writes "PID:EPOCH" into info by a rename (never an info cut short), with
 * the mode and group of the info it replaces (like), and touches the
 * folder. 0 or -1 with errno. */
static int name_self(const struct keeper *k, const struct stat *like)
{
    char text[64];
    int len = snprintf(text, sizeof text, "%ld:%lld\n", (long)k->pid, (long long)time(NULL));
    unlinkat(k->own, k->tmp, 0);   /* one of ours left by a keeper killed half-way */
    int fd = openat(k->own, k->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                    like->st_mode & 07777);
    if (fd == -1)
        return -1;
    struct iovec iov = { .iov_base = text, .iov_len = (size_t)len };
    int rc = fdio_write_all(fd, &iov, 1);
    if (rc == 0) {
        (void)!fchown(fd, (uid_t)-1, like->st_gid);   /* best effort, as the holder's */
        rc = fchmod(fd, like->st_mode & 07777);
    }
    int err = errno;
    close(fd);
    if (rc == 0 && renameat(k->own, k->tmp, k->own, "info") != 0) {
        rc = -1;
        err = errno;
    }
    if (rc != 0) {
        unlinkat(k->own, k->tmp, 0);
        errno = err;
        return -1;
    }
    futimens(k->own, NULL);
    return 0;
}

/* Removes the folder if info still names the keeper and its name still
 * leads to it: renamed out of the way first, as legacy.lua does, so that
 * a keeper killed half-way leaves no folder without info (the next holder
 * sweeps the renamed one); then its names (never what a link among them
 * points to) and the folder. */
static void leave(const struct keeper *k)
{
    if (named(k, NULL) != k->pid || !in_place(k)
        || renameat(k->dir, k->name, k->dir, k->away) != 0)
        return;
    int fd = dup(k->own);
    DIR *d = fd == -1 ? NULL : fdopendir(fd);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlinkat(k->own, e->d_name, 0);
    if (d != NULL)
        closedir(d);
    else if (fd != -1)
        close(fd);
    unlinkat(k->dir, k->away, AT_REMOVEDIR);
}

static void on_alarm(int sig)
{
    (void)sig;   /* only to end F_OFD_SETLKW with EINTR */
}

static void set_signals(void)
{
    static const int ignored[] = { SIGINT, SIGHUP, SIGPIPE, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU };
    struct sigaction sa;
    sigset_t none;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
        sigaction(ignored[i], &sa, NULL);
    sa.sa_handler = SIG_DFL;          /* the parent's handler sets a flag here */
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_alarm;         /* no SA_RESTART */
    sigaction(SIGALRM, &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Leaves the keeper with stdin, stdout and stderr on /dev/null and the
 * descriptors in keep (moved to 3, 4, ...), nothing else: it must hold
 * neither the shared description nor a pipe someone reads to its end
 * (`out=$(tasknum lock ...)`). */
static void set_descriptors(int *keep[], int n)
{
    int high[8];
    for (int i = 0; i < n; i++)
        high[i] = fcntl(*keep[i], F_DUPFD, 100);
    int null = open("/dev/null", O_RDWR);
    for (int fd = 0; fd <= 2 && null >= 0; fd++)
        if (null != fd)
            dup2(null, fd);
    for (int i = 0; i < n; i++) {
        dup2(high[i], 3 + i);
        *keep[i] = 3 + i;
    }
    if (close_range((unsigned)(3 + n), ~0U, 0) != 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = 3 + n; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
            close((int)fd);
    }
}

/* What the keeper tells the process that started it, once. */
struct report {
    int err;     /* 0: it has named itself in info */
    pid_t pid;   /* its pid (it is not that process's child) */
};

static void report(int fd, int err)
{
    struct report r = { .err = err, .pid = getpid() };
    while (write(fd, &r, sizeof r) == -1 && errno == EINTR)
        ;
    close(fd);
}

static _Noreturn void keeper_main(struct keeper *k, pid_t expect, int held, int out, int done)
{
    int *keep[] = { &held, &out, &done, &k->dir, &k->own };
    set_signals();
    set_descriptors(keep, 5);
    prctl(PR_SET_NAME, "tasknum-keeper", 0, 0, 0);
    k->pid = getpid();
    snprintf(k->tmp, sizeof k->tmp, "info.tmp-%ld", (long)k->pid);
    snprintf(k->away, sizeof k->away, "%s.tmp-%ld", k->name, (long)k->pid);
    struct stat like;
    int fd = lock_open(k->lock_path, O_RDWR), err = 0;
    if (fd == -1)
        err = errno;
    else if (named(k, &like) != expect || !in_place(k))
        err = ESTALE;
    else if (name_self(k, &like) != 0)
        err = errno;
    if (err != 0) {
        report(out, err);
        _exit(1);
    }
    report(out, 0);
    struct itimerval beat;
    beat.it_interval.tv_sec = (time_t)k->period;
    beat.it_interval.tv_usec = (suseconds_t)((k->period - (double)(time_t)k->period) * 1e6);
    beat.it_value = beat.it_interval;
    setitimer(ITIMER_REAL, &beat, NULL);
    while (write_lock(fd, F_OFD_SETLKW, k->byte) != 0) {
        if (errno != EINTR)   /* ENOLCK and the like: try again a beat later */
            pause();
        if (named(k, &like) == k->pid && in_place(k))
            name_self(k, &like);
    }
    leave(k);
    /* The hold is over: the locks go, the holder hears it; the pid stays
     * alive a while, so that an old script that read it in info just
     * before and checks it now (kill -0) does not take the next holder's
     * folder for this one's, dead. */
    memset(&beat, 0, sizeof beat);
    setitimer(ITIMER_REAL, &beat, NULL);
    close(fd);
    close(held);
    while (write(done, "", 1) == -1 && errno == EINTR)
        ;
    close(done);
    struct timespec linger = { .tv_sec = KEEPER_LINGER, .tv_nsec = 0 };
    while (nanosleep(&linger, &linger) == -1 && errno == EINTR)
        ;
    _exit(0);
}

/* Opens the folder that holds the legacy folder and the legacy folder in
 * it, without following a link at the last step of either. */
static int open_folder(struct keeper *k, const char *folder, char *parent, size_t cap)
{
    const char *slash = strrchr(folder, '/');
    if (slash == NULL || slash[1] == '\0' || (size_t)(slash - folder) + 2 > cap
        || strlen(slash + 1) + 24 > sizeof k->away) {
        errno = EINVAL;
        return -1;
    }
    memcpy(parent, folder, (size_t)(slash - folder));
    parent[slash == folder ? 1 : slash - folder] = '\0';
    if (slash == folder)
        parent[0] = '/';
    k->name = slash + 1;
    k->dir = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (k->dir == -1)
        return -1;
    k->own = openat(k->dir, k->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (k->own == -1) {
        int err = errno;
        close(k->dir);
        errno = err;
        return -1;
    }
    return 0;
}

int keeper_start(const char *lock_path, long byte, const char *folder,
                 pid_t expect_pid, double period, struct child *keeper)
{
    struct keeper k;   /* the child's copy is the one it uses */
    char parent[PATH_MAX];
    if (!(period >= 0.01 && period <= 3600) || byte < 0 || byte >= LOCK_MAX_DEPTH) {
        errno = EINVAL;
        return -1;
    }
    memset(&k, 0, sizeof k);
    k.lock_path = lock_path;
    k.byte = byte;
    k.period = period;
    if (open_folder(&k, folder, parent, sizeof parent) != 0)
        return -1;
    int held = lock_open(lock_path, O_RDWR), pipefd[2] = { -1, -1 };
    int err = errno;
    keeper->done = -1;
    if (held == -1 || write_lock(held, F_OFD_SETLK, LOCK_KEEPER_BYTE) != 0
        || pipe2(pipefd, O_CLOEXEC) != 0) {
        err = errno;
        if (held != -1)
            close(held);
        close(k.dir);
        close(k.own);
        errno = err;
        return -1;
    }
    /* Forked twice: the keeper is nobody's child here, so that lingering
     * (see keeper_main) it never waits as a zombie of a long-lived host. */
    int done[2] = { -1, -1 };
    pid_t mid = pipe2(done, O_CLOEXEC) == 0 ? fork() : -1;
    if (mid == 0) {
        close(pipefd[0]);
        close(done[0]);
        setsid();
        if (fork() == 0)
            keeper_main(&k, expect_pid, held, pipefd[1], done[1]);
        _exit(0);
    }
    err = errno;
    close(held);
    close(pipefd[1]);
    if (done[1] != -1)
        close(done[1]);
    close(k.dir);
    close(k.own);
    struct report r = { .err = ECHILD, .pid = -1 };
    if (mid > 0) {
        while (waitpid(mid, NULL, 0) == -1 && errno == EINTR)
            ;
        ssize_t got;
        do
            got = read(pipefd[0], &r, sizeof r);
        while (got == -1 && errno == EINTR);
        if (got != (ssize_t)sizeof r)
            r.err = ECHILD;   /* it died before it said */
    }
    close(pipefd[0]);
    keeper->pidfd = r.err == 0 ? pidfd_open(r.pid, 0) : -1;
    if (mid < 0 || r.err != 0 || keeper->pidfd < 0) {
        err = mid < 0 ? err : r.err != 0 ? r.err : errno;
        if (r.err == 0)
            kill(r.pid, SIGKILL);   /* it cannot be watched: no pidfd */
        if (done[0] != -1)
            close(done[0]);
        errno = err;
        return -1;
    }
    keeper->pid = r.pid;
    keeper->reaped = 0;
    keeper->foreign = 1;
    keeper->done = done[0];
    return 0;
}
