/*
 * store.h - compiled lists: immutable single-file LMDB environments.
 *
 * Design (the one rule everything else follows): a compiled list file
 * is never written in place once it carries its final name.  Every
 * change - a full compile, tlsmap -d, tlsmap -i - writes a complete new
 * file under a temporary name in the same directory, fsyncs it, and
 * renames it over the old one.  Readers therefore open files with
 * MDB_RDONLY|MDB_NOLOCK: there is no lock file to share (LMDB readers
 * would pick the meta page through it, which is unsafe across a rename),
 * a reader keeps using the inode it mapped until it notices that the
 * name points to a new inode, and then it maps the new file and unmaps
 * the old one, so no "(deleted)" mapping lingers.
 *
 * Writers (tlsmap processes) serialize among themselves with flock(2) on
 * the list's directory, so that two concurrent "-i" runs cannot lose an
 * update; readers never take that lock.
 *
 * The first key, "\0tlsmap-format", holds the format version; readers
 * refuse files without it or with a newer version.
 */
#ifndef TLSPOLICYD_STORE_H
#define TLSPOLICYD_STORE_H

#include <sys/stat.h>

#include "entry.h"
#include "list.h"

#define STORE_FORMAT 1

GQuark store_error_quark(void);
#define STORE_ERROR store_error_quark()
typedef enum {
    STORE_ERROR_MISSING,   /* no compiled file */
    STORE_ERROR_INVALID,   /* not a tlsmap list, truncated, unreadable */
    STORE_ERROR_FORMAT,    /* a newer or unknown format version */
    STORE_ERROR_WRITE,
} StoreErrorCode;

/* The compiled list of a list source: "SOURCE.lmdb", what tlsmap writes
 * and the daemon, --check-postfix and tlsmap -q read (g_free it). */
char *store_compiled_path(const char *source);

/* Take the writers' lock of the list at path (".NAME.lock" beside it),
 * waiting at most wait_seconds; returns an fd to close() to release it,
 * or -1 with error. */
int store_lock_writers(const char *path, guint wait_seconds, GError **error);

/* Write sorted, duplicate-free records to path atomically.  When like is
 * given, the new file gets its mode and owner (postmap does the same). */
gboolean store_write(const char *path, const GArray *records, const struct stat *like,
                     GError **error);
/* The same, starting with a map of map_size bytes (store_write()
 * estimates it); a map too small is grown and the file written again,
 * which the tests make happen with a small one. */
gboolean store_write_sized(const char *path, const GArray *records, const struct stat *like, size_t map_size,
                           GError **error);


/* From a SIGSEGV/SIGBUS handler: if the faulting thread was reading an
 * old list for a diff, continue there as if it had none (returns only
 * when no such read was going on). */
void store_recover_from_fault(void);

/* Remove the temporary file store_write() is writing, if any; safe to
 * call from a signal handler (tlsmap does, for SIGINT/SIGTERM/SIGHUP).
 * store_write() also removes what killed runs left behind. */
void store_remove_temporary(void);

/* Load every record of a compiled list into list (keys and strings are
 * copied into list->strings); records come out sorted. */
gboolean store_load(const char *path, List *list, GError **error);

/* What replacing the list at path with records would change (for the
 * audit trail; encoded values are compared).  A missing, unreadable or
 * damaged old list counts every record as added.  store_diff_start()
 * loads the old list and compares in a thread of its own, so a new list
 * can be written (and renamed over the old name) in the meantime;
 * store_diff_finish() waits for the counts.  records must stay unchanged
 * until then. */
#define STORE_DIFF_KEYS 20
typedef struct {
    guint added, removed, changed, total;
    GPtrArray *keys;  /* the first STORE_DIFF_KEYS keys that differ; free with g_ptr_array_unref */
} StoreDiff;
typedef struct StoreDiffJob StoreDiffJob;
StoreDiffJob *store_diff_start(const char *path, const GArray *records);
StoreDiff store_diff_finish(StoreDiffJob *job);

/* A long-lived reader that follows renames. */
typedef struct StoreReader StoreReader;

StoreReader *store_reader_new(const char *path);
void store_reader_free(StoreReader *reader);
const char *store_reader_path(const StoreReader *reader);

/* Check the name for a new file at most every microseconds (default 0:
 * at every begin).  The daemon uses 1000: one stat per millisecond
 * instead of one per request, at 100,000 requests a second. */
void store_reader_set_recheck(StoreReader *reader, guint microseconds);

/* Start a lookup: notice a new file under the name, (re)open it, and
 * start a read transaction.  FALSE with error when the list cannot be
 * used; store_reader_end() must not be called then. */
gboolean store_reader_begin(StoreReader *reader, GError **error);
/* The same with the caller's clock (g_get_monotonic_time() units), for a
 * caller that has just read it. */
gboolean store_reader_begin_at(StoreReader *reader, gint64 now, GError **error);
/* Exact-key get inside begin/end (key NUL-terminated at key_len); entry
 * strings point into the map. */
gboolean store_reader_get(StoreReader *reader, const char *key, size_t key_len, Entry *entry);
void store_reader_end(StoreReader *reader);

/* Drop the map after a fault in it (the file was changed in place): the
 * list counts as unusable, with why, until the file under the name
 * changes again.  Must not touch the old map. */
void store_reader_abandon(StoreReader *reader, const char *why);

/* The file currently mapped: its inode (0: none), its records, when it
 * was mapped (g_get_real_time) and its mtime (seconds); for the daemon's
 * log and metrics. */
ino_t store_reader_inode(const StoreReader *reader);
guint64 store_reader_entries(const StoreReader *reader);
gint64 store_reader_loaded_at(const StoreReader *reader);
gint64 store_reader_modified(const StoreReader *reader);

#endif
