"""`convert_checkpoint.py --preset mmcl` writes MMCL's own preprocessing, in MMCL's order.

The reference below is MMCL's `utils/preprocessing.py::process_ecg` (oetu/MMCL-ECG-CMR), applied to
the whole record, followed by its evaluation crop `CropResizing(fixed_crop_len, start_idx=0)`
(`mmcl/datasets/EvalECGDataset.py`), transcribed line by line; the preset's op list through
`ecg2cmr_train.preprocess` (the Python twin of SignalKit) must give the same input tensor.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from scipy.sparse.linalg import spsolve

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import convert_checkpoint  # noqa: E402
import ops_reference  # noqa: E402
from ecg2cmr_train import preprocess as P  # noqa: E402

RECORDS = ROOT.parent / "tests" / "records"  # real records committed with their licences


def mmcl_baseline_als(y, lam=1e8, p=1e-2, niter=10):
    L = len(y)
    D = sparse.diags([1, -2, 1], [0, -1, -2], shape=(L, L - 2))
    D = lam * D.dot(D.transpose())
    w = np.ones(L)
    W = sparse.spdiags(w, 0, L, L)
    for _ in range(niter):
        W.setdiag(w)
        Z = W + D
        z = spsolve(Z, w * y)
        w = p * (y > z) + (1 - p) * (y < z)
    return z


def mmcl_process_ecg(sample):
    sample = np.nan_to_num(sample)
    sample_std = sample.std()
    sample = np.clip(sample, a_min=-4 * sample_std, a_max=4 * sample_std)
    baselines = np.zeros_like(sample)
    for lead in range(sample.shape[0]):
        baselines[lead] = mmcl_baseline_als(sample[lead], lam=1e7, p=0.3, niter=5)
    sample = sample - baselines
    mean, var, lower = [], [], 0
    for idx in [3, 6, 12]:
        g = sample[lower:idx]
        mean.extend(np.repeat(np.mean(g, axis=(0, 1), keepdims=True), idx - lower, axis=0))
        var.extend(np.repeat(np.var(g, axis=(0, 1), keepdims=True), idx - lower, axis=0))
        lower = idx
    return (sample - np.array(mean)) / (np.array(var) + 1.e-12) ** .5


@pytest.mark.parametrize("record", ["cinc2021/E07500"])
def test_mmcl_preset_is_mmcls_process_ecg_then_its_eval_crop(record):
    path = RECORDS / record
    x, fs, names = ops_reference.read(path)
    assert fs == 500.0 and names[:3] == ["I", "II", "III"]
    crop = 2500                       # a 2500-sample encoder: the crop must come after the statistics
    ours, offset = P.preprocess(x, fs, convert_checkpoint.preset_ops("mmcl", 500.0, crop), lead_names=names)
    ref = mmcl_process_ecg(x)[:, :crop]
    assert offset == 0 and ours.shape == ref.shape
    err = np.abs(ours - ref).max() / np.abs(ref).max()
    print(f"{record}: max |ours − MMCL| / max |MMCL| = {err:.2e}")
    assert err < 1e-5
    # The previous order (crop first, per-lead clip) is measurably different on the same record.
    old = [{"op": "cropOrPad", "sampleCount": crop}, {"op": "sigmaClip", "sigmas": 4.0},
           {"op": "baselineRemoval", "method": "als", "lambda": 1e7, "p": 0.3, "iterations": 5},
           {"op": "normalise", "mode": "zscore-group", "groups": ops_reference.GROUPS}]
    assert np.abs(P.preprocess(x, fs, old, lead_names=names)[0] - ref).max() > 1e-3
