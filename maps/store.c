/*
 * store.c - compiled lists in LMDB.  See store.h for the design and the
 * contract; this file follows OpenSMTPD makemap's shape for writing
 * (temp file, fsync, rename, one cleanup label).
 */
#include "store.h"

#include "escape.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <glib/gstdio.h>

G_DEFINE_QUARK(tlspolicyd-store-error-quark, store_error)

static const char format_key[] = "\0tlsmap-format";
#define FORMAT_KEY_LEN (sizeof(format_key) - 1)
/* "addresses parents domains": lets readers skip lookups that cannot match. */
static const char counts_key[] = "\0tlsmap-counts";
#define COUNTS_KEY_LEN (sizeof(counts_key) - 1)
/* Readers keep the parent keys of a list in memory up to this many. */
#define PARENT_SET_MAX 100000

/* Metadata keys start with NUL, which no list key does, and sort first. */
static gboolean is_meta_key(const MDB_val *k)
{
    return k->mv_size > 0 && ((const char *)k->mv_data)[0] == 0;
}

static gboolean lmdb_fail(GError **error, StoreErrorCode code, const char *path,
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
        /* sorted keys are scattered over the source text: fetch ahead */
        if (i + 8 < records->len)
            __builtin_prefetch(g_array_index(records, ListRecord, i + 8).key);
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
static void interrupt_signals(sigset_t *set)
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
    interrupt_signals(&held);
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
            lmdb_fail(error, STORE_ERROR_WRITE, tmp, "cannot write", rc);
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

/*
 * Reading.
 */
struct StoreReader {
    char *path;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    struct stat opened;       /* what env maps */
    struct stat failed;       /* the file that failed to open, not retried until it changes */
    GError *failed_error;
    gint64 recheck_us;        /* stat the name at most this often */
    gboolean no_addresses;    /* the list has no address keys */
    guint64 entries;          /* records in the mapped list */
    gint64 loaded_at;         /* wall clock (g_get_real_time) when it was mapped */
    GHashTable *parents;      /* its parent keys, or NULL: unknown */
    GStringChunk *parent_strings;
    gint64 checked_at;        /* monotonic time of the last stat */
};

static gboolean same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size
           && a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void reader_close(StoreReader *reader)
{
    g_clear_pointer(&reader->parents, g_hash_table_unref);
    g_clear_pointer(&reader->parent_strings, g_string_chunk_free);
    reader->no_addresses = FALSE;
    if (reader->txn)
        mdb_txn_abort(reader->txn);
    if (reader->env)
        mdb_env_close(reader->env);
    reader->txn = NULL;
    reader->env = NULL;
    memset(&reader->opened, 0, sizeof reader->opened);
}

static gboolean check_format(MDB_txn *txn, MDB_dbi dbi, const char *path, GError **error)
{
    MDB_val k = {FORMAT_KEY_LEN, (void *)format_key}, v;
    char version[16];

    if (mdb_get(txn, dbi, &k, &v) != 0 || v.mv_size == 0 || v.mv_size >= sizeof version) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_INVALID,
                    "%s: not a compiled tlsmap list (no format record)", path);
        return FALSE;
    }
    memcpy(version, v.mv_data, v.mv_size);
    version[v.mv_size] = 0;
    if (strcmp(version, G_STRINGIFY(STORE_FORMAT)) != 0) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_FORMAT,
                    "%s: list format %s is not supported by this version (it reads format %d); "
                    "recompile the list with this tlsmap or upgrade", path, version, STORE_FORMAT);
        return FALSE;
    }
    return TRUE;
}

/* Open env read-only on path; *st receives what was opened. */
static gboolean open_environment(const char *path, MDB_env **envp, MDB_txn **txnp, MDB_dbi *dbi,
                                 struct stat *st, GError **error)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_envinfo info;
    MDB_stat mst;
    int rc;

    /* A FIFO or device under the name would block the open (the whole
     * daemon, SIGTERM included) or feed it garbage: regular files only. */
    struct stat before;
    if (stat(path, &before) == 0 && !S_ISREG(before.st_mode)) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_INVALID, "%s: not a regular file", path);
        return FALSE;
    }
    if ((rc = mdb_env_create(&env)) != 0)
        return lmdb_fail(error, STORE_ERROR_INVALID, path, "cannot open", rc);
    /* NOTLS: a diff reads the old list from a thread of its own */
    rc = mdb_env_open(env, path, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS | MDB_NOSUBDIR | MDB_NORDAHEAD, 0);
    if (rc != 0) {
        mdb_env_close(env);
        if (rc == ENOENT)
            g_set_error(error, STORE_ERROR, STORE_ERROR_MISSING,
                        "%s: no compiled list (run tlsmap on the source file)", path);
        else
            lmdb_fail(error, STORE_ERROR_INVALID, path, "cannot open compiled list", rc);
        return FALSE;
    }

    /* The file must hold every page the meta page says it has: reading a
     * page past the end of a truncated file would be SIGBUS, not an error. */
    mdb_filehandle_t fd;
    mdb_env_get_fd(env, &fd);
    mdb_env_info(env, &info);
    mdb_env_stat(env, &mst);
    if (fstat(fd, st) < 0 || (size_t)st->st_size < (info.me_last_pgno + 1) * (size_t)mst.ms_psize) {
        g_set_error(error, STORE_ERROR, STORE_ERROR_INVALID, "%s: compiled list is truncated", path);
        goto fail;
    }
    if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0
        || (rc = mdb_dbi_open(txn, NULL, 0, dbi)) != 0) {
        lmdb_fail(error, STORE_ERROR_INVALID, path, "cannot read compiled list", rc);
        goto fail;
    }
    if (!check_format(txn, *dbi, path, error))
        goto fail;
    *envp = env;
    *txnp = txn;
    return TRUE;
fail:
    if (txn)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    return FALSE;
}

/* Most queries are for unlisted addresses; knowing that a list has no
 * address keys and which parent keys it has saves most of their gets. */
static void load_key_summary(StoreReader *reader)
{
    MDB_val k = {COUNTS_KEY_LEN, (void *)counts_key}, v;
    guint addresses, parents, domains;
    char text[64];

    if (mdb_get(reader->txn, reader->dbi, &k, &v) != 0 || v.mv_size >= sizeof text)
        return;
    memcpy(text, v.mv_data, v.mv_size);
    text[v.mv_size] = 0;
    if (sscanf(text, "%u %u %u", &addresses, &parents, &domains) != 3)
        return;
    reader->no_addresses = addresses == 0;
    reader->entries = (guint64)addresses + parents + domains;
    if (parents > PARENT_SET_MAX)
        return;

    MDB_cursor *cursor;
    if (mdb_cursor_open(reader->txn, reader->dbi, &cursor) != 0)
        return;
    reader->parent_strings = g_string_chunk_new(4096);
    reader->parents = g_hash_table_new(g_str_hash, g_str_equal);
    MDB_val start = {1, (void *)"."};
    for (int rc = mdb_cursor_get(cursor, &start, &v, MDB_SET_RANGE);
         rc == 0 && start.mv_size > 0 && ((char *)start.mv_data)[0] == '.';
         rc = mdb_cursor_get(cursor, &start, &v, MDB_NEXT))
        g_hash_table_add(reader->parents, g_string_chunk_insert_len(reader->parent_strings, start.mv_data,
                                                                    (gssize)start.mv_size));
    mdb_cursor_close(cursor);
}

StoreReader *store_reader_new(const char *path)
{
    StoreReader *reader = g_new0(StoreReader, 1);
    reader->path = g_strdup(path);
    return reader;
}

void store_reader_free(StoreReader *reader)
{
    if (!reader)
        return;
    reader_close(reader);
    g_clear_error(&reader->failed_error);
    g_free(reader->path);
    g_free(reader);
}

const char *store_reader_path(const StoreReader *reader)
{
    return reader->path;
}

ino_t store_reader_inode(const StoreReader *reader)
{
    return reader->env ? reader->opened.st_ino : 0;
}

guint64 store_reader_entries(const StoreReader *reader)
{
    return reader->env ? reader->entries : 0;
}

gint64 store_reader_loaded_at(const StoreReader *reader)
{
    return reader->env ? reader->loaded_at : 0;
}

gint64 store_reader_modified(const StoreReader *reader)
{
    return reader->env ? (gint64)reader->opened.st_mtim.tv_sec : 0;
}

void store_reader_set_recheck(StoreReader *reader, guint microseconds)
{
    reader->recheck_us = microseconds;
}

/* Is the file under the name still the one mapped?  Opens the new one
 * when it changed; FALSE with error when there is no usable list. */
static gboolean follow_name(StoreReader *reader, GError **error)
{
    struct stat st;

    /* One stat notices a renamed-in file (or a truncated one) before the
     * old map is touched again. */
    if (stat(reader->path, &st) < 0) {
        int err = errno;
        reader_close(reader);
        g_set_error(error, STORE_ERROR, err == ENOENT ? STORE_ERROR_MISSING : STORE_ERROR_INVALID,
                    "%s: %s", reader->path,
                    err == ENOENT ? "no compiled list (run tlsmap on the source file)" : g_strerror(err));
        return FALSE;
    }
    if (reader->env && same_file(&st, &reader->opened))
        return TRUE;
    if (reader->failed_error && same_file(&st, &reader->failed)) {
        g_propagate_error(error, g_error_copy(reader->failed_error));
        return FALSE;
    }
    reader_close(reader);
    g_clear_error(&reader->failed_error);
    if (!open_environment(reader->path, &reader->env, &reader->txn, &reader->dbi, &reader->opened,
                          &reader->failed_error)) {
        g_propagate_error(error, g_error_copy(reader->failed_error));
        /* A file that vanished between the stat and the open (renamed
         * away) is not this file's fault: remembering the error against
         * its stat kept the list unusable once it was renamed back. */
        if (g_error_matches(reader->failed_error, STORE_ERROR, STORE_ERROR_MISSING))
            g_clear_error(&reader->failed_error);
        else
            reader->failed = st;
        return FALSE;
    }
    reader->entries = 0;
    reader->loaded_at = g_get_real_time();
    load_key_summary(reader);
    /* A fresh env comes with a live transaction; keep it reset between lookups. */
    mdb_txn_reset(reader->txn);
    return TRUE;
}

void store_reader_abandon(StoreReader *reader, const char *why)
{
    struct stat st;
    reader_close(reader);
    g_clear_error(&reader->failed_error);
    if (stat(reader->path, &st) < 0)
        return;  /* gone: the next begin says so */
    reader->failed = st;
    reader->failed_error = g_error_new(STORE_ERROR, STORE_ERROR_INVALID, "%s: %s", reader->path, why);
}

gboolean store_reader_begin(StoreReader *reader, GError **error)
{
    return store_reader_begin_at(reader, reader->recheck_us > 0 ? g_get_monotonic_time() : 0, error);
}

gboolean store_reader_begin_at(StoreReader *reader, gint64 now, GError **error)
{
    gboolean check = !reader->env || reader->recheck_us == 0 || now - reader->checked_at >= reader->recheck_us;

    if (check) {
        reader->checked_at = now;
        if (!follow_name(reader, error))
            return FALSE;
    }
    int rc = mdb_txn_renew(reader->txn);
    if (rc != 0) {
        reader_close(reader);
        return lmdb_fail(error, STORE_ERROR_INVALID, reader->path, "cannot read compiled list", rc);
    }
    return TRUE;
}

gboolean store_reader_get(StoreReader *reader, const char *key, size_t key_len, Entry *entry)
{
    MDB_val k = {key_len, (void *)key}, v;

    if (key_len == 0)
        return FALSE;
    /* Skip gets that the list's key summary says cannot match. */
    if (key[0] == '.' && reader->parents && !g_hash_table_contains(reader->parents, key))
        return FALSE;
    if (reader->no_addresses && memchr(key, '@', key_len))
        return FALSE;
    if (mdb_get(reader->txn, reader->dbi, &k, &v) != 0)
        return FALSE;
    return entry_decode(v.mv_data, v.mv_size, entry);
}

void store_reader_end(StoreReader *reader)
{
    if (reader->txn)
        mdb_txn_reset(reader->txn);
}

/* A read-only pass over every list record in key order, metadata skipped. */
typedef struct {
    MDB_env *env;
    MDB_txn *txn;
    MDB_cursor *cursor;
    MDB_cursor_op op;
} ListScan;

static gboolean scan_open(const char *path, ListScan *scan, GError **error)
{
    MDB_dbi dbi;
    struct stat st;
    int rc;

    if (!open_environment(path, &scan->env, &scan->txn, &dbi, &st, error))
        return FALSE;
    if ((rc = mdb_cursor_open(scan->txn, dbi, &scan->cursor)) != 0) {
        mdb_txn_abort(scan->txn);
        mdb_env_close(scan->env);
        return lmdb_fail(error, STORE_ERROR_INVALID, path, "cannot read", rc);
    }
    scan->op = MDB_FIRST;
    return TRUE;
}

/* The next record; FALSE at the end. */
static gboolean scan_next(ListScan *scan, MDB_val *k, MDB_val *v)
{
    int rc;
    do {
        rc = mdb_cursor_get(scan->cursor, k, v, scan->op);
        scan->op = MDB_NEXT;
    } while (rc == 0 && is_meta_key(k));
    return rc == 0;
}

static void scan_close(ListScan *scan)
{
    mdb_cursor_close(scan->cursor);
    mdb_txn_abort(scan->txn);
    mdb_env_close(scan->env);
}

/* Every record of an open scan into list; closes the scan. */
static gboolean load_scan(ListScan *scan, const char *path, List *list, GError **error)
{
    MDB_val k, v;
    gboolean ok = TRUE;
    while (scan_next(scan, &k, &v)) {
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
    scan_close(scan);
    return ok;
}

gboolean store_load(const char *path, List *list, GError **error)
{
    ListScan scan;
    return scan_open(path, &scan, error) && load_scan(&scan, path, list, error);
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
        have_old = load_scan(&job->scan, job->path, job->old, NULL);
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
    job->have_old = scan_open(path, &job->scan, NULL);
    /* the thread never takes an interrupting signal: the main thread's
     * handler removes the temporary file (one delivered to the diff thread
     * could end the process before the file was registered) */
    sigset_t held, old;
    interrupt_signals(&held);
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
