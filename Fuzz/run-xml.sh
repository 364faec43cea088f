#!/bin/sh
# Re-runs only the XML fuzz targets (after the FoundationXML UTF-8 fix). Usage: ./run-xml.sh [SECONDS]
S=${1:-90}
export ASAN_OPTIONS=detect_leaks=0  # FoundationXML leaks on parse errors (not this code)
mkdir -p corpus-work logs
for t in aecg muse ukb; do
  mkdir -p corpus-work/$t
  ./.build-fuzz/debug/fuzz-$t corpus-work/$t corpus/$t -max_total_time=$S -max_len=65536 -rss_limit_mb=2048 \
     -detect_leaks=0 -print_final_stats=1 -artifact_prefix=crash-$t- > logs/$t.log 2>&1 &
  [ $t = muse ] && wait
done
wait
for t in aecg muse ukb; do
  printf '%-7s %s %s %s\n' $t "$(grep -o 'number_of_executed_units: *[0-9]*' logs/$t.log | grep -o '[0-9]*$')" \
    "$(grep -o 'average_exec_per_sec: *[0-9]*' logs/$t.log | grep -o '[0-9]*$')" "$(grep -c '==ERROR\|deadly signal' logs/$t.log)"
done
