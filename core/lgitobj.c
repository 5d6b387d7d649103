/* lgitobj.c: binds core/gitobj.c: core.gitobject, a git loose object
 * written without starting git (the git:REMOTE authority's commits). */
#include <errno.h>
#include <string.h>

#include "gitobj.h"
#include "lutil.h"

/* gitobject(objects_dir, type, content) -> id (40 hex digits)
 *   | nil, message, errno
 * type is "blob", "tree" or "commit"; content at most 60000 bytes. */
static int l_gitobject(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    const char *type = luaL_checkstring(L, 2);
    size_t len;
    const char *data = luaL_checklstring(L, 3, &len);
    luaL_argcheck(L, strcmp(type, "blob") == 0 || strcmp(type, "tree") == 0 || strcmp(type, "commit") == 0,
                  2, "blob, tree or commit");
    char hex[41], what[4096] = "";
    if (gitobj_write(dir, type, data, len, hex, what, sizeof what) != 0)
        return lutil_fail(L, errno, what[0] ? what : dir);
    lua_pushstring(L, hex);
    return 1;
}

/* sha1(text) -> the SHA-1 of text as 40 hex digits */
static int l_sha1(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    unsigned char id[20];
    char hex[41];
    gitobj_sha1(data, len, id);
    for (int i = 0; i < 20; i++) {
        static const char digits[] = "0123456789abcdef";
        hex[2 * i] = digits[id[i] >> 4];
        hex[2 * i + 1] = digits[id[i] & 15];
    }
    lua_pushlstring(L, hex, 40);
    return 1;
}

static const luaL_Reg funcs[] = {
    {"gitobject", l_gitobject},
    {"sha1", l_sha1},
    {NULL, NULL}
};

void lgitobj_register(lua_State *L)
{
    luaL_setfuncs(L, funcs, 0);
}
