/* envlist.c: environ with some variables set or removed. */
#include "envlist.h"

#include <stdlib.h>
#include <string.h>

extern char **environ;

/* Whether entry ("NAME=value") names one of set ("NAME=..." or "NAME"). */
static int overridden(const char *entry, char *const set[])
{
    size_t len = strcspn(entry, "=");
    for (size_t i = 0; set != NULL && set[i] != NULL; i++)
        if (strncmp(entry, set[i], len) == 0 && (set[i][len] == '=' || set[i][len] == '\0'))
            return 1;
    return 0;
}

char **envlist_make(char *const set[])
{
    size_t n = 0, k = 0, nset = 0;
    while (environ != NULL && environ[n] != NULL)
        n++;
    while (set != NULL && set[nset] != NULL)
        nset++;
    char **env = calloc(n + nset + 1, sizeof *env);
    if (env == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!overridden(environ[i], set))
            env[k++] = environ[i];
    for (size_t i = 0; i < nset; i++)
        if (strchr(set[i], '=') != NULL)
            env[k++] = set[i];
    return env;
}
