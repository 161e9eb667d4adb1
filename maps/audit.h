/*
 * audit.h - the audit trail of list changes made with tlsmap.
 *
 * Every change (compile, -d, -i) leaves one record: who (uid, user name,
 * and SUDO_USER when set), what (action, file, counts, and for -d/-i the
 * keys).  Records go through GLib structured logging to the journal when
 * there is one, else to syslog (facility mail), and to stderr with -v.
 */
#ifndef TLSPOLICYD_AUDIT_H
#define TLSPOLICYD_AUDIT_H

#include "store.h"

void audit_init(gboolean echo_to_stderr);
/* keys: NULL, or the keys the change named (at most 20 are listed). */
void audit_record(const char *action, const char *file, const StoreDiff *counts,
                  const GPtrArray *keys);

#endif
