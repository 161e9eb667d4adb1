/*
 * logfollow.c - following a log file; see logfollow.h.
 */
#include "logfollow.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK 65536  /* read(2) size: 8 maximal lines */

struct LogFollow {
    char *path;
    int fd;                  /* the file being read, -1: none open */
    guint64 device, inode, offset, size;
    gboolean skipping;       /* in a line too long, up to its newline */
    guint64 long_lines;
    LogPosition resume;      /* from logfollow_resume(), until the first open */
    gboolean resuming;
    char *problem_said;      /* the last problem reported */
    char buf[CHUNK];
};

LogFollow *logfollow_new(const char *path)
{
    LogFollow *f = g_new0(LogFollow, 1);
    f->path = g_strdup(path);
    f->fd = -1;
    return f;
}

void logfollow_free(LogFollow *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    g_free(f->path);
    g_free(f->problem_said);
    g_free(f);
}

void logfollow_resume(LogFollow *f, const LogPosition *at)
{
    f->resume = *at;
    f->resuming = at->inode != 0;
}

LogPosition logfollow_position(const LogFollow *f)
{
    if (f->fd < 0 && f->resuming)
        return f->resume;
    return (LogPosition){f->device, f->inode, f->offset};
}

guint64 logfollow_behind(const LogFollow *f)
{
    return f->size > f->offset ? f->size - f->offset : 0;
}

guint64 logfollow_long_lines(const LogFollow *f)
{
    return f->long_lines;
}

/* A problem said once until it changes (or goes away). */
static void say(LogFollow *f, char **problem, char *text)
{
    if (!text) {
        g_clear_pointer(&f->problem_said, g_free);
        return;
    }
    if (f->problem_said && strcmp(f->problem_said, text) == 0) {
        g_free(text);
        return;
    }
    g_free(f->problem_said);
    f->problem_said = g_strdup(text);
    if (problem && !*problem)
        *problem = text;
    else
        g_free(text);
}

static void adopt(LogFollow *f, int fd, const struct stat *st, guint64 offset)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = fd;
    f->device = (guint64)st->st_dev;
    f->inode = (guint64)st->st_ino;
    f->size = (guint64)st->st_size;
    f->offset = offset <= f->size ? offset : 0;
    f->skipping = FALSE;
}

static int open_file(const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

/* The first open: the saved file at the path, or as PATH.1, or none. */
static void open_resuming(LogFollow *f, int fd, const struct stat *st)
{
    f->resuming = FALSE;
    if ((guint64)st->st_ino == f->resume.inode && (guint64)st->st_dev == f->resume.device) {
        adopt(f, fd, st, f->resume.offset);
        return;
    }
    g_autofree char *older = g_strconcat(f->path, ".1", NULL);
    struct stat ost;
    int ofd = open_file(older, &ost);
    if (ofd >= 0 && (guint64)ost.st_ino == f->resume.inode && (guint64)ost.st_dev == f->resume.device) {
        close(fd);
        adopt(f, ofd, &ost, f->resume.offset);  /* the rest of it, then the path's file */
        return;
    }
    if (ofd >= 0)
        close(ofd);
    adopt(f, fd, st, 0);
}

/* Lines in buf[0, len) (read at f->offset) handed out; returns the bytes
 * consumed (whole lines, a too-long line's bytes) or stops early when fn
 * says so.  The offset moves past each line once fn returns: a fault
 * that leaves fn (a SIGBUS in the list, longjmp) leaves that line unread. */
static gsize hand_out(LogFollow *f, gsize len, LogLineFn fn, gpointer data, gboolean *stop)
{
    guint64 base = f->offset;
    gsize done = 0;
    while (done < len) {
        char *nl = memchr(f->buf + done, '\n', len - done);
        if (!nl) {
            if (len - done > LOGFOLLOW_LINE_MAX) {  /* no end in sight: skip it */
                if (!f->skipping)
                    f->long_lines++;
                f->skipping = TRUE;
                return len;
            }
            return done;
        }
        gsize line_len = (gsize)(nl - (f->buf + done));
        gboolean skip = f->skipping || line_len > LOGFOLLOW_LINE_MAX;
        if (line_len > LOGFOLLOW_LINE_MAX && !f->skipping)
            f->long_lines++;
        f->skipping = FALSE;
        const char *line = f->buf + done;
        gboolean go_on = skip || fn(line, line_len, data);
        done += line_len + 1;
        f->offset = base + done;  /* counted: behind us (a fault in fn never gets here) */
        if (!go_on) {
            *stop = TRUE;
            return done;
        }
    }
    return done;
}

/* Read the open file from offset, at most max_bytes; TRUE if more. */
static gboolean read_open(LogFollow *f, gsize max_bytes, LogLineFn fn, gpointer data, gboolean *stop)
{
    gsize total = 0;
    while (total < max_bytes && !*stop) {
        ssize_t n = pread(f->fd, f->buf, sizeof f->buf, (off_t)f->offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return FALSE;
        guint64 base = f->offset;
        gsize used = hand_out(f, (gsize)n, fn, data, stop);
        f->offset = base + used;  /* hand_out moved it line by line; a skipped long line too */
        total += used;
        if (f->offset > f->size)
            f->size = f->offset;
        if (used == 0)
            return FALSE;  /* a line still being written */
    }
    return TRUE;
}

gboolean logfollow_poll(LogFollow *f, gsize max_bytes, LogLineFn fn, gpointer data, char **problem)
{
    if (problem)
        *problem = NULL;
    struct stat st;
    int fd = open_file(f->path, &st);
    if (fd < 0 && f->fd < 0) {
        say(f, problem, g_strdup_printf("%s: %s", f->path, g_strerror(errno)));
        return FALSE;
    }
    gboolean stop = FALSE;
    if (f->fd < 0) {
        if (f->resuming)
            open_resuming(f, fd, &st);
        else
            adopt(f, fd, &st, 0);
        fd = -1;
        say(f, problem, NULL);
    }
    if (fd >= 0 && ((guint64)st.st_ino != f->inode || (guint64)st.st_dev != f->device)) {
        /* rotated: the old file's last lines, then the new one */
        if (read_open(f, max_bytes, fn, data, &stop) || stop) {
            close(fd);
            return TRUE;
        }
        say(f, problem, g_strdup_printf("%s: rotated, following the new file", f->path));
        adopt(f, fd, &st, 0);
        fd = -1;
    } else if (fd >= 0) {
        close(fd);
        fd = -1;
    }
    struct stat now;
    if (fstat(f->fd, &now) == 0) {
        if ((guint64)now.st_size < f->offset) {  /* truncated in place */
            f->offset = 0;
            f->skipping = FALSE;
        }
        f->size = (guint64)now.st_size;
    }
    if (read_open(f, max_bytes, fn, data, &stop) || stop)
        return TRUE;
    /* read to its end, and another file at the path (a resume read the
     * rest of PATH.1): more to read, from that one */
    return stat(f->path, &st) == 0 && ((guint64)st.st_ino != f->inode || (guint64)st.st_dev != f->device);
}
