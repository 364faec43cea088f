"""Writes Tests/CardiacModelsTests/Fixtures/ood-signal-features.json and ood-lead-features.json:
the references that pin the Swift `OutOfDistributionSignalFeatures` / `OutOfDistributionLeadFeatures`
(Sources/CardiacModels/SignalFeatures.swift) and the Python `ood.signal_features` /
`ood.lead_features` to the same numbers.

    python training/make_ood_fixture.py            # from the repository root

Cases: a real record (PhysioNet/CinC 2021 E07500), a synthetic one rendered by training/cohort
(with its noise), a synthetic one without noise, and an all-zero record. Each is the *prepared*
model input; only 4 leads are stored (the features are per lead), with the R peaks and median
beats beats.beat_features found on the full record. The expected features are those
`ood.signal_features` computes on exactly the stored float32 values. The lead features need all
12 leads, so their cases keep every lead of the first 5 s (peaks inside it), plus an AF render.
"""
from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))
from make_beat_fixture import OPS, FS, RECORDS, prepared, wfdb_record  # noqa: E402
from ecg2cmr_train.beats import DEFAULT_SPEC, beat_features  # noqa: E402
from ecg2cmr_train.ood import (SIGNAL_FEATURE_SET, SIGNAL_FEATURES, LEAD_FEATURE_SET, LEAD_FEATURES,  # noqa: E402
                               DOWER, signal_features, lead_features)

OUT = ROOT / "Tests" / "CardiacModelsTests" / "Fixtures" / "ood-signal-features.json"
LEAD_OUT = ROOT / "Tests" / "CardiacModelsTests" / "Fixtures" / "ood-lead-features.json"
LEAD_SAMPLES = 1250
LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
KEEP = [1, 3, 6, 10]   # II, aVR, V1, V5


def synthetic(noise: bool, seed: int, rhythm: str | None = None):
    from cohort.ecg import render_ecg
    from cohort.state import sample_subjects, subject_row
    subject = subject_row(sample_subjects(4, seed), 0)
    if rhythm is not None:
        subject["rhythm"] = rhythm
    rng = np.random.default_rng(int(subject["seed"]))
    return render_ecg(subject, rng, 500.0, 10.0, noise=noise).astype(np.float64)


def b64(a) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode()


def case(name, x):
    x = np.asarray(x, dtype=np.float32)
    f = beat_features(x, LEADS, FS, DEFAULT_SPEC)
    pre, post = DEFAULT_SPEC["preSamples"], DEFAULT_SPEC["postSamples"]
    xs, ms = x[KEEP], f["median_beat"][KEEP]
    feats = signal_features(xs, f["peaks"], ms, pre, post, FS)
    return {"name": name, "leads": [LEADS[k] for k in KEEP], "sampleCount": int(x.shape[1]),
            "values": b64(xs), "peaks": [int(p) for p in f["peaks"]], "medianBeat": b64(ms),
            "features": [float(v) for v in feats]}


def lead_case(name, x):
    x = np.asarray(x, dtype=np.float32)[:, :LEAD_SAMPLES]
    f = beat_features(x, LEADS, FS, DEFAULT_SPEC)
    pre = DEFAULT_SPEC["preSamples"]
    feats = lead_features(x, f["peaks"], f["median_beat"], pre, FS)
    return {"name": name, "sampleCount": int(x.shape[1]), "values": b64(x), "peaks": [int(p) for p in f["peaks"]],
            "medianBeat": b64(f["median_beat"]), "features": [float(v) for v in feats]}


def main():
    cases = []
    x, names, fs = wfdb_record(RECORDS / "cinc2021" / "E07500")
    cases.append(case("cinc2021/E07500 (real)", prepared(x[[names.index(n) for n in LEADS]], fs)))
    cases.append(case("cohort render, noise", prepared(synthetic(True, 11), 500.0)))
    cases.append(case("cohort render, no noise", prepared(synthetic(False, 12), 500.0)))
    cases.append(case("all zero", np.zeros((12, 2500), np.float32)))
    doc = {"featureSet": SIGNAL_FEATURE_SET, "featureNames": list(SIGNAL_FEATURES), "samplingRate": FS,
           "preSamples": DEFAULT_SPEC["preSamples"], "postSamples": DEFAULT_SPEC["postSamples"],
           "preprocessing": OPS, "cases": cases}
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KB, {len(cases)} cases)")
    lead_cases = [lead_case("cinc2021/E07500 (real)", prepared(x[[names.index(n) for n in LEADS]], fs)),
                  lead_case("cohort render, noise", prepared(synthetic(True, 11), 500.0)),
                  lead_case("cohort render, AF", prepared(synthetic(True, 13, "af"), 500.0)),
                  lead_case("all zero", np.zeros((12, LEAD_SAMPLES), np.float32))]
    doc = {"featureSet": LEAD_FEATURE_SET, "featureNames": list(LEAD_FEATURES), "samplingRate": FS,
           "heartVectorBasis": [[float(v) for v in row] for row in DOWER],
           "preSamples": DEFAULT_SPEC["preSamples"], "postSamples": DEFAULT_SPEC["postSamples"],
           "preprocessing": OPS, "cases": lead_cases}
    LEAD_OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {LEAD_OUT} ({LEAD_OUT.stat().st_size // 1024} KB, {len(lead_cases)} cases)")


if __name__ == "__main__":
    main()
