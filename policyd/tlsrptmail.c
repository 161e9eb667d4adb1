/*
 * tlsrptmail.c - a report as mail; see tlsrptmail.h.
 */
#include "tlsrptmail.h"

#include <string.h>

#define BASE64_LINE 76  /* RFC 2045 6.8: at most 76 characters a line */

static void append_base64(GString *out, GBytes *data)
{
    gsize len;
    const guchar *bytes = g_bytes_get_data(data, &len);
    g_autofree char *text = g_base64_encode(bytes, len);
    size_t total = strlen(text);
    for (size_t at = 0; at < total; at += BASE64_LINE) {
        g_string_append_len(out, text + at, (gssize)MIN(BASE64_LINE, total - at));
        g_string_append(out, "\r\n");
    }
}

char *tlsrpt_mail_compose(const TlsrptMail *m)
{
    g_autoptr(GDateTime) date = g_date_time_new_from_unix_utc(m->date);
    g_autofree char *when = g_date_time_format(date, "%a, %d %b %Y %H:%M:%S +0000");
    /* the report id is unique per day and domain: so is the boundary, and
     * neither base64 nor the text part can contain it ('@' is not a
     * boundary character, RFC 2046 5.1.1) */
    g_autofree char *boundary = g_strdelimit(g_strdup_printf("=_tlsrpt_%s", m->report_id), "@", '.');
    GString *out = g_string_sized_new(g_bytes_get_size(m->gz) * 4 / 3 + 2048);
    g_string_append_printf(out,
        "From: <%s>\r\n"
        "To: <%s>\r\n"
        "Date: %s\r\n"
        "Subject: Report Domain: %s\r\n Submitter: %s\r\n Report-ID: <%s>\r\n"
        "Message-ID: <%s>\r\n"
        "TLS-Report-Domain: %s\r\n"
        "TLS-Report-Submitter: %s\r\n"
        "Auto-Submitted: auto-generated\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
        "\tboundary=\"%s\"\r\n"
        "\r\n"
        "This is a multipart message in MIME format.\r\n"
        "\r\n"
        "--%s\r\n"
        "Content-Type: text/plain; charset=\"us-ascii\"\r\n"
        "Content-Transfer-Encoding: 7bit\r\n"
        "\r\n"
        "This is an aggregate TLS report (RFC 8460) from %s\r\n"
        "for %s.\r\n"
        "\r\n"
        "--%s\r\n"
        "Content-Type: application/tlsrpt+gzip\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment;\r\n"
        "\tfilename=\"%s\"\r\n"
        "\r\n",
        m->from, m->to, when, m->domain, m->submitter, m->report_id, m->report_id, m->domain, m->submitter,
        boundary, boundary, m->submitter, m->domain, boundary, m->file_name);
    append_base64(out, m->gz);
    g_string_append_printf(out, "\r\n--%s--\r\n", boundary);
    return g_string_free(out, FALSE);
}
