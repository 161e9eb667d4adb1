/*
 * netstring.h - netstrings ("5:hello,") for Postfix's socketmap protocol
 * (socketmap_table(5)): framing, no I/O.  A request is one netstring
 * holding "NAME KEY"; a reply is one netstring holding "OK value",
 * "NOTFOUND ", "TEMP reason" or "PERM reason".
 */
#ifndef TLSPOLICYD_NETSTRING_H
#define TLSPOLICYD_NETSTRING_H

#include <glib.h>
#include <stddef.h>

typedef enum { NETSTRING_INCOMPLETE, NETSTRING_COMPLETE, NETSTRING_ERROR } NetstringStatus;

/* Look for one netstring at the start of buf.  COMPLETE: the payload is
 * buf[*payload_start .. + *payload_len), the whole netstring *total bytes.
 * ERROR (with *why): not a netstring, or longer than max bytes. */
NetstringStatus netstring_frame(const char *buf, size_t len, size_t max, size_t *payload_start,
                                size_t *payload_len, size_t *total, const char **why);

/* Append "LEN:text," to out. */
void netstring_append(GString *out, const char *text);

#endif
