/*
 * endpoint.c - the daemon's listening sockets; see endpoint.h.  Called
 * by server.c at start and at exit.
 */
#include "endpoint.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

G_DEFINE_QUARK(tlspolicyd-endpoint-error-quark, endpoint_error)

static gboolean is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return FALSE;
}

static int listen_inet(const char *spec, const Config *c, GError **error)
{
    const char *hostport = spec + 5, *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport || !colon[1]) {
        g_set_error(error, ENDPOINT_ERROR, ENDPOINT_ERROR_ADDRESS, "%s: expected inet:host:port", spec);
        return -1;
    }
    g_autofree char *host = g_strndup(hostport, (gsize)(colon - hostport));
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = 0;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai;
    int rc = getaddrinfo(host, colon + 1, &hints, &ai);
    if (rc != 0) {
        g_set_error(error, ENDPOINT_ERROR, ENDPOINT_ERROR_ADDRESS, "%s: %s", spec, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    if (!c->allow_remote && !is_loopback(ai->ai_addr)) {
        g_set_error(error, ENDPOINT_ERROR, ENDPOINT_ERROR_ADDRESS,
                    "%s: not a loopback address; set allow_remote = true to listen on it", spec);
        goto out;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0
        || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        g_set_error(error, ENDPOINT_ERROR, ENDPOINT_ERROR_SYSTEM, "%s: %s", spec, g_strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
out:
    freeaddrinfo(ai);
    return fd;
}

gboolean endpoint_unix_peer(const char *path, uid_t *uid)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sun.sun_path)
        return FALSE;
    strcpy(sun.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    gboolean live = fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0;
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (live && uid)
        *uid = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.uid : (uid_t)-1;
    if (fd >= 0)
        close(fd);
    return live;
}

gboolean endpoint_unix_answers(const char *path)
{
    return endpoint_unix_peer(path, NULL);
}

static int listen_unix(const char *spec, const Config *c, GError **error)
{
    const char *path = spec + 5;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct stat st;

    if (strlen(path) >= sizeof sun.sun_path || !*path) {
        g_set_error(error, ENDPOINT_ERROR, ENDPOINT_ERROR_ADDRESS, "%s: bad socket path", spec);
        return -1;
    }
    strcpy(sun.sun_path, path);
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        /* Stale from an earlier run, or a live server (the service, while
         * an admin starts a second one by hand)?  Never take a live one's
         * path: it would be unreachable, and gone when we exit. */
        if (endpoint_unix_answers(path)) {
            g_set_error(error, ENDPOINT_ERROR, ENDPOINT_ERROR_IN_USE,
                        "%s: another server is listening on this socket (is tlspolicyd already running?)", spec);
            return -1;
        }
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0 || chmod(path, c->socket_mode) < 0
        || listen(fd, 1024) < 0) {
        g_set_error(error, ENDPOINT_ERROR, ENDPOINT_ERROR_SYSTEM, "%s: %s", spec, g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
    if (c->socket_owner && *c->socket_owner) {
        struct passwd *pw = getpwnam(c->socket_owner);
        if (!pw) {
            g_set_error(error, ENDPOINT_ERROR, ENDPOINT_ERROR_OWNER, "socket_owner: no user %s", c->socket_owner);
            close(fd);
            return -1;
        }
        uid = pw->pw_uid;
    }
    if (c->socket_group && *c->socket_group) {
        struct group *gr = getgrnam(c->socket_group);
        if (!gr) {
            g_set_error(error, ENDPOINT_ERROR, ENDPOINT_ERROR_OWNER, "socket_group: no group %s", c->socket_group);
            close(fd);
            return -1;
        }
        gid = gr->gr_gid;
    }
    if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(path, uid, gid) < 0) {
        g_set_error(error, ENDPOINT_ERROR, ENDPOINT_ERROR_SYSTEM, "%s: chown: %s", spec, g_strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Sockets passed by systemd (LISTEN_PID/LISTEN_FDS, starting at fd 3). */
static guint inherited_sockets(GArray *listeners)
{
    const char *pid = g_getenv("LISTEN_PID"), *fds = g_getenv("LISTEN_FDS");
    if (!pid || !fds || atoi(pid) != getpid())
        return 0;
    int n = atoi(fds);
    /* FileDescriptorName=socketmap in a .socket unit marks the socketmap service. */
    g_auto(GStrv) names = g_strsplit(g_getenv("LISTEN_FDNAMES") ? g_getenv("LISTEN_FDNAMES") : "", ":", -1);
    for (int fd = 3; fd < 3 + n; fd++) {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        const char *name = (guint)(fd - 3) < g_strv_length(names) ? names[fd - 3] : "";
        Listener l = {.fd = fd, .protocol = strcmp(name, "socketmap") == 0 ? PROTOCOL_SOCKETMAP : PROTOCOL_POLICY};
        g_array_append_val(listeners, l);
    }
    g_unsetenv("LISTEN_PID");
    g_unsetenv("LISTEN_FDS");
    g_unsetenv("LISTEN_FDNAMES");
    return (guint)MAX(n, 0);
}

GArray *endpoint_open_all(const Config *config, GError **error)
{
    GArray *listeners = g_array_new(FALSE, TRUE, sizeof(Listener));
    gboolean from_systemd = inherited_sockets(listeners) > 0;
    if (from_systemd)
        g_message("listening on %u socket(s) passed by systemd", listeners->len);
    char **specs[] = {config->listen, config->socketmap_listen, config->metrics_listen};
    static const char *const names[] = {"policy", "socketmap", "metrics"};
    for (Protocol p = from_systemd ? PROTOCOL_HTTP : PROTOCOL_POLICY; p <= PROTOCOL_HTTP; p++) {
        for (char **spec = specs[p]; spec && *spec; spec++) {
            gboolean is_unix = g_str_has_prefix(*spec, "unix:");
            int fd = is_unix ? listen_unix(*spec, config, error) : listen_inet(*spec, config, error);
            if (fd < 0) {
                endpoint_close_all(listeners);
                return NULL;
            }
            Listener l = {.fd = fd, .protocol = p, .unix_path = is_unix ? g_strdup(*spec + 5) : NULL};
            struct stat st;
            if (is_unix && lstat(l.unix_path, &st) == 0) {
                l.unix_dev = st.st_dev;
                l.unix_ino = st.st_ino;
            }
            g_array_append_val(listeners, l);
            g_message("listening on %s (%s)", *spec, names[p]);
        }
    }
    return listeners;
}

void endpoint_close_all(GArray *listeners)
{
    for (guint i = 0; i < listeners->len; i++) {
        Listener *l = &g_array_index(listeners, Listener, i);
        close(l->fd);
        struct stat st;  /* only our own socket file: another may have replaced it */
        if (l->unix_path && lstat(l->unix_path, &st) == 0 && st.st_dev == l->unix_dev && st.st_ino == l->unix_ino)
            unlink(l->unix_path);
        g_free(l->unix_path);
    }
    g_array_unref(listeners);
}

