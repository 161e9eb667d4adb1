/*
 * statefile.c - reading, locking and writing the state files; see
 * statefile.h for the contract.
 */
#include "statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* What went wrong in a key file, in the file's own terms only. */
static const char *keyfile_problem(const GError *e)
{
    if (e->domain != G_KEY_FILE_ERROR)
        return "unreadable";
    switch (e->code) {
    case G_KEY_FILE_ERROR_UNKNOWN_ENCODING:
        return "not UTF-8 text";
    case G_KEY_FILE_ERROR_PARSE:
        return "a line that is no group, key or comment";
    default:
        return "not a key file";
    }
}

GKeyFile *statefile_read(const char *path, GError **error)
{
    /* O_NONBLOCK: opening a FIFO with no writer returns at once */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s", path, g_strerror(e));
        return NULL;
    }
    struct stat st;
    GString *text = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: not a regular file", path);
        goto fail;
    }
    if (st.st_size > STATEFILE_MAX) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: larger than %d MiB", path, STATEFILE_MAX >> 20);
        goto fail;
    }
    text = g_string_sized_new((gsize)st.st_size + 1);
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || text->len + (gsize)n > STATEFILE_MAX) {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "%s: %s", path,
                        n < 0 ? g_strerror(errno) : "grew past the size limit while read");
            goto fail;
        }
        g_string_append_len(text, buf, n);
    }
    close(fd);
    GKeyFile *kf = g_key_file_new();
    GError *parse = NULL;
    if (!g_key_file_load_from_data(kf, text->str, text->len, G_KEY_FILE_NONE, &parse)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: damaged (%s)", path, keyfile_problem(parse));
        g_error_free(parse);
        g_key_file_free(kf);
        kf = NULL;
    }
    g_string_free(text, TRUE);
    return kf;
fail:
    if (text)
        g_string_free(text, TRUE);
    close(fd);
    return NULL;
}

int statefile_lock(const char *path, GError **error)
{
    g_autofree char *lock = g_strconcat(path, ".lock", NULL);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", lock, g_strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s", lock,
                    e == EWOULDBLOCK ? "locked by another tlspolicyd using the same state file" : g_strerror(e));
        close(fd);
        return -1;
    }
    return fd;
}

static gboolean write_text(const char *path, const char *text, gsize len, GError **error)
{
    return g_file_set_contents_full(path, text, (gssize)len,
                                    G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0600, error);
}

gboolean statefile_write(const char *path, GKeyFile *kf, GError **error)
{
    gsize len;
    g_autofree char *text = g_key_file_to_data(kf, &len, NULL);
    return write_text(path, text, len, error);
}

/*
 * The writer thread
 */
typedef struct {
    char *path[2];
    char *text[2];
    gsize len[2];
} SaveJob;

struct StateWriter {
    GThreadPool *pool;       /* one thread */
    GAsyncQueue *errors;     /* char *, from the worker */
    gint in_flight;          /* atomic */
};

static void run_save(gpointer data, gpointer user)
{
    SaveJob *job = data;
    StateWriter *w = user;
    for (int i = 0; i < 2; i++) {
        GError *error = NULL;
        if (job->path[i] && !write_text(job->path[i], job->text[i], job->len[i], &error)) {
            g_async_queue_push(w->errors, g_strdup(error->message));
            g_error_free(error);
        }
        g_free(job->path[i]);
        g_free(job->text[i]);
    }
    g_free(job);
    g_atomic_int_set(&w->in_flight, 0);
}

StateWriter *statewriter_new(void)
{
    StateWriter *w = g_new0(StateWriter, 1);
    w->errors = g_async_queue_new_full(g_free);
    w->pool = g_thread_pool_new(run_save, w, 1, FALSE, NULL);
    return w;
}

void statewriter_free(StateWriter *w)
{
    if (!w)
        return;
    g_thread_pool_free(w->pool, FALSE, TRUE);
    g_async_queue_unref(w->errors);
    g_free(w);
}

gboolean statewriter_idle(StateWriter *w)
{
    return g_atomic_int_get(&w->in_flight) == 0;
}

void statewriter_submit(StateWriter *w, const char *path1, GKeyFile *kf1, const char *path2, GKeyFile *kf2)
{
    SaveJob *job = g_new0(SaveJob, 1);
    const char *paths[2] = {path1, path2};
    GKeyFile *kfs[2] = {kf1, kf2};
    for (int i = 0; i < 2; i++) {
        if (!paths[i] || !kfs[i])
            continue;
        job->path[i] = g_strdup(paths[i]);
        job->text[i] = g_key_file_to_data(kfs[i], &job->len[i], NULL);
    }
    g_atomic_int_set(&w->in_flight, 1);
    g_thread_pool_push(w->pool, job, NULL);
}

char *statewriter_take_error(StateWriter *w)
{
    return g_async_queue_try_pop(w->errors);
}
