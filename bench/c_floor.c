/* c_floor.c: the least a durable task-number allocator has to do, as one
 * small process. It is the reference of `make bench`: tasknum is measured
 * against it in the same run.
 *
 *   c-floor STATE_PATH COUNT
 *
 * 1. OFD lock (F_OFD_SETLKW) on ".<state name>.lock" beside the state: a
 *    file that is never renamed, so the kernel drops the lock when the
 *    holder dies and wakes one waiter as soon as it is released.
 * 2. Read the state, find "next_project_number" and the optional
 *    "project_numbering" {min, max} (default 0..999) by plain byte search:
 *    no JSON parse, no validation (tasknum has to do more than this).
 * 3. Write the file again with only the counter's digits changed, to a temp
 *    file in the same folder with the state's mode; fsync; rename over the
 *    state; fsync the folder.
 * 4. Print the numbers, space separated, then exit (which drops the lock).
 *    With BENCH_HOLD set, also tell on stderr how long the lock was held.
 *
 * Exit: 0, 64 usage, 65 state not understood, 71 system error, 75 lock not
 * had within 30 s. Build: cc -O2 -o c-floor c_floor.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LOCK_WAIT_S 30

static void die(int code, const char *what, const char *path)
{
    fprintf(stderr, "c-floor: %s%s%s%s%s\n", what, path ? " " : "",
            path ? path : "", errno ? ": " : "", errno ? strerror(errno) : "");
    exit(code);
}

static void on_alarm(int sig) { (void)sig; }

/* The digits of the integer right after `"key"` and its colon, searching
 * text[from, to). Returns 0 and sets the span and value, or -1. */
static int find_int(const char *text, size_t from, size_t to, const char *key,
                    size_t *ds, size_t *de, int64_t *val)
{
    size_t klen = strlen(key);
    const char *p = memmem(text + from, to - from, key, klen);
    if (!p) return -1;
    const char *end = text + to;
    p += klen;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    if (p >= end || *p != ':') return -1;
    p++;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    const char *d = p;
    int neg = 0;
    if (p < end && *p == '-') { neg = 1; p++; }
    int64_t v = 0;
    const char *first = p;
    while (p < end && *p >= '0' && *p <= '9') {
        if (v > (INT64_MAX - (*p - '0')) / 10) return -1;
        v = v * 10 + (*p - '0');
        p++;
    }
    if (p == first) return -1;
    *ds = (size_t)(d - text);
    *de = (size_t)(p - text);
    *val = neg ? -v : v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: c-floor STATE_PATH COUNT\n");
        return 64;
    }
    const char *state = argv[1];
    char *endp;
    errno = 0;
    long long count = strtoll(argv[2], &endp, 10);
    if (errno || *endp || count < 1 || count > 1000000) {
        fprintf(stderr, "c-floor: bad COUNT %s\n", argv[2]);
        return 64;
    }

    /* Folder and name of the state. */
    char dir[PATH_MAX], lockp[PATH_MAX], tmpp[PATH_MAX];
    const char *slash = strrchr(state, '/');
    const char *base = slash ? slash + 1 : state;
    if (slash) {
        size_t n = (size_t)(slash - state);
        if (n == 0) n = 1; /* "/state.json" */
        if (n >= sizeof dir) { errno = ENAMETOOLONG; die(64, "path", state); }
        memcpy(dir, state, n);
        dir[n] = '\0';
    } else {
        strcpy(dir, ".");
    }
    if (snprintf(lockp, sizeof lockp, "%s/.%s.lock", dir, base) >= (int)sizeof lockp ||
        snprintf(tmpp, sizeof tmpp, "%s/.%s.tmp-%ld", dir, base, (long)getpid()) >= (int)sizeof tmpp) {
        errno = ENAMETOOLONG;
        die(64, "path", state);
    }

    /* 1. Lock, waiting at most LOCK_WAIT_S (SIGALRM interrupts the wait). */
    int lfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (lfd < 0) die(71, "open", lockp);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: fcntl returns EINTR */
    sigaction(SIGALRM, &sa, NULL);
    alarm(LOCK_WAIT_S);
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
    while (fcntl(lfd, F_OFD_SETLKW, &fl) < 0) {
        if (errno == EINTR) { errno = 0; die(75, "lock timeout on", lockp); }
        die(71, "lock", lockp);
    }
    alarm(0);
    struct timespec t_lock;
    clock_gettime(CLOCK_MONOTONIC, &t_lock);

    /* 2. Read. */
    int fd = open(state, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(errno == ENOENT ? 66 : 71, "open", state);
    struct stat st;
    if (fstat(fd, &st) < 0) die(71, "stat", state);
    size_t len = (size_t)st.st_size;
    char *buf = malloc(len + 1);
    if (!buf) die(71, "malloc", NULL);
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0) { if (errno == EINTR) continue; die(71, "read", state); }
        if (r == 0) break;
        got += (size_t)r;
    }
    close(fd);
    len = got;
    buf[len] = '\0';

    size_t ds, de, a, b;
    int64_t next, min = 0, max = 999;
    if (find_int(buf, 0, len, "\"next_project_number\"", &ds, &de, &next) < 0) {
        errno = 0;
        die(65, "no next_project_number in", state);
    }
    const char *pn = memmem(buf, len, "\"project_numbering\"", 19);
    if (pn) {
        size_t from = (size_t)(pn - buf);
        const char *close_ = memchr(pn, '}', len - from);
        size_t to = close_ ? (size_t)(close_ - buf) : len;
        if (find_int(buf, from, to, "\"min\"", &a, &b, &min) < 0) min = 0;
        if (find_int(buf, from, to, "\"max\"", &a, &b, &max) < 0) max = 999;
    }
    if (min > max || next < min || next > max || (uint64_t)(max - min) < (uint64_t)count - 1) {
        errno = 0;
        die(65, "counter or range out of bounds in", state);
    }

    /* The numbers and the new counter, wrapping from max to min. */
    int64_t *nums = malloc(sizeof *nums * (size_t)count);
    if (!nums) die(71, "malloc", NULL);
    int64_t cur = next;
    for (long long i = 0; i < count; i++) {
        nums[i] = cur;
        cur = (cur == max) ? min : cur + 1;
    }
    char digits[32];
    int dlen = snprintf(digits, sizeof digits, "%" PRId64, cur);

    /* 3. Temp file, same mode, fsync, rename, fsync folder. */
    int tfd = open(tmpp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (tfd < 0) die(71, "create", tmpp);
    if (fchmod(tfd, st.st_mode & 07777) < 0) { unlink(tmpp); die(71, "chmod", tmpp); }
    struct iovec iov[3] = {
        { buf, ds }, { digits, (size_t)dlen }, { buf + de, len - de },
    };
    size_t total = ds + (size_t)dlen + (len - de);
    size_t done = 0;
    int k = 0;
    while (done < total) {
        ssize_t w = writev(tfd, iov + k, 3 - k);
        if (w < 0) { if (errno == EINTR) continue; unlink(tmpp); die(71, "write", tmpp); }
        done += (size_t)w;
        while (k < 3 && (size_t)w >= iov[k].iov_len) { w -= (ssize_t)iov[k].iov_len; k++; }
        if (k < 3) { iov[k].iov_base = (char *)iov[k].iov_base + w; iov[k].iov_len -= (size_t)w; }
    }
    if (fsync(tfd) < 0) { unlink(tmpp); die(71, "fsync", tmpp); }
    if (close(tfd) < 0) { unlink(tmpp); die(71, "close", tmpp); }
    if (rename(tmpp, state) < 0) { unlink(tmpp); die(71, "rename", state); }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0) die(71, "fsync folder", dir);
    close(dfd);

    /* 4. Durable: now the numbers may be told. */
    char out[64];
    for (long long i = 0; i < count; i++) {
        int n = snprintf(out, sizeof out, i + 1 < count ? "%" PRId64 " " : "%" PRId64 "\n", nums[i]);
        fwrite(out, 1, (size_t)n, stdout);
    }
    if (fflush(stdout) != 0) die(71, "write", "stdout");
    if (getenv("BENCH_HOLD")) { /* for make bench: how long the lock was held */
        struct timespec t_end;
        clock_gettime(CLOCK_MONOTONIC, &t_end);
        fprintf(stderr, "c-floor: hold_ms=%.3f\n", (double)(t_end.tv_sec - t_lock.tv_sec) * 1e3 +
                (double)(t_end.tv_nsec - t_lock.tv_nsec) / 1e6);
    }
    return 0; /* exit closes lfd: the lock is released */
}
