/*
 * account.h - privilege separation as Postfix does it: started as root
 * (by any supervisor, or by hand), tlspolicyd opens what needs root (its
 * sockets in Postfix's private/ directory, log_file) and then becomes its
 * own account, with no supplementary groups, before it serves a request.
 *
 * Started as another user (systemd's User=), nothing changes.  Root
 * serves only when the configuration says so (user = root).
 */
#ifndef TLSPOLICYD_ACCOUNT_H
#define TLSPOLICYD_ACCOUNT_H

#include <glib.h>
#include <sys/types.h>

#define ACCOUNT_DEFAULT "tlspolicyd"   /* the packaged account (sysusers.d) */

/* The uid and gid of user, for files opened as root that the account
 * must reopen later (log_file).  FALSE when there is no such account or
 * no change of account will happen (not root, or user = root). */
gboolean account_target(const char *user, uid_t *uid, gid_t *gid);

/* Become user: when root, clear the group list, set gid, then uid, and
 * check root cannot be regained.  FALSE with error when root and there is
 * no such account, or it is uid 0 without saying root. */
gboolean account_drop(const char *user, GError **error);

#endif
