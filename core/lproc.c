/* lproc.c: the process library of tasknum.core: this process (pid, host,
 * user, clocks, the host's stop flag), other processes (alive, started,
 * kill: proc.c), and children started for `tasknum lock` (child.c). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "clock.h"
#include "lutil.h"
#include "proc.h"

#define CHILD_MT "tasknum.child"

/* clock() -> seconds on a monotonic clock, for durations */
static int l_clock(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)clock_seconds());
    return 1;
}

/* time() -> seconds since the epoch with nanosecond precision (wall clock) */
static int l_time(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushinteger(L, (lua_Integer)ts.tv_sec);
    lua_pushinteger(L, (lua_Integer)ts.tv_nsec);
    return 2;
}

static int l_pid(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)getpid());
    return 1;
}

/* isatty(fd) -> whether that descriptor of this process is a terminal
 * (stdout at a terminal: the CLI prints a line for people) */
static int l_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)) == 1);
    return 1;
}

static int l_hostname(lua_State *L)
{
    char buf[256];
    if (gethostname(buf, sizeof buf) != 0)
        return lutil_fail(L, errno, "gethostname");
    buf[sizeof buf - 1] = '\0';
    lua_pushstring(L, buf);
    return 1;
}

/* user([uid]) -> the name of that user (default: the effective one), or
 * its uid as a string; and the uid */
static int l_user(lua_State *L)
{
    uid_t uid = lua_isnoneornil(L, 1) ? geteuid() : (uid_t)luaL_checkinteger(L, 1);
    struct passwd *pw = getpwuid(uid);
    if (pw != NULL && pw->pw_name != NULL)
        lua_pushstring(L, pw->pw_name);
    else
        lua_pushfstring(L, "%d", (int)uid);
    lua_pushinteger(L, (lua_Integer)uid);
    return 2;
}

/* group(gid) -> the name of that group, or its gid as a string */
static int l_group(lua_State *L)
{
    gid_t gid = (gid_t)luaL_checkinteger(L, 1);
    struct group *gr = getgrgid(gid);
    if (gr != NULL && gr->gr_name != NULL)
        lua_pushstring(L, gr->gr_name);
    else
        lua_pushfstring(L, "%d", (int)gid);
    return 1;
}

/* interrupted() -> the signal that asked the host to stop (SIGINT,
 * SIGTERM), or false */
static int l_interrupted(lua_State *L)
{
    const volatile sig_atomic_t *flag = lutil_cancel(L);
    if (flag != NULL && *flag != 0)
        lua_pushinteger(L, *flag);
    else
        lua_pushboolean(L, 0);
    return 1;
}

static pid_t check_pid(lua_State *L, int i)
{
    lua_Integer pid = luaL_checkinteger(L, i);
    luaL_argcheck(L, pid > 0 && pid <= INT32_MAX, i, "not a pid");
    return (pid_t)pid;
}

/* alive(pid) -> true | false (no such process, or a zombie) */
static int l_alive(lua_State *L)
{
    int alive = proc_alive(check_pid(L, 1));
    if (alive < 0)
        return lutil_fail(L, errno, "kill");
    lua_pushboolean(L, alive);
    return 1;
}

/* started(pid) -> seconds since the epoch when it started | nil, msg, errno */
static int l_started(lua_State *L)
{
    pid_t pid = check_pid(L, 1);
    double epoch;
    if (proc_started(pid, &epoch) != 0) {
        int err = errno;
        return lutil_fail(L, err, lua_pushfstring(L, "/proc/%d/stat", (int)pid));
    }
    lua_pushnumber(L, (lua_Number)epoch);
    return 1;
}

/* kill(pid, signal) -> true | nil, message, errno */
static int l_kill(lua_State *L)
{
    pid_t pid = check_pid(L, 1);
    lua_Integer sig = luaL_checkinteger(L, 2);
    luaL_argcheck(L, sig >= 0 && sig < 65, 2, "not a signal");
    if (kill(pid, (int)sig) != 0)
        return lutil_fail(L, errno, "kill");
    lua_pushboolean(L, 1);
    return 1;
}

/* sleep(seconds) -> true; returns early when a signal arrives */
static int l_sleep(lua_State *L)
{
    double s = (double)luaL_checknumber(L, 1);
    luaL_argcheck(L, s >= 0 && s < 1e9, 1, "seconds out of range");
    struct timespec ts = clock_span(s);
    nanosleep(&ts, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

static struct child *check_child(lua_State *L)
{
    return (struct child *)luaL_checkudata(L, 1, CHILD_MT);
}

/* spawn({command, args...}, {NAME = value} | nil, keep_fd | nil) -> child
 * | nil, message, errno (ENOENT: not found, EACCES: not executable, ...) */
static int l_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 3);
    lua_Integer argc = (lua_Integer)lua_rawlen(L, 1), keep = luaL_optinteger(L, 3, -1);
    luaL_argcheck(L, argc >= 1 && argc < (1 << 20), 1, "needs a command");
    luaL_argcheck(L, keep >= -1 && keep <= INT32_MAX, 3, "not a descriptor");
    char **argv = lutil_strings(L, 1, argc);
    lua_newtable(L);                              /* "NAME=value" strings */
    int sets = lua_gettop(L);
    lua_Integer n = 0;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        for (lua_pushnil(L); lua_next(L, 2); lua_pop(L, 1)) {
            luaL_argcheck(L, lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING,
                          2, "names and values must be strings");
            lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
            lua_rawseti(L, sets, ++n);
        }
    }
    char **set = lutil_strings(L, sets, n);
    struct child *c = (struct child *)lua_newuserdatauv(L, sizeof *c, 0);
    c->pid = -1;
    c->pidfd = -1;
    c->reaped = 1;
    luaL_setmetatable(L, CHILD_MT);
    if (child_start(argv, set, (int)keep, c) != 0)
        return lutil_fail(L, errno, argv[0]);
    return 1;
}

/* child:wait([timeout [, seen]]) -> status (128 + signal when killed) | nil,
 * message, errno: ETIMEDOUT (still running), EINTR (the host's stop flag
 * differs from seen), or waitpid's */
static int l_child_wait(lua_State *L)
{
    struct child *c = check_child(L);
    double timeout = (double)luaL_optnumber(L, 2, -1);
    sig_atomic_t seen = (sig_atomic_t)luaL_optinteger(L, 3, 0);
    int status = child_wait(c, timeout, lutil_cancel(L), seen);
    if (status >= 0) {
        child_forget(c);
        lua_pushinteger(L, status);
        return 1;
    }
    if (errno == ETIMEDOUT)
        return lutil_failmsg(L, ETIMEDOUT, "the command is still running");
    if (errno == EINTR)
        return lutil_failmsg(L, EINTR, "interrupted while waiting for the command");
    return lutil_fail(L, errno, "waitpid");
}

static int l_child_pid(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_child(L)->pid);
    return 1;
}

static int l_child_forget(lua_State *L)
{
    child_forget(check_child(L));
    return 0;
}

/* A child that is collected unwaited keeps running; only its pidfd closes. */
static const luaL_Reg child_methods[] = {
    {"pid", l_child_pid},
    {"wait", l_child_wait},
    {NULL, NULL}
};

static const luaL_Reg child_meta[] = {
    {"__close", l_child_forget},
    {"__gc", l_child_forget},
    {NULL, NULL}
};

static const luaL_Reg proc_funcs[] = {
    {"alive", l_alive},
    {"clock", l_clock},
    {"group", l_group},
    {"hostname", l_hostname},
    {"interrupted", l_interrupted},
    {"isatty", l_isatty},
    {"kill", l_kill},
    {"pid", l_pid},
    {"sleep", l_sleep},
    {"spawn", l_spawn},
    {"started", l_started},
    {"time", l_time},
    {"user", l_user},
    {NULL, NULL}
};

void lproc_register(lua_State *L)
{
    lutil_class(L, CHILD_MT, child_meta, child_methods);
    luaL_setfuncs(L, proc_funcs, 0);
}
