#!/bin/bash
# fuzz.t - every fuzz harness runs for a few seconds (FUZZ_CHECK_SECONDS)
# from its seed corpus, and every saved crash input in fuzz/regressions/
# runs clean: regressions show in CI.  Long runs: make fuzz.
. "$(dirname "$0")/lib.sh"
SRC=${SRCDIR:?set SRCDIR}
FZ=${FUZZDIR:?set FUZZDIR}
secs=${FUZZ_CHECK_SECONDS:-4}

for name in request list decide netstring http mtasts dns maillog tlsrptrecord; do
    bin=$FZ/fuzz_$name
    if [ ! -x "$bin" ]; then _result 1 "fuzz_$name is built"; continue; fi
    mkdir -p "$TMP/$name"
    cp "$SRC/fuzz/corpus/$name/"* "$TMP/$name/"
    if [ "$secs" -eq 0 ]; then
        skip "fuzz_$name: FUZZ_CHECK_SECONDS=0 (make check's first pass runs the fuzzers, ASan+UBSan builds already)"
    else
        out=$(cd "$TMP" && "$bin" -max_total_time="$secs" -dict="$SRC/fuzz/$name.dict" "$TMP/$name" 2>&1); rc=$?
        runs=$(printf '%s\n' "$out" | sed -n 's/^Done \([0-9]*\) runs.*/\1/p')
        is "$rc" 0 "fuzz_$name: ${runs:-0} runs in ${secs}s, no crash"
        [ "$rc" -ne 0 ] && printf '%s\n' "$out" | grep -E 'ERROR|SUMMARY|#0 |#1 |#2 ' | head -8 | sed 's/^/# /'
    fi
    if [ -d "$SRC/fuzz/regressions/$name" ]; then
        out=$("$bin" "$SRC/fuzz/regressions/$name/"* 2>&1); rc=$?
        is "$rc" 0 "fuzz_$name: saved crash inputs run clean"
    fi
done
done_testing
