/* embedded.h: the Lua sources compiled into the binary (see embed.lua). */
#ifndef TASKNUM_EMBEDDED_H
#define TASKNUM_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
    const char *name;   /* module name ("tasknum.cli") or script ("allocate.lua") */
    int is_module;
    size_t len;
    const char *source;
};

extern const struct embedded_file embedded_files[];
extern const size_t embedded_count;

#endif
