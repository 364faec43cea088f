#!/bin/sh
# Builds the fuzz targets and runs each for SECONDS (default 60), two at a time, from the seed
# corpus in corpus/<target>. Prints libFuzzer's final stats per target; crashes land in crash-*.
# Usage (from Fuzz/):  ./run-all.sh [SECONDS] [TARGET...]     e.g. ./run-all.sh 600 safetensors manifest
set -e
SECONDS_PER_TARGET=${1:-60}
[ $# -gt 0 ] && shift
TARGETS=${*:-wfdb csv dicom muse aecg ukb scp detect safetensors manifest preprocess writers traceview snapshot}
# FoundationXML leaks a CFError on every XML parse error (swift-corelibs-foundation, not this code),
# so leak detection is off by default; set LEAKS=1 to see it.
LEAKS=${LEAKS:-0}
[ "$LEAKS" = 0 ] && export ASAN_OPTIONS=detect_leaks=0
# One product at a time: a plain `swift build` may also link the root package's own executables
# (ecg2cmr) with -sanitize=fuzzer, whose libFuzzer main() then lacks LLVMFuzzerTestOneInput.
for t in $TARGETS; do
    swift build -c debug --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library --product fuzz-$t
done
mkdir -p corpus-work logs
run() {
    t=$1
    mkdir -p corpus-work/$t
    dict=""
    [ -f $t.dict ] && dict="-dict=$t.dict"
    # preprocess runs the whole SignalKit chain per input: short inputs keep it at a useful rate.
    max_len=65536
    [ $t = preprocess ] && max_len=8192
    ./.build-fuzz/debug/fuzz-$t corpus-work/$t corpus/$t -max_total_time=$SECONDS_PER_TARGET -max_len=$max_len $dict \
        -rss_limit_mb=2048 -detect_leaks=$LEAKS -print_final_stats=1 -artifact_prefix=crash-$t- > logs/$t.log 2>&1 || echo "$t: exited $? (see logs/$t.log)"
    printf '%-11s %s %s %s\n' "$t" "$(grep -o 'stat::number_of_executed_units: *[0-9]*' logs/$t.log | grep -o '[0-9]*$')" \
        "$(grep -o 'stat::average_exec_per_sec: *[0-9]*' logs/$t.log | grep -o '[0-9]*$')" \
        "$(grep -c 'ERROR: AddressSanitizer\|deadly signal\|==ERROR' logs/$t.log)"
}
echo "target      executions execs/s crashes (each ${SECONDS_PER_TARGET}s)"
set -- $TARGETS
while [ $# -gt 0 ]; do
    if [ $# -gt 1 ]; then run $1 & run $2; wait; shift 2; else run $1; shift; fi
done
