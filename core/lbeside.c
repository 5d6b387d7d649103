/* lbeside.c: the beside library of tasknum.core: the files kept beside a
 * state, reached without following links (beside.c). Every function takes
 * the trusted folder (the real folder of the state) and a name below it,
 * one or two components ("info", ".state.lock/info"); like, where given, is
 * the path of the state whose owner, group and mode a new file takes.
 * Failures: nil, message, errno; a foreign object in the name (a link, a
 * FIFO, a folder where a file belongs, a file with other hard links) is
 * ELOOP, ENXIO, EISDIR/ENOTDIR or EMLINK with a message naming it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "beside.h"
#include "fdio.h"
#include "lutil.h"

#define DIR_MT "tasknum.beside.dir"

/* The failure triple for err on rel below dir. */
static int failed(lua_State *L, int err, const char *dir, const char *rel,
                  const struct beside_found *found)
{
    char msg[8192];
    beside_message(msg, sizeof msg, dir, rel, err, found);
    return lutil_failmsg(L, err, msg);
}

/* The model of the optional argument i (a path): like, or NULL. */
static const struct beside_like *like_arg(lua_State *L, int i, struct beside_like *like)
{
    const char *path = luaL_optstring(L, i, NULL);
    if (path == NULL || beside_like_of(path, like) == -1 || !like->known)
        return NULL;
    return like;
}

static enum beside_kind kind_arg(lua_State *L, int i)
{
    static const char *const names[] = {"file", "folder", NULL};
    return luaL_checkoption(L, i, "file", names) == 0 ? BESIDE_FILE : BESIDE_FOLDER;
}

/* readat(dir, rel [, cap]) -> text (up to cap bytes, default 64 KB) */
static int l_readat(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1), *rel = luaL_checkstring(L, 2);
    lua_Integer cap = luaL_optinteger(L, 3, 65536);
    luaL_argcheck(L, cap >= 0 && cap <= INT32_MAX, 3, "out of range");
    struct beside_found found = {0};
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, (size_t)cap);   /* before the open: it may raise */
    int fd = beside_open(dir, rel, O_RDONLY, NULL, &found, NULL);
    if (fd == -1)
        return failed(L, errno, dir, rel, &found);
    ssize_t got = fdio_read_all(fd, p, (size_t)cap);
    int err = errno;
    close(fd);
    if (got < 0)
        return failed(L, err, dir, rel, NULL);
    luaL_pushresultsize(&b, (size_t)got);
    return 1;
}

/* Opens rel below dir with flags (made with the model like, argument 4)
 * and writes text (argument 3) with ONE write(2). For the audit log
 * (O_APPEND) one write is what keeps lines written at once by several
 * processes from interleaving; a short write (a full disk) is ended with a
 * newline there, so that the next line starts on its own. */
static int write_text(lua_State *L, int flags)
{
    const char *dir = luaL_checkstring(L, 1), *rel = luaL_checkstring(L, 2);
    size_t len;
    const char *text = luaL_checklstring(L, 3, &len);
    struct beside_like like;
    struct beside_found found = {0};
    int fd = beside_open(dir, rel, flags, like_arg(L, 4, &like), &found, NULL);
    if (fd == -1)
        return failed(L, errno, dir, rel, &found);
    ssize_t n;
    do
        n = write(fd, text, len);
    while (n == -1 && errno == EINTR);
    int err = n < 0 ? errno : ENOSPC;
    if (n > 0 && (size_t)n < len && (flags & O_APPEND) && write(fd, "\n", 1) == -1) {
        /* nothing more to do: the disk is full */
    }
    if (close(fd) == -1 && n >= 0 && (size_t)n == len && errno != EINTR) {
        err = errno;
        n = -1;
    }
    if (n < 0 || (size_t)n < len) {
        failed(L, err, dir, rel, NULL);
        lua_pushinteger(L, n < 0 ? 0 : n);
        return 4;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* appendat(dir, rel, line [, like]) -> true | nil, message, errno, written:
 * appends line in one write on an O_APPEND descriptor, making the file
 * when it is missing */
static int l_appendat(lua_State *L)
{
    return write_text(L, O_WRONLY | O_APPEND | O_CREAT);
}

/* writeat(dir, rel, text [, like]) -> true | nil, message, errno, written:
 * makes the file (nothing may be there) and writes text */
static int l_writeat(lua_State *L)
{
    return write_text(L, O_WRONLY | O_CREAT | O_EXCL);
}

/* mkdirat(dir, rel [, like]) -> true (EEXIST when something is there) */
static int l_mkdirat(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1), *rel = luaL_checkstring(L, 2);
    struct beside_like like;
    if (beside_mkdir(dir, rel, like_arg(L, 3, &like)) == -1)
        return failed(L, errno, dir, rel, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

/* removeat(dir, rel [, kind]) -> true: kind "file" (default), "folder"
 * (empty) or "tree" (a folder and the names in it, no folder among them) */
static int l_removeat(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1), *rel = luaL_checkstring(L, 2);
    const char *kind = luaL_optstring(L, 3, "file");
    struct beside_found found = {0};
    char inner[4096] = "";
    int rc;
    if (strcmp(kind, "tree") == 0)
        rc = beside_remove_tree(dir, rel, &found, inner, sizeof inner);
    else
        rc = beside_remove(dir, rel, kind_arg(L, 3), &found);
    if (rc == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    int err = errno;
    if (err == ENOTEMPTY && inner[0] != '\0') {
        char msg[8192];
        snprintf(msg, sizeof msg, "%s/%s: is a folder inside a folder tasknum removes; "
                 "tasknum leaves it in place", dir, inner);
        return lutil_failmsg(L, err, msg);
    }
    return failed(L, err, dir, rel, &found);
}

/* renameat(dir, from, to [, kind [, noreplace]]) -> true */
static int l_renameat(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1), *from = luaL_checkstring(L, 2);
    const char *to = luaL_checkstring(L, 3);
    enum beside_kind kind = kind_arg(L, 4);
    unsigned flags = lua_toboolean(L, 5) ? RENAME_NOREPLACE : 0;
    struct beside_found found = {0};
    if (beside_rename(dir, from, to, kind, flags, &found) == -1) {
        int err = errno;
        return failed(L, err, dir, found.set ? from : to, &found);
    }
    lua_pushboolean(L, 1);
    return 1;
}

typedef struct dir_box { DIR *d; } dir_box;

static int dir_gc(lua_State *L)
{
    dir_box *b = (dir_box *)luaL_checkudata(L, 1, DIR_MT);
    if (b->d != NULL)
        closedir(b->d);
    b->d = NULL;
    return 0;
}

/* listat(dir [, rel]) -> { names } without "." and "..", unsorted */
static int l_listat(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1), *rel = luaL_optstring(L, 2, "");
    dir_box *b = (dir_box *)lua_newuserdatauv(L, sizeof *b, 0);
    b->d = NULL;
    luaL_setmetatable(L, DIR_MT);
    struct beside_found found = {0};
    int fd = beside_open_folder(dir, rel, &found);
    if (fd == -1)
        return failed(L, errno, dir, rel, &found);
    b->d = fdopendir(fd);
    if (b->d == NULL) {
        int err = errno;
        close(fd);
        return failed(L, err, dir, rel, NULL);
    }
    lua_newtable(L);
    lua_Integer n = 0;
    struct dirent *e;
    while ((errno = 0, e = readdir(b->d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        lua_pushstring(L, e->d_name);
        lua_rawseti(L, -2, ++n);
    }
    int err = errno;
    closedir(b->d);
    b->d = NULL;
    if (err != 0)
        return failed(L, err, dir, rel, NULL);
    return 1;
}

/* statat(dir, rel) -> the table of core.stat, of rel itself */
static int l_statat(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1), *rel = luaL_checkstring(L, 2);
    struct stat st;
    if (beside_stat(dir, rel, &st) == -1)
        return failed(L, errno, dir, rel, NULL);
    lutil_push_stat(L, &st);
    return 1;
}

/* touchat(dir, rel) -> true: its mtime now (a link's own, never its target's) */
static int l_touchat(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1), *rel = luaL_checkstring(L, 2);
    if (beside_touch(dir, rel) == -1)
        return failed(L, errno, dir, rel, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

/* trusted(path) -> true [, real] | nil, message, EPERM: whether a link at
 * path may be followed (see beside_link_trusted); a path that is no link
 * is. For a link, real is the real path of the very file judged: the link
 * can be swapped between the judgement and any later lookup (a link's
 * owner may rename another link over it in a sticky folder), so the caller
 * uses real, never path again. Swapped while judged: EAGAIN. */
static int l_trusted(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat link, target, st;
    char msg[8192];
    int ok = beside_link_trusted(path, &link, &target);
    if (ok == -1)
        return lutil_fail(L, errno, path);
    if (!ok) {
        snprintf(msg, sizeof msg, "%s: a symbolic link of uid %ld to a file of uid %ld; tasknum "
                 "follows a link only when it belongs to you, to root or to the owner of its "
                 "target", path, (long)link.st_uid, (long)target.st_uid);
        return lutil_failmsg(L, EPERM, msg);
    }
    lua_pushboolean(L, 1);
    if (!S_ISLNK(link.st_mode))
        return 1;
    char *real = realpath(path, NULL);
    if (real == NULL)
        return lutil_fail(L, errno, path);
    if (stat(real, &st) == -1 || st.st_dev != target.st_dev || st.st_ino != target.st_ino) {
        free(real);
        snprintf(msg, sizeof msg, "%s: the link changed while tasknum checked it; "
                 "try again", path);
        return lutil_failmsg(L, EAGAIN, msg);
    }
    lua_pushstring(L, real);
    free(real);
    return 2;
}

static const luaL_Reg beside_funcs[] = {
    {"appendat", l_appendat},
    {"listat", l_listat},
    {"mkdirat", l_mkdirat},
    {"readat", l_readat},
    {"removeat", l_removeat},
    {"renameat", l_renameat},
    {"statat", l_statat},
    {"touchat", l_touchat},
    {"trusted", l_trusted},
    {"writeat", l_writeat},
    {NULL, NULL}
};

static const luaL_Reg dir_meta[] = {
    {"__gc", dir_gc},
    {NULL, NULL}
};

void lbeside_register(lua_State *L)
{
    lutil_class(L, DIR_MT, dir_meta, NULL);
    luaL_setfuncs(L, beside_funcs, 0);
}
