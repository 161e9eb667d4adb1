/*
 * mx.h - where mail for a domain goes, as Postfix's smtp client sees it:
 * MX records by preference (random order within one preference), the
 * domain's own address when there is no MX, nothing for a null MX
 * (RFC 7505: one MX "." of preference 0).  Resolution uses GLib's
 * resolver; the ordering is a pure function so tests can feed it records.
 */
#ifndef TLSPOLICYD_MX_H
#define TLSPOLICYD_MX_H

#include <glib.h>

typedef struct {
    guint16 preference;
    char *host;
} MxRecord;

typedef enum { MX_FOUND, MX_NONE_FALLBACK_A, MX_NULL, MX_ERROR } MxStatus;

/* Order records in place: by preference, shuffled within a preference by
 * rand (g_random_int_range when NULL).  Returns MX_NULL for a null MX. */
MxStatus mx_order(GArray *records, gint32 (*rand)(gint32 lo, gint32 hi));

/* Resolve domain's MX records into a new array of MxRecord; with no MX
 * the domain itself (preference 0) and MX_NONE_FALLBACK_A. */
MxStatus mx_resolve(const char *domain, GArray **records, GError **error);

void mx_records_free(GArray *records);

#endif
