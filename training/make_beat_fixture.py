"""Writes Tests/SignalKitTests/Fixtures/beat-features.json: the one reference that pins the Swift
`BeatExtractor` (Sources/SignalKit/BeatFeatures.swift) and the Python `beats.py` to the same output.

    python training/make_beat_fixture.py            # from the repository root

Each case is a *prepared* model input (resample 250 Hz, 0.5 Hz order-2 zero-phase high-pass,
crop/pad 2500 samples, scale 1 mV, clip 8) of a real record (PhysioNet CinC 2021, MIT-BIH 100,
PTB s0010_re) or a sample-data file, plus synthetic edge cases (AF-like irregular rhythm, all-zero
record, lead II flat, lower-case lead names). Only 4 leads per case are stored (with their
names) to keep the file small; the expected values are those `beats.beat_features` computes on
exactly the stored float32 values (base64, little-endian float32, lead-major).
"""
from __future__ import annotations

import base64
import csv
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "training"))
from ecg2cmr_train.beats import DEFAULT_SPEC, RHYTHM_FEATURES, beat_features  # noqa: E402
from ecg2cmr_train.preprocess import preprocess  # noqa: E402

RECORDS = Path(__file__).resolve().parents[1] / "tests" / "records"
SAMPLES = ROOT / "sample-data"
OUT = ROOT / "Tests" / "SignalKitTests" / "Fixtures" / "beat-features.json"
FS = 250.0
OPS = [
    {"op": "resample", "rate": 250},
    {"op": "baselineRemoval", "method": "highpass", "cutoffHz": 0.5, "order": 2},
    {"op": "cropOrPad", "sampleCount": 2500},
    {"op": "normalise", "mode": "scale", "millivolts": 1.0, "clip": 8.0},
]
KEEP = ["I", "II", "V2", "V5"]


def wfdb_record(path: Path, seconds: float | None = None, channels=None):
    import wfdb

    rec = wfdb.rdrecord(str(path), channels=channels)
    x = rec.p_signal.T.astype(np.float64)
    if seconds is not None:
        x = x[:, : int(seconds * rec.fs)]
    return np.nan_to_num(x), [str(n) for n in rec.sig_name], float(rec.fs)


def dicom_record(path: Path):
    import pydicom

    d = pydicom.dcmread(str(path))
    w = d.WaveformSequence[0]
    names = [c.ChannelSourceSequence[0].CodeMeaning.replace("Lead ", "") for c in w.ChannelDefinitionSequence]
    return d.waveform_array(0).T.astype(np.float64) / 1000.0, names, float(w.SamplingFrequency)  # µV -> mV


def csv_record(path: Path):
    lines = path.read_text().splitlines()
    fs = next(float(l.split("=")[1]) for l in lines if l.startswith("# sampling_rate="))
    rows = [r for r in csv.reader(l for l in lines if not l.startswith("#"))]
    header, body = rows[0], np.asarray(rows[1:], dtype=np.float64)
    cols = [k for k, h in enumerate(header) if h.strip().lower() not in ("time", "t", "sample", "time_s")]
    return body[:, cols].T, [header[k].strip() for k in cols], fs


def pick(x, names, keep):
    idx = [names.index(k) for k in keep]
    return x[idx], list(keep)


def prepared(x, fs):
    y, _ = preprocess(x, fs, OPS)
    return y.astype(np.float32)


def synthetic_af(seed=7):
    """AF-like: irregular RR (0.35-1.1 s), no P waves, fibrillatory 4-8 Hz baseline, noise."""
    rng = np.random.default_rng(seed)
    fs, n = 500.0, 5000
    t = np.arange(n) / fs
    beats, b = [], 0.2
    while b < 10:
        beats.append(b)
        b += rng.uniform(0.35, 1.1)
    amps = {"I": 0.6, "II": 1.1, "V2": -0.9, "V5": 1.4}
    x = []
    for k, name in enumerate(KEEP):
        s = np.zeros(n)
        for bt in beats:
            s += amps[name] * np.exp(-((t - bt) / 0.011) ** 2)
            s -= 0.15 * amps[name] * np.exp(-((t - bt - 0.03) / 0.012) ** 2)
            s += 0.2 * abs(amps[name]) * np.exp(-((t - bt - 0.28) / 0.05) ** 2)
        f = 0.05 * np.sin(2 * np.pi * (5.5 + 0.7 * k) * t + rng.uniform(0, 6.3))
        x.append(s + f + 0.01 * rng.standard_normal(n) + 0.2 * np.sin(2 * np.pi * 0.2 * t))
    return np.asarray(x), list(KEEP), fs


def cases():
    out = []

    def add(name, source, x, names):
        out.append((name, source, x.astype(np.float32), names))

    for rec in ["E07500", "E07501", "JS20002", "JS20004"]:
        x, names, fs = wfdb_record(RECORDS / "cinc2021" / rec)
        y = prepared(x, fs)
        add(rec, f"PhysioNet/CinC 2021 {rec}", *pick(y, names, KEEP))
    x, names, fs = wfdb_record(RECORDS / "100", seconds=10.0)
    add("mitbih-100", "MIT-BIH 100, first 10 s (MLII, V5): no lead II by name, V5 detects", prepared(x, fs), names)
    x, names, fs = wfdb_record(RECORDS / "s0010_re", seconds=10.0, channels=list(range(12)))
    y = prepared(x, fs)
    add("ptb-s0010-lowercase", "PTB s0010_re, lower-case names: falls back to the first non-flat lead",
        *pick(y, names, ["i", "ii", "v2", "v5"]))
    x, names, fs = wfdb_record(SAMPLES / "P01-healthy" / "ecg")
    add("P01-healthy", "sample-data P01 (WFDB)", *pick(prepared(x, fs), names, KEEP))
    x, names, fs = dicom_record(SAMPLES / "P09-atrial-fibrillation" / "ecg.dcm")
    add("P09-atrial-fibrillation", "sample-data P09 (DICOM)", *pick(prepared(x, fs), names, KEEP))
    x, names, fs = csv_record(SAMPLES / "P06-rcm" / "ecg.csv")
    add("P06-rcm", "sample-data P06 (CSV, low voltage)", *pick(prepared(x, fs), names, KEEP))
    x, names, fs = synthetic_af()
    add("synthetic-af", "synthetic AF-like irregular rhythm", prepared(x, fs), names)
    add("all-zero", "flat record: no detection lead, no beats", np.zeros((4, 2500), np.float32), list(KEEP))
    x, names, fs = wfdb_record(RECORDS / "cinc2021" / "JS20001")
    y, nm = pick(prepared(x, fs), names, KEEP)
    y[1] = 0
    add("JS20001-lead-II-zero", "JS20001 with lead II zeroed: detection falls to lead I", y, nm)
    return out


def main():
    spec = dict(DEFAULT_SPEC)
    doc = {
        "generator": "training/make_beat_fixture.py (ecg2cmr_train.beats)",
        "spec": spec,
        "samplingRate": FS,
        "rhythmFeatureNames": list(RHYTHM_FEATURES),
        "cases": [],
    }
    for name, source, x, names in cases():
        assert x.shape == (len(names), 2500), (name, x.shape)
        f = beat_features(x, names, FS, spec)
        doc["cases"].append({
            "name": name,
            "source": source,
            "leadNames": names,
            "sampleCount": int(x.shape[1]),
            "valuesF32Base64": base64.b64encode(np.ascontiguousarray(x, dtype="<f4").tobytes()).decode(),
            "expected": {
                "rPeakIndices": [int(p) for p in f["peaks"]],
                "detectionLead": f["lead"],
                "beatCount": int(f["beat_count"]),
                "beatLength": int(f["median_beat"].shape[1]),
                "medianBeat": [float(v) for v in f["median_beat"].ravel()],
                "rhythm": [float(v) for v in f["rhythm"]],
            },
        })
        print(f"{name:26s} lead={f['lead']!s:4s} peaks={len(f['peaks']):3d} beats={f['beat_count']:3d} "
              f"hr={f['rhythm'][0] * 100:6.1f}")
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
