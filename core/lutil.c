/* lutil.c: helpers shared by the binding files of tasknum.core. */
#include <string.h>

#include "beside.h"
#include "lutil.h"

int lutil_failmsg(lua_State *L, int err, const char *message)
{
    lua_pushnil(L);
    lua_pushstring(L, message);
    lua_pushinteger(L, err);
    return 3;
}

int lutil_fail(lua_State *L, int err, const char *what)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", what, strerror(err));
    lua_pushinteger(L, err);
    return 3;
}

const volatile sig_atomic_t *lutil_cancel(lua_State *L)
{
    const volatile sig_atomic_t *flag;
    lua_getfield(L, LUA_REGISTRYINDEX, LUTIL_CANCEL_KEY);
    flag = (const volatile sig_atomic_t *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    return flag;
}

char **lutil_strings(lua_State *L, int t, lua_Integer n)
{
    char **a = (char **)lua_newuserdatauv(L, ((size_t)n + 1) * sizeof *a, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, t, i);
        a[i - 1] = (char *)luaL_checkstring(L, -1);   /* kept alive by t */
        lua_pop(L, 1);
    }
    a[n] = NULL;
    return a;
}

void lutil_class(lua_State *L, const char *name, const luaL_Reg *meta,
                 const luaL_Reg *methods)
{
    if (luaL_newmetatable(L, name)) {
        luaL_setfuncs(L, meta, 0);
        if (methods != NULL) {
            lua_newtable(L);
            luaL_setfuncs(L, methods, 0);
            lua_setfield(L, -2, "__index");
        }
    }
    lua_pop(L, 1);
}

const char *lutil_type_name(mode_t mode)
{
    return S_ISREG(mode) ? "file" : S_ISDIR(mode) ? "directory" : S_ISLNK(mode) ? "link" : "other";
}

void lutil_push_stat(lua_State *L, const struct stat *st)
{
    lua_createtable(L, 0, 8);
    lua_pushstring(L, lutil_type_name(st->st_mode));
    lua_setfield(L, -2, "type");
    lua_pushstring(L, beside_what(st));
    lua_setfield(L, -2, "what");
    lua_pushinteger(L, (lua_Integer)(st->st_mode & 07777));
    lua_setfield(L, -2, "mode");
    lua_pushinteger(L, (lua_Integer)st->st_uid);
    lua_setfield(L, -2, "uid");
    lua_pushinteger(L, (lua_Integer)st->st_gid);
    lua_setfield(L, -2, "gid");
    lua_pushinteger(L, (lua_Integer)st->st_size);
    lua_setfield(L, -2, "size");
    lua_pushinteger(L, (lua_Integer)st->st_nlink);
    lua_setfield(L, -2, "links");
    lua_pushnumber(L, (lua_Number)st->st_mtim.tv_sec + (lua_Number)st->st_mtim.tv_nsec / 1e9);
    lua_setfield(L, -2, "mtime");
}
