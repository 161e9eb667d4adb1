/*
 * postfixsite.c - the local Postfix's routing parameters, through
 * postconf(1); see postfixsite.h.
 */
#include "postfixsite.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "escape.h"
#include "key.h"

G_DEFINE_QUARK(tlspolicyd-postfix-site-error-quark, postfix_site_error)

/* What decides where Postfix sends mail and how its smtp client checks
 * TLS: the daemon and tlsprobe read these, --check-postfix all of main.cf. */
static const char *const site_params[] = {
    "mail_version", "queue_directory", "myhostname",
    "relayhost", "default_transport", "relay_transport", "transport_maps",
    "sender_dependent_relayhost_maps", "sender_dependent_default_transport_maps",
    "mydestination", "virtual_alias_domains", "virtual_mailbox_domains", "relay_domains",
    "smtp_tls_CAfile", "smtp_tls_CApath", "tls_append_default_CA",
    "smtp_host_lookup", "smtp_dns_support_level", "disable_dns_lookups", "smtp_tcp_port",
    NULL,
};

/* The lists of domains Postfix is the final destination for. */
static const char *const local_domain_params[] = {"mydestination", "virtual_alias_domains",
                                                  "virtual_mailbox_domains", NULL};

/* Table types postmap -s can list, and the file each keeps its keys in. */
static const struct {
    const char *type, *suffix;
} listable[] = {
    {"hash", ".db"}, {"btree", ".db"}, {"lmdb", ".lmdb"}, {"cdb", ".cdb"},
    {"dbm", ".pag"}, {"sdbm", ".pag"}, {"texthash", ""},
};

typedef struct {
    char *path;
    gboolean exists;
    gint64 mtime_ns;
    dev_t dev;
    ino_t ino;
    off_t size;
} Watched;

static void watched_clear(gpointer p)
{
    g_free(((Watched *)p)->path);
}

static Watched watched_now(const char *path)
{
    struct stat st;
    Watched w = {.path = g_strdup(path)};
    if (stat(path, &st) == 0) {
        w.exists = TRUE;
        w.mtime_ns = (gint64)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        w.dev = st.st_dev;
        w.ino = st.st_ino;
        w.size = st.st_size;
    }
    return w;
}

static void watch(PostfixSite *site, const char *path)
{
    Watched w = watched_now(path);
    g_array_append_val(site->watched, w);
}

/* Postfix re-reads a configuration file modified within the last second,
 * 300 ms at a time, until it is older (util/dict.c, dict_load_file_xt):
 * postconf on a file just written stalls the caller for up to 2 s.  A
 * change is reported once the files are older than that, so the daemon's
 * postconf runs at once. */
#define SETTLED_NS (2 * (gint64)1000000000)

gboolean postfix_site_changed(const PostfixSite *site)
{
    gboolean changed = FALSE;
    gint64 settled = g_get_real_time() * 1000 - SETTLED_NS;
    for (guint i = 0; i < site->watched->len; i++) {
        const Watched *was = &g_array_index(site->watched, Watched, i);
        Watched now = watched_now(was->path);
        gboolean same = now.exists == was->exists && now.mtime_ns == was->mtime_ns && now.dev == was->dev
                        && now.ino == was->ino && now.size == was->size;
        gboolean young = now.exists && now.mtime_ns > settled;
        g_free(now.path);
        if (young)
            return FALSE;  /* still being written: ask again later */
        changed |= !same;
    }
    return changed;
}

void postfix_site_rewatch(PostfixSite *site)
{
    for (guint i = 0; i < site->watched->len; i++) {
        Watched *w = &g_array_index(site->watched, Watched, i);
        Watched now = watched_now(w->path);
        g_free(w->path);
        *w = now;
    }
}

char *postfix_site_postconf(const char *directory, const char *const *args, GError **error)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_ptr_array_add(argv, "postconf");
    if (directory && *directory) {
        g_ptr_array_add(argv, "-c");
        g_ptr_array_add(argv, (char *)directory);
    }
    for (const char *const *a = args; *a; a++)
        g_ptr_array_add(argv, (char *)*a);
    g_ptr_array_add(argv, NULL);
    g_autofree char *err_text = NULL;
    char *out_text = NULL;
    int status = 0;
    GError *spawn_error = NULL;
    if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out_text, &err_text,
                      &status, &spawn_error)) {
        g_set_error(error, POSTFIX_SITE_ERROR, POSTFIX_SITE_ERROR_POSTCONF, "cannot run postconf: %s",
                    spawn_error->message);
        g_error_free(spawn_error);
        return NULL;
    }
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_strchomp(err_text);
        char shown[1024];  /* postconf may quote main.cf: never raw bytes into a log */
        g_set_error(error, POSTFIX_SITE_ERROR, POSTFIX_SITE_ERROR_POSTCONF, "postconf%s%s failed: %s",
                    directory && *directory ? " -c " : "", directory && *directory ? directory : "",
                    *err_text ? text_escape(err_text, shown, sizeof shown) : "(no message)");
        g_free(out_text);
        return NULL;
    }
    return out_text;
}

void postfix_site_parse_assignments(const char *text, GHashTable *table)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        char *eq = strstr(*l, " = ");
        char *bare = eq ? NULL : g_str_has_suffix(*l, " =") ? *l + strlen(*l) - 2 : NULL;
        if (!eq && !bare)
            continue;
        char *cut = eq ? eq : bare;
        g_hash_table_insert(table, g_strndup(*l, (gsize)(cut - *l)), g_strdup(eq ? eq + 3 : ""));
    }
}

const char *postfix_site_param(const PostfixSite *site, const char *name)
{
    const char *v = g_hash_table_lookup(site->params, name);
    return v ? v : "";
}

/* One domain name or ".parent" pattern, folded as list keys are. */
static void add_domain(PostfixSite *site, const char *name)
{
    gboolean parent = name[0] == '.';
    char buf[512];
    char *heap = NULL;
    const char *folded = key_fold_domain(name + parent, buf, sizeof buf, &heap);
    if (folded)
        g_hash_table_add(site->local_domains, g_strconcat(parent ? "." : "", folded, NULL));
    g_free(heap);
}

static void add_element(PostfixSite *site, const char *param, const char *element, int depth);

/* The keys of a table Postfix looks domains up in ("hash:/etc/postfix/vd"):
 * those without '@' are domains (address keys never match a domain). */
static void add_table(PostfixSite *site, const char *param, const char *table)
{
    const char *spec = g_str_has_prefix(table, "proxy:") ? table + 6 : table;
    const char *colon = strchr(spec, ':');
    g_autofree char *type = g_strndup(spec, (gsize)(colon - spec));
    const char *suffix = NULL;
    for (guint i = 0; i < G_N_ELEMENTS(listable) && !suffix; i++)
        if (strcmp(listable[i].type, type) == 0)
            suffix = listable[i].suffix;
    if (!suffix || colon[1] != '/') {
        g_ptr_array_add(site->unfollowed, g_strdup_printf("%s: %s", param, table));
        return;
    }
    const char *path = colon + 1;
    g_autofree char *stored = g_strconcat(path, suffix, NULL);
    watch(site, stored);
    g_autofree char *text = NULL;
    if (strcmp(type, "texthash") == 0) {
        g_file_get_contents(path, &text, NULL, NULL);
    } else {
        const char *argv[] = {"postmap", "-c", site->directory, "-s", spec, NULL};
        int status = 0;
        if (g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                         &text, NULL, &status, NULL)
            && !g_spawn_check_wait_status(status, NULL))
            g_clear_pointer(&text, g_free);
    }
    if (!text) {
        g_ptr_array_add(site->unfollowed, g_strdup_printf("%s: %s (unreadable)", param, table));
        return;
    }
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        char *key = g_strstrip(*l);
        if (!*key || *key == '#')
            continue;
        key[strcspn(key, " \t")] = 0;
        if (!strchr(key, '@'))
            add_domain(site, key);
    }
}

/* A file of domain-list elements, one or more per line. */
static void add_file(PostfixSite *site, const char *param, const char *path, int depth)
{
    g_autofree char *text = NULL;
    watch(site, path);
    if (depth > 2 || !g_file_get_contents(path, &text, NULL, NULL)) {
        g_ptr_array_add(site->unfollowed, g_strdup_printf("%s: %s (unreadable)", param, path));
        return;
    }
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++) {
        char *hash = strchr(*l, '#');
        if (hash)
            *hash = 0;
        g_auto(GStrv) words = g_strsplit_set(*l, " \t\r,", -1);
        for (char **w = words; *w; w++)
            if (**w)
                add_element(site, param, *w, depth + 1);
    }
}

static void add_element(PostfixSite *site, const char *param, const char *element, int depth)
{
    if (element[0] == '!' || element[0] == '{') {
        g_ptr_array_add(site->unfollowed, g_strdup_printf("%s: %s", param, element));
        return;
    }
    if (element[0] == '/') {
        add_file(site, param, element, depth);
        return;
    }
    if (strchr(element, ':') && element[0] != '[') {
        add_table(site, param, element);
        return;
    }
    if (element[0] != '[')  /* [address] literals are matched by Postfix's own interfaces */
        add_domain(site, element);
}

/* Postfix's "transport:nexthop" default_transport: the next hop, or "". */
static char *transport_nexthop(const char *transport)
{
    static const char *const not_delivering[] = {"error", "retry", "discard", NULL};
    const char *colon = strchr(transport, ':');
    if (!colon)
        return g_strdup("");
    g_autofree char *name = g_strndup(transport, (gsize)(colon - transport));
    return g_strdup(g_strv_contains(not_delivering, name) ? "" : colon + 1);
}

PostfixSite *postfix_site_read(const char *directory, GError **error)
{
    const char *env = g_getenv("MAIL_CONFIG");
    const char *dir = directory && *directory ? directory : env && *env ? env : "/etc/postfix";
    g_autofree char *main_cf = g_build_filename(dir, "main.cf", NULL);
    if (access(main_cf, F_OK) != 0) {
        g_set_error(error, POSTFIX_SITE_ERROR, POSTFIX_SITE_ERROR_NO_CONFIG, "no Postfix configuration: %s: %s",
                    main_cf, g_strerror(errno));
        return NULL;
    }
    g_autoptr(GPtrArray) args = g_ptr_array_new();
    g_ptr_array_add(args, "-x");
    for (const char *const *p = site_params; *p; p++)
        g_ptr_array_add(args, (char *)*p);
    g_ptr_array_add(args, NULL);
    PostfixSite *site = g_new0(PostfixSite, 1);
    site->directory = g_strdup(dir);
    site->params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    site->local_domains = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    site->unfollowed = g_ptr_array_new_with_free_func(g_free);
    site->watched = g_array_new(FALSE, FALSE, sizeof(Watched));
    g_array_set_clear_func(site->watched, watched_clear);
    watch(site, main_cf);
    g_autofree char *text = postfix_site_postconf(dir, (const char *const *)args->pdata, error);
    if (!text) {
        postfix_site_free(site);
        return NULL;
    }
    postfix_site_parse_assignments(text, site->params);
    for (const char *const *p = local_domain_params; *p; p++) {
        g_auto(GStrv) elements = g_strsplit_set(postfix_site_param(site, *p), " \t\r\n,", -1);
        for (char **e = elements; *e; e++)
            if (**e)
                add_element(site, *p, *e, 0);
    }
    site->relayhost = *postfix_site_param(site, "relayhost")
                          ? g_strdup(postfix_site_param(site, "relayhost"))
                          : transport_nexthop(postfix_site_param(site, "default_transport"));
    return site;
}

void postfix_site_free(PostfixSite *site)
{
    if (!site)
        return;
    g_free(site->directory);
    g_free(site->relayhost);
    g_hash_table_unref(site->params);
    g_hash_table_unref(site->local_domains);
    g_ptr_array_unref(site->unfollowed);
    g_array_unref(site->watched);
    g_free(site);
}

gboolean postfix_site_is_local(const PostfixSite *site, const char *domain)
{
    if (!site || g_hash_table_size(site->local_domains) == 0)
        return FALSE;
    char buf[512];
    char *heap = NULL;
    const char *folded = key_fold_domain(domain, buf, sizeof buf, &heap);
    gboolean local = FALSE;
    if (folded && g_hash_table_contains(site->local_domains, folded))
        local = TRUE;
    /* ".example.com" patterns: each parent, closest first */
    for (const char *dot = folded ? strchr(folded, '.') : NULL; dot && !local; dot = strchr(dot + 1, '.'))
        local = g_hash_table_contains(site->local_domains, dot);
    g_free(heap);
    return local;
}
