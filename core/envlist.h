/* envlist.h: the environment a started command gets, this process's with
 * some variables set or removed (child.c, run.c). */
#ifndef TASKNUM_ENVLIST_H
#define TASKNUM_ENVLIST_H

/* environ with each entry of set (NULL-terminated, may be NULL) applied:
 * "NAME=value" adds or replaces NAME, "NAME" removes it. The strings are
 * shared; free() only the array. NULL with errno ENOMEM. */
char **envlist_make(char *const set[]);

#endif
