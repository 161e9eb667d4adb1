/*
 * log.c - logging setup and escaping; see log.h.
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static gboolean verbose_logging;
static gboolean to_journal;
static gboolean batching, pending;
static gint64 flushed_at;
static int pid;

static const char *level_word(GLogLevelFlags level)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
        return "error: ";
    if (level & G_LOG_LEVEL_WARNING)
        return "warning: ";
    if (level & G_LOG_LEVEL_DEBUG)
        return "debug: ";
    return "";
}

static GLogWriterOutput writer(GLogLevelFlags level, const GLogField *fields, gsize n, gpointer data)
{
    (void)data;
    if ((level & G_LOG_LEVEL_DEBUG) && !verbose_logging)
        return G_LOG_WRITER_HANDLED;
    if (to_journal && g_log_writer_journald(level, fields, n, NULL) == G_LOG_WRITER_HANDLED)
        return G_LOG_WRITER_HANDLED;
    for (gsize i = 0; i < n; i++) {
        if (strcmp(fields[i].key, "MESSAGE") == 0) {
            fprintf(stderr, "tlspolicyd[%d]: %s%s\n", pid, level_word(level),
                    (const char *)fields[i].value);
            pending = TRUE;
            if (!batching)
                log_flush();
        }
    }
    return G_LOG_WRITER_HANDLED;
}

void log_init(gboolean verbose)
{
    verbose_logging = verbose;
    pid = (int)getpid();
    to_journal = g_log_writer_is_journald(fileno(stderr));
    setvbuf(stderr, NULL, _IOFBF, 1 << 16);
    g_log_set_writer_func(writer, NULL, NULL);
}

void log_set_verbose(gboolean verbose)
{
    verbose_logging = verbose;
}

gboolean log_is_verbose(void)
{
    return verbose_logging;
}

void log_batch_begin(void)
{
    batching = TRUE;
}

void log_batch_end(gint64 now_ms)
{
    batching = FALSE;
    if (pending && now_ms - flushed_at >= LOG_FLUSH_MS)
        log_flush();
}

gboolean log_pending(void)
{
    return pending;
}

void log_flush(void)
{
    fflush(stderr);
    pending = FALSE;
    flushed_at = g_get_monotonic_time() / 1000;
}
