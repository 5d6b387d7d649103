/* beside.c: opening, making, renaming and removing the files kept beside a
 * state without following links (see beside.h). Every name below the
 * trusted folder is reached with openat/mkdirat/unlinkat/renameat2 relative
 * to a descriptor, its folders opened O_NOFOLLOW, and what is found is
 * judged from fstat of the opened descriptor or fstatat(AT_SYMLINK_NOFOLLOW). */
#include "beside.h"

#include "fdio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CREATE_TRIES 8   /* made and removed by others in between: give up */

static int fail_keep(int fd)
{
    int err = errno;
    if (fd >= 0)
        close(fd);
    errno = err;
    return -1;
}

/* Records what is at name (below fd) as found; len: how much of rel it is. */
static void note(int fd, const char *name, size_t len, struct beside_found *found)
{
    struct stat st;
    if (found == NULL || fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
        return;
    found->set = 1;
    found->st = st;
    found->len = len;
}

static void note_st(const struct stat *st, size_t len, struct beside_found *found)
{
    if (found == NULL)
        return;
    found->set = 1;
    found->st = *st;
    found->len = len;
}

/* The errno for a foreign object st where kind belongs, or 0 if it fits. */
static int misfit(const struct stat *st, enum beside_kind kind)
{
    if (S_ISLNK(st->st_mode))
        return ELOOP;
    if (kind == BESIDE_FOLDER)
        return S_ISDIR(st->st_mode) ? 0 : ENOTDIR;
    if (S_ISDIR(st->st_mode))
        return EISDIR;
    if (!S_ISREG(st->st_mode))
        return ENXIO;
    return 0;
}

/* Whether a name is one component that may be walked or made. */
static int plain_name(const char *name, size_t n)
{
    if (n == 0 || n > NAME_MAX)
        return 0;
    if (name[0] == '.' && (n == 1 || (n == 2 && name[1] == '.')))
        return 0;
    return memchr(name, '/', n) == NULL;
}

/* Opens dir (links followed: the caller trusts it) and each folder of rel
 * but its last name (links not followed). Returns a descriptor of the
 * folder holding the last name, which *last points at; -1 with errno. */
static int walk(const char *dir, const char *rel, const char **last,
                struct beside_found *found)
{
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    const char *p = rel;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash == NULL ? strlen(p) : (size_t)(slash - p);
        if (!plain_name(p, n)) {
            close(fd);
            errno = EINVAL;
            return -1;
        }
        if (slash == NULL) {
            *last = p;
            return fd;
        }
        char name[NAME_MAX + 1];
        memcpy(name, p, n);
        name[n] = '\0';
        int next = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next == -1) {
            int err = errno;
            struct stat st;
            if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && misfit(&st, BESIDE_FOLDER)) {
                err = misfit(&st, BESIDE_FOLDER);
                note_st(&st, (size_t)(slash - rel), found);
            }
            close(fd);
            errno = err;
            return -1;
        }
        close(fd);
        fd = next;
        p = slash + 1;
    }
}

int beside_like_of(const char *path, struct beside_like *like)
{
    struct stat st;
    like->known = 0;
    if (stat(path, &st) == -1)
        return errno == ENOENT ? 0 : -1;
    like->known = 1;
    like->mode = st.st_mode & 07777;
    like->uid = st.st_uid;
    like->gid = st.st_gid;
    return 0;
}

mode_t beside_file_mode(mode_t m)
{
    return (m & 0666) | 0600;
}

mode_t beside_folder_mode(mode_t m)
{
    mode_t f = beside_file_mode(m);
    return f | ((f & 0444) >> 2);
}

mode_t beside_umask(void)
{
    unsigned mask = 022;
    int found = 0;
    char buf[2048];
    if (fdio_read_small("/proc/self/status", 0, buf, sizeof buf) >= 0) {
        const char *line = strstr(buf, "\nUmask:");
        found = line != NULL && sscanf(line, "\nUmask: %o", &mask) == 1;
    }
    if (!found) {   /* no /proc: umask(2) reads it only by changing it */
        mode_t m = umask(022);
        umask(m);
        mask = m;
    }
    return (mode_t)mask & 0777;
}

int beside_adopt(int fd, const struct beside_like *like, int folder)
{
    if (like == NULL || !like->known)
        return 0;
    if (geteuid() == 0) {
        if (fchown(fd, like->uid, like->gid) == -1)
            return -1;
    } else if (fchown(fd, (uid_t)-1, like->gid) == -1 && errno != EPERM) {
        return -1;   /* EPERM: not a member of that group; ours stays */
    }
    return fchmod(fd, folder ? beside_folder_mode(like->mode) : beside_file_mode(like->mode));
}

/* Opens last below pfd as beside_open says; made tells whether it was made. */
static int open_below(int pfd, const char *last, int flags, int *made)
{
    int base = (flags & (O_ACCMODE | O_APPEND)) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
    *made = 0;
    for (int i = 0; i < CREATE_TRIES; i++) {
        struct stat st;
        /* look first: never even open a FIFO or a device */
        if (!(flags & O_EXCL) && fstatat(pfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            if (misfit(&st, BESIDE_FILE)) {
                errno = misfit(&st, BESIDE_FILE);
                return -1;
            }
            int fd = openat(pfd, last, base);
            if (fd != -1 || errno != ENOENT || !(flags & O_CREAT))
                return fd;
        } else if (!(flags & O_EXCL) && (errno != ENOENT || !(flags & O_CREAT))) {
            return -1;
        }
        int fd = openat(pfd, last, base | O_CREAT | O_EXCL, 0666);
        if (fd != -1) {
            *made = 1;
            return fd;
        }
        if (errno != EEXIST || (flags & O_EXCL))
            return -1;
    }
    errno = EEXIST;
    return -1;
}

int beside_open(const char *dir, const char *rel, int flags,
                const struct beside_like *like, struct beside_found *found,
                int *created)
{
    const char *last;
    int made = 0;
    if (created != NULL)
        *created = 0;
    if (flags & O_TRUNC) {
        errno = EINVAL;
        return -1;
    }
    int pfd = walk(dir, rel, &last, found);
    if (pfd == -1)
        return -1;
    int fd = open_below(pfd, last, flags, &made);
    if (fd == -1) {
        int err = errno;
        if (err == ELOOP || err == ENXIO || err == EISDIR || err == EEXIST)
            note(pfd, last, strlen(rel), found);
        close(pfd);
        errno = err;
        return -1;
    }
    struct stat st;
    int err = 0;
    memset(&st, 0, sizeof st);
    if (fstat(fd, &st) == -1)
        err = errno;
    else if (misfit(&st, BESIDE_FILE))
        err = misfit(&st, BESIDE_FILE);
    else if (st.st_nlink > 1)
        err = EMLINK;
    else if (made && like != NULL && like->known && beside_adopt(fd, like, 0) == -1)
        err = errno;
    else if (made && (like == NULL || !like->known) && fchmod(fd, 0666 & ~beside_umask()) == -1)
        err = errno;
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) == -1)
        err = errno;
    if (err != 0) {
        if (err == ENXIO || err == EISDIR || err == ELOOP || err == EMLINK)
            note_st(&st, strlen(rel), found);
        if (made)
            unlinkat(pfd, last, 0);
        close(fd);
        close(pfd);
        errno = err;
        return -1;
    }
    close(pfd);
    if (created != NULL)
        *created = made;
    return fd;
}

int beside_open_folder(const char *dir, const char *rel, struct beside_found *found)
{
    if (rel == NULL || rel[0] == '\0')
        return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const char *last;
    int pfd = walk(dir, rel, &last, found);
    if (pfd == -1)
        return -1;
    int fd = openat(pfd, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd == -1 && (errno == ELOOP || errno == ENOTDIR)) {
        int err = errno;
        note(pfd, last, strlen(rel), found);
        errno = err;
    }
    int err = errno;
    close(pfd);
    errno = err;
    return fd;
}

ssize_t beside_read(const char *dir, const char *rel, char *buf, size_t cap)
{
    if (cap == 0) {
        errno = EINVAL;
        return -1;
    }
    int fd = beside_open(dir, rel, O_RDONLY, NULL, NULL, NULL);
    if (fd == -1)
        return -1;
    ssize_t len = fdio_read_all(fd, buf, cap - 1);
    if (len < 0)
        return fail_keep(fd);
    close(fd);
    buf[len] = '\0';
    return len;
}

int beside_stat(const char *dir, const char *rel, struct stat *st)
{
    const char *last;
    int pfd = walk(dir, rel, &last, NULL);
    if (pfd == -1)
        return -1;
    int rc = fstatat(pfd, last, st, AT_SYMLINK_NOFOLLOW);
    int err = errno;
    close(pfd);
    errno = err;
    return rc;
}

int beside_mkdir(const char *dir, const char *rel, const struct beside_like *like)
{
    const char *last;
    int pfd = walk(dir, rel, &last, NULL);
    if (pfd == -1)
        return -1;
    if (mkdirat(pfd, last, 0700) == -1)
        return fail_keep(pfd);
    /* the folder found now must be the one just made: a folder, ours */
    int fd = openat(pfd, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    int err = 0;
    if (fd == -1 || fstat(fd, &st) == -1)
        err = errno;
    else if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
        err = EEXIST;   /* replaced by someone else's: theirs, left alone */
    else if (like != NULL && like->known)
        err = beside_adopt(fd, like, 1) == -1 ? errno : 0;
    else
        err = fchmod(fd, 0755 & ~beside_umask()) == -1 ? errno : 0;
    if (err != 0 && err != EEXIST)
        unlinkat(pfd, last, AT_REMOVEDIR);
    if (fd != -1)
        close(fd);
    close(pfd);
    errno = err;
    return err == 0 ? 0 : -1;
}

int beside_remove(const char *dir, const char *rel, enum beside_kind kind,
                  struct beside_found *found)
{
    const char *last;
    struct stat st;
    int pfd = walk(dir, rel, &last, found);
    if (pfd == -1)
        return -1;
    if (fstatat(pfd, last, &st, AT_SYMLINK_NOFOLLOW) == -1)
        return fail_keep(pfd);
    int err = misfit(&st, kind);
    if (err == 0 && unlinkat(pfd, last, kind == BESIDE_FOLDER ? AT_REMOVEDIR : 0) == -1)
        err = errno;
    else if (err != 0)
        note_st(&st, strlen(rel), found);
    close(pfd);
    errno = err;
    return err == 0 ? 0 : -1;
}

/* Removes the names in the open folder fd; a folder among them is foreign:
 * ENOTEMPTY, its name in sub. fd is closed. */
static int empty_folder(int fd, char *sub, size_t cap)
{
    DIR *d = fdopendir(fd);
    if (d == NULL)
        return fail_keep(fd);
    struct dirent *e;
    int err = 0;
    while (err == 0 && (errno = 0, e = readdir(d)) != NULL) {
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
            err = errno == ENOENT ? 0 : errno;
        } else if (S_ISDIR(st.st_mode)) {
            snprintf(sub, cap, "%s", e->d_name);
            err = ENOTEMPTY;
        } else if (unlinkat(dirfd(d), e->d_name, 0) == -1 && errno != ENOENT) {
            err = errno;
        }
    }
    if (err == 0 && errno != 0)
        err = errno;   /* readdir failed */
    closedir(d);
    errno = err;
    return err == 0 ? 0 : -1;
}

int beside_remove_tree(const char *dir, const char *rel, struct beside_found *found,
                       char *where, size_t cap)
{
    const char *last;
    char sub[NAME_MAX + 1] = "";
    int pfd = walk(dir, rel, &last, found);
    if (pfd == -1)
        return -1;
    int fd = openat(pfd, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int err = 0;
    if (fd == -1) {
        err = errno;
        if (err == ELOOP || err == ENOTDIR)
            note(pfd, last, strlen(rel), found);
    } else if (empty_folder(fd, sub, sizeof sub) == -1) {
        err = errno;
        if (err == ENOTEMPTY && where != NULL && cap > 0)
            snprintf(where, cap, "%s/%s", rel, sub);
    } else if (unlinkat(pfd, last, AT_REMOVEDIR) == -1) {
        err = errno;   /* ENOTEMPTY: something was put in meanwhile */
    }
    close(pfd);
    errno = err;
    return err == 0 ? 0 : -1;
}

int beside_rename(const char *dir, const char *from, const char *to,
                  enum beside_kind kind, unsigned flags, struct beside_found *found)
{
    const char *lfrom, *lto;
    struct stat st;
    int ffd = walk(dir, from, &lfrom, found);
    if (ffd == -1)
        return -1;
    int tfd = walk(dir, to, &lto, found);
    if (tfd == -1)
        return fail_keep(ffd);
    int err = 0;
    if (fstatat(ffd, lfrom, &st, AT_SYMLINK_NOFOLLOW) == -1) {
        err = errno;
    } else if (misfit(&st, kind)) {
        err = misfit(&st, kind);
        note_st(&st, strlen(from), found);
    } else if (renameat2(ffd, lfrom, tfd, lto, flags) == -1) {
        err = errno;
    }
    close(ffd);
    close(tfd);
    errno = err;
    return err == 0 ? 0 : -1;
}

int beside_touch(const char *dir, const char *rel)
{
    const char *last;
    int pfd = walk(dir, rel, &last, NULL);
    if (pfd == -1)
        return -1;
    int rc = utimensat(pfd, last, NULL, AT_SYMLINK_NOFOLLOW);
    int err = errno;
    close(pfd);
    errno = err;
    return rc;
}

int beside_link_trusted(const char *path, struct stat *link, struct stat *target)
{
    if (lstat(path, link) == -1)
        return -1;
    if (!S_ISLNK(link->st_mode))
        return 1;
    if (stat(path, target) == -1)
        return -1;
    return link->st_uid == geteuid() || link->st_uid == 0 || link->st_uid == target->st_uid;
}

const char *beside_what(const struct stat *st)
{
    if (S_ISLNK(st->st_mode))
        return "a symbolic link";
    if (S_ISFIFO(st->st_mode))
        return "a FIFO";
    if (S_ISSOCK(st->st_mode))
        return "a socket";
    if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
        return "a device";
    if (S_ISDIR(st->st_mode))
        return "a folder";
    if (S_ISREG(st->st_mode) && st->st_nlink > 1)
        return "a file with other hard links";
    return "a file";
}

void beside_message(char *buf, size_t cap, const char *dir, const char *rel,
                    int err, const struct beside_found *found)
{
    int foreign = found != NULL && found->set && err != ENOENT && err != EACCES && err != EPERM;
    size_t n = foreign ? found->len : strlen(rel);
    const char *sep = n > 0 && dir[0] != '\0' && dir[strlen(dir) - 1] != '/' ? "/" : "";
    if (foreign) {
        snprintf(buf, cap, "%s%s%.*s: is %s, not %s (%s); tasknum leaves it in place: "
                 "it never follows, writes or removes such a thing beside the state",
                 dir, sep, (int)found->len, rel, beside_what(&found->st),
                 err == ENOTDIR ? "a folder" : "a regular file with one name", strerror(err));
        return;
    }
    snprintf(buf, cap, "%s%s%s: %s", dir, sep, rel, strerror(err));
}
