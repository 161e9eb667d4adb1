/* fuzz_http.c - libFuzzer harness for the metrics endpoint's HTTP request
 * framing (policyd/http.c): any bytes frame as incomplete, complete (with a
 * method and an absolute path, NUL-terminated and bounded) or an error with
 * a 4XX status; never a read past the buffer. */
#include <stdint.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes: ASan sees any read past it */
    char *buf = g_malloc(size ? size : 1);
    memcpy(buf, data, size);
    HttpRequest req;
    int status = 0;
    HttpFrame st = http_request(buf, size, &req, &status);
    if (st == HTTP_COMPLETE
        && (req.path[0] != '/' || strlen(req.path) >= sizeof req.path || strlen(req.method) >= sizeof req.method
            || strchr(req.path, ' ') || strchr(req.path, '?')))
        __builtin_trap();
    if (st == HTTP_ERROR && (status < 400 || status > 499))
        __builtin_trap();
    if (st == HTTP_INCOMPLETE && size >= HTTP_MAX_REQUEST)
        __builtin_trap();
    g_free(buf);
    return 0;
}
