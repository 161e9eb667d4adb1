/*
 * log.h - tlspolicyd logging: GLib structured logging to the journal
 * when stderr is connected to it (systemd), else one line per message on
 * stderr.  Values from the network go through text_escape() (maps/escape.h) first: no
 * control characters, no invalid UTF-8, bounded length.
 */
#ifndef TLSPOLICYD_LOG_H
#define TLSPOLICYD_LOG_H

#include <glib.h>

#include "escape.h"

void log_init(gboolean verbose);
void log_set_verbose(gboolean verbose);
gboolean log_is_verbose(void);

/* Between begin and end, stderr lines are only buffered (the server
 * brackets each batch of events).  end() writes them out if the last write
 * was LOG_FLUSH_MS or more ago; the server calls log_flush() when it has
 * nothing else to do.  So a busy server writes its log ten times a second,
 * not once a batch, and an idle one at once.  Outside a batch every line
 * is written at once. */
#define LOG_FLUSH_MS 100
void log_batch_begin(void);
void log_batch_end(gint64 now_ms);
gboolean log_pending(void);
void log_flush(void);

/* Escape s into out (size bytes): \xNN for control bytes, backslash and
 * invalid UTF-8; "..." when cut.  Returns out. */

#define LOG_VALUE_MAX 256

#endif
