/* fuzz_maillog.c - libFuzzer harness for Postfix's delivery log lines
 * (policyd/maillog.c) and their join into deliveries (delivery.c): any
 * bytes, split into lines, parse into bounded, NUL-terminated fields or
 * are refused, and every delivery the join makes carries a known trust
 * and result; a session table never grows past its bound. */
#include <stdint.h>
#include <string.h>

#include "delivery.h"
#include "maillog.h"

#define FIELD_OK(f) (memchr((f), '\0', sizeof(f)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    DeliveryTracker *t = delivery_tracker_new(4);
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p);
        char *line = g_malloc(len ? len : 1);  /* exactly len bytes: ASan sees a read past it */
        memcpy(line, p, len);
        MaillogLine l;
        if (maillog_parse(line, len, 1796306400, &l)) {
            if (!FIELD_OK(l.service) || !FIELD_OK(l.queue_id) || !FIELD_OK(l.recipient) || !FIELD_OK(l.relay)
                || !FIELD_OK(l.dsn) || !FIELD_OK(l.status) || !FIELD_OK(l.why) || !FIELD_OK(l.peer)
                || !FIELD_OK(l.trust) || !FIELD_OK(l.protocol) || !FIELD_OK(l.cipher) || !FIELD_OK(l.reason))
                __builtin_trap();
            Delivery d;
            if (delivery_feed(t, &l, &d) && (d.trust >= TRUST_COUNT || d.result >= RESULT_COUNT
                                              || !FIELD_OK(d.detail) || !FIELD_OK(d.recipient)))
                __builtin_trap();
            if (delivery_sessions(t) > 4)
                __builtin_trap();
        }
        g_free(line);
        p += len + 1;
    }
    delivery_tracker_free(t);
    return 0;
}
