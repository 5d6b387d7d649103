/* ljson.h: what ljson.c's bindings share with lheld.c: spans as 1-based
 * inclusive positions, and the scanner's failure family nil, reason,
 * offset. */
#ifndef TASKNUM_LJSON_H
#define TASKNUM_LJSON_H

#include <lua.h>

#include "json.h"

/* The span given as positions at args i, i+1 of a text of len bytes. */
json_span ljson_check_span(lua_State *L, int i, size_t len);
/* Pushes start, stop; returns 2. */
int ljson_push_span(lua_State *L, json_span s);
/* Pushes nil, reason, offset (offset 0: nil); returns 3. */
int ljson_fail(lua_State *L, const char *reason, lua_Integer offset);
/* The reason for a json.c status; what: the kind wanted ("not an object"). */
const char *ljson_status_word(int st, const char *what);
/* Pushes members()'s table for what json_members found; returns 1. */
int ljson_members_table(lua_State *L, const char *text, const char *const *keys,
                        const json_span *values, const unsigned *counts, int n);

#endif
