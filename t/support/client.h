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

/* Run "exec COMMAND" under /bin/sh (killed if the test dies) with a
 * NOTIFY_SOCKET of the test's, and wait for the daemon's READY=1 (then
 * socket exists); stop it with SIGTERM, returning its wait status. */
GPid client_spawn(const char *command, const char *socket);
int client_stop(GPid pid);
/* Wait for one sd_notify line (e.g. "READY=1") from a spawned daemon. */
gboolean client_wait_notify(GPid pid, const char *message, guint timeout_ms);
/* SIGHUP, then wait for RELOADING=1 and READY=1: the reload is done. */
void client_reload(GPid pid);
/* Drop the notifications a daemon sent and nobody read. */
void client_drain_notify(GPid pid);

/* Waiting for events with a deadline, never for time to pass: */
guint client_count_in_file(const char *path, const char *needle);
/* until needle occurs count times in the file */
gboolean client_wait_for_log(const char *path, const char *needle, guint count, guint timeout_ms);
/* Ask (on fd, or with a connection to path each time when fd < 0) until
 * the reply is want: a change the daemon picks up by itself (a new list
 * file) has taken effect. */
gboolean client_reply_becomes(const char *path, int fd, const char *request, const char *want, guint timeout_ms);
gboolean client_wait_until(gboolean (*done)(gpointer data), gpointer data, guint timeout_ms);
void client_run(const char *command);       /* system(), which must succeed */

/* $TLSPOLICYD and $TLSMAP must name the binaries (g_error otherwise). */
void client_require_binaries(void);
/* Write a list source file and compile it with $TLSMAP. */
void client_compile_list(const char *path, const char *text);

#endif
