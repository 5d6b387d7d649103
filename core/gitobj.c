/* gitobj.c: git loose objects written without git (see gitobj.h). */
#include "gitobj.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"

/* --- SHA-1 (FIPS 180-4) -------------------------------------------------- */

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999u;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1u;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDCu;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6u;
        }
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void gitobj_sha1(const void *data, size_t len, unsigned char out[20])
{
    uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    const unsigned char *p = data;
    size_t left = len;
    for (; left >= 64; left -= 64, p += 64)
        block(h, p);
    unsigned char tail[128] = {0};
    memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t n = left < 56 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[n - 1 - i] = (unsigned char)(bits >> (8 * i));
    block(h, tail);
    if (n == 128)
        block(h, tail + 64);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (unsigned char)(h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(h[i] >> 8);
        out[4 * i + 3] = (unsigned char)h[i];
    }
}

/* --- the loose object ----------------------------------------------------------- */

static uint32_t adler32(const unsigned char *p, size_t len)
{
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < len; i++) {
        a = (a + p[i]) % 65521u;
        b = (b + a) % 65521u;
    }
    return b << 16 | a;
}

static void say(char *what, size_t cap, const char *s)
{
    if (what != NULL && cap > 0)
        snprintf(what, cap, "%s", s);
}

int gitobj_write(const char *objdir, const char *type, const void *data, size_t len,
                 char hex[41], char *what, size_t cap)
{
    if (len > GITOBJ_MAX) {
        errno = EINVAL;
        say(what, cap, "object too large");
        return -1;
    }
    /* "TYPE SIZE\0" + content: what is hashed, and what is stored */
    unsigned char *raw = malloc(len + 64);
    if (raw == NULL)
        return -1;
    int head = snprintf((char *)raw, 64, "%s %zu", type, len) + 1;
    memcpy(raw + head, data, len);
    size_t rawlen = (size_t)head + len;
    unsigned char id[20];
    gitobj_sha1(raw, rawlen, id);
    for (int i = 0; i < 20; i++)
        snprintf(hex + 2 * i, 3, "%02x", id[i]);

    char dir[4096], path[4096], tmp[4096];
    if (snprintf(dir, sizeof dir, "%s/%.2s", objdir, hex) >= (int)sizeof dir ||
        snprintf(path, sizeof path, "%s/%s", dir, hex + 2) >= (int)sizeof path ||
        snprintf(tmp, sizeof tmp, "%s/tmp_obj_tasknum_%ld", dir, (long)getpid()) >= (int)sizeof tmp) {
        free(raw);
        errno = ENAMETOOLONG;
        say(what, cap, objdir);
        return -1;
    }
    struct stat st;
    if (stat(path, &st) == 0) { /* there already: the same bytes by their id */
        free(raw);
        return 0;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        int e = errno;
        free(raw);
        say(what, cap, dir);
        errno = e;
        return -1;
    }
    /* zlib: header 78 01, one final stored block (LEN, ~LEN), Adler-32 */
    size_t zlen = rawlen + 11;
    unsigned char *z = malloc(zlen);
    if (z == NULL) {
        free(raw);
        return -1;
    }
    uint32_t sum = adler32(raw, rawlen);
    z[0] = 0x78;
    z[1] = 0x01;
    z[2] = 0x01;
    z[3] = (unsigned char)(rawlen & 0xff);
    z[4] = (unsigned char)(rawlen >> 8);
    z[5] = (unsigned char)(~rawlen & 0xff);
    z[6] = (unsigned char)((~rawlen >> 8) & 0xff);
    memcpy(z + 7, raw, rawlen);
    z[zlen - 4] = (unsigned char)(sum >> 24);
    z[zlen - 3] = (unsigned char)(sum >> 16);
    z[zlen - 2] = (unsigned char)(sum >> 8);
    z[zlen - 1] = (unsigned char)sum;
    free(raw);
    /* a new file only (never through a link or over another's): a temp
     * file of this pid left by a killed writer is removed first */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
    struct iovec iov = {.iov_base = z, .iov_len = zlen};
    int ok = fd >= 0 && fdio_write_all(fd, &iov, 1) == 0;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    free(z);
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        say(what, cap, tmp);
        errno = e;
        return -1;
    }
    return 0;
}
