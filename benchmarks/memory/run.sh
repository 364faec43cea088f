#!/usr/bin/env bash
# Resident memory of the workstation with the demo model: `ecg2cmr view sample-data` at 250×70 in
# tmux, stepping through every case with Grad-CAM on and the cine playing, then reading the
# process's peak resident set (VmHWM) from /proc. Budget: ≤ 300 MB.
#   benchmarks/memory/run.sh            (ECG2CMR_BIN to choose the binary; release by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${ECG2CMR_BIN:-.build/release/ecg2cmr}
[ -x "$BIN" ] || swift build -c release --product ecg2cmr
MODEL=${ECG2CMR_MODEL:-assets/models/demo-v1}
session="ecg2cmr-mem-$$"
trap 'tmux kill-session -t "$session" 2>/dev/null || true' EXIT
tmux new-session -d -s "$session" -x 250 -y 70 "$BIN view sample-data --model $MODEL"
sleep 3
pid=$(pgrep -n -f "$BIN view sample-data" || true)
[ -n "$pid" ] || { echo "workstation did not start"; exit 1; }
cases=$(ls -d sample-data/P* | wc -l)
tmux send-keys -t "$session" g " "
for i in $(seq 1 "$cases"); do
  sleep 1.5
  tmux send-keys -t "$session" n
done
sleep 2
rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
tmux send-keys -t "$session" q
awk -v c="$cases" -v m="$MODEL" -v r="$rss" -v h="$hwm" 'BEGIN {
  printf "cases visited: %d, model: %s\nresident now: %.1f MB, peak resident (VmHWM): %.1f MB (budget 300 MB)\n", c, m, r/1024, h/1024 }'
