/*
 * probe.c - probe one SMTP server's STARTTLS; see probe.h.
 *
 * Steps: TCP connect (poll, timeout) -> 220 banner -> EHLO -> look for
 * STARTTLS -> STARTTLS -> 220 -> discard anything the server sent after
 * that 220 (the STARTTLS command injection class of bugs: bytes sent in
 * plaintext must never be read as part of the TLS session) -> handshake
 * with SNI -> certificate facts -> verdicts.
 */
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "key.h"
#include "tlsrules.h"

const char *probe_level_name(ProbeLevel level)
{
    static const char *const names[] = {"encrypt", "verify", "secure", "dane", "dane-only", "mta-sts"};
    return names[level];
}

typedef struct {
    int fd;
    char buf[PROBE_MAX_LINE * 2];
    size_t len;
    guint timeout;
    gint64 deadline;  /* of the current step, g_get_monotonic_time() units */
} Conn;

/* Every step (connect, each reply, the handshake) ends within the timeout
 * as a whole: a server that drips a byte at a time cannot stretch it. */
static void start_step(Conn *c)
{
    c->deadline = g_get_monotonic_time() + (gint64)c->timeout * G_USEC_PER_SEC;
}

static gboolean fail(ProbeResult *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static gboolean fail(ProbeResult *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_free(r->error);
    r->error = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return FALSE;
}

/* Wait for fd until the step's deadline. */
static gboolean wait_fd(int fd, short events, gint64 deadline)
{
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        gint64 left_ms = (deadline - g_get_monotonic_time() + 999) / 1000;
        if (left_ms <= 0)
            return FALSE;
        int rc = poll(&p, 1, (int)left_ms);
        if (rc > 0)
            return TRUE;
        if (rc == 0 || errno != EINTR)
            return FALSE;
    }
}

static gboolean connect_to(Conn *c, const ProbeTarget *t, ProbeResult *r)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    int rc = getaddrinfo(t->address, t->port, &hints, &ai);
    if (rc != 0)
        return fail(r, "cannot resolve %s: %s", t->address, gai_strerror(rc));
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        char host[NI_MAXHOST], serv[NI_MAXSERV];
        getnameinfo(a->ai_addr, a->ai_addrlen, host, sizeof host, serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV);
        g_free(r->peer);
        r->peer = g_strdup_printf(a->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
        int err = 0;
        socklen_t len = sizeof err;
        start_step(c);
        if ((connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) && wait_fd(fd, POLLOUT, c->deadline)
            && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
            /* stays non-blocking: every read and the handshake wait with poll */
            c->fd = fd;
            freeaddrinfo(ai);
            r->connected = TRUE;
            return TRUE;
        }
        close(fd);
    }
    freeaddrinfo(ai);
    return fail(r, "cannot connect to %s port %s (timeout %us or refused)", t->address, t->port, t->timeout);
}

/* Read one whole SMTP reply (all its lines) into *reply. */
static gboolean read_reply(Conn *c, ProbeResult *r, const char *after, GString *reply)
{
    g_string_truncate(reply, 0);
    start_step(c);
    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        if (!nl) {
            if (c->len >= sizeof c->buf - 1)
                return fail(r, "reply line too long after %s", after);
            if (!wait_fd(c->fd, POLLIN, c->deadline))
                return fail(r, "no complete reply within %us after %s", c->timeout, after);
            ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (n <= 0)
                return fail(r, "connection closed after %s", after);
            c->len += (size_t)n;
            continue;
        }
        size_t line_len = (size_t)(nl - c->buf) + 1;
        g_string_append_len(reply, c->buf, (gssize)line_len);
        memmove(c->buf, c->buf + line_len, c->len - line_len);
        c->len -= line_len;
        if (reply->len > PROBE_MAX_REPLY)
            return fail(r, "reply to %s larger than %d bytes", after, PROBE_MAX_REPLY);
        if (line_len < 4 || !g_ascii_isdigit(reply->str[reply->len - line_len]))
            return fail(r, "malformed reply after %s", after);
        if (reply->str[reply->len - line_len + 3] != '-')
            return TRUE;
    }
}

static gboolean send_line(Conn *c, ProbeResult *r, const char *line)
{
    g_autofree char *text = g_strconcat(line, "\r\n", NULL);
    size_t len = strlen(text), sent = 0;
    start_step(c);
    while (sent < len) {
        ssize_t n = send(c->fd, text + sent, len - sent, MSG_NOSIGNAL);
        if (n > 0)
            sent += (size_t)n;
        else if (n < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(c->fd, POLLOUT, c->deadline))
            continue;
        else
            return fail(r, "cannot send %s", line);
    }
    return TRUE;
}

static char *x509_name(X509_NAME *name)
{
    char buf[512];
    X509_NAME_oneline(name, buf, sizeof buf);
    return g_strdup(buf);
}

static void certificate_facts(SSL *ssl, const ProbeTarget *t, ProbeResult *r)
{
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (!cert) {
        r->chain_error = g_strdup("no certificate");
        return;
    }
    r->subject = x509_name(X509_get_subject_name(cert));
    r->issuer = x509_name(X509_get_issuer_name(cert));
    BIO *bio = BIO_new(BIO_s_mem());
    ASN1_TIME_print(bio, X509_get0_notAfter(cert));
    char *text;
    long n = BIO_get_mem_data(bio, &text);
    r->not_after = g_strndup(text, (gsize)n);
    BIO_free(bio);

    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
        GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type == GEN_DNS)
            g_ptr_array_add(r->names, g_strndup((const char *)ASN1_STRING_get0_data(gn->d.dNSName),
                                                (gsize)ASN1_STRING_length(gn->d.dNSName)));
    }
    GENERAL_NAMES_free(sans);

    STACK_OF(X509) *sent = SSL_get_peer_cert_chain(ssl);
    for (int i = 0; sent && i < sk_X509_num(sent); i++) {
        unsigned char *der = NULL;
        int len = i2d_X509(sk_X509_value(sent, i), &der);
        if (len > 0)
            g_ptr_array_add(r->chain, g_bytes_new(der, (gsize)len));
        OPENSSL_free(der);
    }
    long verify = SSL_get_verify_result(ssl);
    r->chain_ok = verify == X509_V_OK;
    if (!r->chain_ok)
        r->chain_error = g_strdup(X509_verify_cert_error_string(verify));
    r->matches_mx = X509_check_host(cert, t->host, 0, 0, NULL) == 1;
    for (guint i = 0; i < r->names->len; i++) {
        const char *name = r->names->pdata[i];
        r->matches_domain |= key_name_in_domain(g_str_has_prefix(name, "*.") ? name + 2 : name, t->domain);
    }
    X509_free(cert);
}

static gboolean handshake(Conn *c, const ProbeTarget *t, ProbeResult *r)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    /* see what the server really offers, weak or not; judging comes after */
    SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
    SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (((t->cafile || t->capath) && SSL_CTX_load_verify_locations(ctx, t->cafile, t->capath) != 1)
        || (t->default_cas && SSL_CTX_set_default_verify_paths(ctx) != 1)) {
        SSL_CTX_free(ctx);
        return fail(r, "cannot load CA certificates%s%s%s%s", t->cafile ? " from " : "", t->cafile ? t->cafile : "",
                    t->capath ? " from " : "", t->capath ? t->capath : "");
    }
    SSL *ssl = SSL_new(ctx);
    SSL_set_tlsext_host_name(ssl, t->host);
    SSL_set_fd(ssl, c->fd);
    /* non-blocking, so the whole handshake ends within the step's time */
    start_step(c);
    int rc, want = 0;
    while ((rc = SSL_connect(ssl)) != 1) {
        int err = SSL_get_error(ssl, rc);
        if (err == SSL_ERROR_WANT_READ)
            want = POLLIN;
        else if (err == SSL_ERROR_WANT_WRITE)
            want = POLLOUT;
        else
            break;
        if (!wait_fd(c->fd, (short)want, c->deadline)) {
            rc = -2;
            break;
        }
    }
    gboolean ok = rc == 1;
    if (ok) {
        r->tls = TRUE;
        r->protocol = g_strdup(SSL_get_version(ssl));
        r->cipher = g_strdup(SSL_get_cipher_name(ssl));
        int group = SSL_get_negotiated_group(ssl);
        r->group = g_strdup(group ? OBJ_nid2sn(group & ~TLSEXT_nid_unknown) : "");
        certificate_facts(ssl, t, r);
        SSL_write(ssl, "QUIT\r\n", 6);
    } else {
        unsigned long e = ERR_get_error();
        if (rc == -2)
            fail(r, "TLS handshake not finished within %us", c->timeout);
        else
            fail(r, "TLS handshake failed: %s", e ? ERR_reason_error_string(e) : "connection closed");
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return ok;
}

static void judge(ProbeResult *r)
{
    char excluded[32];
    const char *enc_why = NULL;
    if (!r->tls)
        enc_why = r->error ? r->error : "no TLS";
    else if (tls_protocol_rank(r->protocol) < TLS_DEFAULT_MIN_PROTOCOL)
        enc_why = "protocol below TLSv1.2";
    else if (tls_excluded_cipher(r->cipher, TLS_DEFAULT_EXCLUDED_CIPHERS, excluded, sizeof excluded))
        enc_why = "weak cipher";
    r->ok[PROBE_ENCRYPT] = enc_why == NULL;
    r->why[PROBE_ENCRYPT] = g_strdup(enc_why ? enc_why : "TLS 1.2 or better, strong cipher");

    const char *chain_why = !r->chain_ok ? (r->chain_error ? r->chain_error : "certificate not trusted") : NULL;
    r->ok[PROBE_VERIFY] = r->ok[PROBE_ENCRYPT] && r->chain_ok && r->matches_mx;
    r->why[PROBE_VERIFY] = g_strdup(!r->ok[PROBE_ENCRYPT] ? enc_why
                                    : chain_why              ? chain_why
                                    : !r->matches_mx         ? "certificate does not name the MX host"
                                                             : "trusted certificate names the MX host");
    r->ok[PROBE_SECURE] = r->ok[PROBE_ENCRYPT] && r->chain_ok && r->matches_domain;
    r->why[PROBE_SECURE] = g_strdup(!r->ok[PROBE_ENCRYPT] ? enc_why
                                    : chain_why              ? chain_why
                                    : !r->matches_domain     ? "certificate does not name the domain"
                                                             : "trusted certificate names the domain");
    for (int l = PROBE_DANE; l < PROBE_LEVELS; l++)
        r->why[l] = g_strdup("not checked (DNS not consulted)");
}

static gboolean smtp_steps(Conn *c, const ProbeTarget *t, ProbeResult *r)
{
    g_autoptr(GString) reply = g_string_new(NULL);
    if (!connect_to(c, t, r) || !read_reply(c, r, "connect", reply))
        return FALSE;
    r->banner = g_strstrip(g_strndup(reply->str, MIN(reply->len, 200)));
    if (reply->str[0] != '2')
        return fail(r, "server refused the connection: %s", r->banner);
    if (!send_line(c, r, "EHLO tlsprobe.invalid") || !read_reply(c, r, "EHLO", reply))
        return FALSE;
    if (reply->str[0] != '2')
        return fail(r, "EHLO refused");
    for (char *p = reply->str; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        r->starttls_offered |= strlen(p) >= 12 && g_ascii_strncasecmp(p + 4, "STARTTLS", 8) == 0;
    if (!r->starttls_offered)
        return fail(r, "STARTTLS not offered");
    if (!send_line(c, r, "STARTTLS") || !read_reply(c, r, "STARTTLS", reply))
        return FALSE;
    if (reply->str[0] != '2')
        return fail(r, "STARTTLS refused: %.100s", g_strstrip(reply->str));
    if (c->len > 0) {
        /* sent before the handshake: never part of the TLS session */
        r->injected_bytes_discarded = TRUE;
        c->len = 0;
    }
    return handshake(c, t, r);
}

ProbeResult *probe_server(const ProbeTarget *t)
{
    ProbeResult *r = g_new0(ProbeResult, 1);
    Conn c = {.fd = -1, .timeout = t->timeout};
    r->host = g_strdup(t->host);
    r->names = g_ptr_array_new_with_free_func(g_free);
    r->chain = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    smtp_steps(&c, t, r);
    if (c.fd >= 0)
        close(c.fd);
    judge(r);
    return r;
}

void probe_result_free(ProbeResult *r)
{
    if (!r)
        return;
    g_free(r->host), g_free(r->peer), g_free(r->error), g_free(r->banner);
    g_free(r->protocol), g_free(r->cipher), g_free(r->group);
    g_free(r->subject), g_free(r->issuer), g_free(r->not_after), g_free(r->chain_error);
    g_ptr_array_unref(r->names);
    g_ptr_array_unref(r->chain);
    for (int i = 0; i < PROBE_LEVELS; i++)
        g_free(r->why[i]);
    g_free(r);
}
