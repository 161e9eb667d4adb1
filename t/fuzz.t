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
        out=$(cd "$TMP" && "$bin" -max_total_time="$secs" -dict="$SRC/fuzz/$name.dict" \
            -artifact_prefix="$TMP/$name-" "$TMP/$name" 2>&1); rc=$?
        runs=$(printf '%s\n' "$out" | sed -n 's/^Done \([0-9]*\) runs.*/\1/p')
        # what the fuzzer said, and the input that made it fail, kept in the
        # CI log (base64: fuzz/regressions/NAME/ is where it then goes)
        [ "$rc" -eq 0 ]
        _result $? "fuzz_$name: ${runs:-0} runs in ${secs}s, no crash" \
            "$(printf '%s\n' "$out" | grep -E 'ERROR|SUMMARY|#[0-9] |Test unit written' | head -20)
$(for f in "$TMP/$name"-*; do [ -f "$f" ] && echo "input $(basename "$f"): $(base64 -w0 "$f")"; done)"
    fi
    if [ -d "$SRC/fuzz/regressions/$name" ]; then
        out=$("$bin" "$SRC/fuzz/regressions/$name/"* 2>&1); rc=$?
        is "$rc" 0 "fuzz_$name: saved crash inputs run clean"
    fi
done
done_testing
