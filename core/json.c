/* json.c: the byte-exact JSON scanner declared in json.h.
 *
 * Two halves. json_validate is a strict single-pass RFC 8259 validator with
 * an explicit stack of container kinds (no recursion), tuned for large
 * pretty-printed files: string bytes and indentation are skipped 16 at a
 * time; json_scan is the same pass collecting, on the way, what a state's
 * reader needs (the root's members, a field of an array's elements), so
 * that a state is read once. json_member, json_next and json_integer then
 * work on spans of a validated text; they only skip values (no
 * re-validation), yet every read is bounded by the span they are given, so
 * a wrong span from a caller gives a wrong answer or JSON_INVALID, never a
 * read outside it. */
#include "json.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef const unsigned char *ptr;

/* ---------------------------------------------------------------------------
 * Finding the next byte of interest, 16 at a time where SSE2 is there (every
 * x86-64), 8 at a time (SWAR) elsewhere. Each returns exactly the first such
 * byte at or after p, or end: never a read at or past end. On a 20 MB state
 * these loops are most of the work: most bytes are inside strings or
 * indentation, and a byte-at-a-time loop cost 4 to 9 instructions a byte.
 * ------------------------------------------------------------------------ */

#if defined(__SSE2__)
typedef __m128i v16;
static v16 load16(ptr p) { return _mm_loadu_si128((const __m128i *)p); }
static v16 splat(char c) { return _mm_set1_epi8(c); }
static v16 eq(v16 a, v16 b) { return _mm_cmpeq_epi8(a, b); }
static v16 or(v16 a, v16 b) { return _mm_or_si128(a, b); }
static unsigned bits16(v16 m) { return (unsigned)_mm_movemask_epi8(m); }
#endif

/* Nonzero if any of the 8 bytes in v needs a closer look inside a string:
 * a control byte (< 0x20), '"', '\\' or a non-ASCII byte. The classic
 * "has a byte less than n" bit trick: exact as to whether any byte
 * matches, which is all the caller needs. */
static uint64_t needs_look(uint64_t v)
{
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
    uint64_t ctl = (v - ones * 0x20) & ~v;
    uint64_t quote = (q - ones) & ~q, bslash = (b - ones) & ~b;
    return (ctl | quote | bslash | v) & high;
}

/* Skips printable ASCII other than '"' and '\\': stops at a quote, a
 * backslash, a control byte or a non-ASCII byte (the string scanner's
 * business), or at end. */
static inline __attribute__((always_inline)) ptr skip_plain(ptr p, ptr end)
{
    uint64_t v;
#if defined(__SSE2__)
    const v16 quote = splat('"'), bslash = splat('\\'), space = splat(0x20);
    while (end - p >= 16) {
        v16 x = load16(p);
        /* signed: bytes >= 0x80 are negative, so "< 0x20" takes them too */
        unsigned m = bits16(or(or(eq(x, quote), eq(x, bslash)), _mm_cmplt_epi8(x, space)));
        if (m)
            return p + __builtin_ctz(m);
        p += 16;
    }
#endif
    while (end - p >= 8) {
        memcpy(&v, p, 8);
        if (needs_look(v))
            break;
        p += 8;
    }
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
        p++;
    return p;
}

/* JSON whitespace: space, tab, LF, CR and nothing else (no VT, FF, NBSP). */
static const unsigned char is_ws[256] = {
    [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1,
};

/* Skips a run of whitespace from p, which is whitespace. */
static ptr skip_ws_run(ptr p, ptr end)
{
    if (++p == end || !is_ws[*p])
        return p;
#if defined(__SSE2__)
    {
        const v16 sp = splat(' '), nl = splat('\n'), tab = splat('\t'), cr = splat('\r');
        while (end - p >= 16) {
            v16 x = load16(p);
            unsigned m = ~bits16(or(or(eq(x, sp), eq(x, nl)), or(eq(x, tab), eq(x, cr)))) & 0xFFFFu;
            if (m)
                return p + __builtin_ctz(m);
            p += 16;
        }
    }
#endif
    while (p < end && is_ws[*p])
        p++;
    return p;
}

/* Skips whitespace. Most runs are none (before ',' or ':') or one byte
 * (after them): those take one look here; a longer one (indentation) is
 * skipped 16 bytes at a time. */
static inline ptr skip_ws(ptr p, ptr end)
{
    return p == end || !is_ws[*p] ? p : skip_ws_run(p, end);
}

/* The first '"' or '\\' at or after p, or end. */
static ptr find_quote_or_backslash(ptr p, ptr end)
{
#if defined(__SSE2__)
    const v16 quote = splat('"'), bslash = splat('\\');
    while (end - p >= 16) {
        v16 x = load16(p);
        unsigned m = bits16(or(eq(x, quote), eq(x, bslash)));
        if (m)
            return p + __builtin_ctz(m);
        p += 16;
    }
#endif
    while (p < end && *p != '"' && *p != '\\')
        p++;
    return p;
}

/* Bytes the container skipper must look at; everything else is passed. */
static const unsigned char is_structural[256] = {
    ['"'] = 1, ['['] = 1, [']'] = 1, ['{'] = 1, ['}'] = 1,
};

/* The first of '"', '[', ']', '{', '}' at or after p, or end. */
static ptr find_structural(ptr p, ptr end)
{
#if defined(__SSE2__)
    const v16 quote = splat('"'), lb = splat('['), rb = splat(']'), lc = splat('{'), rc = splat('}');
    while (end - p >= 16) {
        v16 x = load16(p);
        unsigned m = bits16(or(or(eq(x, quote), or(eq(x, lb), eq(x, rb))), or(eq(x, lc), eq(x, rc))));
        if (m)
            return p + __builtin_ctz(m);
        p += 16;
    }
#endif
    while (p < end && !is_structural[*p])
        p++;
    return p;
}

/* Bytes that end a number or literal in a validated text. */
static const unsigned char ends_scalar[256] = {
    [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1,
    [','] = 1, [']'] = 1, ['}'] = 1, [':'] = 1,
    ['"'] = 1, ['['] = 1, ['{'] = 1,
};


static int is_digit(unsigned c)
{
    return c - '0' < 10u;
}

/* Value of four hex digits at p, or -1 if fewer than four are there. */
static long hex4(ptr p, ptr end)
{
    long v = 0;
    if (end - p < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        if (is_digit(c))
            v = v * 16 + (long)(c - '0');
        else if ((c | 0x20) - 'a' < 6u)
            v = v * 16 + (long)((c | 0x20) - 'a' + 10);
        else
            return -1;
    }
    return v;
}

/* ---------------------------------------------------------------------------
 * Validation
 * ------------------------------------------------------------------------ */

typedef struct scan {
    ptr begin, p, end;
    json_error *err;
    size_t depth;                         /* open containers */
    /* json_scan's collecting (c NULL: none). Depth 1 is the root object's
     * members, 2 the elements of the wanted array (one of them), 3 the
     * members of an element that is an object. */
    json_collect *c;
    unsigned keys;       /* the root keys the pending member's name matched */
    int array_next;      /* its name is c->array's, first time: open it */
    int in_array;        /* inside the wanted array */
    int field;           /* the pending member of an element is c->field */
    int elem_found;      /* the element being scanned had field */
    int escaped;         /* the string scan_string just read had an escape */
    ptr key_at, field_at, elem_at; /* where those values (and element) begin */
    unsigned char kind[JSON_MAX_DEPTH];   /* '{' or '[' per open container */
} scan;

static int fail(scan *s, ptr at, const char *reason, int status)
{
    s->err->offset = (size_t)(at - s->begin);
    s->err->reason = reason;
    return status;
}


/* One UTF-8 sequence starting with the non-ASCII byte at p (RFC 3629
 * table: no overlongs, no UTF-16 surrogates, nothing past U+10FFFF).
 * Returns the byte after it, or NULL after recording the error. */
static ptr scan_utf8(scan *s, ptr p)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    ptrdiff_t n;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        n = 0;
    if (n == 0 || s->end - p < n || p[1] < lo || p[1] > hi)
        goto bad;
    for (ptrdiff_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            goto bad;
    return p + n;
bad:
    fail(s, p, "invalid UTF-8 in string", JSON_INVALID);
    return NULL;
}

/* The escape sequence at p (which is '\\'). Unpaired surrogate escapes
 * (\uD800 alone, or a low surrogate first) are rejected: they name no
 * character, cannot be written as UTF-8, and decoders disagree on them
 * (RFC 8259 section 8.2; I-JSON, RFC 7493, forbids them). */
static ptr scan_escape(scan *s, ptr p)
{
    long u, lo;
    if (s->end - p < 2)
        goto unterminated;
    switch (p[1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r':
    case 't':
        return p + 2;
    case 'u':
        break;
    default:
        fail(s, p, "invalid escape in string", JSON_INVALID);
        return NULL;
    }
    if ((u = hex4(p + 2, s->end)) < 0)
        goto bad_hex;
    if (u < 0xD800 || u > 0xDFFF)
        return p + 6;
    if (u <= 0xDBFF && s->end - p >= 12 && p[6] == '\\' && p[7] == 'u' &&
        (lo = hex4(p + 8, s->end)) >= 0xDC00 && lo <= 0xDFFF)
        return p + 12;
    fail(s, p, "unpaired surrogate in \\u escape", JSON_INVALID);
    return NULL;
bad_hex:
    fail(s, p, "expected four hex digits after \\u", JSON_INVALID);
    return NULL;
unterminated:
    fail(s, p, "unterminated string", JSON_INVALID);
    return NULL;
}

/* The string whose opening quote is at s->p; leaves s->p after it.
 * Inlined where it is called (two places): a call and return for each of
 * the hundreds of thousands of strings of a large state was a quarter of
 * what reading one cost. */
static inline __attribute__((always_inline)) int scan_string(scan *s)
{
    ptr open = s->p, p = s->p + 1;
    s->escaped = 0;
    for (;;) {
        p = skip_plain(p, s->end);
        if (p == s->end)
            return fail(s, open, "unterminated string", JSON_INVALID);
        if (*p == '"')
            break;
        if (*p == '\\')
            p = scan_escape(s, p), s->escaped = 1;
        else if (*p < 0x20)
            return fail(s, p, "control character in string", JSON_INVALID);
        else
            p = scan_utf8(s, p);
        if (!p)
            return JSON_INVALID;
    }
    s->p = p + 1;
    return JSON_OK;
}

static ptr skip_digits(ptr p, ptr end)
{
    while (p < end && is_digit(*p))
        p++;
    return p;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at s->p. */
static int scan_number(scan *s)
{
    ptr p = s->p, end = s->end;
    if (*p == '-')
        p++;
    if (p == end || !is_digit(*p))
        return fail(s, p, "expected a digit in number", JSON_INVALID);
    if (*p == '0' && p + 1 < end && is_digit(p[1]))
        return fail(s, p, "leading zero in number", JSON_INVALID);
    p = skip_digits(p, end);
    if (p < end && *p == '.') {
        if (++p == end || !is_digit(*p))
            return fail(s, p, "expected a digit after '.'", JSON_INVALID);
        p = skip_digits(p, end);
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !is_digit(*p))
            return fail(s, p, "expected a digit in exponent", JSON_INVALID);
        p = skip_digits(p, end);
    }
    s->p = p;
    return JSON_OK;
}

static int scan_word(scan *s, const char *word, ptrdiff_t n)
{
    if (s->end - s->p < n || memcmp(s->p, word, (size_t)n) != 0)
        return fail(s, s->p, "invalid literal", JSON_INVALID);
    s->p += n;
    return JSON_OK;
}

/* A string, number or literal at s->p (which is before s->end). */
static int scan_scalar(scan *s)
{
    switch (*s->p) {
    case '"':
        return scan_string(s);
    case 't':
        return scan_word(s, "true", 4);
    case 'f':
        return scan_word(s, "false", 5);
    case 'n':
        return scan_word(s, "null", 4);
    default:
        if (*s->p == '-' || is_digit(*s->p))
            return scan_number(s);
        return fail(s, s->p, "expected a value", JSON_INVALID);
    }
}

static int name_is(ptr p, ptr end, const unsigned char *key, size_t keylen);

static json_span span_of(scan *s, ptr from)
{
    return (json_span){(size_t)(from - s->begin), (size_t)(s->p - s->begin)};
}

/* Whether the raw member name [name, name_end) is key: without escapes
 * (escaped 0: scan_string saw none) a plain comparison. */
static int same_name(ptr name, ptr name_end, int escaped, const char *key, size_t keylen)
{
    if (escaped)
        return name_is(name, name_end, (const unsigned char *)key, keylen);
    return (size_t)(name_end - name) == keylen && memcmp(name, key, keylen) == 0;
}

/* json_scan: the member whose name is [name, name_end) (raw, between its
 * quotes) and whose value begins at s->p: is it one to collect? */
static void collect_name(scan *s, ptr name, ptr name_end, int escaped)
{
    json_collect *c = s->c;
    if (s->depth == 1) {
        s->keys = 0;
        for (size_t k = 0; k < c->nkeys; k++)
            if (same_name(name, name_end, escaped, c->keys[k], c->keylens[k]))
                s->keys |= 1u << k;
        if (c->array && same_name(name, name_end, escaped, c->array, c->arraylen))
            s->array_next = c->array_count++ == 0;
        s->key_at = s->p;
    } else if (s->depth == 3 && s->in_array) {
        s->field = same_name(name, name_end, escaped, c->field, c->fieldlen);
        s->field_at = s->p;
    }
}

/* json_scan: a value has just ended at s->p, at depth s->depth (a scalar,
 * or a container that just closed). */
static void collect_value(scan *s)
{
    json_collect *c = s->c;
    if (s->depth == 3 && s->field) {
        c->found(c->ud, (size_t)(s->elem_at - s->begin), span_of(s, s->field_at));
        s->field = 0;
        s->elem_found = 1;
    } else if (s->depth == 2 && s->in_array && s->elem_found) {
        c->closed(c->ud, (size_t)(s->p - s->begin));
        s->elem_found = 0;
    } else if (s->depth == 1) {
        for (size_t k = 0; s->keys != 0 && k < c->nkeys; k++)
            if (s->keys >> k & 1 && c->counts[k]++ == 0)
                c->values[k] = span_of(s, s->key_at);
        if (s->in_array)
            c->array_span = span_of(s, s->key_at);
        s->keys = 0;
        s->in_array = s->array_next = 0;
    }
}

/* json_scan: the container at s->p opens at depth s->depth + 1. */
static void collect_open(scan *s, unsigned char kind)
{
    if (s->depth == 1 && s->array_next && kind == '[')
        s->in_array = 1;
    else if (s->depth == 2 && s->in_array)
        s->elem_at = s->p, s->elem_found = 0;
}

/* A member name, the ':' and the whitespace up to the member's value. */
static int scan_name(scan *s)
{
    int st, escaped;
    ptr name = s->p + 1, name_end;
    if (s->p == s->end || *s->p != '"')
        return fail(s, s->p, "expected a member name", JSON_INVALID);
    if ((st = scan_string(s)) != JSON_OK)
        return st;
    name_end = s->p - 1;
    escaped = s->escaped;
    s->p = skip_ws(s->p, s->end);
    if (s->p == s->end || *s->p != ':')
        return fail(s, s->p, "expected ':' after member name", JSON_INVALID);
    s->p = skip_ws(s->p + 1, s->end);
    if (s->c)
        collect_name(s, name, name_end, escaped);
    return JSON_OK;
}

/* Opens the container at s->p. Leaves s->p where the first member name or
 * element must begin, or after the closing bracket of an empty container. */
static int open_container(scan *s)
{
    unsigned char kind = *s->p;
    if (s->depth == JSON_MAX_DEPTH)
        return fail(s, s->p, "nesting too deep", JSON_TOO_DEEP);
    if (s->c)
        collect_open(s, kind);
    s->kind[s->depth++] = kind;
    s->p = skip_ws(s->p + 1, s->end);
    if (s->p < s->end && *s->p == (kind == '{' ? '}' : ']')) {
        s->p++;
        s->depth--;
        if (s->c)
            collect_value(s);
        return JSON_OK;
    }
    return kind == '{' ? scan_name(s) : JSON_OK;
}

/* After a value: closes every container that ends here, then steps over
 * the ',' (and the next member name) to where the next value begins.
 * Returns with s->depth == 0 once the root value is complete. */
static int close_containers(scan *s)
{
    while (s->depth > 0) {
        unsigned char kind = s->kind[s->depth - 1];
        s->p = skip_ws(s->p, s->end);
        if (s->p == s->end)
            return fail(s, s->p, kind == '{' ? "unterminated object"
                                             : "unterminated array", JSON_INVALID);
        if (*s->p == ',') {
            s->p = skip_ws(s->p + 1, s->end);
            return kind == '{' ? scan_name(s) : JSON_OK;
        }
        if (*s->p != (kind == '{' ? '}' : ']'))
            return fail(s, s->p, kind == '{' ? "expected ',' or '}' after member value"
                                             : "expected ',' or ']' after array element",
                        JSON_INVALID);
        s->p++;
        s->depth--;
        if (s->c)
            collect_value(s);
    }
    return JSON_OK;
}

/* One complete value at s->p, iteratively: the loop runs once per value,
 * the explicit kind stack replaces recursion. */
static int scan_value(scan *s)
{
    for (;;) {
        int st, opened = 0;
        if (s->p == s->end)
            return fail(s, s->p, "unexpected end of input, expected a value", JSON_INVALID);
        if (*s->p == '{' || *s->p == '[') {
            size_t before = s->depth;
            if ((st = open_container(s)) != JSON_OK)
                return st;
            opened = s->depth > before;
        } else if ((st = scan_scalar(s)) != JSON_OK) {
            return st;
        } else if (s->c) {
            collect_value(s);
        }
        /* A non-empty container just opened: its first value comes next. */
        if (opened)
            continue;
        if ((st = close_containers(s)) != JSON_OK)
            return st;
        if (s->depth == 0)
            return JSON_OK;
    }
}

int json_validate(const char *text, size_t len, json_span *root,
                  json_error *err)
{
    return json_scan(text, len, root, err, NULL);
}

int json_scan(const char *text, size_t len, json_span *root, json_error *err,
              json_collect *c)
{
    json_error ignored;
    scan s;
    ptr start;
    int st;
    s.err = err ? err : &ignored;
    s.c = c;
    s.keys = 0;
    s.array_next = s.in_array = s.field = s.elem_found = s.escaped = 0;
    s.key_at = s.field_at = s.elem_at = NULL;
    if (c) {
        for (size_t k = 0; k < c->nkeys; k++)
            c->counts[k] = 0;
        c->array_count = 0;
        c->array_span.start = c->array_span.end = 0;
    }
    if (len == 0) {
        s.err->offset = 0;
        s.err->reason = "empty input";
        return JSON_INVALID;
    }
    s.begin = s.p = (ptr)text;
    s.end = s.begin + len;
    s.depth = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        s.p += 3;
    s.p = skip_ws(s.p, s.end);
    start = s.p;
    if ((st = scan_value(&s)) != JSON_OK)
        return st;
    if (skip_ws(s.p, s.end) != s.end)
        return fail(&s, skip_ws(s.p, s.end), "trailing characters after the value",
                    JSON_INVALID);
    if (root) {
        root->start = (size_t)(start - s.begin);
        root->end = (size_t)(s.p - s.begin);
    }
    return JSON_OK;
}

/* ---------------------------------------------------------------------------
 * Walking validated spans. These trust the grammar only as far as needed to
 * skip values; any surprise within [start, end) gives JSON_INVALID.
 * ------------------------------------------------------------------------ */

/* p is an opening quote; returns the byte after the closing quote, or NULL.
 * A backslash escapes the byte after it (in a validated text a \\u escape
 * has no quote among its hex digits). */
static ptr string_end(ptr p, ptr end)
{
    ptr q = p + 1;
    while ((q = find_quote_or_backslash(q, end)) < end) {
        if (*q == '"')
            return q + 1;
        if (end - q < 2)
            return NULL;
        q += 2;
    }
    return NULL;
}

/* p is '{' or '['; returns the byte after its matching bracket, or NULL.
 * Brackets are only counted, not matched by kind: the text was validated. */
static ptr container_end(ptr p, ptr end)
{
    size_t depth = 0;
    while (p < end) {
        if (!is_structural[*p] && (p = find_structural(p, end)) == end)
            break;
        if (*p == '"') {
            if (!(p = string_end(p, end)))
                return NULL;
            continue;
        }
        if (*p == '{' || *p == '[')
            depth++;
        else if (--depth == 0)
            return p + 1;
        p++;
    }
    return NULL;
}

/* p is the first byte of a value; returns the byte after it, or NULL. */
static ptr value_end(ptr p, ptr end)
{
    ptr q = p;
    if (p >= end)
        return NULL;
    if (*p == '"')
        return string_end(p, end);
    if (*p == '{' || *p == '[')
        return container_end(p, end);
    while (q < end && !ends_scalar[*q])
        q++;
    return q > p ? q : NULL;
}

/* Writes code point u as UTF-8 into b; returns the length. */
static size_t utf8_put(unsigned long u, unsigned char *b)
{
    if (u < 0x80) {
        b[0] = (unsigned char)u;
        return 1;
    }
    if (u < 0x800) {
        b[0] = (unsigned char)(0xC0 | u >> 6);
        b[1] = (unsigned char)(0x80 | (u & 0x3F));
        return 2;
    }
    if (u < 0x10000) {
        b[0] = (unsigned char)(0xE0 | u >> 12);
        b[1] = (unsigned char)(0x80 | (u >> 6 & 0x3F));
        b[2] = (unsigned char)(0x80 | (u & 0x3F));
        return 3;
    }
    b[0] = (unsigned char)(0xF0 | u >> 18);
    b[1] = (unsigned char)(0x80 | (u >> 12 & 0x3F));
    b[2] = (unsigned char)(0x80 | (u >> 6 & 0x3F));
    b[3] = (unsigned char)(0x80 | (u & 0x3F));
    return 4;
}

/* Decodes the escape at p (a '\\') into UTF-8 in buf, setting *n; returns
 * the byte after it, or NULL if it is malformed or an unpaired surrogate
 * (which the validator rejects, so no valid key can equal it). */
static ptr decode_escape(ptr p, ptr end, unsigned char buf[4], size_t *n)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *e;
    long u, lo;
    if (end - p < 2)
        return NULL;
    if (p[1] != 'u') {
        if (p[1] == 0 || (e = strchr(from, p[1])) == NULL)
            return NULL;
        buf[0] = (unsigned char)to[e - from];
        *n = 1;
        return p + 2;
    }
    if ((u = hex4(p + 2, end)) < 0 || (u >= 0xDC00 && u <= 0xDFFF))
        return NULL;
    p += 6;
    if (u >= 0xD800 && u <= 0xDBFF) {
        if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
            (lo = hex4(p + 2, end)) < 0xDC00 || lo > 0xDFFF)
            return NULL;
        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        p += 6;
    }
    *n = utf8_put((unsigned long)u, buf);
    return p;
}

/* Compares the raw member name [p, end) (between its quotes, escapes not
 * yet decoded) with key, decoding escapes to UTF-8 on the way. */
static int name_is(ptr p, ptr end, const unsigned char *key, size_t keylen)
{
    size_t i = 0;
    if (!memchr(p, '\\', (size_t)(end - p)))
        return (size_t)(end - p) == keylen && memcmp(p, key, keylen) == 0;
    while (p < end) {
        unsigned char buf[4];
        size_t n = 1;
        if (*p != '\\') {
            buf[0] = *p++;
        } else if ((p = decode_escape(p, end, buf, &n)) == NULL) {
            return 0;
        }
        if (keylen - i < n || memcmp(key + i, buf, n) != 0)
            return 0;
        i += n;
    }
    return i == keylen;
}

/* One member of an object: steps from the name's opening quote at *pp over
 * name, ':' and value, to the ',' or '}' after it. Sets [*name, *name_end)
 * to the raw name between its quotes and *value to the value's span. */
static int walk_member(const char *text, ptr *pp, ptr end, ptr *name,
                       ptr *name_end, json_span *value)
{
    ptr p = *pp, v;
    if (p >= end || *p != '"' || (*name_end = string_end(p, end)) == NULL)
        return JSON_INVALID;
    *name = p + 1;
    (*name_end)--;
    p = skip_ws(*name_end + 1, end);
    if (p == end || *p != ':')
        return JSON_INVALID;
    p = skip_ws(p + 1, end);
    if ((v = value_end(p, end)) == NULL)
        return JSON_INVALID;
    value->start = (size_t)(p - (ptr)text);
    value->end = (size_t)(v - (ptr)text);
    *pp = skip_ws(v, end);
    return JSON_OK;
}

/* Every member is walked, even after a match, so that a second one with
 * the same name is reported rather than silently shadowed: RFC 8259 leaves
 * duplicates' meaning open, and tools disagree on which one wins. */
int json_members(const char *text, json_span obj, const char *const *keys,
                 const size_t *keylens, size_t nkeys, json_span *values,
                 unsigned *counts)
{
    ptr p = (ptr)text + obj.start, end = (ptr)text + obj.end;
    if (obj.start >= obj.end || *p != '{')
        return JSON_WRONG_TYPE;
    for (size_t k = 0; k < nkeys; k++)
        counts[k] = 0;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        return JSON_OK;
    for (;;) {
        json_span v;
        ptr name, name_end;
        int st = walk_member(text, &p, end, &name, &name_end, &v);
        if (st != JSON_OK)
            return st;
        for (size_t k = 0; k < nkeys; k++) {
            if (!name_is(name, name_end, (const unsigned char *)keys[k], keylens[k]))
                continue;
            if (counts[k]++ == 0)
                values[k] = v;
        }
        if (p < end && *p == '}')
            return JSON_OK;
        if (p == end || *p != ',')
            return JSON_INVALID;
        p = skip_ws(p + 1, end);
    }
}

int json_member(const char *text, json_span obj, const char *key,
                size_t keylen, json_span *value)
{
    unsigned count;
    int st = json_members(text, obj, &key, &keylen, 1, value, &count);
    if (st != JSON_OK)
        return st;
    return count == 0 ? JSON_ABSENT : count == 1 ? JSON_OK : JSON_DUPLICATE;
}

/* *cursor is 0 before the first element (or member), then the offset
 * just past the element (or member value) last returned: always > the
 * container's start, so never 0 again. Sets *at to the next one's first
 * byte, or returns JSON_ABSENT at the end. open is '[' or '{'. */
static int next_start(const char *text, json_span c, size_t cursor, unsigned char open,
                      ptr *at)
{
    ptr base = (ptr)text, end = base + c.end, p;
    unsigned char close = open == '[' ? ']' : '}';
    if (c.start >= c.end || base[c.start] != open)
        return JSON_WRONG_TYPE;
    if (cursor == 0) {
        p = skip_ws(base + c.start + 1, end);
    } else {
        if (cursor <= c.start || cursor > c.end)
            return JSON_INVALID;
        p = skip_ws(base + cursor, end);
        if (p < end && *p == ',')
            p = skip_ws(p + 1, end);
        else if (p == end || *p != close)
            return JSON_INVALID;
    }
    if (p < end && *p == close)
        return JSON_ABSENT;
    *at = p;
    return JSON_OK;
}

int json_member_nth(const char *text, json_span obj, const char *key,
                    size_t keylen, unsigned nth, json_span *value)
{
    size_t cursor = 0;
    json_span name;
    int st;
    while ((st = json_next_pair(text, obj, &cursor, &name, value)) == JSON_OK)
        if (name_is((ptr)text + name.start + 1, (ptr)text + name.end - 1,
                    (const unsigned char *)key, keylen) && nth-- == 0)
            return JSON_OK;
    return st;
}

int json_next_pair(const char *text, json_span obj, size_t *cursor,
                   json_span *name, json_span *value)
{
    ptr base = (ptr)text, end = base + obj.end, p, n, ne;
    int st = next_start(text, obj, *cursor, '{', &p);
    if (st != JSON_OK)
        return st;
    if ((st = walk_member(text, &p, end, &n, &ne, value)) != JSON_OK)
        return st;
    name->start = (size_t)(n - 1 - base);
    name->end = (size_t)(ne + 1 - base);
    *cursor = value->end;
    return JSON_OK;
}

int json_unescape(const char *text, json_span str, char *out, size_t *len)
{
    ptr p = (ptr)text + str.start, end = (ptr)text + str.end;
    unsigned char *o = (unsigned char *)out;
    if (end - p < 2 || *p != '"' || end[-1] != '"')
        return JSON_WRONG_TYPE;
    for (p++, end--; p < end;) {
        size_t n = 1;
        if (*p != '\\')
            *o = *p++;
        else if ((p = decode_escape(p, end, o, &n)) == NULL)
            return JSON_INVALID;
        o += n;
    }
    *len = (size_t)(o - (unsigned char *)out);
    return JSON_OK;
}

int json_next(const char *text, json_span arr, size_t *cursor,
              json_span *elem)
{
    ptr p, v;
    int st = next_start(text, arr, *cursor, '[', &p);
    if (st != JSON_OK)
        return st;
    if ((v = value_end(p, (ptr)text + arr.end)) == NULL)
        return JSON_INVALID;
    elem->start = (size_t)(p - (ptr)text);
    elem->end = (size_t)(v - (ptr)text);
    *cursor = elem->end;
    return JSON_OK;
}

/* Walks the object at *pp member by member to the byte after its '}',
 * noting the first member named key and counting them: one pass, where
 * json_next followed by json_member would skip every element twice. */
static int walk_object(const char *text, ptr *pp, ptr end, const char *key,
                       size_t keylen, json_span *value, unsigned *count)
{
    ptr p = skip_ws(*pp + 1, end);
    if (p < end && *p == '}') {
        *pp = p + 1;
        return JSON_OK;
    }
    for (;;) {
        json_span v;
        ptr name, name_end;
        int st = walk_member(text, &p, end, &name, &name_end, &v);
        if (st != JSON_OK)
            return st;
        if (name_is(name, name_end, (const unsigned char *)key, keylen)
            && (*count)++ == 0)
            *value = v;
        if (p < end && *p == '}') {
            *pp = p + 1;
            return JSON_OK;
        }
        if (p == end || *p != ',')
            return JSON_INVALID;
        p = skip_ws(p + 1, end);
    }
}

int json_next_member(const char *text, json_span arr, size_t *cursor,
                     const char *key, size_t keylen, json_span *elem,
                     json_span *value, unsigned *count)
{
    ptr p, end = (ptr)text + arr.end, v;
    unsigned ignored;
    int st = next_start(text, arr, *cursor, '[', &p);
    if (st != JSON_OK)
        return st;
    if (!count)
        count = &ignored;
    value->start = value->end = 0;
    *count = 0;
    v = p;
    /* p == end when the span stops short of its ']' (never in a validated
     * text, but the span comes from the caller): read nothing there. */
    if (p < end && *p == '{')
        st = walk_object(text, &v, end, key, keylen, value, count);
    else if ((v = value_end(p, end)) == NULL)
        st = JSON_INVALID;
    if (st != JSON_OK)
        return st;
    elem->start = (size_t)(p - (ptr)text);
    elem->end = (size_t)(v - (ptr)text);
    *cursor = elem->end;
    return JSON_OK;
}

/* The literal must fill the span exactly: "-0" is 0, while "01", "1.0",
 * "1e2", " 1" and "" are not integer literals. Syntax is checked before
 * range, so "99999999999999999999.5" is the wrong type, not out of range. */
int json_integer(const char *text, json_span s, int64_t *out)
{
    ptr p = (ptr)text + s.start, end = (ptr)text + s.end;
    const uint64_t max = (uint64_t)INT64_MAX;
    uint64_t v = 0, limit;
    int neg;
    if (s.start >= s.end)
        return JSON_WRONG_TYPE;
    neg = *p == '-';
    p += neg;
    if (p == end || skip_digits(p, end) != end || (*p == '0' && end - p > 1))
        return JSON_WRONG_TYPE;
    limit = neg ? max + 1 : max;
    for (; p < end; p++) {
        unsigned d = *p - '0';
        if (v > (limit - d) / 10)
            return JSON_RANGE;
        v = v * 10 + d;
    }
    /* -(2^63) has no positive int64 twin: build it without overflowing. */
    *out = !neg ? (int64_t)v : v == max + 1 ? INT64_MIN : -(int64_t)v;
    return JSON_OK;
}

/* ---------------------------------------------------------------------------
 * Whole numbers however they are spelled (json_whole)
 * ------------------------------------------------------------------------ */

/* Characters of a number, from raw bytes or (in a string) with escapes
 * decoded: next() gives the next one, -1 at the end, -2 for anything that
 * cannot be part of a number (a byte past ASCII, a bad escape). */
typedef struct chars { ptr p, end; int in_string; } chars;

static int next_char(chars *c)
{
    unsigned char buf[4];
    size_t n;
    if (c->p >= c->end)
        return -1;
    if (*c->p >= 0x80 || (c->in_string && *c->p == '"'))
        return -2;
    if (!c->in_string || *c->p != '\\')
        return *c->p++;
    if ((c->p = decode_escape(c->p, c->end, buf, &n)) == NULL || n != 1 || buf[0] >= 0x80) {
        c->p = c->end;
        return -2;
    }
    return buf[0];
}

/* The decimal being read: value = mant * 10^(zeros - frac + exp). mant
 * keeps the significant digits without their trailing zeros (counted in
 * zeros), so a negative power means a fraction; big: mant passed 2^64. */
typedef struct decimal {
    uint64_t mant;
    int64_t zeros, frac, exp;
    int big, neg, digits;
} decimal;

/* Exponents are capped: past it no whole number of any text fits anyway. */
#define EXP_CAP ((int64_t)1 << 50)

static void add_digit(decimal *d, unsigned v, int in_fraction)
{
    d->digits++;
    d->frac += in_fraction;
    if (v == 0) {
        d->zeros += d->mant != 0 || d->big;
        return;
    }
    for (int64_t k = 0; !d->big && k <= d->zeros; k++) {
        unsigned add = k == d->zeros ? v : 0;
        if (d->mant > (UINT64_MAX - add) / 10)
            d->big = 1;
        else
            d->mant = d->mant * 10 + add;
    }
    d->zeros = 0;
}

/* Digits at c (first already read into *ch); leaves *ch after them. */
static int read_digits(chars *c, int *ch, decimal *d, int in_fraction)
{
    int n = 0;
    for (; *ch >= '0' && *ch <= '9'; *ch = next_char(c), n++)
        add_digit(d, (unsigned)(*ch - '0'), in_fraction);
    return n;
}

static int read_exponent(chars *c, int *ch, decimal *d)
{
    int neg = 0, n = 0;
    *ch = next_char(c);
    if (*ch == '+' || *ch == '-') {
        neg = *ch == '-';
        *ch = next_char(c);
    }
    for (; *ch >= '0' && *ch <= '9'; *ch = next_char(c), n++)
        if (d->exp < EXP_CAP)
            d->exp = d->exp * 10 + (*ch - '0');
    if (d->exp > EXP_CAP)
        d->exp = EXP_CAP;
    if (neg)
        d->exp = -d->exp;
    return n;
}

/* The number at c: JSON's grammar, and in a string also leading zeros, a
 * '+' and blanks around it. Returns 0 when it does not parse. */
static int read_decimal(chars *c, decimal *d)
{
    int ch = next_char(c), lead;
    while (c->in_string && (ch == ' ' || ch == '\t'))
        ch = next_char(c);
    if (ch == '-' || (c->in_string && ch == '+')) {
        d->neg = ch == '-';
        ch = next_char(c);
    }
    lead = ch == '0';
    if (read_digits(c, &ch, d, 0) == 0 || (lead && d->digits > 1 && !c->in_string))
        return 0;
    if (ch == '.') {
        ch = next_char(c);
        if (read_digits(c, &ch, d, 1) == 0)
            return 0;
    }
    if ((ch == 'e' || ch == 'E') && read_exponent(c, &ch, d) == 0)
        return 0;
    while (c->in_string && (ch == ' ' || ch == '\t'))
        ch = next_char(c);
    return ch == -1;
}

int json_whole(const char *text, json_span s, int64_t *out)
{
    chars c = {(ptr)text + s.start, (ptr)text + s.end, 0};
    decimal d = {0, 0, 0, 0, 0, 0, 0};
    int64_t power;
    uint64_t limit = (uint64_t)INT64_MAX, v;
    int st = json_integer(text, s, out);
    if (st != JSON_WRONG_TYPE)
        return st;  /* the usual spelling, read the usual way */
    if (s.start >= s.end)
        return JSON_WRONG_TYPE;
    if (*c.p == '"') {
        if (s.end - s.start < 2 || c.end[-1] != '"')
            return JSON_WRONG_TYPE;
        c.p++, c.end--, c.in_string = 1;
    }
    if (!read_decimal(&c, &d))
        return JSON_WRONG_TYPE;
    if (d.mant == 0 && !d.big) {
        *out = 0;  /* -0, 0.0, 0e999: zero however written */
        return JSON_OK;
    }
    power = d.zeros - d.frac + d.exp;
    if (power < 0)
        return JSON_WRONG_TYPE;  /* mant does not end in 0: a fraction */
    if (d.big || power > 19)
        return JSON_RANGE;
    limit += (uint64_t)d.neg;
    for (v = d.mant; power > 0; power--) {
        if (v > limit / 10)
            return JSON_RANGE;
        v *= 10;
    }
    if (v > limit)
        return JSON_RANGE;
    *out = !d.neg ? (int64_t)v : v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    return JSON_OK;
}
