/* ljson.c: the JSON library of tasknum.core: the byte-exact scanner
 * (json.c) over Lua strings. Positions are 1-based and inclusive, as
 * string.find gives them; a span start..stop is text:sub(start, stop).
 *
 * A scan that fails is no OS failure and has its own family: nil, reason,
 * offset. reason is a short fixed phrase ("absent", "duplicate", "not an
 * object", ...; validate's are json.c's); offset is the 1-based position
 * of the offending byte where there is one (validate), else nil. */
#include <stdint.h>

#include "json.h"
#include "ljson.h"
#include "lutil.h"

/* Reads the span given as 1-based inclusive positions at args i, i+1. */
json_span ljson_check_span(lua_State *L, int i, size_t len)
{
    lua_Integer s = luaL_checkinteger(L, i), e = luaL_checkinteger(L, i + 1);
    luaL_argcheck(L, s >= 1 && e >= s - 1 && (size_t)e <= len, i, "span out of the text");
    return (json_span){(size_t)s - 1, (size_t)e};
}

/* The failure of the family above; offset 0: none. Returns 3. */
int ljson_fail(lua_State *L, const char *reason, lua_Integer offset)
{
    lua_pushnil(L);
    lua_pushstring(L, reason);
    if (offset > 0)
        lua_pushinteger(L, offset);
    else
        lua_pushnil(L);
    return 3;
}

int ljson_push_span(lua_State *L, json_span s)
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
        return ljson_push_span(L, root);
    return ljson_fail(L, err.reason ? err.reason : "invalid JSON", (lua_Integer)err.offset + 1);
}

/* The reason for a status; what is the kind of value wanted ("an object"). */
const char *ljson_status_word(int st, const char *what)
{
    switch (st) {
    case JSON_ABSENT: return "absent";
    case JSON_DUPLICATE: return "duplicate";
    case JSON_RANGE: return "out of range";
    case JSON_TOO_DEEP: return "too deep";
    case JSON_INVALID: return "invalid";
    case JSON_WRONG_TYPE: return what;
    default: return "wrong type";
    }
}

/* member(text, start, stop, key) -> vstart, vstop | nil, reason, nil */
static int l_member(lua_State *L)
{
    size_t len, klen;
    const char *text = luaL_checklstring(L, 1, &len);
    json_span obj = ljson_check_span(L, 2, len), value;
    const char *key = luaL_checklstring(L, 4, &klen);
    int st = json_member(text, obj, key, klen, &value);
    if (st == JSON_OK)
        return ljson_push_span(L, value);
    return ljson_fail(L, ljson_status_word(st, "not an object"), 0);
}

/* members(text, start, stop, key, ...) -> { [key] = {vstart, vstop [, n]} }
 * for the keys present once (n: the value, when it is a plain integer
 * literal that fits 64 bits), [key] = false for those present twice or
 * more; one pass over the object | nil, reason, nil */
static int l_members(lua_State *L)
{
    size_t len, lens[16];
    const char *text = luaL_checklstring(L, 1, &len), *keys[16];
    json_span obj = ljson_check_span(L, 2, len), values[16];
    unsigned counts[16];
    int n = lua_gettop(L) - 3;
    luaL_argcheck(L, n >= 1 && n <= 16, 4, "1 to 16 keys");
    for (int i = 0; i < n; i++)
        keys[i] = luaL_checklstring(L, 4 + i, &lens[i]);
    int st = json_members(text, obj, keys, lens, (size_t)n, values, counts);
    if (st != JSON_OK)
        return ljson_fail(L, ljson_status_word(st, "not an object"), 0);
    return ljson_members_table(L, text, keys, values, counts, n);
}

/* Pushes the table members() returns for what json_members found. */
int ljson_members_table(lua_State *L, const char *text, const char *const *keys,
                         const json_span *values, const unsigned *counts, int n)
{
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        if (counts[i] == 0)
            continue;
        if (counts[i] > 1) {
            lua_pushboolean(L, 0);
        } else {
            int64_t v;
            lua_createtable(L, 3, 0);
            lua_pushinteger(L, (lua_Integer)values[i].start + 1);
            lua_rawseti(L, -2, 1);
            lua_pushinteger(L, (lua_Integer)values[i].end);
            lua_rawseti(L, -2, 2);
            if (json_integer(text, values[i], &v) == JSON_OK) {
                lua_pushinteger(L, v);
                lua_rawseti(L, -2, 3);
            }
        }
        lua_setfield(L, -2, keys[i]);
    }
    return 1;
}

/* elements(text, start, stop [, most]) -> {s1, e1, s2, e2, ...}, the
 * first most elements (all without it) | nil, reason, nil. An edit that
 * needs the first two of 100,000 elements builds no table of them all. */
static int l_elements(lua_State *L)
{
    size_t len, cursor = 0;
    const char *text = luaL_checklstring(L, 1, &len);
    json_span arr = ljson_check_span(L, 2, len), elem;
    lua_Integer n = 0, most = luaL_optinteger(L, 4, LUA_MAXINTEGER);
    int st = JSON_OK;
    lua_newtable(L);
    while (n / 2 < most && (st = json_next(text, arr, &cursor, &elem)) == JSON_OK) {
        lua_pushinteger(L, (lua_Integer)elem.start + 1);
        lua_rawseti(L, -2, ++n);
        lua_pushinteger(L, (lua_Integer)elem.end);
        lua_rawseti(L, -2, ++n);
    }
    if (st == JSON_WRONG_TYPE)
        return ljson_fail(L, "not an array", 0);
    return 1;
}

/* next_element(text, start, stop [, after]) -> estart, estop of the
 * element of the array at start..stop that follows the one ending at
 * after (the first one without it), or nothing after the last | nil,
 * reason, nil. A walk over the elements that builds no table of them. */
static int l_next_element(lua_State *L)
{
    size_t len, cursor = 0;
    const char *text = luaL_checklstring(L, 1, &len);
    json_span arr = ljson_check_span(L, 2, len), elem;
    int st;
    if (!lua_isnoneornil(L, 4)) {
        lua_Integer after = luaL_checkinteger(L, 4);
        luaL_argcheck(L, after > (lua_Integer)arr.start && (size_t)after <= arr.end, 4,
                      "not inside the array");
        cursor = (size_t)after;
    }
    st = json_next(text, arr, &cursor, &elem);
    if (st == JSON_OK)
        return ljson_push_span(L, elem);
    if (st == JSON_ABSENT)
        return 0;
    return ljson_fail(L, ljson_status_word(st, "not an array"), 0);
}

/* pairs(text, start, stop [, into]) -> {name1, s1, e1, name2, s2, e2,
 * ...}, n: the members of the object at start..stop in order, names
 * decoded, values as spans, and how many slots that fills. into: a table
 * to fill instead of a new one (slots past n are left as they were), so a
 * walk over 100,000 entries makes no garbage table per entry | nil,
 * reason, nil */
static int l_pairs(lua_State *L)
{
    size_t len, cursor = 0, nlen;
    const char *text = luaL_checklstring(L, 1, &len);
    json_span obj = ljson_check_span(L, 2, len), name, value;
    lua_Integer i = 0;
    luaL_Buffer b;
    int st;
    if (lua_isnoneornil(L, 4)) {
        lua_settop(L, 3);
        lua_newtable(L);
    } else {
        luaL_checktype(L, 4, LUA_TTABLE);
        lua_settop(L, 4);
    }
    while ((st = json_next_pair(text, obj, &cursor, &name, &value)) == JSON_OK) {
        char *out = luaL_buffinitsize(L, &b, name.end - name.start);
        if (json_unescape(text, name, out, &nlen) != JSON_OK)
            return ljson_fail(L, "invalid", 0);
        luaL_pushresultsize(&b, nlen);
        lua_rawseti(L, -2, ++i);
        lua_pushinteger(L, (lua_Integer)value.start + 1);
        lua_rawseti(L, -2, ++i);
        lua_pushinteger(L, (lua_Integer)value.end);
        lua_rawseti(L, -2, ++i);
    }
    if (st != JSON_ABSENT)
        return ljson_fail(L, ljson_status_word(st, "not an object"), 0);
    lua_pushinteger(L, i);
    return 2;
}

/* A number read by fn from the span at args 1..3: integer | nil, reason,
 * nil; what is the reason for a value of the wrong type. */
static int read_number(lua_State *L, int (*fn)(const char *, json_span, int64_t *),
                       const char *what)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    json_span s = ljson_check_span(L, 2, len);
    int64_t v;
    int st = fn(text, s, &v);
    if (st == JSON_OK) {
        lua_pushinteger(L, v);
        return 1;
    }
    return ljson_fail(L, ljson_status_word(st, what), 0);
}

/* integer(text, start, stop) -> integer | nil, reason, nil: a plain
 * integer literal (json_integer) */
static int l_integer(lua_State *L)
{
    return read_number(L, json_integer, "not an integer");
}

/* whole(text, start, stop) -> integer, plain | nil, reason, nil: the
 * value as a whole number however it is spelled (json_whole), and whether
 * it is written plainly, as "%d" writes it (not "5", 5.0, -0); reason "not
 * a whole number" or "out of range" */
static int l_whole(lua_State *L)
{
    size_t len;
    int64_t v, plain;
    if (read_number(L, json_whole, "not a whole number") != 1)
        return 3;
    v = (int64_t)lua_tointeger(L, -1);
    const char *text = lua_tolstring(L, 1, &len);
    json_span s = ljson_check_span(L, 2, len);
    lua_pushboolean(L, json_integer(text, s, &plain) == JSON_OK && !(v == 0 && text[s.start] == '-'));
    return 2;
}

/* string(text, start, stop) -> the string value at start..stop decoded |
 * nil, reason, nil: no copy of the JSON text on the way */
static int l_string(lua_State *L)
{
    size_t len, n;
    const char *text = luaL_checklstring(L, 1, &len);
    json_span s = ljson_check_span(L, 2, len);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, s.end - s.start);
    int st = json_unescape(text, s, out, &n);
    if (st != JSON_OK)
        return ljson_fail(L, ljson_status_word(st, "not a string"), 0);
    luaL_pushresultsize(&b, n);
    return 1;
}

static const luaL_Reg json_funcs[] = {
    {"elements", l_elements},
    {"integer", l_integer},
    {"member", l_member},
    {"members", l_members},
    {"next_element", l_next_element},
    {"pairs", l_pairs},
    {"string", l_string},
    {"validate", l_validate},
    {"whole", l_whole},
    {NULL, NULL}
};

void ljson_register(lua_State *L)
{
    luaL_setfuncs(L, json_funcs, 0);
}
