/*
 * log.c - logging setup and escaping; see log.h.
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static gboolean verbose_logging;
static gboolean to_journal;
static gboolean batching;
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
            if (!batching)
                fflush(stderr);
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

char *log_escape(const char *s, char *out, size_t size)
{
    size_t o = 0;
    const char *p = s;

    while (*p) {
        char piece[8];
        size_t plen;
        gunichar ch = (unsigned char)*p < 0x80 ? (gunichar)(unsigned char)*p
                                                : g_utf8_get_char_validated(p, -1);
        if (ch < 0x20 || ch == 0x7f || ch == '\\' || ch == (gunichar)-1 || ch == (gunichar)-2) {
            plen = (size_t)g_snprintf(piece, sizeof piece, "\\x%02X", (unsigned char)*p);
            p++;
        } else {
            plen = (size_t)(g_utf8_next_char(p) - p);
            memcpy(piece, p, plen);
            p += plen;
        }
        if (o + plen + 4 > size) {
            g_strlcpy(out + o, "...", size - o);
            return out;
        }
        memcpy(out + o, piece, plen);
        o += plen;
    }
    out[o] = 0;
    return out;
}

void log_batch_begin(void)
{
    batching = TRUE;
}

void log_batch_end(void)
{
    batching = FALSE;
    fflush(stderr);
}
