/* lheld.c: the numbers a state's active projects hold, for tasknum.core:
 * scan() validates a state and collects its root members and, in the same
 * pass, an index of one field in the elements of one array member
 * (active_projects' project_number); held() answers from that index, or
 * walks the array when there is none. Spans and failures as in ljson.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "ljson.h"
#include "lutil.h"

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
        return ljson_fail(L, err.reason ? err.reason : "invalid JSON", (lua_Integer)err.offset + 1);
    ljson_push_span(L, root);
    ljson_members_table(L, text, keys, values, counts, n);
    if (x != NULL && c.array_count == 1 && c.array_span.end > c.array_span.start) {
        x->array = c.array_span;
        lua_pushvalue(L, 5);
    } else {
        lua_pushnil(L);
    }
    return 4;
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
    json_span arr = ljson_check_span(L, 2, len), elem, value;
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

static const luaL_Reg held_funcs[] = {
    {"held", l_held},
    {"scan", l_scan},
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

void lheld_register(lua_State *L)
{
    lutil_class(L, INDEX_MT, index_meta, index_methods);
    luaL_setfuncs(L, held_funcs, 0);
}
