/* ltasknum.c: binds the C core to Lua as the module tasknum.core.
 *
 * Expected failures return nil, message, code (errno, or a word such as
 * "timeout"), with errno saved before any Lua call; only misuse raises.
 * Offsets into JSON text are 1-based and inclusive, as string.find gives. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lauxlib.h"
#include "lua.h"

#include "alloc.h"
#include "durable.h"
#include "json.h"
#include "lock.h"
#include "ltasknum.h"

#define LOCK_MT "tasknum.lock"
#define CANCEL_KEY "tasknum.cancel"

/* --- failure triples ---------------------------------------------------- */

static int fail_errno(lua_State *L, int err, const char *what)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", what, strerror(err));
    lua_pushinteger(L, err);
    return 3;
}

static int fail_word(lua_State *L, const char *message, const char *word)
{
    lua_pushnil(L);
    lua_pushstring(L, message);
    lua_pushstring(L, word);
    return 3;
}

static const volatile sig_atomic_t *get_cancel(lua_State *L)
{
    const volatile sig_atomic_t *flag;
    lua_getfield(L, LUA_REGISTRYINDEX, CANCEL_KEY);
    flag = (const volatile sig_atomic_t *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    return flag;
}

void ltasknum_set_cancel(lua_State *L, volatile sig_atomic_t *flag)
{
    lua_pushlightuserdata(L, (void *)flag);
    lua_setfield(L, LUA_REGISTRYINDEX, CANCEL_KEY);
}

/* --- arithmetic --------------------------------------------------------- */

/* take(next, count, min, max) -> {numbers}, new_next, wrapped */
static int l_take(lua_State *L)
{
    lua_Integer next = luaL_checkinteger(L, 1), count = luaL_checkinteger(L, 2);
    lua_Integer min = luaL_checkinteger(L, 3), max = luaL_checkinteger(L, 4);
    int64_t new_next, *out;
    int wrapped;
    luaL_argcheck(L, count <= (1 << 24), 2, "count too large to list");
    if (alloc_take(next, count, min, max, NULL, &new_next, &wrapped) != 0)
        return fail_word(L, "count or counter does not fit the range", "range");
    /* count is now known to be >= 1 and within the range */
    out = (int64_t *)lua_newuserdatauv(L, (size_t)count * sizeof *out, 0);
    alloc_take(next, count, min, max, out, &new_next, &wrapped);
    lua_createtable(L, (int)(count < INT32_MAX ? count : 0), 0);
    for (lua_Integer i = 0; i < count; i++) {
        lua_pushinteger(L, out[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushinteger(L, new_next);
    lua_pushboolean(L, wrapped);
    return 3;
}

/* --- locks -------------------------------------------------------------- */

typedef struct lock_handle { int fd; } lock_handle;

static lock_handle *check_lock(lua_State *L)
{
    return (lock_handle *)luaL_checkudata(L, 1, LOCK_MT);
}

/* lock(path, timeout [, record]) -> handle | nil, message, "timeout" | errno */
static int l_lock(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    double timeout = (double)luaL_optnumber(L, 2, -1);
    size_t rlen = 0;
    const char *record = luaL_optlstring(L, 3, NULL, &rlen);
    lock_handle *h = (lock_handle *)lua_newuserdatauv(L, sizeof *h, 0);
    h->fd = -1;
    luaL_setmetatable(L, LOCK_MT);
    h->fd = lock_acquire(path, timeout, get_cancel(L));
    if (h->fd < 0) {
        int err = errno;
        if (err == ETIMEDOUT)
            return fail_word(L, "timed out waiting for the lock", "timeout");
        if (err == EINTR)
            return fail_word(L, "interrupted while waiting for the lock", "interrupted");
        return fail_errno(L, err, path);
    }
    if (record && lock_describe(h->fd, record, rlen) != 0) {
        int err = errno;
        lock_release(&h->fd);
        return fail_errno(L, err, path);
    }
    return 1;
}

static int l_lock_release(lua_State *L)
{
    lock_release(&check_lock(L)->fd);
    return 0;
}

static int l_lock_describe(lua_State *L)
{
    lock_handle *h = check_lock(L);
    size_t len;
    const char *record = luaL_checklstring(L, 2, &len);
    luaL_argcheck(L, h->fd >= 0, 1, "lock released");
    if (lock_describe(h->fd, record, len) != 0)
        return fail_errno(L, errno, "lock file");
    lua_pushboolean(L, 1);
    return 1;
}

static int l_lock_fd(lua_State *L)
{
    lua_pushinteger(L, check_lock(L)->fd);
    return 1;
}

static int l_lock_tostring(lua_State *L)
{
    lock_handle *h = check_lock(L);
    if (h->fd < 0)
        lua_pushliteral(L, "tasknum.lock (released)");
    else
        lua_pushfstring(L, "tasknum.lock (%p)", (void *)h);
    return 1;
}

/* probe(path) -> held */
static int l_probe(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int held = lock_probe(path);
    if (held < 0)
        return fail_errno(L, errno, path);
    lua_pushboolean(L, held);
    return 1;
}

/* holder(path) -> record text */
static int l_holder(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char buf[4096];
    long n = lock_read_record(path, buf, sizeof buf);
    if (n < 0)
        return fail_errno(L, errno, path);
    lua_pushlstring(L, buf, (size_t)n);
    return 1;
}

/* --- durable files ------------------------------------------------------ */

/* replace(path, text) -> true | nil, message, errno */
static int l_replace(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    char where[4096] = "";
    if (durable_replace(path, text, len, get_cancel(L), where, sizeof where) != 0)
        return fail_errno(L, errno, where[0] ? where : path);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_sweep(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int n = durable_sweep(path);
    if (n < 0)
        return fail_errno(L, errno, path);
    lua_pushinteger(L, n);
    return 1;
}

static int l_temps(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int n = durable_count_temps(path);
    if (n < 0)
        return fail_errno(L, errno, path);
    lua_pushinteger(L, n);
    return 1;
}

/* --- JSON text ---------------------------------------------------------- */

/* Reads the span given as 1-based inclusive positions at args i, i+1. */
static json_span check_span(lua_State *L, int i, size_t len)
{
    lua_Integer s = luaL_checkinteger(L, i), e = luaL_checkinteger(L, i + 1);
    luaL_argcheck(L, s >= 1 && e >= s - 1 && (size_t)e <= len, i, "span out of the text");
    return (json_span){(size_t)s - 1, (size_t)e};
}

static int push_span(lua_State *L, json_span s)
{
    lua_pushinteger(L, (lua_Integer)s.start + 1);
    lua_pushinteger(L, (lua_Integer)s.end);
    return 2;
}

/* validate(text) -> start, stop | nil, message, offset */
static int l_validate(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    json_span root;
    json_error err = {0, "invalid JSON"};
    int st = json_validate(text, len, &root, &err);
    if (st == JSON_OK)
        return push_span(L, root);
    lua_pushnil(L);
    lua_pushstring(L, err.reason ? err.reason : "invalid JSON");
    lua_pushinteger(L, (lua_Integer)err.offset + 1);
    return 3;
}

static const char *status_word(int st)
{
    switch (st) {
    case JSON_ABSENT: return "absent";
    case JSON_DUPLICATE: return "duplicate";
    case JSON_RANGE: return "out of range";
    case JSON_TOO_DEEP: return "too deep";
    case JSON_INVALID: return "invalid";
    default: return "wrong type";
    }
}

/* member(text, start, stop, key) -> vstart, vstop | nil, reason */
static int l_member(lua_State *L)
{
    size_t len, klen;
    const char *text = luaL_checklstring(L, 1, &len);
    json_span obj = check_span(L, 2, len), value;
    const char *key = luaL_checklstring(L, 4, &klen);
    int st = json_member(text, obj, key, klen, &value);
    if (st == JSON_OK)
        return push_span(L, value);
    lua_pushnil(L);
    lua_pushstring(L, st == JSON_WRONG_TYPE ? "not an object" : status_word(st));
    return 2;
}

/* elements(text, start, stop) -> {s1, e1, s2, e2, ...} | nil, reason */
static int l_elements(lua_State *L)
{
    size_t len, cursor = 0;
    const char *text = luaL_checklstring(L, 1, &len);
    json_span arr = check_span(L, 2, len), elem;
    lua_Integer n = 0;
    int st;
    lua_newtable(L);
    while ((st = json_next(text, arr, &cursor, &elem)) == JSON_OK) {
        lua_pushinteger(L, (lua_Integer)elem.start + 1);
        lua_rawseti(L, -2, ++n);
        lua_pushinteger(L, (lua_Integer)elem.end);
        lua_rawseti(L, -2, ++n);
    }
    if (st == JSON_WRONG_TYPE) {
        lua_pushnil(L);
        lua_pushliteral(L, "not an array");
        return 2;
    }
    return 1;
}

/* integer(text, start, stop) -> integer | nil, reason */
static int l_integer(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    json_span s = check_span(L, 2, len);
    int64_t v;
    int st = json_integer(text, s, &v);
    if (st == JSON_OK) {
        lua_pushinteger(L, v);
        return 1;
    }
    lua_pushnil(L);
    lua_pushstring(L, st == JSON_RANGE ? "out of range" : "not an integer");
    return 2;
}

/* --- process and clock -------------------------------------------------- */

/* clock() -> seconds on a monotonic clock, for durations */
static int l_clock(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
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

static int l_hostname(lua_State *L)
{
    char buf[256];
    if (gethostname(buf, sizeof buf) != 0)
        return fail_errno(L, errno, "gethostname");
    buf[sizeof buf - 1] = '\0';
    lua_pushstring(L, buf);
    return 1;
}

/* cwd() -> the current folder */
static int l_cwd(lua_State *L)
{
    char *cwd = getcwd(NULL, 0);
    if (cwd == NULL)
        return fail_errno(L, errno, "getcwd");
    lua_pushstring(L, cwd);
    free(cwd);
    return 1;
}

/* realpath(path) -> the absolute path with every symlink resolved */
static int l_realpath(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char *real = realpath(path, NULL);
    if (real == NULL)
        return fail_errno(L, errno, path);
    lua_pushstring(L, real);
    free(real);
    return 1;
}

/* mkdir(path) -> true | nil, message, errno (mode 0755 less the umask) */
static int l_mkdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (mkdir(path, 0755) != 0)
        return fail_errno(L, errno, path);
    lua_pushboolean(L, 1);
    return 1;
}

/* listdir(path) -> { names } without "." and "..", unsorted */
static int l_listdir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    DIR *d = opendir(path);
    struct dirent *ent;
    lua_Integer n = 0;
    if (d == NULL)
        return fail_errno(L, errno, path);
    lua_newtable(L);
    while ((ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        lua_pushstring(L, ent->d_name);
        lua_rawseti(L, -2, ++n);
    }
    closedir(d);
    return 1;
}

/* interrupted() -> the signal that asked the host to stop (SIGINT,
 * SIGTERM), or false */
static int l_interrupted(lua_State *L)
{
    const volatile sig_atomic_t *flag = get_cancel(L);
    if (flag != NULL && *flag != 0)
        lua_pushinteger(L, *flag);
    else
        lua_pushboolean(L, 0);
    return 1;
}

/* --- registration ------------------------------------------------------- */

static const luaL_Reg lock_methods[] = {
    {"describe", l_lock_describe},
    {"fd", l_lock_fd},
    {"release", l_lock_release},
    {NULL, NULL}
};

static const luaL_Reg lock_meta[] = {
    {"__close", l_lock_release},
    {"__gc", l_lock_release},
    {"__tostring", l_lock_tostring},
    {"__index", NULL},
    {NULL, NULL}
};

static const luaL_Reg core_funcs[] = {
    {"clock", l_clock},
    {"cwd", l_cwd},
    {"elements", l_elements},
    {"holder", l_holder},
    {"hostname", l_hostname},
    {"integer", l_integer},
    {"interrupted", l_interrupted},
    {"listdir", l_listdir},
    {"lock", l_lock},
    {"member", l_member},
    {"mkdir", l_mkdir},
    {"pid", l_pid},
    {"probe", l_probe},
    {"realpath", l_realpath},
    {"replace", l_replace},
    {"sweep", l_sweep},
    {"take", l_take},
    {"temps", l_temps},
    {"time", l_time},
    {"validate", l_validate},
    {NULL, NULL}
};

int luaopen_tasknum_core(lua_State *L)
{
    if (luaL_newmetatable(L, LOCK_MT)) {
        luaL_setfuncs(L, lock_meta, 0);
        luaL_newlib(L, lock_methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlib(L, core_funcs);
    lua_pushliteral(L, TASKNUM_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
