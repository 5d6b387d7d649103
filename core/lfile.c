/* lfile.c: the file library of tasknum.core: reading a whole file, the
 * temp files of killed writers, folders, and file facts (lwrite.c has the
 * writes). No C resource is held
 * across a Lua call that can raise without a box that releases it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "beside.h"
#include "durable.h"
#include "fdio.h"
#include "lutil.h"

#define BOX_MT "tasknum.box"

/* A C resource held during one call (a descriptor, a folder stream, a
 * malloc'd string), kept in a userdata made BEFORE the resource is taken,
 * as liolib does: if a Lua call raises meanwhile (out of memory), __gc
 * releases it; on every other path box_close does, before returning. */
typedef struct box { int fd; DIR *dir; char *mem; } box;

static box *new_box(lua_State *L)
{
    box *b = (box *)lua_newuserdatauv(L, sizeof *b, 0);
    b->fd = -1;
    b->dir = NULL;
    b->mem = NULL;
    luaL_setmetatable(L, BOX_MT);
    return b;
}

/* Releases what the box holds; idempotent. Keeps errno. */
static void box_close(box *b)
{
    int err = errno;
    if (b->fd >= 0)
        close(b->fd);
    if (b->dir != NULL)
        closedir(b->dir);
    free(b->mem);
    b->fd = -1;
    b->dir = NULL;
    b->mem = NULL;
    errno = err;
}

static int box_gc(lua_State *L)
{
    box_close((box *)luaL_checkudata(L, 1, BOX_MT));
    return 0;
}

/* Releases the box and fails with err, naming what. */
static int box_fail(lua_State *L, box *b, int err, const char *what)
{
    box_close(b);
    return lutil_fail(L, err, what);
}

/* Whether what st describes, found in the folder path (cut at len), is
 * owned by this user, root, or the folder's owner: git's rule for a .git
 * above the current folder (safe.directory, CVE-2022-24765), so that
 * another user's /tmp/.git is not taken for the repository of everything
 * under /tmp. */
static int owned(char *path, size_t len, const struct stat *st)
{
    struct stat dst;
    uid_t me = geteuid();
    if (st->st_uid == me || st->st_uid == 0)
        return 1;
    char c = path[len > 1 ? len : 1];
    path[len > 1 ? len : 1] = '\0';
    int rc = stat(path, &dst);
    path[len > 1 ? len : 1] = c;
    return rc == 0 && dst.st_uid == st->st_uid;
}

/* upward(dir, name [, owned]) -> the folder, and the type of what is there
 * ("file", "directory", "link", "other"): the nearest of dir and the
 * folders above it that holds name (lstat) | false when none does, up to
 * /. dir must be absolute. One call for the walk up that finds a working
 * tree's .git. owned: what is found must be this user's, root's or its
 * folder's owner's (see owned()), or the walk ends with false, "foreign",
 * and the path found. */
static int l_upward(lua_State *L)
{
    size_t len;
    const char *dir = luaL_checklstring(L, 1, &len);
    const char *name = luaL_checkstring(L, 2);
    int check = lua_toboolean(L, 3);
    luaL_argcheck(L, dir[0] == '/', 1, "an absolute path");
    luaL_Buffer b;
    char *path = luaL_buffinitsize(L, &b, len + strlen(name) + 2);
    memcpy(path, dir, len + 1);
    while (len > 1 && path[len - 1] == '/')
        path[--len] = '\0';
    for (;;) {
        struct stat st;
        size_t n = len == 1 ? 0 : len;  /* "/" joins as "" + "/name" */
        path[n] = '/';
        strcpy(path + n + 1, name);
        if (lstat(path, &st) == 0) {
            if (check && !owned(path, n, &st)) {
                lua_pushboolean(L, 0);
                lua_pushliteral(L, "foreign");
                lua_pushstring(L, path);
                return 3;
            }
            lua_pushlstring(L, path, len);
            lua_pushstring(L, lutil_type_name(st.st_mode));
            return 2;
        }
        if (len == 1)
            break;
        while (len > 1 && path[len - 1] != '/')
            len--;
        if (len > 1)
            len--;          /* drop the slash: "/a/b" -> "/a" */
        path[len] = '\0';
    }
    lua_pushboolean(L, 0);
    return 1;
}

/* The failure for a file that is not regular: EISDIR, or ENXIO naming
 * what it is (a FIFO would block a reader, a device never end). */
static int not_regular(lua_State *L, box *b, const struct stat *st, const char *path)
{
    if (S_ISDIR(st->st_mode))
        return box_fail(L, b, EISDIR, path);
    box_close(b);
    lua_pushnil(L);
    lua_pushfstring(L, "%s: is %s, not a regular file (%s)", path, beside_what(st), strerror(ENXIO));
    lua_pushinteger(L, ENXIO);
    return 3;
}

/* readfile(path [, nofollow]) -> text | nil, message, errno (EISDIR for a
 * folder, ENXIO for a FIFO, socket or device, ELOOP for a link when
 * nofollow): one read into a buffer of the file's size (io.read("a") grows
 * its buffer by doubling and copies). The open never blocks. */
static int read_whole(lua_State *L, const char *path, int nofollow)
{
    box *fd = new_box(L);
    struct stat st;
    luaL_Buffer b;
    fd->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | nofollow);
    if (fd->fd == -1 || fstat(fd->fd, &st) == -1)
        return box_fail(L, fd, errno, path);
    if (!S_ISREG(st.st_mode))
        return not_regular(L, fd, &st, path);
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    char *p = luaL_buffinitsize(L, &b, cap);
    for (;;) {
        ssize_t got = fdio_read_all(fd->fd, p, cap);
        if (got < 0)
            return box_fail(L, fd, errno, path);
        luaL_addsize(&b, (size_t)got);
        if ((size_t)got < cap)
            break;
        p = luaL_prepbuffsize(&b, cap);   /* the file grew: make room */
    }
    box_close(fd);
    luaL_pushresult(&b);
    return 1;
}

static int l_readfile(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    return read_whole(L, path, lua_toboolean(L, 2) ? O_NOFOLLOW : 0);
}

/* The failure of a sweep or count: a foreign object in a temp file's
 * name is named, as beside.c names them. */
static int temps_failed(lua_State *L, int err, const char *path,
                        const struct beside_found *found, const char *name)
{
    char dir[4096], msg[8192];
    if (!found->set || durable_folder(path, dir, sizeof dir) == -1)
        return lutil_fail(L, err, path);
    beside_message(msg, sizeof msg, dir, name, err, found);
    return lutil_failmsg(L, err, msg);
}

/* sweep(path) -> how many temp files of a killed writer were removed
 * beside path's real target | nil, message, errno (a foreign object in
 * such a name: ELOOP, ENXIO, EISDIR, named, left in place) */
/* A Lua file of our own making (liolib's luaL_Stream), closed by fclose. */
static int stream_close(lua_State *L)
{
    luaL_Stream *p = (luaL_Stream *)luaL_checkudata(L, 1, LUA_FILEHANDLE);
    int ok = fclose(p->f) == 0;
    return luaL_fileresult(L, ok, NULL);
}

/* openread(path [, nofollow]) -> a Lua file open for reading | nil,
 * message, errno: as io.open(path, "rb"), but the open never blocks and
 * only a regular file is opened (ENXIO naming a FIFO, socket or device,
 * EISDIR for a folder; ELOOP for a link when nofollow): for files others
 * may replace, such as the audit log, read line by line. */
static int l_openread(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int nofollow = lua_toboolean(L, 2) ? O_NOFOLLOW : 0;
    luaL_Stream *p = (luaL_Stream *)lua_newuserdatauv(L, sizeof *p, 0);
    p->f = NULL;
    p->closef = NULL;   /* a closed file until it is open */
    luaL_setmetatable(L, LUA_FILEHANDLE);
    box *fd = new_box(L);
    struct stat st;
    fd->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | nofollow);
    if (fd->fd == -1 || fstat(fd->fd, &st) == -1)
        return box_fail(L, fd, errno, path);
    if (!S_ISREG(st.st_mode))
        return not_regular(L, fd, &st, path);
    if (fcntl(fd->fd, F_SETFL, fcntl(fd->fd, F_GETFL) & ~O_NONBLOCK) == -1)
        return box_fail(L, fd, errno, path);
    p->f = fdopen(fd->fd, "rb");
    if (p->f == NULL)
        return box_fail(L, fd, errno, path);
    fd->fd = -1;   /* the stream owns it now */
    p->closef = stream_close;
    lua_pop(L, 1);   /* the box */
    return 1;
}

/* sweep() and temps(): fn over the temp files beside path -> how many |
 * nil, message, errno */
static int temps_call(lua_State *L, int (*fn)(const char *, struct beside_found *, char *, size_t))
{
    const char *path = luaL_checkstring(L, 1);
    struct beside_found found = {0};
    char name[256] = "";
    int n = fn(path, &found, name, sizeof name);
    if (n < 0)
        return temps_failed(L, errno, path, &found, name);
    lua_pushinteger(L, n);
    return 1;
}

static int l_sweep(lua_State *L)
{
    return temps_call(L, durable_sweep);
}

/* load(path) -> the text of the file at path, not following a link there
 * (as readfile(path, true)), once the temp files of killed writers beside
 * it are removed (as sweep(path)): what a step does first under its lock
 * | nil, message, errno, stage ("sweep" or "read") */
static int l_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct beside_found found = {0};
    char name[256] = "";
    if (durable_sweep(path, &found, name, sizeof name) < 0) {
        int n = temps_failed(L, errno, path, &found, name);
        lua_pushliteral(L, "sweep");
        return n + 1;
    }
    int n = read_whole(L, path, O_NOFOLLOW);
    if (n == 1)
        return 1;
    lua_pushliteral(L, "read");
    return n + 1;
}

/* temps(path) -> how many there are, as sweep() but removing none */
static int l_temps(lua_State *L)
{
    return temps_call(L, durable_count_temps);
}

/* listdir(path) -> { names } without "." and "..", unsorted | nil,
 * message, errno */
static int l_listdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    box *d = new_box(L);
    struct dirent *ent;
    lua_Integer n = 0;
    d->dir = opendir(path);
    if (d->dir == NULL)
        return box_fail(L, d, errno, path);
    lua_newtable(L);
    while ((errno = 0, ent = readdir(d->dir)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        lua_pushstring(L, ent->d_name);
        lua_rawseti(L, -2, ++n);
    }
    if (errno != 0)
        return box_fail(L, d, errno, path);
    box_close(d);
    return 1;
}

/* realpath(path) -> the absolute path with every symlink resolved, and
 * the type of what it names ("file", "directory" or "other": a FIFO,
 * socket or device), from one stat | nil, message, errno */
static int l_realpath(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    box *real = new_box(L);
    struct stat st;
    real->mem = realpath(path, NULL);
    if (real->mem == NULL)
        return box_fail(L, real, errno, path);
    int known = stat(real->mem, &st) == 0;
    lua_pushstring(L, real->mem);
    box_close(real);
    if (!known)
        return 1;
    lua_pushstring(L, lutil_type_name(st.st_mode));
    return 2;
}

/* cwd() -> the current folder | nil, message, errno */
static int l_cwd(lua_State *L)
{
    box *cwd = new_box(L);
    cwd->mem = getcwd(NULL, 0);
    if (cwd->mem == NULL)
        return box_fail(L, cwd, errno, "getcwd");
    lua_pushstring(L, cwd->mem);
    box_close(cwd);
    return 1;
}

/* stat(path) -> { type = "file"|"directory"|"link"|"other", what, mode,
 * uid, gid, size, links, mtime } (mode: the permission bits with setuid,
 * setgid and sticky) without following a symlink at the last component */
static int l_stat(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (lstat(path, &st) != 0)
        return lutil_fail(L, errno, path);
    lutil_push_stat(L, &st);
    return 1;
}

static const luaL_Reg file_funcs[] = {
    {"cwd", l_cwd},
    {"listdir", l_listdir},
    {"openread", l_openread},
    {"load", l_load},
    {"readfile", l_readfile},
    {"realpath", l_realpath},
    {"upward", l_upward},
    {"stat", l_stat},
    {"sweep", l_sweep},
    {"temps", l_temps},
    {NULL, NULL}
};

static const luaL_Reg box_meta[] = {
    {"__gc", box_gc},
    {NULL, NULL}
};

void lfile_register(lua_State *L)
{
    lutil_class(L, BOX_MT, box_meta, NULL);
    luaL_setfuncs(L, file_funcs, 0);
}
