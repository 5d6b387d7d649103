/* runner.c: the load generator of `make bench`.
 *
 *   runner -p P -k K -d OUTDIR [-c CAP_S] [-t DEADLINE_S] [-m M] -- COMMAND [ARGS...]
 *
 * With -m M, "%W" in COMMAND's arguments is replaced, in worker i, by
 * i mod M: P workers spread over M states (worktrees, say) in turn.
 * Forks P workers that wait on a common start signal, then each runs
 * COMMAND K times in a row (posix_spawn + wait4), so P calls are in flight
 * at any moment. A worker starts no new call CAP_S seconds after the start.
 * Per worker i (three digits) it writes to OUTDIR:
 *   wNNN.lat  one line per call: start_ns end_ns status maxrss_kb
 *             (CLOCK_MONOTONIC; status = exit code, or 128 + signal;
 *             maxrss from the child's rusage, its own waited children
 *             included)
 *   wNNN.out  the calls' stdout, appended in order
 *   wNNN.err  their stderr
 * After DEADLINE_S (default 300) seconds the runner kills every worker and
 * its calls (SIGKILL to the worker's process group) and exits 3.
 * Exit: 0 all workers finished, 2 usage or setup error, 3 deadline hit.
 * The calls' own exit statuses are in the .lat files, not in this exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int open_out(const char *dir, int w, const char *ext)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/w%03d.%s", dir, w, ext);
    int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) { perror(p); _exit(2); }
    return fd;
}

/* The command of worker w: "%W" in an argument becomes w mod m (m > 0). */
static char **spread(char **cmd, int w, int m)
{
    if (m <= 0)
        return cmd;
    int n = 0;
    while (cmd[n])
        n++;
    char **out = calloc((size_t)n + 1, sizeof *out);
    if (!out) { perror("calloc"); _exit(2); }
    for (int i = 0; i < n; i++) {
        const char *at = strstr(cmd[i], "%W");
        if (!at) { out[i] = cmd[i]; continue; }
        size_t len = strlen(cmd[i]) + 16;
        out[i] = malloc(len);
        if (!out[i]) { perror("malloc"); _exit(2); }
        snprintf(out[i], len, "%.*s%d%s", (int)(at - cmd[i]), cmd[i], w % m, at + 2);
    }
    return out;
}

/* One worker: K calls in a row after the start pipe closes. */
static void worker(int w, int k, double cap_s, const char *dir, int start_rd,
                   char **cmd)
{
    int lat = open_out(dir, w, "lat");
    int out = open_out(dir, w, "out");
    int err = open_out(dir, w, "err");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out, 1);
    posix_spawn_file_actions_adddup2(&fa, err, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);

    char c;
    while (read(start_rd, &c, 1) < 0 && errno == EINTR) {}
    close(start_rd);
    int64_t t0 = now_ns();
    int64_t cap = cap_s > 0 ? (int64_t)(cap_s * 1e9) : INT64_MAX;

    for (int i = 0; i < k; i++) {
        int64_t s = now_ns();
        if (s - t0 > cap) break;
        pid_t pid;
        int rc = posix_spawnp(&pid, cmd[0], &fa, NULL, cmd, environ);
        int status = 0;
        struct rusage ru;
        memset(&ru, 0, sizeof ru);
        int code;
        if (rc != 0) {
            code = 127;
        } else {
            while (wait4(pid, &status, 0, &ru) < 0) {
                if (errno != EINTR) { perror("wait4"); _exit(2); }
            }
            code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        int64_t e = now_ns();
        char line[128];
        int n = snprintf(line, sizeof line, "%lld %lld %d %ld\n", (long long)s,
                         (long long)e, code, (long)ru.ru_maxrss);
        if (write(lat, line, (size_t)n) != n) { perror("write"); _exit(2); }
        if (rc != 0) {
            dprintf(err, "runner: spawn %s: %s\n", cmd[0], strerror(rc));
        }
    }
    _exit(0);
}

static volatile sig_atomic_t deadline_hit;
static void on_alarm(int sig) { (void)sig; deadline_hit = 1; }

int main(int argc, char **argv)
{
    int p = 1, k = 1, m = 0, opt;
    double cap_s = 0, deadline_s = 300;
    const char *dir = NULL;
    while ((opt = getopt(argc, argv, "+p:k:d:c:t:m:")) != -1) {
        switch (opt) {
        case 'p': p = atoi(optarg); break;
        case 'k': k = atoi(optarg); break;
        case 'd': dir = optarg; break;
        case 'c': cap_s = atof(optarg); break;
        case 't': deadline_s = atof(optarg); break;
        case 'm': m = atoi(optarg); break;
        default: goto usage;
        }
    }
    if (!dir || p < 1 || p > 4096 || k < 1 || optind >= argc) {
    usage:
        fprintf(stderr, "usage: runner -p P -k K -d OUTDIR [-c CAP_S] [-t DEADLINE_S] [-m M] -- COMMAND [ARGS...]\n");
        return 2;
    }
    char **cmd = argv + optind;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) { perror(dir); return 2; }

    int start[2];
    if (pipe2(start, O_CLOEXEC) < 0) { perror("pipe"); return 2; }
    pid_t *pids = calloc((size_t)p, sizeof *pids);
    for (int w = 0; w < p; w++) {
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 2; }
        if (pid == 0) {
            setpgid(0, 0); /* its calls join this group: killable together */
            close(start[1]);
            worker(w, k, cap_s, dir, start[0], spread(cmd, w, m));
        }
        setpgid(pid, pid);
        pids[w] = pid;
    }
    close(start[0]);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)(deadline_s + 0.999));
    close(start[1]); /* go */

    int left = p, bad = 0;
    while (left > 0) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR && deadline_hit) {
                for (int w = 0; w < p; w++)
                    if (pids[w] > 0) kill(-pids[w], SIGKILL);
                fprintf(stderr, "runner: deadline of %.0f s hit, workers killed\n", deadline_s);
                deadline_hit = 2;
                continue;
            }
            if (errno == EINTR) continue;
            break;
        }
        for (int w = 0; w < p; w++)
            if (pids[w] == pid) pids[w] = -1;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) bad = 1;
        left--;
    }
    if (deadline_hit) return 3;
    return bad ? 2 : 0;
}
