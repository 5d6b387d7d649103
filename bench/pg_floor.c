/*
 * bench/pg_floor.c: the floor of a postgresql:// allocation, what libpq and
 * the server need for one number: connect, one
 *   UPDATE tasknum_floor SET serial = serial + 1 WHERE key = 'floor' RETURNING serial
 * (its own transaction), print the serial, disconnect.
 *
 *   pg_floor CONNINFO
 *
 * Built by bench/remote.sh with libpq (cc pg_floor.c -lpq); exit 1 with
 * libpq's message on stderr when anything fails.
 */
#include <libpq-fe.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: pg_floor CONNINFO\n");
        return 64;
    }
    PGconn *c = PQconnectdb(argv[1]);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "pg_floor: %s", PQerrorMessage(c));
        PQfinish(c);
        return 1;
    }
    PGresult *r = PQexec(c, "UPDATE tasknum_floor SET serial = serial + 1 WHERE key = 'floor' "
                            "RETURNING serial");
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (ok)
        printf("%s\n", PQgetvalue(r, 0, 0));
    else
        fprintf(stderr, "pg_floor: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : 1;
}
