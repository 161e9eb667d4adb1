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
 * says or not answering.  And what breaks the promises around them: a
 * relay tlspolicyd does not follow, per-sender relays, the site's own
 * transport_maps entries for listed keys, listed local domains, a bounce
 * filter file missing or unreadable, a list the daemon's account cannot
 * read (or no such account), sockets a chrooted service cannot reach.
 */
#ifndef TLSPOLICYD_POSTFIXCHECK_H
#define TLSPOLICYD_POSTFIXCHECK_H

#include "config.h"

#define POSTFIX_CHECK_CLEAN 0
#define POSTFIX_CHECK_PROBLEMS 1
#define POSTFIX_CHECK_FAILED 2

/* The Postfix in config's postfix_config_directory (postconf's default
 * when empty).  The report goes to out; returns one of the codes above. */
int postfix_check(const Config *config, GString *out);

#endif
