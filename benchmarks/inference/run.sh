#!/usr/bin/env bash
# Inference benchmark: the Swift engine (`ecg2cmr bench`) and PyTorch on the CPU, same weights,
# same thread count, in one run. Usage (from the repo root):
#   benchmarks/inference/run.sh [THREADS=2] [ITERATIONS=20] [ROUNDS=2] | python3 benchmarks/inference/summarise.py
# Env: ECG2CMR_BIN=path/to/ecg2cmr to skip the release build; BUNDLES="published" (any of demo,
# published, shipped) to time only some bundles.
# Bundles: a randomly initialised demo-layout bundle, a randomly initialised published-size
# encoder (600 tokens, width 384, 3 blocks, 6 heads) and, if present, assets/models/demo-v2 (the default bundle).
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=${1:-2}
ITER=${2:-20}
ROUNDS=${3:-2}
WORK=${WORK:-$(mktemp -d)}
export OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS
if [ -z "${ECG2CMR_BIN:-}" ]; then
  swift build -c release --product ecg2cmr >&2
  ECG2CMR_BIN=$(swift build -c release --show-bin-path)/ecg2cmr
fi
BUNDLES=${BUNDLES:-demo published shipped}
MODELS=()
if [[ " $BUNDLES " == *" demo "* ]]; then
  (cd training && python3 -m ecg2cmr_train.bundle --random --layout demo --out "$WORK/random-demo" >&2)
  MODELS+=("$WORK/random-demo")
fi
if [[ " $BUNDLES " == *" published "* ]]; then
  python3 training/convert_checkpoint.py --random-mmcl --out "$WORK/random-published" >&2
  MODELS+=("$WORK/random-published")
fi
[[ " $BUNDLES " == *" shipped "* ]] && [ -f assets/models/demo-v2/manifest.json ] && MODELS+=(assets/models/demo-v2)
echo "# threads=$THREADS iterations=$ITER host=$(uname -m) cores=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg)"
for m in "${MODELS[@]}"; do
  for round in $(seq "$ROUNDS"); do   # alternate the engines ROUNDS times; every round is reported
    echo "swift $round $("$ECG2CMR_BIN" bench --model "$m" --iterations "$ITER" --json)"
    echo "torch $round $(python3 benchmarks/inference/bench_torch.py --model "$m" --threads "$THREADS" --iterations "$ITER")"
  done
done
