/*
 * key.h - list keys and lookup queries: normalization and validation.
 *
 * Both sides of a lookup go through key_normalize(): tlsmap when it
 * compiles a key, and the lookup when it receives an address from
 * Postfix.  That is what guarantees that "User@Exämple.COM" in a list
 * matches "user@xn--exmple-cua.com" in a request and vice versa.
 *
 * Normal form: ASCII case folded to lower case, the domain in its ASCII
 * (A-label) form without a trailing dot, a non-ASCII local part folded
 * with g_utf8_strdown().
 */
#ifndef TLSPOLICYD_KEY_H
#define TLSPOLICYD_KEY_H

#include <glib.h>

typedef enum {
    KEY_ADDRESS,  /* user@example.com */
    KEY_DOMAIN,   /* example.com */
    KEY_PARENT,   /* .example.com: any subdomain */
} KeyKind;

#define KEY_MAX 320  /* 64 for the local part, 1 for '@', 255 for the domain */

/* Normalize a key from a list file into out (KEY_MAX+1 bytes, *len its
 * length) and check that it is well-formed; FALSE with *why set to a
 * static message. */
gboolean key_from_list(const char *raw, char *out, size_t *len, KeyKind *kind, const char **why);

/* The domain a normalized key names: "user@d" -> d, ".d" -> d, "d" -> d. */
const char *key_domain(const char *key);

/* Normalize an address or domain from a query into out (KEY_MAX+1 bytes).
 * Returns FALSE when it cannot be normalized (too long, bad IDN, empty);
 * such a query matches nothing. */
gboolean key_from_query(const char *raw, char *out);

/* Is name the domain itself or one of its subdomains (ASCII case-insensitive)?
 * "mx.example.com" and "example.com" are in "example.com"; "badexample.com" is not. */
gboolean key_name_in_domain(const char *name, const char *domain);


#endif
