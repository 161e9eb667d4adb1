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

static gboolean is_hidden(gunichar ch)
{
    GUnicodeType type = g_unichar_type(ch);
    return type == G_UNICODE_CONTROL || type == G_UNICODE_FORMAT || type == G_UNICODE_LINE_SEPARATOR
           || type == G_UNICODE_PARAGRAPH_SEPARATOR;
}

char *log_escape(const char *s, char *out, size_t size)
{
    size_t o = 0;
    const char *p = s;

    if (size < 4)  /* no room for "..." */
        return size ? (*out = 0, out) : out;

    while (*p) {
        /* plain printable ASCII (nearly everything) goes in runs */
        const char *run = p;
        while ((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f && *p != '\\')
            p++;
        if (p > run) {
            size_t n = (size_t)(p - run), room = size - 4 - o;  /* o + 4 <= size holds */
            memcpy(out + o, run, MIN(n, room));
            if (n > room) {
                g_strlcpy(out + room + o, "...", size - o - room);
                return out;
            }
            o += n;
            continue;
        }
        char piece[16];
        size_t plen;
        gunichar ch = (unsigned char)*p < 0x80 ? (gunichar)(unsigned char)*p
                                                : g_utf8_get_char_validated(p, -1);
        if (ch < 0x20 || ch == 0x7f || ch == '\\' || ch == (gunichar)-1 || ch == (gunichar)-2) {
            plen = (size_t)g_snprintf(piece, sizeof piece, "\\x%02X", (unsigned char)*p);
            p++;
        } else if (is_hidden(ch)) {
            /* valid UTF-8 that a terminal acts on or hides: C1 controls,
             * bidi overrides and other format characters, line separators */
            plen = (size_t)g_snprintf(piece, sizeof piece, ch > 0xFFFF ? "\\U%08X" : "\\u%04X", ch);
            p = g_utf8_next_char(p);
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
