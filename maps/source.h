/*
 * source.h - the list file parser (text -> a list in key order).
 *
 * Parses the postmap-style source syntax from a memory buffer; it does
 * no I/O, so the fuzz harness and the tests feed it directly.  Every
 * problem becomes a "FILE, line N: ..." message; parsing goes on after
 * an error so that one run reports all of them (up to a cap).
 *
 *   # comment
 *   KEY[,KEY...] LEVEL [attr=value ...]
 *       continuation lines start with whitespace
 */
#ifndef TLSPOLICYD_SOURCE_H
#define TLSPOLICYD_SOURCE_H

#include "list.h"

#define SOURCE_MAX_ERRORS 50

/* Parse text into list (a new one: one text a list; list->name names it
 * in messages), sort it and reject duplicate keys.  The messages are
 * appended to errors (may be NULL); TRUE when there were none. */
gboolean source_parse(List *list, const char *text, size_t len, GPtrArray *errors);

#endif
