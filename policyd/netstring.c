/*
 * netstring.c - netstring framing; see netstring.h.
 */
#include "netstring.h"

#include <string.h>

NetstringStatus netstring_frame(const char *buf, size_t len, size_t max, size_t *payload_start,
                                size_t *payload_len, size_t *total, const char **why)
{
    size_t n = 0, i = 0;

    for (; i < len && g_ascii_isdigit(buf[i]); i++) {
        if (i >= 9)
            return *why = "netstring length too long", NETSTRING_ERROR;
        n = n * 10 + (size_t)(buf[i] - '0');
    }
    if (i == len)
        return NETSTRING_INCOMPLETE;
    if (i == 0 || buf[i] != ':')
        return *why = "not a netstring (expected LENGTH:)", NETSTRING_ERROR;
    if (i > 1 && buf[0] == '0')
        return *why = "netstring length with a leading zero", NETSTRING_ERROR;
    if (n > max)
        return *why = "netstring over the size limit", NETSTRING_ERROR;
    if (len < i + 1 + n + 1)
        return NETSTRING_INCOMPLETE;
    if (buf[i + 1 + n] != ',')
        return *why = "netstring not terminated by ','", NETSTRING_ERROR;
    *payload_start = i + 1;
    *payload_len = n;
    *total = i + 1 + n + 1;
    return NETSTRING_COMPLETE;
}

void netstring_append(GString *out, const char *text)
{
    g_string_append_printf(out, "%zu:%s,", strlen(text), text);
}
