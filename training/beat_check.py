"""Checks ecg2cmr's heart rate and rhythm against the synthetic cohort's simulator on held-out subjects.

Renders N subjects (cohort.state.sample_subjects + cohort.ecg.render_ecg, 500 Hz, 10 s, with noise)
from a seed no model or detector was trained or tuned on, writes each as WFDB, runs
`ecg2cmr info --json` and compares `heartRateBpm` (beats found on all leads) with the simulator's
rate. Prints the share of sinus subjects within max(3 bpm, 5 %), the subjects of any rhythm read at
≥ 1.4× or ≤ 0.7× their rate, and the worst cases.

    PYTHONPATH=training python training/beat_check.py --bin .build/debug/ecg2cmr --n 1500 --seed 20261205
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from cohort.ecg import render_ecg
from cohort.state import sample_subjects, subject_row
from cohort.writers import write_wfdb


def run(binary: str, n: int, seed: int, jobs: int, fs: int = 500) -> list[dict]:
    cohort = sample_subjects(n, seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        stems = []
        for i in range(n):
            s = subject_row(cohort, i)
            rng = np.random.default_rng(int(s["seed"]))
            ecg = render_ecg(s, rng, fs=fs)
            stem = Path(tmp) / f"s{i:05d}"
            write_wfdb(stem, ecg, fs, [f"subject {s['subject_id']}"])
            stems.append(stem)
            rows.append({"subject": str(s["subject_id"]), "rhythm": str(s["rhythm"]),
                         "trueBpm": float(s["heart_rate_bpm"]), "bbb": str(s.get("bbb", "none"))})

        def info(stem: Path) -> dict:
            out = subprocess.run([binary, "info", str(stem.with_suffix(".hea")), "--json"],
                                 capture_output=True, text=True, check=False)
            if out.returncode != 0:
                return {"error": out.stderr.strip()}
            return json.loads(out.stdout)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for row, got in zip(rows, pool.map(info, stems)):
                row["bpm"] = got.get("heartRateBpm")
                row["readRhythm"] = got.get("rhythm")
                row["error"] = got.get("error")
    return rows


def summary(rows: list[dict]) -> str:
    lines = []
    sinus = [r for r in rows if r["rhythm"] == "sinus"]

    def within(r):
        return r["bpm"] is not None and abs(r["bpm"] - r["trueBpm"]) <= max(3.0, 0.05 * r["trueBpm"])

    ok = sum(within(r) for r in sinus)
    lines.append(f"sinus: {ok}/{len(sinus)} = {100 * ok / max(1, len(sinus)):.2f} % within max(3 bpm, 5 %) of the simulator's rate")
    for rhythm in sorted({r["rhythm"] for r in rows}):
        sel = [r for r in rows if r["rhythm"] == rhythm]
        errs = np.array([abs(r["bpm"] - r["trueBpm"]) for r in sel if r["bpm"] is not None])
        missing = sum(r["bpm"] is None for r in sel)
        lines.append(f"{rhythm}: n={len(sel)}, mean |error| {errs.mean():.2f} bpm, median {np.median(errs):.2f}, "
                     f"95th pct {np.percentile(errs, 95):.2f}, no rate {missing}")
    gross = [r for r in rows if r["bpm"] is None or not (0.7 * r["trueBpm"] < r["bpm"] < 1.4 * r["trueBpm"])]
    lines.append(f"read at >= 1.4x or <= 0.7x the true rate (or no rate), any rhythm: {len(gross)} of {len(rows)}")
    worst = sorted(rows, key=lambda r: -abs((r["bpm"] or 0) - r["trueBpm"]))[:8]
    lines.append("worst: " + "; ".join(f"{r['subject']} {r['rhythm']}/{r['bbb']} true {r['trueBpm']:.1f} read "
                                        f"{'–' if r['bpm'] is None else format(r['bpm'], '.1f')}" for r in worst))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="path of the built ecg2cmr executable")
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=20261205)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", help="also write per-subject rows here")
    a = ap.parse_args(argv)
    rows = run(a.bin, a.n, a.seed, a.jobs)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    print(f"{a.n} synthetic subjects (sample_subjects(n={a.n}, seed={a.seed})), 500 Hz, 10 s, with noise")
    print(summary(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
