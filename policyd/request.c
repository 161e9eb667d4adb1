/*
 * request.c - policy request framing and parsing; see request.h.
 */
#include "request.h"

#include <string.h>

/* Where the request ends: the empty line.  Postfix ends lines with LF;
 * CRLF (a person typing) is accepted too. */
static const char *find_end(const char *buf, size_t from, size_t len)
{
    if (len > 0 && buf[0] == '\n')
        return buf;
    if (len > 1 && buf[0] == '\r' && buf[1] == '\n')
        return buf + 1;
    const char *p = buf + (from > 2 ? from - 2 : 0), *limit = buf + len;
    while ((p = memchr(p, '\n', (size_t)(limit - p))) && p + 1 < limit) {
        if (p[1] == '\n')
            return p + 1;
        if (p[1] == '\r' && p + 2 < limit && p[2] == '\n')
            return p + 2;
        p++;
    }
    return NULL;
}

FrameStatus request_frame(const char *buf, size_t len, const RequestLimits *limits,
                          size_t *scanned, size_t *length, const char **why)
{
    const char *end = find_end(buf, *scanned, len);
    if (end) {
        *length = (size_t)(end - buf) + 1;
        *scanned = *length;
        if (*length > limits->max_request)
            return *why = "request too long", FRAME_ERROR;
        return FRAME_COMPLETE;
    }
    /* Incomplete: bound what may be buffered, and the line in progress
     * (the complete lines are checked when the request is parsed). */
    *scanned = len;
    if (len > limits->max_request)
        return *why = "request too long", FRAME_ERROR;
    const char *last_nl = memrchr(buf, '\n', len);
    size_t partial = last_nl ? len - (size_t)(last_nl - buf) - 1 : len;
    if (partial > limits->max_line)
        return *why = "line too long", FRAME_ERROR;
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

/* Requests carry ~30 attributes of which we want 14: index them by name
 * length so most lines cost one table look-up. */
#define MAX_NAME_LEN 24
static const Attribute *by_length[MAX_NAME_LEN][3];

static void index_attributes(void)
{
    for (size_t i = 0; i < G_N_ELEMENTS(attributes); i++) {
        const Attribute **slot = by_length[attributes[i].len];
        while (*slot)
            slot++;
        *slot = &attributes[i];
    }
}

static void store_attribute(PolicyRequest *req, const char *name, size_t name_len, const char *value)
{
    if (name_len >= MAX_NAME_LEN)
        return;
    for (const Attribute **a = by_length[name_len]; *a; a++) {
        if ((*a)->name[0] == name[0] && memcmp((*a)->name, name, name_len) == 0) {
            *(const char **)((char *)req + (*a)->offset) = value;
            return;
        }
    }
}

gboolean request_parse(char *buf, size_t length, const RequestLimits *limits, PolicyRequest *req,
                       const char **why)
{
    static gsize indexed;
    if (g_once_init_enter(&indexed)) {
        index_attributes();
        g_once_init_leave(&indexed, 1);
    }
    if (memchr(buf, 0, length))
        return *why = "NUL byte in request", FALSE;
    guint lines = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(attributes); i++)
        *(const char **)((char *)req + attributes[i].offset) = "";

    /* One pass over the lines: find the newline, then the first '='. */
    char *p = buf, *end = buf + length;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        if (++lines > limits->max_attributes + 1)
            return *why = "too many attributes", FALSE;
        if ((size_t)(nl - p) > limits->max_line)
            return *why = "line too long", FALSE;
        char *line_end = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
        *line_end = 0;
        if (line_end == p) {
            p = nl + 1;
            continue;
        }
        char *eq = memchr(p, '=', (size_t)(line_end - p));
        if (!eq || eq == p)
            return *why = "line without name=value", FALSE;
        store_attribute(req, p, (size_t)(eq - p), eq + 1);
        p = nl + 1;
    }
    if (strcmp(req->request, "smtpd_access_policy") != 0)
        return *why = *req->request ? "request is not smtpd_access_policy" : "request= missing", FALSE;
    return TRUE;
}
