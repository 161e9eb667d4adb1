/* fuzz_request.c - libFuzzer harness for the policy request parser: the
 * input is a byte stream from a peer, framed and parsed request after
 * request exactly as the server loop does, in random-sized reads. */
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
            FrameStatus st = request_next(buf, len, &limits, &req, &length, &why);
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
