/*
 * logfollow.h - following a log file as it grows, is rotated and is
 * truncated, from a saved position, as whole lines.
 *
 * The position is the file (device and inode) and the offset of the
 * first line not yet handed out; only whole lines are handed out, so a
 * line being written is read once it ends.  Saved with what the lines
 * were counted into, it makes a restart resume exactly there: nothing
 * counted twice, nothing skipped.
 *
 *   rotated (renamed, a new file at the path): the old file is read to
 *     its end first, then the new one from its start;
 *   a restart after a rotation: the saved file is looked for as PATH.1
 *     (logrotate's and savelog's name for the previous file) and its
 *     rest read first; not found, the current file is read from its start;
 *   truncated in place (copytruncate): read again from the start;
 *   missing: looked for again at every poll.
 * A line longer than LOGFOLLOW_LINE_MAX is skipped (counted).
 */
#ifndef TLSPOLICYD_LOGFOLLOW_H
#define TLSPOLICYD_LOGFOLLOW_H

#include <glib.h>

#define LOGFOLLOW_LINE_MAX 8192

typedef struct LogFollow LogFollow;

typedef struct {
    guint64 device, inode, offset;
} LogPosition;

/* Called for each whole line (no newline); return FALSE to stop before
 * the next one (the line counts as read). */
typedef gboolean (*LogLineFn)(const char *line, size_t len, gpointer data);

LogFollow *logfollow_new(const char *path);
void logfollow_free(LogFollow *f);

/* Where the last run stopped (before the first poll); none: the current
 * file from its start. */
void logfollow_resume(LogFollow *f, const LogPosition *at);
LogPosition logfollow_position(const LogFollow *f);

/* Hands out the lines written since, at most max_bytes of them; TRUE
 * when there is more to read now.  *problem: a message to log once, or
 * NULL (the file is missing or unreadable; a rotation followed). */
gboolean logfollow_poll(LogFollow *f, gsize max_bytes, LogLineFn fn, gpointer data, char **problem);

/* Bytes in the file not read yet; lines skipped as too long. */
guint64 logfollow_behind(const LogFollow *f);
guint64 logfollow_long_lines(const LogFollow *f);

#endif
