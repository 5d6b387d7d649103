/* json.h: a byte-exact scanner for JSON text (RFC 8259). It validates and
 * locates values by byte offsets; it never allocates, copies or re-encodes,
 * so callers can edit a file by replacing exactly the bytes of one value. */
#ifndef TASKNUM_JSON_H
#define TASKNUM_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 512

/* A value's bytes: text[start, end). */
typedef struct json_span { size_t start, end; } json_span;

enum json_status {
    JSON_OK = 0,
    JSON_ABSENT,     /* no such member */
    JSON_INVALID,    /* not well-formed JSON (or invalid UTF-8 in a string) */
    JSON_TOO_DEEP,   /* nesting deeper than JSON_MAX_DEPTH */
    JSON_DUPLICATE,  /* json_member: the key occurs more than once */
    JSON_WRONG_TYPE, /* the span is not an object / array / integer */
    JSON_RANGE       /* json_integer: outside int64 */
};

/* Where and why a scan failed: byte offset into text and a short reason. */
typedef struct json_error { size_t offset; const char *reason; } json_error;

/* Validates text[0, len) as exactly one JSON value: an optional UTF-8 BOM,
 * whitespace, the value, whitespace. Strings must be valid UTF-8 (no
 * overlongs, surrogates or code points past U+10FFFF) with valid escapes;
 * nesting at most JSON_MAX_DEPTH. On success sets *root to the value's span.
 * root and err may be NULL. Unpaired surrogate escapes (\uD800 alone) are
 * rejected: they name no character. On failure err->reason is a static
 * string and err->offset the offending byte (len at an early end).
 * Iterative or depth-bounded: no input overflows the stack. */
int json_validate(const char *text, size_t len, json_span *root,
                  json_error *err);

/* What json_scan collects on its way through a text, so that a state is
 * read in one pass, not three (validate, then the top-level members, then
 * the elements of active_projects). */
typedef struct json_collect {
    /* in: the root object's members named keys[0 .. nkeys), nkeys <= 32 */
    const char *const *keys;
    const size_t *keylens;
    size_t nkeys;
    /* out: as json_members gives them: counts[k] members named keys[k],
     * values[k] the first one's value */
    json_span *values;
    unsigned *counts;
    /* in (array may be NULL): the root member named array, when it is an
     * array: each of its elements that is an object, and in it each
     * member named field. found() gets each such member, in order: where
     * its element begins and the member's value; closed() then where the
     * element ends, once it has had one or more. */
    const char *array, *field;
    size_t arraylen, fieldlen;
    void (*found)(void *ud, size_t elem_start, json_span value);
    void (*closed)(void *ud, size_t elem_end);
    void *ud;
    /* out: how many root members are named array, and the first one's value */
    unsigned array_count;
    json_span array_span;
} json_collect;

/* json_validate, collecting what c asks for on the way (c may be NULL).
 * What it collected is only meaningful when it returns JSON_OK. */
int json_scan(const char *text, size_t len, json_span *root, json_error *err,
              json_collect *c);

/* Finds member key (keylen bytes, compared with the member names after
 * their escapes are decoded) of the object at span obj, which must come from
 * a validated text. Members of nested values are never matched. Sets *value.
 * Returns JSON_OK, JSON_ABSENT, JSON_DUPLICATE (key present twice; *value is
 * the first) or JSON_WRONG_TYPE (obj is not an object). Given a span that
 * is not a well-formed value, it reads nothing outside obj and returns
 * JSON_INVALID or an answer about the bytes it saw. */
int json_member(const char *text, json_span obj, const char *key,
                size_t keylen, json_span *value);

/* json_member for nkeys keys in one pass over the object: for each key k,
 * counts[k] is how many members have that name (0 absent, 2+ duplicate)
 * and values[k] the span of the first. Returns JSON_OK, JSON_WRONG_TYPE
 * or JSON_INVALID. Each json_member call skips every other member's value:
 * on a state with a 20 MB active_projects, looking up three top-level keys
 * one by one skipped it three times. */
int json_members(const char *text, json_span obj, const char *const *keys,
                 const size_t *keylens, size_t nkeys, json_span *values,
                 unsigned *counts);

/* Steps through the elements of the array at span arr (from a validated
 * text). Start with *cursor = 0; each call sets *elem to the next element
 * and returns JSON_OK, or JSON_ABSENT when there are no more, or
 * JSON_WRONG_TYPE if arr is not an array. Each JSON_OK moves the cursor
 * forward; a malformed span or cursor gives JSON_INVALID, never a read
 * outside arr. */
int json_next(const char *text, json_span arr, size_t *cursor,
              json_span *elem);

/* Like json_next, and in the same single pass over an object element sets
 * *value to the span of its first member named key (keylen bytes, escapes
 * decoded) and *count (when not NULL) to how many members have that name;
 * *value is empty (start == end) and *count 0 when the element is not an
 * object or has no such member. json_member_nth finds the others. */
int json_next_member(const char *text, json_span arr, size_t *cursor,
                     const char *key, size_t keylen, json_span *elem,
                     json_span *value, unsigned *count);

/* The nth (0 for the first) member named key of the object at span obj,
 * as json_member compares names. Returns JSON_OK, JSON_ABSENT (fewer than
 * n + 1 such members), JSON_WRONG_TYPE or JSON_INVALID. */
int json_member_nth(const char *text, json_span obj, const char *key,
                    size_t keylen, unsigned nth, json_span *value);

/* Steps through the members of the object at span obj (from a validated
 * text). Start with *cursor = 0; each call sets *name to the member's name
 * (the string with its quotes, as json_unescape takes it) and *value to
 * its value, and returns JSON_OK; then JSON_ABSENT after the last one.
 * JSON_WRONG_TYPE if obj is not an object; a malformed span or cursor
 * gives JSON_INVALID, never a read outside obj. */
int json_next_pair(const char *text, json_span obj, size_t *cursor,
                   json_span *name, json_span *value);

/* Decodes the string at span str (quotes included) into out, which must
 * have room for str.end - str.start bytes (a decoded string is never
 * longer than its JSON text); sets *len. Returns JSON_OK, JSON_WRONG_TYPE
 * when the span is not a string, JSON_INVALID for a bad escape. */
int json_unescape(const char *text, json_span str, char *out, size_t *len);

/* Reads the value at span s as a JSON integer literal: -?(0|[1-9][0-9]*),
 * no fraction and no exponent ("-0" is 0). Returns JSON_OK and sets *out,
 * JSON_WRONG_TYPE for any other value (5.0, 1e2, "5", null), or JSON_RANGE
 * when the literal does not fit in int64. */
int json_integer(const char *text, json_span s, int64_t *out);

/* Reads the value at span s as a whole number however it is spelled: any
 * JSON number whose exact decimal value is an integer (5, 5.0, 5e0, 5E+0,
 * 50e-1, 0.5e1, -0, -0.0, 0e999), or a string whose content, escapes
 * decoded, is such a number written with optional leading zeros, an
 * optional '+' and optional spaces or tabs around it ("5", "005", " 5",
 * "+5", "5.0", "5e0"). No hex, no "5.", no ".5", no other text. Exact:
 * 5.0000000000000001 is not 5 (whatever a double would say). Returns
 * JSON_OK and sets *out, JSON_RANGE for a whole number outside int64, or
 * JSON_WRONG_TYPE (a fraction, another string, any other value). Whatever
 * json_integer accepts, this reads the same. */
int json_whole(const char *text, json_span s, int64_t *out);

#endif
