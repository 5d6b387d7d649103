/* lalloc.c: the arithmetic of tasknum.core: take (alloc.c). */
#include <errno.h>
#include <stdint.h>

#include "alloc.h"
#include "lutil.h"

/* take(next, count, min, max) -> {numbers}, new_next, wrapped | nil,
 * message, ERANGE (bad range, counter outside it, count < 1 or beyond it) */
static int l_take(lua_State *L)
{
    lua_Integer next = luaL_checkinteger(L, 1), count = luaL_checkinteger(L, 2);
    lua_Integer min = luaL_checkinteger(L, 3), max = luaL_checkinteger(L, 4);
    int64_t new_next, *out;
    int wrapped;
    luaL_argcheck(L, count <= (1 << 24), 2, "count too large to list");
    if (alloc_take(next, count, min, max, NULL, &new_next, &wrapped) != 0)
        return lutil_failmsg(L, ERANGE, "count or counter does not fit the range");
    /* count is now known to be >= 1 and within the range */
    out = (int64_t *)lua_newuserdatauv(L, (size_t)count * sizeof *out, 0);
    alloc_take(next, count, min, max, out, &new_next, &wrapped);
    lua_createtable(L, (int)(count < INT32_MAX ? count : 0), 0);
    for (lua_Integer i = 0; i < count; i++) {
        lua_pushinteger(L, out[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushinteger(L, new_next);
    lua_pushboolean(L, wrapped);
    return 3;
}

static const luaL_Reg alloc_funcs[] = {
    {"take", l_take},
    {NULL, NULL}
};

void lalloc_register(lua_State *L)
{
    luaL_setfuncs(L, alloc_funcs, 0);
}
