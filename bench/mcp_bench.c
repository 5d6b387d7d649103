/* mcp_bench.c: `make bench`'s measure of `tasknum mcp` (issue 16): the
 * latency of one `allocate` tool call on a warm server, against the CLI's
 * whole-process allocation, side by side in one run.
 *
 *   mcp_bench TASKNUM STATE_MCP STATE_CLI N
 *
 * Starts `TASKNUM mcp --state STATE_MCP` on pipes, does the initialize
 * handshake, then N rounds, each one tool call (request line written to the
 * answer line read) and one `TASKNUM allocate --state STATE_CLI --format
 * plain` (posix_spawn to wait4, as bench/runner times a call), in turns
 * that alternate which goes first. WARM calls of each go before, untimed.
 * Both states are fresh copies of the same sample. Every answer must be a
 * success. Prints one line of KEY=VALUE for analyze.lua (milliseconds,
 * nearest-rank percentiles) and exits 0, or says what failed and exits 1.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WARM 5

extern char **environ;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
    fprintf(stderr, "mcp_bench: %s\n", what);
    exit(1);
}

struct server {
    pid_t pid;
    int to;      /* its stdin */
    FILE *from;  /* its stdout */
    char *line;
    size_t cap;
    long id;
};

static void start(struct server *s, const char *bin, const char *state)
{
    int in[2], out[2];
    posix_spawn_file_actions_t fa;
    char *argv[] = { (char *)bin, "mcp", "--state", (char *)state, NULL };
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
        die("pipe");
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&s->pid, bin, &fa, NULL, argv, environ) != 0)
        die("cannot start the server");
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    s->to = in[1];
    s->from = fdopen(out[0], "r");
    s->line = NULL;
    s->cap = 0;
    s->id = 0;
}

static void say(struct server *s, const char *msg)
{
    size_t n = strlen(msg);
    if (write(s->to, msg, n) != (ssize_t)n)
        die("cannot write to the server");
}

static const char *answer(struct server *s)
{
    if (getline(&s->line, &s->cap, s->from) < 0)
        die("the server ended");
    return s->line;
}

/* One allocate tool call -> milliseconds, request written to answer read. */
static double tool_call(struct server *s)
{
    char msg[256];
    snprintf(msg, sizeof msg, "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/call\","
             "\"params\":{\"name\":\"allocate\",\"arguments\":{\"purpose\":\"bench\"}}}\n", ++s->id);
    double t0 = now_ms();
    say(s, msg);
    const char *a = answer(s);
    double t1 = now_ms();
    if (!strstr(a, "\"isError\":false") || !strstr(a, "\"allocated_numbers\":["))
        die("a tool call failed");
    return t1 - t0;
}

/* One CLI allocation -> milliseconds, posix_spawn to wait4. */
static double cli_call(const char *bin, const char *state)
{
    posix_spawn_file_actions_t fa;
    char *argv[] = { (char *)bin, "allocate", "--state", (char *)state, "--format", "plain", NULL };
    pid_t pid;
    int status;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    double t0 = now_ms();
    if (posix_spawn(&pid, bin, &fa, NULL, argv, environ) != 0)
        die("cannot start the CLI");
    if (waitpid(pid, &status, 0) != pid)
        die("waitpid");
    double t1 = now_ms();
    posix_spawn_file_actions_destroy(&fa);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("a CLI allocation failed");
    return t1 - t0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* nearest rank, as analyze.lua's percentile() */
static double pct(const double *sorted, int n, double p)
{
    int i = (int)((p / 100.0) * n + 0.999999);
    if (i < 1)
        i = 1;
    return sorted[i - 1];
}

static void stats(const char *name, double *v, int n)
{
    double sum = 0;
    qsort(v, (size_t)n, sizeof *v, cmp);
    for (int i = 0; i < n; i++)
        sum += v[i];
    printf(" %s_p50=%.4f %s_p90=%.4f %s_p99=%.4f %s_mean=%.4f %s_min=%.4f", name, pct(v, n, 50),
           name, pct(v, n, 90), name, pct(v, n, 99), name, sum / n, name, v[0]);
}

int main(int argc, char **argv)
{
    struct server s;
    int n, status;
    if (argc != 5 || (n = atoi(argv[4])) < 1)
        die("usage: mcp_bench TASKNUM STATE_MCP STATE_CLI N");
    double *mcp = calloc((size_t)n, sizeof *mcp), *cli = calloc((size_t)n, sizeof *cli);
    if (!mcp || !cli)
        die("out of memory");
    start(&s, argv[1], argv[2]);
    say(&s, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"mcp_bench\",\"version\":\"1\"}}}\n");
    if (!strstr(answer(&s), "\"protocolVersion\":\"2025-11-25\""))
        die("no initialize answer");
    say(&s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n");
    for (int i = 0; i < WARM; i++) {
        tool_call(&s);
        cli_call(argv[1], argv[3]);
    }
    for (int i = 0; i < n; i++) {
        if (i % 2) {
            mcp[i] = tool_call(&s);
            cli[i] = cli_call(argv[1], argv[3]);
        } else {
            cli[i] = cli_call(argv[1], argv[3]);
            mcp[i] = tool_call(&s);
        }
    }
    close(s.to); /* end of input: the server exits 0 */
    if (waitpid(s.pid, &status, 0) != s.pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("the server did not exit 0 at the end of its input");
    printf("calls=%d warm=%d", n, WARM);
    stats("mcp", mcp, n);
    stats("cli", cli, n);
    printf("\n");
    return 0;
}
