/* fuzz_netstring.c - libFuzzer harness for the socketmap parser: a byte
 * stream framed into netstrings as the server does, each payload answered
 * by decide_route() without a list (the TEMP path) and with the name check. */
#include <stdint.h>
#include <string.h>

#include "decide.h"
#include "netstring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static Config *config;
    if (!config)
        config = config_new_defaults();
    char *buf = g_malloc(size + 1);
    memcpy(buf, data, size);
    size_t offset = 0;
    for (;;) {
        size_t start, len, total;
        const char *why;
        NetstringStatus st = netstring_frame(buf + offset, size - offset, 512, &start, &len, &total, &why);
        if (st != NETSTRING_COMPLETE)
            break;
        if (offset + total > size || start + len + 1 != total)
            __builtin_trap();
        char *payload = buf + offset + start;
        payload[len] = 0;
        if (!memchr(payload, 0, len)) {
            RouteDecision d;
            decide_route(payload, NULL, config, NULL, NULL, &d);
            GString *out = g_string_new(NULL);
            netstring_append(out, d.reply);
            g_string_free(out, TRUE);
        }
        offset += total;
    }
    g_free(buf);
    return 0;
}
