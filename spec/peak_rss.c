/* peak_rss.c: runs a command and prints its peak resident set size, for
 * the memory spec (a measurement, not a timing).
 *   peak_rss OUT ERR COMMAND [ARGS...]
 * runs COMMAND with stdout into the file OUT and stderr into ERR, waits
 * for it with wait4 and prints "KB STATUS" (ru_maxrss in kilobytes, the
 * exit status or 128 + the signal) on its own stdout. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct rusage ru;
    int status;
    pid_t pid;
    if (argc < 4) {
        fprintf(stderr, "usage: peak_rss OUT ERR COMMAND [ARGS...]\n");
        return 64;
    }
    if ((pid = fork()) < 0) {
        perror("fork");
        return 71;
    }
    if (pid == 0) {
        int out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(126);
        execvp(argv[3], argv + 3);
        _exit(127);
    }
    while (wait4(pid, &status, 0, &ru) < 0)
        ;
    printf("%ld %d\n", (long)ru.ru_maxrss,
           WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return 0;
}
