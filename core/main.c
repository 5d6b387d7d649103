/* main.c: the tasknum binary, a small host for Lua 5.4 in the manner of
 * lua.c. It preloads tasknum.core, serves the Lua sources compiled into the
 * binary after every other searcher (so a team's or an installed copy wins),
 * and runs tasknum.cli's main protected; every error becomes a JSON answer.
 * SIGINT and SIGTERM only raise a flag: lock waits and writes check it and
 * give up cleanly, releasing the lock and removing their temp file. A second
 * one ends the process at once, for code that never looks at the flag. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "embedded.h"
#include "ltasknum.h"

#ifndef TASKNUM_SCRIPTDIR
#define TASKNUM_SCRIPTDIR "/usr/local/share/tasknum/scripts"
#endif

/* The one global: a signal handler can only talk through a global. */
static volatile sig_atomic_t stop_signal;

/* The first SIGINT/SIGTERM asks to stop at the next safe point. A second
 * means now (a script's own loop never looks at the flag): take the default
 * action. The kernel drops the lock; a temp file left behind is swept by the
 * next allocation. signal() and raise() are async-signal-safe. */
static void on_signal(int sig)
{
    if (stop_signal != 0) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_signal = sig;
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: blocking calls see EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static const struct embedded_file *find_embedded(const char *name, int is_module)
{
    for (size_t i = 0; i < embedded_count; i++)
        if (embedded_files[i].is_module == is_module
            && strcmp(embedded_files[i].name, name) == 0)
            return &embedded_files[i];
    return NULL;
}

/* package.searchers entry: modules compiled into the binary */
static int search_embedded(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const struct embedded_file *f = find_embedded(name, 1);
    if (f == NULL) {
        lua_pushfstring(L, "no module '%s' built into tasknum", name);
        return 1;
    }
    if (luaL_loadbufferx(L, f->source, f->len, lua_tostring(L, 1), "b") != LUA_OK)
        return lua_error(L);
    lua_pushfstring(L, "(built in) %s", name);
    return 2;
}

/* host.embedded(name) -> source of a built-in script, or nil */
static int host_embedded(lua_State *L)
{
    const struct embedded_file *f = find_embedded(luaL_checkstring(L, 1), 0);
    if (f == NULL)
        return 0;
    lua_pushlstring(L, f->source, f->len);
    return 1;
}

/* host.list() -> names of the built-in scripts */
static int host_list(lua_State *L)
{
    lua_Integer n = 0;
    lua_newtable(L);
    for (size_t i = 0; i < embedded_count; i++) {
        if (embedded_files[i].is_module)
            continue;
        lua_pushstring(L, embedded_files[i].name);
        lua_rawseti(L, -2, ++n);
    }
    return 1;
}

/* Whether some folder on package.path has tasknum's own modules (an
 * installed copy or a developer's tree): then the copies compiled into the
 * binary come last, so those files win. Otherwise nothing can be shadowed,
 * and serving the built-in copies first saves ~15 failed opens a module. */
static int exists(lua_State *L, const char *prefix, size_t len, const char *name)
{
    struct stat st;
    int yes;
    lua_pushlstring(L, prefix, len);
    lua_pushstring(L, name);
    lua_concat(L, 2);
    yes = stat(lua_tostring(L, -1), &st) == 0;
    lua_pop(L, 1);
    return yes;
}

static int path_has_tasknum(lua_State *L)
{
    const char *t, *prev = NULL;
    size_t prevlen = 0;
    int found = 0;
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    for (t = lua_tostring(L, -1); t != NULL && *t != '\0' && !found;) {
        const char *semi = strchr(t, ';'), *q = strchr(t, '?');
        size_t len = q != NULL ? (size_t)(q - t) : 0;
        /* "X/?.lua" and "X/?/init.lua" share the folder X: look once */
        if (q != NULL && (semi == NULL || q < semi)
            && !(prev != NULL && len == prevlen && memcmp(prev, t, len) == 0)) {
            found = exists(L, t, len, "tasknum") || exists(L, t, len, "tasknum.lua");
            prev = t;
            prevlen = len;
        }
        t = semi != NULL ? semi + 1 : NULL;
    }
    lua_pop(L, 2);
    return found;
}

static void install_host(lua_State *L)
{
    static const luaL_Reg host[] = {
        {"embedded", host_embedded},
        {"list", host_list},
        {NULL, NULL}
    };
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_tasknum_core);
    lua_setfield(L, -2, "tasknum.core");
    lua_pop(L, 1);

    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchers");
    if (path_has_tasknum(L)) {
        lua_pushcfunction(L, search_embedded);
        lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    } else { /* second, right after package.preload */
        for (lua_Integer i = (lua_Integer)lua_rawlen(L, -1); i >= 2; i--) {
            lua_rawgeti(L, -1, i);
            lua_rawseti(L, -2, i + 1);
        }
        lua_pushcfunction(L, search_embedded);
        lua_rawseti(L, -2, 2);
    }
    lua_pop(L, 2);

    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    luaL_newlib(L, host);
    lua_pushliteral(L, TASKNUM_SCRIPTDIR);
    lua_setfield(L, -2, "scriptdir");
    lua_setfield(L, -2, "tasknum.host");
    lua_pop(L, 1);
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL)
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Runs in protected mode: require "tasknum.cli" and return main(args). */
static int pmain(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = (char **)lua_touserdata(L, 2);
    luaL_openlibs(L);
    install_host(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "tasknum.cli");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "main");
    lua_createtable(L, argc, 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_call(L, 1, 1);
    return 1;
}

/* Last resort when the Lua side itself failed: a JSON answer from C. */
static void report_fatal(const char *msg)
{
    fputs("{\"status\":\"error\",\"error\":{\"code\":\"SCRIPT_ERROR\",\"message\":\"", stdout);
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            printf("\\u%04x", *p < 0x80 ? *p : 0xfffd);
        else
            putchar(*p);
    }
    fputs("\"},\"error_code\":\"SCRIPT_ERROR\",\"retry_suggested\":false,"
          "\"lock_acquired\":false}\n", stdout);
    fprintf(stderr, "tasknum: %s\n", msg);
}

int main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    int status, code;
    if (L == NULL) {
        report_fatal("cannot create the Lua state: out of memory");
        return 71;
    }
    catch_signals();
    ltasknum_set_cancel(L, &stop_signal);
    lua_pushcfunction(L, traceback);
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    status = lua_pcall(L, 2, 1, 1);
    if (status != LUA_OK) {
        report_fatal(lua_tostring(L, -1) ? lua_tostring(L, -1) : "unknown error");
        code = 70;
    } else {
        code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
    }
    fflush(stdout);
    lua_close(L);
    return code;
}
