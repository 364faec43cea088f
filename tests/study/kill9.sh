#!/usr/bin/env bash
# kill -9 durability test of reader mode (issue 8): 20 sessions of one reader are killed at random
# moments; after each, every answer the session reported as committed must be in the database,
# none may be duplicated or misattributed, and the next session must resume on the first
# unanswered case. A final session finishes the stage.
#   tests/study/kill9.sh [path/to/ecg2cmr]        (default .build/debug/ecg2cmr)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/.build/debug/ecg2cmr}
rounds=${KILL9_ROUNDS:-20}
# Enough cases that 20 rounds on a fast, idle machine never reach the end of the stage.
cases=${KILL9_CASES:-400}
[ -x "$bin" ] || { echo "kill9: no ecg2cmr binary at $bin (swift build first)"; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A one-stage study of $cases cases over the sample ECGs (each file used several times, distinct case ids).
python3 - "$root" "$work/study.json" "$cases" <<'PY'
import json, sys
from pathlib import Path
root, out = Path(sys.argv[1]), sys.argv[2]
names = ["ecg.hea", "ecg.csv", "ecg.dcm", "ecg-aecg.xml", "ecg-muse.xml", "ecg-ukb.xml"]
ecgs = []
for p in sorted((root / "sample-data").iterdir()):
    for n in names:
        if (p / n).exists():
            ecgs.append(str(p / n)); break
assert ecgs, "no sample ECGs"
cases = [{"id": f"K{i:03d}", "ecg": ecgs[i % len(ecgs)], "truth": {"finding": i % 2 == 0}} for i in range(int(sys.argv[3]))]
json.dump({"format": "ecg2cmr-study/1", "id": "kill9", "title": "kill -9 durability", "seed": 99,
           "questions": {"finding": "Finding present?", "note": False}, "roles": [],
           "stages": [{"id": "ecg-only", "title": "ECG only", "shows": ["traces"]}], "cases": cases},
          open(out, "w"))
PY
"$bin" study init "$work/study.json" --db "$work/study.db" --operator kill9 >/dev/null
"$bin" study add-reader --db "$work/study.db" --id R1 --name "Reader One" --role reader --operator kill9 >/dev/null

check() {  # $1 = driver summary JSON, $2 = round; verifies the database against it
  python3 - "$work/study.db" "$1" "$2" <<'PY'
import json, sqlite3, sys
db, summary, rnd = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
con = sqlite3.connect(db)
assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok", "integrity check failed"
rows = con.execute("SELECT position, case_id, finding, confidence FROM answers WHERE reader_id='R1'").fetchall()
positions = [r[0] for r in rows]
assert len(positions) == len(set(positions)), f"round {rnd}: duplicated answers {sorted(positions)}"
assert len(rows) == len({r[1] for r in rows}), f"round {rnd}: a case answered twice"
assert sorted(positions) == list(range(1, len(positions) + 1)), f"round {rnd}: answers not contiguous {sorted(positions)}"
for p, case, finding, confidence in rows:
    exp_f = 1 if p % 3 else 0
    assert (finding, confidence) == (exp_f, p % 5 + 1), f"round {rnd}: answer at position {p} is {finding},{confidence}"
    order = con.execute("SELECT case_id FROM case_order WHERE reader_id='R1' AND position=?", (p,)).fetchone()[0]
    assert order == case, f"round {rnd}: position {p} stored for the wrong case"
lost = set(summary["committed"]) - set(positions)
assert not lost, f"round {rnd}: confirmed answers lost: {sorted(lost)}"
print(len(positions))
PY
}

answered=0
for round in $(seq 1 "$rounds"); do
  # Every fifth kill lands during start-up; the others while cases are answered and committed.
  mode=after-first-case; [ $((round % 5)) = 0 ] && mode=from-start
  delay=$(python3 -c "import random; print(round(random.uniform(0.0, 0.8), 3))")
  summary=$(python3 "$here/kill9_driver.py" "$bin" "$work/study.db" R1 "$round" "$delay" "$mode")
  first=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['first_shown'])" "$summary")
  if [ "$first" != "None" ] && [ "$first" != "$((answered + 1))" ]; then
    echo "round $round: resumed at case $first, expected $((answered + 1))"; exit 1
  fi
  answered=$(check "$summary" "$round")
  committed=$(python3 -c "import json,sys; print(len(json.loads(sys.argv[1])['committed']))" "$summary")
  echo "round $round: killed ${delay}s ${mode}, resumed at ${first}, ${committed} committed this round, ${answered} answered in total"
  if [ "$answered" -ge "$cases" ]; then echo "stage finished early (raise the case count)"; exit 1; fi
done

summary=$(python3 "$here/kill9_driver.py" "$bin" "$work/study.db" R1 0 -1)
[ "$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['first_shown'])" "$summary")" = "$((answered + 1))" ] \
  || { echo "final session did not resume at $((answered + 1)): $summary"; exit 1; }
answered=$(check "$summary" final)
[ "$answered" = "$cases" ] || { echo "final: $answered of $cases answered"; exit 1; }
done_at=$(sqlite3 "$work/study.db" "SELECT completed_at FROM stage_sessions WHERE reader_id='R1'" 2>/dev/null || python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"SELECT completed_at FROM stage_sessions WHERE reader_id='R1'\").fetchone()[0])" "$work/study.db")
[ -n "$done_at" ] || { echo "stage not marked complete"; exit 1; }
echo "kill9: $rounds kills, no confirmed answer lost, none duplicated, every resume on the next unanswered case; stage complete"
