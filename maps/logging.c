/*
 * logging.c - the target choice and the GLib log writer; see logging.h.
 * tlspolicyd's main() and tlsmap's main() call logging_init().
 */
#include "logging.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

typedef enum { LOGGING_JOURNAL, LOGGING_STDERR, LOGGING_SYSLOG } LoggingTarget;

static struct {
    char ident[32];
    LoggingTarget target;
    gboolean echo, verbose;
    int pid;
} logging;

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

static void write_stderr(GLogLevelFlags level, const char *message)
{
    fprintf(stderr, "%s[%d]: %s%s\n", logging.ident, logging.pid, level_word(level), message);
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
    if (logging.echo && logging.target != LOGGING_STDERR)
        write_stderr(level, message);
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

void logging_hold_stderr(void)
{
    setvbuf(stderr, NULL, _IOFBF, 1 << 16);
}

void logging_flush(void)
{
    fflush(stderr);
}

void logging_set_verbose(gboolean verbose)
{
    logging.verbose = verbose;
}

gboolean logging_is_verbose(void)
{
    return logging.verbose;
}
