/*
 * request.c - policy request framing and parsing; see request.h.
 */
#include "request.h"

#include <string.h>

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

/* Remember where a wanted attribute's value is; it is NUL-terminated
 * only once the whole request is there (until then the buffer must stay
 * as it was, since more bytes will be appended and it is scanned again). */
static void store_attribute(PolicyRequest *req, char **ends, const char *name, size_t name_len, const char *value,
                            char *value_end)
{
    if (name_len >= MAX_NAME_LEN)
        return;
    for (const Attribute **a = by_length[name_len]; *a; a++) {
        if ((*a)->name[0] == name[0] && memcmp((*a)->name, name, name_len) == 0) {
            *(const char **)((char *)req + (*a)->offset) = value;
            ends[*a - attributes] = value_end;
            return;
        }
    }
}

FrameStatus request_next(char *buf, size_t len, const RequestLimits *limits, PolicyRequest *req, size_t *length,
                         const char **why)
{
    static gsize indexed;
    if (g_once_init_enter(&indexed)) {
        index_attributes();
        g_once_init_leave(&indexed, 1);
    }
    char *ends[G_N_ELEMENTS(attributes)] = {NULL};
    for (size_t i = 0; i < G_N_ELEMENTS(attributes); i++)
        *(const char **)((char *)req + attributes[i].offset) = "";

    /* One pass over the lines: the newline, then the first '=' before it. */
    char *p = buf, *end = buf + len;
    guint lines = 0;
    for (;;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            /* incomplete: bound what may be buffered and the line in progress */
            if (len > limits->max_request)
                return *why = "request too long", FRAME_ERROR;
            if ((size_t)(end - p) > limits->max_line)
                return *why = "line too long", FRAME_ERROR;
            return FRAME_INCOMPLETE;
        }
        if ((size_t)(nl - p) > limits->max_line)
            return *why = "line too long", FRAME_ERROR;
        char *line_end = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
        if (line_end == p)
            break;  /* the empty line: the request is complete */
        if (++lines > limits->max_attributes)
            return *why = "too many attributes", FRAME_ERROR;
        char *eq = p;  /* names are short: a plain loop beats a memchr() call */
        while (eq < line_end && *eq != '=')
            eq++;
        if (eq == line_end || eq == p)
            return *why = "line without name=value", FRAME_ERROR;
        store_attribute(req, ends, p, (size_t)(eq - p), eq + 1, line_end);
        p = nl + 1;
    }

    *length = (size_t)(p - buf) + (p[0] == '\r' ? 2 : 1);
    if (*length > limits->max_request)
        return *why = "request too long", FRAME_ERROR;
    if (memchr(buf, 0, *length))
        return *why = "NUL byte in request", FRAME_ERROR;
    for (size_t i = 0; i < G_N_ELEMENTS(attributes); i++) {
        if (ends[i])
            *ends[i] = 0;
    }
    if (strcmp(req->request, "smtpd_access_policy") != 0)
        return *why = *req->request ? "request is not smtpd_access_policy" : "request= missing", FRAME_ERROR;
    return FRAME_COMPLETE;
}
