#!/usr/bin/env python3
"""Python peer of bench_main.swift: the same ops through training/ecg2cmr_train/preprocess.py
(scipy / PyWavelets) and R-peaks through wfdb's XQRS, median wall time per ECG in ms."""
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
from ecg2cmr_train.preprocess import preprocess  # noqa: E402


def bench(name, fn, iterations):
    samples = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    samples.sort()
    print(json.dumps({"case": name, "medianMs": samples[len(samples) // 2]}))


def main():
    blob, leads, fs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    iterations = int(sys.argv[4]) if len(sys.argv) > 4 else 50
    x = np.fromfile(blob, dtype="<f4").reshape(leads, -1).astype(np.float64)
    demo = [{"op": "resample", "rate": 250}, {"op": "baselineRemoval", "method": "median", "windowsSeconds": [0.2, 0.6]},
            {"op": "cropOrPad", "sampleCount": 2500}, {"op": "normalise", "mode": "scale", "millivolts": 1.0, "clip": 8.0}]
    cn = [{"op": "resample", "rate": 250}, {"op": "baselineRemoval", "method": "median", "windowsSeconds": [0.2, 0.6]},
          {"op": "waveletDenoise", "wavelet": "db6"}, {"op": "savgol", "windowLength": 15, "polyorder": 3},
          {"op": "normalise", "mode": "minmax"}]
    filt = [{"op": "notch", "frequencyHz": 50, "quality": 30}, {"op": "bandpass", "lowHz": 0.5, "highHz": 40, "order": 4}]
    bench("demo pipeline (resample, median baseline, crop, scale) 12 leads", lambda: preprocess(x, fs, demo), iterations)
    bench("CardiacNets pipeline (resample, median, db6, savgol, minmax) 12 leads", lambda: preprocess(x, fs, cn), iterations)
    bench("notch + bandpass (filtfilt) 12 leads", lambda: preprocess(x, fs, filt), iterations)
    import wfdb.processing
    bench("R-peaks lead II", lambda: wfdb.processing.xqrs_detect(sig=x[1], fs=fs, verbose=False), max(3, iterations // 10))


if __name__ == "__main__":
    main()
