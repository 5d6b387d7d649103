/* fdio.c: whole reads and writes on a descriptor. */
#include "fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

ssize_t fdio_read_all(int fd, void *buf, size_t cap)
{
    char *p = buf;
    size_t len = 0;
    while (len < cap) {
        ssize_t n = read(fd, p + len, cap - len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            return -1;
        if (n == 0)
            break;
        len += (size_t)n;
    }
    return (ssize_t)len;
}

ssize_t fdio_read_small(const char *path, int flags, char *buf, size_t cap)
{
    if (cap == 0) {
        errno = EINVAL;
        return -1;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
    if (fd == -1)
        return -1;
    ssize_t len = fdio_read_all(fd, buf, cap - 1);
    int err = errno;
    close(fd);
    if (len < 0) {
        errno = err;
        return -1;
    }
    buf[len] = '\0';
    return len;
}

int fdio_write_all(int fd, const struct iovec *iov, int iovcnt)
{
    for (int i = 0; i < iovcnt; i++) {
        const char *p = iov[i].iov_base;
        size_t left = iov[i].iov_len;
        while (left > 0) {
            ssize_t n = write(fd, p, left);
            if (n == -1 && errno == EINTR)
                continue;
            if (n == -1)
                return -1;
            p += n;
            left -= (size_t)n;
        }
    }
    return 0;
}

int fdio_pwrite_all(int fd, const void *buf, size_t len, off_t at)
{
    const char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, p + done, len - done, at + (off_t)done);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            return -1;
        done += (size_t)n;
    }
    return 0;
}
