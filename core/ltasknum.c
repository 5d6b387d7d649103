/* ltasknum.c: the module tasknum.core, merged from one library per file,
 * as Lua's linit.c merges its own: lalloc.c (take), lfile.c (reading
 * files, folders), lwrite.c (durable writes), lbeside.c (the files beside
 * a state, reached without links), llockdir.c (the legacy lock folder's
 * steps that go together),
 * ljson.c (the JSON scanner), lheld.c (a state scanned once, the numbers
 * its active projects hold), llock.c (lock handles), lproc.c (processes,
 * clocks, children), lrun.c (commands run to their end), lpg.c
 * (PostgreSQL, the table core.pg). lutil.h says what they share.
 *
 * One failure shape: every OS failure returns nil, message, errno, the
 * errno an integer (ETIMEDOUT for a wait that ran out of time, EINTR for
 * one the host's stop flag ended, ERANGE for take), compared in Lua with
 * the constants exported here (core.ENOENT, ...): no Lua file writes an
 * errno number. The JSON scanner has its own family, nil, reason, offset
 * (ljson.c). Only misuse (wrong types, a released handle) raises. */
#include <errno.h>

#include "ltasknum.h"
#include "lutil.h"

/* The errno values Lua code compares with or classes (transient or not). */
static const struct { const char *name; int value; } errnos[] = {
    {"EACCES", EACCES}, {"EAGAIN", EAGAIN}, {"EBADF", EBADF},
    {"EBUSY", EBUSY}, {"EEXIST", EEXIST}, {"EINTR", EINTR},
    {"EINVAL", EINVAL}, {"EIO", EIO}, {"EISDIR", EISDIR},
    {"ELOOP", ELOOP}, {"EMFILE", EMFILE}, {"EMLINK", EMLINK}, {"ENFILE", ENFILE},
    {"ENOENT", ENOENT}, {"ENOMEM", ENOMEM}, {"ENOSPC", ENOSPC},
    {"ENOTDIR", ENOTDIR}, {"ENXIO", ENXIO}, {"ENOTEMPTY", ENOTEMPTY}, {"EPERM", EPERM},
    {"ERANGE", ERANGE}, {"EROFS", EROFS}, {"ESTALE", ESTALE},
    {"ETIMEDOUT", ETIMEDOUT}, {"EXDEV", EXDEV},
};

void ltasknum_set_cancel(lua_State *L, volatile sig_atomic_t *flag)
{
    lua_pushlightuserdata(L, (void *)flag);
    lua_setfield(L, LUA_REGISTRYINDEX, LUTIL_CANCEL_KEY);
}

int luaopen_tasknum_core(lua_State *L)
{
    luaL_checkversion(L);
    /* sized for its ~90 fields up front: grown one doubling at a time it
     * was rehashed seven times, in every start */
    lua_createtable(L, 0, 96);
    lalloc_register(L);
    lfile_register(L);
    lwrite_register(L);
    lbeside_register(L);
    llockdir_register(L);
    ljson_register(L);
    lheld_register(L);
    llock_register(L);
    lproc_register(L);
    lrun_register(L);
    lpg_register(L);
    lgitobj_register(L);
    for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++) {
        lua_pushinteger(L, errnos[i].value);
        lua_setfield(L, -2, errnos[i].name);
    }
    lua_pushliteral(L, TASKNUM_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
