#!/usr/bin/env bash
# The workstation grid laid out by measurement, on the real binary: `view --snapshot` of the HCM
# sample case (UK Biobank XML) and a real CinC 2021 record at 80×24, 120×40 and 200×60 (traces with
# risks, then the phenotype pane), and the help overlay at 80×24 (both pages); check_grid.py fails
# on any "…" on screen, a panel border written over, or a banner without "demo model".
# (Tests/WorkstationTests/GridLayoutTests checks the same in every pane and scroll position.)
#   tests/tui-layout/run.sh   (ECG2CMR_BIN=/path/to/ecg2cmr to skip the build)
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
bin=$(test_binary)
make_work
MODEL=$(test_model "$work")
n=0
for f in sample-data/P05-hcm/ecg-ukb.xml tests/records/cinc2021/E07503.hea; do
  for size in 80x24 120x40 200x60; do
    n=$((n + 1))
    "$bin" view "$f" --snapshot "$size" --model "$MODEL" > "$work/$n-$size.txt"
  done
  n=$((n + 1))
  "$bin" view "$f" --snapshot 120x40 --keys "<Tab><Tab>" --model "$MODEL" > "$work/$n-120x40-tab.txt"
done
python3 tests/tui-layout/check_grid.py "$work"/*.txt
"$bin" view sample-data/P05-hcm/ecg-ukb.xml --snapshot 80x24 --keys "?" --model "$MODEL" > "$work/help-1.txt"
"$bin" view sample-data/P05-hcm/ecg-ukb.xml --snapshot 80x24 --keys "?J" --model "$MODEL" > "$work/help-2.txt"
python3 tests/tui-layout/check_grid.py --overlay "$work"/help-*.txt
cmp -s "$work/help-1.txt" "$work/help-2.txt" && { echo "tui-layout FAIL: help at 80×24 has no second page (J)"; exit 1; }
echo "tui-layout: all checks passed"
