/* lpg.c: binds core/pg.c as tasknum.core.pg, the table the postgresql://
 * authority drives: connect, exec, close. Failures return nil, message,
 * errno (an integer: ECONNREFUSED, ETIMEDOUT, EINTR, EIO, ENOMEM) and, for
 * an error the server reported, its SQLSTATE as a fourth value. Messages
 * are libpq's; they never hold a password (libpq does not print them), and
 * the Lua side strips any that a malformed string could echo. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "lutil.h"
#include "pg.h"
#include "pqlib.h"

#define CONN_MT "tasknum.pg.conn"
#define RESULTS_MT "tasknum.pg.results"
#define MAX_RESULTS 16

struct conn {
    PGconn *pg;
};

struct results {
    PGresult *r[MAX_RESULTS];
    int n;
};

/* libpq's messages end with a newline; the answer's do not. */
static void push_message(lua_State *L, const char *msg, const char *fallback)
{
    if (msg == NULL || *msg == '\0')
        msg = fallback;
    size_t len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
        len--;
    lua_pushlstring(L, msg, len);
}

/* The failure triple with libpq's message (or strerror(err)). */
static int fail(lua_State *L, int err, const char *msg)
{
    push_message(L, msg, strerror(err));
    return lutil_failmsg(L, err, lua_tostring(L, -1));
}

static double opt_timeout(lua_State *L, int i)
{
    if (lua_isnoneornil(L, i))
        return -1;
    double t = (double)luaL_checknumber(L, i);
    luaL_argcheck(L, t == t, i, "timeout is NaN");
    return t < 0 ? 0 : t;
}

/* --- connections -------------------------------------------------------- */

static struct conn *check_conn(lua_State *L)
{
    struct conn *c = (struct conn *)luaL_checkudata(L, 1, CONN_MT);
    if (c->pg == NULL)
        luaL_error(L, "the connection is closed");
    return c;
}

static int conn_close(lua_State *L)
{
    struct conn *c = (struct conn *)luaL_checkudata(L, 1, CONN_MT);
    if (c->pg != NULL)
        PQfinish(c->pg);
    c->pg = NULL;
    return 0;
}

/* The failure triple when libpq cannot be loaded (ENOENT), or 0. */
static int no_libpq(lua_State *L)
{
    char why[256];
    if (pqlib_load(why, sizeof why) != NULL)
        return 0;
    return lutil_failmsg(L, ENOENT, why);
}

/* connect({keyword = value, ...}, timeout) -> conn | nil, message, errno.
 * A dbname holding a URI is expanded. Nothing is asked on a terminal. */
static int l_connect(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (no_libpq(L))
        return 3;
    double timeout = opt_timeout(L, 2);
    lua_settop(L, 2);
    int n = 0;
    for (lua_pushnil(L); lua_next(L, 1); lua_pop(L, 1)) {
        luaL_argcheck(L, lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING,
                      1, "keywords and values must be strings");
        n++;
    }
    const char **kv = (const char **)lua_newuserdatauv(L, 2 * ((size_t)n + 1) * sizeof *kv, 0);
    const char **keys = kv, **values = kv + n + 1;
    int i = 0;
    for (lua_pushnil(L); lua_next(L, 1); lua_pop(L, 1)) {
        keys[i] = lua_tostring(L, -2);      /* kept alive by the table */
        values[i] = lua_tostring(L, -1);
        i++;
    }
    keys[n] = values[n] = NULL;
    struct conn *c = (struct conn *)lua_newuserdatauv(L, sizeof *c, 0);
    c->pg = NULL;
    luaL_setmetatable(L, CONN_MT);
    int rc = pg_connect(keys, values, timeout, lutil_cancel(L), &c->pg);
    int err = errno;
    if (rc != 0) {
        if (err == ETIMEDOUT)
            lua_pushliteral(L, "no connection within the time given");
        else if (err == EINTR)
            lua_pushliteral(L, "interrupted while connecting");
        else
            push_message(L, c->pg != NULL ? PQerrorMessage(c->pg) : NULL, strerror(err));
        if (c->pg != NULL)
            PQfinish(c->pg);
        c->pg = NULL;
        return lutil_failmsg(L, err, lua_tostring(L, -1));
    }
    return 1;
}

static void clear_results(struct results *rs)
{
    for (int i = 0; i < rs->n; i++)
        PQclear(rs->r[i]);
    rs->n = 0;
}

static int results_gc(lua_State *L)
{
    clear_results((struct results *)luaL_checkudata(L, 1, RESULTS_MT));
    return 0;
}

/* One result as a table: rows as arrays of strings (NULL: false), and
 * command = the command tag ("UPDATE 1"). */
static void push_result(lua_State *L, PGresult *r)
{
    int rows = PQntuples(r), cols = PQnfields(r);
    lua_createtable(L, rows, 1);
    lua_pushstring(L, PQcmdStatus(r));
    lua_setfield(L, -2, "command");
    for (int i = 0; i < rows; i++) {
        lua_createtable(L, cols, 0);
        for (int j = 0; j < cols; j++) {
            if (PQgetisnull(r, i, j))
                lua_pushboolean(L, 0);
            else
                lua_pushlstring(L, PQgetvalue(r, i, j), (size_t)PQgetlength(r, i, j));
            lua_rawseti(L, -2, j + 1);
        }
        lua_rawseti(L, -2, i + 1);
    }
}

/* conn:exec(sql [, timeout [, {params}]]) -> {result, ...} | nil, message,
 * errno [, sqlstate]. Parameters ($1, ...) are strings, one statement; with
 * none, sql may hold several statements (one round trip). errno EIO with
 * a sqlstate: the server said no (the connection is still usable); without
 * one, ETIMEDOUT or EINTR: the connection is unusable, close it. */
static int conn_exec(lua_State *L)
{
    struct conn *c = check_conn(L);
    const char *sql = luaL_checkstring(L, 2);
    double timeout = opt_timeout(L, 3);
    int np = 0;
    const char **params = NULL;
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        np = (int)luaL_len(L, 4);
        luaL_argcheck(L, np >= 0 && np <= 64, 4, "too many parameters");
        params = (const char **)lua_newuserdatauv(L, ((size_t)np + 1) * sizeof *params, 0);
        for (int i = 0; i < np; i++) {
            lua_rawgeti(L, 4, i + 1);
            params[i] = luaL_checkstring(L, -1);  /* strings in arg 4 stay */
            lua_pop(L, 1);
        }
        params[np] = NULL;
    }
    struct results *rs = (struct results *)lua_newuserdatauv(L, sizeof *rs, 0);
    rs->n = 0;
    luaL_setmetatable(L, RESULTS_MT);
    int rc = pg_exec(c->pg, sql, np, params, timeout, lutil_cancel(L), rs->r, MAX_RESULTS, &rs->n);
    int err = errno;
    if (rc < 0) {
        if (err == ETIMEDOUT)
            lua_pushliteral(L, "no answer from the server within the time given");
        else if (err == EINTR)
            lua_pushliteral(L, "interrupted while waiting for the server");
        else
            push_message(L, PQerrorMessage(c->pg), strerror(err));
        clear_results(rs);
        return lutil_failmsg(L, err, lua_tostring(L, -1));
    }
    if (rc == 1) {
        PGresult *bad = rs->r[rs->n - 1];
        const char *state = PQresultErrorField(bad, PG_DIAG_SQLSTATE);
        push_message(L, PQresultErrorMessage(bad), "the server reported an error");
        lutil_failmsg(L, EIO, lua_tostring(L, -1));
        if (state != NULL)
            lua_pushstring(L, state);
        else
            lua_pushnil(L);
        clear_results(rs);
        return 4;
    }
    lua_createtable(L, rs->n, 0);
    for (int i = 0; i < rs->n; i++) {
        push_result(L, rs->r[i]);
        lua_rawseti(L, -2, i + 1);
    }
    clear_results(rs);
    return 1;
}

/* conn:literal(text) -> text quoted as an SQL string literal */
static int conn_literal(lua_State *L)
{
    struct conn *c = check_conn(L);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    char *q = PQescapeLiteral(c->pg, s, len);
    if (q == NULL)
        return fail(L, EINVAL, PQerrorMessage(c->pg));
    lua_pushstring(L, q);
    PQfreemem(q);
    return 1;
}

/* conn:info() -> {user, host, port, dbname, pid} of the open connection */
static int conn_info(lua_State *L)
{
    struct conn *c = check_conn(L);
    lua_createtable(L, 0, 5);
    const char *v;
    if ((v = PQuser(c->pg)) != NULL) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, "user");
    }
    if ((v = PQhost(c->pg)) != NULL) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, "host");
    }
    if ((v = PQport(c->pg)) != NULL) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, "port");
    }
    if ((v = PQdb(c->pg)) != NULL) {
        lua_pushstring(L, v);
        lua_setfield(L, -2, "dbname");
    }
    lua_pushinteger(L, PQbackendPID(c->pg));
    lua_setfield(L, -2, "pid");
    return 1;
}

/* conn:txstatus() -> "idle" | "active" | "intrans" | "inerror" | "unknown" */
static int conn_txstatus(lua_State *L)
{
    struct conn *c = check_conn(L);
    switch (PQtransactionStatus(c->pg)) {
    case PQTRANS_IDLE: lua_pushliteral(L, "idle"); break;
    case PQTRANS_ACTIVE: lua_pushliteral(L, "active"); break;
    case PQTRANS_INTRANS: lua_pushliteral(L, "intrans"); break;
    case PQTRANS_INERROR: lua_pushliteral(L, "inerror"); break;
    default: lua_pushliteral(L, "unknown"); break;
    }
    return 1;
}

/* parse(conninfo) -> {keyword = value} for what the string sets (a URI or
 * keyword=value pairs), nothing filled in from defaults | nil, message,
 * EINVAL */
static int l_parse(lua_State *L)
{
    const char *s = luaL_checkstring(L, 1);
    char *msg = NULL;
    if (no_libpq(L))
        return 3;
    PQconninfoOption *opts = PQconninfoParse(s, &msg);
    if (opts == NULL) {
        push_message(L, msg, "not a connection string");
        if (msg != NULL)
            PQfreemem(msg);
        return lutil_failmsg(L, EINVAL, lua_tostring(L, -1));
    }
    lua_newtable(L);
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        lua_pushstring(L, o->val);
        lua_setfield(L, -2, o->keyword);
    }
    PQconninfoFree(opts);
    return 1;
}

static const luaL_Reg conn_methods[] = {
    {"close", conn_close},
    {"exec", conn_exec},
    {"info", conn_info},
    {"literal", conn_literal},
    {"txstatus", conn_txstatus},
    {NULL, NULL}
};

static const luaL_Reg pg_funcs[] = {
    {"connect", l_connect},
    {"parse", l_parse},
    {NULL, NULL}
};

static const luaL_Reg conn_meta[] = {
    {"__gc", conn_close},
    {"__close", conn_close},
    {NULL, NULL}
};

static const luaL_Reg results_meta[] = {
    {"__gc", results_gc},
    {NULL, NULL}
};

void lpg_register(lua_State *L)
{
    lutil_class(L, CONN_MT, conn_meta, conn_methods);
    lutil_class(L, RESULTS_MT, results_meta, NULL);
    luaL_newlib(L, pg_funcs);
    lua_setfield(L, -2, "pg");
}
