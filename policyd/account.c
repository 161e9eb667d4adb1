/*
 * account.c - drop root for the daemon's own account; see account.h.
 */
#include "account.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

gboolean account_target(const char *user, uid_t *uid, gid_t *gid)
{
    if (geteuid() != 0 || strcmp(user, "root") == 0)
        return FALSE;
    struct passwd *pw = getpwnam(user);
    if (!pw)
        return FALSE;
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return TRUE;
}

gboolean account_drop(const char *user, GError **error)
{
    if (geteuid() != 0)
        return TRUE;  /* a supervisor started us as our account already */
    if (strcmp(user, "root") == 0) {
        g_warning("serving as root (user = root): a flaw in the daemon would be root's; the packaged account is "
                  ACCOUNT_DEFAULT);
        return TRUE;
    }
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                    "user = %s: no such account (adduser --system --group --no-create-home %s; or user = root "
                    "to serve as root on purpose)", user, user);
        return FALSE;
    }
    if (pw->pw_uid == 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                    "user = %s is uid 0: set user = root to serve as root on purpose", user);
        return FALSE;
    }
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    g_autofree char *name = g_strdup(pw->pw_name);
    /* groups first, then gid, then uid: after setuid there is no right left to change them */
    if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM, "cannot become %s: %s", name, g_strerror(errno));
        return FALSE;
    }
    if (setuid(0) == 0 || geteuid() == 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM, "became %s but could become root again", name);
        return FALSE;
    }
    g_message("running as %s (uid %u, gid %u, no supplementary groups)", name, (unsigned)uid, (unsigned)gid);
    return TRUE;
}
