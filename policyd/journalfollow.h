/*
 * journalfollow.h - following Postfix's smtp client in the systemd
 * journal (sd-journal), from a saved cursor.
 *
 * The entries read are those whose _COMM is "smtp": a field journald
 * sets itself from the process, so another program cannot pose as
 * Postfix's smtp client here as it can in a syslog file.  Their
 * SYSLOG_IDENTIFIER, _PID and MESSAGE are handed out, in journal order.
 *
 * The position is the journal's cursor of the last entry handed out;
 * saved with what was counted, a restart resumes after it.  Without one
 * the journal is read from its oldest entry.
 */
#ifndef TLSPOLICYD_JOURNALFOLLOW_H
#define TLSPOLICYD_JOURNALFOLLOW_H

#include <glib.h>

typedef struct JournalFollow JournalFollow;

/* One entry; return FALSE to stop before the next. */
typedef gboolean (*JournalEntryFn)(const char *identifier, guint pid, const char *message, size_t len,
                                   gint64 time, gpointer data);

/* directory NULL: the local system journal; else the journal files
 * there (journalctl -D). */
JournalFollow *journalfollow_open(const char *directory, GError **error);
void journalfollow_free(JournalFollow *j);

void journalfollow_resume(JournalFollow *j, const char *cursor);
/* The cursor of the last entry handed out (or the one resumed from);
 * NULL before any. */
const char *journalfollow_cursor(const JournalFollow *j);

/* The next poll starts after the last entry handed out and returned
 * from (an entry whose callback never returned is handed out again). */
void journalfollow_rewind(JournalFollow *j);

/* Hands out at most max_entries new entries; TRUE when there may be more. */
gboolean journalfollow_poll(JournalFollow *j, guint max_entries, JournalEntryFn fn, gpointer data);

#endif
