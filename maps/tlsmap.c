/*
 * tlsmap - compile and maintain tlspolicyd lists, the way postmap(1) does
 * for Postfix tables.
 *
 *   tlsmap FILE              compile FILE into FILE.lmdb (atomic)
 *   tlsmap -c FILE           check FILE only
 *   tlsmap -q KEY|- FILE     what the daemon would match (exit 1: no match)
 *   tlsmap -d KEY|- FILE     delete keys from FILE.lmdb
 *   tlsmap -i FILE           add/replace entries read from stdin
 *   tlsmap -s FILE           dump FILE.lmdb in source syntax
 *
 * -d and -i change the compiled list only; the next full compile from the
 * source file undoes them, as with postmap.  Exit status: 0 success, 1
 * "not found" for -q/-d, 2 any error (nothing was changed).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "logging.h"
#include "lookup.h"
#include "postfixsite.h"
#include "source.h"
#include "store.h"
#include "tlsrules.h"

#define EXIT_NOT_FOUND 1
#define EXIT_ERROR 2

static struct {
    char *query, *delete_key, *direction, *delimiters, *probe_with;
    gboolean insert, show, check, verbose, probe, strict;
    gint wait;
} opt = {.delimiters = NULL, .wait = 30};

static int fail(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tlsmap: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_ERROR;
}

static int fail_error(GError *error)
{
    int rc = fail("%s", error->message);
    g_error_free(error);
    return rc;
}

/* The local Postfix (MAIL_CONFIG, else /etc/postfix), read once; NULL
 * when there is none to read. */
static const PostfixSite *local_postfix(void)
{
    static PostfixSite *site;
    static gboolean tried;
    if (tried)
        return site;
    tried = TRUE;
    GError *error = NULL;
    site = postfix_site_read(g_getenv("MAIL_CONFIG"), &error);
    if (!site && !g_error_matches(error, POSTFIX_SITE_ERROR, POSTFIX_SITE_ERROR_NO_CONFIG))
        fprintf(stderr, "tlsmap: warning: local domains not checked: %s\n", error->message);
    g_clear_error(&error);
    return site;
}

/* Entries that do what their writer may not expect: compiled all the
 * same, each said with its file and line (the first WARNINGS_SHOWN; a
 * generated list of thousands would bury the rest of the output). */
#define WARNINGS_SHOWN 20
static guint warnings_said;

static void warn(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static void warn(const char *fmt, ...)
{
    if (warnings_said++ >= WARNINGS_SHOWN)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static void warn_surprises(const List *list)
{
    warnings_said = 0;
    for (guint i = 0; i < list->records->len; i++) {
        const ListRecord *rec = &g_array_index(list->records, ListRecord, i);
        const Entry *e = &rec->value->entry;
        if (!rec->line || entry_level_is_exemption(e->level))
            continue;
        if (e->direction == DIRECTION_BOTH && (e->level == LEVEL_VERIFY || e->level == LEVEL_SECURE)
            && e->mode != MODE_REPORT)
            warn("tlsmap: %s, line %u: warning: %s %s also governs inbound mail (direction=both, the "
                            "default): mail from %s is refused unless its server presents a CA-signed client "
                            "certificate; direction=outbound for outbound only, or mode=report to see first\n",
                    list->name, rec->line, rec->key, entry_level_name(e->level), rec->key);
        const PostfixSite *site = entry_covers(e, DIRECTION_OUTBOUND) && rec->key[0] != '.' ? local_postfix() : NULL;
        if (site && postfix_site_is_local(site, key_domain(rec->key)))
            warn("tlsmap: %s, line %u: warning: %s is a local or virtual domain of the Postfix in %s: "
                            "its mail is delivered there, never routed out at %s (direction=inbound says so)\n",
                    list->name, rec->line, rec->key, site->directory, entry_level_name(e->level));
    }
    if (warnings_said > WARNINGS_SHOWN)
        fprintf(stderr, "tlsmap: %s: %u more warnings like these not shown\n", list->name,
                warnings_said - WARNINGS_SHOWN);
}

/* Parse text into list; FALSE after printing the errors. */
static gboolean parse_or_report(List *list, const char *text, size_t len)
{
    g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
    if (source_parse(list, text, len, errors)) {
        warn_surprises(list);
        return TRUE;
    }
    for (guint i = 0; i < errors->len; i++)
        fprintf(stderr, "tlsmap: %s\n", (const char *)errors->pdata[i]);
    fail("%s: %u error%s, nothing changed", list->name, errors->len, errors->len == 1 ? "" : "s");
    return FALSE;
}

static void print_record(FILE *out, const char *prefix, const char *key, const Entry *entry)
{
    g_autoptr(GString) line = g_string_new(NULL);
    entry_format(entry, line);
    fprintf(out, "%s%s\t%s\n", prefix, key, line->str);
}

/* Read all of stdin as text; NULL on error. */
static char *read_stdin(size_t *len)
{
    g_autoptr(GString) text = g_string_new(NULL);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
        g_string_append_len(text, buf, (gssize)n);
    if (ferror(stdin))
        return NULL;
    *len = text->len;
    return g_string_free(g_steal_pointer(&text), FALSE);
}

/* Keys named on the command line, or one per line on stdin for "-";
 * NULL (after saying why) for stdin with a NUL byte, which would cut a
 * key short ("a.example\0junk" named a.example), as compile and -i
 * refuse it. */
static GPtrArray *keys_argument(const char *arg)
{
    GPtrArray *keys = g_ptr_array_new_with_free_func(g_free);
    if (strcmp(arg, "-") != 0) {
        g_ptr_array_add(keys, g_strdup(arg));
        return keys;
    }
    size_t len;
    g_autofree char *text = read_stdin(&len);
    const char *nul = text ? memchr(text, 0, len) : NULL;
    if (nul) {
        guint line = 1;
        for (const char *p = text; p < nul; p++)
            line += *p == '\n';
        fail("stdin, line %u: NUL byte in a key; nothing done", line);
        g_ptr_array_unref(keys);
        return NULL;
    }
    g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);
    for (char **l = lines; *l; l++) {
        g_strstrip(*l);
        if (**l && **l != '#')
            g_ptr_array_add(keys, g_strdup(*l));
    }
    return keys;
}

/* Write records under the writers' lock held by the caller; audit it. */
static int install(const char *source, const char *path, const GArray *records,
                   const struct stat *like, const char *action, const GPtrArray *keys)
{
    GError *error = NULL;
    StoreDiffJob *compare = store_diff_start(path, records);
    gboolean written = store_write(path, records, like, &error);
    StoreDiff diff = store_diff_finish(compare);
    if (!written) {
        g_ptr_array_unref(diff.keys);
        return fail_error(error);
    }
    /* -d and -i name the keys they were given; a compile, what differs */
    audit_record(action, source, &diff, keys ? keys : diff.keys);
    g_ptr_array_unref(diff.keys);
    return EXIT_SUCCESS;
}

/* Load the current compiled list, or an empty one if there is none yet. */
static gboolean load_current(const char *path, List *list, gboolean must_exist, GError **error)
{
    GError *err = NULL;
    if (store_load(path, list, &err))
        return TRUE;
    if (!must_exist && g_error_matches(err, STORE_ERROR, STORE_ERROR_MISSING)) {
        g_error_free(err);
        return TRUE;
    }
    g_propagate_error(error, err);
    return FALSE;
}

static int do_compile(const char *source, gboolean check_only)
{
    g_autofree char *path = store_compiled_path(source);
    g_autoptr(List) list = list_new(source);
    GError *error = NULL;
    struct stat st;

    if (stat(source, &st) < 0)
        return fail("%s: %s", source, g_strerror(errno));
    if (!S_ISREG(st.st_mode))  /* a FIFO would block the read forever */
        return fail("%s: not a regular file", source);
    GMappedFile *text = g_mapped_file_new(source, FALSE, &error);
    if (!text)
        return fail_error(error);
    gboolean parsed = parse_or_report(list, g_mapped_file_get_contents(text), g_mapped_file_get_length(text));
    g_mapped_file_unref(text);
    if (!parsed)
        return EXIT_ERROR;
    if (check_only) {
        printf("%s: %u entries, no errors\n", source, list->records->len);
        return EXIT_SUCCESS;
    }

    int lock = store_lock_writers(path, (guint)opt.wait, &error);
    if (lock < 0)
        return fail_error(error);
    int rc = install(source, path, list->records, &st, "compile", NULL);
    close(lock);
    return rc;
}

static int do_query(const char *source)
{
    g_autofree char *path = store_compiled_path(source);
    g_autoptr(GPtrArray) keys = keys_argument(opt.query);
    if (!keys)
        return EXIT_ERROR;
    StoreReader *reader = store_reader_new(path);
    Direction direction = DIRECTION_BOTH;
    GError *error = NULL;
    int found = 0, unusable = 0;

    if (opt.direction) {
        if (strcmp(opt.direction, "inbound") == 0)
            direction = DIRECTION_INBOUND;
        else if (strcmp(opt.direction, "outbound") == 0)
            direction = DIRECTION_OUTBOUND;
        else {
            store_reader_free(reader);
            return fail("-o takes inbound or outbound");
        }
    }
    if (!store_reader_begin(reader, &error)) {
        store_reader_free(reader);
        return fail_error(error);
    }
    gboolean many = strcmp(opt.query, "-") == 0;
    for (guint i = 0; i < keys->len; i++) {
        LookupMatch match;
        const char *query = keys->pdata[i];
        LookupStatus status = lookup_find(reader, query, opt.delimiters, direction, &match);
        if (status == LOOKUP_UNUSABLE) {
            /* the daemon tempfails such an address: say so, exit 2 */
            g_autofree char *shown = g_strescape(query, NULL);
            fprintf(stderr, "tlsmap: \"%.200s\": the domain cannot be converted; the daemon answers "
                            "451 (TEMP) for it\n", shown);
            unusable++;
            continue;
        }
        if (status == LOOKUP_NOT_LISTED)
            continue;
        found++;
        g_autofree char *prefix = many ? g_strconcat(query, "\t", NULL) : g_strdup("");
        print_record(stdout, prefix, match.key, &match.entry);
    }
    store_reader_end(reader);
    store_reader_free(reader);
    if (unusable)
        return EXIT_ERROR;
    return found ? EXIT_SUCCESS : EXIT_NOT_FOUND;
}

static int do_show(const char *source)
{
    g_autofree char *path = store_compiled_path(source);
    g_autoptr(List) list = list_new(path);
    GError *error = NULL;

    if (!store_load(path, list, &error))
        return fail_error(error);
    for (guint i = 0; i < list->records->len; i++) {
        const ListRecord *rec = &g_array_index(list->records, ListRecord, i);
        print_record(stdout, "", rec->key, &rec->value->entry);
    }
    return EXIT_SUCCESS;
}

/* -d: the new list is the old one without the named keys. */
static int do_delete(const char *source)
{
    g_autofree char *path = store_compiled_path(source);
    g_autoptr(List) old = list_new(path);
    g_autoptr(GPtrArray) raw = keys_argument(opt.delete_key);
    g_autoptr(GHashTable) doomed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GPtrArray) deleted = g_ptr_array_new();
    g_autoptr(GArray) kept = g_array_new(FALSE, FALSE, sizeof(ListRecord));
    GError *error = NULL;
    struct stat st;

    if (!raw)
        return EXIT_ERROR;
    for (guint i = 0; i < raw->len; i++) {
        const char *why;
        KeyKind kind;
        char key[KEY_MAX + 1];
        size_t len;
        if (!key_from_list(raw->pdata[i], key, &len, &kind, &why))
            return fail("%s: \"%s\"", why, (const char *)raw->pdata[i]);
        g_hash_table_add(doomed, g_strdup(key));
    }

    int lock = store_lock_writers(path, (guint)opt.wait, &error);
    if (lock < 0)
        return fail_error(error);
    int rc = EXIT_ERROR;
    if (!load_current(path, old, TRUE, &error) || stat(path, &st) < 0) {
        rc = error ? fail_error(error) : fail("%s: %s", path, g_strerror(errno));
        goto out;
    }
    for (guint i = 0; i < old->records->len; i++) {
        ListRecord *rec = &g_array_index(old->records, ListRecord, i);
        if (g_hash_table_contains(doomed, rec->key))
            g_ptr_array_add(deleted, (char *)rec->key);
        else
            g_array_append_val(kept, *rec);
    }
    rc = deleted->len == 0 ? EXIT_NOT_FOUND
                           : install(source, path, kept, &st, "delete", deleted);
out:
    close(lock);
    return rc;
}

/*
 * --probe: test each new outbound entry's destination with tlsprobe before
 * it goes in; a destination that cannot meet its level today is a
 * warning, or with --strict a refusal.  --probe-with gives the command
 * (default "tlsprobe"; more words are passed as options).
 */
static gboolean probe_outbound_entries(List *input)
{
    gboolean all_ok = TRUE;
    g_auto(GStrv) command = NULL;
    GError *error = NULL;
    if (!g_shell_parse_argv(opt.probe_with ? opt.probe_with : "tlsprobe", NULL, &command, &error)) {
        fprintf(stderr, "tlsmap: --probe-with: %s\n", error->message);
        g_error_free(error);
        return FALSE;
    }
    for (guint i = 0; i < input->records->len; i++) {
        const ListRecord *rec = &g_array_index(input->records, ListRecord, i);
        const Entry *e = &rec->value->entry;
        const char *domain = list_probe_domain(rec);
        if (!domain)
            continue;
        const char *level = tls_probe_level(e->level);
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        for (char **w = command; *w; w++)
            g_ptr_array_add(argv, *w);
        g_ptr_array_add(argv, "--level");
        g_ptr_array_add(argv, (char *)level);
        g_ptr_array_add(argv, (char *)domain);
        g_ptr_array_add(argv, NULL);
        int status = 0;
        if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                          NULL, NULL, NULL, NULL, &status, &error)) {
            fprintf(stderr, "tlsmap: cannot run %s: %s\n", command[0], error->message);
            g_clear_error(&error);
            all_ok = FALSE;
            continue;
        }
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 2;
        if (code == 0)
            continue;
        all_ok = FALSE;
        fprintf(stderr, "tlsmap: %s: %s %s: %s (tlsprobe --level %s %s)\n", opt.strict ? "error" : "warning",
                rec->key, entry_level_name(e->level),
                code == 1 ? "the destination cannot meet this level today" : "the destination could not be tested",
                level, domain);
    }
    return all_ok || !opt.strict;
}

/* On equal keys the input (new) wins. */
static void keep_newer(const ListRecord *old, const ListRecord *new, gpointer merged)
{
    g_array_append_val((GArray *)merged, *(new ? new : old));
}

/* -i: entries from stdin replace or join the old ones. */
static int do_insert(const char *source)
{
    g_autofree char *path = store_compiled_path(source);
    g_autoptr(List) old = list_new(path);
    g_autoptr(List) input = list_new("stdin");
    g_autoptr(GPtrArray) keys = g_ptr_array_new();
    g_autoptr(GArray) merged = g_array_new(FALSE, FALSE, sizeof(ListRecord));
    GError *error = NULL;
    struct stat st, *like = NULL;
    size_t len;
    g_autofree char *text = read_stdin(&len);

    if (!text)
        return fail("stdin: %s", g_strerror(errno));
    if (!parse_or_report(input, text, len))
        return EXIT_ERROR;
    if (opt.probe && !probe_outbound_entries(input))
        return fail("--strict: a destination cannot meet its level, nothing changed");

    int lock = store_lock_writers(path, (guint)opt.wait, &error);
    if (lock < 0)
        return fail_error(error);
    int rc = EXIT_ERROR;
    if (!load_current(path, old, FALSE, &error)) {
        rc = fail_error(error);
        goto out;
    }
    /* The new file takes the compiled list's owner and mode, or with none
     * yet the source file's, as a compile does; with neither, root's
     * 0600 would leave the daemon unable to read it: refuse. */
    if (stat(path, &st) == 0 || stat(source, &st) == 0) {
        like = &st;
    } else {
        rc = fail("%s: no compiled list and no source file to take the owner and mode from; "
                  "create %s (readable by the tlspolicyd group) first", path, source);
        goto out;
    }

    list_merge(old->records, input->records, keep_newer, merged);
    for (guint i = 0; i < input->records->len; i++)
        g_ptr_array_add(keys, (char *)g_array_index(input->records, ListRecord, i).key);
    rc = install(source, path, merged, like, "insert", keys);
out:
    close(lock);
    return rc;
}

static const GOptionEntry options[] = {
    {"query", 'q', 0, G_OPTION_ARG_FILENAME, &opt.query, "Show the entry the daemon would match for KEY (- reads keys from stdin)", "KEY"},
    {"direction", 'o', 0, G_OPTION_ARG_STRING, &opt.direction, "With -q: only entries covering inbound or outbound mail", "DIR"},
    {"delimiter", 'e', 0, G_OPTION_ARG_STRING, &opt.delimiters, "Recipient delimiter characters (default +)", "CHARS"},
    {"delete", 'd', 0, G_OPTION_ARG_FILENAME, &opt.delete_key, "Delete KEY from the compiled list (- reads keys from stdin)", "KEY"},
    {"insert", 'i', 0, G_OPTION_ARG_NONE, &opt.insert, "Add or replace entries read from stdin", NULL},
    {"show", 's', 0, G_OPTION_ARG_NONE, &opt.show, "Print the compiled list in source syntax", NULL},
    {"check", 'c', 0, G_OPTION_ARG_NONE, &opt.check, "Check FILE without writing anything", NULL},
    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &opt.verbose, "Also print audit records on stderr", NULL},
    {"probe", 0, 0, G_OPTION_ARG_NONE, &opt.probe, "With -i: test new outbound destinations with tlsprobe first", NULL},
    {"strict", 0, 0, G_OPTION_ARG_NONE, &opt.strict, "With --probe: refuse the change when a destination fails", NULL},
    {"probe-with", 0, 0, G_OPTION_ARG_STRING, &opt.probe_with, "The tlsprobe command to run (default tlsprobe)", "COMMAND"},
    {"wait", 'w', 0, G_OPTION_ARG_INT, &opt.wait, "Seconds to wait for another tlsmap's lock (default 30)", "SECONDS"},
    {NULL, 0, 0, 0, NULL, NULL, NULL},
};

/* A damaged compiled list (not just a truncated one) can make LMDB read
 * outside its map.  A diff of the old list carries on without it; any
 * other read ends tlsmap with a clean error, nothing changed. */
static char fault_message[4300];

static void on_fault(int sig)
{
    (void)sig;
    store_recover_from_fault();
    store_remove_temporary();
    (void)!write(STDERR_FILENO, fault_message, strlen(fault_message));
    _exit(EXIT_ERROR);
}

static void catch_faults(const char *source)
{
    g_autofree char *path = store_compiled_path(source);
    g_snprintf(fault_message, sizeof fault_message,
               "tlsmap: %s: the compiled list is damaged (reading it faulted); nothing changed, "
               "recompile it from the source file\n", path);
    struct sigaction sa = {.sa_handler = on_fault, .sa_flags = SA_NODEFER};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
}

/* Interrupted: take the temporary file along, then die of the signal. */
static void on_signal(int sig)
{
    store_remove_temporary();
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv)
{
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    g_autoptr(GOptionContext) context = g_option_context_new("FILE");
    GError *error = NULL;

    g_option_context_set_summary(context, "Compile and maintain tlspolicyd TLS lists (FILE is the "
                                          "source; the compiled list is FILE.lmdb).");
    g_option_context_add_main_entries(context, options, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error))
        return fail_error(error);
    if (argc != 2)
        return fail("expected exactly one FILE (try --help)");
    if (opt.wait < 0 || opt.wait > 3600)
        return fail("-w takes 0 to 3600 seconds");
    int modes = (opt.query != NULL) + (opt.delete_key != NULL) + opt.insert + opt.show + opt.check;
    if (modes > 1)
        return fail("-q, -d, -i, -s and -c exclude each other");
    if (!opt.delimiters)
        opt.delimiters = g_strdup("+");

    const char *source = argv[1];
    if (g_str_has_prefix(source, "lmdb:"))
        source += 5;
    logging_init("tlsmap", FALSE, opt.verbose);
    catch_faults(source);

    if (opt.query)
        return do_query(source);
    if (opt.delete_key)
        return do_delete(source);
    if (opt.insert)
        return do_insert(source);
    if (opt.show)
        return do_show(source);
    return do_compile(source, opt.check);
}
