/*
 * notify.c - sd_notify without libsystemd; see notify.h.
 */
#include "notify.h"

#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <stddef.h>
#include <unistd.h>

static void notify_send(const char *message)
{
    const char *path = g_getenv("NOTIFY_SOCKET");
    struct sockaddr_un sun = {.sun_family = AF_UNIX};

    if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof sun.sun_path)
        return;
    memcpy(sun.sun_path, path, strlen(path));
    if (path[0] == '@')
        sun.sun_path[0] = 0;
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    /* never wait: a notify socket nobody reads (its queue full) must not
     * stall the event loop; systemd reads its own at once */
    if (sendto(fd, message, strlen(message), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sun, len) < 0)
        g_debug("sd_notify: %s", g_strerror(errno));
    close(fd);
}

void notify_ready(void)
{
    notify_send("READY=1\nSTATUS=serving");
}

void notify_reloading(void)
{
    g_autofree char *msg = g_strdup_printf("RELOADING=1\nMONOTONIC_USEC=%" G_GINT64_FORMAT,
                                           g_get_monotonic_time());
    notify_send(msg);
}

void notify_status(const char *status)
{
    g_autofree char *msg = g_strconcat("STATUS=", status, NULL);
    notify_send(msg);
}

void notify_stopping(void)
{
    notify_send("STOPPING=1");
}
