/* durable.c: crash-safe replacement of a file's content (temp file in the
 * same folder, fsync, rename, fsync of the folder), and the sweeping of temp
 * files a killed writer left behind. */
#include "durable.h"

#include "beside.h"
#include "fdio.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define TEMP_RANDOM 6   /* mkostemp's XXXXXX */

/* The file a path really names, split into its folder and its name. */
struct target {
    char *path;   /* the real target: path, or what its symlink resolves to */
    char *dir;    /* its folder: "." when it has no slash */
    char *base;   /* its last component */
};

static void target_free(struct target *t)
{
    int err = errno;
    free(t->path);
    free(t->dir);
    free(t->base);
    t->path = t->dir = t->base = NULL;
    errno = err;
}

/* Follows path when it is a symlink tasknum may follow (beside_link_trusted:
 * the link is the caller's, root's or its target's owner's; else ELOOP),
 * to the very file judged (a link swapped meanwhile: EAGAIN); a missing
 * file or a dangling link is taken as it is (the new file then replaces
 * the link itself). A path the caller resolved may still end in a link by
 * the time it is written, when a folder on the way is someone else's. */
static char *resolve(const char *path)
{
    struct stat link, target, st;
    int ok = beside_link_trusted(path, &link, &target);
    if (ok == -1)
        return errno == ENOENT ? strdup(path) : NULL;
    if (!S_ISLNK(link.st_mode))
        return strdup(path);
    if (!ok) {
        errno = ELOOP;
        return NULL;
    }
    char *real = realpath(path, NULL);
    if (real == NULL)
        return errno == ENOENT ? strdup(path) : NULL;
    if (stat(real, &st) == -1 || st.st_dev != target.st_dev || st.st_ino != target.st_ino) {
        free(real);
        errno = EAGAIN;
        return NULL;
    }
    return real;
}

static int target_init(struct target *t, const char *path)
{
    t->dir = t->base = NULL;
    t->path = resolve(path);
    if (t->path == NULL)
        return -1;
    const char *slash = strrchr(t->path, '/');
    if (slash == NULL)
        t->dir = strdup(".");
    else if (slash == t->path)
        t->dir = strdup("/");
    else
        t->dir = strndup(t->path, (size_t)(slash - t->path));
    t->base = strdup(slash == NULL ? t->path : slash + 1);
    if (t->dir == NULL || t->base == NULL) {
        target_free(t);
        return -1;
    }
    return 0;
}

static void set_where(char *where, size_t cap, const char *path)
{
    if (where != NULL && cap > 0)
        snprintf(where, cap, "%s", path);
}

/* Fails with the current errno, naming path. */
static int fail(char *where, size_t cap, const char *path)
{
    int err = errno;
    set_where(where, cap, path);
    errno = err;
    return -1;
}

/* The permission bits a new file gets from open(..., 0644): 0644 & ~umask. */
static mode_t new_file_mode(void)
{
    return 0644 & ~beside_umask();
}

/* Whether name is in a namespace whose attributes the security module
 * decides for a new file (an SELinux label): copied when allowed, else
 * left to it. */
static int lsm_owned(const char *name)
{
    return strncmp(name, "security.", 9) == 0;
}

/* Copies one extended attribute of path onto fd. */
static int copy_xattr(int fd, const char *path, const char *name)
{
    ssize_t n = lgetxattr(path, name, NULL, 0);
    if (n == -1)
        return errno == ENODATA ? 0 : -1;   /* removed meanwhile */
    char *value = malloc(n > 0 ? (size_t)n : 1);
    if (value == NULL)
        return -1;
    n = lgetxattr(path, name, value, (size_t)n);
    int rc = n == -1 ? -1 : fsetxattr(fd, name, value, (size_t)n, 0);
    int err = errno;
    free(value);
    if (rc == -1 && n != -1 && lsm_owned(name))
        return 0;
    errno = err;
    return rc;
}

/* Copies every extended attribute of path onto fd: user.* ones, the POSIX
 * ACL (system.posix_acl_access), trusted.* when root. A file system
 * without them has none to copy. */
static int copy_xattrs(int fd, const char *path)
{
    char *names = NULL;
    ssize_t n = -1;
    for (int tries = 0; tries < 4; tries++) {   /* the list may grow meanwhile */
        n = llistxattr(path, NULL, 0);
        if (n <= 0)
            break;
        free(names);
        names = malloc((size_t)n);
        if (names == NULL)
            return -1;
        n = llistxattr(path, names, (size_t)n);
        if (n != -1 || errno != ERANGE)
            break;
    }
    int rc = 0;
    if (n == -1)
        rc = errno == ENOTSUP ? 0 : -1;
    for (ssize_t i = 0; rc == 0 && i < n; i += (ssize_t)strlen(names + i) + 1)
        rc = copy_xattr(fd, path, names + i);
    int err = errno;
    free(names);
    errno = err;
    return rc;
}

/* The new file keeps the old one's group: as root by chown (with the
 * owner), else by chown to that group when the caller is a member. One
 * that cannot be kept is a failure when the group has rights that others
 * lack (the team would be locked out of the state); else the file moves to
 * the caller's group, which changes nobody's access. */
static int keep_owner(int fd, const struct stat *st)
{
    if (geteuid() == 0)
        return fchown(fd, st->st_uid, st->st_gid);
    struct stat now;
    if (fstat(fd, &now) == -1)
        return -1;
    if (now.st_gid == st->st_gid || fchown(fd, (uid_t)-1, st->st_gid) == 0)
        return 0;
    if (errno != EPERM)
        return -1;
    mode_t group = (st->st_mode >> 3) & 7, other = st->st_mode & 7;
    return (group & ~other) ? -1 : 0;
}

/* Gives the temp file the target's owner and group (see keep_owner), its
 * extended attributes and ACL, then its mode: chown first (it clears
 * set-id bits), the ACL before the mode (chmod sets the ACL mask from the
 * group bits, which are the old mask). A new file (no target) takes like's
 * group, owner and mode when given, else 0644 less the umask. */
static int copy_attributes(int fd, const char *path, const struct stat *st, int exists,
                           const struct beside_like *like, int *group_lost)
{
    if (!exists)
        return like != NULL && like->known ? beside_adopt(fd, like, 0) : fchmod(fd, new_file_mode());
    if (keep_owner(fd, st) == -1) {
        *group_lost = errno == EPERM;
        return -1;
    }
    if (copy_xattrs(fd, path) == -1)
        return -1;
    return fchmod(fd, st->st_mode & 07777);
}

/* Writes, syncs and closes the temp file; closes fd on every path. On Linux
 * close() releases fd even when it fails; EINTR there loses nothing, since
 * fsync has already returned. */
static int fill_temp(int fd, const struct iovec *iov, int iovcnt)
{
    if (fdio_write_all(fd, iov, iovcnt) == -1 || fsync(fd) == -1) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    if (close(fd) == -1 && errno != EINTR)
        return -1;
    return 0;
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    if (fsync(fd) == -1) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    close(fd);
    return 0;
}

/* Gives up on the temp file: removes it, names about, keeps errno. */
static int discard(const char *tmp, char *where, size_t cap, const char *about)
{
    int err = errno;
    unlink(tmp);
    set_where(where, cap, about);
    errno = err;
    return -1;
}

/* Prepares and fills the temp file; closes fd on every path. */
static int write_temp(int fd, const struct target *t, const struct stat *st, int exists,
                      const struct beside_like *like, int *group_lost,
                      const struct iovec *iov, int iovcnt)
{
    if (copy_attributes(fd, t->path, st, exists, like, group_lost) == -1) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fill_temp(fd, iov, iovcnt);
}

/* What is at the target, not following a link (resolve() followed those):
 * 1 a regular file (st filled), 0 nothing, -1 with errno: the lstat's, or
 * ELOOP, EISDIR, ENXIO for something no file content can replace. */
static int target_state(const char *path, struct stat *st)
{
    if (lstat(path, st) == -1)
        return errno == ENOENT ? 0 : -1;
    if (S_ISREG(st->st_mode))
        return 1;
    errno = S_ISLNK(st->st_mode) ? ELOOP : S_ISDIR(st->st_mode) ? EISDIR : ENXIO;
    return -1;
}

/* Creates, fills and renames the temp file for t. tmp holds the mkostemp
 * template and receives the temp file's name. */
static int replace_via(const struct target *t, char *tmp,
                       const struct iovec *iov, int iovcnt, int exclusive,
                       const struct beside_like *like,
                       const volatile sig_atomic_t *cancel,
                       char *where, size_t cap)
{
    struct stat st;
    int group_lost = 0;
    memset(&st, 0, sizeof st);
    int exists = exclusive ? 0 : target_state(t->path, &st);
    if (exists == -1)
        return fail(where, cap, t->path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd == -1)
        return fail(where, cap, t->dir);
    if (write_temp(fd, t, &st, exists, like, &group_lost, iov, iovcnt) == -1) {
        if (!group_lost)
            return discard(tmp, where, cap, tmp);
        char about[4096];
        snprintf(about, sizeof about, "%s (its group %ld, which the new file cannot keep: "
                 "you are not a member)", t->path, (long)st.st_gid);
        return discard(tmp, where, cap, about);
    }
    if (cancel != NULL && *cancel != 0) {
        errno = EINTR;
        return discard(tmp, where, cap, t->path);
    }
    if (exclusive) {
        /* link() fails with EEXIST where rename() would replace */
        if (link(tmp, t->path) == -1)
            return discard(tmp, where, cap, t->path);
        unlink(tmp);
    } else if (rename(tmp, t->path) == -1) {
        return discard(tmp, where, cap, t->path);
    }
    /* From here the new content is in place; a failure only means it is
     * not yet known to survive a crash. */
    if (sync_dir(t->dir) == -1)
        return fail(where, cap, t->dir);
    return 0;
}

int durable_replace(const char *path, const char *data, size_t len,
                    const volatile sig_atomic_t *cancel,
                    char *where, size_t cap)
{
    struct iovec iov = {(void *)(uintptr_t)data, len};
    return durable_replacev(path, &iov, 1, cancel, where, cap);
}

static int write_file(const char *path, const struct iovec *iov, int iovcnt,
                      int exclusive, const struct beside_like *like,
                      const volatile sig_atomic_t *cancel,
                      char *where, size_t cap)
{
    struct target t;
    if (target_init(&t, path) == -1)
        return fail(where, cap, path);
    char *tmp = NULL;
    int rc = -1;
    if (asprintf(&tmp, "%s/.%s" DURABLE_TEMP_TAG "XXXXXX", t.dir, t.base) < 0)
        fail(where, cap, path);
    else
        rc = replace_via(&t, tmp, iov, iovcnt, exclusive, like, cancel, where, cap);
    int err = errno;
    free(tmp);
    target_free(&t);
    errno = err;
    return rc;
}

int durable_replacev(const char *path, const struct iovec *iov, int iovcnt,
                     const volatile sig_atomic_t *cancel,
                     char *where, size_t cap)
{
    return write_file(path, iov, iovcnt, 0, NULL, cancel, where, cap);
}

int durable_create(const char *path, const char *data, size_t len,
                   const char *like, char *where, size_t cap)
{
    struct iovec iov = {(void *)(uintptr_t)data, len};
    struct beside_like model = {0};
    if (like != NULL && beside_like_of(like, &model) == -1)
        return fail(where, cap, like);
    return write_file(path, &iov, 1, 1, &model, NULL, where, cap);
}

int durable_overwrite(const char *path, off_t at, const void *data, size_t len, int flush,
                      char *where, size_t cap)
{
    /* never through a link, never on a FIFO or a file with other names */
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd == -1)
        return fail(where, cap, path);
    int err = 0;
    if (fstat(fd, &st) == -1)
        err = errno;
    else if (!S_ISREG(st.st_mode))
        err = ENXIO;
    else if (st.st_nlink > 1)
        err = EMLINK;
    if (err == 0 && (fdio_pwrite_all(fd, data, len, at) == -1 || (flush && fdatasync(fd) == -1)))
        err = errno;
    if (err != 0) {
        close(fd);
        errno = err;
        return fail(where, cap, path);
    }
    /* On Linux close() releases fd even when it fails; the data is synced */
    if (close(fd) == -1 && errno != EINTR)
        return fail(where, cap, path);
    return 0;
}

/* Whether name is "." + base + DURABLE_TEMP_TAG + six mkostemp characters. */
static int is_temp_of(const char *name, const char *base)
{
    size_t blen = strlen(base), tlen = strlen(DURABLE_TEMP_TAG);
    if (strlen(name) != 1 + blen + tlen + TEMP_RANDOM || name[0] != '.')
        return 0;
    if (strncmp(name + 1, base, blen) != 0 ||
        strncmp(name + 1 + blen, DURABLE_TEMP_TAG, tlen) != 0)
        return 0;
    for (const char *p = name + 1 + blen + tlen; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p))
            return 0;
    return 1;
}

/* Counts the temp files beside path's real target, removing them when
 * remove is set. Only regular files are temp files (whatever their link
 * count: a durable_create killed between its link and its unlink leaves
 * one with two, and removing a name removes only that name); anything else
 * in such a name is foreign: -1, errno as beside_open's, found and where
 * naming it, nothing removed. */
static int scan_temps(const char *path, int remove, struct beside_found *found,
                      char *where, size_t cap)
{
    struct target t;
    if (target_init(&t, path) == -1)
        return -1;
    DIR *d = opendir(t.dir);
    int n = d == NULL ? -1 : 0;
    struct dirent *e;
    while (n >= 0 && (errno = 0, e = readdir(d)) != NULL) {
        struct stat st;
        if (!is_temp_of(e->d_name, t.base))
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
            if (errno != ENOENT)
                n = -1;
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            if (found != NULL) {
                found->set = 1;
                found->st = st;
                found->len = strlen(e->d_name);
            }
            if (where != NULL && cap > 0)
                snprintf(where, cap, "%s", e->d_name);
            errno = S_ISLNK(st.st_mode) ? ELOOP : S_ISDIR(st.st_mode) ? EISDIR : ENXIO;
            n = -1;
            break;
        }
        if (!remove || unlinkat(dirfd(d), e->d_name, 0) == 0)
            n++;
        else if (errno != ENOENT)   /* ENOENT: someone else removed it */
            n = -1;
    }
    if (n >= 0 && errno != 0)
        n = -1;   /* readdir failed */
    int err = errno;
    if (d != NULL)
        closedir(d);
    target_free(&t);
    errno = err;
    return n;
}

int durable_sweep(const char *path, struct beside_found *found, char *where, size_t cap)
{
    return scan_temps(path, 1, found, where, cap);
}

int durable_count_temps(const char *path, struct beside_found *found, char *where, size_t cap)
{
    return scan_temps(path, 0, found, where, cap);
}

int durable_folder(const char *path, char *dir, size_t cap)
{
    struct target t;
    if (target_init(&t, path) == -1)
        return -1;
    snprintf(dir, cap, "%s", t.dir);
    target_free(&t);
    return 0;
}
