/* durable.c: crash-safe replacement of a file's content (temp file in the
 * same folder, fsync, rename, fsync of the folder), and the sweeping of temp
 * files a killed writer left behind. */
#include "durable.h"

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

/* Follows path when it is a symlink; a missing file or a dangling link is
 * taken as it is (the new file then replaces the link itself). */
static char *resolve(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        char *real = realpath(path, NULL);
        if (real != NULL || errno != ENOENT)
            return real;
    }
    return strdup(path);
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

/* The permission bits a new file gets from open(..., 0644): 0644 & ~umask.
 * umask(2) can only be read by changing it, which races with other threads,
 * so read it from /proc when possible. */
static mode_t new_file_mode(void)
{
    unsigned mask = 022;
    FILE *f = fopen("/proc/self/status", "re");
    char line[128];
    int found = 0;
    while (f != NULL && !found && fgets(line, sizeof line, f) != NULL)
        found = sscanf(line, "Umask: %o", &mask) == 1;
    if (f != NULL)
        fclose(f);
    if (!found) {
        mode_t m = umask(022);
        umask(m);
        mask = m;
    }
    return 0644 & ~(mode_t)mask;
}

/* Gives the temp file the target's mode, and its owner when we are root
 * (chown first: it clears set-id bits that chmod then restores). */
static int copy_attributes(int fd, const struct stat *st, int exists)
{
    if (!exists)
        return fchmod(fd, new_file_mode());
    if (geteuid() == 0 && fchown(fd, st->st_uid, st->st_gid) == -1)
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
static int write_temp(int fd, const struct stat *st, int exists,
                      const struct iovec *iov, int iovcnt)
{
    if (copy_attributes(fd, st, exists) == -1) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fill_temp(fd, iov, iovcnt);
}

/* Creates, fills and renames the temp file for t. tmp holds the mkostemp
 * template and receives the temp file's name. */
static int replace_via(const struct target *t, char *tmp,
                       const struct iovec *iov, int iovcnt, int exclusive,
                       const volatile sig_atomic_t *cancel,
                       char *where, size_t cap)
{
    struct stat st;
    int exists = stat(t->path, &st) == 0;
    if (!exists && errno != ENOENT)
        return fail(where, cap, t->path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd == -1)
        return fail(where, cap, t->dir);
    if (write_temp(fd, &st, exists, iov, iovcnt) == -1)
        return discard(tmp, where, cap, tmp);
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
                      int exclusive, const volatile sig_atomic_t *cancel,
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
        rc = replace_via(&t, tmp, iov, iovcnt, exclusive, cancel, where, cap);
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
    return write_file(path, iov, iovcnt, 0, cancel, where, cap);
}

int durable_create(const char *path, const char *data, size_t len,
                   char *where, size_t cap)
{
    struct iovec iov = {(void *)(uintptr_t)data, len};
    return write_file(path, &iov, 1, 1, NULL, where, cap);
}

int durable_overwrite(const char *path, off_t at, const void *data, size_t len,
                      char *where, size_t cap)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd == -1)
        return fail(where, cap, path);
    if (fdio_pwrite_all(fd, data, len, at) == -1 || fdatasync(fd) == -1) {
        int err = errno;
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
 * remove is set. Directories of that name are never touched. */
static int scan_temps(const char *path, int remove)
{
    struct target t;
    if (target_init(&t, path) == -1)
        return -1;
    DIR *d = opendir(t.dir);
    int n = d == NULL ? -1 : 0;
    struct dirent *e;
    while (n >= 0 && (errno = 0, e = readdir(d)) != NULL) {
        struct stat st;
        if (!is_temp_of(e->d_name, t.base) ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
            S_ISDIR(st.st_mode))
            continue;
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

int durable_sweep(const char *path)
{
    return scan_temps(path, 1);
}

int durable_count_temps(const char *path)
{
    return scan_temps(path, 0);
}
