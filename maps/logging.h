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

/* For an event loop (the daemon): lines for stderr are held in a buffer
 * until logging_flush(), which the loop calls after each batch of events,
 * before it waits again (a 64 KiB buffer fills and goes out sooner).
 * bench/policyd.sh and cpu.sh (every reject logged, 10% of requests;
 * 2026-11-25): a write per line cost 3.32-3.38 us of CPU per request
 * against nullpolicyd's 2.96-3.04 and 0.87-0.92x its requests/s at 10
 * and 100 connections; a write per batch 3.12-3.22 us and 0.90-0.96x,
 * as much as the 40 lines of 100 ms batching it replaced (0.92-0.96x). */
void logging_hold_stderr(void);

/* Log to path from now on (appended; created mode 0640, owned by
 * owner:group unless owner is (uid_t)-1). */
gboolean logging_open_file(const char *path, uid_t owner, gid_t group, GError **error);
/* Open the log file's path again (after a rotation renamed it); the old
 * file keeps what was written before.  TRUE when there is no log file. */
gboolean logging_reopen(GError **error);
/* Where lines go, for the startup line: "the journal", "log_file PATH"... */
const char *logging_where(void);
void logging_flush(void);
void logging_set_verbose(gboolean verbose);
gboolean logging_is_verbose(void);

/* Longest value (after escaping) a log line quotes from a request. */
#define LOG_VALUE_MAX 256

#endif
