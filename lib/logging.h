/*
 * logging.h - the one logging path of tlspolicyd and tlsmap.
 *
 * Messages go through GLib structured logging (g_message, g_warning,
 * g_log_structured with fields of one's own) to one target, chosen once:
 *
 *   1. the journal, when stderr is connected to it (a systemd service);
 *   2. stderr, for a program in the foreground that asks for it (the
 *      daemon started by hand or by a test), line-buffered;
 *   3. the journal, when it runs at all;
 *   4. syslog, facility mail, when /dev/log exists;
 *   5. stderr.
 *
 * A log file (tlspolicyd's log_file, as Postfix's maillog_file) replaces
 * that choice: lines in syslog's format, reopened on request (a rotation
 * renames the file, then SIGUSR2).
 *
 * On stderr and in syslog a message reads "IDENT[PID]: warning: text";
 * debug messages are dropped unless verbose.  Values from the network or
 * a file go through text_escape() (escape.h) before they reach a message.
 */
#ifndef TLSPOLICYD_LOGGING_H
#define TLSPOLICYD_LOGGING_H

#include <glib.h>
#include <sys/types.h>

/* ident names the program (SYSLOG_IDENTIFIER, the stderr prefix);
 * foreground: prefer stderr unless it is the journal (step 2); echo:
 * also copy every message to stderr when the target is not stderr
 * (tlsmap -v). */
void logging_init(const char *ident, gboolean foreground, gboolean echo);

/* For an event loop (the daemon): from logging_hold() on, a message is
 * queued (bounded: past 1 MiB a line is dropped and counted) and a writer
 * thread writes it; logging_flush(), which the loop calls after each
 * batch of events, wakes that thread.  No log target can stall the loop.
 * bench/logcost.sh measures it (bench/README.md).  logging_drain() waits
 * at most timeout_ms for the queue to be written (at exit); FALSE when
 * the target did not take it in time. */
void logging_hold(void);
void logging_flush(void);
gboolean logging_drain(guint timeout_ms);
/* Lines dropped because the queue was full, since the start. */
guint64 logging_dropped_total(void);

/* Log to path from now on (appended; created mode 0640, owned by
 * owner:group unless owner is (uid_t)-1). */
gboolean logging_open_file(const char *path, uid_t owner, gid_t group, GError **error);
/* Open the log file's path again (after a rotation renamed it); the old
 * file keeps what was written before.  TRUE when there is no log file. */
gboolean logging_reopen(GError **error);
/* Where lines go, for the startup line: "the journal", "log_file PATH"... */
const char *logging_where(void);
void logging_set_verbose(gboolean verbose);
gboolean logging_is_verbose(void);

/* Longest value (after escaping) a log line quotes from a request. */
#define LOG_VALUE_MAX 256

#endif
