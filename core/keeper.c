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
    const char *folder;
    double period;
    pid_t pid;
    char info[PATH_MAX];   /* folder/info */
    char tmp[PATH_MAX];    /* folder/info.tmp-PID: refreshes are renamed in */
    char away[PATH_MAX];   /* folder.tmp-PID: where the folder goes to be removed */
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

/* The pid that folder/info names, or -1. */
static pid_t named(const struct keeper *k)
{
    char text[64];
    if (fdio_read_small(k->info, O_NOFOLLOW, text, sizeof text) < 0)
        return -1;
    char *end;
    long pid = strtol(text, &end, 10);
    return end != text && *end == ':' ? (pid_t)pid : -1;
}

/* Writes "PID:EPOCH" into info by a rename (never an info cut short) and
 * touches the folder. 0 or -1 with errno. */
static int name_self(const struct keeper *k)
{
    char text[64];
    int len = snprintf(text, sizeof text, "%ld:%lld\n", (long)k->pid, (long long)time(NULL));
    int fd = open(k->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd == -1)
        return -1;
    struct iovec iov = { .iov_base = text, .iov_len = (size_t)len };
    int rc = fdio_write_all(fd, &iov, 1);
    int err = errno;
    close(fd);
    if (rc == 0 && rename(k->tmp, k->info) != 0) {
        rc = -1;
        err = errno;
    }
    if (rc != 0) {
        unlink(k->tmp);
        errno = err;
        return -1;
    }
    utimensat(AT_FDCWD, k->folder, NULL, AT_SYMLINK_NOFOLLOW);
    return 0;
}

/* Removes the folder if info still names the keeper: renamed out of the
 * way first, as legacy.lua does, so that a keeper killed half-way leaves
 * no folder without info (the next holder sweeps the renamed one). */
static void leave(const struct keeper *k)
{
    if (named(k) != k->pid || rename(k->folder, k->away) != 0)
        return;
    DIR *d = opendir(k->away);
    struct dirent *e;
    char path[PATH_MAX];
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (snprintf(path, sizeof path, "%s/%s", k->away, e->d_name) < (int)sizeof path)
            unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(k->away);
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

/* Leaves the keeper with stdin, stdout and stderr on /dev/null, the lock
 * description it holds on 3 and the report pipe on 4, nothing else: it
 * must hold neither the shared description nor a pipe someone reads to
 * its end (`out=$(tasknum lock ...)`). */
static void set_descriptors(int *held, int *report)
{
    int h = fcntl(*held, F_DUPFD, 100), r = fcntl(*report, F_DUPFD, 100);
    int null = open("/dev/null", O_RDWR);
    for (int fd = 0; fd <= 2 && null >= 0; fd++)
        if (null != fd)
            dup2(null, fd);
    dup2(h, 3);
    dup2(r, 4);
    if (close_range(5, ~0U, 0) != 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = 5; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
            close((int)fd);
    }
    *held = 3;
    *report = 4;
}

static void report(int fd, int err)
{
    while (write(fd, &err, sizeof err) == -1 && errno == EINTR)
        ;
    close(fd);
}

static _Noreturn void keeper_main(struct keeper *k, pid_t expect, int held, int out)
{
    setsid();
    set_signals();
    set_descriptors(&held, &out);
    prctl(PR_SET_NAME, "tasknum-keeper", 0, 0, 0);
    k->pid = getpid();
    snprintf(k->tmp, sizeof k->tmp, "%s/info.tmp-%ld", k->folder, (long)k->pid);
    snprintf(k->away, sizeof k->away, "%s.tmp-%ld", k->folder, (long)k->pid);
    int fd = open(k->lock_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW), err = 0;
    if (fd == -1)
        err = errno;
    else if (named(k) != expect)
        err = ESTALE;
    else if (name_self(k) != 0)
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
        if (named(k) == k->pid)
            name_self(k);
    }
    leave(k);
    _exit(0);
}

int keeper_start(const char *lock_path, long byte, const char *folder,
                 pid_t expect_pid, double period, struct child *keeper)
{
    struct keeper k;   /* the child's copy is the one it uses */
    if (!(period >= 0.01 && period <= 3600) || byte < 0 || byte >= LOCK_MAX_DEPTH
        || snprintf(k.info, sizeof k.info, "%s/info", folder) >= (int)sizeof k.info
        || strlen(folder) + 32 >= sizeof k.away) {
        errno = EINVAL;
        return -1;
    }
    k.lock_path = lock_path;
    k.byte = byte;
    k.folder = folder;
    k.period = period;
    int held = open(lock_path, O_RDWR | O_CLOEXEC | O_NOFOLLOW), pipefd[2] = { -1, -1 };
    if (held == -1)
        return -1;
    if (write_lock(held, F_OFD_SETLK, LOCK_KEEPER_BYTE) != 0 || pipe2(pipefd, O_CLOEXEC) != 0) {
        int err = errno;
        close(held);
        errno = err;
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        keeper_main(&k, expect_pid, held, pipefd[1]);
    }
    int err = errno, code = ECHILD;
    close(held);
    close(pipefd[1]);
    if (pid > 0) {
        ssize_t got;
        do
            got = read(pipefd[0], &code, sizeof code);
        while (got == -1 && errno == EINTR);
        if (got != (ssize_t)sizeof code)
            code = ECHILD;   /* it died before it said */
    }
    close(pipefd[0]);
    if (pid < 0 || code != 0) {
        if (pid > 0)
            while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
                ;
        errno = pid < 0 ? err : code;
        return -1;
    }
    keeper->pid = pid;
    keeper->pidfd = pidfd_open(pid, 0);
    keeper->reaped = 0;
    return 0;
}
