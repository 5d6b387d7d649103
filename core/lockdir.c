/* lockdir.c: the legacy lock folder's composite steps (lockdir.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fdio.h"
#include "lockdir.h"
#include "proc.h"

static int fail_with(struct lockdir_fail *fail, int err, const char *rel)
{
    fail->err = err;
    snprintf(fail->rel, sizeof fail->rel, "%s", rel);
    errno = err;
    return -1;
}

/* The pid in ent when it is NAME.tmp-DIGITS (0 for one that names no
 * process), or -1 when it is another name. */
static long tmp_pid(const char *ent, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(ent, name, n) != 0 || strncmp(ent + n, ".tmp-", 5) != 0 || ent[n + 5] == '\0')
        return -1;
    long v = 0;
    for (const char *p = ent + n + 5; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (v <= LOCKDIR_PID_MAX)
            v = v * 10 + (*p - '0');
    }
    return v > LOCKDIR_PID_MAX ? 0 : v;
}

/* A zombie is gone (proc_alive); a pid that cannot be judged is not. */
static int alive(long pid)
{
    return pid > 0 && proc_alive((pid_t)pid) != 0;
}

/* Removes the tree rel below dir; a name already gone is no failure. */
static int remove_tree(const char *dir, const char *rel, struct lockdir_fail *fail)
{
    if (beside_remove_tree(dir, rel, &fail->found, fail->inner, sizeof fail->inner) == 0
        || errno == ENOENT)
        return 0;
    return fail_with(fail, errno, rel);
}

int lockdir_sweep(const char *dir, const char *name, long self, struct lockdir_fail *fail)
{
    struct beside_found found = {0};
    int fd = beside_open_folder(dir, NULL, &found);
    if (fd == -1)
        return 0;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return 0;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        long pid = tmp_pid(e->d_name, name);
        if (pid < 0 || pid == self)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)
            && alive(pid))
            continue;
        rc = remove_tree(dir, e->d_name, fail);
    }
    closedir(d);
    return rc;
}

/* Writes text into rel below dir, a file made here and now. */
static int write_new(const char *dir, const char *rel, const char *text, size_t len,
                     const struct beside_like *like, struct lockdir_fail *fail)
{
    int fd = beside_open(dir, rel, O_WRONLY | O_CREAT | O_EXCL, like, &fail->found, NULL);
    if (fd == -1)
        return fail_with(fail, errno, rel);
    struct iovec iov = { (void *)text, len };
    int rc = fdio_write_all(fd, &iov, 1);
    int err = errno;
    if (close(fd) == -1 && rc == 0 && errno != EINTR) {
        rc = -1;
        err = errno;
    }
    return rc == 0 ? 0 : fail_with(fail, err, rel);
}

int lockdir_prepare(const char *dir, const char *name, long pid, const char *text,
                    size_t len, const struct beside_like *like, char *tmp, size_t cap,
                    int *stage, struct lockdir_fail *fail)
{
    *stage = 0;
    if (lockdir_sweep(dir, name, pid, fail) != 0)
        return -1;
    *stage = 1;
    char info[NAME_MAX + 8];
    if ((size_t)snprintf(tmp, cap, "%s.tmp-%ld", name, pid) >= cap
        || strlen(tmp) > NAME_MAX)
        return fail_with(fail, ENAMETOOLONG, name);
    snprintf(info, sizeof info, "%s/info", tmp);
    if (beside_mkdir(dir, tmp, like) == -1) {
        if (errno != EEXIST)
            return fail_with(fail, errno, tmp);
        /* left by a process that had our pid: it is gone */
        if (remove_tree(dir, tmp, fail) != 0)
            return -1;
        if (beside_mkdir(dir, tmp, like) == -1)
            return fail_with(fail, errno, tmp);
    }
    if (write_new(dir, info, text, len, like, fail) != 0) {
        struct lockdir_fail ignored = {0};
        remove_tree(dir, tmp, &ignored);
        return -1;
    }
    return 0;
}

/* info without its trailing blanks: its length */
static size_t trimmed(const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n'
                     || s[n - 1] == '\r' || s[n - 1] == '\f' || s[n - 1] == '\v'))
        n--;
    return n;
}

int lockdir_leave(const char *dir, const char *name, const char *away, const char *info,
                  struct lockdir_fail *fail)
{
    if (beside_rename(dir, name, away, BESIDE_FOLDER, 0, &fail->found) == -1) {
        int err = errno;
        if (err == ENOENT)
            return 0;
        if (fail->found.set || err == ELOOP || err == ENXIO || err == EMLINK || err == EISDIR
            || err == ENOTDIR)
            return fail_with(fail, err, fail->found.set ? name : away);
        /* an old folder of that name in the way */
        if (remove_tree(dir, away, fail) != 0)
            return -1;
        if (beside_rename(dir, name, away, BESIDE_FOLDER, 0, &fail->found) == -1) {
            err = errno;
            return err == ENOENT ? 0 : fail_with(fail, err, fail->found.set ? name : away);
        }
    }
    char rel[NAME_MAX + 8], buf[257];
    snprintf(rel, sizeof rel, "%s/info", away);
    ssize_t got = beside_read(dir, rel, buf, sizeof buf);
    int ours;
    if (got < 0)
        ours = info == NULL;
    else
        ours = info != NULL && trimmed(buf, (size_t)got) == trimmed(info, strlen(info))
               && memcmp(buf, info, trimmed(info, strlen(info))) == 0;
    if (ours)
        return 1;
    /* put back, best effort: someone may have made yet another */
    struct beside_found ignored = {0};
    beside_rename(dir, away, name, BESIDE_FOLDER, RENAME_NOREPLACE, &ignored);
    return 0;
}
