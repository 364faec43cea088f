"""Checks ecg2cmr's heart rate and rhythm against the synthetic cohort's simulator on held-out subjects.

Renders N subjects (cohort.state.sample_subjects + cohort.ecg.render_ecg, 500 Hz, 10 s, with noise)
from a seed no model or detector was trained or tuned on, writes each as WFDB, runs
`ecg2cmr info --json` and compares `heartRateBpm` (beats found on all leads) with the simulator's
rate. Prints the share of sinus subjects within max(3 bpm, 5 %), the subjects of any rhythm read at
≥ 1.4× or ≤ 0.7× their rate, and the worst cases.

    PYTHONPATH=training python training/beat_check.py --bin .build/debug/ecg2cmr --n 1500 --seed 20261205
"""
from __future__ import annotations

import sys

import numpy as np

from cohort.info_check import check_main, info_on_heldout


def run(binary: str, n: int, seed: int, jobs: int, fs: int = 500) -> list[dict]:
    def describe(s, _rng, _fs):
        return {"subject": str(s["subject_id"]), "rhythm": str(s["rhythm"]),
                "trueBpm": float(s["heart_rate_bpm"]), "bbb": str(s.get("bbb", "none"))}
    rows = info_on_heldout(binary, n, seed, jobs, describe, fs)
    for row in rows:
        got = row.pop("info")
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
    return check_main(__doc__.split("\n")[0], 1500, 20261205, "also write per-subject rows here", run, summary, argv)


if __name__ == "__main__":
    sys.exit(main())
