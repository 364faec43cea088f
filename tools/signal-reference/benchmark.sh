#!/bin/sh
# SignalKit vs its Python peer (scipy / PyWavelets / wfdb) on the same 12-lead, 10 s, 500 Hz ECG
# (PhysioNet/CinC 2021 record E07500), in one run. Usage, from the repository root:
#   tools/signal-reference/benchmark.sh [ITERATIONS]
set -eu
ITER="${1:-50}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 - "$ROOT/tests/records/cinc2021/E07500" "$WORK/ecg.f32" <<'PY'
import sys, numpy as np, wfdb
rec = wfdb.rdrecord(sys.argv[1])
rec.p_signal.T.astype("<f4").tofile(sys.argv[2])
PY
# ECGFormats' record types as their own module (SignalKit imports it), then SignalKit + driver.
swiftc -O -swift-version 5 -parse-as-library -module-name ECGFormats -emit-module \
    -emit-module-path "$WORK/ECGFormats.swiftmodule" -c "$ROOT/Sources/ECGFormats/ECGRecord.swift" -o "$WORK/ECGFormats.o"
cp "$ROOT/tools/signal-reference/bench_main.swift" "$WORK/main.swift"
swiftc -O -swift-version 5 -module-name SignalBench -I "$WORK" -o "$WORK/bench" \
    "$ROOT"/Sources/SignalKit/*.swift "$WORK/main.swift" "$WORK/ECGFormats.o"
echo "# Swift (SignalKit, swiftc -O)"
"$WORK/bench" "$WORK/ecg.f32" 12 500 "$ITER"
echo "# Python (scipy $(python3 -c 'import scipy; print(scipy.__version__)'), PyWavelets, wfdb XQRS)"
python3 "$ROOT/tools/signal-reference/bench_python.py" "$WORK/ecg.f32" 12 500 "$ITER"
