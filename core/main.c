/* main.c: the tasknum binary, a small host for Lua 5.4 in the manner of
 * lua.c. It preloads tasknum.core, serves its own Lua modules (compiled into
 * it) ahead of package.path, finds its shipped scripts from where the binary
 * is, and runs tasknum.cli's main protected; every error becomes a JSON answer.
 * SIGINT and SIGTERM only raise a flag: lock waits and writes check it and
 * give up cleanly, releasing the lock and removing their temp file. A second
 * one ends the process at once, for code that never looks at the flag. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#include "embedded.h"
#include "ltasknum.h"

/* The one global: a signal handler can only talk through a global. */
static volatile sig_atomic_t stop_signal;

/* The start of the Lua state's memory (its extra space comes first, see
 * lua_getextraspace), kept here so that when the process ends without
 * closing the state (see main) all of it is still reachable from a global
 * as memory checkers count it (valgrind: "still reachable"), not lost.
 * volatile: a store never read must not be optimised away. */
static void *volatile lua_memory;

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

/* host.list([modules]) -> names of the built-in scripts, or with a true
 * argument of the built-in modules */
static int host_list(lua_State *L)
{
    int modules = lua_toboolean(L, 1);
    lua_Integer n = 0;
    lua_newtable(L);
    for (size_t i = 0; i < embedded_count; i++) {
        if (embedded_files[i].is_module != modules)
            continue;
        lua_pushstring(L, embedded_files[i].name);
        lua_rawseti(L, -2, ++n);
    }
    return 1;
}

/* Whether top..rest exists as a folder (S_IFDIR) or a file (S_IFREG). */
static int exists(lua_State *L, const char *top, const char *rest, mode_t type)
{
    struct stat st;
    int yes = stat(lua_pushfstring(L, "%s%s", top, rest), &st) == 0
        && (st.st_mode & S_IFMT) == type;
    lua_pop(L, 1);
    return yes;
}

/* Fills the host table (on the stack top) with where this binary's own
 * files are, found from the binary itself, never from a path baked in at
 * build time: two installs under two prefixes, or a build tree beside an
 * install, each run their own scripts.
 *   exe        the binary (/proc/self/exe: symlinks resolved)
 *   top        ROOT or PREFIX, the binary's folder's parent ("" for PREFIX=/)
 *   layout     "build": ROOT/BUILD/tasknum beside ROOT/lua/tasknum/
 *              "install": PREFIX/bin/tasknum beside PREFIX/share/lua/5.4/tasknum/
 *                or PREFIX/share/tasknum/scripts/ (make install, a LuaRocks tree)
 *              absent: a binary on its own
 *   scriptdir  ROOT/scripts or PREFIX/share/tasknum/scripts, when it exists;
 *              the scripts compiled into the binary come after it */
static void locate_self(lua_State *L)
{
    char top[4096];
    const char *layout = NULL, *scripts = "/share/tasknum/scripts";
    ssize_t n = readlink("/proc/self/exe", top, sizeof top);
    char *slash;
    if (n <= 0 || (size_t)n >= sizeof top)
        return;
    top[n] = '\0';
    lua_pushstring(L, top);
    lua_setfield(L, -2, "exe");
    for (int up = 0; up < 2; up++) { /* the binary's folder, then its parent */
        if ((slash = strrchr(top, '/')) == NULL)
            return;
        *slash = '\0';
    }
    lua_pushstring(L, top);
    lua_setfield(L, -2, "top");
    if (exists(L, top, "/lua/tasknum/init.lua", S_IFREG)) {
        layout = "build";
        scripts = "/scripts";
    } else if (exists(L, top, "/share/lua/5.4/tasknum/init.lua", S_IFREG)) {
        layout = "install";
    }
    if (exists(L, top, scripts, S_IFDIR)) {
        lua_pushfstring(L, "%s%s", top, scripts);
        lua_setfield(L, -2, "scriptdir");
        layout = layout != NULL ? layout : "install";
    }
    if (layout != NULL) {
        lua_pushstring(L, layout);
        lua_setfield(L, -2, "layout");
    }
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

    /* The binary's own modules come second, right after package.preload
     * (tasknum.core): a LUA_PATH that names another tasknum tree, such as
     * another install's `tasknum env`, cannot mix its modules with this
     * binary's C core. Teams change policy through policy files, not by
     * shadowing tasknum's modules. */
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "searchers");
    for (lua_Integer i = (lua_Integer)lua_rawlen(L, -1); i >= 2; i--) {
        lua_rawgeti(L, -1, i);
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushcfunction(L, search_embedded);
    lua_rawseti(L, -2, 2);
    lua_pop(L, 2);

    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    luaL_newlib(L, host);
    lua_pushliteral(L, LUA_RELEASE);
    lua_setfield(L, -2, "lua");
    locate_self(L);
    lua_setfield(L, -2, "tasknum.host");
    lua_pop(L, 1);
}

/* The message handler, as lua.c's msghandler: a string gets a traceback;
 * an error object with a __tostring that gives a string (tasknum.errors'
 * values: "CODE: message") is that string; anything else is named by its
 * type. */
static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Runs in protected mode: require "tasknum.cli" and return main(args):
 * the exit status and whether the run is settled (tasknum.cli.settled). */
static int pmain(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = (char **)lua_touserdata(L, 2);
    /* Start-up makes ~300 KB of objects that live as long as the process
     * (the modules): collecting while they are made finds nothing and cost
     * an allocation 0.2M instructions. So the collector waits until memory
     * has grown tenfold since its last cycle, not twofold, until
     * tasknum.cli sets the usual pause back before the command runs. */
    lua_gc(L, LUA_GCINC, 1000, 0, 0);
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
    lua_call(L, 1, 2);
    return 2;
}

/* The stderr line, `tasknum: message` (an error value's message reads
 * "CODE: message"), on one line whatever msg holds (a traceback has many):
 * control characters escaped as the CLI's emit escapes them (\n, \r, \t,
 * \xHH). */
static void report_line(const char *msg)
{
    fputs("tasknum: ", stderr);
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t')
            fprintf(stderr, "\\%c", *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't');
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(stderr, "\\x%02x", *p);
        else
            fputc(*p, stderr);
    }
    fputc('\n', stderr);
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
    report_line(msg);
}

/* The Lua state's allocator. A start-up makes some 5000 small objects
 * (the modules' functions, constants and tables) that live as long as the
 * process: the first ARENA bytes of small blocks come from a static arena,
 * one pointer bump each, instead of malloc (a tenth of a start went to
 * malloc and free). A block freed there is not reused: the arena is used
 * up once, then everything goes to malloc, so at most ARENA bytes are ever
 * wasted, however long the process runs. Not under AddressSanitizer,
 * which should see every block. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA 0
#else
#define ARENA (512 * 1024)
#endif
#define ARENA_BLOCK 256   /* larger blocks always come from malloc */

static union { max_align_t align; unsigned char bytes[ARENA > 0 ? ARENA : 1]; } arena;
static size_t arena_used;

static int in_arena(const void *p)
{
    return (const unsigned char *)p >= arena.bytes && (const unsigned char *)p < arena.bytes + ARENA;
}

static void *arena_alloc(size_t n)
{
    size_t size = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (n > ARENA_BLOCK || ARENA - arena_used < size)
        return NULL;
    arena_used += size;
    return arena.bytes + arena_used - size;
}

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    void *p;
    (void)ud;
    if (ptr != NULL && in_arena(ptr)) {
        if (nsize == 0)
            return NULL;          /* never reused */
        if (nsize <= osize)
            return ptr;           /* shrinking in place */
        if ((p = arena_alloc(nsize)) == NULL && (p = malloc(nsize)) == NULL)
            return NULL;
        memcpy(p, ptr, osize);
        return p;
    }
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if (ptr == NULL && (p = arena_alloc(nsize)) != NULL)
        return p;
    return realloc(ptr, nsize);
}

/* Ends the process with code: the answer is flushed first. A settled run
 * (a shipped command, no team file run, no step open: every lock released
 * and every file it wrote closed) skips closing the Lua state, which would
 * only free memory the exit frees anyway (0.5M instructions, a tenth of an
 * allocation); anything else closes it, so that finalizers (__gc) run. */
int main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    int status, code, settled = 0;
    if (L == NULL) {
        report_fatal("cannot create the Lua state: out of memory");
        return 71;
    }
    lua_setallocf(L, l_alloc, NULL); /* lauxlib's: realloc and free, which l_alloc uses too */
    lua_memory = lua_getextraspace(L);
    catch_signals();
    ltasknum_set_cancel(L, &stop_signal);
    lua_pushcfunction(L, msghandler);
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    status = lua_pcall(L, 2, 2, 1);
    if (status != LUA_OK) {
        report_fatal(lua_tostring(L, -1) ? lua_tostring(L, -1) : "unknown error");
        code = 70;
    } else {
        code = lua_isinteger(L, -2) ? (int)lua_tointeger(L, -2) : 0;
        settled = lua_toboolean(L, -1);
    }
    fflush(stdout);
    if (settled)
        return code;
    lua_memory = NULL;
    lua_close(L);
    return code;
}
