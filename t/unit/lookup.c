/* lookup.c - unit tests of the compiled store and the shared lookup
 * (maps/store.c, maps/lookup.c) on real LMDB files in a temp directory. */
#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <lmdb.h>

#include "lookup.h"
#include "source.h"

static char *tmpdir;

static char *compile(const char *name, const char *text)
{
    g_autoptr(List) list = list_new(name);
    g_assert_true(source_parse(list, text, strlen(text), NULL));
    char *path = g_build_filename(tmpdir, name, NULL);
    GError *error = NULL;
    g_assert_true(store_write(path, list->records, NULL, &error));
    g_assert_no_error(error);
    return path;
}

static const char list_text[] =
    "example.com            encrypt\n"
    ".example.com           verify\n"
    "deep.sub.example.com   secure\n"
    "exempt.example.com     none\n"
    "boss@example.com       dane\n"
    "boss+vip@example.com   dane-only\n"
    ".org                   encrypt direction=inbound\n"
    "in.example.net         verify direction=inbound\n"
    ".example.net           encrypt direction=outbound\n"
    "xn--bcher-kva.de       encrypt\n";

typedef struct {
    const char *name, *query;
    Direction direction;
    const char *want_key;   /* NULL: no match */
    TlsLevel want_level;
} LookupCase;

static const LookupCase cases[] = {
    {"exact domain", "example.com", DIRECTION_BOTH, "example.com", LEVEL_ENCRYPT},
    {"address in domain", "joe@example.com", DIRECTION_BOTH, "example.com", LEVEL_ENCRYPT},
    {"case folded", "JOE@EXAMPLE.COM", DIRECTION_BOTH, "example.com", LEVEL_ENCRYPT},
    {"trailing dot", "joe@example.com.", DIRECTION_BOTH, "example.com", LEVEL_ENCRYPT},
    {"parent: subdomain", "joe@mx.example.com", DIRECTION_BOTH, ".example.com", LEVEL_VERIFY},
    {"parent: deeper", "a.b.c.example.com", DIRECTION_BOTH, ".example.com", LEVEL_VERIFY},
    {"exact beats parent", "x@deep.sub.example.com", DIRECTION_BOTH, "deep.sub.example.com", LEVEL_SECURE},
    {"parent of exact not exact", "x@more.deep.sub.example.com", DIRECTION_BOTH, ".example.com", LEVEL_VERIFY},
    {"exemption", "x@exempt.example.com", DIRECTION_BOTH, "exempt.example.com", LEVEL_NONE},
    {"address beats domain", "boss@example.com", DIRECTION_BOTH, "boss@example.com", LEVEL_DANE},
    {"extension exact", "boss+vip@example.com", DIRECTION_BOTH, "boss+vip@example.com", LEVEL_DANE_ONLY},
    {"extension stripped", "boss+other@example.com", DIRECTION_BOTH, "boss@example.com", LEVEL_DANE},
    {"other delimiter not stripped", "boss-x@example.com", DIRECTION_BOTH, "example.com", LEVEL_ENCRYPT},
    {"leading delimiter kept", "+boss@example.com", DIRECTION_BOTH, "example.com", LEVEL_ENCRYPT},
    {"tld parent", "x@anything.org", DIRECTION_BOTH, ".org", LEVEL_ENCRYPT},
    {"tld parent inbound", "x@anything.org", DIRECTION_INBOUND, ".org", LEVEL_ENCRYPT},
    {"tld parent not outbound", "x@anything.org", DIRECTION_OUTBOUND, NULL, 0},
    {"direction skips to parent", "x@in.example.net", DIRECTION_OUTBOUND, ".example.net", LEVEL_ENCRYPT},
    {"direction exact inbound", "x@in.example.net", DIRECTION_INBOUND, "in.example.net", LEVEL_VERIFY},
    {"parent needs subdomain", "x@example.net", DIRECTION_BOTH, NULL, 0},
    {"idn query", "info@B\xc3\xbc" "cher.de", DIRECTION_BOTH, "xn--bcher-kva.de", LEVEL_ENCRYPT},
    {"a-label query", "info@xn--bcher-kva.de", DIRECTION_BOTH, "xn--bcher-kva.de", LEVEL_ENCRYPT},
    {"unlisted", "x@example.org.uk", DIRECTION_BOTH, NULL, 0},
    {"bare local part", "postmaster", DIRECTION_BOTH, NULL, 0},
    {"empty local part", "@example.com", DIRECTION_BOTH, "example.com", LEVEL_ENCRYPT},
    {"suffix is not parent", "x@notexample.com", DIRECTION_BOTH, NULL, 0},
    {"quoted local part", "\"a b\"@example.com", DIRECTION_BOTH, "example.com", LEVEL_ENCRYPT},
    {"@ in a quoted local part", "\"a@b\"@mx.example.com", DIRECTION_BOTH, ".example.com", LEVEL_VERIFY},
    {"control bytes in the local part", "a\x01\x7f\x1b@example.com", DIRECTION_BOTH, "example.com", LEVEL_ENCRYPT},
    {"invalid utf-8 local part", "a\xff\xfe@example.com", DIRECTION_BOTH, "example.com", LEVEL_ENCRYPT},
};

/* Queries that cannot be looked up at all: the caller fails closed. */
static void test_lookup_unusable(void)
{
    static const char *const queries[] = {"", "user@", "user@.", "x@b\xff" "d.example", "..."};
    g_autofree char *path = compile("unusable.lmdb", list_text);
    StoreReader *reader = store_reader_new(path);
    g_assert_true(store_reader_begin(reader, NULL));
    for (guint i = 0; i < G_N_ELEMENTS(queries); i++) {
        LookupMatch match;
        g_test_message("query %u", i);
        g_assert_cmpint(lookup_find(reader, queries[i], "+", DIRECTION_BOTH, &match), ==, LOOKUP_UNUSABLE);
    }
    store_reader_end(reader);
    store_reader_free(reader);
}

/* Long local parts never skip a rule (issue: a 308-byte local part at a
 * listed domain got "not listed"), and an extension of any length still
 * finds the address without it. */
static void test_lookup_long_local_parts(void)
{
    g_autofree char *path = compile("long.lmdb", list_text);
    StoreReader *reader = store_reader_new(path);
    g_assert_true(store_reader_begin(reader, NULL));
    LookupMatch match;
    for (guint len = 60; len <= 4000; len = len * 3 / 2) {
        g_autofree char *local = g_strnfill(len, 'a');
        g_autofree char *q1 = g_strdup_printf("%s@example.com", local);
        g_autofree char *q2 = g_strdup_printf("%s@mx.example.com", local);
        g_autofree char *q3 = g_strdup_printf("boss+%s@example.com", local);
        g_autofree char *q4 = g_strdup_printf("x@%s.example.com", local);  /* a long label */
        g_test_message("length %u", len);
        g_assert_cmpint(lookup_find(reader, q1, "+", DIRECTION_BOTH, &match), ==, LOOKUP_FOUND);
        g_assert_cmpstr(match.key, ==, "example.com");
        g_assert_cmpint(lookup_find(reader, q2, "+", DIRECTION_BOTH, &match), ==, LOOKUP_FOUND);
        g_assert_cmpstr(match.key, ==, ".example.com");
        g_assert_cmpint(lookup_find(reader, q3, "+", DIRECTION_BOTH, &match), ==, LOOKUP_FOUND);
        g_assert_cmpstr(match.key, ==, "boss@example.com");
        g_assert_cmpint(lookup_find(reader, q4, "+", DIRECTION_BOTH, &match), ==, LOOKUP_FOUND);
        g_assert_cmpstr(match.key, ==, ".example.com");
    }
    store_reader_end(reader);
    store_reader_free(reader);
}

/* Property: for random local parts (0-1000 bytes of anything Postfix can
 * pass in an attribute: every byte but NUL and newline), at a domain with
 * no address keys, the match is the domain's own. */
static void test_lookup_property_local_parts(void)
{
    static const char *const domains[] = {"example.com", "mx.example.com", "x.anything.org", "unlisted.example"};
    g_autofree char *path = compile("property.lmdb", list_text);
    StoreReader *reader = store_reader_new(path);
    GRand *rand = g_rand_new_with_seed(20261125);
    g_assert_true(store_reader_begin(reader, NULL));
    for (guint round = 0; round < 4000; round++) {
        guint len = (guint)g_rand_int_range(rand, 0, 1001);
        g_autoptr(GString) query = g_string_new(NULL);
        for (guint i = 0; i < len; i++) {
            char c;
            do
                c = (char)g_rand_int_range(rand, 1, 256);
            while (c == '\n');
            g_string_append_c(query, c);
        }
        const char *domain = domains[round % G_N_ELEMENTS(domains)];
        g_string_append_printf(query, "@%s", domain);
        LookupMatch got, want;
        LookupStatus got_status = lookup_find(reader, query->str, "+", DIRECTION_BOTH, &got);
        LookupStatus want_status = lookup_find(reader, domain, "+", DIRECTION_BOTH, &want);
        if (got_status != want_status || (got_status == LOOKUP_FOUND && strcmp(got.key, want.key) != 0))
            g_error("round %u: local part of %u bytes at %s: got %d %s, want %d %s", round, len, domain,
                    got_status, got_status == LOOKUP_FOUND ? got.key : "-", want_status,
                    want_status == LOOKUP_FOUND ? want.key : "-");
    }
    store_reader_end(reader);
    store_reader_free(reader);
    g_rand_free(rand);
}

static void test_lookup_table(void)
{
    g_autofree char *path = compile("table.lmdb", list_text);
    StoreReader *reader = store_reader_new(path);
    GError *error = NULL;

    g_assert_true(store_reader_begin(reader, &error));
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        const LookupCase *c = &cases[i];
        LookupMatch match;
        g_test_message("case %s", c->name);
        gboolean found = lookup_find(reader, c->query, "+", c->direction, &match) == LOOKUP_FOUND;
        if (!c->want_key) {
            if (found)
                g_error("case %s: unexpected match %s", c->name, match.key);
            continue;
        }
        if (!found)
            g_error("case %s: no match", c->name);
        g_assert_cmpstr(match.key, ==, c->want_key);
        g_assert_cmpint(match.entry.level, ==, c->want_level);
    }
    store_reader_end(reader);
    store_reader_free(reader);
}

static void test_delimiter_set(void)
{
    g_autofree char *path = compile("delim.lmdb", list_text);
    StoreReader *reader = store_reader_new(path);
    LookupMatch match;
    g_assert_true(store_reader_begin(reader, NULL));
    g_assert_cmpint(lookup_find(reader, "boss-x@example.com", "+-", DIRECTION_BOTH, &match), ==, LOOKUP_FOUND);
    g_assert_cmpstr(match.key, ==, "boss@example.com");
    g_assert_cmpint(lookup_find(reader, "boss+vip@example.com", "", DIRECTION_BOTH, &match), ==, LOOKUP_FOUND);
    g_assert_cmpstr(match.key, ==, "boss+vip@example.com");
    g_assert_cmpint(lookup_find(reader, "boss+x@example.com", "", DIRECTION_BOTH, &match), ==, LOOKUP_FOUND);
    g_assert_cmpstr(match.key, ==, "example.com");
    store_reader_end(reader);
    store_reader_free(reader);
}

static gboolean maps_deleted_file(void)
{
    g_autofree char *maps = NULL;
    g_assert_true(g_file_get_contents("/proc/self/maps", &maps, NULL, NULL));
    return strstr(maps, "(deleted)") != NULL;
}

/* A reader notices a renamed-in list on its next begin(), and lets go of
 * the old file: no "(deleted)" mapping stays behind. */
static void test_reader_follows_rename(void)
{
    g_autofree char *path = compile("follow.lmdb", "a.example encrypt\n");
    StoreReader *reader = store_reader_new(path);
    LookupMatch match;

    g_assert_true(store_reader_begin(reader, NULL));
    g_assert_cmpint(lookup_find(reader, "a.example", "", DIRECTION_BOTH, &match), ==, LOOKUP_FOUND);
    g_assert_cmpint(match.entry.level, ==, LEVEL_ENCRYPT);
    store_reader_end(reader);
    ino_t first = store_reader_inode(reader);

    g_free(compile("follow.lmdb", "a.example verify\nb.example encrypt\n"));
    g_assert_true(store_reader_begin(reader, NULL));
    g_assert_cmpuint(store_reader_inode(reader), !=, first);
    g_assert_cmpint(lookup_find(reader, "a.example", "", DIRECTION_BOTH, &match), ==, LOOKUP_FOUND);
    g_assert_cmpint(match.entry.level, ==, LEVEL_VERIFY);
    g_assert_cmpint(lookup_find(reader, "b.example", "", DIRECTION_BOTH, &match), ==, LOOKUP_FOUND);
    store_reader_end(reader);
    g_assert_false(maps_deleted_file());
    store_reader_free(reader);
}

static void expect_error(const char *path, int code, const char *fragment)
{
    StoreReader *reader = store_reader_new(path);
    GError *error = NULL;
    g_assert_false(store_reader_begin(reader, &error));
    g_assert_error(error, STORE_ERROR, code);
    if (!strstr(error->message, fragment))
        g_error("error \"%s\" lacks \"%s\"", error->message, fragment);
    g_clear_error(&error);
    /* the same failure again, from the cache, with the same message */
    g_assert_false(store_reader_begin(reader, &error));
    g_assert_error(error, STORE_ERROR, code);
    g_clear_error(&error);
    store_reader_free(reader);
}

static void test_reader_errors(void)
{
    g_autofree char *missing = g_build_filename(tmpdir, "missing.lmdb", NULL);
    expect_error(missing, STORE_ERROR_MISSING, "no compiled list");

    g_autofree char *garbage = g_build_filename(tmpdir, "garbage.lmdb", NULL);
    g_autofree char *junk = g_strnfill(20000, 'x');
    g_assert_true(g_file_set_contents(garbage, junk, -1, NULL));
    expect_error(garbage, STORE_ERROR_INVALID, "cannot open compiled list");

    g_autofree char *empty = g_build_filename(tmpdir, "empty.lmdb", NULL);
    g_assert_true(g_file_set_contents(empty, "", 0, NULL));
    expect_error(empty, STORE_ERROR_INVALID, "compiled list");

    /* truncated: cut the file below the pages its meta page claims */
    g_autofree char *big = NULL;
    {
        g_autoptr(GString) text = g_string_new(NULL);
        for (int i = 0; i < 3000; i++)
            g_string_append_printf(text, "d%d.example encrypt\n", i);
        big = compile("truncated.lmdb", text->str);
    }
    g_assert_cmpint(truncate(big, 16384), ==, 0);
    expect_error(big, STORE_ERROR_INVALID, "truncated");
}

/* A plain LMDB file without our format record, and one from the future. */
static void write_raw_lmdb(const char *path, const char *format)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    g_assert_cmpint(mdb_env_create(&env), ==, 0);
    g_assert_cmpint(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOLOCK, 0600), ==, 0);
    g_assert_cmpint(mdb_txn_begin(env, NULL, 0, &txn), ==, 0);
    g_assert_cmpint(mdb_dbi_open(txn, NULL, 0, &dbi), ==, 0);
    MDB_val k = {14, "\0tlsmap-format"}, v = {strlen(format), (void *)format};
    if (*format)
        g_assert_cmpint(mdb_put(txn, dbi, &k, &v, 0), ==, 0);
    MDB_val k2 = {9, "a.example"}, v2 = {3, "xyz"};
    g_assert_cmpint(mdb_put(txn, dbi, &k2, &v2, 0), ==, 0);
    g_assert_cmpint(mdb_txn_commit(txn), ==, 0);
    mdb_env_close(env);
}

static void test_format_version(void)
{
    g_autofree char *foreign = g_build_filename(tmpdir, "foreign.lmdb", NULL);
    write_raw_lmdb(foreign, "");
    expect_error(foreign, STORE_ERROR_INVALID, "not a compiled tlsmap list");

    g_autofree char *future = g_build_filename(tmpdir, "future.lmdb", NULL);
    write_raw_lmdb(future, "2");
    expect_error(future, STORE_ERROR_FORMAT, "list format 2 is not supported");
}

/*
 * A reader under load while whole new lists land: each version of the list
 * gives all its 200 keys one level, alternating; every read transaction must
 * see one version only (200 equal answers), never a mix or an error.
 */
/* A list renamed away and back while a reader looks (an admin's mv):
 * once it is back, the reader uses it.  A failed open in the window
 * between the reader's stat and its open was remembered against the
 * file's stat, and the list stayed "missing" after it came back. */
static void test_renamed_away_and_back(void)
{
    g_autofree char *path = compile("away.lmdb", "away.example encrypt\n");
    g_autofree char *aside = g_strconcat(path, ".aside", NULL);
    StoreReader *reader = store_reader_new(path);
    for (int round = 0; round < 300; round++) {
        pid_t mover = fork();
        g_assert_cmpint(mover, >=, 0);
        if (mover == 0) {
            for (int i = 0; i < 20; i++) {
                if (rename(path, aside) < 0 || rename(aside, path) < 0)
                    _exit(1);
            }
            _exit(0);
        }
        for (int i = 0; i < 20; i++) {
            if (store_reader_begin(reader, NULL))
                store_reader_end(reader);
        }
        int status;
        g_assert_cmpint(waitpid(mover, &status, 0), ==, mover);
        g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        GError *error = NULL;
        if (!store_reader_begin(reader, &error))
            g_error("round %d: the list is back, the reader says: %s", round, error->message);
        store_reader_end(reader);
    }
    store_reader_free(reader);
}

/* The audit diff compares with the list the name had when the change
 * began, however soon the new one is renamed over it (the diff's thread
 * opened the name itself, and sometimes found the new list there). */
static void test_diff_sees_the_old_list(void)
{
    g_autoptr(List) next = list_new("next");
    g_assert_true(source_parse(next, "b.example encrypt\n", 18, NULL));
    for (int round = 0; round < 200; round++) {
        g_autofree char *path = compile("diff.lmdb", "a.example encrypt\n");
        StoreDiffJob *job = store_diff_start(path, next->records);
        g_assert_true(store_write(path, next->records, NULL, NULL));
        StoreDiff diff = store_diff_finish(job);
        g_assert_cmpuint(diff.removed, ==, 1);
        g_assert_cmpuint(diff.added, ==, 1);
        g_ptr_array_unref(diff.keys);
    }
}

/* A map too small for the records (the estimate is generous; a tiny
 * one forces it): the file is grown and written again, every key found. */
static void test_map_full_regrow(void)
{
    g_autoptr(GString) text = g_string_new(NULL);
    for (int i = 0; i < 5000; i++)
        g_string_append_printf(text, "d%d.example verify notice=\"%0200d\"\n", i, i);
    g_autoptr(List) list = list_new("big");
    g_assert_true(source_parse(list, text->str, text->len, NULL));
    g_autofree char *path = g_build_filename(tmpdir, "regrow.lmdb", NULL);
    GError *error = NULL;
    g_assert_true(store_write_sized(path, list->records, NULL, 64 << 10, &error));
    g_assert_no_error(error);
    struct stat st;
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_size, >, 1 << 20);  /* far past the 64 KiB it started with */
    StoreReader *reader = store_reader_new(path);
    g_assert_true(store_reader_begin(reader, NULL));
    for (int i = 0; i < 5000; i += 499) {
        g_autofree char *key = g_strdup_printf("d%d.example", i);
        Entry e;
        g_assert_true(store_reader_get(reader, key, strlen(key), &e));
        g_assert_cmpint(e.level, ==, LEVEL_VERIFY);
    }
    store_reader_end(reader);
    store_reader_free(reader);
}

static void test_reader_under_concurrent_writes(void)
{
    g_autofree char *path = g_build_filename(tmpdir, "busy.lmdb", NULL);
    g_autoptr(GString) a = g_string_new(NULL), b = g_string_new(NULL);
    for (int i = 0; i < 200; i++) {
        g_string_append_printf(a, "k%d.example encrypt\n", i);
        g_string_append_printf(b, "k%d.example verify\n", i);
    }
    g_free(compile("busy.lmdb", a->str));

    pid_t writer = fork();
    g_assert_cmpint(writer, >=, 0);
    if (writer == 0) {
        for (int n = 0; n < 300; n++) {
            g_autoptr(List) list = list_new("busy");
            GString *text = n % 2 ? a : b;
            source_parse(list, text->str, text->len, NULL);
            if (!store_write(path, list->records, NULL, NULL))
                _exit(1);
        }
        _exit(0);
    }

    StoreReader *reader = store_reader_new(path);
    guint reads = 0, versions_seen = 0;
    ino_t last = 0;
    int status;
    while (waitpid(writer, &status, WNOHANG) == 0 || reads == 0) {
        GError *error = NULL;
        if (!store_reader_begin(reader, &error))
            g_error("reader failed during updates: %s", error->message);
        if (store_reader_inode(reader) != last)
            versions_seen++, last = store_reader_inode(reader);
        TlsLevel first = LEVEL_COUNT;
        for (int i = 0; i < 200; i++) {
            char key[32];
            LookupMatch match;
            g_snprintf(key, sizeof key, "x@k%d.example", i);
            g_assert_cmpint(lookup_find(reader, key, "+", DIRECTION_BOTH, &match), ==, LOOKUP_FOUND);
            if (first == LEVEL_COUNT)
                first = match.entry.level;
            g_assert_cmpint(match.entry.level, ==, first);
        }
        store_reader_end(reader);
        reads++;
    }
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_assert_true(store_reader_begin(reader, NULL));
    store_reader_end(reader);
    g_assert_false(maps_deleted_file());
    g_test_message("%u consistent reads over %u list versions", reads, versions_seen);
    g_assert_cmpuint(versions_seen, >, 1);
    store_reader_free(reader);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("tlsmap-test-XXXXXX", NULL);
    g_assert_nonnull(tmpdir);
    g_test_add_func("/lookup/table", test_lookup_table);
    g_test_add_func("/lookup/delimiters", test_delimiter_set);
    g_test_add_func("/lookup/unusable", test_lookup_unusable);
    g_test_add_func("/lookup/long_local_parts", test_lookup_long_local_parts);
    g_test_add_func("/lookup/property_local_parts", test_lookup_property_local_parts);
    g_test_add_func("/store/follows_rename", test_reader_follows_rename);
    g_test_add_func("/store/errors", test_reader_errors);
    g_test_add_func("/store/format_version", test_format_version);
    g_test_add_func("/store/concurrent_writes", test_reader_under_concurrent_writes);
    g_test_add_func("/store/map_full_regrow", test_map_full_regrow);
    g_test_add_func("/store/diff_sees_the_old_list", test_diff_sees_the_old_list);
    g_test_add_func("/store/renamed_away_and_back", test_renamed_away_and_back);
    int rc = g_test_run();
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
