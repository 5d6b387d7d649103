/* llockdir.c: the legacy lock folder's composite steps in tasknum.core
 * (lockdir.c): what always goes together is one call. Failures: nil,
 * message, errno as the beside library's (lbeside.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lockdir.h"
#include "lutil.h"

static int failed(lua_State *L, const char *dir, const struct lockdir_fail *fail)
{
    char msg[8192];
    if (fail->err == ENOTEMPTY && fail->inner[0] != '\0')
        snprintf(msg, sizeof msg, "%s/%s: is a folder inside a folder tasknum removes; "
                 "tasknum leaves it in place", dir, fail->inner);
    else
        beside_message(msg, sizeof msg, dir, fail->rel, fail->err, &fail->found);
    return lutil_failmsg(L, fail->err, msg);
}

/* lockdir_prepare(dir, name, pid, info [, like]) -> the private name
 * NAME.tmp-PID of a folder holding info | nil, message, errno, stage
 * ("sweep": removing a gone process's folder failed; "make") */
static int l_lockdir_prepare(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1), *name = luaL_checkstring(L, 2);
    lua_Integer pid = luaL_checkinteger(L, 3);
    size_t len;
    const char *text = luaL_checklstring(L, 4, &len);
    const char *like_path = luaL_optstring(L, 5, NULL);
    luaL_argcheck(L, pid > 0 && pid <= LOCKDIR_PID_MAX, 3, "not a pid");
    struct beside_like like = {0}, *model = NULL;
    if (like_path != NULL && beside_like_of(like_path, &like) == 0 && like.known)
        model = &like;
    struct lockdir_fail fail = {0};
    char tmp[NAME_MAX + 1];
    int stage;
    if (lockdir_prepare(dir, name, (long)pid, text, len, model, tmp, sizeof tmp, &stage, &fail) != 0) {
        failed(L, dir, &fail);
        lua_pushstring(L, stage == 0 ? "sweep" : "make");
        return 4;
    }
    lua_pushstring(L, tmp);
    return 1;
}

/* lockdir_leave(dir, name, away [, info]) -> true (renamed to away: it
 * held info) | false (none there, or another holder's: left or put back)
 * | nil, message, errno */
static int l_lockdir_leave(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1), *name = luaL_checkstring(L, 2);
    const char *away = luaL_checkstring(L, 3), *info = luaL_optstring(L, 4, NULL);
    struct lockdir_fail fail = {0};
    int rc = lockdir_leave(dir, name, away, info, &fail);
    if (rc < 0)
        return failed(L, dir, &fail);
    lua_pushboolean(L, rc);
    return 1;
}

static const luaL_Reg lockdir_funcs[] = {
    {"lockdir_leave", l_lockdir_leave},
    {"lockdir_prepare", l_lockdir_prepare},
    {NULL, NULL}
};

void llockdir_register(lua_State *L)
{
    luaL_setfuncs(L, lockdir_funcs, 0);
}
