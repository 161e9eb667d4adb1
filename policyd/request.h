/*
 * request.h - Postfix policy protocol requests (SMTPD_POLICY_README):
 * framing and parsing, no I/O.
 *
 * A request is "name=value" lines ended by an empty line.  The server
 * loop appends what it reads to a buffer and calls request_frame() to
 * learn whether a whole request is there (or the partial one already
 * breaks the size or line limit); request_parse() then checks the rest
 * of the limits and splits it in place.  Values point into the
 * buffer.  Names are split on the first '=' (SRS senders hold '=');
 * unknown names are ignored; a trailing CR is dropped; a repeated name
 * keeps its last value.
 */
#ifndef TLSPOLICYD_REQUEST_H
#define TLSPOLICYD_REQUEST_H

#include <glib.h>
#include <stddef.h>

typedef struct {
    size_t max_line;        /* bytes in one name=value line */
    size_t max_request;     /* bytes in one request */
    guint max_attributes;   /* lines in one request */
} RequestLimits;

typedef enum {
    FRAME_INCOMPLETE,  /* need more bytes */
    FRAME_COMPLETE,    /* *length bytes hold one request, empty line included */
    FRAME_ERROR,       /* a limit was broken or a NUL byte seen; *why says which */
} FrameStatus;

/* Look for the end of the request at the start of buf; *scanned carries
 * the progress between calls (start it at 0 for every new request). */
FrameStatus request_frame(const char *buf, size_t len, const RequestLimits *limits,
                          size_t *scanned, size_t *length, const char **why);

typedef struct {
    const char *request;
    const char *protocol_state;
    const char *sender;
    const char *recipient;
    const char *client_address;
    const char *client_name;
    const char *queue_id;
    const char *instance;
    const char *sasl_username;
    const char *policy_context;
    const char *encryption_protocol;
    const char *encryption_cipher;
    const char *ccert_subject;
    const char *ccert_fingerprint;
} PolicyRequest;

/* Parse a framed request (modified in place).  Missing attributes are "".
 * FALSE with *why when it is not a valid smtpd_access_policy request or
 * breaks a limit (NUL byte, line length, attribute count). */
gboolean request_parse(char *buf, size_t length, const RequestLimits *limits, PolicyRequest *req,
                       const char **why);

#endif
