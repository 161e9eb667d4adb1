/*
 * postfixcheck_rows.h - what postfixcheck.c and postfixpromises.c share:
 * the Postfix configuration as read (main.cf, master.cf services and
 * their -o overrides), the report being written, and the helpers that
 * add a problem or a note to it.  Not for other modules.
 */
#ifndef TLSPOLICYD_POSTFIXCHECK_ROWS_H
#define TLSPOLICYD_POSTFIXCHECK_ROWS_H

#include "config.h"
#include "list.h"

typedef struct {
    char *name, *type, *command;
    gboolean inet;
    char chroot;             /* master.cf's column: 'y', 'n' or '-' */
} Service;

typedef struct {
    const Config *config;
    GHashTable *params;      /* main.cf, $names expanded (postconf -x) */
    GHashTable *overrides;   /* "service/type/param" -> value (postconf -P) */
    GPtrArray *services;     /* Service (postconf -M) */
    GString *out;
    guint problems;
    int version;             /* mail_version as major * 100 + minor: 307, 310 */
    const PostfixSite *site; /* relayhost and local domains (postfixsite.h) */
    const char *dir;         /* Postfix's configuration directory, NULL: the default */
    List *list;              /* the compiled list, NULL when it cannot be read */
} Check;


/* A problem and the line that fixes it; a note (no problem counted). */
void pfc_problem(Check *c, const char *fix, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
void pfc_note(Check *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* main.cf's value ("" when unset); an -o value with $names expanded; a
 * service's value of a parameter (its -o override, else main.cf's). */
const char *pfc_param(const Check *c, const char *name);
char *pfc_expand(const Check *c, const char *value);
char *pfc_service_param(const Check *c, const Service *s, const char *name, gboolean *overridden);
/* master.cf's unix service of that name, or NULL. */
const Service *pfc_find_service(const Check *c, const char *name);

/* postfixpromises.c: relays, per-sender routes, the site's own transport
 * entries, listed local domains, the bounce filter file, the list as the
 * daemon's account sees it, sockets chrooted services must reach. */
void postfix_check_promises(Check *c);

#endif
