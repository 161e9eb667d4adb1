/*
 * audit.c - audit records for list changes; see audit.h.
 */
#include "audit.h"

#include <pwd.h>
#include <unistd.h>

#define AUDIT_MAX_KEYS 20

/* Every value in a record is escaped (control characters, quotes,
 * backslashes, non-ASCII as octal): nothing in a file name, a key or the
 * environment can start a line of its own or hide in the record. */
static void append_field(GString *msg, const char *name, const char *value)
{
    g_autofree char *escaped = g_strescape(value, NULL);
    g_string_append_printf(msg, " %s=%s", name, escaped);
}

static void append_keys(GString *msg, const GPtrArray *keys, guint total)
{
    if (!keys || keys->len == 0)
        return;
    g_string_append(msg, " keys=");
    for (guint i = 0; i < keys->len && i < AUDIT_MAX_KEYS; i++) {
        g_autofree char *escaped = g_strescape(keys->pdata[i], NULL);
        g_string_append_printf(msg, "%s%s", i ? "," : "", escaped);
    }
    guint shown = MIN(keys->len, AUDIT_MAX_KEYS);
    if (MAX(total, keys->len) > shown)
        g_string_append_printf(msg, " and %u more", MAX(total, keys->len) - shown);
}

void audit_record(const char *action, const char *file, const StoreDiff *counts,
                  const GPtrArray *keys)
{
    uid_t uid = getuid();
    struct passwd *pw = getpwuid(uid);
    const char *user = pw ? pw->pw_name : "?";
    const char *sudo_user = g_getenv("SUDO_USER");
    g_autofree char *uid_text = g_strdup_printf("%u", (unsigned)uid);
    g_autoptr(GString) msg = g_string_new(NULL);

    g_string_printf(msg, "audit: action=%s", action);
    append_field(msg, "file", file);
    g_string_append_printf(msg, " uid=%u", (unsigned)uid);
    append_field(msg, "user", user);
    /* SUDO_USER is whatever the environment says: a claim, named so */
    if (sudo_user)
        append_field(msg, "sudo_user_claimed", sudo_user);
    g_string_append_printf(msg, " added=%u removed=%u changed=%u entries=%u", counts->added,
                           counts->removed, counts->changed, counts->total);
    append_keys(msg, keys, counts->added + counts->removed + counts->changed);

    const GLogField fields[] = {
        {"MESSAGE", msg->str, -1},
        {"PRIORITY", "6", -1},
        {"SYSLOG_IDENTIFIER", "tlsmap", -1},
        {"TLSMAP_ACTION", action, -1},
        {"TLSMAP_FILE", file, -1},
        {"TLSMAP_UID", uid_text, -1},
        {"TLSMAP_USER", user, -1},
    };
    g_log_structured_array(G_LOG_LEVEL_INFO, fields, G_N_ELEMENTS(fields));
}
