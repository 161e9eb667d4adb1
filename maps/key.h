/*
 * key.h - list keys and lookup queries: normalization and validation.
 *
 * Both sides of a lookup fold the same way: tlsmap when it compiles a
 * key (key_from_list), and the lookup when it receives an address from
 * Postfix (key_fold_domain, key_fold_local, one half at a time).  That is what guarantees that "User@Exämple.COM" in a list
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

/* "[192.0.2.1]" or "[ipv6:2001:db8::1]": a domain that is an address
 * literal (matched exactly, never by parent keys). */
gboolean key_is_address_literal(const char *domain);

/* The domain a normalized key names: "user@d" -> d, ".d" -> d, "d" -> d. */
const char *key_domain(const char *key);

/* The two halves of a query address, folded as the list's keys are.
 * key_fold_domain: the domain (ASCII lower case, IDN to A-labels, no
 * trailing dot) in out (size bytes), or, when longer, in a g_malloc'ed
 * *heap the caller frees; NULL when empty or not convertible.
 * key_fold_local: len bytes of a local part (any bytes but NUL) into out
 * (size bytes); FALSE when not valid UTF-8 or too long for out. */
const char *key_fold_domain(const char *raw, char *out, size_t size, char **heap);
gboolean key_fold_local(const char *raw, size_t len, char *out, size_t size);

/* Is name the domain itself or one of its subdomains (ASCII case-insensitive)?
 * "mx.example.com" and "example.com" are in "example.com"; "badexample.com" is not. */
gboolean key_name_in_domain(const char *name, const char *domain);


#endif
