/* daemon.c - socket-level tests against a running tlspolicyd: real unix
 * socket, real compiled list, real signals.  $TLSPOLICYD and $TLSMAP name
 * the binaries (make check sets them). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "client.h"
#include "netstring.h"

static char *tmpdir, *sock_path, *sm_path, *list_path, *conf_path, *log_path;
static GPid daemon_pid;

static const char request[] =
    "request=smtpd_access_policy\nprotocol_state=RCPT\nqueue_id=Q1\ninstance=1\n"
    "client_address=192.0.2.1\nclient_name=mx.example\nsender=a@listed.example\n"
    "recipient=b@local.example\nencryption_protocol=\n\n";
/* DNS the tests never leave the machine for: lookups of listed domains
 * fail at once (nothing listens on the discard port) */
/* never the machine's DNS (lookups fail at once) or its Postfix; as
 * root, the tests' own account (t/supervise.t drops to another) */
#define ISOLATED "dns_resolver = 127.0.0.1@9\npostfix_config_directory =\nuser = root\n"
#define REJECT "action=550 5.7.1 TLS required: mail from this sender must arrive over an encrypted connection\n\n"

static void write_config(const char *extra)
{
    g_autofree char *text = g_strdup_printf("[tlspolicyd]\nlist = %s\nlisten = unix:%s\nidle_timeout = 2\n" ISOLATED
                                            "read_timeout = 1\nmax_line = 512\nsocketmap_listen = unix:%s\n%s",
                                            list_path, sock_path, sm_path, extra);
    g_assert_true(g_file_set_contents(conf_path, text, -1, NULL));
}

static void start_daemon(void)
{
    g_autofree char *cmd = g_strdup_printf("%s --config %s >/dev/null 2>>%s", g_getenv("TLSPOLICYD"), conf_path, log_path);
    daemon_pid = client_spawn(cmd, sock_path);
}

static int stop_daemon(void)
{
    return client_stop(daemon_pid);
}


static int connect_daemon(void)
{
    return client_connect(sock_path);
}

/* The daemon closed the connection without sending anything. */
static void assert_closed_silently(int fd)
{
    g_assert_true(client_closed_silently(fd));
}

static char *ask(const char *req)
{
    return client_ask(sock_path, req);
}

static gboolean reply_becomes(int fd, const char *req, const char *want)
{
    return client_reply_becomes(sock_path, fd, req, want, 5000);
}

static void test_basic_and_pipelined(void)
{
    g_autofree char *one = ask(request);
    g_assert_cmpstr(one, ==, REJECT);

    int fd = connect_daemon();
    g_autofree char *three = g_strconcat(request, request, "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=x@unlisted.example\n\n", NULL);
    client_send_all(fd, three, strlen(three));
    g_autofree char *replies = client_read_replies(fd, 3);
    g_assert_cmpstr(replies, ==, REJECT REJECT "action=DUNNO\n\n");
    close(fd);
}

static void test_byte_by_byte(void)
{
    int fd = connect_daemon();
    for (size_t i = 0; i < strlen(request); i++)
        client_send_all(fd, request + i, 1);
    g_autofree char *reply = client_read_replies(fd, 1);
    g_assert_cmpstr(reply, ==, REJECT);
    close(fd);
}

static void test_thousand_sequential(void)
{
    int fd = connect_daemon();
    for (int i = 0; i < 1000; i++) {
        client_send_all(fd, request, strlen(request));
        g_autofree char *reply = client_read_replies(fd, 1);
        g_assert_cmpstr(reply, ==, REJECT);
    }
    close(fd);
}

static void test_bad_input_closes_silently(void)
{
    static const struct {
        const char *name, *input;
    } rows[] = {
        {"garbage line", "request=smtpd_access_policy\nthis is not an attribute\n\n"},
        {"missing request=", "protocol_state=RCPT\nsender=a@listed.example\n\n"},
        {"wrong request", "request=something_else\n\n"},
        {"NUL byte", "request=smtpd_access_policy\nsender=a\0b\n\n"},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        int fd = connect_daemon();
        g_test_message("case %s", rows[i].name);
        size_t len = strlen(rows[i].input);
        if (strcmp(rows[i].name, "NUL byte") == 0)
            len = sizeof "request=smtpd_access_policy\nsender=a\0b\n\n" - 1;
        client_send_all(fd, rows[i].input, len);
        assert_closed_silently(fd);
        close(fd);
    }
    /* oversize line, no newline at all */
    int fd = connect_daemon();
    g_autofree char *big = g_strnfill(2000, 'x');
    client_send_all(fd, big, strlen(big));
    assert_closed_silently(fd);
    close(fd);
    /* a good request before a bad one is still answered */
    fd = connect_daemon();
    g_autofree char *mixed = g_strconcat(request, "junk\n\n", NULL);
    client_send_all(fd, mixed, strlen(mixed));
    g_autofree char *reply = client_read_replies(fd, 1);
    g_assert_cmpstr(reply, ==, REJECT);
    assert_closed_silently(fd);
    close(fd);
    /* and the daemon still serves */
    g_autofree char *after = ask(request);
    g_assert_cmpstr(after, ==, REJECT);
}

static void test_timeouts(void)
{
    /* idle: closed between requests after idle_timeout (2 s) */
    int fd = connect_daemon();
    client_send_all(fd, request, strlen(request));
    g_free(client_read_replies(fd, 1));
    gint64 start = g_get_monotonic_time();
    assert_closed_silently(fd);
    double waited = (g_get_monotonic_time() - start) / 1e6;
    g_assert_cmpfloat(waited, >=, 1.0);
    g_assert_cmpfloat(waited, <, 4.5);
    close(fd);
    /* read: a started request must complete within read_timeout (1 s) */
    fd = connect_daemon();
    client_send_all(fd, "request=smtpd", 13);
    start = g_get_monotonic_time();
    assert_closed_silently(fd);
    waited = (g_get_monotonic_time() - start) / 1e6;
    g_assert_cmpfloat(waited, <, 3.5);
    close(fd);
}

static void test_list_changes_without_signal(void)
{
    int fd = connect_daemon();
    g_autofree char *cmd = g_strdup_printf("printf 'listed.example none\\n' | %s -i %s", g_getenv("TLSMAP"), list_path);
    g_autofree char *back = g_strdup_printf("printf 'listed.example encrypt\\n' | %s -i %s", g_getenv("TLSMAP"), list_path);
    for (int round = 0; round < 20; round++) {
        client_run(round % 2 ? back : cmd);
        g_assert_true(reply_becomes(fd, request, round % 2 ? REJECT : "action=DUNNO\n\n"));
    }
    close(fd);
}

/* Does the daemon still map a deleted list file? */
static gboolean maps_deleted_list(void)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/maps", (int)daemon_pid);
    g_autofree char *maps = NULL;
    g_assert_true(g_file_get_contents(path, &maps, NULL, NULL));
    return strstr(maps, ".lmdb (deleted)") != NULL;
}

static gboolean unmapped_deleted_list(gpointer data)
{
    (void)data;
    return !maps_deleted_list();
}

/* An idle daemon lets go of a replaced list within about a second, not at
 * the next request (it kept the deleted file mapped). */
static void test_idle_daemon_unmaps_old_list(void)
{
    g_autofree char *reply = client_ask(sock_path, request);
    g_assert_false(maps_deleted_list());
    g_autofree char *cmd = g_strdup_printf("printf 'idle.example encrypt\n' | %s -i %s", g_getenv("TLSMAP"), list_path);
    client_run(cmd);
    /* 5 s at most, no request meanwhile */
    g_assert_true(client_wait_until(unmapped_deleted_list, NULL, 5000));
}

static void test_list_errors_fail_closed(void)
{
    g_autofree char *lmdb = g_strconcat(list_path, ".lmdb", NULL);
    g_autofree char *saved = g_strconcat(lmdb, ".saved", NULL);
    const char *tempfail = "action=451 4.3.0 TLS policy temporarily unavailable, try again later\n\n";
    g_assert_cmpint(rename(lmdb, saved), ==, 0);
    g_assert_true(reply_becomes(-1, request, tempfail));
    for (int i = 0; i < 2; i++) {
        g_autofree char *reply = ask(request);
        g_assert_cmpstr(reply, ==, tempfail);
    }
    g_assert_cmpint(rename(saved, lmdb), ==, 0);
    g_assert_true(reply_becomes(-1, request, REJECT));
    g_assert_true(client_wait_for_log(log_path, "is available again", 1, 5000));
    g_autofree char *log = NULL;
    g_assert_true(g_file_get_contents(log_path, &log, NULL, NULL));
    /* logged once for the three requests, and once when it came back */
    guint warnings = 0;
    for (const char *p = log; (p = strstr(p, "list unavailable, answering per on_list_error=tempfail")); p++)
        warnings++;
    g_assert_cmpuint(warnings, ==, 1);
    g_assert_nonnull(strstr(log, "is available again"));
}

static void test_reload(void)
{
    /* a bad config is refused and the old one kept */
    write_config("bogus_option = 1\n");
    client_reload(daemon_pid);
    g_autofree char *still = ask(request);
    g_assert_cmpstr(still, ==, REJECT);
    /* a good one takes effect */
    write_config("reject_code = 554\n");
    client_reload(daemon_pid);
    g_autofree char *changed = ask(request);
    g_assert_true(g_str_has_prefix(changed, "action=554 5.7.1 "));
    /* READY=1 does not order the log lines: wait for them, with a deadline */
    g_assert_true(client_wait_for_log(log_path, "unknown option \"bogus_option\"", 1, 5000));
    g_assert_true(client_wait_for_log(log_path, "reload failed; keeping the running configuration", 1, 5000));
    g_assert_true(client_wait_for_log(log_path, "configuration reloaded", 1, 5000));
    /* keys that only a restart applies are named */
    write_config("socket_mode = 0660\nallow_remote = true\n");
    client_reload(daemon_pid);
    g_assert_true(client_wait_for_log(log_path, "changed, in effect at the next restart: socket_mode, allow_remote", 1,
                                      5000));
    write_config("");
    client_reload(daemon_pid);
}

static void test_log_lines(void)
{
    const char *hostile = "request=smtpd_access_policy\nprotocol_state=RCPT\nqueue_id=Q\033[31mRED\n"
                          "sender=a@listed.example\nrecipient=\001b@x\n\n";
    g_autofree char *reply = ask(hostile);
    g_assert_cmpstr(reply, ==, REJECT);
    guint counters = client_count_in_file(log_path, "counters: requests=");
    kill(daemon_pid, SIGUSR1);
    g_assert_true(client_wait_for_log(log_path, "counters: requests=", counters + 1, 5000));
    g_autofree char *log = NULL;
    g_assert_true(g_file_get_contents(log_path, &log, NULL, NULL));
    g_assert_nonnull(strstr(log, "reject: queue_id=Q1 instance=1 direction=inbound client=mx.example[192.0.2.1] "
                                 "sender=<a@listed.example> recipient=<b@local.example> key=listed.example "
                                 "level=encrypt reason=\"listed sender: no TLS\""));
    g_assert_nonnull(strstr(log, "queue_id=Q\\x1B[31mRED"));
    g_assert_nonnull(strstr(log, "recipient=<\\x01b@x>"));
    g_assert_null(strchr(log, '\033'));
    g_assert_nonnull(strstr(log, "counters: requests="));
}

/* A busy daemon holds no log line back: a lone reject line shows up
 * within a second while a load of unlisted senders goes on. */
static gpointer keep_busy(gpointer data)
{
    gint64 until = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
    g_autoptr(GString) batch = g_string_new(NULL);
    for (int i = 0; i < 200; i++)
        g_string_append_printf(batch, "request=smtpd_access_policy\nprotocol_state=RCPT\nqueue_id=Q%d\n"
                                      "sender=a@unlisted.example\nrecipient=b@local.example\n\n", i);
    int fd = connect_daemon();
    client_send_all(fd, request, sizeof request - 1);  /* the one reject: queue_id=Q1 */
    g_free(client_read_replies(fd, 1));
    while (g_get_monotonic_time() < until && !g_atomic_int_get((gint *)data)) {
        client_send_all(fd, batch->str, batch->len);
        g_free(client_read_replies(fd, 200));
    }
    close(fd);
    return NULL;
}

static void test_log_under_load(void)
{
    gint done = 0;
    guint before = client_count_in_file(log_path, "reject: queue_id=Q1 ");
    GThread *load[2] = {g_thread_new("load", keep_busy, &done), g_thread_new("load", keep_busy, &done)};
    gboolean seen = client_wait_for_log(log_path, "reject: queue_id=Q1 ", before + 1, 1000);
    g_atomic_int_set(&done, 1);
    g_thread_join(load[0]);
    g_thread_join(load[1]);
    g_assert_true(seen);
}

static void test_command_line(void)
{
    g_autofree char *out = NULL, *err = NULL;
    int status;
    g_autofree char *cmd = g_strdup_printf("%s --config %s --check-config", g_getenv("TLSPOLICYD"), conf_path);
    g_assert_true(g_spawn_command_line_sync(cmd, &out, &err, &status, NULL));
    g_assert_cmpint(status, ==, 0);
    g_assert_nonnull(strstr(out, "min_protocol = TLSv1.2\n"));
    g_assert_nonnull(strstr(out, "idle_timeout = 2\n"));

    g_autofree char *bad = g_build_filename(tmpdir, "bad.conf", NULL);
    g_assert_true(g_file_set_contents(bad, "[tlspolicyd]\n# c\nmin_protocol = TLSv9\n", -1, NULL));
    g_free(cmd), g_free(out), g_free(err);
    cmd = g_strdup_printf("%s --config %s --check-config", g_getenv("TLSPOLICYD"), bad);
    g_assert_true(g_spawn_command_line_sync(cmd, &out, &err, &status, NULL));
    g_assert_cmpint(status, !=, 0);
    g_assert_nonnull(strstr(err, "bad.conf, line 3: invalid value \"TLSv9\" for min_protocol"));

    g_free(cmd), g_free(out), g_free(err);
    cmd = g_strdup_printf("%s --user root --list %s --listen inet:192.0.2.1:10040", g_getenv("TLSPOLICYD"), list_path);
    g_assert_true(g_spawn_command_line_sync(cmd, &out, &err, &status, NULL));
    g_assert_cmpint(status, !=, 0);
    g_assert_nonnull(strstr(err, "not a loopback address"));
}

/* A second daemon on the same unix path (an admin running tlspolicyd -v by
 * hand beside the service) refuses to start; a daemon unlinks at exit
 * only the socket file it created. */
static void test_second_instance(void)
{
    g_autofree char *out = NULL, *err = NULL;
    int status;
    g_autofree char *cmd = g_strdup_printf("%s --user root --list %s --listen unix:%s", g_getenv("TLSPOLICYD"), list_path, sock_path);
    g_assert_true(g_spawn_command_line_sync(cmd, &out, &err, &status, NULL));
    g_assert_cmpint(status, !=, 0);
    g_assert_nonnull(strstr(err, "another server is listening on this socket"));
    g_autofree char *reply = client_ask(sock_path, request);
    g_assert_cmpstr(reply, ==, REJECT);  /* the first one still serves */

    /* a daemon whose socket file was replaced leaves the new one alone */
    g_autofree char *other = g_build_filename(tmpdir, "other.sock", NULL);
    g_autofree char *run = g_strdup_printf("%s --user root --list %s --listen unix:%s", g_getenv("TLSPOLICYD"), list_path, other);
    GPid pid = client_spawn(run, other);
    g_autofree char *moved = g_strconcat(other, ".old", NULL);
    g_assert_cmpint(rename(other, moved), ==, 0);
    g_autofree char *replace = g_strdup_printf("python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' %s", other);
    client_run(replace);
    struct stat before;
    g_assert_cmpint(lstat(other, &before), ==, 0);
    int rc = client_stop(pid);
    g_assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    struct stat after;
    g_assert_cmpint(lstat(other, &after), ==, 0);
    g_assert_cmpuint(after.st_ino, ==, before.st_ino);
    unlink(other);
    unlink(moved);
}

/*
 * Run the daemon the way tlspolicyd.service + tlspolicyd.socket do: the
 * listening socket as fd 3 with LISTEN_FDS/LISTEN_PID, NOTIFY_SOCKET
 * pointing at a datagram socket that the test reads.
 */
static int systemd_listener = -1;

static void systemd_child_setup(gpointer data)
{
    (void)data;
    char pid[32];
    if (systemd_listener == 3)
        fcntl(3, F_SETFD, 0);  /* dup2() onto itself would keep close-on-exec */
    else
        dup2(systemd_listener, 3);
    g_snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "1", 1);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* The next notification that is not a STATUS= update (those come every
 * few seconds, see test_status_line). */
static char *next_notification(int fd)
{
    char buf[512];
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        g_assert_cmpint(n, >, 0);
        buf[n] = 0;
        if (!g_str_has_prefix(buf, "STATUS="))
            return g_strdup(buf);
    }
}

static void test_systemd_protocol(void)
{
    g_autofree char *activated = g_build_filename(tmpdir, "activated.sock", NULL);
    g_autofree char *notify_path = g_build_filename(tmpdir, "notify.sock", NULL);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};

    systemd_listener = socket(AF_UNIX, SOCK_STREAM, 0);
    g_strlcpy(sun.sun_path, activated, sizeof sun.sun_path);
    g_assert_cmpint(bind(systemd_listener, (struct sockaddr *)&sun, sizeof sun), ==, 0);
    g_assert_cmpint(listen(systemd_listener, 16), ==, 0);
    int notify = socket(AF_UNIX, SOCK_DGRAM, 0);
    g_strlcpy(sun.sun_path, notify_path, sizeof sun.sun_path);
    g_assert_cmpint(bind(notify, (struct sockaddr *)&sun, sizeof sun), ==, 0);

    g_setenv("NOTIFY_SOCKET", notify_path, TRUE);
    /* as root here, where systemd's User= would have made it the account */
    g_autofree char *systemd_conf = g_strconcat(list_path, ".conf", NULL);
    g_assert_true(g_file_set_contents(systemd_conf, "[tlspolicyd]\nuser = root\npostfix_config_directory =\n", -1, NULL));
    char *argv[] = {(char *)g_getenv("TLSPOLICYD"), "--config", systemd_conf, "--list", list_path, "--listen",
                    "unix:/nonexistent/ignored", NULL};
    GPid pid;
    g_assert_true(g_spawn_async(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDERR_TO_DEV_NULL,
                                systemd_child_setup, NULL, &pid, NULL));
    g_unsetenv("NOTIFY_SOCKET");

    /* READY=1 comes once the daemon answers on the inherited socket. */
    g_autofree char *ready = next_notification(notify);
    g_assert_true(g_str_has_prefix(ready, "READY=1"));
    struct sockaddr_un target = {.sun_family = AF_UNIX};
    g_strlcpy(target.sun_path, activated, sizeof target.sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&target, sizeof target), ==, 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    client_send_all(fd, request, strlen(request));
    g_autofree char *reply = client_read_replies(fd, 1);
    g_assert_cmpstr(reply, ==, REJECT);
    close(fd);

    kill(pid, SIGHUP);
    g_autofree char *reloading = next_notification(notify);
    g_assert_true(g_str_has_prefix(reloading, "RELOADING=1\nMONOTONIC_USEC="));
    g_autofree char *ready_again = next_notification(notify);
    g_assert_true(g_str_has_prefix(ready_again, "READY=1"));

    kill(pid, SIGTERM);
    g_autofree char *stopping = next_notification(notify);
    g_assert_cmpstr(stopping, ==, "STOPPING=1");
    int status;
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* the daemon does not remove a socket it did not create */
    g_assert_true(g_file_test(activated, G_FILE_TEST_EXISTS));
    close(notify);
    close(systemd_listener);
}

/* Read n netstring replies (simple: the test's replies are short). */
static char *read_netstrings(int fd, int n)
{
    GString *got = g_string_new(NULL);
    char buf[4096];
    while (n > 0) {
        int commas = 0;
        for (const char *p = got->str; *p; p++)
            commas += *p == ',';
        if (commas >= n)
            break;
        ssize_t r = read(fd, buf, sizeof buf);
        if (r <= 0)
            break;
        g_string_append_len(got, buf, r);
    }
    return g_string_free(got, FALSE);
}

static void test_socketmap(void)
{
    static const struct {
        const char *name, *requests[2], *want[2];
    } rows[] = {
        {"listed", {"transport someone@listed.example"}, {"OK tls-encrypt:"}},
        {"parent form", {"transport .other.example"}, {"OK tls-verify:"}},
        {"unlisted", {"transport a@b.example"}, {"NOTFOUND "}},
        {"pipelined", {"transport a@b.example", "transport someone@listed.example"}, {"NOTFOUND ", "OK tls-encrypt:"}},
        {"wrong table", {"virtual a@b.test"}, {"PERM unknown table name; this service answers \"transport\" and \"tlspolicy\""}},
    };
    for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
        g_autoptr(GString) out = g_string_new(NULL), want = g_string_new(NULL);
        int n = 0;
        for (; n < 2 && rows[i].requests[n]; n++) {
            netstring_append(out, rows[i].requests[n]);
            netstring_append(want, rows[i].want[n]);
        }
        int fd = client_connect(sm_path);
        g_test_message("case %s", rows[i].name);
        client_send_all(fd, out->str, out->len);
        g_autofree char *got = read_netstrings(fd, n);
        close(fd);
        g_assert_cmpstr(got, ==, want->str);
    }
    /* byte by byte */
    int fd = client_connect(sm_path);
    const char *req = "32:transport someone@listed.example,";
    for (size_t i = 0; i < strlen(req); i++)
        client_send_all(fd, req + i, 1);
    g_autofree char *slow = read_netstrings(fd, 1);
    g_assert_cmpstr(slow, ==, "15:OK tls-encrypt:,");
    close(fd);
    /* malformed and oversize: closed without a reply */
    static const char *const bad[] = {"hello", "5:abcdef", "99999:", "3:a\0b,"};
    static const size_t bad_len[] = {5, 8, 6, 6};
    for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
        fd = client_connect(sm_path);
        client_send_all(fd, bad[i], bad_len[i]);
        assert_closed_silently(fd);
        close(fd);
    }
    /* one log line per route, escaped like the policy lines */
    fd = client_connect(sm_path);
    const char *odd = "33:transport some\033one@listed.example,";
    client_send_all(fd, odd, strlen(odd));
    g_free(read_netstrings(fd, 1));
    close(fd);
    g_assert_true(client_wait_for_log(log_path, "route: socketmap query=\"transport some\\x1Bone", 1, 5000));
    g_autofree char *log = NULL;
    g_assert_true(g_file_get_contents(log_path, &log, NULL, NULL));
    g_assert_nonnull(strstr(log, "route: socketmap query=\"transport someone@listed.example\" key=listed.example "
                                 "level=encrypt reason=\"listed recipient\" reply=\"OK tls-encrypt:\""));
    g_assert_nonnull(strstr(log, "route: socketmap query=\"transport some\\x1Bone@listed.example\""));
}

/* A daemon of its own for one test: the shared settings plus extra,
 * listening on NAME.sock, logging to NAME.log. */
typedef struct {
    GPid pid;
    char *sock, *log, *conf;
} OwnDaemon;

static OwnDaemon own_daemon(const char *name, const char *list, const char *extra)
{
    OwnDaemon d = {
        .sock = g_strdup_printf("%s/%s.sock", tmpdir, name),
        .log = g_strdup_printf("%s/%s.log", tmpdir, name),
        .conf = g_strdup_printf("%s/%s.conf", tmpdir, name),
    };
    g_autofree char *text = g_strdup_printf("[tlspolicyd]\nlist = %s\nlisten = unix:%s\n" ISOLATED "%s", list, d.sock, extra);
    g_assert_true(g_file_set_contents(d.conf, text, -1, NULL));
    g_autofree char *cmd = g_strdup_printf("%s --config %s >/dev/null 2>>%s", g_getenv("TLSPOLICYD"), d.conf, d.log);
    d.pid = client_spawn(cmd, d.sock);
    return d;
}

static void own_daemon_stop(OwnDaemon *d)
{
    int status = client_stop(d->pid);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_free(d->sock);
    g_free(d->log);
    g_free(d->conf);
}

/* MTA-STS policies kept across restarts: a valid one is loaded and
 * enforced at once (the tlspolicy table, no DNS needed: the MX hosts its
 * wildcard matches were saved with it); a damaged, a
 * foreign-named and an expired one are skipped, not half-used; at exit the
 * file is written again with the valid one only. */
static void test_mta_sts_state(void)
{
    g_autofree char *state = g_build_filename(tmpdir, "mta-sts.state", NULL);
    gint64 now = g_get_real_time() / G_USEC_PER_SEC;
    g_autofree char *text = g_strdup_printf(
        "[mta-sts kept.example]\nid=20261125\nexpires=%" G_GINT64_FORMAT "\n"
        "policy=version: STSv1\\nmode: enforce\\nmx: *.mail.kept.example\\nmx: mx.kept.example\\nmax_age: 86400\\n\n"
        "mx_hosts=a.mail.kept.example;mx.kept.example;deep.a.mail.kept.example;\n"
        "[mta-sts damaged.example]\nid=1\nexpires=%" G_GINT64_FORMAT "\npolicy=version: STSv1\\nmode: strict\\n\n"
        "[mta-sts bad name.example]\nid=1\nexpires=%" G_GINT64_FORMAT "\n"
        "policy=version: STSv1\\nmode: enforce\\nmx: a.example\\nmax_age: 86400\\n\n"
        "[mta-sts expired.example]\nid=1\nexpires=%" G_GINT64_FORMAT "\n"
        "policy=version: STSv1\\nmode: enforce\\nmx: a.example\\nmax_age: 86400\\n",
        now + 3600, now + 3600, now + 3600, now - 1);
    g_assert_true(g_file_set_contents(state, text, -1, NULL));
    g_autofree char *sm = g_build_filename(tmpdir, "mtasts-sm.sock", NULL);
    g_autofree char *extra = g_strdup_printf("socketmap_listen = unix:%s\nmta_sts_state_file = %s\n"
                                             "mta_sts = enforce\n", sm, state);
    OwnDaemon d = own_daemon("mtasts", list_path, extra);
    g_assert_true(client_wait_for_log(d.log, "MTA-STS: 1 cached policies loaded from ", 1, 5000));
    g_assert_true(client_wait_for_log(d.log, "(3 expired or damaged, skipped)", 1, 5000));
    int fd = client_connect(sm);
    g_autoptr(GString) q = g_string_new(NULL);
    netstring_append(q, "tlspolicy kept.example");
    netstring_append(q, "tlspolicy damaged.example");
    client_send_all(fd, q->str, q->len);
    g_autofree char *got = read_netstrings(fd, 2);
    close(fd);
    g_autoptr(GString) want = g_string_new(NULL);
    netstring_append(want, "OK secure match=a.mail.kept.example:mx.kept.example servername=hostname");
    netstring_append(want, "TEMP MTA-STS policy not known yet");
    g_assert_cmpstr(got, ==, want->str);
    /* a second daemon with the same state file refuses to start, rather
     * than the two overwriting each other's saves */
    g_autofree char *second_sock = g_build_filename(tmpdir, "mtasts2.sock", NULL);
    g_autofree char *cmd = g_strdup_printf("%s --config %s --listen unix:%s", g_getenv("TLSPOLICYD"), d.conf, second_sock);
    g_autofree char *err = NULL;
    int status = 0;
    g_assert_true(g_spawn_command_line_sync(cmd, NULL, &err, &status, NULL));
    g_assert_false(g_spawn_check_wait_status(status, NULL));
    g_assert_nonnull(strstr(err, "mta-sts.state.lock: locked by another tlspolicyd using the same state file"));
    own_daemon_stop(&d);
    g_autofree char *saved = NULL;
    g_assert_true(g_file_get_contents(state, &saved, NULL, NULL));
    g_assert_nonnull(strstr(saved, "[mta-sts kept.example]"));
    g_assert_null(strstr(saved, "damaged.example"));
}

/* A client that sends without reading: once its buffers and the daemon's
 * are full the daemon stops reading (it waits to write), then answers
 * every request once the client reads. */
static void test_backpressure(void)
{
    OwnDaemon d = own_daemon("backpressure", list_path, "");
    int fd = client_connect(d.sock);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    guint sent = 0;
    size_t offset = 0, len = strlen(request);
    /* whole requests until the socket stays full for half a second: the
     * daemon has stopped reading because its replies cannot go out */
    for (;;) {
        ssize_t n = send(fd, request + offset, len - offset, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            g_assert_cmpint(errno, ==, EAGAIN);
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, 500) == 0 && offset == 0)
                break;
            continue;
        }
        offset += (size_t)n;
        if (offset == len) {
            offset = 0;
            sent++;
        }
        g_assert_cmpuint(sent, <, 1000000);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    g_test_message("%u requests sent before the daemon stopped reading", sent);
    g_assert_cmpuint(sent, >, 1000);  /* more replies than fit in the socket buffers */
    g_autofree char *replies = client_read_replies(fd, (int)sent);
    guint answered = 0;
    for (const char *p = replies; (p = strstr(p, REJECT)); p += strlen(REJECT))
        answered++;
    g_assert_cmpuint(answered, ==, sent);
    g_assert_cmpuint(strlen(replies), ==, sent * strlen(REJECT));
    close(fd);
    own_daemon_stop(&d);
}

/* A request longer than the first input buffer (2 KiB) grows it. */
static void test_big_request(void)
{
    OwnDaemon d = own_daemon("bigrequest", list_path, "max_line = 4096\nmax_request = 65536\n");
    g_autoptr(GString) req = g_string_new("request=smtpd_access_policy\nprotocol_state=RCPT\n");
    for (int i = 0; i < 8; i++)
        g_string_append_printf(req, "ccert_subject=%03000d\n", i);
    g_string_append(req, "sender=a@listed.example\n\n");
    g_assert_cmpuint(req->len, >, 20000);
    g_autofree char *reply = client_ask(d.sock, req->str);
    g_assert_cmpstr(reply, ==, REJECT);
    own_daemon_stop(&d);
}

/* max_connections: one more connection is closed at once (and counted);
 * a place that frees up is taken again. */
static void test_max_connections(void)
{
    OwnDaemon d = own_daemon("maxconn", list_path, "max_connections = 3\n");
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = client_connect(d.sock);
        client_send_all(fds[i], request, strlen(request));  /* accepted and answered */
        g_autofree char *reply = client_read_replies(fds[i], 1);
        g_assert_cmpstr(reply, ==, REJECT);
    }
    /* The daemon may close the refused connection before or after the
     * request arrives: the write may fail with EPIPE (no signal), the
     * guarantee is only that no answer comes. */
    int extra = client_connect(d.sock);
    ssize_t sent = send(extra, request, strlen(request), MSG_NOSIGNAL);
    g_assert_true(sent > 0 || errno == EPIPE || errno == ECONNRESET);
    g_assert_true(client_closed_silently(extra));
    close(extra);
    g_assert_true(client_wait_for_log(d.log, "max_connections (3) reached; refusing connections", 1, 5000));
    close(fds[0]);
    g_assert_true(client_reply_becomes(d.sock, -1, request, REJECT, 5000));
    kill(d.pid, SIGUSR1);
    g_assert_true(client_wait_for_log(d.log, "refused=", 1, 5000));
    g_assert_cmpuint(client_count_in_file(d.log, "refused=0 "), ==, 0);
    close(fds[1]);
    close(fds[2]);
    own_daemon_stop(&d);
}

/* An open-files limit below what max_connections needs: raised to the
 * hard limit, and a warning says what to change. */
static void test_open_files_limit(void)
{
    g_autofree char *sock = g_build_filename(tmpdir, "nofile.sock", NULL);
    g_autofree char *conf = g_build_filename(tmpdir, "nofile.conf", NULL);
    g_autofree char *log = g_build_filename(tmpdir, "nofile.log", NULL);
    g_autofree char *text = g_strdup_printf("[tlspolicyd]\nlist = %s\nlisten = unix:%s\n" ISOLATED
                                            "max_connections = 1000\n", list_path, sock);
    g_assert_true(g_file_set_contents(conf, text, -1, NULL));
    g_autofree char *cmd = g_strdup_printf("/bin/sh -c 'ulimit -n 512 && exec %s --config %s' >/dev/null 2>>%s",
                                           g_getenv("TLSPOLICYD"), conf, log);
    GPid pid = client_spawn(cmd, sock);
    g_assert_true(client_wait_for_log(log, "open files limit 512 is below what max_connections = 1000 needs (1288)",
                                      1, 5000));
    g_autofree char *reply = client_ask(sock, request);
    g_assert_cmpstr(reply, ==, REJECT);
    int status = client_stop(pid);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A reload that names another list: the new list answers at once. */
static void test_reload_with_another_list(void)
{
    g_autofree char *other = g_build_filename(tmpdir, "other.list", NULL);
    client_compile_list(other, "listed.example none\nnew.example encrypt\n");
    OwnDaemon d = own_daemon("relist", list_path, "");
    g_autofree char *before = client_ask(d.sock, request);
    g_assert_cmpstr(before, ==, REJECT);
    g_autofree char *text = g_strdup_printf("[tlspolicyd]\nlist = %s\nlisten = unix:%s\n" ISOLATED, other, d.sock);
    g_assert_true(g_file_set_contents(d.conf, text, -1, NULL));
    client_reload(d.pid);
    g_autofree char *after = client_ask(d.sock, request);
    g_assert_cmpstr(after, ==, "action=DUNNO\n\n");
    g_autofree char *now_listed = client_ask(d.sock, "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=x@new.example\n\n");
    g_assert_cmpstr(now_listed, ==, REJECT);
    own_daemon_stop(&d);
}

/* Send text on a new connection to path, read until the daemon closes. */
static char *http_exchange(const char *path, const char *text)
{
    int fd = client_connect(path);
    client_send_all(fd, text, strlen(text));
    g_autoptr(GString) got = g_string_new(NULL);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
            g_string_append_len(got, buf, n);
    close(fd);
    return g_string_free(g_steal_pointer(&got), FALSE);
}

/* The metrics endpoint (here on a unix socket): counts the traffic the
 * test made, answers 404/405/431, closes after each reply. */
static void test_metrics_endpoint(void)
{
    g_autofree char *msock = g_build_filename(tmpdir, "http.sock", NULL);
    g_autofree char *extra = g_strdup_printf("metrics_listen = unix:%s\n", msock);
    g_autofree char *list = g_build_filename(tmpdir, "metrics.list", NULL);
    client_compile_list(list, "listed.example encrypt\n.other.example verify\n");
    OwnDaemon d = own_daemon("metrics", list, extra);
    g_assert_true(client_wait_for_log(d.log, "listening on unix:", 2, 5000));
    /* one reject (no TLS), one TLS 1.2 request from an unlisted sender, one route */
    g_autofree char *r1 = client_ask(d.sock, request);
    g_assert_cmpstr(r1, ==, REJECT);
    g_autofree char *r2 = client_ask(d.sock, "request=smtpd_access_policy\nprotocol_state=RCPT\ninstance=2\n"
                                             "sender=x@unlisted.example\nencryption_protocol=TLSv1.2\n\n");
    g_assert_cmpstr(r2, ==, "action=DUNNO\n\n");
    g_autofree char *metrics = http_exchange(msock, "GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n");
    g_assert_true(g_str_has_prefix(metrics, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4"));
    static const char *const want[] = {
        "\ntlspolicyd_decisions_total{direction=\"inbound\",verdict=\"reject\"} 1\n",
        "\ntlspolicyd_decisions_total{direction=\"inbound\",verdict=\"dunno\"} 1\n",
        "\ntlspolicyd_refusals_total{reason=\"no_tls\"} 1\n",
        "\ntlspolicyd_refusals_total{reason=\"protocol\"} 0\n",
        "\ntlspolicyd_inbound_sessions_total{protocol=\"none\"} 1\n",
        "\ntlspolicyd_inbound_sessions_total{protocol=\"TLSv1.2\"} 1\n",
        "\ntlspolicyd_list_entries 2\n",
        "\ntlspolicyd_list_usable 1\n",
        "\ntlspolicyd_decision_duration_seconds_count{service=\"policy\"} 2\n",
        "\n# TYPE tlspolicyd_decision_duration_seconds histogram\n",
    };
    for (guint i = 0; i < G_N_ELEMENTS(want); i++)
        if (!strstr(metrics, want[i]))
            g_error("metrics lack %s in:\n%s", want[i], metrics);
    g_autofree char *missing = http_exchange(msock, "GET /nothing HTTP/1.1\r\n\r\n");
    g_assert_true(g_str_has_prefix(missing, "HTTP/1.1 404 Not Found\r\n"));
    g_autofree char *post = http_exchange(msock, "POST /metrics HTTP/1.1\r\n\r\n");
    g_assert_true(g_str_has_prefix(post, "HTTP/1.1 405 Method Not Allowed\r\n"));
    g_autofree char *head = http_exchange(msock, "HEAD /metrics HTTP/1.1\r\n\r\n");
    g_assert_true(g_str_has_prefix(head, "HTTP/1.1 200 OK\r\n"));
    g_assert_true(g_str_has_suffix(head, "\r\n\r\n"));  /* no body */
    g_autofree char *junk = g_strnfill(9000, 'x');
    g_autofree char *big = http_exchange(msock, junk);
    g_assert_true(g_str_has_prefix(big, "HTTP/1.1 431 "));
    /* /explain (tlspolicyd --explain): the list's verdict and the sources;
     * what it echoes is escaped (a control byte in the address) */
    g_autofree char *explain = http_exchange(msock, "GET /explain?address=a%0Db%40listed.example HTTP/1.1\r\n\r\n");
    if (!strstr(explain, "\r\n\r\naddress: a\\x0Db@listed.example\nsources: list: encrypt (key listed.example); DANE: ")
        || !strstr(explain, "\nanswer: OK tls-")
        || !strstr(explain, "; MTA-STS: "))
        g_error("explain: %s", explain);
    /* ... counted, and logged once however often it is asked */
    g_free(http_exchange(msock, "GET /explain?address=a%0Db%40listed.example HTTP/1.1\r\n\r\n"));
    g_assert_true(client_wait_for_log(d.log, "explain: address=\"a\\x0Db@listed.example\" reply=\"OK tls-", 1, 5000));
    g_autofree char *after = http_exchange(msock, "GET /metrics HTTP/1.1\r\n\r\n");
    g_assert_nonnull(strstr(after, "\ntlspolicyd_explain_requests_total 2\n"));
    g_assert_cmpuint(client_count_in_file(d.log, "explain: address="), ==, 1);
    /* numeric parameters are numbers, levels are levels */
    g_autofree char *bad_min = http_exchange(msock, "GET /suggest?min=12abc HTTP/1.1\r\n\r\n");
    g_assert_true(g_str_has_prefix(bad_min, "HTTP/1.1 400 "));
    g_assert_nonnull(strstr(bad_min, "min must be a number of sessions from 1 to 1000000000"));
    g_autofree char *zero = http_exchange(msock, "GET /suggest?min=0 HTTP/1.1\r\n\r\n");
    g_assert_true(g_str_has_prefix(zero, "HTTP/1.1 400 "));
    g_autofree char *bad_level = http_exchange(msock, "GET /suggest?level=none HTTP/1.1\r\n\r\n");
    g_assert_true(g_str_has_prefix(bad_level, "HTTP/1.1 400 "));
    g_autofree char *good = http_exchange(msock, "GET /suggest?min=5&level=verify HTTP/1.1\r\n\r\n");
    g_assert_true(g_str_has_prefix(good, "HTTP/1.1 200 "));
    /* the admin port has places of its own: 32 idle clients there take
     * none of Postfix's, and the 33rd is refused and counted */
    int admin[32];
    for (guint i = 0; i < G_N_ELEMENTS(admin); i++)
        admin[i] = client_connect(msock);
    int extra_admin = client_connect(msock);
    g_assert_true(client_closed_silently(extra_admin));
    close(extra_admin);
    g_autofree char *still = client_ask(d.sock, request);
    g_assert_cmpstr(still, ==, REJECT);
    g_assert_true(client_wait_for_log(d.log, "metrics_listen: 32 connections open; refusing more", 1, 5000));
    for (guint i = 0; i < G_N_ELEMENTS(admin); i++)
        close(admin[i]);
    g_autofree char *counted = NULL;
    for (gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC; g_get_monotonic_time() < end;) {
        g_free(counted);
        counted = http_exchange(msock, "GET /metrics HTTP/1.1\r\n\r\n");  /* once the 32 are closed */
        if (counted && g_str_has_prefix(counted, "HTTP/1.1 200"))
            break;
        g_usleep(10000);
    }
    g_assert_nonnull(strstr(counted, "\ntlspolicyd_admin_connections_refused_total 1\n"));
    /* the list it loaded was logged, with its size */
    g_assert_true(client_wait_for_log(d.log, "metrics.list.lmdb loaded: 2 entries (inode ", 1, 5000));
    own_daemon_stop(&d);
}

/* The compliance ledger: known traffic, GET /report and /entries, the
 * --report and --suggest commands, and the state file across a restart. */
static void test_ledger(void)
{
    g_autofree char *msock = g_build_filename(tmpdir, "ledger-http.sock", NULL);
    g_autofree char *state = g_build_filename(tmpdir, "ledger.state", NULL);
    g_autofree char *list = g_build_filename(tmpdir, "ledger.list", NULL);
    client_compile_list(list, "trial.example encrypt mode=report\nbank.example encrypt\nidle.example encrypt\n");
    g_autofree char *extra = g_strdup_printf("metrics_listen = unix:%s\nstate_file = %s\n", msock, state);
    OwnDaemon d = own_daemon("ledger", list, extra);
    static const char *const senders[] = {"a@trial.example", "b@trial.example", "a@bank.example",
                                          "x@good.example", "y@good.example"};
    for (guint i = 0; i < G_N_ELEMENTS(senders); i++) {
        const char *tls = g_str_has_suffix(senders[i], "good.example") ? "TLSv1.3" : "";
        g_autofree char *req = g_strdup_printf("request=smtpd_access_policy\nprotocol_state=RCPT\ninstance=L%u\n"
                                               "sender=%s\nencryption_protocol=%s\n"
                                               "encryption_cipher=TLS_AES_256_GCM_SHA384\nclient_name=mx.example\n"
                                               "client_address=192.0.2.1\n\n", i, senders[i], tls);
        g_free(client_ask(d.sock, req));
    }
    g_autofree char *report = http_exchange(msock, "GET /report HTTP/1.1\r\n\r\n");
    g_assert_true(g_str_has_prefix(report, "HTTP/1.1 200 OK\r\n"));
    g_assert_nonnull(strstr(report, "\ntrial.example                    encrypt   report         2         0            2       0  no_tls=2 "));
    g_assert_nonnull(strstr(report, "\nbank.example                     encrypt   enforce        1         0            0       1  no_tls=1 "));
    g_assert_nonnull(strstr(report, "\nEntries never seen: idle.example\n"));
    g_autofree char *entries = http_exchange(msock, "GET /entries HTTP/1.1\r\n\r\n");
    g_assert_nonnull(strstr(entries, "Content-Type: application/json\r\n"));
    g_assert_nonnull(strstr(entries, "{\"domain\":\"good.example\",\"count\":2,\"error\":0,\"met_encrypt\":2,"));
    /* the commands an admin runs */
    g_autofree char *conf_arg = g_strdup_printf("--config %s", d.conf);
    g_autofree char *cmd = g_strdup_printf("%s --report %s", g_getenv("TLSPOLICYD"), conf_arg);
    g_autofree char *out = NULL;
    int status;
    g_assert_true(g_spawn_command_line_sync(cmd, &out, NULL, &status, NULL));
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_assert_true(g_str_has_prefix(out, "Compliance report: inbound mail transactions since "));
    g_autofree char *cmd2 = g_strdup_printf("%s --suggest --min 2 %s", g_getenv("TLSPOLICYD"), conf_arg);
    g_autofree char *out2 = NULL;
    g_assert_true(g_spawn_command_line_sync(cmd2, &out2, NULL, &status, NULL));
    g_assert_nonnull(strstr(out2, "\ngood.example encrypt direction=inbound mode=report\n"));
    /* kept across a restart */
    own_daemon_stop(&d);
    g_assert_true(g_file_test(state, G_FILE_TEST_EXISTS));
    d = own_daemon("ledger", list, extra);
    g_autofree char *again = http_exchange(msock, "GET /report HTTP/1.1\r\n\r\n");
    g_assert_nonnull(strstr(again, "\nbank.example                     encrypt   enforce        1 "));
    own_daemon_stop(&d);
    /* no daemon: the command says so, exit 2 */
    g_autofree char *err = NULL;
    g_assert_true(g_spawn_command_line_sync(cmd, NULL, &err, &status, NULL));
    g_assert_cmpint(WEXITSTATUS(status), ==, 2);
    g_assert_nonnull(strstr(err, "cannot ask the daemon"));
}

static void test_sigterm(void)
{
    int fd = connect_daemon();
    client_send_all(fd, request, strlen(request));
    g_autofree char *reply = client_read_replies(fd, 1);
    g_assert_cmpstr(reply, ==, REJECT);
    int status = stop_daemon();
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    g_assert_false(g_file_test(sock_path, G_FILE_TEST_EXISTS));
    close(fd);
}

typedef struct {
    int fd;
    GString *got;
} Drain;

static gpointer drain_pipe(gpointer data)
{
    Drain *dr = data;
    char buf[65536];
    ssize_t n;
    while ((n = read(dr->fd, buf, sizeof buf)) > 0)
        g_string_append_len(dr->got, buf, n);
    return NULL;
}

/* A log sink that stops reading (stderr a pipe nobody drains): answers go
 * on at full speed, the lines that do not fit the queue are dropped and
 * counted, and once the pipe is read again a warning says how many. */
static void test_stuck_log_sink(void)
{
    g_autofree char *msock = g_build_filename(tmpdir, "stuck-http.sock", NULL);
    g_autofree char *sock = g_build_filename(tmpdir, "stuck.sock", NULL);
    g_autofree char *conf = g_build_filename(tmpdir, "stuck.conf", NULL);
    g_autofree char *fifo = g_build_filename(tmpdir, "stuck.fifo", NULL);
    g_autofree char *list = g_build_filename(tmpdir, "stuck.list", NULL);
    client_compile_list(list, "listed.example encrypt\n");
    g_autofree char *text = g_strdup_printf("[tlspolicyd]\nlist = %s\nlisten = unix:%s\nmetrics_listen = unix:%s\n" ISOLATED,
                                            list, sock, msock);
    g_assert_true(g_file_set_contents(conf, text, -1, NULL));
    g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
    int hold = open(fifo, O_RDWR | O_CLOEXEC);  /* open, never read (until the end) */
    g_assert_cmpint(hold, >=, 0);
    g_autofree char *cmd = g_strdup_printf("%s --config %s >/dev/null 2>%s", g_getenv("TLSPOLICYD"), conf, fifo);
    GPid pid = client_spawn(cmd, sock);

    /* 20,000 refusals, each a log line of ~400 bytes: 8 MB for a 64 KiB pipe and a 1 MiB queue */
    int fd = client_connect(sock);
    gint64 began = g_get_monotonic_time();
    for (int i = 0; i < 20000; i++) {
        g_autofree char *req = g_strdup_printf("request=smtpd_access_policy\nprotocol_state=RCPT\nqueue_id=S%d\n"
                                               "instance=s%d\nsender=a@listed.example\nrecipient=b@here.example\n"
                                               "client_address=192.0.2.1\nclient_name=mx.listed.example\n\n", i, i);
        client_send_all(fd, req, strlen(req));
        g_autofree char *reply = client_read_replies(fd, 1);
        g_assert_cmpstr(reply, ==, REJECT);
    }
    close(fd);
    gint64 took_ms = (g_get_monotonic_time() - began) / 1000;
    g_test_message("20000 answers in %" G_GINT64_FORMAT " ms with the log stuck", took_ms);
    g_assert_cmpint(took_ms, <, 60000);  /* a stalled loop never finishes at all */
    g_autofree char *metrics = http_exchange(msock, "GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n");
    const char *dropped = strstr(metrics, "\ntlspolicyd_log_lines_dropped_total ");
    g_assert_nonnull(dropped);
    guint64 n = g_ascii_strtoull(dropped + strlen("\ntlspolicyd_log_lines_dropped_total "), NULL, 10);
    g_test_message("%" G_GUINT64_FORMAT " lines dropped", n);
    g_assert_cmpuint(n, >, 0);

    /* the sink recovers: the drop is said */
    int rd = open(fifo, O_RDONLY | O_CLOEXEC | O_NONBLOCK);  /* its own end: EOF once the writers are gone */
    g_assert_cmpint(rd, >=, 0);
    g_assert_cmpint(fcntl(rd, F_SETFL, 0), ==, 0);
    Drain dr = {rd, g_string_new(NULL)};
    GThread *reader = g_thread_new("drain", drain_pipe, &dr);
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!strstr(dr.got->str, "log lines dropped: the log was written slower than lines came")
           && g_get_monotonic_time() < deadline)
        g_usleep(20000);  /* polling the drained text inside the deadline */
    g_assert_nonnull(strstr(dr.got->str, "log lines dropped: the log was written slower than lines came"));
    g_assert_cmpint(client_stop(pid), ==, 0);
    close(hold);
    g_thread_join(reader);
    close(rd);
    g_string_free(dr.got, TRUE);
}

/* Route lines: once per recipient and answer (Postfix asks at least twice
 * per recipient), nothing for unlisted ones.  Each row sends its queries,
 * then a marker query whose line proves the earlier ones are written. */
static void test_route_lines_per_recipient(void)
{
    g_autofree char *list = g_build_filename(tmpdir, "routelines.list", NULL);
    client_compile_list(list, "listed.example encrypt direction=outbound nexthop=[relay.example]\n"
                              "trial.example encrypt direction=outbound mode=report\n"
                              "marker.example encrypt direction=outbound nexthop=[relay.example]\n");
    g_autofree char *map = g_build_filename(tmpdir, "routelines-map.sock", NULL);
    g_autofree char *extra = g_strdup_printf("socketmap_listen = unix:%s\n", map);
    OwnDaemon d = own_daemon("routelines", list, extra);
    static const struct {
        const char *name;
        const char *queries[4];
        const char *line;    /* the log line's start */
        guint want;          /* how many such lines */
    } rows[] = {
        {"listed, asked three times", {"a@listed.example", "a@listed.example", "a@listed.example"},
         "route: socketmap query=\"transport a@listed.example\" key=listed.example level=encrypt "
         "reason=\"listed recipient\" reply=\"OK tls-encrypt:[relay.example]\"", 1},
        {"two recipients of one listed domain", {"b@listed.example", "c@listed.example", "b@listed.example"},
         "route: socketmap query=\"transport ", 2},
        {"unlisted, asked three times", {"a@unlisted.example", "a@unlisted.example", "a@unlisted.example"},
         "socketmap query=\"transport a@unlisted.example\"", 0},
        {"report mode, asked twice", {"a@trial.example", "a@trial.example"},
         "report: socketmap query=\"transport a@trial.example\" key=trial.example level=encrypt "
         "reason=\"report mode\" reply=\"would have been: OK tls-encrypt:\"", 1},
        {"TEMP (a domain that cannot be folded), asked twice", {"a@\xff.example", "a@\xff.example"},
         "tempfail: socketmap query=\"transport a@\\xFF.example\"", 1},
    };
    for (guint r = 0; r < G_N_ELEMENTS(rows); r++) {
        guint before = client_count_in_file(d.log, rows[r].line);
        int fd = client_connect(map);
        for (guint q = 0; q < G_N_ELEMENTS(rows[r].queries) && rows[r].queries[q]; q++) {
            g_autofree char *key = g_strconcat("transport ", rows[r].queries[q], NULL);
            g_autofree char *ns = g_strdup_printf("%zu:%s,", strlen(key), key);
            client_send_all(fd, ns, strlen(ns));
            g_free(read_netstrings(fd, 1));
        }
        g_autofree char *marker = g_strdup_printf("transport m%u@marker.example", r);
        g_autofree char *ns = g_strdup_printf("%zu:%s,", strlen(marker), marker);
        client_send_all(fd, ns, strlen(ns));
        g_free(read_netstrings(fd, 1));
        close(fd);
        g_autofree char *seen = g_strdup_printf("query=\"%s\"", marker);
        g_assert_true(client_wait_for_log(d.log, seen, 1, 5000));
        guint got = client_count_in_file(d.log, rows[r].line) - before;
        if (rows[r].want == 2)  /* b@ and c@: count the two queries' own lines */
            got = client_count_in_file(d.log, "query=\"transport b@listed.example\"")
                  + client_count_in_file(d.log, "query=\"transport c@listed.example\"");
        if (got != rows[r].want)
            g_error("row %s: %u lines \"%s\", want %u", rows[r].name, got, rows[r].line, rows[r].want);
    }
    own_daemon_stop(&d);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* a write to a connection the daemon closed fails its assertion with
     * EPIPE instead of killing the whole test program */
    signal(SIGPIPE, SIG_IGN);
    client_require_binaries();
    tmpdir = g_dir_make_tmp("tlspolicyd-test-XXXXXX", NULL);
    sock_path = g_build_filename(tmpdir, "policy.sock", NULL);
    sm_path = g_build_filename(tmpdir, "socketmap.sock", NULL);
    list_path = g_build_filename(tmpdir, "test.list", NULL);
    conf_path = g_build_filename(tmpdir, "tlspolicyd.conf", NULL);
    log_path = g_build_filename(tmpdir, "daemon.log", NULL);
    client_compile_list(list_path, "listed.example encrypt\n.other.example verify\n");
    write_config("");
    start_daemon();

    g_test_add_func("/daemon/basic_and_pipelined", test_basic_and_pipelined);
    g_test_add_func("/daemon/byte_by_byte", test_byte_by_byte);
    g_test_add_func("/daemon/thousand_sequential", test_thousand_sequential);
    g_test_add_func("/daemon/bad_input", test_bad_input_closes_silently);
    g_test_add_func("/daemon/timeouts", test_timeouts);
    g_test_add_func("/daemon/list_changes", test_list_changes_without_signal);
    g_test_add_func("/daemon/idle_unmaps_old_list", test_idle_daemon_unmaps_old_list);
    g_test_add_func("/daemon/list_errors", test_list_errors_fail_closed);
    g_test_add_func("/daemon/reload", test_reload);
    g_test_add_func("/daemon/log_lines", test_log_lines);
    g_test_add_func("/daemon/log_under_load", test_log_under_load);
    g_test_add_func("/daemon/command_line", test_command_line);
    g_test_add_func("/daemon/second_instance", test_second_instance);
    g_test_add_func("/daemon/socketmap", test_socketmap);
    g_test_add_func("/daemon/route_lines_per_recipient", test_route_lines_per_recipient);
    g_test_add_func("/daemon/stuck_log_sink", test_stuck_log_sink);
    g_test_add_func("/daemon/systemd_protocol", test_systemd_protocol);
    g_test_add_func("/daemon/backpressure", test_backpressure);
    g_test_add_func("/daemon/big_request", test_big_request);
    g_test_add_func("/daemon/max_connections", test_max_connections);
    g_test_add_func("/daemon/open_files_limit", test_open_files_limit);
    g_test_add_func("/daemon/reload_with_another_list", test_reload_with_another_list);
    g_test_add_func("/daemon/metrics_endpoint", test_metrics_endpoint);
    g_test_add_func("/daemon/mta_sts_state", test_mta_sts_state);
    g_test_add_func("/daemon/ledger", test_ledger);
    g_test_add_func("/daemon/sigterm", test_sigterm);
    int rc = g_test_run();
    if (kill(daemon_pid, 0) == 0)
        stop_daemon();
    g_autofree char *rm = g_strdup_printf("rm -rf '%s'", tmpdir);
    client_run(rm);
    return rc;
}
