/* ltasknum.h: the Lua binding of the C core, the module tasknum.core. */
#ifndef TASKNUM_LTASKNUM_H
#define TASKNUM_LTASKNUM_H

#include <signal.h>
#include "lua.h"

/* Opens the module tasknum.core (also the entry point of core.so). */
int luaopen_tasknum_core(lua_State *L);

/* Lets lock waits and writes in state L give up when *flag becomes
 * non-zero (the host sets it from its SIGINT/SIGTERM handler). */
void ltasknum_set_cancel(lua_State *L, volatile sig_atomic_t *flag);

#endif
