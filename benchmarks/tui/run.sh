#!/usr/bin/env bash
# TUI timings for docs/PERFORMANCE.md: full redraw at 200×60 and key → updated screen on case change.
#   benchmarks/tui/run.sh [MODEL_DIR]     (default model: assets/models/demo-v1, else a random bundle)
set -euo pipefail
cd "$(dirname "$0")/../.."
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
swift build -c release --product ecg2cmr >/dev/null
bin="$(swift build -c release --show-bin-path)/ecg2cmr"
model=${1:-}
if [ -z "$model" ]; then
  if [ -f assets/models/demo-v1/manifest.json ]; then model=assets/models/demo-v1
  else model=$(mktemp -d)/random; (cd training && python3 -m ecg2cmr_train.bundle --random --out "$model" >/dev/null); fi
fi
echo "OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS, $(nproc) cores, model $model"
"$bin" view sample-data --model "$model" --benchmark --frames 300
