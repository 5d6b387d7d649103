/* ljson.c: the JSON library of tasknum.core: the byte-exact scanner
 * (json.c) over Lua strings. Positions are 1-based and inclusive, as
 * string.find gives them; a span start..stop is text:sub(start, stop).
 *
 * A scan that fails is no OS failure and has its own family: nil, reason,
 * offset. reason is a short fixed phrase ("absent", "duplicate", "not an
 * object", ...; validate's are json.c's); offset is the 1-based position
 * of the offending byte where there is one (validate), else nil. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "lutil.h"

/* Reads the span given as 1-based inclusive positions at args i, i+1. */
static json_span check_span(lua_State *L, int i, size_t len)
{
    lua_Integer s = luaL_checkinteger(L, i), e = luaL_checkinteger(L, i + 1);
    luaL_argcheck(L, s >= 1 && e >= s - 1 && (size_t)e <= len, i, "span out of the text");
    return (json_span){(size_t)s - 1, (size_t)e};
}

/* The failure of the family above; offset 0: none. Returns 3. */
static int json_fail(lua_State *L, const char *reason, lua_Integer offset)
{
    lua_pushnil(L);
    lua_pushstring(L, reason);
    if (offset > 0)
        lua_pushinteger(L, offset);
    else
        lua_pushnil(L);
    return 3;
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
    return json_fail(L, err.reason ? err.reason : "invalid JSON", (lua_Integer)err.offset + 1);
}

/* --- the held index: what core.scan collects for core.held ---------------- */

#define INDEX_MT "tasknum.json.index"

/* One member named field of an element of the array: the element's span,
 * the member value's span (0-based, end exclusive); 32 bits each, so that
 * even an array of tiny elements costs less than its text (a text of 4 GiB
 * or more gets no index). */
typedef struct held_entry { uint32_t elem_start, elem_end, value_start, value_end; } held_entry;

/* The members named field of the array's elements, in order, in memory of
 * its own (freed by __gc); the array's span and the field, and the text
 * (the userdata's user value, kept alive with it) they were read from. */
typedef struct held_index {
    held_entry *e;
    size_t n, cap, open;       /* open: the first entry of the element being read */
    lua_State *L;              /* for a memory error while scanning */
    const char *text;
    json_span array;
    char field[64];
    size_t fieldlen;
} held_index;

/* index:close(): frees the entries and lets go of the text (a caller
 * about to drop a large text: a stale reference to the index left in a
 * Lua register would otherwise keep the text alive); held() then walks.
 * Also __gc. */
static int index_close(lua_State *L)
{
    held_index *x = (held_index *)luaL_checkudata(L, 1, INDEX_MT);
    free(x->e);
    x->e = NULL;
    x->n = x->cap = 0;
    x->text = NULL;
    lua_pushnil(L);
    lua_setiuservalue(L, 1, 1);
    return 0;
}

static void index_found(void *ud, size_t elem_start, json_span value)
{
    held_index *x = (held_index *)ud;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap + x->cap / 2 : 256;
        held_entry *e = (held_entry *)realloc(x->e, cap * sizeof *e);
        if (e == NULL)
            luaL_error(x->L, "not enough memory");
        x->e = e;
        x->cap = cap;
    }
    if (x->n == 0 || x->e[x->n - 1].elem_start != elem_start)
        x->open = x->n;
    x->e[x->n++] = (held_entry){(uint32_t)elem_start, 0, (uint32_t)value.start, (uint32_t)value.end};
}

static void index_closed(void *ud, size_t elem_end)
{
    held_index *x = (held_index *)ud;
    for (size_t i = x->open; i < x->n; i++)
        x->e[i].elem_end = (uint32_t)elem_end;
}

/* scan(text, keys [, array, field]) -> start, stop, members, index | nil,
 * message, offset: validate() and, in the same pass, members(text, start,
 * stop, keys...) for the root object (keys: a list of up to 16 names), and
 * when array and field are given (field at most 63 bytes) an index of the
 * members named field in the elements of the root member array, which
 * held() takes instead of walking the array again; index is nil when that
 * member is absent, given twice, or not an array (or the text is 4 GiB or
 * more). The index holds the text until index:close(). */
static int members_table(lua_State *L, const char *text, const char *const *keys,
                         const json_span *values, const unsigned *counts, int n);

static int l_scan(lua_State *L)
{
    size_t len, lens[16], alen = 0, flen = 0;
    const char *text = luaL_checklstring(L, 1, &len), *keys[16];
    const char *array = luaL_optlstring(L, 3, NULL, &alen), *field = luaL_optlstring(L, 4, NULL, &flen);
    json_span root, values[16];
    unsigned counts[16];
    json_error err = {0, "invalid JSON"};
    json_collect c;
    held_index *x = NULL;
    int n, st;
    lua_settop(L, 4);
    luaL_checktype(L, 2, LUA_TTABLE);
    n = (int)lua_rawlen(L, 2);
    luaL_argcheck(L, n <= 16, 2, "at most 16 keys");
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 2, i + 1);
        keys[i] = luaL_checklstring(L, -1, &lens[i]);  /* kept alive by the table */
        lua_pop(L, 1);
    }
    luaL_argcheck(L, field == NULL || flen < sizeof x->field, 4, "field too long");
    c = (json_collect){keys, lens, (size_t)n, values, counts, NULL, NULL, 0, 0,
                       index_found, index_closed, NULL, 0, {0, 0}};
    if (array != NULL && field != NULL && len < UINT32_MAX) {
        x = (held_index *)lua_newuserdatauv(L, sizeof *x, 1);
        *x = (held_index){NULL, 0, 0, 0, L, text, {0, 0}, {0}, flen};
        memcpy(x->field, field, flen);
        luaL_setmetatable(L, INDEX_MT);
        lua_pushvalue(L, 1);
        lua_setiuservalue(L, -2, 1);
        c.array = array, c.arraylen = alen, c.field = field, c.fieldlen = flen, c.ud = x;
    }
    st = json_scan(text, len, &root, &err, &c);
    if (st != JSON_OK)
        return json_fail(L, err.reason ? err.reason : "invalid JSON", (lua_Integer)err.offset + 1);
    push_span(L, root);
    members_table(L, text, keys, values, counts, n);
    if (x != NULL && c.array_count == 1 && c.array_span.end > c.array_span.start) {
        x->array = c.array_span;
        lua_pushvalue(L, 5);
    } else {
        lua_pushnil(L);
    }
    return 4;
}

/* The reason for a status; what is the kind of value wanted ("an object"). */
static const char *status_word(int st, const char *what)
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
    json_span obj = check_span(L, 2, len), value;
    const char *key = luaL_checklstring(L, 4, &klen);
    int st = json_member(text, obj, key, klen, &value);
    if (st == JSON_OK)
        return push_span(L, value);
    return json_fail(L, status_word(st, "not an object"), 0);
}

/* members(text, start, stop, key, ...) -> { [key] = {vstart, vstop [, n]} }
 * for the keys present once (n: the value, when it is a plain integer
 * literal that fits 64 bits), [key] = false for those present twice or
 * more; one pass over the object | nil, reason, nil */
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
    if (st != JSON_OK)
        return json_fail(L, status_word(st, "not an object"), 0);
    return members_table(L, text, keys, values, counts, n);
}

/* Pushes the table members() returns for what json_members found. */
static int members_table(lua_State *L, const char *text, const char *const *keys,
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
    json_span arr = check_span(L, 2, len), elem;
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
        return json_fail(L, "not an array", 0);
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
    json_span arr = check_span(L, 2, len), elem;
    int st;
    if (!lua_isnoneornil(L, 4)) {
        lua_Integer after = luaL_checkinteger(L, 4);
        luaL_argcheck(L, after > (lua_Integer)arr.start && (size_t)after <= arr.end, 4,
                      "not inside the array");
        cursor = (size_t)after;
    }
    st = json_next(text, arr, &cursor, &elem);
    if (st == JSON_OK)
        return push_span(L, elem);
    if (st == JSON_ABSENT)
        return 0;
    return json_fail(L, status_word(st, "not an array"), 0);
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

/* Holds n for the element at elem in the table on top, unless an earlier
 * element holds it already. */
static void hold(lua_State *L, int64_t n, json_span elem)
{
    if (lua_rawgeti(L, -1, n) != LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    lua_createtable(L, 2, 0);
    lua_pushinteger(L, (lua_Integer)elem.start + 1);
    lua_rawseti(L, -2, 1);
    lua_pushinteger(L, (lua_Integer)elem.end);
    lua_rawseti(L, -2, 2);
    lua_rawseti(L, -2, n);
}

/* The number a member's value holds, however it is spelled (json_whole):
 * plain digits, read first, cost what they always did. */
static int held_value(const char *text, json_span value, int64_t *n)
{
    if (value.start == value.end)
        return 0;
    return json_integer(text, value, n) == JSON_OK || json_whole(text, value, n) == JSON_OK;
}

/* held(text, start, stop, field [, numbers]) -> { [n] = {start, stop} }:
 * for each object in the array at start..stop whose member field holds a
 * whole number n, however it is spelled ("5", 5.0, 5e0: json_whole), the
 * element's span (the first such element wins), limited to numbers when
 * given. An element with field twice holds every value it gives (readers
 * disagree on which one counts: jq takes the last). One pass in C over
 * each element (json_next_member), not a walk through elements() and
 * member() from Lua, which skipped every element twice. */
static int l_held(lua_State *L)
{
    size_t len, flen, cursor = 0;
    const char *text = luaL_checklstring(L, 1, &len);
    json_span arr = check_span(L, 2, len), elem, value;
    const char *field = luaL_checklstring(L, 4, &flen);
    held_index *x = (held_index *)luaL_testudata(L, 6, INDEX_MT);
    unsigned count;
    int64_t n;
    if (!lua_isnoneornil(L, 5))
        luaL_checktype(L, 5, LUA_TTABLE);
    lua_settop(L, 5);  /* numbers, or nil, stays at 5 */
    lua_newtable(L);
    /* The index core.scan made of this very text (the same string), array
     * and field: no walk at all. */
    if (x != NULL && x->text != NULL && x->text == text && x->array.start == arr.start && x->array.end == arr.end
        && x->fieldlen == flen && memcmp(x->field, field, flen) == 0) {
        /* the numbers asked for, read once (a short list: an allocation's) */
        int64_t want[16];
        int valid[16];
        lua_Integer nwant = lua_isnil(L, 5) ? -1 : (lua_Integer)lua_rawlen(L, 5);
        if (nwant > 16)
            nwant = -2;  /* a long list: asked through wanted() */
        for (lua_Integer i = 0; i < nwant; i++) {
            lua_rawgeti(L, 5, i + 1);
            valid[i] = lua_isinteger(L, -1);
            want[i] = (int64_t)lua_tointeger(L, -1);
            lua_pop(L, 1);
        }
        for (size_t i = 0; i < x->n; i++) {
            held_entry *e = &x->e[i];
            int hit = 0;
            if (!held_value(text, (json_span){e->value_start, e->value_end}, &n))
                continue;
            if (nwant < 0)
                hit = nwant == -1 || wanted(L, 5, n);
            for (lua_Integer k = 0; k < nwant && !hit; k++)
                hit = valid[k] && want[k] == n;
            if (hit)
                hold(L, n, (json_span){e->elem_start, e->elem_end});
        }
        return 1;
    }
    while (json_next_member(text, arr, &cursor, field, flen, &elem, &value, &count) == JSON_OK) {
        for (unsigned i = 0; i < count; i++) {
            if (i > 0 && json_member_nth(text, elem, field, flen, i, &value) != JSON_OK)
                break;
            if (held_value(text, value, &n) && wanted(L, 5, n))
                hold(L, n, elem);
        }
    }
    return 1;
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
    json_span obj = check_span(L, 2, len), name, value;
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
            return json_fail(L, "invalid", 0);
        luaL_pushresultsize(&b, nlen);
        lua_rawseti(L, -2, ++i);
        lua_pushinteger(L, (lua_Integer)value.start + 1);
        lua_rawseti(L, -2, ++i);
        lua_pushinteger(L, (lua_Integer)value.end);
        lua_rawseti(L, -2, ++i);
    }
    if (st != JSON_ABSENT)
        return json_fail(L, status_word(st, "not an object"), 0);
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
    json_span s = check_span(L, 2, len);
    int64_t v;
    int st = fn(text, s, &v);
    if (st == JSON_OK) {
        lua_pushinteger(L, v);
        return 1;
    }
    return json_fail(L, status_word(st, what), 0);
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
    json_span s = check_span(L, 2, len);
    lua_pushboolean(L, json_integer(text, s, &plain) == JSON_OK && !(v == 0 && text[s.start] == '-'));
    return 2;
}

/* string(text, start, stop) -> the string value at start..stop decoded |
 * nil, reason, nil: no copy of the JSON text on the way */
static int l_string(lua_State *L)
{
    size_t len, n;
    const char *text = luaL_checklstring(L, 1, &len);
    json_span s = check_span(L, 2, len);
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, s.end - s.start);
    int st = json_unescape(text, s, out, &n);
    if (st != JSON_OK)
        return json_fail(L, status_word(st, "not a string"), 0);
    luaL_pushresultsize(&b, n);
    return 1;
}

static const luaL_Reg json_funcs[] = {
    {"elements", l_elements},
    {"held", l_held},
    {"integer", l_integer},
    {"member", l_member},
    {"members", l_members},
    {"next_element", l_next_element},
    {"pairs", l_pairs},
    {"scan", l_scan},
    {"string", l_string},
    {"validate", l_validate},
    {"whole", l_whole},
    {NULL, NULL}
};

static const luaL_Reg index_meta[] = {
    {"__gc", index_close},
    {NULL, NULL}
};

static const luaL_Reg index_methods[] = {
    {"close", index_close},
    {NULL, NULL}
};

void ljson_register(lua_State *L)
{
    lutil_class(L, INDEX_MT, index_meta, index_methods);
    luaL_setfuncs(L, json_funcs, 0);
}
