/* pg.c: libpq's asynchronous calls, driven by ppoll on the connection's
 * socket with a deadline. Every signal is blocked while a call runs except
 * inside ppoll (the pattern of lock.c): a SIGTERM for tasknum ends the wait
 * at once and is not lost just before it. libpq keeps SIGPIPE away itself
 * (MSG_NOSIGNAL, or its own blocking around SSL writes). */
#include "pg.h"

#include "clock.h"
#include "pqlib.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>

/* Waits until the socket is readable (and writable, if write), at most
 * until deadline (< 0: none). 0 when ready, -1 with errno ETIMEDOUT, EINTR
 * (cancel set), EIO (no socket). */
static int wait_socket(PGconn *conn, int rd, int wr, double deadline,
                       const volatile sig_atomic_t *cancel, const sigset_t *mask)
{
    int fd = PQsocket(conn);
    if (fd < 0) {
        errno = EIO;
        return -1;
    }
    for (;;) {
        if (cancel != NULL && *cancel != 0) {
            errno = EINTR;
            return -1;
        }
        struct timespec ts, *limit = NULL;
        if (deadline >= 0) {
            double left = deadline - clock_seconds();
            if (left <= 0) {
                errno = ETIMEDOUT;
                return -1;
            }
            ts = clock_span(left);
            limit = &ts;
        }
        struct pollfd p = { .fd = fd, .events = (short)((rd ? POLLIN : 0) | (wr ? POLLOUT : 0)) };
        int n = ppoll(&p, 1, limit, mask);
        if (n > 0)
            return 0;
        if (n == -1 && errno != EINTR)
            return -1;
    }
}

/* libpq prints the server's notices on stderr by default; tasknum's
 * stderr is not the place ("relation already exists, skipping"). */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static double deadline_of(double timeout)
{
    return timeout < 0 ? -1 : clock_seconds() + timeout;
}

static int connect_steps(PGconn *conn, double deadline,
                         const volatile sig_atomic_t *cancel, const sigset_t *mask)
{
    if (PQstatus(conn) == CONNECTION_BAD) {
        errno = ECONNREFUSED;
        return -1;
    }
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    for (;;) {
        if (st == PGRES_POLLING_OK) {
            if (PQsetnonblocking(conn, 1) != 0) {
                errno = EIO;
                return -1;
            }
            return 0;
        }
        if (st == PGRES_POLLING_FAILED) {
            errno = ECONNREFUSED;
            return -1;
        }
        if (wait_socket(conn, st == PGRES_POLLING_READING, st == PGRES_POLLING_WRITING,
                        deadline, cancel, mask) != 0)
            return -1;
        st = PQconnectPoll(conn);
    }
}

int pg_connect(const char *const keys[], const char *const values[],
               double timeout, const volatile sig_atomic_t *cancel,
               PGconn **conn)
{
    double deadline = deadline_of(timeout);
    *conn = NULL;
    if (pqlib_load(NULL, 0) == NULL) {
        errno = ENOENT;
        return -1;
    }
    *conn = PQconnectStartParams(keys, values, 1);
    if (*conn == NULL) {
        errno = ENOMEM;
        return -1;
    }
    PQsetNoticeProcessor(*conn, ignore_notice, NULL);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = connect_steps(*conn, deadline, cancel, &old);
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = err;
    return rc;
}

/* Sends what libpq has buffered. 0, or -1 with errno. */
static int flush(PGconn *conn, double deadline, const volatile sig_atomic_t *cancel,
                 const sigset_t *mask)
{
    for (;;) {
        int f = PQflush(conn);
        if (f == 0)
            return 0;
        if (f < 0) {
            errno = EIO;
            return -1;
        }
        if (wait_socket(conn, 1, 1, deadline, cancel, mask) != 0)
            return -1;
        if (!PQconsumeInput(conn)) {
            errno = EIO;
            return -1;
        }
    }
}

static int collect(PGconn *conn, double deadline, const volatile sig_atomic_t *cancel,
                   const sigset_t *mask, PGresult *res[], int cap, int *n)
{
    int failed = 0;
    for (;;) {
        while (PQisBusy(conn)) {
            if (wait_socket(conn, 1, 0, deadline, cancel, mask) != 0)
                return -1;
            if (!PQconsumeInput(conn)) {
                errno = EIO;
                return -1;
            }
        }
        PGresult *r = PQgetResult(conn);
        if (r == NULL)
            break;
        ExecStatusType s = PQresultStatus(r);
        int bad = s == PGRES_FATAL_ERROR || s == PGRES_BAD_RESPONSE;
        if (bad)
            failed = 1;
        if (*n < cap) {
            res[(*n)++] = r;
        } else if (bad) {            /* the error is always kept, last */
            PQclear(res[cap - 1]);
            res[cap - 1] = r;
        } else {
            PQclear(r);
        }
        if (s == PGRES_COPY_IN || s == PGRES_COPY_OUT || s == PGRES_COPY_BOTH) {
            errno = EIO;                /* never sent by tasknum */
            return -1;
        }
    }
    if (PQstatus(conn) == CONNECTION_BAD) {
        errno = EIO;
        return -1;
    }
    return failed;
}

int pg_exec(PGconn *conn, const char *sql, int nparams,
            const char *const params[], double timeout,
            const volatile sig_atomic_t *cancel, PGresult *res[], int cap,
            int *n)
{
    double deadline = deadline_of(timeout);
    *n = 0;
    int sent = nparams > 0
        ? PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0)
        : PQsendQuery(conn, sql);
    if (!sent) {
        errno = EIO;
        return -1;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = flush(conn, deadline, cancel, &old);
    if (rc == 0)
        rc = collect(conn, deadline, cancel, &old, res, cap, n);
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = err;
    return rc;
}
