#!/usr/bin/env bash
# Screening and training on a real Slurm cluster (Debian's slurm-wlm; one node on this machine):
#  1. installs slurm-wlm and munge when missing (apt-get; needs root, as on a CI machine);
#  2. starts munged, slurmctld and slurmd with tests/slurm/slurm.conf.in (private ports, socket and
#     state under a temporary folder) — stopped again on every exit path;
#  3. screens 320 synthetic ECGs and 3 broken files with scripts/slurm/submit-screen --tasks 4,
#     requeues one array task in the middle of its shard (it resumes), waits for the merge job;
#  4. checks each input is in exactly the shard the documented rule names, once, and that the merged
#     results equal a single-process `ecg2cmr screen` of the same files, file by file;
#  5. `screen merge` refuses conflicting shards and lists missing inputs;
#  6. runs the 2-rank (gloo) training pipeline on the tiny config through sbatch + srun torchrun.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
fail() { echo "slurm FAIL: $*" >&2; exit 1; }

BIN=${ECG2CMR_BIN:-.build/release/ecg2cmr}
[ -x "$BIN" ] || swift build -c release --product ecg2cmr
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
MODEL=${ECG2CMR_MODEL:-assets/models/demo-v2}
MODEL=$(cd "$MODEL" && pwd)

echo "-- Slurm and munge"
[ "$(id -u)" -eq 0 ] || fail "slurmd runs jobs as their user and must start as root (CI machines run this as root)"
need=()
for pkg in slurm-wlm munge; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi
echo "$(slurmctld -V)"

work=$(mktemp -d /tmp/ecg2cmr-slurm.XXXXXX)
state=$work/cluster
mkdir -p "$state/munge" "$state/ctld" "$state/slurmd"
chmod 700 "$state/munge"
stop_daemons() {
  local status=$?
  for pidfile in "$state/slurmd.pid" "$state/slurmctld.pid" "$state/munge/munged.pid"; do
    [ -s "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ $status -ne 0 ] && [ -f "$state/slurmctld.log" ]; then
    echo "---- slurmctld.log (tail)"; tail -15 "$state/slurmctld.log"
    echo "---- slurmd.log (tail)"; tail -15 "$state/slurmd.log" 2>/dev/null || true
    for f in "$work"/run/logs/*.out "$work"/train-*.out; do [ -f "$f" ] && { echo "---- $f"; grep -v '^  flagged: ' "$f" | tail -20; }; done
  fi
  rm -rf "$work"
}
trap stop_daemons EXIT
trap 'exit 130' INT TERM

# Free ports, so a Slurm already on the machine (or a parallel run) is not disturbed.
read -r ctld_port slurmd_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
host=$(hostname -s)
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 / 2)}' /proc/meminfo)
sed -e "s|@STATE@|$state|g; s|@HOST@|$host|g; s|@CTLD_PORT@|$ctld_port|; s|@SLURMD_PORT@|$slurmd_port|" \
    -e "s|@USER@|$(id -un)|; s|@CPUS@|$(nproc)|; s|@MEM_MB@|$mem_mb|" tests/slurm/slurm.conf.in > "$state/slurm.conf"
export SLURM_CONF=$state/slurm.conf
dd if=/dev/urandom of="$state/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$state/munge/munge.key"
munged --force --socket="$state/munge/munge.socket" --key-file="$state/munge/munge.key" \
  --pid-file="$state/munge/munged.pid" --log-file="$state/munge/munged.log" --seed-file="$state/munge/munged.seed"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for i in $(seq 1 60); do
  [ "$(sinfo -h -o %T 2>/dev/null)" = "idle" ] && break
  [ "$i" -eq 60 ] && fail "the node never became idle: $(sinfo 2>&1)"
  sleep 0.5
done
echo "one-node cluster up: $host, $(nproc) CPUs, ports $ctld_port/$slurmd_port"

job_state() { scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2; }
wait_done() {  # wait_done JOBID SECONDS: until the job (every task of an array) has left the queue
  local t=0
  while [ -n "$(squeue -h -j "$1" 2>/dev/null)" ]; do
    sleep 1; t=$((t + 1))
    [ $t -lt "$2" ] || fail "job $1 still queued after $2 s: $(squeue -j "$1")"
  done
}

echo "-- 320 synthetic ECGs (and 3 broken files)"
cd "$work"
PYTHONPATH="$repo/training" python3 - <<'PY'
import numpy as np
from pathlib import Path
from cohort.state import sample_subjects, subject_row
from cohort.ecg import render_ecg
from cohort.writers import write_wfdb
cohort = sample_subjects(320, 2028)
for i in range(320):
    folder = Path("ecgs") / f"{i // 40:02d}" / f"{i:03d}"
    folder.mkdir(parents=True)
    write_wfdb(folder / "ecg", render_ecg(subject_row(cohort, i), np.random.default_rng(i)), 500, [f"synthetic {i}"])
bad = Path("ecgs/broken"); bad.mkdir()
(bad / "empty.hea").write_bytes(b"")
(bad / "not-dicom.dcm").write_bytes(b"not a dicom file")
(bad / "ragged.csv").write_text("I,II\n1,2\n3\n")
PY
inputs=$(( 320 + 3 ))

echo "-- submit-screen --tasks 4, requeue one task in the middle of its shard"
submitted=$(ECG2CMR_BIN="$BIN" "$repo/scripts/slurm/submit-screen" ecgs --out run --tasks 4 --model "$MODEL" -- --cpus-per-task=1)
echo "$submitted"
array=$(echo "$submitted" | awk '$1 == "array" {print $2}')
merge=$(echo "$submitted" | awk '$1 == "merge" {print $2}')
[ -n "$array" ] && [ -n "$merge" ] || fail "submit-screen did not print both job ids"
# The shard each input belongs to, by the rule of docs/cluster.md (SHA-256 of its path under the
# PATH argument, first 8 bytes big-endian, mod N), computed here independently of ecg2cmr.
python3 - > expected-shards.tsv <<'PY'
import hashlib, pathlib
for p in sorted(pathlib.Path("ecgs").rglob("*")):
    if p.is_file() and p.suffix != ".dat":
        key = str(p.relative_to("ecgs"))
        print(f"{p}\t{int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], 'big') % 4}")
PY
[ "$(wc -l < expected-shards.tsv)" -eq $inputs ] || fail "expected $inputs inputs, listed $(wc -l < expected-shards.tsv)"
requeued="" lines_before=0
for _ in $(seq 1 3000); do
  for k in 0 1 2 3; do
    f=run/shards/shard-$k-of-4.jsonl
    [ -f "$f" ] || continue
    have=$(wc -l < "$f")
    want=$(awk -F'\t' -v k=$k '$2 == k' expected-shards.tsv | wc -l)
    if [ "$have" -gt 0 ] && [ "$have" -lt "$want" ] && [ "$(job_state "${array}_$k")" = RUNNING ] \
       && scontrol requeue "${array}_$k"; then
      requeued=$k lines_before=$have
      break 2
    fi
  done
  [ -n "$(squeue -h -j "$array" 2>/dev/null)" ] || break   # every task finished before one was caught
  sleep 0.05
done
[ -n "$requeued" ] || fail "no array task was caught in the middle of its shard"
echo "requeued task ${array}_$requeued with $lines_before of its lines written"
# Slurm holds a requeued job back for a while (BeginTime); release it now.
for _ in $(seq 1 100); do [ "$(job_state "${array}_$requeued")" = PENDING ] && break; sleep 0.1; done
scontrol update JobId="${array}_$requeued" StartTime=now
wait_done "$merge" 600
[ "$(job_state "$merge")" = COMPLETED ] || fail "merge job $merge ended $(job_state "$merge")"
for k in 0 1 2 3; do
  [ "$(job_state "${array}_$k")" = COMPLETED ] || fail "array task $k ended $(job_state "${array}_$k")"
done
log=run/logs/screen-${array}_$requeued.out
grep -q "restart 1" "$log" || fail "the requeued task did not run again: $(cat "$log")"
skipped=$(grep -o 'skipped (already in [^)]*) [0-9]*' "$log" | tail -1 | awk '{print $NF}')
[ "${skipped:-0}" -ge "$lines_before" ] || fail "the requeued task did not resume its shard (skipped ${skipped:-none}, had $lines_before)"
echo "requeued task resumed: skipped $skipped lines already in its shard"
cat run/logs/merge-"$merge".out

echo "-- compare with a single-process screen"
set +e
"$BIN" screen ecgs --out single.jsonl --model "$MODEL" --plain >single.txt 2>&1
status=$?
set -e
[ $status -eq 1 ] || fail "single-process screen exit status $status (1 expected: the broken files)"
python3 - run/results.jsonl single.jsonl expected-shards.tsv run/shards <<'PY'
import json, sys, collections, pathlib
merged_path, single_path, shards_tsv, shard_dir = sys.argv[1:]
expected = dict(line.rstrip("\n").split("\t") for line in open(shards_tsv))
merged = [json.loads(l) for l in open(merged_path)]
single = {r["file"]: r for r in map(json.loads, open(single_path))}
files = [r["file"] for r in merged]
assert len(files) == len(set(files)) == len(expected), (len(files), len(set(files)), len(expected))
assert set(files) == set(expected) == set(single), set(expected) ^ set(files)
assert files == sorted(files)
for k in range(4):
    rows = [json.loads(l) for l in open(pathlib.Path(shard_dir) / f"shard-{k}-of-4.jsonl")]
    counts = collections.Counter(r["file"] for r in rows)
    assert all(c == 1 for c in counts.values()), f"shard {k} repeats {[f for f, c in counts.items() if c > 1][:3]}"
    wrong = [f for f in counts if expected[f] != str(k)]
    assert not wrong, f"shard {k} holds inputs of other shards: {wrong[:3]}"
differ = [r["file"] for r in merged if r != single[r["file"]]]
assert not differ, f"{len(differ)} results differ from the single-process screen, e.g. {differ[:3]}"
ok = sum(r["status"] == "ok" for r in merged)
assert ok == 320 and len(merged) - ok == 3, (ok, len(merged))
sizes = collections.Counter(expected.values())
print(f"merged: {len(merged)} inputs ({ok} ok, 3 errors), each once, each in its own shard "
      f"(sizes {', '.join(sizes[str(k)].__str__() for k in range(4))}); identical to the single-process screen")
PY

echo "-- screen merge refuses conflicts and lists missing inputs"
python3 - run/shards/shard-0-of-4.jsonl conflict.jsonl <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
row = next(r for r in rows if r["status"] == "ok")
row["heartRateBpm"] = row["heartRateBpm"] + 1
open(sys.argv[2], "w").write(json.dumps(row, sort_keys=True) + "\n")
PY
if "$BIN" screen merge run/shards/shard-0-of-4.jsonl conflict.jsonl --out conflicted.jsonl >merge-conflict.txt 2>&1; then
  fail "merge accepted two different results for one input"
fi
grep -q "reported differently" merge-conflict.txt || fail "conflict message: $(cat merge-conflict.txt)"
[ ! -e conflicted.jsonl ] || fail "a refused merge wrote its output"
if "$BIN" screen merge run/shards/shard-{0,1,2}-of-4.jsonl --out partial.jsonl --expect ecgs >merge-partial.txt 2>&1; then
  fail "merge without shard 3 passed --expect"
fi
missing=$(grep -o '^[0-9]* input(s) under --expect are in no shard' merge-partial.txt | awk '{print $1}')
want=$(awk -F'\t' '$2 == 3' expected-shards.tsv | wc -l)
[ "${missing:-0}" -eq "$want" ] || fail "merge listed $missing missing inputs, shard 3 holds $want"
echo "conflicting line refused; without shard 3: its $missing inputs listed as missing, exit 1"

echo "-- 2-rank training through sbatch + srun torchrun (gloo)"
PYTHONPATH="$repo/training" python3 - "$work/train" "$repo/training/configs/tiny.json" <<'PY'
import json, sys
from pathlib import Path
from cohort.build import build
root = Path(sys.argv[1])
build(24, root / "cohort", seed=7, cine_frames=6, workers=1, log=lambda *a, **k: None)
cfg = json.loads(Path(sys.argv[2]).read_text())
cfg.update({"run_dir": str(root / "run"), "cohort": str(root / "cohort"), "bundle_dir": str(root / "bundle"),
            "golden": str(root / "golden.safetensors"), "model_card": str(root / "card.md")})
(root / "tiny.json").write_text(json.dumps(cfg))
PY
sbatch --wait --chdir="$repo" --cpus-per-task=2 --output="$work/train-%j.out" \
  --export=ALL,ECG2CMR_PROCS_PER_NODE=2,ECG2CMR_TRAINING="$repo/training" \
  scripts/slurm/train.sbatch --config "$work/train/tiny.json" --only ecg cmr residuals mdm align >/dev/null \
  || fail "training job failed: $(grep -m 10 -E 'Error|error:|Traceback' "$work"/train-*.out)"
out=$(cat "$work"/train-*.out)
echo "$out" | grep -q "1 node(s) × 2 rank(s)" || fail "train.sbatch did not start 2 ranks: $out"
echo "$out" | grep -q "2 process(es)" || fail "the pipeline did not run as 2 processes: $out"
for stage in cmr mdm align; do [ -s "$work/train/run/$stage.pt" ] || fail "no $stage checkpoint"; done
echo "$out" | grep -E "rank\(s\)|process\(es\)|pipeline finished"
echo "slurm: all passed"
