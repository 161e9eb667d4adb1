/*
 * escape.c - text from the network or a file, made safe to show: in a
 * log line (tlspolicyd), an error message (tlsmap) or a terminal
 * (tlsprobe).  See escape.h.
 */
#include "escape.h"

#include <string.h>

static gboolean is_hidden(gunichar ch)
{
    GUnicodeType type = g_unichar_type(ch);
    return type == G_UNICODE_CONTROL || type == G_UNICODE_FORMAT || type == G_UNICODE_LINE_SEPARATOR
           || type == G_UNICODE_PARAGRAPH_SEPARATOR;
}

char *text_escape(const char *s, char *out, size_t size)
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

void json_append_string(GString *out, const char *s)
{
    g_autofree char *valid = g_utf8_make_valid(s ? s : "", -1);
    g_string_append_c(out, '"');
    for (const char *p = valid; *p; p = g_utf8_next_char(p)) {
        gunichar ch = g_utf8_get_char(p);
        if (ch == '"' || ch == '\\')
            g_string_append_printf(out, "\\%c", (char)ch);
        else if (ch < 0x20 || (ch >= 0x7f && ch <= 0x9f))
            g_string_append_printf(out, "\\u%04x", ch);
        else
            g_string_append_len(out, p, g_utf8_next_char(p) - p);
    }
    g_string_append_c(out, '"');
}
