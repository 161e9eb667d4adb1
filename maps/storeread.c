/*
 * storeread.c - StoreReader: a compiled list as the daemon and tlsmap -q
 * read it, followed across renames; see store.h.
 */
#include "storeformat.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

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
gboolean store_open_environment(const char *path, MDB_env **envp, MDB_txn **txnp, MDB_dbi *dbi,
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
        return store_lmdb_fail(error, STORE_ERROR_INVALID, path, "cannot open", rc);
    /* NOTLS: a diff reads the old list from a thread of its own */
    rc = mdb_env_open(env, path, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS | MDB_NOSUBDIR | MDB_NORDAHEAD, 0);
    if (rc != 0) {
        mdb_env_close(env);
        if (rc == ENOENT)
            g_set_error(error, STORE_ERROR, STORE_ERROR_MISSING,
                        "%s: no compiled list (run tlsmap on the source file)", path);
        else
            store_lmdb_fail(error, STORE_ERROR_INVALID, path, "cannot open compiled list", rc);
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
        store_lmdb_fail(error, STORE_ERROR_INVALID, path, "cannot read compiled list", rc);
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
    if (!store_open_environment(reader->path, &reader->env, &reader->txn, &reader->dbi, &reader->opened,
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
        return store_lmdb_fail(error, STORE_ERROR_INVALID, reader->path, "cannot read compiled list", rc);
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
