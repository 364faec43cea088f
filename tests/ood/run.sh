#!/usr/bin/env bash
# Out-of-distribution flag of the default bundle, end to end through `ecg2cmr screen`:
#  1. real 12-lead ECGs (the PhysioNet/CinC 2021 records in tests/records/cinc2021) must be
#     flagged: at least 80 %;
#  2. held-out synthetic subjects (a cohort seed the model never saw, 500 Hz WFDB) must mostly not
#     be: at most 10 %.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${ECG2CMR_BIN:-$(swift build --show-bin-path)/ecg2cmr}
[ -x "$BIN" ] || swift build --product ecg2cmr
MODEL=${ECG2CMR_MODEL:-assets/models/demo-v2}
REAL=${ECG2CMR_REAL_RECORDS:-tests/records/cinc2021}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! grep -q '"outOfDistribution"' "$MODEL/manifest.json" 2>/dev/null; then
  echo "ood: $MODEL has no out-of-distribution calibration; nothing to check"; echo "0 passed, 0 failed"; exit 0
fi
pass=0; fail=0
check() { if python3 - "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi; }

if [ -d "$REAL" ]; then
  "$BIN" screen "$REAL" --out "$work/real.jsonl" --model "$MODEL" --plain >/dev/null 2>&1 || true
  check "$work/real.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = [r for r in rows if r["status"] == "ok" and len(r.get("leads") or []) >= 12]
flagged = [r for r in ok if r.get("outOfDistribution")]
share = len(flagged) / max(1, len(ok))
print(f"ood: real 12-lead ECGs flagged {len(flagged)}/{len(ok)} = {share:.0%}")
for r in ok:
    print(f"  {r['file']}: score {r.get('outOfDistributionScore')}")
assert ok and share >= 0.8, "fewer than 80 % of real ECGs flagged out of distribution"
PY
else
  echo "ood FAIL: $REAL not found"; fail=$((fail + 1))
fi

PYTHONPATH=training python3 - "$work" <<'PY'
import sys
from pathlib import Path
sys.path.insert(0, "training")
from heldout_eval import build_heldout
build_heldout(120, 777, Path(sys.argv[1]) / "heldout", workers=2)
PY
"$BIN" screen "$work/heldout/ecg" --out "$work/heldout.jsonl" --model "$MODEL" --plain >/dev/null 2>&1 || true
check "$work/heldout.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = [r for r in rows if r["status"] == "ok"]
share = sum(bool(r.get("outOfDistribution")) for r in ok) / max(1, len(ok))
print(f"ood: held-out synthetic subjects flagged {share:.1%} of {len(ok)}")
assert len(ok) == 120 and share <= 0.10, "more than 10 % of held-out synthetic subjects flagged"
PY
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
