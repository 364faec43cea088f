#!/usr/bin/env bash
# One command for the shipped demo bundle on a 2-core machine: the same stages as
#   python -m ecg2cmr_train.pipeline --config configs/demo.json
# but the CMR autoencoder (cmr, residuals) runs in a second process beside the ECG stages
# (mdm, align, heads), then the floors (floors.py); `baseline` beside `heads`; one thread each. Every stage is
# restartable: run this again after an interruption. Logs: <run_dir>/log-{ecg,cmr,baseline}.txt
set -euo pipefail
cd "$(dirname "$0")"
CONFIG=${CONFIG:-configs/demo.json}
RUN=$(python3 -c "import sys; sys.path.insert(0,'.'); from ecg2cmr_train.config import load_config, resolve; print(resolve(load_config('$CONFIG')['run_dir']))")
mkdir -p "$RUN"
P="python3 -m ecg2cmr_train.pipeline --config $CONFIG --threads 1"
$P --only ecg >> "$RUN/log-ecg.txt" 2>&1          # fixes the subject selection first
$P --only cmr residuals floors >> "$RUN/log-cmr.txt" 2>&1 &
cmr=$!
$P --only mdm align >> "$RUN/log-ecg.txt" 2>&1
$P --only baseline >> "$RUN/log-baseline.txt" 2>&1 &
base=$!
$P --only heads >> "$RUN/log-ecg.txt" 2>&1
wait $base
wait $cmr
$P --only prior calibrate validate export evaluate >> "$RUN/log-ecg.txt" 2>&1
echo "demo bundle trained; logs in $RUN"
