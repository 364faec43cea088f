#!/usr/bin/env bash
# End-to-end test of inline CMR images: runs the real `ecg2cmr view` under a pseudo-terminal that
# answers the startup graphics probe like kitty, like a sixel xterm, or not at all, and checks what
# the workstation then sends (kitty APC with a PNG, sixel DCS, or half blocks) and that q exits cleanly.
#   tests/inline-images/run.sh      (builds if needed; ECG2CMR_BIN=/path/to/ecg2cmr to skip the build)
set -euo pipefail
cd "$(dirname "$0")/../.."

bin=${ECG2CMR_BIN:-}
if [ -z "$bin" ]; then
  swift build --product ecg2cmr >/dev/null
  bin="$(swift build --show-bin-path)/ecg2cmr"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A model: the trained demo bundle when present, else a randomly initialised one (same layout).
model_args=()
if [ ! -f assets/models/demo-v2/manifest.json ] && [ -z "${ECG2CMR_MODEL:-}" ]; then
  (cd training && python3 -m ecg2cmr_train.bundle --random --out "$work/model" >/dev/null)
  model_args=(--model "$work/model")
fi
python3 tests/inline-images/pty_terminal.py "$bin" "${model_args[@]}"
