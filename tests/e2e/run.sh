#!/usr/bin/env bash
# End-to-end test of `ecg2cmr view` in a real terminal: tmux gives the binary a TTY (works in CI
# without one), send-keys types, capture-pane reads the screen. Exits non-zero on the first failure.
#   tests/e2e/run.sh            (builds if needed; ECG2CMR_BIN=/path/to/ecg2cmr to skip the build)
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
root=$(pwd)
command -v tmux >/dev/null || { echo "e2e: tmux is not installed (scripts/setup installs it)"; exit 1; }

bin=$(test_binary)
make_work
session="ecg2cmr-e2e-$$"
cleanup() { tmux kill-session -t "$session" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

model_args=(--model "$(test_model "$work")")
printf 'not an ECG\0\1\2' > "$work/corrupt.csv"
# Case folders in sample-data/ (one ECG each), in the order the workstation lists them.
mapfile -t cases < <(for f in sample-data/*/ecg*.hea sample-data/*/ecg*.xml sample-data/*/ecg*.dcm sample-data/*/ecg*.csv; do
  [ -f "$f" ] && basename "$(dirname "$f")"; done | sort -uV)
total=${#cases[@]}
[ "$total" -ge 3 ] || { echo "e2e: sample-data/ needs at least 3 case folders"; exit 1; }

screen() { tmux capture-pane -p -t "$session"; }
fail() { echo "e2e FAIL: $1"; echo "---- screen ----"; screen || true; exit 1; }
# wait_for TEXT [SECONDS]: polls the screen until TEXT appears.
wait_for() {
  local text=$1 limit=${2:-30} waited=0
  until screen | grep -qF -- "$text"; do
    sleep 0.2; waited=$((waited + 1))
    [ "$waited" -ge $((limit * 5)) ] && fail "waited ${limit}s for '$text'"
  done
  echo "e2e ok: $text"
}
keys() { tmux send-keys -t "$session" "$@"; }

tmux new-session -d -s "$session" -x 200 -y 60 \
  "cd '$root' && '$bin' view sample-data ${model_args[*]:-} --export-dir '$work/exports'; echo \"EXIT=\$?\" > '$work/exit'; sleep 30"

# 1. Opens the first sample case with traces, header and model output.
wait_for "1/$total │ ${cases[0]}"
wait_for "rhythm" 10
wait_for "SYNTHETIC DEMO MODEL" 30
wait_for "probability" 60
# 2. Moves between cases.
keys n; wait_for "2/$total │ ${cases[1]}"
keys n; wait_for "3/$total │ ${cases[2]}"
keys p; wait_for "2/$total │ ${cases[1]}"
# 3. Grad-CAM on: the panel lists the top segments.
keys g; wait_for "head: " 60; wait_for "1. " 60
keys G; wait_for "Grad-CAM head:"
# 4. Export: progress, then the output path; the manifest is on disk.
keys e; wait_for "exported to $work/exports" 180
ls "$work"/exports/*/manifest.json >/dev/null 2>&1 || fail "no manifest.json under $work/exports"
echo "e2e ok: manifest written ($(ls "$work"/exports/*/manifest.json))"
# 5. Help overlay and Esc.
keys '?'; wait_for "ecg2cmr keys"
keys Escape; sleep 0.3
screen | grep -qF "ecg2cmr keys" && fail "help overlay did not close"
# 6. Corrupt file: error in the status line, the app keeps running.
keys ":open $work/corrupt.csv" Enter; wait_for "error: $work/corrupt.csv"
keys ":open sample-data" Enter; wait_for "1/$total │ ${cases[0]}"
# 7. A long record (MIT-BIH 100, 30 min, MLII + V5): MLII is lead II, the window indicator, scrolling
#    the grid and rhythm strip together, and an RR interval measured with the caliper snapping to R peaks.
long="$root/tests/records/100.hea"
keys ":open $long" Enter; wait_for "window 0–10 s of 1805.6 s"; wait_for "II rhythm"
screen | grep -qF "II rhythm (absent)" && fail "MLII not shown as lead II"
keys "}" "}"; wait_for "window 20–30 s of 1805.6 s"
keys End; wait_for "window 1795.6–1805.6 s of 1805.6 s"
keys Home; wait_for "window 0–10 s of 1805.6 s"
keys ":goto 600" Enter; wait_for "window 600–610 s of 1805.6 s"
cursor_ms() { screen | grep -o 'cursor [0-9.]* s' | head -1 | tr -dc '0-9'; }
before=$(cursor_ms); keys l; sleep 0.3; after=$(cursor_ms)
[ $((10#$after - 10#$before)) -eq 4 ] || fail "l moved the cursor from $before to $after ms, not 4 ms"
echo "e2e ok: caliper step 4 ms ($before → $after ms)"
# snap NAME: o until the caliper line names the landmark.
snap() { for _ in $(seq 1 12); do keys o; sleep 0.25; screen | grep -qF "($1)" && return 0; done; fail "o never reached $1"; }
snap "R peak"; keys c; wait_for "caliper set"
snap "R peak"
rr=$(screen | grep -o 'Δt [0-9]* ms' | head -1 | tr -dc '0-9')
[ -n "$rr" ] && [ "$rr" -ge 500 ] && [ "$rr" -le 1200 ] || fail "RR interval '$rr' ms is not a heartbeat at 60–100 bpm"
echo "e2e ok: RR interval $rr ms measured with the caliper at 600 s"
keys c; keys ":open sample-data" Enter; wait_for "1/$total │ ${cases[0]}"
# 8. Resize to the 80×24 minimum: the narrow layout with tabs.
tmux resize-window -t "$session" -x 80 -y 24 2>/dev/null || tmux resize-pane -t "$session" -x 80 -y 24
wait_for " Traces " 10
# 9. Quit cleanly with exit status 0.
keys q
for _ in $(seq 1 150); do [ -f "$work/exit" ] && break; sleep 0.2; done
[ -f "$work/exit" ] || fail "did not quit on q"
grep -qx "EXIT=0" "$work/exit" || fail "exit status: $(cat "$work/exit")"
echo "e2e ok: quit with status 0"
echo "e2e: all checks passed"
