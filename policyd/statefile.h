/*
 * statefile.h - the daemon's state files (state_file: the compliance
 * ledger; mta_sts_state_file: the MTA-STS policies), GKeyFile text.
 *
 *   - Read without ever blocking: something that is not a regular file
 *     (a FIFO, a device) is refused at once, as is one over
 *     STATEFILE_MAX; a damaged file's error names the file and what is
 *     wrong, never a line of it (its bytes are not the log's business).
 *   - Locked: the daemon holds FILE.lock (flock) while it runs, so a
 *     second daemon given the same file refuses to start instead of the
 *     two overwriting each other's saves.
 *   - Written off the event loop: statewriter_submit() hands the text to a
 *     worker thread, which writes a temporary file, fsyncs it and renames
 *     it into place (g_file_set_contents_full); an fsync on a busy disk
 *     never holds up an answer.  One save in flight at a time.
 */
#ifndef TLSPOLICYD_STATEFILE_H
#define TLSPOLICYD_STATEFILE_H

#include <glib.h>

#define STATEFILE_MAX (64 << 20)

/* The file's contents parsed; NULL with an error (G_FILE_ERROR_NOENT
 * when it does not exist). */
GKeyFile *statefile_read(const char *path, GError **error);

/* Lock PATH.lock for the life of the process: the descriptor to keep
 * open, or -1 with an error saying who holds it. */
int statefile_lock(const char *path, GError **error);

/* Written at once, in this thread (tests, and the last save at exit). */
gboolean statefile_write(const char *path, GKeyFile *kf, GError **error);

typedef struct StateWriter StateWriter;
StateWriter *statewriter_new(void);
/* Waits for the save in flight. */
void statewriter_free(StateWriter *w);
/* FALSE while a save is in flight: try again later. */
gboolean statewriter_idle(StateWriter *w);
/* Hand up to two files (a NULL path or key file: none) to the worker;
 * the key files are turned into text here, so the caller may free them
 * at once. */
void statewriter_submit(StateWriter *w, const char *path1, GKeyFile *kf1, const char *path2, GKeyFile *kf2);
/* The error of a finished save, if any (to log); NULL when none. */
char *statewriter_take_error(StateWriter *w);

#endif
