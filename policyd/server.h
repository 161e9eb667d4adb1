/*
 * server.h - the tlspolicyd event loop: listeners, connections, signals.
 *
 * One process, one thread, level-triggered epoll (GLib's main loop
 * polls every fd on every wakeup; with hundreds of smtpd connections
 * that is the cost we avoid).  Each connection carries its input buffer,
 * pending output and Postfix transaction state; requests are answered in
 * order as soon as they are complete, however they were split or
 * pipelined.  Signals arrive through a signalfd: SIGHUP reloads the
 * configuration, SIGUSR1 logs the counters, SIGTERM/SIGINT stop after
 * answering what is in flight.
 */
#ifndef TLSPOLICYD_SERVER_H
#define TLSPOLICYD_SERVER_H

#include "config.h"

typedef struct Server Server;

/* reload: builds a fresh Config (file + command line), NULL on error
 * (the error is logged by the callback and the old config is kept). */
typedef Config *(*ConfigReloader)(gpointer data);

Server *server_new(Config *config, ConfigReloader reload, gpointer reload_data, GError **error);
int server_run(Server *server);  /* returns the exit status */
void server_free(Server *server);

#endif
