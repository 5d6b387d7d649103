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
#include <sys/inotify.h>
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
    struct stat like;      /* info as the holder wrote it: the mode and group of ours */
    struct stat folder;    /* the folder as the holder made it, likewise */
    int spare;             /* a folder with our info at `away`, ready to put back, or -1 */
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

/* Writes "PID:EPOCH" into info in the folder at by a rename (never an
 * info cut short), with the mode and group of like, and touches the
 * folder. 0 or -1 with errno. */
static int write_info(const struct keeper *k, int at, const struct stat *like)
{
    char text[64];
    int len = snprintf(text, sizeof text, "%ld:%lld\n", (long)k->pid, (long long)time(NULL));
    unlinkat(at, k->tmp, 0);   /* one of ours left by a keeper killed half-way */
    int fd = openat(at, k->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
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
    if (rc == 0 && renameat(at, k->tmp, at, "info") != 0) {
        rc = -1;
        err = errno;
    }
    if (rc != 0) {
        unlinkat(at, k->tmp, 0);
        errno = err;
        return -1;
    }
    futimens(at, NULL);
    return 0;
}

static int name_self(const struct keeper *k, const struct stat *like)
{
    return write_info(k, k->own, like);
}

static void clear_away(struct keeper *k);

/* Removes the folder if info still names the keeper and its name still
 * leads to it: renamed out of the way first, as legacy.lua does, so that
 * a keeper killed half-way leaves no folder without info (the next holder
 * sweeps the renamed one); then its names (never what a link among them
 * points to) and the folder. */
static void leave(struct keeper *k)
{
    clear_away(k);   /* the spare */
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

/* The guard. Old scripts remove a folder they misjudge (a pid-judging
 * script's `rm -rf` after a kill -0 on a pid it read before the holder
 * changed; any script's exit trap `rm -f info; rmdir`, which removes
 * whatever folder is there once someone broke its own): the folder of a
 * live hold, whose command may be mid read-modify-write. While the hold
 * lasts the keeper watches (inotify, woken by SIGIO in F_OFD_SETLKW) and
 * puts back at once what was removed: an info file removed before the
 * folder (the trap's rmdir then fails, the folder is not empty), or the
 * folder itself, made under the private name with info inside and renamed
 * into place without replacing anything. A folder a script made meanwhile
 * is the script's: left alone (and never removed by leave()). Scripts fork
 * a process for each of those steps and for their own mkdir; the keeper
 * is woken directly, so it puts the folder back first. */
static struct keeper *guarded;   /* for on_io */
static int watch_fd = -1, watch_dir = -1, watch_own = -1;
static volatile sig_atomic_t beat_due;

/* Watches the folder that holds the legacy folder (its name removed or
 * renamed) and the legacy folder (info removed, the folder gone). */
static int watch_folder(int fd, uint32_t mask)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return inotify_add_watch(watch_fd, path, mask | IN_ONLYDIR);
}

static void watch_start(struct keeper *k)
{
    guarded = k;
    watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (watch_fd == -1)
        return;   /* the beat still finds a removed folder, a period later */
    watch_dir = watch_folder(k->dir, IN_DELETE | IN_MOVED_FROM);
    watch_own = watch_folder(k->own, IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF);
    if (fcntl(watch_fd, F_SETOWN, getpid()) != 0
        || fcntl(watch_fd, F_SETFL, O_ASYNC | O_NONBLOCK) != 0) {
        close(watch_fd);
        watch_fd = -1;
    }
}

/* Removes the keeper's private folder (NAME.tmp-PID) and what is in it. */
static void clear_away(struct keeper *k)
{
    if (k->spare != -1) {
        close(k->spare);
        k->spare = -1;
    }
    int fd = openat(k->dir, k->away, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd == -1)
        return;
    unlinkat(fd, "info", 0);
    unlinkat(fd, k->tmp, 0);
    close(fd);
    unlinkat(k->dir, k->away, AT_REMOVEDIR);
}

/* Makes the spare: a folder at the private name with the holder's mode
 * and group and info naming the keeper, so that putting the folder back
 * is one rename. A keeper killed leaves it to the next holder's sweep. */
static void make_spare(struct keeper *k)
{
    if (k->spare != -1)
        return;
    clear_away(k);
    if (mkdirat(k->dir, k->away, 0700) != 0)
        return;
    int fd = openat(k->dir, k->away, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd != -1) {
        (void)!fchown(fd, (uid_t)-1, k->folder.st_gid);   /* best effort, as the holder's */
        if (fchmod(fd, k->folder.st_mode & 07777) == 0 && write_info(k, fd, &k->like) == 0) {
            k->spare = fd;
            return;
        }
        close(fd);
    }
    clear_away(k);
}

/* Puts the removed folder back: the spare, renamed into place without
 * replacing anything (a folder a script made first is the script's), then
 * its info and mtime made fresh; it is the keeper's folder from then on. */
static void remake(struct keeper *k)
{
    make_spare(k);
    if (k->spare == -1 || renameat2(k->dir, k->away, k->dir, k->name, RENAME_NOREPLACE) != 0)
        return;
    write_info(k, k->spare, &k->like);
    dup2(k->spare, k->own);   /* the descriptor in_place() and leave() know */
    close(k->spare);
    k->spare = -1;
    if (watch_fd != -1)
        watch_own = watch_folder(k->own, IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF);
    make_spare(k);
}

/* Whatever moved, the folder as it should be: ours with our info, or put
 * back, or someone else's (left alone). */
static void guard(struct keeper *k)
{
    struct stat here, own, info;
    if (fstatat(k->dir, k->name, &here, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            remake(k);
        return;
    }
    if (fstat(k->own, &own) == 0 && here.st_dev == own.st_dev && here.st_ino == own.st_ino
        && fstatat(k->own, "info", &info, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
        name_self(k, &k->like);
}

/* SIGIO: the watch has events. Runs only while the keeper waits in
 * F_OFD_SETLKW (blocked elsewhere), so nothing else touches the folder. */
static void on_io(int sig)
{
    (void)sig;
    int err = errno, act = 0;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    while (watch_fd != -1 && (n = read(watch_fd, buf, sizeof buf)) > 0)
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *e = (const struct inotify_event *)p;
            if (e->wd == -1 || (e->wd == watch_own && (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF)))
                || (e->len > 0 && e->wd == watch_own && strcmp(e->name, "info") == 0)
                || (e->len > 0 && e->wd == watch_dir && strcmp(e->name, guarded->name) == 0))
                act = 1;
            p += sizeof *e + e->len;
        }
    if (act)
        guard(guarded);
    errno = err;
}

static void on_alarm(int sig)
{
    (void)sig;   /* to end F_OFD_SETLKW with EINTR: a refresh is due */
    beat_due = 1;
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
    sa.sa_handler = on_io;
    sigaddset(&sa.sa_mask, SIGALRM);
    sigaction(SIGIO, &sa, NULL);
    sigemptyset(&none);
    sigaddset(&none, SIGIO);          /* taken only while waiting (keeper_main) */
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
    k->like = like;
    k->spare = -1;
    if (fstat(k->own, &k->folder) == 0)
        make_spare(k);
    watch_start(k);
    guard(k);   /* what moved before the watch began */
    report(out, 0);
    struct itimerval beat;
    beat.it_interval.tv_sec = (time_t)k->period;
    beat.it_interval.tv_usec = (suseconds_t)((k->period - (double)(time_t)k->period) * 1e6);
    beat.it_value = beat.it_interval;
    setitimer(ITIMER_REAL, &beat, NULL);
    sigset_t io;
    sigemptyset(&io);
    sigaddset(&io, SIGIO);
    for (;;) {
        sigprocmask(SIG_UNBLOCK, &io, NULL);   /* the guard runs in here */
        int rc = write_lock(fd, F_OFD_SETLKW, k->byte), lerr = errno;
        sigprocmask(SIG_BLOCK, &io, NULL);
        if (rc == 0)
            break;
        if (lerr != EINTR)   /* ENOLCK and the like: try again a beat later */
            pause();
        if (!beat_due)
            continue;
        beat_due = 0;
        guard(k);   /* without a watch, a beat later */
        if (named(k, &like) == k->pid && in_place(k))
            name_self(k, &like);
        if (k->spare != -1)
            write_info(k, k->spare, &k->like);   /* put back, it is as fresh */
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
