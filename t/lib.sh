# lib.sh - a small TAP producer for the shell tests (sourced).
#
#   plan_tests / ok NAME CMD... / is GOT WANT NAME / like TEXT PATTERN NAME
#   done_testing    prints the plan at the end, exits non-zero on failure
#   wait_for SECS CMD...
#                   runs CMD every 0.1 s until it succeeds (0) or SECS
#                   seconds of wall time have passed (1): a deadline, not a
#                   number of tries, however slow CMD is; callers assert
#                   the result (ok NAME wait_for ...), never carry on
#   PIDS+=(PID)     a helper in the background, killed at exit
#   AT_EXIT+=(FN)   a function run at exit before that (the support
#                   scripts add pf_stop, dnslab_stop); $TMP is removed
#                   last, unless KEEP_TMP is set
set -u
TESTS_RUN=0
TESTS_FAILED=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tlspolicyd-test.XXXXXX")
PIDS=()
AT_EXIT=()
_at_exit() {
    local f p
    for f in "${AT_EXIT[@]}"; do "$f"; done
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap _at_exit EXIT
: "${TLSMAP:?set TLSMAP (make check does)}"

_result() {  # status name [diagnostic]
    TESTS_RUN=$((TESTS_RUN + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $TESTS_RUN - $2"
    else
        TESTS_FAILED=$((TESTS_FAILED + 1))
        echo "not ok $TESTS_RUN - $2"
        # on stderr too: prove shows it without -v, so a CI log says what failed
        echo "# $(basename "$0") test $TESTS_RUN failed: $2" >&2
        [ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/#   /' | tee /dev/stderr
    fi
    return 0
}
ok() { local name=$1; shift; "$@" >/dev/null 2>&1; _result $? "$name"; }
is() { [ "$1" = "$2" ]; _result $? "$3" "got:  '$1'
want: '$2'"; }
like() { printf '%s' "$1" | grep -qE -- "$2"; _result $? "$3" "text: '$1'
does not match: '$2'"; }
unlike() { ! printf '%s' "$1" | grep -qE -- "$2"; _result $? "$3" "text: '$1'
matches: '$2'"; }
skip() { TESTS_RUN=$((TESTS_RUN + 1)); echo "ok $TESTS_RUN # skip $1"; }
wait_for() {
    local end=$((SECONDS + $1)); shift
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.1
    done
}
done_testing() { echo "1..$TESTS_RUN"; [ "$TESTS_FAILED" -eq 0 ]; }
