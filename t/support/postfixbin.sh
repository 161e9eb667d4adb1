# postfixbin.sh - which Postfix the tests drive (sourced by the tests that
# run postconf or a private Postfix, after lib.sh).
#
# By default the system's (/usr/sbin).  With POSTFIX_ROOT set (make
# check's second pass, make check-postfix-3.10) an unpacked Debian package
# there (scripts/postfix-backports.sh, which points its binaries at its
# own libraries): its commands first on PATH.
#
#   pf_program_main     main.cf lines that make an instance run that
#                       Postfix's daemons, commands and meta files (none
#                       for the system's)
#   PF_VERSION          its mail_version, named in each test's output
#   pf_version_at_least MAJOR.MINOR
#                       PF_VERSION is that version or later
if [ -n "${POSTFIX_ROOT:-}" ]; then
    export PATH="$POSTFIX_ROOT/usr/sbin:$PATH"
fi
PF_VERSION=$(postconf -d -h mail_version 2>/dev/null)
echo "# Postfix $PF_VERSION (${POSTFIX_ROOT:-/usr/sbin})"

pf_program_main() {
    [ -n "${POSTFIX_ROOT:-}" ] || return 0
    cat <<MAIN
# --- the Postfix under test: $POSTFIX_ROOT ---
daemon_directory = $POSTFIX_ROOT/usr/lib/postfix/sbin
command_directory = $POSTFIX_ROOT/usr/sbin
shlib_directory = $POSTFIX_ROOT/usr/lib/postfix
meta_directory = $POSTFIX_ROOT/etc/postfix
sendmail_path = $POSTFIX_ROOT/usr/sbin/sendmail
mailq_path = $POSTFIX_ROOT/usr/bin/mailq
newaliases_path = $POSTFIX_ROOT/usr/bin/newaliases
MAIN
}

# At least version $1 (major.minor)?
pf_version_at_least() {
    local want_major=${1%%.*} want_minor=${1#*.} major minor
    major=${PF_VERSION%%.*}; minor=${PF_VERSION#*.}; minor=${minor%%.*}
    [ "$((major * 1000 + minor))" -ge "$((want_major * 1000 + want_minor))" ]
}
