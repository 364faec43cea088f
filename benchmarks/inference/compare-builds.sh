#!/usr/bin/env bash
# Two builds of ecg2cmr side by side: `bench --json` alternated ROUNDS times on each model, one
# OpenBLAS thread, medians and minima per build. Used for the cost of Swift's checks in NeuralCore
# (docs/PERFORMANCE.md, "Checked arithmetic"): build once as is and once with
# `swiftSettings: [.unsafeFlags(["-Ounchecked"])]` on the NeuralCore target, copying each binary.
# Usage: benchmarks/inference/compare-builds.sh A_BIN B_BIN [ROUNDS=7] [MODEL...]
set -euo pipefail
cd "$(dirname "$0")/../.."
A=$1 B=$2 ROUNDS=${3:-7}
shift 2; [ $# -gt 0 ] && shift
MODELS=("${@:-assets/models/demo-v2}")
export OPENBLAS_NUM_THREADS=${THREADS:-1}   # THREADS=2: the engine's own split
OUT=$(mktemp)
echo "# load=$(cut -d' ' -f1-3 /proc/loadavg) cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for r in $(seq "$ROUNDS"); do
  for bin in "$A" "$B"; do
    for m in "${MODELS[@]}"; do echo "$bin $(basename "$m") $("$bin" bench --model "$m" --iterations 20 --json)" >> "$OUT"; done
  done
done
echo "# end load=$(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$OUT" <<'PY'
import collections, json, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    binary, model, js = line.split(" ", 2)
    for key, value in json.loads(js).items():
        if key.endswith("Milliseconds") or key.endswith("PerSecond"):
            runs[(model, key, binary)].append(value)
print(f"{'model':18} {'measure':26} {'build':40} {'median':>9} {'min':>9}")
for (model, key, binary), xs in sorted(runs.items()):
    print(f"{model:18} {key:26} {binary:40} {statistics.median(xs):9.3f} {min(xs):9.3f}")
PY
rm -f "$OUT"
