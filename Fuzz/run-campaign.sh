#!/bin/sh
# A long fuzz campaign: builds every fuzz target, then runs them ONE AFTER ANOTHER (not two at a
# time as run-all.sh does: a campaign shares the machine for hours, so it holds one core, at
# nice 19) for SECONDS each from the seed corpus corpus/<target> (new inputs go to
# corpus-work/<target>, crashes to OUT/crash-<target>-*), and writes OUT/summary.md: one table row
# per target with libFuzzer's final counts, in the form docs/reliability.md records campaigns.
#
# Usage (from Fuzz/):  ./run-campaign.sh SECONDS [TARGET...]
#   ./run-campaign.sh 660             # the 2-hour campaign: 11 targets × 660 s (14 × 660 s ≈ 2.6 h)
#   ./run-campaign.sh 5               # smoke run: builds everything, 5 s per target
#   OUT=/tmp/c ./run-campaign.sh 60 wfdb writers
# Environment: OUT (default campaign-<UTC time>), LEAKS=1 to keep leak detection on (off by
# default: FoundationXML leaks a CFError on every XML parse error, not this code's).
# Exit status: 0 when every target ran to its time limit without a finding, 1 otherwise.
set -eu
cd "$(dirname "$0")"
[ $# -ge 1 ] || { echo "usage: $0 SECONDS [TARGET...]" >&2; exit 2; }
SECONDS_PER_TARGET=$1
shift
case $SECONDS_PER_TARGET in ''|*[!0-9]*) echo "SECONDS must be a whole number of seconds" >&2; exit 2;; esac
ALL="wfdb csv dicom muse aecg ukb scp detect safetensors manifest preprocess writers traceview snapshot"
TARGETS=${*:-$ALL}
OUT=${OUT:-campaign-$(date -u +%Y%m%dT%H%M%SZ)}
LEAKS=${LEAKS:-0}
[ "$LEAKS" = 0 ] && export ASAN_OPTIONS=detect_leaks=0
mkdir -p "$OUT/logs" corpus-work

# One product at a time (see run-all.sh: a plain build may link the root package's ecg2cmr with
# -sanitize=fuzzer, whose libFuzzer main() lacks LLVMFuzzerTestOneInput). Incremental after the first.
for t in $TARGETS; do
    nice -n 19 swift build -c debug --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address \
        -Xswiftc -parse-as-library --product fuzz-$t > "$OUT/logs/build-$t.log" 2>&1 \
        || { echo "fuzz-$t: build failed (see $OUT/logs/build-$t.log)" >&2; exit 1; }
done

final_stat() { grep -o "stat::$1: *[0-9]*" "$2" | grep -o '[0-9]*$' || echo "?"; }
{
    echo "Campaign $(date -u +%FT%TZ): $SECONDS_PER_TARGET s per target, one at a time, nice 19, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo
    echo "| target | executions | exec/s | peak RSS (MB) | coverage (edges) | crashes, timeouts, OOMs |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
} > "$OUT/summary.md"
failed=0
for t in $TARGETS; do
    mkdir -p corpus-work/$t
    dict=""
    [ -f $t.dict ] && dict="-dict=$t.dict"
    # preprocess runs the whole SignalKit chain per input: short inputs keep it at a useful rate.
    max_len=65536
    [ $t = preprocess ] && max_len=8192
    log="$OUT/logs/$t.log"
    rc=0
    nice -n 19 ./.build-fuzz/debug/fuzz-$t corpus-work/$t corpus/$t -max_total_time=$SECONDS_PER_TARGET \
        -max_len=$max_len $dict -rss_limit_mb=2048 -detect_leaks=$LEAKS -print_final_stats=1 \
        -artifact_prefix="$OUT/crash-$t-" > "$log" 2>&1 || rc=$?
    # A finding is libFuzzer stopping early: a crash, a timeout, an OOM or a leak (its exit status
    # is then non-zero and it writes an artifact).
    findings=$(grep -c '==ERROR\|ERROR: libFuzzer\|deadly signal\|Test unit written' "$log" || true)
    [ $rc -ne 0 ] && [ "$findings" = 0 ] && findings="exit $rc"
    [ "$findings" != 0 ] && failed=1
    cov=$(grep -o 'DONE *cov: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    printf '| `fuzz-%s` | %s | %s | %s | %s | %s |\n' "$t" "$(final_stat number_of_executed_units "$log")" \
        "$(final_stat average_exec_per_sec "$log")" "$(final_stat peak_rss_mb "$log")" "$cov" "$findings" >> "$OUT/summary.md"
done
echo >> "$OUT/summary.md"
echo "end $(date -u +%FT%TZ)" >> "$OUT/summary.md"
cat "$OUT/summary.md"
exit $failed
