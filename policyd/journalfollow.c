/*
 * journalfollow.c - the smtp client's journal entries; see
 * journalfollow.h.  sd-journal does the reading, the matching and the
 * cursors; this keeps the position and bounds each poll.
 */
#include "journalfollow.h"

#include <errno.h>
#include <string.h>
#include <systemd/sd-journal.h>

#include "maillog.h"

struct JournalFollow {
    sd_journal *journal;
    char *cursor;           /* the last entry handed out */
    gboolean positioned;    /* seeked: to the cursor, or to the head */
};

JournalFollow *journalfollow_open(const char *directory, GError **error)
{
    sd_journal *journal = NULL;
    int r = directory ? sd_journal_open_directory(&journal, directory, 0)
                      : sd_journal_open(&journal, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
    if (r >= 0)
        r = sd_journal_add_match(journal, "_COMM=smtp", 0);
    if (r < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-r), "the journal%s%s: %s",
                    directory ? " in " : "", directory ? directory : "", g_strerror(-r));
        if (journal)
            sd_journal_close(journal);
        return NULL;
    }
    sd_journal_get_fd(journal);  /* inotify: journal files added later are seen at sd_journal_process() */
    /* An account without the journal's group sees no system journal at
     * all, and no error: say so, or the evidence would be silently empty. */
    if (!directory && sd_journal_has_persistent_files(journal) <= 0 && sd_journal_has_runtime_files(journal) <= 0)
        g_warning("maillog journal: no system journal file is readable by this account (the group "
                  "systemd-journal or adm reads it): no outbound evidence until it is");
    JournalFollow *j = g_new0(JournalFollow, 1);
    j->journal = journal;
    return j;
}

void journalfollow_free(JournalFollow *j)
{
    if (!j)
        return;
    sd_journal_close(j->journal);
    g_free(j->cursor);
    g_free(j);
}

void journalfollow_resume(JournalFollow *j, const char *cursor)
{
    g_free(j->cursor);
    j->cursor = cursor && *cursor ? g_strdup(cursor) : NULL;
    j->positioned = FALSE;
}

const char *journalfollow_cursor(const JournalFollow *j)
{
    return j->cursor;
}

/* At the saved cursor (the next entry is the first unread), else at the
 * head.  A cursor of entries since rotated away: sd-journal seeks to the
 * nearest entry, which is then read (none lost, none older counted twice:
 * they are gone). */
static void position(JournalFollow *j)
{
    j->positioned = TRUE;
    if (!j->cursor || sd_journal_seek_cursor(j->journal, j->cursor) < 0) {
        sd_journal_seek_head(j->journal);
        return;
    }
    if (sd_journal_next(j->journal) > 0 && sd_journal_test_cursor(j->journal, j->cursor) <= 0)
        sd_journal_previous(j->journal);  /* not the saved entry itself: read this one */
}

/* A field's value ("NAME=value"), or NULL. */
static const char *field(sd_journal *journal, const char *name, size_t *len)
{
    const void *data;
    size_t size, n = strlen(name);
    if (sd_journal_get_data(journal, name, &data, &size) < 0 || size <= n)
        return NULL;
    *len = size - n - 1;
    return (const char *)data + n + 1;
}

/* One entry's fields to fn; TRUE to go on.  An entry without them, or
 * with oversized ones, is skipped. */
static gboolean hand_out(const char *ident, size_t ilen, const char *pid, size_t plen, const char *message,
                         size_t mlen, guint64 usec, JournalEntryFn fn, gpointer data)
{
    if (!ident || !pid || !message || ilen >= 256 || plen >= 16 || mlen > MAILLOG_LINE_MAX)
        return TRUE;
    char identifier[256], pid_text[16];
    memcpy(identifier, ident, ilen);
    identifier[ilen] = '\0';
    memcpy(pid_text, pid, plen);
    pid_text[plen] = '\0';
    guint64 p;
    if (!g_ascii_string_to_unsigned(pid_text, 10, 1, G_MAXUINT, &p, NULL))
        return TRUE;
    return fn(identifier, (guint)p, message, mlen, (gint64)(usec / G_USEC_PER_SEC), data);
}

void journalfollow_rewind(JournalFollow *j)
{
    j->positioned = FALSE;
}

gboolean journalfollow_poll(JournalFollow *j, guint max_entries, JournalEntryFn fn, gpointer data)
{
    sd_journal_process(j->journal);
    if (!j->positioned)
        position(j);
    for (guint n = 0; n < max_entries; n++) {
        int r = sd_journal_next(j->journal);
        if (r <= 0)
            return FALSE;
        size_t ilen = 0, plen = 0, mlen = 0;
        const char *ident = field(j->journal, "SYSLOG_IDENTIFIER", &ilen);
        const char *pid = field(j->journal, "_PID", &plen);
        const char *message = field(j->journal, "MESSAGE", &mlen);
        guint64 usec = 0;
        sd_journal_get_realtime_usec(j->journal, &usec);
        char *cursor = NULL;
        if (sd_journal_get_cursor(j->journal, &cursor) < 0)
            cursor = NULL;
        gboolean go_on = hand_out(ident, ilen, pid, plen, message, mlen, usec, fn, data);
        /* counted: the entry is behind us (a fault in fn never gets here) */
        if (cursor) {
            g_free(j->cursor);
            j->cursor = g_strdup(cursor);
            free(cursor);
        }
        if (!go_on)
            return TRUE;
    }
    return TRUE;
}
