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
 * On stderr and in syslog a message reads "IDENT[PID]: warning: text";
 * debug messages are dropped unless verbose.  Values from the network or
 * a file go through text_escape() (escape.h) before they reach a message.
 */
#ifndef TLSPOLICYD_LOGGING_H
#define TLSPOLICYD_LOGGING_H

#include <glib.h>

typedef enum { LOGGING_JOURNAL, LOGGING_STDERR, LOGGING_SYSLOG } LoggingTarget;

/* ident names the program (SYSLOG_IDENTIFIER, the stderr prefix);
 * foreground: prefer stderr unless it is the journal (step 2); echo:
 * also copy every message to stderr when the target is not stderr
 * (tlsmap -v). */
void logging_init(const char *ident, gboolean foreground, gboolean echo);
LoggingTarget logging_target(void);
void logging_set_verbose(gboolean verbose);
gboolean logging_is_verbose(void);

/* Longest value (after escaping) a log line quotes from a request. */
#define LOG_VALUE_MAX 256

#endif
