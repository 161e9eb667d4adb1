/* fuzz_request.c - libFuzzer harness for the policy request parser: the
 * input is a byte stream from a peer, framed and parsed request after
 * request exactly as the server loop does, in random-sized reads, by
 * request_next() and by request_next_portable(), which must agree. */
#include <stdint.h>
#include <string.h>

#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const RequestLimits limits = {.max_line = 512, .max_request = 4096, .max_attributes = 50};
    char *buf = g_malloc(size + 1);
    size_t len = 0, fed = 0;

    while (fed < size) {
        /* the first byte of each step sets the read size */
        size_t step = 1 + data[fed] % 97;
        step = step > size - fed ? size - fed : step;
        memcpy(buf + len, data + fed, step);
        len += step;
        fed += step;
        for (;;) {
            size_t length;
            const char *why;
            PolicyRequest req;
            /* the portable parser must agree on everything, on a copy */
            char *copy = g_malloc(len + 1);
            memcpy(copy, buf, len);
            size_t length2 = 0;
            const char *why2 = NULL;
            PolicyRequest req2;
            FrameStatus st2 = request_next_portable(copy, len, &limits, &req2, &length2, &why2);
            FrameStatus st = request_next(buf, len, &limits, &req, &length, &why);
            if (st != st2 || (st == FRAME_COMPLETE && (length != length2 || memcmp(buf, copy, len) != 0))
                || (st == FRAME_ERROR && strcmp(why, why2) != 0))
                __builtin_trap();
            for (size_t f = 0; st == FRAME_COMPLETE && f < sizeof req / sizeof(char *); f++) {
                const char *a = ((const char **)(void *)&req)[f], *b = ((const char **)(void *)&req2)[f];
                if (strcmp(a, b) != 0 || (*a && a - buf != b - copy))
                    __builtin_trap();
            }
            g_free(copy);
            if (st == FRAME_ERROR)
                goto out;
            if (st == FRAME_INCOMPLETE)
                break;
            /* every attribute is a valid C string inside the request */
            const char *fields[] = {req.request, req.sender, req.recipient, req.instance,
                                    req.encryption_protocol, req.ccert_subject};
            for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
                size_t n = strlen(fields[i]);
                if (*fields[i] && (fields[i] < buf || fields[i] + n >= buf + length))
                    __builtin_trap();
            }
            memmove(buf, buf + length, len - length);
            len -= length;
        }
    }
out:
    g_free(buf);
    return 0;
}
