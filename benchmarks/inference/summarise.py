"""Summarise benchmarks/inference/run.sh output: per bundle and engine, every round and the median.

    benchmarks/inference/run.sh 2 30 5 | tee out.txt | python3 benchmarks/inference/summarise.py
"""
import json
import statistics
import sys
from collections import defaultdict

FIELDS = [("encoderMilliseconds", "encoder + heads ms"), ("gradCAMMilliseconds", "Grad-CAM ms"),
          ("generationMilliseconds", "SAX+LAX ms")]


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
        for key, _ in FIELDS:
            if d.get(key) is not None:
                rows[(d["modelID"], key)][engine].append(d[key])
        if engine == "swift":
            extra[d["modelID"]] = {"core": d.get("blasCore", "?"), "gflop": d.get("encoderGFLOP")}
    print(f"{header}\n")
    print("| bundle | measure | Swift rounds | Swift median | PyTorch rounds | PyTorch median | PyTorch ÷ Swift |")
    print("| --- | --- | --- | ---: | --- | ---: | ---: |")
    for (model, key), eng in rows.items():
        label = dict(FIELDS)[key]
        s, t = eng.get("swift", []), eng.get("torch", [])
        ms = statistics.median(s) if s else float("nan")
        mt = statistics.median(t) if t else float("nan")
        fmt = lambda xs: " / ".join(f"{x:.1f}" for x in xs)
        print(f"| {model} | {label} | {fmt(s)} | {ms:.1f} | {fmt(t)} | {mt:.1f} | {mt / ms:.2f} |")
    print()
    for model, e in extra.items():
        print(f"- {model}: {e['gflop']:.3f} GFLOP per encoder pass; OpenBLAS kernels {e['core']}")


if __name__ == "__main__":
    main()
