/*
 * client.c - socket helpers for the tests; see client.h.
 */
#include "client.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

int client_try_connect(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    g_strlcpy(sun.sun_path, path, sizeof sun.sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

int client_connect(const char *path)
{
    int fd = client_try_connect(path);
    g_assert_cmpint(fd, >=, 0);
    return fd;
}

void client_send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        g_assert_cmpint(n, >, 0);
        data += n;
        len -= (size_t)n;
    }
}

char *client_read_replies(int fd, int n)
{
    GString *got = g_string_new(NULL);
    char buf[65536];
    int ends = 0;
    while (ends < n) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++) {
            char prev = i ? buf[i - 1] : got->len ? got->str[got->len - 1] : 0;
            ends += buf[i] == '\n' && prev == '\n';
        }
        g_string_append_len(got, buf, r);
    }
    return g_string_free(got, FALSE);
}

gboolean client_closed_silently(int fd)
{
    char c;
    ssize_t r;
    while ((r = read(fd, &c, 1)) < 0 && errno == EINTR)
        ;
    /* a close with our bytes still unread there arrives as a reset */
    return r == 0 || (r < 0 && errno == ECONNRESET);
}

char *client_ask(const char *path, const char *request)
{
    int fd = client_connect(path);
    client_send_all(fd, request, strlen(request));
    char *reply = client_read_replies(fd, 1);
    close(fd);
    return reply;
}

/* The notify socket of each daemon spawned and not stopped yet. */
#define MAX_DAEMONS 16
static struct {
    GPid pid;
    int fd;
    char path[108];
} daemons[MAX_DAEMONS];

static int notify_fd_of(GPid pid)
{
    for (guint i = 0; i < MAX_DAEMONS; i++) {
        if (daemons[i].pid == pid)
            return daemons[i].fd;
    }
    g_error("no notify socket for pid %d", (int)pid);
}

/* A datagram socket for NOTIFY_SOCKET, in a directory of its own. */
static int notify_socket(char *path, size_t size)
{
    g_autofree char *dir = g_dir_make_tmp("tlspolicyd-notify-XXXXXX", NULL);
    g_assert_nonnull(dir);
    g_snprintf(path, size, "%s/notify", dir);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    g_strlcpy(sun.sun_path, path, sizeof sun.sun_path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sun, sizeof sun), ==, 0);
    return fd;
}

gboolean client_wait_notify(GPid pid, const char *message, guint timeout_ms)
{
    int fd = notify_fd_of(pid);
    gint64 deadline = g_get_monotonic_time() + timeout_ms * (gint64)1000;
    for (;;) {
        gint64 left = deadline - g_get_monotonic_time();
        if (left <= 0)
            return FALSE;
        struct timeval tv = {.tv_sec = left / G_USEC_PER_SEC, .tv_usec = left % G_USEC_PER_SEC};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char buf[512];
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return FALSE;
        buf[n] = 0;
        g_auto(GStrv) lines = g_strsplit(buf, "\n", -1);
        for (char **l = lines; *l; l++) {
            if (strcmp(*l, message) == 0)
                return TRUE;
        }
    }
}

GPid client_spawn(const char *command, const char *socket)
{
    g_autofree char *cmd = g_strconcat("exec ", command, NULL);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    GPid pid;
    guint slot = 0;
    while (slot < MAX_DAEMONS && daemons[slot].pid)
        slot++;
    g_assert_cmpuint(slot, <, MAX_DAEMONS);
    int fd = notify_socket(daemons[slot].path, sizeof daemons[slot].path);
    g_auto(GStrv) env = g_environ_setenv(g_get_environ(), "NOTIFY_SOCKET", daemons[slot].path, TRUE);
    unlink(socket);
    g_assert_true(g_spawn_async(NULL, argv, env, G_SPAWN_DO_NOT_REAP_CHILD, client_die_with_parent, NULL, &pid, NULL));
    daemons[slot].pid = pid;
    daemons[slot].fd = fd;
    /* READY=1: listening, list opened (ASan and a loaded machine: 20 s) */
    if (!client_wait_notify(pid, "READY=1", 20000))
        g_error("%s: no READY=1 within 20 s", command);
    g_assert_true(g_file_test(socket, G_FILE_TEST_EXISTS));
    return pid;
}

void client_drain_notify(GPid pid)
{
    char buf[512];
    while (recv(notify_fd_of(pid), buf, sizeof buf, MSG_DONTWAIT) >= 0)
        ;
}

void client_reload(GPid pid)
{
    client_drain_notify(pid);  /* no stale READY=1 may answer for this reload */
    kill(pid, SIGHUP);
    g_assert_true(client_wait_notify(pid, "RELOADING=1", 10000));
    g_assert_true(client_wait_notify(pid, "READY=1", 10000));
}

int client_stop(GPid pid)
{
    int status;
    kill(pid, SIGTERM);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    for (guint i = 0; i < MAX_DAEMONS; i++) {
        if (daemons[i].pid != pid)
            continue;
        close(daemons[i].fd);
        unlink(daemons[i].path);
        g_autofree char *dir = g_path_get_dirname(daemons[i].path);
        rmdir(dir);
        daemons[i].pid = 0;
    }
    return status;
}

guint client_count_in_file(const char *path, const char *needle)
{
    g_autofree char *text = NULL;
    guint n = 0;
    if (!g_file_get_contents(path, &text, NULL, NULL))
        return 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

gboolean client_wait_for_log(const char *path, const char *needle, guint count, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * (gint64)1000;
    while (client_count_in_file(path, needle) < count) {
        if (g_get_monotonic_time() > deadline)
            return FALSE;
        g_usleep(2000);  /* a poll interval, not a wait for time to pass */
    }
    return TRUE;
}

gboolean client_reply_becomes(const char *path, int fd, const char *request, const char *want, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * (gint64)1000;
    for (;;) {
        g_autofree char *reply = NULL;
        if (fd >= 0) {
            client_send_all(fd, request, strlen(request));
            reply = client_read_replies(fd, 1);
        } else {
            int c = client_try_connect(path);
            if (c >= 0) {
                client_send_all(c, request, strlen(request));
                reply = client_read_replies(c, 1);
                close(c);
            }
        }
        if (reply && strcmp(reply, want) == 0)
            return TRUE;
        if (g_get_monotonic_time() > deadline) {
            g_test_message("last reply: %s", reply ? reply : "(no connection)");
            return FALSE;
        }
        if (!reply || !*reply)
            g_usleep(2000);  /* a poll interval: refused or closed, try again */
    }
}

gboolean client_wait_until(gboolean (*done)(gpointer data), gpointer data, guint timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * (gint64)1000;
    while (!done(data)) {
        if (g_get_monotonic_time() > deadline)
            return FALSE;
        g_usleep(2000);  /* a poll interval */
    }
    return TRUE;
}

void client_run(const char *command)
{
    g_assert_cmpint(system(command), ==, 0);
}

void client_die_with_parent(gpointer data)
{
    (void)data;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

void client_require_binaries(void)
{
    if (!g_getenv("TLSPOLICYD") || !g_getenv("TLSMAP"))
        g_error("set TLSPOLICYD and TLSMAP (make check does)");
}

void client_compile_list(const char *path, const char *text)
{
    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    g_autofree char *compile = g_strdup_printf("%s %s", g_getenv("TLSMAP"), path);
    client_run(compile);
}
