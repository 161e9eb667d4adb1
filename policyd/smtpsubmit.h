/*
 * smtpsubmit.h - one message handed to the local Postfix's smtpd over a
 * unix-domain socket (SMTP, RFC 5321): the greeting, EHLO, MAIL FROM,
 * one RCPT TO, DATA (dot-stuffed), QUIT.
 *
 * One deadline covers the whole conversation, connect included, so an
 * smtpd that is stuck, or that drips its replies, holds the caller no
 * longer than timeout_ms.  The message is queued when smtpd answers the
 * final dot with 2xx; anything else is an error carrying the command and
 * smtpd's reply (escaped for the log).  Blocking: call it off the event
 * loop.
 */
#ifndef TLSPOLICYD_SMTPSUBMIT_H
#define TLSPOLICYD_SMTPSUBMIT_H

#include <glib.h>

GQuark smtp_submit_error_quark(void);
#define SMTP_SUBMIT_ERROR smtp_submit_error_quark()
typedef enum {
    SMTP_SUBMIT_ERROR_CONNECT,  /* no smtpd on the socket */
    SMTP_SUBMIT_ERROR_IO,       /* the conversation broke or timed out */
    SMTP_SUBMIT_ERROR_REFUSED,  /* smtpd refused a command */
} SmtpSubmitErrorCode;

#define SMTP_REPLY_MAX 4096     /* a longer reply is an error */

typedef struct {
    const char *socket_path;
    const char *helo;           /* our name, for EHLO */
    const char *sender;         /* MAIL FROM, an address without <> */
    const char *recipient;      /* RCPT TO */
    guint timeout_ms;
} SmtpSubmit;

/* message: the whole RFC 5322 text, lines ending in CRLF.  TRUE when
 * queued; *queued_as (if not NULL) the queue id smtpd named, or "". */
gboolean smtp_submit(const SmtpSubmit *s, const char *message, char **queued_as, GError **error);

#endif
