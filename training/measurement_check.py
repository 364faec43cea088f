"""Checks ecg2cmr's global measurements against the synthetic cohort's known wave timings.

Renders N subjects (cohort.state.sample_subjects + cohort.ecg.render_ecg, 500 Hz, 10 s, with
noise), writes each as WFDB (cohort.writers.write_wfdb), runs `ecg2cmr info --json` on it and
compares `measurements` with `cohort.timings.true_timings`. Prints a markdown table of mean
absolute errors (and the share within the IEC 60601-2-25-style tolerances) per group.

    PYTHONPATH=training python training/measurement_check.py --bin .build/debug/ecg2cmr --n 500
"""
from __future__ import annotations

import sys

import numpy as np

from cohort.info_check import check_main, info_on_heldout
from cohort.timings import true_timings

KEYS = [("PR", "pr_ms", "prMs", 10.0), ("QRS", "qrs_ms", "qrsMs", 10.0), ("QT", "qt_ms", "qtMs", 25.0),
        ("QRS axis", "qrs_axis_deg", "qrsAxisDeg", 15.0), ("heart rate", "heart_rate_bpm", "heartRateBpm", 5.0)]


def angle_error(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def group_of(t: dict) -> str:
    if t["rhythm"] == "af":
        return "atrial fibrillation"
    if t["bbb"] != "none":
        return "bundle-branch block"
    return "sinus, no BBB"


def run(binary: str, n: int, seed: int, jobs: int, fs: int = 500) -> list[dict]:
    def describe(s, rng, fs):
        truth = true_timings(s, rng, fs=fs)
        return {"subject": str(s["subject_id"]), "truth": truth, "group": group_of(truth)}
    rows = info_on_heldout(binary, n, seed, jobs, describe, fs)
    for row in rows:
        got = row.pop("info")
        row["measured"] = {"error": got["error"]} if "error" in got else (got.get("measurements") or {})
    return rows


def table(rows: list[dict]) -> str:
    groups = ["all"] + sorted({r["group"] for r in rows})
    lines = ["| group | n | " + " | ".join(f"{k[0]} MAE (within ±{k[3]:g})" for k in KEYS) + " | PR null in AF |",
             "| --- | --- |" + " --- |" * (len(KEYS) + 1)]
    for g in groups:
        sel = [r for r in rows if g == "all" or r["group"] == g]
        cells = []
        for name, tk, mk, tol in KEYS:
            errs = []
            missing = 0
            for r in sel:
                t, m = r["truth"].get(tk), r["measured"].get(mk)
                if t is None:
                    continue
                if m is None:
                    missing += 1
                    continue
                errs.append(angle_error(m, t) if "axis" in tk else abs(m - t))
            if errs:
                e = np.array(errs)
                cell = f"{e.mean():.1f} ({100 * np.mean(e <= tol):.0f} %)"
            else:
                cell = "–"
            if missing:
                cell += f", {missing} null"
            cells.append(cell)
        af = [r for r in sel if r["truth"]["pr_ms"] is None]
        af_null = f"{sum(r['measured'].get('prMs') is None for r in af)}/{len(af)}" if af else "–"
        lines.append(f"| {g} | {len(sel)} | " + " | ".join(cells) + f" | {af_null} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    return check_main(__doc__.split("\n")[0], 500, 20240617, "also write per-subject truth and measurements here", run, table, argv)


if __name__ == "__main__":
    sys.exit(main())
