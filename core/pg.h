/* pg.h: PostgreSQL through libpq with a time limit on every wait, for the
 * postgresql:// authority. Connections are libpq's own (TLS, passwords,
 * PG* variables and service files as libpq does them); this file adds
 * waiting with a deadline and giving up when the host is asked to stop. */
#ifndef TASKNUM_PG_H
#define TASKNUM_PG_H

#include <signal.h>

#include <libpq-fe.h>

/* Connects with the keyword/value pairs keys[i]=values[i] (NULL-terminated;
 * a "dbname" holding a URI or conninfo string is expanded, so that it fills
 * in the rest), waiting at most timeout seconds (< 0: no limit) and giving
 * up when *cancel (may be NULL) becomes non-zero.
 * Returns 0 with *conn connected (non-blocking mode), or -1 with errno:
 * ECONNREFUSED when libpq gave up (the server is down, refused, or did not
 * accept the credentials: PQerrorMessage(*conn) says which), ETIMEDOUT,
 * EINTR, ENOMEM, ENOENT (libpq could not be loaded: pqlib_load() says
 * why). *conn may be set on failure too: PQfinish it. */
int pg_connect(const char *const keys[], const char *const values[],
               double timeout, const volatile sig_atomic_t *cancel,
               PGconn **conn);

/* Sends sql (one statement with nparams > 0 parameters in params, or any
 * number of statements without) and collects its results in res[0..*n)
 * (at most cap; more are cleared). Waits at most timeout seconds (< 0: no
 * limit), gives up when *cancel becomes non-zero.
 * Returns 0 when every statement succeeded, 1 when the server reported an
 * error (res[*n - 1] is that result; the connection stays usable), or -1
 * with errno: ETIMEDOUT, EINTR (the connection is then in an unknown state:
 * close it), EIO (the connection broke: PQerrorMessage), ENOMEM. The caller
 * PQclears res[0..*n) in every case. */
int pg_exec(PGconn *conn, const char *sql, int nparams,
            const char *const params[], double timeout,
            const volatile sig_atomic_t *cancel, PGresult *res[], int cap,
            int *n);

#endif
