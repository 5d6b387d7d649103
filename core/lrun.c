/* lrun.c: binds core/run.c: core.run, a command run to its end with its
 * output captured (the git authority's plumbing). */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "lutil.h"
#include "run.h"

/* The result, freed by __gc if a Lua error comes before run_free. */
#define RESULT_MT "tasknum.run.result"

static int result_gc(lua_State *L)
{
    run_free((struct run_result *)luaL_checkudata(L, 1, RESULT_MT));
    return 0;
}

static void push_output(lua_State *L, const char *s, size_t len)
{
    if (s != NULL)
        lua_pushlstring(L, s, len);
    else
        lua_pushliteral(L, "");
}

/* run({command, args...} [, {env = {NAME = value | false}, input = text,
 * timeout = seconds, cap = bytes}]) -> status, stdout, stderr
 *   | nil, message, errno [, stdout, stderr]
 * status: the exit status, 128 + the signal that killed it. errno:
 * ETIMEDOUT when the time ran out and EINTR when the host was asked to stop
 * (the command's process group was killed; what it wrote comes along),
 * ENOENT/EACCES when it could not be started. cap (default 1 MiB) bounds
 * each output; more is read and dropped. */
static int l_run(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    lua_Integer argc = (lua_Integer)lua_rawlen(L, 1);
    luaL_argcheck(L, argc >= 1 && argc < (1 << 20), 1, "needs a command");
    char **argv = lutil_strings(L, 1, argc);             /* 3 */
    lua_newtable(L);                                     /* 4: set strings */
    lua_Integer n = 0;
    const char *input = NULL;
    size_t inlen = 0;
    double timeout = -1;
    lua_Integer cap = 1 << 20;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        if (lua_getfield(L, 2, "env") == LUA_TTABLE) {
            for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) {
                luaL_argcheck(L, lua_type(L, -2) == LUA_TSTRING, 2, "env names must be strings");
                if (lua_type(L, -1) == LUA_TSTRING)
                    lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
                else if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))
                    lua_pushvalue(L, -2);
                else
                    return luaL_argerror(L, 2, "env values must be strings or false");
                lua_rawseti(L, 4, ++n);
            }
        }
        lua_pop(L, 1);
        if (lua_getfield(L, 2, "input") != LUA_TNIL)
            input = luaL_checklstring(L, -1, &inlen);   /* kept alive by arg 2 */
        lua_pop(L, 1);
        if (lua_getfield(L, 2, "timeout") != LUA_TNIL) {
            timeout = (double)luaL_checknumber(L, -1);
            luaL_argcheck(L, timeout == timeout, 2, "timeout is NaN");
            if (timeout < 0)
                timeout = 0;
        }
        lua_pop(L, 1);
        if (lua_getfield(L, 2, "cap") != LUA_TNIL)
            cap = luaL_checkinteger(L, -1);
        lua_pop(L, 1);
        luaL_argcheck(L, cap >= 0 && cap <= INT32_MAX, 2, "cap out of range");
    }
    char **set = lutil_strings(L, 4, n);                  /* 5 */
    (void)set;
    struct run_result *r = (struct run_result *)lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    luaL_setmetatable(L, RESULT_MT);
    int rc = run_command(argv, set, input, inlen, timeout, lutil_cancel(L), (size_t)cap, r);
    int err = errno;
    if (rc != 0) {
        if (err == ETIMEDOUT)
            lua_pushfstring(L, "%s: still running after %f s, killed", argv[0], timeout);
        else if (err == EINTR)
            lua_pushfstring(L, "%s: interrupted, killed", argv[0]);
        else
            lua_pushfstring(L, "%s: %s", argv[0], strerror(err));
        lutil_failmsg(L, err, lua_tostring(L, -1));
        push_output(L, r->out, r->outlen);
        push_output(L, r->err, r->errlen);
        run_free(r);
        return 5;
    }
    lua_pushinteger(L, r->status);
    push_output(L, r->out, r->outlen);
    push_output(L, r->err, r->errlen);
    run_free(r);
    return 3;
}

static const luaL_Reg result_meta[] = {
    {"__gc", result_gc},
    {NULL, NULL}
};

static const luaL_Reg run_funcs[] = {
    {"run", l_run},
    {NULL, NULL}
};

void lrun_register(lua_State *L)
{
    lutil_class(L, RESULT_MT, result_meta, NULL);
    luaL_setfuncs(L, run_funcs, 0);
}
