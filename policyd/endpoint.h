/*
 * endpoint.h - the daemon's listening sockets.
 *
 * From systemd (socket activation: LISTEN_FDS, with
 * FileDescriptorName=socketmap marking the socketmap socket), or else
 * made from the configuration's listen and socketmap_listen addresses:
 * "unix:/path" (mode, owner and group from the configuration; a stale
 * socket file is replaced, a live one - another server - is refused) or
 * "inet:host:port" (loopback only unless allow_remote).  The metrics
 * endpoint (metrics_listen, HTTP) is always the daemon's own.
 */
#ifndef TLSPOLICYD_ENDPOINT_H
#define TLSPOLICYD_ENDPOINT_H

#include <sys/types.h>

#include "config.h"

GQuark endpoint_error_quark(void);
#define ENDPOINT_ERROR endpoint_error_quark()
typedef enum {
    ENDPOINT_ERROR_ADDRESS,  /* malformed, unresolvable or not allowed */
    ENDPOINT_ERROR_IN_USE,   /* another server listens on the socket */
    ENDPOINT_ERROR_OWNER,    /* no such socket_owner or socket_group */
    ENDPOINT_ERROR_SYSTEM,   /* socket, bind, listen, chmod, chown */
} EndpointErrorCode;

typedef enum { PROTOCOL_POLICY, PROTOCOL_SOCKETMAP, PROTOCOL_HTTP } Protocol;

typedef struct {
    int fd;
    Protocol protocol;
    char *unix_path;  /* to unlink at exit; NULL for inet and inherited sockets */
    dev_t unix_dev;   /* the socket file we made: unlink only that one */
    ino_t unix_ino;
} Listener;

/* Every listener (GArray of Listener), or NULL with error (none left open). */
GArray *endpoint_open_all(const Config *config, GError **error);

/* Does a server accept connections on the unix socket at path?  (A
 * stale socket file refuses them.)  --check-postfix asks it too. */
gboolean endpoint_unix_answers(const char *path);
/* The same, and the uid of the process that accepted ((uid_t)-1 unknown). */
gboolean endpoint_unix_peer(const char *path, uid_t *uid);

/* Close them, unlink the socket files that are still the ones we made. */
void endpoint_close_all(GArray *listeners);

#endif
