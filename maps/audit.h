/*
 * audit.h - the audit trail of list changes made with tlsmap.
 *
 * Every change (compile, -d, -i) leaves one record: who (uid, user name,
 * and SUDO_USER when set), what (action, file, counts, and for -d/-i the
 * keys).  Records go through the one logging path (logging.h: the
 * journal, else syslog facility mail, else stderr; with -v a copy on
 * stderr), with TLSMAP_* fields of their own in the journal.
 */
#ifndef TLSPOLICYD_AUDIT_H
#define TLSPOLICYD_AUDIT_H

#include "store.h"

/* keys: NULL, or the keys the change named (at most 20 are listed). */
void audit_record(const char *action, const char *file, const StoreDiff *counts,
                  const GPtrArray *keys);

#endif
