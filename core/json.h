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
 * decoded); *value is empty (start == end) when the element is not an
 * object or has no such member. */
int json_next_member(const char *text, json_span arr, size_t *cursor,
                     const char *key, size_t keylen, json_span *elem,
                     json_span *value);

/* Reads the value at span s as a JSON integer literal: -?(0|[1-9][0-9]*),
 * no fraction and no exponent ("-0" is 0). Returns JSON_OK and sets *out,
 * JSON_WRONG_TYPE for any other value (5.0, 1e2, "5", null), or JSON_RANGE
 * when the literal does not fit in int64. */
int json_integer(const char *text, json_span s, int64_t *out);

#endif
