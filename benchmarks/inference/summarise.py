"""Summarise benchmarks/inference/run.sh output: per bundle and engine, every round and the median.

    benchmarks/inference/run.sh 2 30 5 | tee out.txt | python3 benchmarks/inference/summarise.py
"""
import json
import statistics
import sys
from collections import defaultdict

# (key, label, higher is better)
FIELDS = [("encoderMilliseconds", "encoder + heads ms", False), ("encoderBatchECGPerSecond", "batched encoder + heads ECG/s", True),
          ("gradCAMMilliseconds", "Grad-CAM ms", False), ("generationMilliseconds", "SAX+LAX ms", False)]


def main():
    rows = defaultdict(lambda: defaultdict(list))
    extra = defaultdict(dict)
    header = ""
    for line in sys.stdin:
        if line.startswith("#"):
            header = line.strip("# \n")
            continue
        parts = line.split(" ", 2)
        if len(parts) != 3:
            continue
        engine, _, payload = parts
        d = json.loads(payload)
        for key, _, _ in FIELDS:
            if d.get(key) is not None:
                rows[(d["modelID"], key)][engine].append(d[key])
        if engine == "swift":
            e = extra[d["modelID"]]
            e.update(core=d.get("blasCore", "?"), gflop=d.get("encoderGFLOP"))
            for k in ("sgemmPeakGFLOPS", "sgemmOneThreadGFLOPS", "batchAchievedGFLOPS", "achievedGFLOPS"):
                if d.get(k) is not None:
                    e.setdefault(k, []).append(d[k])
    print(f"{header}\n")
    print("| bundle | measure | Swift rounds | Swift median | PyTorch rounds | PyTorch median | Swift speed-up |")
    print("| --- | --- | --- | ---: | --- | ---: | ---: |")
    for (model, key), eng in rows.items():
        label, higher = next((lab, hb) for k, lab, hb in FIELDS if k == key)
        s, t = eng.get("swift", []), eng.get("torch", [])
        ms = statistics.median(s) if s else float("nan")
        mt = statistics.median(t) if t else float("nan")
        fmt = lambda xs: " / ".join(f"{x:.1f}" for x in xs)
        print(f"| {model} | {label} | {fmt(s)} | {ms:.1f} | {fmt(t)} | {mt:.1f} | {(ms / mt if higher else mt / ms):.2f} |")
    print()
    for model, e in extra.items():
        line = f"- {model}: {e['gflop']:.3f} GFLOP per encoder pass; OpenBLAS kernels {e['core']}"
        if e.get("sgemmPeakGFLOPS"):
            # Each round's fraction uses the peak measured in that same process.
            frac = lambda k: [100 * a / p for a, p in zip(e[k], e["sgemmPeakGFLOPS"])]
            fmt = lambda xs: " / ".join(f"{x:.0f}" for x in xs)
            line += (f"; sgemm peak on all threads {fmt(e['sgemmPeakGFLOPS'])} GFLOP/s (one thread "
                     f"{fmt(e.get('sgemmOneThreadGFLOPS', []))}); one ECG {fmt(frac('achievedGFLOPS'))} %, "
                     f"batched {fmt(frac('batchAchievedGFLOPS'))} % of that round's peak")
        print(line)


if __name__ == "__main__":
    main()
