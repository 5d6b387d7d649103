/* pqlib.h: libpq, opened the first time a postgresql:// authority needs it.
 * Linked in, libpq and the libraries it pulls in (Kerberos, LDAP, TLS, ...:
 * 22 more) cost every start of tasknum ~10M instructions of relocation
 * (callgrind), three times a whole allocation, whatever the authority;
 * dlopen puts that cost on the calls that talk to a database. Files that
 * call libpq include this header after <libpq-fe.h>: each libpq name they
 * use becomes a call through the table pqlib_load() filled. */
#ifndef TASKNUM_PQLIB_H
#define TASKNUM_PQLIB_H

#include <stddef.h>

#include <libpq-fe.h>

#define PQLIB_FUNCS(X) \
    X(PQbackendPID) X(PQclear) X(PQcmdStatus) X(PQconnectPoll) \
    X(PQconnectStartParams) X(PQconninfoFree) X(PQconninfoParse) \
    X(PQconsumeInput) X(PQdb) X(PQerrorMessage) X(PQescapeLiteral) \
    X(PQfinish) X(PQflush) X(PQfreemem) X(PQgetisnull) X(PQgetlength) \
    X(PQgetResult) X(PQgetvalue) X(PQhost) X(PQisBusy) X(PQnfields) \
    X(PQntuples) X(PQport) X(PQresultErrorField) X(PQresultErrorMessage) \
    X(PQresultStatus) X(PQsendQuery) X(PQsendQueryParams) \
    X(PQsetNoticeProcessor) X(PQsetnonblocking) X(PQsocket) X(PQstatus) \
    X(PQtransactionStatus) X(PQuser)

struct pqlib {
#define PQLIB_FIELD(name) __typeof__(name) *name;
    PQLIB_FUNCS(PQLIB_FIELD)
#undef PQLIB_FIELD
};

/* Opens libpq (libpq.so.5) and finds its functions, the first time; later
 * calls give the same answer. Returns the table, or NULL with a message in
 * err (cap bytes; err may be NULL) saying what is missing. */
const struct pqlib *pqlib_load(char *err, size_t cap);

/* The table, once pqlib_load() has returned it; every libpq call of pg.c
 * and lpg.c goes through it. */
const struct pqlib *pqlib(void);

#ifndef PQLIB_TABLE
#define PQbackendPID (pqlib()->PQbackendPID)
#define PQclear (pqlib()->PQclear)
#define PQcmdStatus (pqlib()->PQcmdStatus)
#define PQconnectPoll (pqlib()->PQconnectPoll)
#define PQconnectStartParams (pqlib()->PQconnectStartParams)
#define PQconninfoFree (pqlib()->PQconninfoFree)
#define PQconninfoParse (pqlib()->PQconninfoParse)
#define PQconsumeInput (pqlib()->PQconsumeInput)
#define PQdb (pqlib()->PQdb)
#define PQerrorMessage (pqlib()->PQerrorMessage)
#define PQescapeLiteral (pqlib()->PQescapeLiteral)
#define PQfinish (pqlib()->PQfinish)
#define PQflush (pqlib()->PQflush)
#define PQfreemem (pqlib()->PQfreemem)
#define PQgetisnull (pqlib()->PQgetisnull)
#define PQgetlength (pqlib()->PQgetlength)
#define PQgetResult (pqlib()->PQgetResult)
#define PQgetvalue (pqlib()->PQgetvalue)
#define PQhost (pqlib()->PQhost)
#define PQisBusy (pqlib()->PQisBusy)
#define PQnfields (pqlib()->PQnfields)
#define PQntuples (pqlib()->PQntuples)
#define PQport (pqlib()->PQport)
#define PQresultErrorField (pqlib()->PQresultErrorField)
#define PQresultErrorMessage (pqlib()->PQresultErrorMessage)
#define PQresultStatus (pqlib()->PQresultStatus)
#define PQsendQuery (pqlib()->PQsendQuery)
#define PQsendQueryParams (pqlib()->PQsendQueryParams)
#define PQsetNoticeProcessor (pqlib()->PQsetNoticeProcessor)
#define PQsetnonblocking (pqlib()->PQsetnonblocking)
#define PQsocket (pqlib()->PQsocket)
#define PQstatus (pqlib()->PQstatus)
#define PQtransactionStatus (pqlib()->PQtransactionStatus)
#define PQuser (pqlib()->PQuser)
#endif

#endif
