/*
 * storeformat.h - what the store's three files share: store.c (the
 * common parts: errors, names, the writers' lock, a pass over every
 * record), storewrite.c (writing a list, and the diff against the one it
 * replaces) and storeread.c (StoreReader).  Not for other modules:
 * store.h is the contract.
 */
#ifndef TLSPOLICYD_STOREFORMAT_H
#define TLSPOLICYD_STOREFORMAT_H

#include <lmdb.h>
#include <signal.h>
#include <sys/stat.h>

#include "store.h"

static const char format_key[] = "\0tlsmap-format";
#define FORMAT_KEY_LEN (sizeof(format_key) - 1)
/* "addresses parents domains": lets readers skip lookups that cannot match. */
static const char counts_key[] = "\0tlsmap-counts";
#define COUNTS_KEY_LEN (sizeof(counts_key) - 1)
/* Readers keep the parent keys of a list in memory up to this many. */
#define PARENT_SET_MAX 100000

/* Metadata keys start with NUL, which no list key does, and sort first. */
static inline gboolean is_meta_key(const MDB_val *k)
{
    return k->mv_size > 0 && ((const char *)k->mv_data)[0] == 0;
}


/* error set from an LMDB return code; FALSE. */
gboolean store_lmdb_fail(GError **error, StoreErrorCode code, const char *path, const char *what, int rc);
/* SIGINT, SIGTERM and SIGHUP: what tlsmap catches to remove its temporary. */
void store_interrupt_signals(sigset_t *set);
/* The compiled list at path opened read-only, its format checked. */
gboolean store_open_environment(const char *path, MDB_env **envp, MDB_txn **txnp, MDB_dbi *dbi, struct stat *st,
                                GError **error);

/* A read-only pass over every list record in key order, metadata skipped. */
typedef struct {
    MDB_env *env;
    MDB_txn *txn;
    MDB_cursor *cursor;
    MDB_cursor_op op;
} ListScan;

gboolean store_scan_open(const char *path, ListScan *scan, GError **error);
/* The next record; FALSE at the end. */
gboolean store_scan_next(ListScan *scan, MDB_val *k, MDB_val *v);
void store_scan_close(ListScan *scan);
/* Every record of an open scan into list; closes the scan. */
gboolean store_load_scan(ListScan *scan, const char *path, List *list, GError **error);

#endif
