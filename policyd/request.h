/*
 * request.h - Postfix policy protocol requests (SMTPD_POLICY_README):
 * framing and parsing, no I/O.
 *
 * A request is "name=value" lines ended by an empty line.  The server
 * loop appends what it reads to a buffer and calls request_next(), which
 * frames and parses in one pass: a whole request, not yet, or a broken
 * limit (then the connection closes without a reply).  Values point into the
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
    FRAME_INCOMPLETE,  /* need more bytes; the buffer is unchanged */
    FRAME_COMPLETE,    /* a request of *length bytes (empty line included) */
    FRAME_ERROR,       /* a limit was broken, a NUL byte or a bad line; *why says which */
} FrameStatus;

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

/* Parse the request at the start of buf, in one pass.  COMPLETE: req's
 * values point into buf (now NUL-terminated there, so buf is modified),
 * missing attributes are "".  INCOMPLETE leaves buf as it was; call again
 * when more bytes have arrived. */
FrameStatus request_next(char *buf, size_t len, const RequestLimits *limits, PolicyRequest *req, size_t *length,
                         const char **why);

/* The same a line at a time with memchr(): what request_next() is where
 * SSE2 is missing, and the reference the fuzz harness holds it to. */
FrameStatus request_next_portable(char *buf, size_t len, const RequestLimits *limits, PolicyRequest *req,
                                  size_t *length, const char **why);

#endif
