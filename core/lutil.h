/* lutil.h: what the binding files of tasknum.core (core/l*.c) share: the
 * failure triple, the host's cancel flag, handle classes, and the
 * registration function of each library that luaopen_tasknum_core merges.
 * Internal to the binding; OS files never include it. */
#ifndef TASKNUM_LUTIL_H
#define TASKNUM_LUTIL_H

#include <signal.h>
#include <sys/stat.h>

#include "lauxlib.h"
#include "lua.h"

/* The one failure shape of tasknum.core, for every OS failure: pushes nil,
 * message and err as an integer (an errno, exported as core.ENOENT, ...);
 * returns 3. err must be saved before any Lua call that may change errno. */
int lutil_failmsg(lua_State *L, int err, const char *message);

/* lutil_failmsg with the message "what: strerror(err)". */
int lutil_fail(lua_State *L, int err, const char *what);

/* The flag the host sets on SIGINT/SIGTERM (see ltasknum_set_cancel), or
 * NULL when tasknum.core was loaded by another host. */
const volatile sig_atomic_t *lutil_cancel(lua_State *L);

/* Where ltasknum_set_cancel keeps the flag, in the registry. */
#define LUTIL_CANCEL_KEY "tasknum.cancel"

/* "file", "directory", "link" or "other" (a FIFO, socket or device). */
const char *lutil_type_name(mode_t mode);

/* Pushes the table core.stat and core.statat return for st: { type, what
 * (a few words: "a FIFO", "a file with other hard links"), mode (the
 * permission bits with setuid, setgid and sticky), uid, gid, size, links,
 * mtime }. */
void lutil_push_stat(lua_State *L, const struct stat *st);

/* Creates the metatable name (once) with meta's metamethods and an
 * __index table of methods (may be NULL); leaves the stack as it was. */
void lutil_class(lua_State *L, const char *name, const luaL_Reg *meta,
                 const luaL_Reg *methods);

/* A NULL-terminated array of the strings at t[1..n], in a userdata left on
 * the stack; the strings stay referenced by t (argv, environments). */
char **lutil_strings(lua_State *L, int t, lua_Integer n);

/* Each library adds its functions to the module table on top of the stack
 * (and creates its handle classes). */
void lalloc_register(lua_State *L);   /* take */
void lfile_register(lua_State *L);    /* reading files, folders, file facts */
void lwrite_register(lua_State *L);   /* durable writes, folders made */
void lbeside_register(lua_State *L);  /* the files beside a state, without links */
void llockdir_register(lua_State *L); /* the legacy lock folder's composite steps */
void ljson_register(lua_State *L);    /* the JSON scanner */
void lheld_register(lua_State *L);    /* scan, held: the numbers active projects hold */
void llock_register(lua_State *L);    /* lock handles */
void lproc_register(lua_State *L);    /* processes, clocks, children */
void lrun_register(lua_State *L);     /* run: a command run to its end */
void lpg_register(lua_State *L);      /* pg: PostgreSQL through libpq */
void lgitobj_register(lua_State *L);  /* git loose objects, without git */

#endif
