"""Beats of a whole annotated WFDB record: ecg2cmr (all leads) and wfdb's XQRS (one lead) against
the reference annotations, scored by wfdb.processing.compare_annotations (150 ms window).

    python3 tools/signal-reference/beats_vs_atr.py --bin .build/debug/ecg2cmr --record tests/records/100
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
import wfdb
from wfdb import processing

# Beat annotation codes (PhysioNet's "beat" symbols); rhythm, noise and comment marks are not beats.
BEATS = set("NLRBAaJSVrFejnE/fQ?")


def score(ref: np.ndarray, test: np.ndarray, fs: float) -> tuple[int, int, int, float, float]:
    c = processing.compare_annotations(ref, test, int(0.15 * fs))
    tp, fn, fp = c.tp, c.fn, c.fp
    return tp, fn, fp, tp / (tp + fn), tp / (tp + fp)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--record", required=True, help="WFDB record path without extension (with a .atr file)")
    a = ap.parse_args(argv)
    rec = wfdb.rdrecord(a.record)
    fs = float(rec.fs)
    ann = wfdb.rdann(a.record, "atr")
    ref = np.array([s for s, sym in zip(ann.sample, ann.symbol) if sym in BEATS])
    seconds = rec.sig_len / fs
    out = subprocess.run([a.bin, "info", a.record + ".hea", "--json", "--beats", "--window", "0",
                          "--window-length", f"{seconds + 1:.0f}"], capture_output=True, text=True, check=True)
    info = json.loads(out.stdout)
    ours = np.array(info["beats"])
    rows = [(f"ecg2cmr (leads {', '.join(info.get('beatLeads') or [])})", ours)]
    for k, name in enumerate(rec.sig_name):
        xqrs = processing.XQRS(sig=rec.p_signal[:, k], fs=fs)
        xqrs.detect(verbose=False)
        rows.append((f"wfdb XQRS on {name}", np.asarray(xqrs.qrs_inds)))
    print(f"record {a.record.split('/')[-1]}: {seconds / 60:.1f} min, {len(ref)} annotated beats, 150 ms window")
    print("| detector | detected | TP | FN | FP | sensitivity | PPV |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    ok = True
    for label, beats in rows:
        tp, fn, fp, se, ppv = score(ref, beats, fs)
        print(f"| {label} | {len(beats)} | {tp} | {fn} | {fp} | {100 * se:.2f} % | {100 * ppv:.2f} % |")
        if label.startswith("ecg2cmr"):
            ok = se >= 0.995 and ppv >= 0.995
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
