/*
 * postfixcheck.h - tlspolicyd --check-postfix: is this Postfix wired so
 * that the policy can work at all?
 *
 * Reads the live Postfix configuration with postconf(1) (main.cf with
 * $name expansion, master.cf services and their -o overrides) and the
 * compiled list, and reports each problem with the line that fixes it:
 * transport_maps not asking the socketmap (or asking it after another
 * map), inbound services whose restrictions skip the policy check, FILTER
 * routing that misses sendmail and content filters, a relayhost tlspolicyd
 * does not know, tls-* transports the list needs but master.cf lacks or
 * that a global smtp_tls_policy_maps overrides, verify/secure inbound
 * entries without client certificates asked for, Postfix 3.10's
 * TLS-Required: no header, and the daemon's sockets not where main.cf
 * says or not answering.
 */
#ifndef TLSPOLICYD_POSTFIXCHECK_H
#define TLSPOLICYD_POSTFIXCHECK_H

#include "config.h"

#define POSTFIX_CHECK_CLEAN 0
#define POSTFIX_CHECK_PROBLEMS 1
#define POSTFIX_CHECK_FAILED 2

/* postfix_dir: Postfix's configuration directory (NULL: postconf's
 * default).  The report goes to out; returns one of the codes above. */
int postfix_check(const Config *config, const char *postfix_dir, GString *out);

#endif
