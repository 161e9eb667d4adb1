/*
 * escape.h - one escaping rule for everything shown to a person: control
 * bytes, backslashes and invalid UTF-8 as \xNN; valid UTF-8 that a
 * terminal acts on or hides (C1 controls, bidi and other format
 * characters, line separators) as \uXXXX; the rest as it is.  And the
 * one rule for strings in JSON output.
 */
#ifndef TLSPOLICYD_ESCAPE_H
#define TLSPOLICYD_ESCAPE_H

#include <glib.h>

/* s escaped into out (size bytes, NUL included); cut with "..." when it
 * does not fit.  Returns out. */
char *text_escape(const char *s, char *out, size_t size);

/* s as a JSON string, quotes included, appended to out: always valid
 * JSON and valid UTF-8 whatever s holds (invalid UTF-8 becomes U+FFFD;
 * quotes, backslashes, C0 and C1 controls and DEL are escaped).  The one
 * JSON writer of the ledger's pages and tlsprobe --json. */
void json_append_string(GString *out, const char *s);

#endif
