/*
 * logging.c - the target choice and the GLib log writer; see logging.h.
 * tlspolicyd's main() and tlsmap's main() call logging_init().
 */
#include "logging.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

typedef enum { LOGGING_JOURNAL, LOGGING_STDERR, LOGGING_SYSLOG, LOGGING_FILE } LoggingTarget;

/* A log file's lines wait here for logging_flush() (at once before the
 * event loop holds them); past FILE_BUFFER_MAX bytes unwritten (the
 * disk is full, the file gone) lines are dropped, counted, and the count
 * said when writing works again. */
#define FILE_BUFFER_MAX (1 << 20)

/* Once the event loop holds the log (logging_hold()), it never writes a
 * line itself: lines join a queue of at most QUEUE_MAX bytes that one
 * writer thread empties into the target, whatever is behind it (a pipe
 * nobody reads, a slow disk, a busy journal).  A line that finds the
 * queue full is dropped and counted; the count is logged once writing
 * goes on.  issue 31, bench/logcost.sh: the loop waited on its writes
 * with a file behind stderr (95k lookups/s and a 4.2 ms p99 at 50
 * connections, against 222k/s to a pipe). */
#define QUEUE_MAX (1 << 20)
#define LINGER_US 5000

typedef struct {
    GLogLevelFlags level;
    char *message;
    char *verdict;          /* TLSPOLICYD_VERDICT, for the journal; NULL */
} QueuedLine;

static struct {
    char ident[32];
    LoggingTarget target;
    gboolean echo, verbose, held;
    int pid;
    char host[64];
    char *file_path;
    int file_fd;
    GString *file_buf;
    guint64 file_dropped;
    /* the writer thread's queue */
    GMutex lock;
    GCond wake, drained;
    GArray *queue;          /* QueuedLine */
    gsize queued_bytes;
    gboolean writing;       /* the writer has lines out of the queue */
    gboolean idle;          /* the writer waits for a signal (else it comes back by itself) */
    guint64 dropped;        /* since the last "dropped" line */
    guint64 dropped_total;
    GThread *writer;
} logging = {.file_fd = -1};

static const char *level_word(GLogLevelFlags level)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
        return "error: ";
    if (level & G_LOG_LEVEL_WARNING)
        return "warning: ";
    if (level & G_LOG_LEVEL_DEBUG)
        return "debug: ";
    return "";
}

static int syslog_priority(GLogLevelFlags level)
{
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
        return LOG_ERR;
    if (level & G_LOG_LEVEL_WARNING)
        return LOG_WARNING;
    if (level & G_LOG_LEVEL_DEBUG)
        return LOG_DEBUG;
    return LOG_INFO;
}

static void enqueue(GLogLevelFlags level, const char *message, const GLogField *fields, gsize n);

static void write_stderr(GLogLevelFlags level, const char *message)
{
    fprintf(stderr, "%s[%d]: %s%s\n", logging.ident, logging.pid, level_word(level), message);
}

static void file_write_out(void)
{
    while (logging.file_buf->len) {
        ssize_t n = write(logging.file_fd, logging.file_buf->str, logging.file_buf->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;  /* kept, up to FILE_BUFFER_MAX */
        g_string_erase(logging.file_buf, 0, n);
    }
}

/* "Dec  3 12:00:00 host tlspolicyd[123]: text", as Postfix's maillog_file */
static void write_file(GLogLevelFlags level, const char *message)
{
    if (logging.file_buf->len > FILE_BUFFER_MAX) {
        logging.file_dropped++;
        return;
    }
    /* the stamp once a second, not once a line (bench/logcost.sh) */
    static gint64 stamp_second = -1;
    static char stamp[32];
    gint64 second = g_get_real_time() / G_USEC_PER_SEC;
    if (second != stamp_second) {
        g_autoptr(GDateTime) now = g_date_time_new_from_unix_local(second);
        /* not GLib's %e: it pads with U+2007 (figure space), syslog with ' ' */
        g_autofree char *month_time = g_date_time_format(now, "%b|%H:%M:%S");
        char *bar = strchr(month_time, '|');
        *bar = 0;
        g_snprintf(stamp, sizeof stamp, "%s %2d %s", month_time, g_date_time_get_day_of_month(now), bar + 1);
        stamp_second = second;
    }
    if (logging.file_dropped) {
        g_string_append_printf(logging.file_buf, "%s %s %s[%d]: warning: %" G_GUINT64_FORMAT " log lines dropped "
                               "(%s could not be written)\n", stamp, logging.host, logging.ident, logging.pid,
                               logging.file_dropped, logging.file_path);
        logging.file_dropped = 0;
    }
    g_string_append_printf(logging.file_buf, "%s %s %s[%d]: %s%s\n", stamp, logging.host, logging.ident, logging.pid,
                           level_word(level), message);
    if (!logging.held || logging.file_buf->len >= (1 << 16))
        file_write_out();
}

/* One line to the target, from the writer thread (or before the hold). */
static void emit_line(GLogLevelFlags level, const char *message, const char *verdict, GString *err_batch)
{
    switch (logging.target) {
    case LOGGING_FILE:
        write_file(level, message);
        return;
    case LOGGING_SYSLOG:
        syslog(syslog_priority(level), "%s%s", level_word(level), message);
        return;
    case LOGGING_JOURNAL: {
        char priority[2] = {(char)('0' + syslog_priority(level)), 0};
        GLogField f[4] = {{"MESSAGE", message, -1}, {"PRIORITY", priority, -1},
                          {"SYSLOG_IDENTIFIER", logging.ident, -1}, {"TLSPOLICYD_VERDICT", verdict, -1}};
        if (g_log_writer_journald(level, f, verdict ? 4 : 3, NULL) == G_LOG_WRITER_HANDLED)
            return;
        break;  /* a journal that failed: stderr */
    }
    case LOGGING_STDERR:
        break;
    }
    g_string_append_printf(err_batch, "%s[%d]: %s%s\n", logging.ident, logging.pid, level_word(level), message);
}

static void write_all(int fd, const GString *text)
{
    for (gsize done = 0; done < text->len;) {
        ssize_t n = write(fd, text->str + done, text->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        done += (gsize)n;
    }
}

static void enqueue(GLogLevelFlags level, const char *message, const GLogField *fields, gsize n)
{
    const char *verdict = NULL;
    for (gsize i = 0; i < n; i++)
        if (strcmp(fields[i].key, "TLSPOLICYD_VERDICT") == 0)
            verdict = fields[i].value;
    gsize bytes = strlen(message) + 64;
    g_mutex_lock(&logging.lock);
    if (logging.queued_bytes + bytes > QUEUE_MAX) {
        logging.dropped++;
        logging.dropped_total++;
    } else {
        QueuedLine line = {level, g_strdup(message), g_strdup(verdict)};
        g_array_append_val(logging.queue, line);
        logging.queued_bytes += bytes;
    }
    g_mutex_unlock(&logging.lock);
}

static gpointer writer_thread(gpointer data)
{
    (void)data;
    GArray *batch = g_array_new(FALSE, FALSE, sizeof(QueuedLine));
    GString *err_batch = g_string_sized_new(1 << 16);
    g_mutex_lock(&logging.lock);
    for (;;) {
        while (logging.queue->len == 0 && !logging.dropped) {
            logging.writing = FALSE;
            logging.idle = TRUE;
            g_cond_broadcast(&logging.drained);
            g_cond_wait(&logging.wake, &logging.lock);
        }
        logging.idle = FALSE;
        /* take the whole queue: the loop appends to an empty one meanwhile */
        GArray *full = logging.queue;
        logging.queue = batch;
        batch = full;
        logging.queued_bytes = 0;
        logging.writing = TRUE;
        guint64 dropped = logging.dropped;
        logging.dropped = 0;
        g_mutex_unlock(&logging.lock);

        if (dropped) {
            g_autofree char *said = g_strdup_printf("%" G_GUINT64_FORMAT " log lines dropped: the log was written "
                                                    "slower than lines came (counted in "
                                                    "tlspolicyd_log_lines_dropped_total)", dropped);
            emit_line(G_LOG_LEVEL_WARNING, said, NULL, err_batch);
        }
        for (guint i = 0; i < batch->len; i++) {
            QueuedLine *l = &g_array_index(batch, QueuedLine, i);
            emit_line(l->level, l->message, l->verdict, err_batch);
            g_free(l->message);
            g_free(l->verdict);
        }
        g_array_set_size(batch, 0);
        if (logging.target == LOGGING_FILE)
            file_write_out();
        write_all(STDERR_FILENO, err_batch);
        g_string_truncate(err_batch, 0);
        /* let lines gather: one wake-up and one write per LINGER_US under
         * load, not one per batch of events (bench/logcost.sh) */
        g_usleep(LINGER_US);
        g_mutex_lock(&logging.lock);
    }
    return NULL;
}

static GLogWriterOutput writer(GLogLevelFlags level, const GLogField *fields, gsize n, gpointer data)
{
    (void)data;
    const char *message = NULL;
    if ((level & G_LOG_LEVEL_DEBUG) && !logging.verbose)
        return G_LOG_WRITER_HANDLED;
    for (gsize i = 0; i < n; i++) {
        if (strcmp(fields[i].key, "MESSAGE") == 0)
            message = fields[i].value;
    }
    if (!message)
        return G_LOG_WRITER_HANDLED;
    if (logging.held) {
        enqueue(level, message, fields, n);
        return G_LOG_WRITER_HANDLED;
    }
    if (logging.echo && logging.target != LOGGING_STDERR)
        write_stderr(level, message);
    if (logging.target == LOGGING_FILE) {
        write_file(level, message);
        return G_LOG_WRITER_HANDLED;
    }
    if (logging.target == LOGGING_JOURNAL && g_log_writer_journald(level, fields, n, NULL) == G_LOG_WRITER_HANDLED)
        return G_LOG_WRITER_HANDLED;
    if (logging.target == LOGGING_SYSLOG) {
        syslog(syslog_priority(level), "%s%s", level_word(level), message);
        return G_LOG_WRITER_HANDLED;
    }
    if (!logging.echo || logging.target == LOGGING_STDERR)  /* a journal that failed: stderr, once */
        write_stderr(level, message);
    return G_LOG_WRITER_HANDLED;
}

/* Is stderr somewhere a reader will look (not closed, not /dev/null)? */
static gboolean stderr_is_read(void)
{
    struct stat st, null;
    if (fstat(STDERR_FILENO, &st) < 0)
        return FALSE;
    return !(S_ISCHR(st.st_mode) && stat("/dev/null", &null) == 0 && st.st_rdev == null.st_rdev);
}

static LoggingTarget choose_target(gboolean foreground)
{
    if (g_log_writer_is_journald(STDERR_FILENO))
        return LOGGING_JOURNAL;
    if (foreground && stderr_is_read())
        return LOGGING_STDERR;
    if (access("/run/systemd/journal/socket", W_OK) == 0)
        return LOGGING_JOURNAL;
    if (access("/dev/log", W_OK) == 0)
        return LOGGING_SYSLOG;
    return LOGGING_STDERR;
}

void logging_init(const char *ident, gboolean foreground, gboolean echo)
{
    g_strlcpy(logging.ident, ident, sizeof logging.ident);
    logging.pid = (int)getpid();
    logging.echo = echo;
    logging.target = choose_target(foreground);
    if (logging.target == LOGGING_SYSLOG)
        openlog(logging.ident, LOG_PID, LOG_MAIL);
    setvbuf(stderr, NULL, _IOLBF, 0);
    g_set_prgname(ident);
    g_log_set_writer_func(writer, NULL, NULL);
}

void logging_hold(void)
{
    if (logging.held)
        return;
    fflush(stderr);
    logging.queue = g_array_new(FALSE, FALSE, sizeof(QueuedLine));
    logging.writer = g_thread_new("log writer", writer_thread, NULL);
    logging.held = TRUE;
}

void logging_flush(void)
{
    if (!logging.held) {
        fflush(stderr);
        if (logging.target == LOGGING_FILE)
            file_write_out();
        return;
    }
    g_mutex_lock(&logging.lock);
    if (logging.idle && (logging.queue->len || logging.dropped))
        g_cond_signal(&logging.wake);
    g_mutex_unlock(&logging.lock);
}

gboolean logging_drain(guint timeout_ms)
{
    if (!logging.held)
        return TRUE;
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    g_mutex_lock(&logging.lock);
    g_cond_signal(&logging.wake);
    gboolean done = TRUE;
    while ((logging.queue->len || logging.writing || logging.dropped) && done)
        done = g_cond_wait_until(&logging.drained, &logging.lock, deadline);
    g_mutex_unlock(&logging.lock);
    return done;
}

guint64 logging_dropped_total(void)
{
    g_mutex_lock(&logging.lock);
    guint64 n = logging.dropped_total;
    g_mutex_unlock(&logging.lock);
    return n;
}

static int open_log_file(const char *path, GError **error)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0640);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        close(fd);
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "log_file %s: not a regular file", path);
        return -1;
    }
    if (fd < 0)
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "log_file %s: %s", path, g_strerror(errno));
    return fd;
}

gboolean logging_open_file(const char *path, uid_t owner, gid_t group, GError **error)
{
    int fd = open_log_file(path, error);
    if (fd < 0)
        return FALSE;
    /* made by root for an account that reopens it after a rotation */
    if (owner != (uid_t)-1 && fchown(fd, owner, group) != 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "log_file %s: chown: %s", path,
                    g_strerror(errno));
        close(fd);
        return FALSE;
    }
    if (logging.file_fd >= 0)
        close(logging.file_fd);
    logging.file_fd = fd;
    g_free(logging.file_path);
    logging.file_path = g_strdup(path);
    if (!logging.file_buf)
        logging.file_buf = g_string_sized_new(1 << 16);
    if (gethostname(logging.host, sizeof logging.host) != 0 || !*logging.host)
        g_strlcpy(logging.host, "localhost", sizeof logging.host);
    logging.host[strcspn(logging.host, ".")] = 0;  /* the short name, as syslog writes it */
    logging.target = LOGGING_FILE;
    return TRUE;
}

gboolean logging_reopen(GError **error)
{
    if (logging.target != LOGGING_FILE)
        return TRUE;
    logging_drain(1000);  /* what was meant for the old file goes there */
    if (!logging.held)
        file_write_out();
    int fd = open_log_file(logging.file_path, error);
    if (fd < 0)
        return FALSE;
    close(logging.file_fd);
    logging.file_fd = fd;
    return TRUE;
}

const char *logging_where(void)
{
    static char where[4200];
    switch (logging.target) {
    case LOGGING_JOURNAL:
        return "the journal";
    case LOGGING_SYSLOG:
        return "syslog (facility mail)";
    case LOGGING_FILE:
        g_snprintf(where, sizeof where, "log_file %s (reopened on SIGUSR2)", logging.file_path);
        return where;
    case LOGGING_STDERR:
        break;
    }
    return "standard error";
}

void logging_set_verbose(gboolean verbose)
{
    logging.verbose = verbose;
}

gboolean logging_is_verbose(void)
{
    return logging.verbose;
}
