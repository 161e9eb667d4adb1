/*
 * listguard.c - the list as every request reads it: opened per request
 * (one stat), its state changes logged once, and read under the one
 * recovery point for a list changed in place (SIGBUS); see
 * serverstate.h.
 */
#include "serverstate.h"

#include <setjmp.h>
#include <signal.h>

/* Log a list problem once, when it differs from the last one. */
static void list_unusable(Server *s, const char *message)
{
    if (g_strcmp0(s->list_error, message) == 0)
        return;
    g_warning("list unavailable, answering per on_list_error=%s: %s",
              s->config->on_list_error == LIST_ERROR_TEMPFAIL ? "tempfail" : "dunno", message);
    if (!s->list_error)
        s->count.list_errors++;
    s->list_inode = 0;
    g_free(s->list_error);
    s->list_error = g_strdup(message);
}

/* A new list file is being served: say which (its generation: inode and
 * mtime) and how big. */
static void log_list_loaded(Server *s)
{
    s->list_inode = store_reader_inode(s->list);
    g_autoptr(GDateTime) modified = g_date_time_new_from_unix_utc(store_reader_modified(s->list));
    g_autofree char *when = modified ? g_date_time_format_iso8601(modified) : g_strdup("?");
    g_message("list %s loaded: %" G_GUINT64_FORMAT " entries (inode %lu, modified %s)", store_reader_path(s->list),
              store_reader_entries(s->list), (unsigned long)s->list_inode, when);
}

/* The list is opened per request (one stat); log only state changes. */
static StoreReader *list_for_request(Server *s)
{
    GError *error = NULL;
    if (store_reader_begin_at(s->list, s->now * 1000, &error)) {
        if (s->list_error) {
            g_message("list %s is available again", store_reader_path(s->list));
            g_clear_pointer(&s->list_error, g_free);
        }
        if (store_reader_inode(s->list) != s->list_inode)
            log_list_loaded(s);
        return s->list;
    }
    list_unusable(s, error->message);
    g_error_free(error);
    return NULL;
}

/*
 * A list changed in place under its map (truncate, cp over it, rsync
 * --inplace) makes reading one of its pages SIGBUS.  Every read of the
 * list runs with a recovery point: the fault abandons the map (the list
 * counts as unusable until the file changes again), is logged once, and
 * the request is decided as with no list (on_list_error).  SA_NODEFER
 * and sigsetjmp(.., 0): no signal mask to save, no syscall per request.
 */
#define LIST_FAULT_WHY "changed in place while in use (replace lists by rename, as tlsmap does)"
static sigjmp_buf list_fault;
static volatile sig_atomic_t reading_list;

static void on_sigbus(int sig, siginfo_t *info, void *context)
{
    (void)info;
    (void)context;
    if (reading_list) {
        reading_list = 0;
        siglongjmp(list_fault, 1);
    }
    signal(sig, SIG_DFL);  /* not ours: die as before */
    raise(sig);
}

void listguard_install(void)
{
    struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_NODEFER};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

/* Opening it is the point (a broken list is reported, a replaced one unmapped). */
void listguard_look(Server *s, StoreReader *list, gpointer data)
{
    (void)s;
    (void)list;
    (void)data;
}

/* use(s, list, data) with the list, or NULL when it is unusable or its
 * map faulted (then use() runs again with NULL). */
void listguard_with_list(Server *s, ListUse use, gpointer data)
{
    if (sigsetjmp(list_fault, 0) != 0) {
        store_reader_abandon(s->list, LIST_FAULT_WHY);
        list_unusable(s, "list " LIST_FAULT_WHY);
        use(s, NULL, data);
        return;
    }
    reading_list = 1;
    StoreReader *list = list_for_request(s);
    use(s, list, data);
    if (list)
        store_reader_end(list);
    reading_list = 0;
}

