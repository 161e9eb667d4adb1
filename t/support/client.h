/*
 * client.h - what the socket-level tests need to talk to a daemon: connect
 * with a receive timeout, write everything, read N policy replies, see a
 * silent close.  EINTR-safe (the tests run tlsmap children meanwhile).
 */
#ifndef TLSPOLICYD_TEST_CLIENT_H
#define TLSPOLICYD_TEST_CLIENT_H

#include <glib.h>

int client_try_connect(const char *path);   /* -1 on failure */
int client_connect(const char *path);       /* asserts */
void client_send_all(int fd, const char *data, size_t len);
char *client_read_replies(int fd, int n);   /* until n "\n\n" or EOF */
gboolean client_closed_silently(int fd);
char *client_ask(const char *path, const char *request);  /* one request, one reply */    /* EOF with no byte first */
void client_die_with_parent(gpointer data); /* spawn child setup: SIGKILL when the test dies */

/* Run "exec COMMAND" under /bin/sh (killed if the test dies), wait until
 * socket exists; and stop it with SIGTERM, returning its wait status. */
GPid client_spawn(const char *command, const char *socket);
int client_stop(GPid pid);
void client_run(const char *command);       /* system(), which must succeed */

/* $TLSPOLICYD and $TLSMAP must name the binaries (g_error otherwise). */
void client_require_binaries(void);
/* Write a list source file and compile it with $TLSMAP. */
void client_compile_list(const char *path, const char *text);

#endif
