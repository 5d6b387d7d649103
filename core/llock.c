/* llock.c: the lock library of tasknum.core: lock handles on the state's
 * lock file (lock.c). A handle is a userdata made before the lock is taken,
 * whose __gc and __close release it, so that no error can leak a lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beside.h"
#include "clock.h"
#include "holders.h"
#include "lock.h"
#include "lutil.h"

#define LOCK_MT "tasknum.lock"

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

/* The failure triple for a lock that was not taken (errno in err): a
 * message of our own where strerror would mislead ("Connection timed out"),
 * and one naming a foreign object in the lock file's name. */
static int lock_failed(lua_State *L, int err, const char *path)
{
    struct stat st;
    if (err == ETIMEDOUT)
        return lutil_failmsg(L, err, "timed out waiting for the lock");
    if (err == EINTR)
        return lutil_failmsg(L, err, "interrupted while waiting for the lock");
    if ((err == ELOOP || err == EMLINK || err == ENXIO || err == EISDIR)
        && lstat(path, &st) == 0) {
        struct beside_found found = {1, st, strlen(path)};
        char msg[8192];
        beside_message(msg, sizeof msg, "", path, err, &found);
        return lutil_failmsg(L, err, msg);
    }
    return lutil_fail(L, err, path);
}

/* lock(path, timeout [, record [, like]]) -> handle, seconds waited for it
 * | nil, message, errno
 * (ETIMEDOUT: still held when the time ran out; EINTR: the host's stop
 * flag was raised). like: the state file, whose group, mode (and owner,
 * as root) the lock file takes when it is made. */
static int l_lock(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    double timeout = (double)luaL_optnumber(L, 2, -1);
    size_t rlen = 0;
    const char *record = luaL_optlstring(L, 3, NULL, &rlen);
    const char *like_path = luaL_optstring(L, 4, NULL);
    struct beside_like like = {0};
    if (like_path != NULL && beside_like_of(like_path, &like) == -1)
        return lutil_fail(L, errno, like_path);
    lock_handle *h = new_lock(L);
    double t0 = clock_seconds();
    h->fd = lock_acquire(path, &like, timeout, lutil_cancel(L));
    if (h->fd < 0)
        return lock_failed(L, errno, path);
    double waited = clock_seconds() - t0;
    if (record && lock_describe(h->fd, record, rlen) != 0) {
        int err = errno;
        lock_release(&h->fd);
        return lutil_fail(L, err, path);
    }
    lua_pushnumber(L, (lua_Number)waited);
    return 2;
}

/* adopt(fd, byte, path, timeout) -> handle of the next byte | nil, message,
 * errno (ETIMEDOUT, EINTR as lock(); ESTALE: fd is another file; EPERM: fd
 * does not hold byte now; ELOOP: it does, but byte is the last one); never
 * changes the lock on fd */
static int l_adopt(lua_State *L)
{
    lua_Integer fd = luaL_checkinteger(L, 1), byte = luaL_checkinteger(L, 2);
    const char *path = luaL_checkstring(L, 3);
    double timeout = (double)luaL_optnumber(L, 4, -1);
    luaL_argcheck(L, fd >= 0 && fd <= INT32_MAX, 1, "not a descriptor");
    luaL_argcheck(L, byte >= 0 && byte < LOCK_MAX_DEPTH, 2, "byte out of range");
    lock_handle *h = new_lock(L);
    h->fd = lock_adopt((int)fd, (long)byte, path, timeout, lutil_cancel(L));
    if (h->fd < 0 && errno == EPERM)
        return lutil_failmsg(L, EPERM, "the inherited descriptor does not hold the lock");
    if (h->fd < 0 && errno == ELOOP)
        return lutil_failmsg(L, ELOOP, "no byte of the lock is left to share");
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
        return lutil_fail(L, errno, "lock file");
    lua_pushboolean(L, 1);
    return 1;
}

static int l_lock_release(lua_State *L)
{
    lock_release(&check_lock(L)->fd);
    return 0;
}

/* handle:describe(record) -> true | nil, message, errno */
static int l_lock_describe(lua_State *L)
{
    lock_handle *h = check_lock(L);
    size_t len;
    const char *record = luaL_checklstring(L, 2, &len);
    luaL_argcheck(L, h->fd >= 0, 1, "lock released");
    if (lock_describe(h->fd, record, len) != 0)
        return lutil_fail(L, errno, "lock file");
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

/* probe(path) -> held | nil, message, errno */
static int l_probe(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int held = lock_probe(path);
    if (held < 0)
        return lutil_fail(L, errno, path);
    lua_pushboolean(L, held);
    return 1;
}

/* holder(path) -> record text | nil, message, errno */
static int l_holder(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char *buf = (char *)lua_newuserdatauv(L, LOCK_RECORD_MAX, 0);
    long n = lock_read_record(path, buf, LOCK_RECORD_MAX);
    if (n < 0)
        return lutil_fail(L, errno, path);
    lua_pushlstring(L, buf, (size_t)n);
    return 1;
}

/* describe(path, record) -> true | nil, message, errno: writes the holder
 * record of path from a descriptor of its own, for a holder whose lock
 * now lives in other processes (tasknum lock after its command) */
static int l_describe(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *record = luaL_checklstring(L, 2, &len);
    int fd = lock_open(path, O_RDWR);
    if (fd < 0)
        return lutil_fail(L, errno, path);
    int rc = lock_describe(fd, record, len), err = errno;
    close(fd);
    if (rc != 0)
        return lutil_fail(L, err, path);
    lua_pushboolean(L, 1);
    return 1;
}

/* holders(path) -> { {pid =, fd =, start =, stop = (nil: to the end)}, ... }
 * for every lock granted on path that /proc shows this user (see
 * holders.h), at most HOLDERS_MAX of them | nil, message, errno */
#define HOLDERS_MAX 256
static int l_holders(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (lstat(path, &st) != 0)
        return lutil_fail(L, errno, path);
    struct holder_lock *found =
        (struct holder_lock *)lua_newuserdatauv(L, HOLDERS_MAX * sizeof *found, 0);
    long n = holders_find(st.st_dev, st.st_ino, found, HOLDERS_MAX);
    if (n < 0)
        return lutil_fail(L, errno, "/proc");
    if (n > HOLDERS_MAX)
        n = HOLDERS_MAX;
    lua_createtable(L, (int)n, 0);
    for (long i = 0; i < n; i++) {
        lua_createtable(L, 0, 4);
        lua_pushinteger(L, found[i].pid);
        lua_setfield(L, -2, "pid");
        lua_pushinteger(L, found[i].fd);
        lua_setfield(L, -2, "fd");
        lua_pushinteger(L, (lua_Integer)found[i].start);
        lua_setfield(L, -2, "start");
        if (found[i].end >= 0) {
            lua_pushinteger(L, (lua_Integer)found[i].end);
            lua_setfield(L, -2, "stop");
        }
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

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
    {NULL, NULL}
};

static const luaL_Reg lock_funcs[] = {
    {"adopt", l_adopt},
    {"describe", l_describe},
    {"holder", l_holder},
    {"holders", l_holders},
    {"lock", l_lock},
    {"probe", l_probe},
    {NULL, NULL}
};

void llock_register(lua_State *L)
{
    lutil_class(L, LOCK_MT, lock_meta, lock_methods);
    luaL_setfuncs(L, lock_funcs, 0);
    /* the levels of nested `tasknum lock`s: adopt() takes bytes below it */
    lua_pushinteger(L, LOCK_MAX_DEPTH);
    lua_setfield(L, -2, "LOCK_MAX_DEPTH");
    /* the byte the keeper of a shared hold's legacy folder takes */
    lua_pushinteger(L, LOCK_KEEPER_BYTE);
    lua_setfield(L, -2, "LOCK_KEEPER_BYTE");
}
