#!/usr/bin/env python3
"""Scale-out of `ecg2cmr screen --shard`: 1 process (shard 0/1) against 2 at once (shards 0/2 and
1/2), each with one core's worth of work (--jobs 1, OPENBLAS_NUM_THREADS=1) — what one and two Slurm
array tasks with --cpus-per-task=1 run on one node. Prints ECG/s (wall) and the ratio, ECGs per
CPU-second of each configuration, the CPU model and the load average before and after (other work
on the machine lowers the wall-clock ratio; the CPU-second figures are what a cluster bills).

    python3 benchmarks/cluster/run.py [--files 600] [--bin .build/release/ecg2cmr] [--repeat 2]

The folder holds copies of every sample-data ECG (all six formats), like benchmarks/screening.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def make_folder(dst: Path, count: int) -> None:
    sources = sorted(p for p in (ROOT / "sample-data").glob("*/ecg*") if p.suffix != ".dat")
    for i in range(count):
        src = sources[i % len(sources)]
        d = dst / f"{i:04d}"
        d.mkdir(parents=True)
        shutil.copy(src, d / src.name)
        if src.suffix == ".hea":
            shutil.copy(src.with_suffix(".dat"), d / (src.stem + ".dat"))


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def run_shards(binary: str, model: str, folder: Path, out: Path, count: int) -> tuple[float, float]:
    """Wall seconds for `count` processes screening shards 0..count-1 of `folder` at once, and the
    CPU seconds (user + system) they used together: what a cluster bills, and a figure other work on
    the machine barely changes."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    procs = [subprocess.Popen([binary, "screen", str(folder), "--shard", f"{k}/{count}", "--jobs", "1", "--plain",
                               "--model", model, "--out", str(out / f"shard-{k}-of-{count}.jsonl")],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for k in range(count)]
    cpu = 0.0
    for p in procs:
        _, status, usage = os.wait4(p.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1):
            sys.exit(f"screen failed with status {code}")
        cpu += usage.ru_utime + usage.ru_stime
    return time.perf_counter() - start, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=600)
    ap.add_argument("--bin", default=str(ROOT / ".build/release/ecg2cmr"))
    ap.add_argument("--model", default=str(ROOT / "assets/models/demo-v2"))
    ap.add_argument("--repeat", type=int, default=2, help="runs of each configuration, alternating; the best is kept")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ecgs"
        make_folder(folder, args.files)
        load_before = os.getloadavg()
        best = {1: float("inf"), 2: float("inf")}
        cpu = {1: float("inf"), 2: float("inf")}
        for r in range(args.repeat):
            for count in (1, 2):
                out = Path(tmp) / f"out-{count}-{r}"
                out.mkdir()
                wall, used = run_shards(args.bin, args.model, folder, out, count)
                best[count], cpu[count] = min(best[count], wall), min(cpu[count], used)
                lines = sum(len((out / f"shard-{k}-of-{count}.jsonl").read_text().splitlines()) for k in range(count))
                assert lines == args.files, (lines, args.files)
        load_after = os.getloadavg()
    rate1, rate2 = args.files / best[1], args.files / best[2]
    print(json.dumps({
        "cpu": cpu_model(), "cores": os.cpu_count(), "files": args.files,
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in load_after],
        "one_task_ecg_per_s": round(rate1, 1), "two_tasks_ecg_per_s": round(rate2, 1),
        "per_task_ecg_per_s_when_two": round(rate2 / 2, 1), "ratio": round(rate2 / rate1, 2),
        # ECGs per CPU-second: the per-core rate when a task has its core to itself.
        "one_task_ecg_per_cpu_s": round(args.files / cpu[1], 1), "two_tasks_ecg_per_cpu_s": round(args.files / cpu[2], 1),
        "cpu_ratio_two_vs_one": round(cpu[1] / cpu[2], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
