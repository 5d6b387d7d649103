/* json_fuzz.c: libFuzzer target for core/json.c (see `make fuzz`).
 *
 * Per input it checks:
 *  - json_validate against a deliberately simple recursive reference
 *    validator (same status, same root span), and that errors stay in
 *    bounds with a reason;
 *  - json_integer on the whole input against a reference parser, and
 *    json_whole (every spelling of a whole number) against a reference
 *    that works on decimal strings;
 *  - json_member / json_next on the input even when it is not valid: the
 *    scanner must stay inside the span and terminate;
 *  - on valid input: every span returned is in bounds, ordered, and is
 *    itself a valid JSON text; the splice of next_project_number that an
 *    allocation does keeps the text valid, changes only the value's bytes,
 *    and reads back; project_number of each active project is read;
 *    json_next_pair and json_member_nth list the members json_member
 *    finds, and json_unescape decodes names as the reference does;
 *  - json_scan gives json_validate's answer and collects what json_members,
 *    json_next_member and json_member_nth find (root keys, the field of
 *    each element of the array member).
 * Any violation traps, so libFuzzer reports it with the input. */
#include "json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(c) do { if (!(c)) __builtin_trap(); } while (0)

static const char *as_text(const uint8_t *d)
{
    return (const char *)d;
}

/* --- reference validator: recursive, byte at a time, decodes code points */

typedef struct ref { const uint8_t *s; size_t n, i; } ref;

static int ref_value(ref *r, int depth);

static void ref_ws(ref *r)
{
    while (r->i < r->n && (r->s[r->i] == ' ' || r->s[r->i] == '\t' ||
                           r->s[r->i] == '\n' || r->s[r->i] == '\r'))
        r->i++;
}

static int ref_peek(ref *r)
{
    return r->i < r->n ? r->s[r->i] : -1;
}

static long ref_hex4(ref *r)
{
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int c = ref_peek(r);
        r->i++;
        if (c >= '0' && c <= '9') v = v * 16 + (c - '0');
        else if (c >= 'a' && c <= 'f') v = v * 16 + (c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v = v * 16 + (c - 'A' + 10);
        else return -1;
    }
    return v;
}

static int ref_escape(ref *r)
{
    int c = ref_peek(r);
    long u;
    r->i++;
    if (c > 0 && strchr("\"\\/bfnrt", c))
        return 0;
    if (c != 'u' || (u = ref_hex4(r)) < 0)
        return 1;
    if (u >= 0xDC00 && u <= 0xDFFF)
        return 1;
    if (u >= 0xD800 && u <= 0xDBFF) {
        if (ref_peek(r) != '\\') return 1;
        r->i++;
        if (ref_peek(r) != 'u') return 1;
        r->i++;
        u = ref_hex4(r);
        return !(u >= 0xDC00 && u <= 0xDFFF);
    }
    return 0;
}

/* Decodes one UTF-8 sequence and checks the code point it gives. */
static int ref_utf8(ref *r)
{
    int c = r->s[r->i++], n;
    unsigned long cp;
    static const unsigned long min[] = {0, 0, 0x80, 0x800, 0x10000};
    if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07;
    else return 1;
    for (int k = 1; k < n; k++) {
        int d = ref_peek(r);
        if (d < 0 || (d & 0xC0) != 0x80) return 1;
        cp = cp << 6 | (unsigned long)(d & 0x3F);
        r->i++;
    }
    return cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF);
}

static int ref_string(ref *r)
{
    r->i++;
    for (;;) {
        int c = ref_peek(r);
        if (c < 0 || c < 0x20) return 1;
        if (c == '"') { r->i++; return 0; }
        if (c == '\\') { r->i++; if (ref_escape(r)) return 1; }
        else if (c >= 0x80) { if (ref_utf8(r)) return 1; }
        else r->i++;
    }
}

static int ref_digits(ref *r)
{
    size_t at = r->i;
    while (ref_peek(r) >= '0' && ref_peek(r) <= '9') r->i++;
    return r->i == at;
}

static int ref_number(ref *r)
{
    if (ref_peek(r) == '-') r->i++;
    if (ref_peek(r) == '0') r->i++;
    else if (ref_peek(r) < '1' || ref_peek(r) > '9' || ref_digits(r)) return 1;
    if (ref_peek(r) == '.') { r->i++; if (ref_digits(r)) return 1; }
    if (ref_peek(r) == 'e' || ref_peek(r) == 'E') {
        r->i++;
        if (ref_peek(r) == '+' || ref_peek(r) == '-') r->i++;
        if (ref_digits(r)) return 1;
    }
    return 0;
}

static int ref_container(ref *r, int depth, int close)
{
    int st;
    if (depth == JSON_MAX_DEPTH) return 2;
    r->i++;
    ref_ws(r);
    if (ref_peek(r) == close) { r->i++; return 0; }
    for (;;) {
        if (close == '}') {
            if (ref_peek(r) != '"' || ref_string(r)) return 1;
            ref_ws(r);
            if (ref_peek(r) != ':') return 1;
            r->i++;
            ref_ws(r);
        }
        if ((st = ref_value(r, depth + 1)) != 0) return st;
        ref_ws(r);
        if (ref_peek(r) == close) { r->i++; return 0; }
        if (ref_peek(r) != ',') return 1;
        r->i++;
        ref_ws(r);
    }
}

static int ref_value(ref *r, int depth)
{
    int c = ref_peek(r);
    if (c == '{') return ref_container(r, depth, '}');
    if (c == '[') return ref_container(r, depth, ']');
    if (c == '"') return ref_string(r);
    if (c == '-' || (c >= '0' && c <= '9')) return ref_number(r);
    for (int k = 0; k < 3; k++) {
        static const char *const words[] = {"true", "false", "null"};
        size_t len = strlen(words[k]);
        if (r->n - r->i >= len && memcmp(r->s + r->i, words[k], len) == 0) {
            r->i += len;
            return 0;
        }
    }
    return 1;
}

/* Returns a json_status, and the root span when valid. */
static int ref_validate(const uint8_t *s, size_t n, json_span *root)
{
    ref r = {s, n, 0};
    int st;
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) r.i = 3;
    ref_ws(&r);
    root->start = r.i;
    if ((st = ref_value(&r, 0)) != 0) return st == 2 ? JSON_TOO_DEEP : JSON_INVALID;
    root->end = r.i;
    ref_ws(&r);
    return r.i == n ? JSON_OK : JSON_INVALID;
}

/* Appends code point cp to out as UTF-8, most significant bits first. */
static size_t ref_put(unsigned long cp, uint8_t *out)
{
    int n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    static const uint8_t lead[] = {0, 0x00, 0xC0, 0xE0, 0xF0};
    for (int k = n - 1; k > 0; k--, cp >>= 6)
        out[k] = (uint8_t)(0x80 | (cp & 0x3F));
    out[0] = (uint8_t)(lead[n] | cp);
    return (size_t)n;
}

/* Decodes the validated string whose opening quote is at s[i]; returns
 * the length written to out (which has room for the raw length). */
static size_t ref_decode(const uint8_t *s, size_t n, size_t i, uint8_t *out)
{
    ref r = {s, n, i + 1};
    size_t len = 0;
    while (s[r.i] != '"') {
        long u, lo;
        if (s[r.i] != '\\') {
            out[len++] = s[r.i++];
            continue;
        }
        r.i++;
        switch (s[r.i++]) {
        case 'b': out[len++] = '\b'; continue;
        case 'f': out[len++] = '\f'; continue;
        case 'n': out[len++] = '\n'; continue;
        case 'r': out[len++] = '\r'; continue;
        case 't': out[len++] = '\t'; continue;
        case 'u': break;
        default: out[len++] = s[r.i - 1]; continue;
        }
        u = ref_hex4(&r);
        if (u >= 0xD800 && u <= 0xDBFF) {
            r.i += 2;
            lo = ref_hex4(&r);
            u = 0x10000 + (u - 0xD800) * 0x400 + (lo - 0xDC00);
        }
        len += ref_put((unsigned long)u, out + len);
    }
    return len;
}

/* json_member the slow way, on a validated object span. */
static int ref_member(const uint8_t *d, json_span obj, const uint8_t *key,
                      size_t keylen, json_span *value)
{
    ref r = {d, obj.end, obj.start + 1};
    int found = 0;
    uint8_t *name = malloc(obj.end - obj.start);
    REQUIRE(name != NULL);
    ref_ws(&r);
    while (ref_peek(&r) == '"') {
        size_t len = ref_decode(d, obj.end, r.i, name), vs;
        int eq = len == keylen && memcmp(name, key, len) == 0;
        ref_string(&r);
        ref_ws(&r);
        r.i++;
        ref_ws(&r);
        vs = r.i;
        REQUIRE(ref_value(&r, 0) == 0);
        if (eq && found) { free(name); return JSON_DUPLICATE; }
        if (eq) { value->start = vs; value->end = r.i; found = 1; }
        ref_ws(&r);
        if (ref_peek(&r) == ',') { r.i++; ref_ws(&r); }
    }
    free(name);
    return found ? JSON_OK : JSON_ABSENT;
}

/* Reference integer reader: syntax first, then a wide accumulator. */
static int ref_integer(const uint8_t *s, size_t n, int64_t *out)
{
    size_t i = 0;
    __int128 v = 0;
    int neg = n > 0 && s[0] == '-';
    i = (size_t)neg;
    if (i == n || (s[i] == '0' && n - i > 1)) return JSON_WRONG_TYPE;
    for (size_t k = i; k < n; k++)
        if (s[k] < '0' || s[k] > '9') return JSON_WRONG_TYPE;
    for (; i < n; i++) {
        v = v * 10 + (s[i] - '0');
        if (v > (__int128)INT64_MAX + 1) return JSON_RANGE;
    }
    if (neg) v = -v;
    if (v > INT64_MAX || v < INT64_MIN) return JSON_RANGE;
    *out = (int64_t)v;
    return JSON_OK;
}

/* Reference for json_whole, on decimal strings: the digits and the power
 * of ten, normalised, then compared with the int64 limits as text. */
static int ref_whole_number(const uint8_t *s, size_t n, int in_string, int64_t *out)
{
    size_t i = 0, nd = 0;
    char *dig = malloc(n + 1);
    long long exp = 0, fracd = 0;
    int neg = 0, st = JSON_WRONG_TYPE;
    REQUIRE(dig != NULL);
    if (in_string) while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    if (i < n && (s[i] == '-' || (in_string && s[i] == '+'))) neg = s[i++] == '-';
    size_t d0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') dig[nd++] = (char)s[i++];
    if (i == d0 || (!in_string && s[d0] == '0' && i - d0 > 1)) goto done;
    if (i < n && s[i] == '.') {
        size_t f0 = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') dig[nd++] = (char)s[i++], fracd++;
        if (i == f0) goto done;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        int eneg = 0;
        size_t e0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
        e0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (exp < 1000000000LL) exp = exp * 10 + (s[i] - '0');
            i++;
        }
        if (i == e0) goto done;
        if (eneg) exp = -exp;
    }
    if (in_string) while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    if (i != n) goto done;
    exp -= fracd;
    size_t lo = 0, hi = nd;
    while (lo < hi && dig[lo] == '0') lo++;
    if (lo == hi) { *out = 0; st = JSON_OK; goto done; }
    while (dig[hi - 1] == '0') hi--, exp++;
    if (exp < 0) goto done;
    st = JSON_RANGE;
    if ((long long)(hi - lo) + exp > 19) goto done;
    char buf[24];
    size_t len = 0;
    for (size_t k = lo; k < hi; k++) buf[len++] = dig[k];
    for (long long k = 0; k < exp; k++) buf[len++] = '0';
    buf[len] = 0;
    const char *lim = neg ? "9223372036854775808" : "9223372036854775807";
    if (len == 19 && strcmp(buf, lim) > 0) goto done;
    unsigned long long v = strtoull(buf, NULL, 10);
    *out = neg ? (v == 9223372036854775808ULL ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    st = JSON_OK;
done:
    free(dig);
    return st;
}

/* json_whole's reference on any span: a number, or a string decoded first
 * (escapes that decode to anything but ASCII make it no number). */
static int ref_whole(const uint8_t *d, json_span sp, int64_t *out)
{
    const uint8_t *s = d + sp.start;
    size_t n = sp.end - sp.start;
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        json_span inner;
        json_error e;
        uint8_t *dec;
        size_t len;
        int st;
        /* only validated strings are decoded; others are no number */
        if (json_validate(as_text(s), n, &inner, &e) != JSON_OK || inner.start != 0 || inner.end != n)
            return JSON_WRONG_TYPE;
        dec = malloc(n);
        REQUIRE(dec != NULL);
        len = ref_decode(s, n, 0, dec);
        st = JSON_WRONG_TYPE;
        if (memchr(dec, '"', len) == NULL) {
            int ascii = 1;
            for (size_t k = 0; k < len; k++) ascii &= dec[k] < 0x80;
            if (ascii) st = ref_whole_number(dec, len, 1, out);
        }
        free(dec);
        return st;
    }
    return ref_whole_number(s, n, 0, out);
}

/* --- checks on the scanner ------------------------------------------------ */

/* s must lie in outer and be a complete JSON text on its own. */
static void check_span(const uint8_t *d, json_span outer, json_span s)
{
    json_span r;
    REQUIRE(s.start < s.end && s.start >= outer.start && s.end <= outer.end);
    REQUIRE(json_validate(as_text(d + s.start), s.end - s.start, &r, NULL) == JSON_OK);
    REQUIRE(r.start == 0 && r.end == s.end - s.start);
}

/* json_integer agrees with the reference on any span. */
static int check_integer(const uint8_t *d, json_span s, int64_t *out)
{
    int64_t a = 0, b = 0;
    int st = json_integer(as_text(d), s, &a);
    REQUIRE(st == ref_integer(d + s.start, s.end - s.start, &b));
    REQUIRE(st != JSON_OK || a == b);
    if (out) *out = a;
    return st;
}

/* json_whole agrees with the reference on a validated value's span, and
 * with json_integer wherever that one reads a number. */
static void check_whole(const uint8_t *d, json_span s)
{
    int64_t a = 0, b = 0, c = 0;
    int st = json_whole(as_text(d), s, &a);
    REQUIRE(st == ref_whole(d, s, &b));
    REQUIRE(st != JSON_OK || a == b);
    if (json_integer(as_text(d), s, &c) == JSON_OK)
        REQUIRE(st == JSON_OK && a == c);
}

/* Iterates an array: elements in bounds, in order, each a valid value;
 * calls fn on each. Terminates on any input (each step moves forward). */
static size_t each_element(const uint8_t *d, json_span arr, int valid,
                           void (*fn)(const uint8_t *, json_span))
{
    size_t cursor = 0, count = 0, last = arr.start;
    json_span e;
    int st;
    while ((st = json_next(as_text(d), arr, &cursor, &e)) == JSON_OK) {
        REQUIRE(e.start >= last && e.start < e.end && e.end <= arr.end);
        REQUIRE(cursor > last && ++count <= arr.end - arr.start);
        if (valid) check_span(d, arr, e);
        if (fn) fn(d, e);
        last = e.end;
    }
    REQUIRE(valid ? st == JSON_ABSENT || st == JSON_WRONG_TYPE : st != JSON_OK);
    return count;
}

/* json_member agrees with ref_member on a validated span. */
static int check_member(const uint8_t *d, json_span obj, const uint8_t *key,
                        size_t keylen, json_span *value)
{
    json_span a = {0, 0}, b = {0, 0};
    int st = json_member(as_text(d), obj, (const char *)key, keylen, &a);
    REQUIRE(st == (d[obj.start] == '{' ? ref_member(d, obj, key, keylen, &b)
                                        : JSON_WRONG_TYPE));
    if (st == JSON_OK || st == JSON_DUPLICATE) {
        REQUIRE(a.start == b.start && a.end == b.end);
        check_span(d, obj, a);
        *value = a;
    }
    return st;
}

/* json_members with all the keys in one pass agrees with json_member
 * (itself checked against the reference) key by key. */
static void check_multi(const uint8_t *d, json_span obj, const char *const *keys,
                        const size_t *lens, size_t nkeys)
{
    json_span values[3], v = {0, 0};
    unsigned counts[3];
    int st = json_members(as_text(d), obj, keys, lens, nkeys, values, counts);
    REQUIRE(st == (d[obj.start] == '{' ? JSON_OK : JSON_WRONG_TYPE));
    for (size_t k = 0; st == JSON_OK && k < nkeys; k++) {
        int one = json_member(as_text(d), obj, keys[k], lens[k], &v);
        REQUIRE(one == (counts[k] == 0 ? JSON_ABSENT
                        : counts[k] == 1 ? JSON_OK : JSON_DUPLICATE));
        REQUIRE(counts[k] == 0 || (values[k].start == v.start && values[k].end == v.end));
    }
}

/* json_next_pair walks the members in order: each name decodes as the
 * reference decodes it, and json_member finds that name's first value at
 * or before this one. */
static void check_pairs(const uint8_t *d, json_span obj)
{
    size_t cursor = 0, last = obj.start, count = 0;
    json_span name, value, first;
    int st;
    uint8_t *a = malloc(obj.end - obj.start), *b = malloc(obj.end - obj.start);
    REQUIRE(a != NULL && b != NULL);
    while ((st = json_next_pair(as_text(d), obj, &cursor, &name, &value)) == JSON_OK) {
        size_t la = 0, lb;
        REQUIRE(name.start >= last && name.end < value.start && value.end <= obj.end);
        REQUIRE(cursor == value.end && ++count <= obj.end - obj.start);
        check_span(d, obj, value);
        REQUIRE(json_unescape(as_text(d), name, (char *)a, &la) == JSON_OK);
        lb = ref_decode(d, obj.end, name.start, b);
        REQUIRE(la == lb && memcmp(a, b, la) == 0);
        st = json_member(as_text(d), obj, (const char *)a, la, &first);
        REQUIRE((st == JSON_OK || st == JSON_DUPLICATE) && first.start <= value.start);
        REQUIRE(st == JSON_DUPLICATE || first.start == value.start);
        last = value.end;
    }
    REQUIRE(st == (d[obj.start] == '{' ? JSON_ABSENT : JSON_WRONG_TYPE));
    if (d[obj.start] != '"')
        REQUIRE(json_unescape(as_text(d), obj, (char *)a, &count) == JSON_WRONG_TYPE);
    free(a);
    free(b);
}

/* Looks up the object's first member name (decoded) and two fixed keys,
 * so escaped names and duplicates are compared with the reference too. */
static void check_members(const uint8_t *d, json_span obj)
{
    const char *keys[3] = {"next_project_number", "project_number", NULL};
    size_t lens[3] = {19, 14, 0}, nkeys = 2, i = obj.start + 1;
    uint8_t *name = NULL;
    json_span v;
    check_member(d, obj, (const uint8_t *)keys[0], lens[0], &v);
    check_member(d, obj, (const uint8_t *)keys[1], lens[1], &v);
    if (d[obj.start] == '{') {
        while (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r')
            i++;
    }
    if (d[obj.start] == '{' && d[i] == '"') {
        name = malloc(obj.end - obj.start);
        REQUIRE(name != NULL);
        lens[2] = ref_decode(d, obj.end, i, name);
        keys[nkeys++] = (const char *)name;
        int st = check_member(d, obj, name, lens[2], &v);
        REQUIRE(st == JSON_OK || st == JSON_DUPLICATE);
    }
    check_multi(d, obj, keys, lens, nkeys);
    free(name);
    check_pairs(d, obj);
}

/* json_next_member steps through the same elements as json_next and
 * gives the first member named project_number of each object element (or
 * an empty span). On unvalidated input: bounds and termination only. */
static void check_next_member(const uint8_t *d, json_span arr, int valid)
{
    size_t c1 = 0, c2 = 0, count = 0;
    json_span e1, e2, v, want;
    int st1, st2;
    do {
        st1 = json_next(as_text(d), arr, &c1, &e1);
        unsigned times = 0;
        st2 = json_next_member(as_text(d), arr, &c2, "project_number", 14, &e2, &v, &times);
        REQUIRE(!valid || st1 == st2);
        if (st2 != JSON_OK)
            break;
        REQUIRE(e2.start < e2.end && e2.start >= arr.start && e2.end <= arr.end);
        REQUIRE(c2 == e2.end && ++count <= arr.end - arr.start);
        REQUIRE(v.start == v.end || (v.start >= e2.start && v.end <= e2.end && v.start < v.end));
        if (!valid)
            continue;
        REQUIRE(e1.start == e2.start && e1.end == e2.end);
        int st = json_member(as_text(d), e2, "project_number", 14, &want);
        if (st == JSON_OK || st == JSON_DUPLICATE)
            REQUIRE(v.start == want.start && v.end == want.end);
        else
            REQUIRE(v.start == v.end);
        REQUIRE(times == (st == JSON_OK ? 1u : st == JSON_DUPLICATE ? times : 0u));
        REQUIRE(st != JSON_DUPLICATE || times >= 2);
        for (unsigned k = 0; k < times; k++) {
            json_span nth;
            REQUIRE(json_member_nth(as_text(d), e2, "project_number", 14, k, &nth) == JSON_OK);
            REQUIRE(k > 0 || (nth.start == v.start && nth.end == v.end));
            check_span(d, e2, nth);
            check_whole(d, nth);
        }
        json_span none;
        REQUIRE(json_member_nth(as_text(d), e2, "project_number", 14, times, &none)
                == (d[e2.start] == '{' ? JSON_ABSENT : JSON_WRONG_TYPE));
    } while (st1 == JSON_OK || !valid);
}

static void project_number(const uint8_t *d, json_span elem)
{
    json_span v;
    int st = check_member(d, elem, (const uint8_t *)"project_number", 14, &v);
    if (st == JSON_OK || st == JSON_DUPLICATE) {
        check_integer(d, v, NULL);
        check_whole(d, v);
    }
    check_members(d, elem);
}

/* Calls on inputs that need not be valid: must stay in bounds (ASan) and
 * terminate. */
static void poke_unvalidated(const uint8_t *d, size_t n)
{
    json_span all = {0, n}, v;
    int64_t x;
    check_integer(d, all, &x);
    (void)json_whole(as_text(d), all, &x);
    {
        size_t c = 0;
        json_span nm, vv;
        int guard = 0;
        while (json_next_pair(as_text(d), all, &c, &nm, &vv) == JSON_OK) {
            REQUIRE(nm.end <= n && vv.end <= n && ++guard <= (int)n);
            (void)json_whole(as_text(d), vv, &x);
        }
        (void)json_member_nth(as_text(d), all, "a", 1, 1, &vv);
    }
    if (json_member(as_text(d), all, "next_project_number", 19, &v) == JSON_OK)
        REQUIRE(v.start < v.end && v.end <= n);
    each_element(d, all, 0, NULL);
    check_next_member(d, all, 0);
    if (n > 0 && d[0] == '{') {
        const char *keys[2] = {"next_project_number", "a"};
        size_t lens[2] = {19, 1};
        json_span values[2];
        unsigned counts[2];
        if (json_members(as_text(d), all, keys, lens, 2, values, counts) == JSON_OK)
            for (int k = 0; k < 2; k++)
                REQUIRE(counts[k] == 0 || values[k].end <= n);
    }
}

/* The edit an allocation makes: replace the value's bytes by a number. */
static void check_splice(const uint8_t *d, size_t n, json_span root,
                         json_span v, int member_st)
{
    static const int64_t values[] = {0, 1, 7, 239, 999, 1000, -1, 12345678,
                                     INT64_MAX, INT64_MIN};
    int64_t want = values[n % (sizeof values / sizeof values[0])], got;
    char lit[24];
    size_t k = (size_t)snprintf(lit, sizeof lit, "%lld", (long long)want);
    size_t m = n - (v.end - v.start) + k;
    uint8_t *t = malloc(m);
    json_span r2, v2, want_span = {v.start, v.start + k};
    REQUIRE(t != NULL);
    memcpy(t, d, v.start);
    memcpy(t + v.start, lit, k);
    memcpy(t + v.start + k, d + v.end, n - v.end);
    REQUIRE(json_validate(as_text(t), m, &r2, NULL) == JSON_OK);            /* a */
    REQUIRE(memcmp(t, d, v.start) == 0);                                      /* b */
    REQUIRE(memcmp(t + v.start + k, d + v.end, n - v.end) == 0);
    REQUIRE(r2.start == root.start && r2.end == root.end - (v.end - v.start) + k);
    REQUIRE(json_member(as_text(t), r2, "next_project_number", 19, &v2) == member_st);
    REQUIRE(v2.start == want_span.start && v2.end == want_span.end);         /* c */
    REQUIRE(json_integer(as_text(t), v2, &got) == JSON_OK && got == want);    /* d */
    free(t);
}

static void check_valid(const uint8_t *d, size_t n, json_span root)
{
    json_span v, ap;
    int st;
    REQUIRE(root.start < root.end && root.end <= n);
    check_integer(d, root, NULL);
    check_whole(d, root);
    if (d[root.start] == '[') {
        each_element(d, root, 1, check_members);
        check_next_member(d, root, 1);
        return;
    }
    check_members(d, root);
    st = check_member(d, root, (const uint8_t *)"next_project_number", 19, &v);
    if (st == JSON_OK || st == JSON_DUPLICATE) {
        check_integer(d, v, NULL);
        check_splice(d, n, root, v, st);
    }
    st = json_member(as_text(d), root, "active_projects", 15, &ap);
    if (st == JSON_OK) {
        each_element(d, ap, 1, project_number);
        check_next_member(d, ap, 1);
    }
}

/* --- json_scan: one pass that validates and collects ------------------------
 * It must give json_validate's answer and, on a valid text, what
 * json_members gives for the root's keys and what json_next_member and
 * json_member_nth give for field in each element of the array member. */

#define MAX_FOUND 4096
typedef struct found_list {
    size_t n, elem_start[MAX_FOUND], elem_end[MAX_FOUND];
    json_span value[MAX_FOUND];
    int overflow;
    size_t open;
} found_list;

static void on_found(void *ud, size_t elem_start, json_span value)
{
    found_list *f = (found_list *)ud;
    if (f->n == MAX_FOUND) {
        f->overflow = 1;
        return;
    }
    if (f->n == 0 || f->elem_start[f->n - 1] != elem_start)
        f->open = f->n;
    f->elem_start[f->n] = elem_start;
    f->elem_end[f->n] = 0;
    f->value[f->n++] = value;
}

static void on_closed(void *ud, size_t elem_end)
{
    found_list *f = (found_list *)ud;
    REQUIRE(f->open < f->n || f->overflow);  /* only after a found() */
    for (size_t i = f->open; i < f->n; i++)
        f->elem_end[i] = elem_end;
}

static void check_scan(const uint8_t *d, size_t n, const char *const *keys, size_t nkeys,
                       const char *array, const char *field)
{
    static found_list f;
    size_t lens[4];
    json_span values[4], mvalues[4], root, vroot, arr;
    unsigned counts[4], mcounts[4];
    json_error err = {0, NULL}, verr = {0, NULL};
    json_collect c = {keys, lens, nkeys, values, counts, array, field, strlen(array), strlen(field),
                      on_found, on_closed, &f, 0, {0, 0}};
    int st, vst;
    for (size_t k = 0; k < nkeys; k++)
        lens[k] = strlen(keys[k]);
    f.n = 0, f.overflow = 0, f.open = 0;
    st = json_scan(as_text(d), n, &root, &err, &c);
    vst = json_validate(as_text(d), n, &vroot, &verr);
    REQUIRE(st == vst);
    if (st != JSON_OK) {
        REQUIRE(err.offset == verr.offset && err.reason == verr.reason);
        return;
    }
    REQUIRE(root.start == vroot.start && root.end == vroot.end);
    if (d[root.start] != '{') {
        for (size_t k = 0; k < nkeys; k++)
            REQUIRE(counts[k] == 0);
        REQUIRE(c.array_count == 0 && f.n == 0);
        return;
    }
    REQUIRE(json_members(as_text(d), root, keys, lens, nkeys, mvalues, mcounts) == JSON_OK);
    for (size_t k = 0; k < nkeys; k++) {
        REQUIRE(counts[k] == mcounts[k]);
        if (counts[k] > 0)
            REQUIRE(values[k].start == mvalues[k].start && values[k].end == mvalues[k].end);
    }
    {
        const char *ak[1] = {array};
        size_t al[1] = {strlen(array)};
        unsigned acount;
        REQUIRE(json_members(as_text(d), root, ak, al, 1, &arr, &acount) == JSON_OK);
        REQUIRE(c.array_count == acount);
        if (acount == 0 || d[arr.start] != '[') {
            REQUIRE(f.n == 0);
            return;
        }
        REQUIRE(c.array_span.start == arr.start && c.array_span.end == arr.end);
    }
    if (f.overflow)
        return;
    /* the reference: each element, each member named field, in order */
    {
        size_t cursor = 0, i = 0;
        json_span elem, v;
        unsigned times;
        while (json_next_member(as_text(d), arr, &cursor, field, strlen(field), &elem, &v, &times)
               == JSON_OK) {
            for (unsigned k = 0; k < times; k++) {
                json_span nth;
                REQUIRE(json_member_nth(as_text(d), elem, field, strlen(field), k, &nth) == JSON_OK);
                REQUIRE(i < f.n);
                REQUIRE(f.elem_start[i] == elem.start && f.elem_end[i] == elem.end);
                REQUIRE(f.value[i].start == nth.start && f.value[i].end == nth.end);
                i++;
            }
        }
        REQUIRE(i == f.n);
    }
}

static void scans(const uint8_t *d, size_t n)
{
    static const char *const state_keys[3] = {"next_project_number", "project_numbering",
                                              "active_projects"};
    static const char *const short_keys[4] = {"a", "b", "", "a"};
    check_scan(d, n, state_keys, 3, "active_projects", "project_number");
    check_scan(d, n, short_keys, 4, "a", "b");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_span root = {0, 0}, ref_root = {0, 0};
    json_error err = {0, NULL};
    int st = json_validate(as_text(data), size, &root, &err);
    REQUIRE(st == ref_validate(data, size, &ref_root));
    poke_unvalidated(data, size);
    scans(data, size);
    if (st != JSON_OK) {
        REQUIRE(st == JSON_INVALID || st == JSON_TOO_DEEP);
        REQUIRE(err.reason != NULL && err.offset <= size);
        return 0;
    }
    REQUIRE(root.start == ref_root.start && root.end == ref_root.end);
    check_valid(data, size, root);
    return 0;
}
