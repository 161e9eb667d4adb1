/*
 * request.c - policy request framing and parsing; see request.h.
 */
#include "request.h"

#include <string.h>

FrameStatus request_frame(const char *buf, size_t len, const RequestLimits *limits,
                          size_t *scanned, size_t *length, const char **why)
{
    size_t pos = *scanned;
    guint lines = 0;

    /* Count the complete lines already scanned (cheap: requests are small). */
    for (size_t i = 0; i < pos; i++)
        lines += buf[i] == '\n';

    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        if (memchr(buf + pos, 0, end - pos))
            return *why = "NUL byte in request", FRAME_ERROR;
        if (end - pos > limits->max_line)
            return *why = "line too long", FRAME_ERROR;
        if (!nl)
            break;
        gboolean empty = end == pos || (end == pos + 1 && buf[pos] == '\r');
        pos = end + 1;
        if (empty) {
            *length = pos;
            *scanned = pos;
            return FRAME_COMPLETE;
        }
        if (++lines > limits->max_attributes)
            return *why = "too many attributes", FRAME_ERROR;
        if (pos > limits->max_request)
            return *why = "request too long", FRAME_ERROR;
    }
    if (len > limits->max_request)
        return *why = "request too long", FRAME_ERROR;
    *scanned = pos;
    return FRAME_INCOMPLETE;
}

typedef struct {
    const char *name;
    size_t len;
    size_t offset;
} Attribute;

#define ATTR(field) {#field, sizeof #field - 1, offsetof(PolicyRequest, field)}
static const Attribute attributes[] = {
    ATTR(request),        ATTR(protocol_state),      ATTR(sender),
    ATTR(recipient),      ATTR(client_address),      ATTR(client_name),
    ATTR(queue_id),       ATTR(instance),            ATTR(sasl_username),
    ATTR(policy_context), ATTR(encryption_protocol), ATTR(encryption_cipher),
    ATTR(ccert_subject),  ATTR(ccert_fingerprint),
};

static void store_attribute(PolicyRequest *req, const char *name, size_t name_len,
                            const char *value)
{
    /* ~30 lines a request, 14 names: compare lengths before bytes. */
    for (size_t i = 0; i < G_N_ELEMENTS(attributes); i++) {
        if (attributes[i].len == name_len && memcmp(attributes[i].name, name, name_len) == 0) {
            *(const char **)((char *)req + attributes[i].offset) = value;
            return;
        }
    }
}

gboolean request_parse(char *buf, size_t length, PolicyRequest *req, const char **why)
{
    for (size_t i = 0; i < G_N_ELEMENTS(attributes); i++)
        *(const char **)((char *)req + attributes[i].offset) = "";

    /* One pass: the name up to '=', then the value up to the newline. */
    char *p = buf, *end = buf + length;
    while (p < end) {
        char *name = p;
        while (p < end && *p != '=' && *p != '\n')
            p++;
        if (p == end)
            break;
        if (*p == '\n') {
            if (p == name || (p == name + 1 && *name == '\r')) {
                p++;
                continue;
            }
            return *why = "line without name=value", FALSE;
        }
        if (p == name)
            return *why = "line without name=value", FALSE;
        size_t name_len = (size_t)(p - name);
        char *value = ++p;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        *nl = 0;
        if (nl > value && nl[-1] == '\r')
            nl[-1] = 0;
        store_attribute(req, name, name_len, value);
        p = nl + 1;
    }
    if (strcmp(req->request, "smtpd_access_policy") != 0)
        return *why = *req->request ? "request is not smtpd_access_policy" : "request= missing", FALSE;
    return TRUE;
}
