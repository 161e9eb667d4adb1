/*
 * notify.h - the systemd notification protocol (sd_notify), by hand: a
 * datagram of "NAME=value" lines to the unix socket in $NOTIFY_SOCKET
 * (a leading '@' means the abstract namespace).  Does nothing when the
 * variable is unset, so the daemon runs the same outside systemd.
 */
#ifndef TLSPOLICYD_NOTIFY_H
#define TLSPOLICYD_NOTIFY_H

void notify_ready(void);
void notify_reloading(void);  /* RELOADING=1 with MONOTONIC_USEC */
void notify_stopping(void);
void notify_status(const char *status);  /* STATUS=..., one line */

#endif
