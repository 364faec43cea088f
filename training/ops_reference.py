"""Reference vectors for the preprocessing ops on real records (SignalKit parity tests).

    python training/ops_reference.py --records tests/records --out DIR

For each real 12-lead record (CinC 2021 WFDB files at 500 Hz, the PTB record s0010_re at 1000 Hz
with lower-case lead names) and each op list below, writes DIR/<case>.in.f64 (the float32-rounded
input, lead-major, little-endian float64), DIR/<case>.out.f64 (ecg2cmr_train.preprocess output,
computed in float64 before its final float32 rounding) and DIR/index.json describing the cases
(record, leads, rate, ops, shapes). The Swift test runs the same ops on the same input.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_checkpoint  # noqa: E402
from ecg2cmr_train import preprocess as P  # noqa: E402

STANDARD = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
GROUPS = [["I", "II", "III"], ["aVR", "aVL", "aVF"], ["V1", "V2", "V3", "V4", "V5", "V6"]]
RECORDS = ["cinc2021/E07500", "cinc2021/E07503", "cinc2021/JS20002", "s0010_re"]


def op_lists(samples: int) -> dict:
    return {"sigmaclip": [{"op": "sigmaClip", "sigmas": 4.0}],
            "sigmaclip-record": [{"op": "sigmaClip", "sigmas": 4.0, "scope": "record"}],
            "als": [{"op": "baselineRemoval", "method": "als", "lambda": 1e7, "p": 0.3, "iterations": 5}],
            "zscoregroups": [{"op": "normalise", "mode": "zscore-group", "groups": GROUPS}],
            "mmcl": convert_checkpoint.preset_ops("mmcl", 500.0, samples),
            "cardiacnets": convert_checkpoint.preset_ops("cardiacnets", 250.0, 2500)}


def read(path: Path):
    import wfdb
    h = wfdb.rdheader(str(path))
    keys = [n.upper() for n in h.sig_name]
    idx = [keys.index(n.upper()) for n in STANDARD]
    r = wfdb.rdrecord(str(path), channels=idx)
    names = list(r.sig_name)
    x = r.p_signal.T.astype(np.float32).astype(np.float64)
    x = np.nan_to_num(x)
    if r.fs > 500:                      # keep the fixture small: 12 s of the long PTB record
        x = x[:, : int(12 * r.fs)]
    return x, float(r.fs), names


def run(op_list, x, fs, names):
    y = np.asarray(x, dtype=np.float64)
    rate = fs
    for op in op_list:
        # one op at a time so the result stays float64 (preprocess() rounds to float32 at the end)
        y = _apply64(y, rate, op, names)
        if op["op"] == "resample":
            rate = float(op["rate"])
    return y


def _apply64(y, rate, op, names):
    kind = op["op"]
    if kind == "resample":
        return P.resample(y, rate, float(op["rate"]))
    if kind == "cropOrPad":
        return P.crop_or_pad(y, int(op["sampleCount"]), op.get("align", "start"))[0]
    if kind == "sigmaClip":
        return P.sigma_clip(y, float(op["sigmas"]), op.get("scope", "lead"))
    if kind == "baselineRemoval" and op.get("method") == "als":
        return P.als_baseline_removal(y, float(op["lambda"]), float(op["p"]), int(op["iterations"]))
    if kind == "baselineRemoval":
        return P.median_baseline_removal(y, rate, op.get("windowsSeconds", [0.2, 0.6]))
    if kind == "normalise":
        return P.normalise(y, op, names)
    if kind == "waveletDenoise":
        return P.wavelet_denoise(y, op.get("wavelet", "db6"), op.get("level"))
    if kind == "savgol":
        return P.savgol(y, int(op["windowLength"]), int(op["polyorder"]))
    raise ValueError(kind)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", default=str(Path(__file__).resolve().parents[1] / "tests" / "records"))
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for rec in RECORDS:
        x, fs, names = read(Path(a.records) / rec)
        # the whole-pipeline check against preprocess() itself (float32 result)
        whole, _ = P.preprocess(x, fs, op_lists(5000)["mmcl"], lead_names=names)
        for name, ops in op_lists(5000).items():
            y = run(ops, x, fs, names)
            if name == "mmcl":
                assert np.abs(whole - y).max() <= 1e-5 * np.abs(y).max()
            case = f"{rec.replace('/', '_')}.{name}"
            x.astype("<f8").tofile(out / f"{case}.in.f64")
            y.astype("<f8").tofile(out / f"{case}.out.f64")
            index.append({"case": case, "record": rec, "leads": names, "rate": fs, "ops": ops,
                          "inShape": list(x.shape), "outShape": list(y.shape)})
    (out / "index.json").write_text(json.dumps(index, indent=1))
    print(f"wrote {len(index)} cases to {out}")


if __name__ == "__main__":
    main()
