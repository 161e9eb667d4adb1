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

GPid client_spawn(const char *command, const char *socket)
{
    g_autofree char *cmd = g_strconcat("exec ", command, NULL);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    GPid pid;
    unlink(socket);
    g_assert_true(g_spawn_async(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, client_die_with_parent, NULL, &pid, NULL));
    for (int i = 0; i < 300 && !g_file_test(socket, G_FILE_TEST_EXISTS); i++)
        g_usleep(10000);
    g_assert_true(g_file_test(socket, G_FILE_TEST_EXISTS));
    return pid;
}

int client_stop(GPid pid)
{
    int status;
    kill(pid, SIGTERM);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    return status;
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
