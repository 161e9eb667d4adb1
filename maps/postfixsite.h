/*
 * postfixsite.h - what the local Postfix does with mail, read from it
 * through postconf(1): the one source of truth tlspolicyd, tlsmap and
 * tlsprobe share, so no setting is repeated in their own files.
 *
 * postfix_site_read() asks postconf (-c DIR when a directory is given)
 * for the parameters that decide routing and TLS - relayhost, the local
 * and virtual domains, the smtp client's CA files, host lookup and port,
 * the version - with $names expanded.  The domains Postfix delivers
 * itself (mydestination, virtual_alias_domains, virtual_mailbox_domains)
 * are expanded as Postfix's domain lists are: names, ".parent" patterns,
 * /file/name lists, and the keys of indexed tables (postmap -s); what
 * cannot be listed (regexp:, pcre:, SQL, LDAP, "!" exclusions) is kept
 * in `unfollowed` for --check-postfix to name.
 *
 * postfix_site_changed() says whether main.cf (or a table the domains
 * came from) changed since the read: the daemon polls it.
 */
#ifndef TLSPOLICYD_POSTFIXSITE_H
#define TLSPOLICYD_POSTFIXSITE_H

#include <glib.h>

GQuark postfix_site_error_quark(void);
#define POSTFIX_SITE_ERROR postfix_site_error_quark()
typedef enum {
    POSTFIX_SITE_ERROR_NO_CONFIG,  /* no main.cf there: no Postfix to read */
    POSTFIX_SITE_ERROR_POSTCONF,   /* postconf could not run, or failed */
} PostfixSiteErrorCode;

typedef struct {
    char *directory;           /* Postfix's configuration directory, as read */
    char *relayhost;           /* see postfix_site_relayhost() */
    GHashTable *params;        /* name -> value, $names expanded */
    GHashTable *local_domains; /* lower-case "example.com" and ".example.com" (its subdomains) */
    GPtrArray *unfollowed;     /* "mydestination: pcre:/etc/postfix/d" - elements not expanded */
    GArray *watched;           /* stat signatures of main.cf and the domain tables */
} PostfixSite;

/* directory NULL or "": $MAIL_CONFIG, else /etc/postfix, as postconf's
 * own default. */
PostfixSite *postfix_site_read(const char *directory, GError **error);
void postfix_site_free(PostfixSite *site);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PostfixSite, postfix_site_free)

/* A parameter's value ("" when Postfix has none). */
const char *postfix_site_param(const PostfixSite *site, const char *name);

/* Postfix delivers mail for domain itself: mydestination, a virtual alias
 * or mailbox domain (case-insensitive; a trailing dot ignored). */
gboolean postfix_site_is_local(const PostfixSite *site, const char *domain);

/* main.cf, or a domain table, changed on disk since the read (or since
 * postfix_site_rewatch(): a change that could not be read is not
 * reported again). */
gboolean postfix_site_changed(const PostfixSite *site);
void postfix_site_rewatch(PostfixSite *site);

/* The next hop Postfix gives mail with no transport_maps entry: relayhost,
 * else default_transport's own next hop ("smtp:[gw]" -> "[gw]"), else "". */
#define postfix_site_relayhost(site) ((const char *)(site)->relayhost)

/* Run postconf (-c directory when set) with args; its standard output,
 * or NULL with error set (its message names the command and its stderr). */
char *postfix_site_postconf(const char *directory, const char *const *args, GError **error);

/* "name = value" lines of postconf output into table. */
void postfix_site_parse_assignments(const char *text, GHashTable *table);

#endif
