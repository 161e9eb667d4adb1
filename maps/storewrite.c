/*
 * storewrite.c - a list written as a compiled list, and how it differs
 * from the one it replaces; see store.h.  OpenSMTPD makemap's shape:
 * temp file, fsync, rename, one cleanup label; a reason for every
 * hardening step beside it.
 */
#include "storeformat.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <glib/gstdio.h>

static size_t estimate_map_size(const GArray *records)
{
    size_t bytes = 1 << 20;
    for (guint i = 0; i < records->len; i++) {
        const ListRecord *rec = &g_array_index(records, ListRecord, i);
        bytes += rec->key_len + rec->value->encoded_len + 64;
    }
    return (bytes * 2 + 4095) & ~(size_t)4095;
}

/* Fill the (fresh) environment with the records; one transaction. */
static int fill_environment(MDB_env *env, const GArray *records)
{
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    int rc;
    char version[16];

    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
        return rc;
    if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0)
        goto out;

    guint counts[3] = {0};
    for (guint i = 0; i < records->len; i++)
        counts[g_array_index(records, ListRecord, i).kind]++;
    char counts_text[64];
    MDB_val k = {COUNTS_KEY_LEN, (void *)counts_key};
    MDB_val v = {(size_t)g_snprintf(counts_text, sizeof counts_text, "%u %u %u", counts[KEY_ADDRESS],
                                    counts[KEY_PARENT], counts[KEY_DOMAIN]),
                 counts_text};
    if ((rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND)) != 0)
        goto out;
    k = (MDB_val){FORMAT_KEY_LEN, (void *)format_key};
    v = (MDB_val){(size_t)g_snprintf(version, sizeof version, "%d", STORE_FORMAT), version};
    if ((rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND)) != 0)
        goto out;
    /* One cursor for all records: mdb_put() would set one up per call. */
    MDB_cursor *cursor;
    if ((rc = mdb_cursor_open(txn, dbi, &cursor)) != 0)
        goto out;
    for (guint i = 0; i < records->len && rc == 0; i++) {
        const ListRecord *rec = &g_array_index(records, ListRecord, i);
        k.mv_size = rec->key_len;
        k.mv_data = (void *)rec->key;
        v.mv_size = rec->value->encoded_len;
        v.mv_data = (void *)rec->value->encoded;
        rc = mdb_cursor_put(cursor, &k, &v, MDB_APPEND);
    }
    mdb_cursor_close(cursor);
    if (rc != 0)
        goto out;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    /* No mdb_env_sync() (MDB_NOSYNC): the commit wrote the pages to the
     * page cache, and store_write()'s fsync() makes them durable with the
     * mode and owner in one go. */
out:
    if (txn)
        mdb_txn_abort(txn);
    return rc;
}

/* A fresh environment at tmp mapping map_size bytes, filled with the
 * records.  Not MDB_WRITEMAP: writing a new file through the map costs a
 * page fault (a read of a hole) per page, more than LMDB's pwrite() of
 * the pages at commit. */
static int write_environment(const char *tmp, const GArray *records, size_t map_size)
{
    MDB_env *env = NULL;
    int rc;

    if ((rc = mdb_env_create(&env)) != 0)
        return rc;
    if ((rc = mdb_env_set_mapsize(env, map_size)) == 0
        && (rc = mdb_env_open(env, tmp, MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOSYNC | MDB_NORDAHEAD,
                              0600)) == 0)
        rc = fill_environment(env, records);
    mdb_env_close(env);
    return rc;
}

/* SIGINT, SIGTERM and SIGHUP: what tlsmap catches to remove its temporary. */
void store_interrupt_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

/* The temporary file being written, for store_remove_temporary() from a
 * signal handler (async-signal-safe: a fixed buffer and a flag). */
static char current_temp[4096];
static volatile sig_atomic_t temp_active;

void store_remove_temporary(void)
{
    if (temp_active)
        unlink(current_temp);
}

/* Remove temporary files a killed run left (".BASE.XXXXXX", ours, regular):
 * the caller holds the writers' lock, so no other run is writing one. */
static void sweep_stale_temporaries(const char *dir, const char *base)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    g_autofree char *prefix = g_strdup_printf(".%s.", base);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
        struct stat st;
        g_autofree char *full = g_build_filename(dir, name, NULL);
        if (g_str_has_prefix(name, prefix) && strlen(name) == strlen(prefix) + 6
            && strspn(name + strlen(prefix), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == 6
            && lstat(full, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid())
            unlink(full);
    }
}

gboolean store_write(const char *path, const GArray *records, const struct stat *like, GError **error)
{
    return store_write_sized(path, records, like, estimate_map_size(records), error);
}

gboolean store_write_sized(const char *path, const GArray *records, const struct stat *like, size_t map_size,
                           GError **error)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    g_autofree char *tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
    gboolean ok = FALSE;
    int rc, dirfd = -1;
    sweep_stale_temporaries(dir, base);
    /* made and registered with the interrupting signals held, so that
     * tlsmap's handler never sees a file it does not know of */
    sigset_t held, old;
    store_interrupt_signals(&held);
    pthread_sigmask(SIG_BLOCK, &held, &old);
    int fd = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 && strlen(tmp) < sizeof current_temp) {
        memcpy(current_temp, tmp, strlen(tmp) + 1);
        temp_active = 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (fd < 0) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_WRITE, "%s: cannot create temporary file: %s",
                    dir, g_strerror(errno));
        return FALSE;
    }

    /* LMDB opens files by name.  The directory may be writable by list
     * maintainers who are not root: one could swap our temporary name for
     * a symlink and have root create or write a file anywhere.  Give LMDB
     * the descriptor's /proc name, which always means the file we
     * created. */
    g_autofree char *by_fd = g_strdup_printf("/proc/self/fd/%d", fd);
    if (access(by_fd, F_OK) < 0) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_WRITE, "%s: /proc is needed to write lists safely", tmp);
        goto cleanup;
    }

    /* Write the environment; grow the map and start over if it was too small. */
    while ((rc = write_environment(by_fd, records, map_size)) == MDB_MAP_FULL && map_size < ((size_t)1 << 40)) {
        map_size *= 4;
        if (ftruncate(fd, 0) < 0)
            break;
    }
    if (rc != 0) {
        /* LMDB reports a short write as EIO; on a full disk, say so */
        struct statvfs vfs;
        if (rc == EIO && fstatvfs(fd, &vfs) == 0 && (guint64)vfs.f_bavail * vfs.f_frsize < (guint64)1 << 20)
            g_set_error(error, STORE_ERROR, STORE_ERROR_WRITE,
                        "%s: cannot write: no space left on device (%" G_GUINT64_FORMAT " KiB free); the old list is unchanged",
                        tmp, (guint64)vfs.f_bavail * vfs.f_frsize / 1024);
        else
            store_lmdb_fail(error, STORE_ERROR_WRITE, tmp, "cannot write", rc);
        goto cleanup;
    }

    /* Same mode and owner as the source file, then make it durable. */
    if (like && (fchmod(fd, like->st_mode & 07777) < 0
                 || (fchown(fd, like->st_uid, like->st_gid) < 0 && errno != EPERM))) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_WRITE, "%s: cannot set mode/owner: %s", tmp,
                    g_strerror(errno));
        goto cleanup;
    }
    if (fsync(fd) < 0) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_WRITE, "%s: cannot write: %s", tmp, g_strerror(errno));
        goto cleanup;
    }
    /* The name must still be our file: never install what someone put there. */
    struct stat ours, named;
    if (fstat(fd, &ours) < 0 || lstat(tmp, &named) < 0 || !S_ISREG(named.st_mode)
        || named.st_ino != ours.st_ino || named.st_dev != ours.st_dev) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_WRITE,
                    "%s: the temporary file was replaced while tlsmap wrote it (is %s writable by others?); "
                    "nothing installed", tmp, dir);
        goto cleanup;
    }
    if (rename(tmp, path) < 0) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_WRITE, "%s: cannot install: %s", path,
                    g_strerror(errno));
        goto cleanup;
    }
    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd >= 0)
        fsync(dirfd);
    ok = TRUE;

cleanup:
    temp_active = 0;
    if (!ok)
        unlink(tmp);
    if (dirfd >= 0)
        close(dirfd);
    close(fd);
    return ok;
}


struct StoreDiffJob {
    char *path;
    ListScan scan;         /* the old list, opened before the new one is written */
    gboolean have_old;
    const GArray *records;
    List *old;
    StoreDiff diff;
    GThread *thread;
};

/* Where a read fault in this thread goes (see store_recover_from_fault). */
static _Thread_local sigjmp_buf *fault_guard;

void store_recover_from_fault(void)
{
    if (fault_guard)
        siglongjmp(*fault_guard, 1);
}

static void count_difference(const ListRecord *old, const ListRecord *new, gpointer data)
{
    StoreDiff *diff = data;
    if (!new)
        diff->removed++;
    else if (!old)
        diff->added++;
    else if (old->value->encoded_len != new->value->encoded_len
             || memcmp(old->value->encoded, new->value->encoded, old->value->encoded_len) != 0)
        diff->changed++;
    else
        return;
    if (diff->keys->len < STORE_DIFF_KEYS)
        g_ptr_array_add(diff->keys, g_strdup(new ? new->key : old->key));
}

static gpointer store_diff_run(gpointer data)
{
    StoreDiffJob *job = data;
    sigjmp_buf jump;
    volatile gboolean have_old = FALSE;

    /* A damaged old list must not stop the compile that replaces it: a
     * fault reading it counts as no old list (what it had loaded is
     * dropped with the list; its map stays until tlsmap exits). */
    job->old = list_new(job->path);
    if (job->have_old && sigsetjmp(jump, 0) == 0) {
        fault_guard = &jump;
        have_old = store_load_scan(&job->scan, job->path, job->old, NULL);
    }
    fault_guard = NULL;
    job->diff = (StoreDiff){.total = job->records->len, .keys = g_ptr_array_new_with_free_func(g_free)};
    if (!have_old)
        g_array_set_size(job->old->records, 0);
    list_merge(job->old->records, job->records, count_difference, &job->diff);
    return NULL;
}

StoreDiffJob *store_diff_start(const char *path, const GArray *records)
{
    StoreDiffJob *job = g_new0(StoreDiffJob, 1);
    job->path = g_strdup(path);
    job->records = records;
    /* open it here: by the time the thread runs, the name may be the new list's */
    job->have_old = store_scan_open(path, &job->scan, NULL);
    /* the thread never takes an interrupting signal: the main thread's
     * handler removes the temporary file (one delivered to the diff thread
     * could end the process before the file was registered) */
    sigset_t held, old;
    store_interrupt_signals(&held);
    pthread_sigmask(SIG_BLOCK, &held, &old);
    job->thread = g_thread_new("tlsmap-diff", store_diff_run, job);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return job;
}

StoreDiff store_diff_finish(StoreDiffJob *job)
{
    g_thread_join(job->thread);
    StoreDiff diff = job->diff;
    list_free(job->old);
    g_free(job->path);
    g_free(job);
    return diff;
}
