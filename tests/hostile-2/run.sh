#!/usr/bin/env bash
# Hardening round 2 (issue 15): builds attack files for items 1–9 in a temp folder and checks that
# each gets a clean non-zero exit naming the file and the reason, within 10 s, with nothing outside
# the attack's output folder changed. Prints a Markdown table (attack → result); with
# HOSTILE2_TABLE=path also writes it there (docs/reliability.md quotes it).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${ECG2CMR_BIN:-}
if [ -z "$BIN" ]; then
  swift build --product ecg2cmr >/dev/null
  BIN="$(swift build --show-bin-path)/ecg2cmr"
fi
MODEL=${ECG2CMR_MODEL:-assets/models/demo-v2}
work=$(mktemp -d)
trap 'chmod -R u+rwx "$work" 2>/dev/null; rm -rf "$work"' EXIT
if [ ! -f "$MODEL/manifest.json" ]; then
  PYTHONPATH=training python3 -m ecg2cmr_train.bundle --random --out "$work/model" >/dev/null
  MODEL="$work/model"
fi
python3 tests/hostile-2/attacks.py "$BIN" "$MODEL" "$work" "${HOSTILE2_TABLE:-}"
