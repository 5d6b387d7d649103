/* run.h: running a command to its end with its output captured, for the
 * remote authorities (git): one call starts it, feeds it its input, reads
 * stdout and stderr, and waits, within a time limit. */
#ifndef TASKNUM_RUN_H
#define TASKNUM_RUN_H

#include <signal.h>
#include <stddef.h>

/* What a command gave. out and err are NUL-terminated (never NULL after
 * run_command returned, whatever it returned); each keeps at most the cap
 * given to run_command, truncated says that more was read and dropped. */
struct run_result {
    int status;          /* exit status, 128 + signal; -1 when not waited */
    char *out, *err;
    size_t outlen, errlen;
    int truncated;
};

/* Runs argv[0] (looked up in PATH) with argv in a session of its own (no
 * controlling terminal: nothing it starts can prompt for a password), the
 * environment this process's with each entry of set (NULL-terminated, may
 * be NULL) applied: "NAME=value" adds or replaces NAME, "NAME" removes it.
 * stdin is input[0..inlen) (NULL: /dev/null); the signals are reset to
 * their defaults and none is blocked in the command.
 * Waits at most timeout seconds (< 0: no limit) and gives up as soon as
 * *cancel (may be NULL) is non-zero; giving up kills the command's whole
 * process group with SIGKILL and reaps it, so nothing is left running but
 * what moved itself out of the group.
 * Returns 0 with r->status once the command ended (and its output is
 * drained), or -1 with errno: ETIMEDOUT or EINTR (given up: r holds what
 * was read until then), the errno of the exec when it could not start
 * (ENOENT, EACCES, ...), or of a pipe, allocation or wait. Free r with
 * run_free in every case. */
int run_command(char *const argv[], char *const set[], const char *input,
                size_t inlen, double timeout,
                const volatile sig_atomic_t *cancel, size_t cap,
                struct run_result *r);

void run_free(struct run_result *r);

#endif
