/* ltasknum.c: the module tasknum.core, merged from one library per file,
 * as Lua's linit.c merges its own: lalloc.c (take), lfile.c (files and
 * folders), ljson.c (the JSON scanner), llock.c (lock handles), lproc.c
 * (processes, clocks, children). lutil.h says what they share.
 *
 * Expected failures return nil, message, code (errno, or a word such as
 * "timeout"), with errno saved before any Lua call; only misuse raises. */
#include "ltasknum.h"
#include "lutil.h"

void ltasknum_set_cancel(lua_State *L, volatile sig_atomic_t *flag)
{
    lua_pushlightuserdata(L, (void *)flag);
    lua_setfield(L, LUA_REGISTRYINDEX, LUTIL_CANCEL_KEY);
}

int luaopen_tasknum_core(lua_State *L)
{
    luaL_checkversion(L);
    lua_newtable(L);
    lalloc_register(L);
    lfile_register(L);
    ljson_register(L);
    llock_register(L);
    lproc_register(L);
    lua_pushliteral(L, TASKNUM_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
