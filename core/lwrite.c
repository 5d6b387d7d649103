/* lwrite.c: the writes of tasknum.core: a file replaced or created
 * durably, or overwritten in place (durable.c), a name published, a folder
 * made, an mtime set. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "beside.h"
#include "durable.h"
#include "lutil.h"

/* replace(path, text [, start, stop, bytes]) -> true | nil, message, errno
 * With a span, writes text with text[start..stop] replaced by bytes, in
 * three pieces: the new text is never built in memory. */
static int l_replace(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len, blen = 0;
    const char *text = luaL_checklstring(L, 2, &len);
    char where[4096] = "";
    struct iovec iov[3] = {{(void *)(uintptr_t)text, len}, {NULL, 0}, {NULL, 0}};
    int n = 1;
    if (!lua_isnoneornil(L, 3)) {
        lua_Integer s = luaL_checkinteger(L, 3), e = luaL_checkinteger(L, 4);
        const char *bytes = luaL_checklstring(L, 5, &blen);
        luaL_argcheck(L, s >= 1 && e >= s - 1 && (size_t)e <= len, 3, "span out of the text");
        iov[0].iov_len = (size_t)s - 1;
        iov[1] = (struct iovec){(void *)(uintptr_t)bytes, blen};
        iov[2] = (struct iovec){(void *)(uintptr_t)(text + e), len - (size_t)e};
        n = 3;
    }
    if (durable_replacev(path, iov, n, lutil_cancel(L), where, sizeof where) != 0)
        return lutil_fail(L, errno, where[0] ? where : path);
    lua_pushboolean(L, 1);
    return 1;
}

/* create(path, text [, like]) -> true | nil, message, errno (EEXIST when
 * something, even a dangling link, is at path): writes a new file durably,
 * never replacing one; with the group, mode (and owner, as root) of the
 * file like when given */
static int l_create(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    const char *like = luaL_optstring(L, 3, NULL);
    char where[4096] = "";
    if (durable_create(path, text, len, like, where, sizeof where) != 0)
        return lutil_fail(L, errno, where[0] ? where : path);
    lua_pushboolean(L, 1);
    return 1;
}

/* overwrite(path, offset, text [, flush]) -> true | nil, message, errno:
 * text written over the bytes of the existing file path from offset
 * (0-based), in place, synced with fdatasync unless flush is false (see
 * durable_overwrite) */
static int l_overwrite(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Integer at = luaL_checkinteger(L, 2);
    size_t len;
    const char *text = luaL_checklstring(L, 3, &len);
    int flush = lua_isnoneornil(L, 4) || lua_toboolean(L, 4);
    luaL_argcheck(L, at >= 0, 2, "offset must be >= 0");
    char where[4096] = "";
    if (durable_overwrite(path, (off_t)at, text, len, flush, where, sizeof where) != 0)
        return lutil_fail(L, errno, where[0] ? where : path);
    lua_pushboolean(L, 1);
    return 1;
}

/* mkdir(path) -> true | nil, message, errno (mode 0755 less the umask) */
static int l_mkdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (mkdir(path, 0755) != 0)
        return lutil_fail(L, errno, path);
    lua_pushboolean(L, 1);
    return 1;
}

/* publish(from, to) -> true | nil, message, errno: renames from to to only
 * if to does not exist (renameat2 RENAME_NOREPLACE), atomically: EEXIST if
 * it does, EINVAL where the file system cannot do it. The message names to. */
static int l_publish(lua_State *L)
{
    const char *from = luaL_checkstring(L, 1), *to = luaL_checkstring(L, 2);
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) != 0)
        return lutil_fail(L, errno, to);
    lua_pushboolean(L, 1);
    return 1;
}

/* touch(path) -> true | nil, message, errno: sets its mtime to now */
static int l_touch(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW) != 0)
        return lutil_fail(L, errno, path);
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg write_funcs[] = {
    {"create", l_create},
    {"mkdir", l_mkdir},
    {"overwrite", l_overwrite},
    {"publish", l_publish},
    {"replace", l_replace},
    {"touch", l_touch},
    {NULL, NULL}
};

void lwrite_register(lua_State *L)
{
    luaL_setfuncs(L, write_funcs, 0);
}
