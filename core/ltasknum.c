/* ltasknum.c: binds the C core to Lua as the module tasknum.core.
 *
 * Expected failures return nil, message, code (errno, or a word such as
 * "timeout"), with errno saved before any Lua call; only misuse raises.
 * Offsets into JSON text are 1-based and inclusive, as string.find gives. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "lauxlib.h"
#include "lua.h"

#include "alloc.h"
#include "child.h"
#include "durable.h"
#include "json.h"
#include "lock.h"
#include "ltasknum.h"
#include "proc.h"

#define LOCK_MT "tasknum.lock"
#define CHILD_MT "tasknum.child"
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

static lock_handle *new_lock(lua_State *L)
{
    lock_handle *h = (lock_handle *)lua_newuserdatauv(L, sizeof *h, 0);
    h->fd = -1;
    luaL_setmetatable(L, LOCK_MT);
    return h;
}

/* The failure triple for a lock that was not taken (errno in err). */
static int lock_failed(lua_State *L, int err, const char *path)
{
    if (err == ETIMEDOUT)
        return fail_word(L, "timed out waiting for the lock", "timeout");
    if (err == EINTR)
        return fail_word(L, "interrupted while waiting for the lock", "interrupted");
    return fail_errno(L, err, path);
}

/* lock(path, timeout [, record]) -> handle | nil, message, "timeout" | errno */
static int l_lock(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    double timeout = (double)luaL_optnumber(L, 2, -1);
    size_t rlen = 0;
    const char *record = luaL_optlstring(L, 3, NULL, &rlen);
    lock_handle *h = new_lock(L);
    h->fd = lock_acquire(path, timeout, get_cancel(L));
    if (h->fd < 0)
        return lock_failed(L, errno, path);
    if (record && lock_describe(h->fd, record, rlen) != 0) {
        int err = errno;
        lock_release(&h->fd);
        return fail_errno(L, err, path);
    }
    return 1;
}

/* adopt(fd, byte, path, timeout) -> handle of the next byte | nil, message,
 * "timeout" | "interrupted" | errno; never touches fd itself */
static int l_adopt(lua_State *L)
{
    lua_Integer fd = luaL_checkinteger(L, 1), byte = luaL_checkinteger(L, 2);
    const char *path = luaL_checkstring(L, 3);
    double timeout = (double)luaL_optnumber(L, 4, -1);
    luaL_argcheck(L, fd >= 0 && fd <= INT32_MAX, 1, "not a descriptor");
    luaL_argcheck(L, byte >= 0 && byte < LOCK_MAX_DEPTH - 1, 2, "byte out of range");
    lock_handle *h = new_lock(L);
    h->fd = lock_adopt((int)fd, (long)byte, path, timeout, get_cancel(L));
    if (h->fd < 0)
        return lock_failed(L, errno, path);
    return 1;
}

/* handle:narrow(byte) -> true | nil, message, errno */
static int l_lock_narrow(lua_State *L)
{
    lock_handle *h = check_lock(L);
    lua_Integer byte = luaL_checkinteger(L, 2);
    luaL_argcheck(L, h->fd >= 0, 1, "lock released");
    luaL_argcheck(L, byte >= 0 && byte < LOCK_MAX_DEPTH, 2, "byte out of range");
    if (lock_narrow(h->fd, (long)byte) != 0)
        return fail_errno(L, errno, "lock file");
    lua_pushboolean(L, 1);
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

/* replace(path, text [, start, stop, bytes]) -> true | nil, message, errno
 * With a span, writes text with text[start..stop] replaced by bytes, in
 * three pieces: the new text is never built in memory. */
static int l_replace(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len, blen = 0;
    const char *text = luaL_checklstring(L, 2, &len);
    char where[4096] = "";
    struct iovec iov[3] = {{(void *)(uintptr_t)text, len}, {NULL, 0}, {NULL, 0}};
    int n = 1;
    if (!lua_isnoneornil(L, 3)) {
        lua_Integer s = luaL_checkinteger(L, 3), e = luaL_checkinteger(L, 4);
        const char *bytes = luaL_checklstring(L, 5, &blen);
        luaL_argcheck(L, s >= 1 && e >= s - 1 && (size_t)e <= len, 3, "span out of the text");
        iov[0].iov_len = (size_t)s - 1;
        iov[1] = (struct iovec){(void *)(uintptr_t)bytes, blen};
        iov[2] = (struct iovec){(void *)(uintptr_t)(text + e), len - (size_t)e};
        n = 3;
    }
    if (durable_replacev(path, iov, n, get_cancel(L), where, sizeof where) != 0)
        return fail_errno(L, errno, where[0] ? where : path);
    lua_pushboolean(L, 1);
    return 1;
}

/* create(path, text) -> true | nil, message, errno (17 EEXIST when path
 * exists): writes a new file durably, never replacing one */
static int l_create(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    char where[4096] = "";
    if (durable_create(path, text, len, where, sizeof where) != 0)
        return fail_errno(L, errno, where[0] ? where : path);
    lua_pushboolean(L, 1);
    return 1;
}

/* readfile(path) -> text | nil, message, errno: one read into a buffer of
 * the file's size (io.read("a") grows its buffer by doubling and copies). */
static int l_readfile(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    luaL_Buffer b;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1 || fstat(fd, &st) == -1) {
        int err = errno;
        if (fd != -1)
            close(fd);
        return fail_errno(L, err, path);
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return fail_errno(L, EISDIR, path);
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    char *p = luaL_buffinitsize(L, &b, cap);
    size_t used = 0;
    for (;;) {
        ssize_t got = read(fd, p + used, cap - used);
        if (got == -1 && errno == EINTR)
            continue;
        if (got == -1) {
            int err = errno;
            close(fd);
            return fail_errno(L, err, path);
        }
        if (got == 0)
            break;
        used += (size_t)got;
        if (used == cap) { /* the file grew: make room */
            luaL_addsize(&b, used);
            p = luaL_prepbuffsize(&b, cap);
            used = 0;
        }
    }
    close(fd);
    luaL_addsize(&b, used);
    luaL_pushresult(&b);
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

/* members(text, start, stop, key, ...) -> { [key] = {vstart, vstop} } for
 * the keys present once, [key] = false for those present twice or more;
 * one pass over the object | nil, reason */
static int l_members(lua_State *L)
{
    size_t len, lens[16];
    const char *text = luaL_checklstring(L, 1, &len), *keys[16];
    json_span obj = check_span(L, 2, len), values[16];
    unsigned counts[16];
    int n = lua_gettop(L) - 3;
    luaL_argcheck(L, n >= 1 && n <= 16, 4, "1 to 16 keys");
    for (int i = 0; i < n; i++)
        keys[i] = luaL_checklstring(L, 4 + i, &lens[i]);
    int st = json_members(text, obj, keys, lens, (size_t)n, values, counts);
    if (st != JSON_OK) {
        lua_pushnil(L);
        lua_pushstring(L, st == JSON_WRONG_TYPE ? "not an object" : status_word(st));
        return 2;
    }
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        if (counts[i] == 0)
            continue;
        if (counts[i] > 1) {
            lua_pushboolean(L, 0);
        } else {
            lua_createtable(L, 2, 0);
            lua_pushinteger(L, (lua_Integer)values[i].start + 1);
            lua_rawseti(L, -2, 1);
            lua_pushinteger(L, (lua_Integer)values[i].end);
            lua_rawseti(L, -2, 2);
        }
        lua_setfield(L, -2, keys[i]);
    }
    return 1;
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

static int wanted(lua_State *L, int idx, lua_Integer n)
{
    if (lua_isnoneornil(L, idx))
        return 1;
    for (lua_Integer i = 1, len = (lua_Integer)lua_rawlen(L, idx); i <= len; i++) {
        lua_rawgeti(L, idx, i);
        int hit = lua_tointeger(L, -1) == n && lua_isinteger(L, -1);
        lua_pop(L, 1);
        if (hit)
            return 1;
    }
    return 0;
}

/* held(text, start, stop, field [, numbers]) -> { [n] = {start, stop} }:
 * for each object in the array at start..stop whose member field is an
 * integer n (the first such element wins), limited to numbers when given.
 * One pass in C over each element (json_next_member), not a walk through
 * elements() and member() from Lua, which skipped every element twice. */
static int l_held(lua_State *L)
{
    size_t len, flen, cursor = 0;
    const char *text = luaL_checklstring(L, 1, &len);
    json_span arr = check_span(L, 2, len), elem, value;
    const char *field = luaL_checklstring(L, 4, &flen);
    int64_t n;
    if (!lua_isnoneornil(L, 5))
        luaL_checktype(L, 5, LUA_TTABLE);
    lua_newtable(L);
    while (json_next_member(text, arr, &cursor, field, flen, &elem, &value) == JSON_OK) {
        if (value.start == value.end
            || json_integer(text, value, &n) != JSON_OK || !wanted(L, 5, n))
            continue;
        if (lua_rawgeti(L, -1, n) == LUA_TNIL) {
            lua_pop(L, 1);
            push_span(L, elem);
            lua_createtable(L, 2, 0);
            lua_insert(L, -3);
            lua_rawseti(L, -3, 2);
            lua_rawseti(L, -2, 1);
            lua_rawseti(L, -2, n);
        } else {
            lua_pop(L, 1);
        }
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

/* user() -> the name of the effective user, or its uid as a string */
static int l_user(lua_State *L)
{
    uid_t uid = geteuid();
    struct passwd *pw = getpwuid(uid);
    if (pw != NULL && pw->pw_name != NULL)
        lua_pushstring(L, pw->pw_name);
    else
        lua_pushfstring(L, "%d", (int)uid);
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

/* publish(from, to) -> true | nil, message, errno: renames from to to only
 * if to does not exist (renameat2 RENAME_NOREPLACE), atomically: EEXIST if
 * it does, EINVAL where the file system cannot do it. The message names to. */
static int l_publish(lua_State *L)
{
    const char *from = luaL_checkstring(L, 1), *to = luaL_checkstring(L, 2);
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) != 0)
        return fail_errno(L, errno, to);
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

/* --- other processes and folders (tasknum lock, legacy lock folders) ---- */

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
        return fail_errno(L, errno, "kill");
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
        return fail_errno(L, err, lua_pushfstring(L, "/proc/%d/stat", (int)pid));
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
        return fail_errno(L, errno, "kill");
    lua_pushboolean(L, 1);
    return 1;
}

/* sleep(seconds) -> true; returns early when a signal arrives */
static int l_sleep(lua_State *L)
{
    double s = (double)luaL_checknumber(L, 1);
    luaL_argcheck(L, s >= 0 && s < 1e9, 1, "seconds out of range");
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    nanosleep(&ts, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

/* stat(path) -> { type = "file"|"directory"|"link"|"other", size, mtime }
 * without following a symlink at the last component */
static int l_stat(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (lstat(path, &st) != 0)
        return fail_errno(L, errno, path);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "directory"
                   : S_ISLNK(st.st_mode) ? "link" : "other");
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, (lua_Integer)st.st_size);
    lua_setfield(L, -2, "size");
    lua_pushnumber(L, (lua_Number)st.st_mtim.tv_sec + (lua_Number)st.st_mtim.tv_nsec / 1e9);
    lua_setfield(L, -2, "mtime");
    return 1;
}

/* touch(path) -> true | nil, message, errno: sets its mtime to now */
static int l_touch(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW) != 0)
        return fail_errno(L, errno, path);
    lua_pushboolean(L, 1);
    return 1;
}

static struct child *check_child(lua_State *L)
{
    return (struct child *)luaL_checkudata(L, 1, CHILD_MT);
}

/* Builds a NULL-terminated array of the strings at t[1..n] in a userdata
 * left on the stack; the strings stay referenced by t. */
static char **string_array(lua_State *L, int t, lua_Integer n)
{
    char **a = (char **)lua_newuserdatauv(L, ((size_t)n + 1) * sizeof *a, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, t, i);
        a[i - 1] = (char *)luaL_checkstring(L, -1);   /* kept alive by t */
        lua_pop(L, 1);
    }
    a[n] = NULL;
    return a;
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
    char **argv = string_array(L, 1, argc);
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
    char **set = string_array(L, sets, n);
    struct child *c = (struct child *)lua_newuserdatauv(L, sizeof *c, 0);
    c->pid = -1;
    c->pidfd = -1;
    c->reaped = 1;
    luaL_setmetatable(L, CHILD_MT);
    if (child_start(argv, set, (int)keep, c) != 0)
        return fail_errno(L, errno, argv[0]);
    return 1;
}

/* child:wait([timeout [, seen]]) -> status (128 + signal when killed) | nil,
 * message, "timeout" | "interrupted" (the host's stop flag is not seen) |
 * errno */
static int l_child_wait(lua_State *L)
{
    struct child *c = check_child(L);
    double timeout = (double)luaL_optnumber(L, 2, -1);
    sig_atomic_t seen = (sig_atomic_t)luaL_optinteger(L, 3, 0);
    int status = child_wait(c, timeout, get_cancel(L), seen);
    if (status >= 0) {
        child_forget(c);
        lua_pushinteger(L, status);
        return 1;
    }
    if (errno == ETIMEDOUT)
        return fail_word(L, "the command is still running", "timeout");
    if (errno == EINTR)
        return fail_word(L, "interrupted while waiting for the command", "interrupted");
    return fail_errno(L, errno, "waitpid");
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

/* --- registration ------------------------------------------------------- */

static const luaL_Reg lock_methods[] = {
    {"describe", l_lock_describe},
    {"fd", l_lock_fd},
    {"narrow", l_lock_narrow},
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

/* A child that is collected unwaited keeps running; only its pidfd closes. */
static const luaL_Reg child_methods[] = {
    {"pid", l_child_pid},
    {"wait", l_child_wait},
    {NULL, NULL}
};

static const luaL_Reg child_meta[] = {
    {"__close", l_child_forget},
    {"__gc", l_child_forget},
    {"__index", NULL},
    {NULL, NULL}
};

static const luaL_Reg core_funcs[] = {
    {"adopt", l_adopt},
    {"alive", l_alive},
    {"clock", l_clock},
    {"create", l_create},
    {"cwd", l_cwd},
    {"elements", l_elements},
    {"held", l_held},
    {"holder", l_holder},
    {"hostname", l_hostname},
    {"integer", l_integer},
    {"interrupted", l_interrupted},
    {"kill", l_kill},
    {"listdir", l_listdir},
    {"lock", l_lock},
    {"member", l_member},
    {"members", l_members},
    {"mkdir", l_mkdir},
    {"pid", l_pid},
    {"probe", l_probe},
    {"publish", l_publish},
    {"readfile", l_readfile},
    {"realpath", l_realpath},
    {"replace", l_replace},
    {"sleep", l_sleep},
    {"spawn", l_spawn},
    {"started", l_started},
    {"stat", l_stat},
    {"sweep", l_sweep},
    {"take", l_take},
    {"temps", l_temps},
    {"time", l_time},
    {"touch", l_touch},
    {"user", l_user},
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
    if (luaL_newmetatable(L, CHILD_MT)) {
        luaL_setfuncs(L, child_meta, 0);
        luaL_newlib(L, child_methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlib(L, core_funcs);
    lua_pushliteral(L, TASKNUM_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
