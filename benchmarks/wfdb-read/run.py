#!/usr/bin/env python3
"""Read + decode of a WFDB record: ecg2cmr's Swift reader vs wfdb-python rdrecord, in one run.

Usage (from the repository root):  python3 benchmarks/wfdb-read/run.py [--iterations N]
Builds the release benchmark binary, times both readers on the same records on this machine,
prints a table and the speed ratios (median per read). Both run single-threaded.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import wfdb

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.path.join(ROOT, "tests", "records")
RECORDS = [os.path.join(SHARED, "cinc2021", "E07500"), os.path.join(SHARED, "cinc2021", "JS20000"),
           os.path.join(SHARED, "s0010_re")]


def python_times(record, iterations):
    # s0010_re's Frank-lead file is absent here: read the 12 standard leads, as the Swift reader does.
    channels = list(range(12))
    for _ in range(5):
        wfdb.rdrecord(record, channels=channels)
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        wfdb.rdrecord(record, channels=channels)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--scratch-path", default=".build-bench")
    args = ap.parse_args()
    subprocess.run(["swift", "build", "-c", "release", "--scratch-path", args.scratch_path, "--product", "wfdb-read-bench"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    binary = os.path.join(ROOT, args.scratch_path, "release", "wfdb-read-bench")
    out = subprocess.run([binary, "--iterations", str(args.iterations)] + [r + ".hea" for r in RECORDS],
                         check=True, capture_output=True, text=True).stdout
    swift = [json.loads(line) for line in out.splitlines() if line.strip()]
    print(f"wfdb {wfdb.__version__}, python {sys.version.split()[0]}, iterations {args.iterations}")
    print(f"{'record':<12} {'leads x samples':>16} {'swift median ms':>16} {'wfdb median ms':>15} {'ratio':>7}")
    for rec, s in zip(RECORDS, swift):
        p_med, _ = python_times(rec, args.iterations)
        print(f"{os.path.basename(rec):<12} {str(s['leads']) + ' x ' + str(s['samples']):>16} {s['median_ms']:>16.4f} {p_med:>15.4f} {p_med / s['median_ms']:>6.1f}x")


if __name__ == "__main__":
    main()
