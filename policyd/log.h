/*
 * log.h - tlspolicyd logging: GLib structured logging to the journal
 * when stderr is connected to it (systemd), else one line per message on
 * stderr.  Values from the network go through log_escape() first: no
 * control characters, no invalid UTF-8, bounded length.
 */
#ifndef TLSPOLICYD_LOG_H
#define TLSPOLICYD_LOG_H

#include <glib.h>

void log_init(gboolean verbose);
void log_set_verbose(gboolean verbose);
gboolean log_is_verbose(void);

/* Between begin and end, stderr lines are written in one go at the end
 * (the server brackets each batch of events: one write, not one a line). */
void log_batch_begin(void);
void log_batch_end(void);

/* Escape s into out (size bytes): \xNN for control bytes, backslash and
 * invalid UTF-8; "..." when cut.  Returns out. */
char *log_escape(const char *s, char *out, size_t size);

#define LOG_VALUE_MAX 256

#endif
