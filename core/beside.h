/* beside.h: the files tasknum keeps beside a state file (lock file, audit
 * log, legacy lock folder and its info, temp files, backups), reached
 * without following links. Each is named by a folder the caller trusts
 * (the real folder of the state: its path may go through links, as any
 * path the user gives) and a name below it, "info" or ".state.lock/info",
 * every component of which is opened relative to the folder's descriptor
 * with O_NOFOLLOW. Whatever is found in one of these names is checked on
 * the opened descriptor (fstat): a symbolic link, a FIFO, a socket, a
 * device, a folder where a file belongs, a file with other hard links, is
 * a foreign object: an error naming it, never followed, written or
 * removed. Opens never block (O_NONBLOCK): a FIFO is refused at once. */
#ifndef TASKNUM_BESIDE_H
#define TASKNUM_BESIDE_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The model a new file beside a state takes its owner, group and mode
 * from: the state file (or, when there is none yet, nothing: defaults). */
struct beside_like {
    int known;
    mode_t mode;
    uid_t uid;
    gid_t gid;
};

/* Fills like from the file path names (following links: the state).
 * A missing file leaves like unknown and returns 0; -1 with errno else. */
int beside_like_of(const char *path, struct beside_like *like);

/* The permission bits of a new file or folder beside a state of mode m:
 * the state's read and write bits, the owner's always (the one who made it
 * can reopen it); a folder gets search wherever it gets read. */
mode_t beside_file_mode(mode_t m);
mode_t beside_folder_mode(mode_t m);

/* Gives the descriptor of something just created the model's group (and,
 * running as root, its owner) and mode (beside_file_mode or
 * beside_folder_mode of it). A group the caller is not a member of is left
 * as it is. 0 or -1 with errno. */
int beside_adopt(int fd, const struct beside_like *like, int folder);

/* What must be found at a name: a regular file with one name, or a folder. */
enum beside_kind { BESIDE_FILE, BESIDE_FOLDER };

/* A foreign object met on the way: what it is, and which name: the first
 * len bytes of rel (the whole of it, or one of its folders). */
struct beside_found {
    int set;
    struct stat st;
    size_t len;
};

/* Opens rel below dir, never following a link in rel, never blocking.
 * flags: O_RDONLY, O_WRONLY or O_RDWR, with O_APPEND, and O_CREAT to make
 * the file when it is not there (exclusively, then beside_adopt with like,
 * which may be NULL: mode 0666 less the umask), or O_CREAT | O_EXCL to
 * insist on making it. O_TRUNC is refused (it would act before the
 * checks). The result is a regular file with one name, opened blocking,
 * close-on-exec; else -1 with errno: ENOENT, EEXIST, the open's errno, or
 * for a foreign object ELOOP (a symbolic link), EMLINK (more than one
 * name), EISDIR (a folder), ENXIO (a FIFO, socket or device); then found
 * (may be NULL) gets what was there. *created (may be NULL) says whether
 * this call made it. */
int beside_open(const char *dir, const char *rel, int flags,
                const struct beside_like *like, struct beside_found *found,
                int *created);

/* Opens the folder rel below dir (rel NULL or "": dir itself) for reading
 * its entries, without following a link in rel. -1 with errno (ENOTDIR
 * and found for a foreign object, as beside_open). */
int beside_open_folder(const char *dir, const char *rel, struct beside_found *found);

/* Reads up to cap - 1 bytes of the file rel below dir into buf, NUL
 * terminated; returns the length or -1 with errno (as beside_open). */
ssize_t beside_read(const char *dir, const char *rel, char *buf, size_t cap);

/* The umask, read without changing it (from /proc when it can be). */
mode_t beside_umask(void);

/* lstat of rel below dir (the last name not followed). 0 or -1, errno. */
int beside_stat(const char *dir, const char *rel, struct stat *st);

/* Makes the folder rel below dir, checks that the folder found there
 * afterwards is the one made (a folder of the caller's), and gives it the
 * model's group, owner and mode (like may be NULL: 0755 less the umask).
 * 0 or -1 with errno (EEXIST when something is there already). */
int beside_mkdir(const char *dir, const char *rel, const struct beside_like *like);

/* Removes rel below dir when it is of the kind given: a regular file
 * (whatever its link count: only this name goes), or an empty folder.
 * Anything else there is left in place: -1 with errno as beside_open
 * (ENOTDIR for a non-folder where a folder was asked for) and found. */
int beside_remove(const char *dir, const char *rel, enum beside_kind kind,
                  struct beside_found *found);

/* Removes the folder rel below dir and the names in it (files, links,
 * FIFOs: only the names go, nothing they point to). A folder inside is
 * foreign: -1 with ENOTEMPTY, its name relative to dir copied into where
 * (cap bytes). A non-folder at rel: as beside_remove. */
int beside_remove_tree(const char *dir, const char *rel, struct beside_found *found,
                       char *where, size_t cap);

/* Renames from to to, both below dir, neither followed; flags as
 * renameat2's (RENAME_NOREPLACE). kind: what from must be (found as
 * beside_remove when it is not). 0 or -1 with errno. */
int beside_rename(const char *dir, const char *from, const char *to,
                  enum beside_kind kind, unsigned flags, struct beside_found *found);

/* Sets the mtime of rel below dir to now (the link itself if it is one). */
int beside_touch(const char *dir, const char *rel);

/* Whether the symbolic link path may be followed: it is not a link, or the
 * link is owned by the caller, by root, or by the owner of what it points
 * to (no one can make tasknum reach a file through a link that the file's
 * owner did not make). 1 yes, 0 no (link and target filled), -1 with
 * errno (the path cannot be examined). */
int beside_link_trusted(const char *path, struct stat *link, struct stat *target);

/* A few words for what st is: "a symbolic link", "a FIFO", "a folder"... */
const char *beside_what(const struct stat *st);

/* The message for a failure err of an operation on rel below dir: for a
 * foreign object (found set), "PATH: is a FIFO, not a regular file ...",
 * naming the very component found; else "PATH: strerror". */
void beside_message(char *buf, size_t cap, const char *dir, const char *rel,
                    int err, const struct beside_found *found);

#endif
