/*
 * postfixpromises.c - --check-postfix's second half: what the wiring
 * postfixcheck.c checks rests on, each problem with its fix; see
 * postfixcheck_rows.h.
 */
#include "postfixcheck_rows.h"

#include <errno.h>
#include <gio/gio.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "account.h"
#include "endpoint.h"
#include "outbound.h"
#include "key.h"
#include "tlsrptsend.h"

#define DAEMON_ACCOUNT ACCOUNT_DEFAULT  /* the systemd unit's User= */

/* Where listed mail goes next: the relay, and what of the site's own
 * routing the transport table cannot keep. */
static void check_relay(Check *c)
{
    const Config *cfg = c->config;
    const char *theirs = postfix_site_relayhost(c->site);
    if (!*cfg->postfix_config_directory && strcmp(theirs, cfg->relayhost) != 0) {
        g_autofree char *fix = g_strdup_printf("postfix_config_directory = %s (tlspolicyd.conf)", c->site->directory);
        pfc_problem(c, fix, "main.cf: Postfix sends through %s, but tlspolicyd.conf has postfix_config_directory empty "
                        "and relayhost = %s: listed mail goes %s%s", *theirs ? theirs : "the recipients' MX hosts",
                *cfg->relayhost ? cfg->relayhost : "(none)", *cfg->relayhost ? "to " : "straight to the recipients' MX hosts",
                *cfg->relayhost ? cfg->relayhost : ", not through the relay");
    } else if (config_from_file(cfg, "relayhost") && strcmp(theirs, cfg->relayhost) != 0) {
        pfc_note(c, "tlspolicyd.conf: relayhost = %s is used for listed mail, not main.cf's %s", cfg->relayhost,
             *theirs ? theirs : "(none)");
    }
    static const char *const not_delivering[] = {"error", "retry", "discard", NULL};
    g_autofree char *dt = g_strdup(pfc_param(c, "default_transport"));
    char *colon = strchr(dt, ':');
    if (colon)
        *colon = 0;
    if (g_strv_contains(not_delivering, dt))
        pfc_problem(c, "remove the list's outbound entries, or default_transport = smtp (main.cf)",
                "main.cf: default_transport = %s: this Postfix sends no mail out, but tlspolicyd routes listed "
                "recipients out through its tls-* transports", pfc_param(c, "default_transport"));
    static const char *const per_sender[] = {"sender_dependent_relayhost_maps",
                                             "sender_dependent_default_transport_maps", NULL};
    for (const char *const *p = per_sender; *p; p++)
        if (*pfc_param(c, *p))
            pfc_problem(c, "nexthop= on the entries whose mail must take a sender's relay (the list)",
                    "main.cf: %s = %s: a transport_maps answer wins over it, so listed mail goes to %s, not to each "
                    "sender's relay", *p, pfc_param(c, *p), *cfg->relayhost ? cfg->relayhost : "the recipients' MX hosts");
}

/* The list's outbound keys, one per line, as transport_maps looks them up. */
static char *outbound_keys(const List *list)
{
    GString *keys = g_string_new(NULL);
    for (guint i = 0; i < list->records->len; i++) {
        const ListRecord *rec = &g_array_index(list->records, ListRecord, i);
        if (entry_covers(&rec->value->entry, DIRECTION_OUTBOUND) && !entry_level_is_exemption(rec->value->entry.level)
            && !strchr(rec->key, '\n'))
            g_string_append_printf(keys, "%s\n", rec->key);
    }
    return g_string_free(keys, FALSE);
}

/* "key<TAB>value" lines of the keys a map has (postmap -q -). */
static char *map_answers(const Check *c, const char *map, const char *keys)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_ptr_array_add(argv, "postmap");
    if (c->dir) {
        g_ptr_array_add(argv, "-c");
        g_ptr_array_add(argv, (char *)c->dir);
    }
    g_ptr_array_add(argv, "-q");
    g_ptr_array_add(argv, "-");
    g_ptr_array_add(argv, (char *)map);
    g_ptr_array_add(argv, NULL);
    g_autoptr(GSubprocess) p = g_subprocess_newv((const char *const *)argv->pdata,
                                                 G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                                     | G_SUBPROCESS_FLAGS_STDERR_SILENCE, NULL);
    char *out = NULL;
    if (!p || !g_subprocess_communicate_utf8(p, keys, NULL, &out, NULL, NULL))
        return NULL;
    return out;
}

/* The site's own transport_maps entries for listed keys: tlspolicyd's
 * answer comes first, so the site's route for them would be lost. */
static void check_site_transports(Check *c)
{
    if (!c->list || c->config->outbound_routing != ROUTING_TRANSPORT_MAPS)
        return;
    g_autofree char *keys = outbound_keys(c->list);
    g_auto(GStrv) maps = g_strsplit_set(pfc_param(c, "transport_maps"), " \t,", -1);
    for (char **m = maps; *m; m++) {
        if (!**m || g_str_has_prefix(*m, "socketmap:"))
            continue;
        g_autofree char *answers = map_answers(c, *m, keys);
        g_auto(GStrv) lines = g_strsplit(answers ? answers : "", "\n", -1);
        for (char **l = lines; *l; l++) {
            char *tab = strchr(*l, '\t');
            if (!tab)
                continue;
            *tab = 0;
            const char *value = tab + 1;
            const char *colon = strchr(value, ':');
            g_autofree char *transport = g_strndup(value, colon ? (gsize)(colon - value) : strlen(value));
            gboolean relays = colon && colon[1] && (strcmp(transport, "smtp") == 0 || strcmp(transport, "relay") == 0);
            g_autofree char *fix = relays ? g_strdup_printf("%s ... nexthop=%s (the list), to keep that next hop at the "
                                                            "entry's level", *l, colon + 1)
                                          : g_strdup_printf("direction=inbound for %s (the list), or remove it from %s",
                                                            *l, *m);
            pfc_problem(c, fix, "main.cf: transport_maps %s routes %s to %s, but tlspolicyd's socketmap answers for it "
                            "first: that route is not taken", *m, *l, value);
        }
    }
}

/* List keys for domains this Postfix delivers itself: never routed out
 * (decide.c), so their outbound level does nothing. */
static void check_local_keys(Check *c)
{
    for (guint i = 0; i < c->site->unfollowed->len; i++)
        pfc_problem(c, "local_domains = <those domains> (tlspolicyd.conf)",
                "main.cf: %s is not followed by tlspolicyd: a listed key for one of its domains would route that "
                "local mail out", (char *)c->site->unfollowed->pdata[i]);
    if (!c->list)
        return;
    for (guint i = 0; i < c->list->records->len; i++) {
        const ListRecord *rec = &g_array_index(c->list->records, ListRecord, i);
        const char *domain = key_domain(rec->key);
        if (!entry_covers(&rec->value->entry, DIRECTION_OUTBOUND) || rec->key[0] == '.'
            || !postfix_site_is_local(c->site, domain))
            continue;
        g_autofree char *fix = g_strdup_printf("direction=inbound for %s (the list)", rec->key);
        pfc_problem(c, fix, "the list: %s is a local or virtual domain of this Postfix: its mail is delivered here, the "
                        "entry's outbound level is not applied", rec->key);
    }
}

/* Could an account read path, each directory on the way included? */
static gboolean readable_by(const char *path, uid_t uid, gid_t gid, const char *user, char **why)
{
    if (uid == 0)
        return TRUE;
    gid_t groups[256];
    int ngroups = G_N_ELEMENTS(groups);
    if (!user || getgrouplist(user, gid, groups, &ngroups) < 0) {
        groups[0] = gid;
        ngroups = 1;
    }
    g_autofree char *abs = g_canonicalize_filename(path, NULL);
    for (char *p = abs + 1;; p++) {
        gboolean last = !*p;
        if (*p != '/' && !last)
            continue;
        char saved = *p;
        *p = 0;
        struct stat st;
        if (stat(abs, &st) != 0) {
            *why = g_strdup_printf("%s: %s", abs, g_strerror(errno));
            return FALSE;
        }
        mode_t need = last ? S_IROTH : S_IXOTH;
        mode_t bits = st.st_mode & 07;
        if (st.st_uid == uid)
            bits = (st.st_mode >> 6) & 07;
        else
            for (int g = 0; g < ngroups; g++)
                if (groups[g] == st.st_gid)
                    bits = (st.st_mode >> 3) & 07;
        if (!(bits & need)) {
            *why = g_strdup_printf("%s is mode %04o, owner %u, group %u", abs, (unsigned)(st.st_mode & 07777),
                                   (unsigned)st.st_uid, (unsigned)st.st_gid);
            return FALSE;
        }
        *p = saved;
        if (last)
            return TRUE;
    }
}

/* The account the daemon runs as: the one that answers on its socket,
 * else the unit's.  FALSE when there is none. */
static gboolean daemon_account(Check *c, uid_t *uid, gid_t *gid, char **user)
{
    uid_t peer = (uid_t)-1;
    for (char **a = c->config->listen; a && *a && peer == (uid_t)-1; a++)
        if (g_str_has_prefix(*a, "unix:"))
            endpoint_unix_peer(*a + 5, &peer);
    const char *account = strcmp(c->config->user, "root") == 0 ? "root" : c->config->user;
    struct passwd *pw = peer != (uid_t)-1 ? getpwuid(peer) : getpwnam(account);
    if (peer != (uid_t)-1) {
        *uid = peer;
        *gid = pw ? pw->pw_gid : (gid_t)-1;
        *user = g_strdup(pw ? pw->pw_name : NULL);
        return TRUE;
    }
    if (!pw) {
        g_autofree char *fix = g_strdup_printf("adduser --system --group --no-create-home %s (the Debian package "
                                               "makes " DAEMON_ACCOUNT ")", account);
        pfc_problem(c, fix, "no account %s (tlspolicyd.conf user =, the systemd unit's User=): the daemon cannot start",
                account);
        return FALSE;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    *user = g_strdup(pw->pw_name);
    return TRUE;
}

/* The list, source and compiled, as the daemon's account sees it. */
static void check_permissions(Check *c)
{
    uid_t uid;
    gid_t gid;
    g_autofree char *user = NULL;
    if (!daemon_account(c, &uid, &gid, &user))
        return;
    g_autofree char *compiled = store_compiled_path(c->config->list);
    const char *paths[] = {compiled, c->config->list};
    for (guint i = 0; i < G_N_ELEMENTS(paths); i++) {
        g_autofree char *why = NULL;
        if (access(paths[i], F_OK) != 0 || readable_by(paths[i], uid, gid, user, &why))
            continue;
        g_autofree char *fix = g_strdup_printf("chgrp %s %s && chmod g+r %s", user ? user : DAEMON_ACCOUNT, paths[i],
                                               paths[i]);
        pfc_problem(c, fix, "%s is not readable by the daemon's account %s (uid %u): %s%s", paths[i],
                user ? user : "?", (unsigned)uid, why,
                i == 0 ? "; every listed recipient is answered per on_list_error" : "");
    }
}

/* Tables the tls-* services name (the bounce filter): there, and readable
 * by Postfix's mail_owner. */
static void check_service_tables(Check *c)
{
    struct passwd *pw = getpwnam(*pfc_param(c, "mail_owner") ? pfc_param(c, "mail_owner") : "postfix");
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init(&it, c->overrides);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        if (!g_str_has_prefix(key, "tls-"))
            continue;
        g_autofree char *v = pfc_expand(c, value);
        static const char *const types[] = {"regexp:", "pcre:", "texthash:", "cidr:", NULL};
        const char *path = NULL;
        for (const char *const *t = types; *t && !path; t++)
            if (g_str_has_prefix(v, *t))
                path = v + strlen(*t);
        if (!path || *path != '/')
            continue;
        g_autofree char *why = NULL;
        gboolean exists = access(path, F_OK) == 0;
        if (exists && (!pw || readable_by(path, pw->pw_uid, pw->pw_gid, pw->pw_name, &why)))
            continue;
        g_autofree char *fix = g_strdup_printf("install -m 644 postfix/%s %s", strrchr(path, '/') + 1, path);
        pfc_problem(c, fix, "master.cf: %s = %s, but %s %s: Postfix defers what that service would %s", (char *)key, v,
                path, exists ? "is not readable by Postfix" : "does not exist",
                strstr(key, "status_filter") ? "bounce" : "deliver");
    }
}

/* Unix sockets a chrooted service must reach from inside its chroot:
 * under queue_directory (as the shipped "unix:private/..." are). */
static void check_chroot_socket(Check *c, const char *address, const char *service, const char *what)
{
    const Service *s = NULL;
    for (guint i = 0; i < c->services->len && !s; i++) {
        const Service *x = c->services->pdata[i];
        if (strcmp(x->name, service) == 0)
            s = x;
    }
    const char *queue = pfc_param(c, "queue_directory");
    if (!s || s->chroot != 'y' || !g_str_has_prefix(address, "unix:/"))
        return;
    if (g_str_has_prefix(address + 5, queue) && address[5 + strlen(queue)] == '/')
        return;
    g_autofree char *fix = g_strdup_printf("a socket under %s/private (tlspolicyd.conf), named unix:private/... in "
                                           "main.cf", queue);
    pfc_problem(c, fix, "%s: %s is outside queue_directory %s, and service %s runs chrooted there: it cannot reach the "
                    "socket", what, address, queue, service);
}

static void check_chroot_sockets(Check *c)
{
    for (guint i = 0; i < c->services->len; i++) {
        const Service *s = c->services->pdata[i];
        if (!s->inet || strcmp(s->command, "smtpd") != 0)
            continue;
        g_autofree char *rr = pfc_service_param(c, s, "smtpd_recipient_restrictions", NULL);
        g_auto(GStrv) words = g_strsplit_set(rr, " \t,{}", -1);
        for (char **w = words; *w; w++)
            if (strcmp(*w, "check_policy_service") == 0)
                for (char **t = w + 1; *t; t++)
                    if (**t) {
                        check_chroot_socket(c, *t, s->name, "check_policy_service");
                        break;
                    }
    }
    g_auto(GStrv) maps = g_strsplit_set(pfc_param(c, "transport_maps"), " \t,", -1);
    for (char **m = maps; *m; m++) {
        if (!g_str_has_prefix(*m, "socketmap:"))
            continue;
        g_autofree char *address = g_strdup(*m + 10);
        char *last = strrchr(address, ':');
        if (last)
            *last = 0;
        check_chroot_socket(c, address, "rewrite", "transport_maps");
    }
}


/* Outbound evidence (maillog): a log the daemon's account can read, and a
 * TLS line per session - without one every TLS delivery reads as
 * plaintext, and report-mode predictions would be wrong. */
static void check_maillog(Check *c)
{
    const char *path = c->config->maillog;
    if (!*path)
        return;
    uid_t uid;
    gid_t gid;
    g_autofree char *user = NULL, *why = NULL;
    const char *journal_dir;
    if (outbound_is_journal(path, &journal_dir))
        ;  /* sd-journal says at the start whether it can be read (the log) */
    else if (access(path, F_OK) != 0)
        pfc_problem(c, "maillog = the file Postfix or syslog writes (tlspolicyd.conf)",
                    "tlspolicyd.conf: maillog %s does not exist: no outbound evidence", path);
    else if (daemon_account(c, &uid, &gid, &user) && !readable_by(path, uid, gid, user, &why))
        pfc_problem(c, "SupplementaryGroups= the file's group (systemctl edit tlspolicyd), or chgrp/chmod g+r it",
                    "tlspolicyd.conf: maillog %s is not readable by the daemon's account %s: %s", path,
                    user ? user : "?", why);
    guint64 level = 0;
    g_ascii_string_to_unsigned(pfc_param(c, "smtp_tls_loglevel"), 10, 0, 10, &level, NULL);
    if (level < 1)
        pfc_problem(c, "smtp_tls_loglevel = 1 (main.cf)",
                    "main.cf: smtp_tls_loglevel = %s logs no line for a TLS session that worked: with maillog, the "
                    "deliveries of report-mode entries and unlisted domains read as plaintext",
                    *pfc_param(c, "smtp_tls_loglevel") ? pfc_param(c, "smtp_tls_loglevel") : "0");
    for (guint i = 0; i < c->services->len; i++) {
        const Service *s = g_ptr_array_index(c->services, i);
        if (!g_str_has_prefix(s->name, "tls-") || strcmp(s->command, "smtp") != 0)
            continue;
        g_autofree char *v = pfc_service_param(c, s, "smtp_tls_loglevel", NULL);
        if (v && g_ascii_string_to_unsigned(v, 10, 1, 10, NULL, NULL))
            continue;
        g_autofree char *fix = g_strdup_printf("-o smtp_tls_loglevel=1 (master.cf, service %s)", s->name);
        pfc_problem(c, fix, "master.cf: %s has smtp_tls_loglevel %s: with maillog, its deliveries read as plaintext",
                    s->name, v && *v ? v : "0");
    }
}

/* The service name of tlsrpt_submit's socket ("" when it is not one of
 * queue_directory's public/ sockets). */
static char *tlsrpt_service_name(const Check *c)
{
    const char *path = c->config->tlsrpt_submit + strlen("unix:");
    if (!g_path_is_absolute(path))
        return g_str_has_prefix(path, "public/") ? g_strdup(path + strlen("public/")) : g_strdup("");
    g_autofree char *public = g_build_filename(pfc_param(c, "queue_directory"), "public", NULL);
    g_autofree char *dir = g_path_get_dirname(path);
    return strcmp(dir, public) == 0 ? g_path_get_basename(path) : g_strdup("");
}

/* tlsrpt = send with mailto: destinations: the smtpd reports are handed
 * to, and the way out its content_filter gives them (tlsrptsend.h): not
 * transport_maps (a listed rua= domain would hold its report to its
 * level), a transport that does not require TLS (RFC 8460 5.3), logged
 * as postfix/tlsrpt (or its sessions would be reported on). */
static void check_tlsrpt(Check *c)
{
    if (c->config->tlsrpt != TLSRPT_SEND || !*c->config->tlsrpt_submit)
        return;
    g_autofree char *name = tlsrpt_service_name(c);
    const Service *s = *name ? pfc_find_service(c, name) : NULL;
    if (!*name) {
        pfc_note(c, "tlsrpt_submit = %s is not a socket of queue_directory's public/: its smtpd not checked",
                 c->config->tlsrpt_submit);
        return;
    }
    if (!s || strcmp(s->command, "smtpd") != 0) {
        pfc_problem(c, "append postfix/master.cf's tlsrpt and tlsrpt-smtp services (master.cf)",
                    "master.cf: no smtpd \"%s\" on public/%s (tlsrpt_submit): reports for mailto: destinations are "
                    "not sent", name, name);
        return;
    }
    g_autofree char *filter = pfc_service_param(c, s, "content_filter", NULL);
    g_autofree char *transport = g_strndup(filter, strcspn(filter, ":"));
    const Service *out = *transport ? pfc_find_service(c, transport) : NULL;
    if (!out || strcmp(out->command, "smtp") != 0) {
        pfc_problem(c, "-o content_filter=tlsrpt-smtp: (master.cf, service tlsrpt), and postfix/master.cf's tlsrpt-smtp",
                    "master.cf: %s has content_filter %s, not an smtp transport: reports take transport_maps, which "
                    "holds a listed rua= domain's report to its TLS level (RFC 8460 5.3: deliver it despite TLS "
                    "failures)", name, *filter ? filter : "(none)");
        return;
    }
    static const char *const required[] = {"encrypt", "dane-only", "fingerprint", "verify", "secure", NULL};
    g_autofree char *level = pfc_service_param(c, out, "smtp_tls_security_level", NULL);
    g_autofree char *policy_maps = pfc_service_param(c, out, "smtp_tls_policy_maps", NULL);
    if (g_strv_contains(required, level) || *policy_maps)
        pfc_problem(c, "-o smtp_tls_security_level=may -o smtp_tls_policy_maps= (master.cf, service tlsrpt-smtp)",
                    "master.cf: %s sends reports at level %s%s%s: a report to a domain whose TLS fails is not "
                    "delivered (RFC 8460 5.3 wants it delivered)", transport, level,
                    *policy_maps ? " with smtp_tls_policy_maps " : "", policy_maps);
    g_autofree char *syslog_name = pfc_service_param(c, out, "syslog_name", NULL);
    g_autofree char *want = g_strdup_printf("postfix/%s", TLSRPT_SERVICE);
    if (strcmp(syslog_name, want) != 0)
        pfc_problem(c, "-o syslog_name=postfix/tlsrpt (master.cf, service tlsrpt-smtp)",
                    "master.cf: %s logs as %s: tlspolicyd counts its sessions into the reports (a report about "
                    "reports, which RFC 8460 3 rules out)", transport, *syslog_name ? syslog_name : "postfix");
}

void postfix_check_promises(Check *c)
{
    check_tlsrpt(c);
    check_maillog(c);
    check_relay(c);
    check_site_transports(c);
    check_local_keys(c);
    check_service_tables(c);
    check_permissions(c);
    check_chroot_sockets(c);
}
