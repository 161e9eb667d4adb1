/*
 * store.c - compiled lists in LMDB.  See store.h for the design and the
 * contract.  Here: errors, the compiled name, the writers' lock, and a
 * pass over every record; writing is storewrite.c's (OpenSMTPD makemap's
 * shape: temp file, fsync, rename, one cleanup label), reading
 * storeread.c's.
 */
#include "storeformat.h"

#include "escape.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <glib/gstdio.h>

G_DEFINE_QUARK(tlspolicyd-store-error-quark, store_error)

gboolean store_lmdb_fail(GError **error, StoreErrorCode code, const char *path,
                          const char *what, int rc)
{
    g_set_error(error, STORE_ERROR, code, "%s: %s: %s", path, what, mdb_strerror(rc));
    return FALSE;
}

/* Writers lock ".NAME.lock" beside the compiled list, not the directory:
 * any local user can open a world-readable directory and hold its flock
 * for ever.  The lock file is the maintainers' (mode 0660, the group of a
 * setgid directory: whoever of them runs first, the others can open it;
 * flock needs no more than read; never a link), and the wait is bounded.
 * A lock an earlier run left root:root 0640 is given to the directory's
 * group by its owner. */
char *store_compiled_path(const char *source)
{
    return g_strconcat(source, ".lmdb", NULL);
}

int store_lock_writers(const char *path, guint wait_seconds, GError **error)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *lock = g_strdup_printf("%s/.%s.lock", dir, base);
    int fd = open(lock, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0660);
    struct stat st, dir_st;

    if (fd < 0 || fstat(fd, &st) < 0) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_WRITE, "%s: cannot open the lock file: %s", lock,
                    g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (S_ISREG(st.st_mode) && st.st_uid == geteuid() && stat(dir, &dir_st) == 0) {
        if ((dir_st.st_mode & S_ISGID) && st.st_gid != dir_st.st_gid && fchown(fd, (uid_t)-1, dir_st.st_gid) == 0)
            st.st_gid = dir_st.st_gid;
        if ((st.st_mode & 0777) != 0660 && fchmod(fd, 0660) == 0)
            st.st_mode = (st.st_mode & ~0777u) | 0660;
    }
    if (!S_ISREG(st.st_mode) || ((st.st_mode & 0007) && fchmod(fd, st.st_mode & 0770) < 0)) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_WRITE,
                    "%s: the lock file is not a regular file only the maintainers can open; remove it", lock);
        close(fd);
        return -1;
    }
    for (guint tries = 0;; tries++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        if (errno != EWOULDBLOCK && errno != EINTR)
            break;
        if (tries >= wait_seconds * 10) {
            g_set_error(error, STORE_ERROR, STORE_ERROR_WRITE,
                        "%s: another tlsmap has held the lock for %u s; nothing changed (try again, or see who "
                        "holds it: fuser %s)", lock, wait_seconds, lock);
            close(fd);
            return -1;
        }
        g_usleep(100000);
    }
    g_set_error(error, STORE_ERROR, STORE_ERROR_WRITE, "%s: cannot lock: %s", lock, g_strerror(errno));
    close(fd);
    return -1;
}

/* Room for every record with B-tree overhead, doubled for safety. */


gboolean store_scan_open(const char *path, ListScan *scan, GError **error)
{
    MDB_dbi dbi;
    struct stat st;
    int rc;

    if (!store_open_environment(path, &scan->env, &scan->txn, &dbi, &st, error))
        return FALSE;
    if ((rc = mdb_cursor_open(scan->txn, dbi, &scan->cursor)) != 0) {
        mdb_txn_abort(scan->txn);
        mdb_env_close(scan->env);
        return store_lmdb_fail(error, STORE_ERROR_INVALID, path, "cannot read", rc);
    }
    scan->op = MDB_FIRST;
    return TRUE;
}

/* The next record; FALSE at the end. */
gboolean store_scan_next(ListScan *scan, MDB_val *k, MDB_val *v)
{
    int rc;
    do {
        rc = mdb_cursor_get(scan->cursor, k, v, scan->op);
        scan->op = MDB_NEXT;
    } while (rc == 0 && is_meta_key(k));
    return rc == 0;
}

void store_scan_close(ListScan *scan)
{
    mdb_cursor_close(scan->cursor);
    mdb_txn_abort(scan->txn);
    mdb_env_close(scan->env);
}

/* Every record of an open scan into list; closes the scan. */
gboolean store_load_scan(ListScan *scan, const char *path, List *list, GError **error)
{
    MDB_val k, v;
    gboolean ok = TRUE;
    while (store_scan_next(scan, &k, &v)) {
        const ListEntry *value = list_intern_encoded(list, v.mv_data, v.mv_size);
        if (!value || k.mv_size > KEY_MAX || memchr(k.mv_data, 0, k.mv_size)) {
            g_autofree char *key = g_strndup(k.mv_data, k.mv_size);
            char shown[KEY_MAX + 4];
            g_set_error(error, STORE_ERROR, STORE_ERROR_INVALID, "%s: corrupt record for key \"%s\"", path,
                        text_escape(key, shown, sizeof shown));
            ok = FALSE;
            break;
        }
        list_append_copy(list, k.mv_data, k.mv_size, value, 0);
    }
    store_scan_close(scan);
    return ok;
}

gboolean store_load(const char *path, List *list, GError **error)
{
    ListScan scan;
    return store_scan_open(path, &scan, error) && store_load_scan(&scan, path, list, error);
}

