/* pqlib.c: opens libpq on first use (see pqlib.h). The table is the one
 * piece of process-wide state in the core: a library is opened once per
 * process, and the table never changes after it is filled. */
#define PQLIB_TABLE
#include "pqlib.h"

#include <dlfcn.h>
#include <stdio.h>

static struct pqlib table;
static int loaded;          /* 0: not tried, 1: filled, -1: failed */
static char why[256];

static int find(void *lib, void **slot, const char *name)
{
    *slot = dlsym(lib, name);
    if (*slot != NULL)
        return 0;
    snprintf(why, sizeof why, "libpq.so.5 has no %s (libpq too old?)", name);
    return -1;
}

static int fill(void)
{
    /* RTLD_LAZY: only the functions called get bound (RTLD_NOW binds every
     * symbol of libpq and the ~20 libraries it pulls in: 10M instructions) */
    void *lib = dlopen("libpq.so.5", RTLD_LAZY | RTLD_LOCAL);
    if (lib == NULL) {
        const char *e = dlerror();
        snprintf(why, sizeof why, "libpq is not installed (Debian: libpq5): %s",
                 e != NULL ? e : "libpq.so.5 not found");
        return -1;
    }
#define PQLIB_FIND(name) \
    if (find(lib, (void **)&table.name, #name) != 0) \
        return -1;
    PQLIB_FUNCS(PQLIB_FIND)
#undef PQLIB_FIND
    return 0;
}

const struct pqlib *pqlib_load(char *err, size_t cap)
{
    if (loaded == 0)
        loaded = fill() == 0 ? 1 : -1;
    if (loaded == 1)
        return &table;
    if (err != NULL && cap > 0)
        snprintf(err, cap, "%s", why);
    return NULL;
}

const struct pqlib *pqlib(void)
{
    return &table;
}
