/*
 * mx.h - where mail for a domain goes, as Postfix's smtp client sees it:
 * MX records by preference (random order within one preference), the
 * domain's own address when there is no MX, nothing for a null MX
 * (RFC 7505: one MX "." of preference 0).  The records come from
 * libunbound (probe/published.c, with their DNSSEC status); the ordering
 * is a pure function so tests can feed it records.
 */
#ifndef TLSPOLICYD_MX_H
#define TLSPOLICYD_MX_H

#include <glib.h>

#include "dns.h"

typedef DnsMx MxRecord;

typedef enum { MX_FOUND, MX_NULL } MxStatus;

/* Order records in place: by preference, shuffled within a preference by
 * rand (g_random_int_range when NULL).  Returns MX_NULL for a null MX. */
MxStatus mx_order(GArray *records, gint32 (*rand)(gint32 lo, gint32 hi));

void mx_records_free(GArray *records);

#endif
