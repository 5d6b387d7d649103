/* lproc.c: the process library of tasknum.core: this process (pid, host,
 * user, clocks, the host's stop flag), other processes (alive, started,
 * kill: proc.c), and children started for `tasknum lock` (child.c). */
#include <errno.h>
#include <poll.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "clock.h"
#include "keeper.h"
#include "lutil.h"
#include "proc.h"

#define CHILD_MT "tasknum.child"

/* clock() -> seconds on a monotonic clock, for durations */
static int l_clock(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)clock_seconds());
    return 1;
}

/* time() -> seconds since the epoch with nanosecond precision (wall
 * clock), the boot clock's reading at the same moment (as boottime()) and
 * the monotonic one's (as clock()): a step's start reads all three at once
 * (its holder record carries the first two, its timings count from the
 * third) */
static int l_time(lua_State *L)
{
    struct timespec ts, boot;
    double mono = clock_seconds();
    clock_gettime(CLOCK_REALTIME, &ts);
    clock_gettime(CLOCK_BOOTTIME, &boot);
    lua_pushinteger(L, (lua_Integer)ts.tv_sec);
    lua_pushinteger(L, (lua_Integer)ts.tv_nsec);
    lua_pushnumber(L, (lua_Number)boot.tv_sec + (lua_Number)boot.tv_nsec / 1e9);
    lua_pushnumber(L, (lua_Number)mono);
    return 4;
}

/* boottime() -> seconds since boot on the boot clock (CLOCK_BOOTTIME: no
 * step of the wall clock moves it), for comparing with started_boot() */
static int l_boottime(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
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

/* whoami([user]) -> this process's pid, this host's name (nil when it
 * cannot be had) and, when user is true, the effective user's name (as
 * user()): who runs a step, asked once, together */
static int l_whoami(lua_State *L)
{
    char buf[256];
    lua_pushinteger(L, (lua_Integer)getpid());
    if (gethostname(buf, sizeof buf) == 0) {
        buf[sizeof buf - 1] = '\0';
        lua_pushstring(L, buf);
    } else {
        lua_pushnil(L);
    }
    if (!lua_toboolean(L, 1))
        return 2;
    struct passwd *pw = getpwuid(geteuid());
    if (pw != NULL && pw->pw_name != NULL)
        lua_pushstring(L, pw->pw_name);
    else
        lua_pushfstring(L, "%d", (int)geteuid());
    return 3;
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

/* The start of process pid, by one of proc.h's two clocks. */
static int push_start(lua_State *L, int (*started)(pid_t, double *))
{
    pid_t pid = check_pid(L, 1);
    double when;
    if (started(pid, &when) != 0) {
        int err = errno;
        return lutil_fail(L, err, lua_pushfstring(L, "/proc/%d/stat", (int)pid));
    }
    lua_pushnumber(L, (lua_Number)when);
    return 1;
}

/* started(pid) -> seconds since the epoch when it started | nil, msg, errno */
static int l_started(lua_State *L)
{
    return push_start(L, proc_started);
}

/* started_boot(pid) -> seconds since boot when it started (boot clock, to
 * the clock tick) | nil, msg, errno */
static int l_started_boot(lua_State *L)
{
    return push_start(L, proc_started_boot);
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

static struct child *new_child(lua_State *L)
{
    struct child *c = (struct child *)lua_newuserdatauv(L, sizeof *c, 0);
    c->pid = -1;
    c->pidfd = -1;
    c->reaped = 1;
    c->foreign = 0;
    c->done = -1;
    luaL_setmetatable(L, CHILD_MT);
    return c;
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
    struct child *c = new_child(L);
    if (child_start(argv, set, (int)keep, c) != 0)
        return lutil_fail(L, errno, argv[0]);
    return 1;
}

/* The result of a wait for children: their index (for wait_any) and
 * status, or the failure triple. */
static int waited(lua_State *L, struct child *c, int status, int index)
{
    if (status >= 0) {
        child_forget(c);
        if (index > 0)
            lua_pushinteger(L, index);
        lua_pushinteger(L, status);
        return index > 0 ? 2 : 1;
    }
    if (errno == ETIMEDOUT)
        return lutil_failmsg(L, ETIMEDOUT, "still running");
    if (errno == EINTR)
        return lutil_failmsg(L, EINTR, "interrupted while waiting");
    return lutil_fail(L, errno, "waitpid");
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
    return waited(L, c, status, 0);
}

/* wait_any({child, ...} [, timeout [, seen]]) -> index, status of the first
 * to end | nil, message, errno (as child:wait) */
static int l_wait_any(lua_State *L)
{
    struct child *list[CHILD_WAIT_MAX];
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
    luaL_argcheck(L, n >= 1 && n <= CHILD_WAIT_MAX, 1, "1 to 4 children");
    double timeout = (double)luaL_optnumber(L, 2, -1);
    sig_atomic_t seen = (sig_atomic_t)luaL_optinteger(L, 3, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        list[i - 1] = (struct child *)luaL_checkudata(L, -1, CHILD_MT);
        lua_pop(L, 1);   /* still referenced by the table */
    }
    int which = 0;
    int status = child_wait_any(list, (int)n, timeout, lutil_cancel(L), seen, &which);
    return waited(L, list[which], status, which + 1);
}

/* keep(lock_path, byte, folder, expect_pid, period) -> the keeper of the
 * legacy folder of a shared hold, a child (see keeper.h) | nil, message,
 * errno (ESTALE: info no longer names expect_pid) */
static int l_keep(lua_State *L)
{
    const char *lock_path = luaL_checkstring(L, 1);
    lua_Integer byte = luaL_checkinteger(L, 2);
    const char *folder = luaL_checkstring(L, 3);
    pid_t expect = check_pid(L, 4);
    double period = (double)luaL_checknumber(L, 5);
    luaL_argcheck(L, byte >= 0 && byte < 64, 2, "byte out of range");
    struct child *c = new_child(L);
    if (keeper_start(lock_path, (long)byte, folder, expect, period, c) != 0) {
        int err = errno;
        if (err == ESTALE)
            return lutil_failmsg(L, err, "the legacy lock folder no longer names its holder");
        return lutil_fail(L, err, "the keeper of the legacy lock folder");
    }
    return 1;
}

/* keeper:settled([timeout]) -> true once the keeper says its hold is over
 * (or it died) | nil, message, ETIMEDOUT (see keeper.h) */
static int l_child_settled(lua_State *L)
{
    struct child *c = check_child(L);
    double timeout = (double)luaL_optnumber(L, 2, -1);
    luaL_argcheck(L, c->done >= 0, 1, "not a keeper");
    struct pollfd p = { .fd = c->done, .events = POLLIN, .revents = 0 };
    int ms = timeout < 0 || timeout > 86400 ? -1 : (int)(timeout * 1000 + 0.5), n;
    do
        n = poll(&p, 1, ms);
    while (n == -1 && errno == EINTR);
    if (n > 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (n == 0)
        return lutil_failmsg(L, ETIMEDOUT, "the keeper still keeps the legacy lock folder");
    return lutil_fail(L, errno, "poll");
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
    {"settled", l_child_settled},
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
    {"boottime", l_boottime},
    {"clock", l_clock},
    {"group", l_group},
    {"hostname", l_hostname},
    {"interrupted", l_interrupted},
    {"isatty", l_isatty},
    {"keep", l_keep},
    {"kill", l_kill},
    {"pid", l_pid},
    {"sleep", l_sleep},
    {"spawn", l_spawn},
    {"started", l_started},
    {"started_boot", l_started_boot},
    {"time", l_time},
    {"user", l_user},
    {"wait_any", l_wait_any},
    {"whoami", l_whoami},
    {NULL, NULL}
};

void lproc_register(lua_State *L)
{
    lutil_class(L, CHILD_MT, child_meta, child_methods);
    luaL_setfuncs(L, proc_funcs, 0);
}
