#!/usr/bin/env bash
# Runs the demo reader study end to end without a human: two scripted readers (random answers —
# this shows the tool, not anyone's reading skill), stage 2 opened early with a logged operator
# override, then status and the report.
#   sample-data/studies/run-demo.sh [ecg2cmr binary] [output folder]
# Stages that show generated CMR need a model bundle ($ECG2CMR_MODEL or assets/models/demo-v1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-$here/../../.build/debug/ecg2cmr}
out=${2:-$(mktemp -d)}
mkdir -p "$out"
db="$out/demo-study.db"
rm -f "$db" "$db-wal" "$db-shm"
"$bin" study init "$here/demo-cardiomyopathy.json" --db "$db" --operator demo
"$bin" study add-reader --db "$db" --id J1 --name "Dr Junior" --role junior --operator demo
"$bin" study add-reader --db "$db" --id S1 --name "Dr Senior" --role senior --operator demo
answers() {  # seeded random reads: y/n, confidence, a subtype guess on "yes", confirm
  python3 -c "
import random, sys
r = random.Random(int(sys.argv[1]))
for _ in range(14):
    f = r.choice('yn'); print(f); print(r.randint(1, 5))
    if f == 'y':
        for _ in range(r.randint(0, 3)): print('t')
    print('enter'); print('enter')
" "$1"
}
answers 1 | "$bin" study run --db "$db" --reader J1 --headless | tail -1
answers 2 | "$bin" study run --db "$db" --reader S1 --headless | tail -1
if [ -n "${ECG2CMR_MODEL:-}" ] || [ -f "$here/../../assets/models/demo-v1/manifest.json" ]; then
  for r in J1 S1; do
    answers $((RANDOM)) | "$bin" study run --db "$db" --reader $r --headless \
      --override-washout "scripted demo: no real wash-out" --operator demo | tail -1
  done
fi
"$bin" study status --db "$db"
"$bin" study report --db "$db" --out "$out/report"
echo "demo study in $out"
