"""Checks of the manifest preprocessing reference (training/ecg2cmr_train/preprocess.py)."""
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage, signal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ecg2cmr_train.preprocess import (  # noqa: E402
    PreprocessError, crop_or_pad, odd_window, preprocess, resample_factors,
)

DEMO_OPS = [
    {"op": "resample", "rate": 250},
    {"op": "baselineRemoval", "method": "median", "windowsSeconds": [0.2, 0.6]},
    {"op": "cropOrPad", "sampleCount": 2500},
    {"op": "normalise", "mode": "scale", "millivolts": 1.0, "clip": 8.0},
]


def synthetic(fs=500.0, seconds=10.0, leads=3, seed=0):
    t = np.arange(int(fs * seconds)) / fs
    rng = np.random.default_rng(seed)
    qrs = np.zeros_like(t)
    for beat in np.arange(0.3, seconds, 0.8):
        qrs += 1.2 * np.exp(-((t - beat) / 0.012) ** 2)
    wander = 0.4 * np.sin(2 * math.pi * 0.25 * t)
    return np.stack([qrs * (k + 1) + wander + 0.01 * rng.standard_normal(t.size) for k in range(leads)])


def test_demo_ops_shape_dtype_offset():
    x = synthetic()
    y, offset = preprocess(x, 500.0, DEMO_OPS)
    assert y.shape == (3, 2500) and y.dtype == np.float32 and offset == 0
    # Median baseline removal takes out the 0.25 Hz wander: the isoelectric line sits near zero.
    assert abs(float(np.median(y[0]))) < 0.02


def test_resample_matches_scipy_and_factors():
    assert resample_factors(500, 250) == (1, 2)
    assert resample_factors(360, 250) == (25, 36)
    assert resample_factors(499.75, 250) == (1000, 1999)
    with pytest.raises(PreprocessError):
        resample_factors(257.301, 250)
    x = synthetic(fs=360.0)
    y, _ = preprocess(x, 360.0, [{"op": "resample", "rate": 250}])
    ref = signal.resample_poly(x, 25, 36, axis=-1, window=("kaiser", 5.0))
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, atol=1e-6)


def test_median_windows_round_half_up_and_odd():
    assert odd_window(0.2, 250) == 51 and odd_window(0.6, 250) == 151
    # floor(x + 0.5) | 1, the rule SignalKit uses; half-way lengths land on the odd neighbour above.
    assert odd_window(0.5, 105) == 53
    assert odd_window(0.5, 109) == 55
    assert odd_window(0.5, 101) == 51
    x = synthetic(fs=250.0)
    y, _ = preprocess(x, 250.0, [{"op": "baselineRemoval", "method": "median", "windowsSeconds": [0.2, 0.6]}])
    b = ndimage.median_filter(ndimage.median_filter(x, size=(1, 51), mode="nearest"), size=(1, 151), mode="nearest")
    np.testing.assert_allclose(y, (x - b).astype(np.float32), atol=1e-6)


def test_crop_or_pad_offsets():
    x = np.arange(10, dtype=np.float64)[None, :]
    y, off = crop_or_pad(x, 4)
    assert off == 0 and y.tolist() == [[0, 1, 2, 3]]
    y, off = crop_or_pad(x, 4, "center")
    assert off == 3 and y.tolist() == [[3, 4, 5, 6]]
    y, off = crop_or_pad(x, 14, "center")
    assert off == -2 and y[0, :3].tolist() == [0, 0, 0] and y[0, 2:12].tolist() == list(range(10))
    y, off = crop_or_pad(x, 12)
    assert off == 0 and y[0, 10:].tolist() == [0, 0]


@pytest.mark.parametrize("mode", ["minmax", "zscore", "zscore-group"])
def test_normalise_modes(mode):
    x = synthetic(fs=250.0)
    x[2] = 0.5  # a flat lead must not blow up
    y, _ = preprocess(x, 250.0, [{"op": "normalise", "mode": mode}])
    assert np.all(np.isfinite(y))
    if mode == "minmax":
        assert np.isclose(y[0].min(), -1) and np.isclose(y[0].max(), 1) and np.all(y[2] == 0)
    elif mode == "zscore":
        assert abs(y[0].mean()) < 1e-5 and abs(y[0].std() - 1) < 1e-5 and np.all(y[2] == 0)
    else:
        assert abs(y.mean()) < 1e-5 and abs(y.std() - 1) < 1e-5


def test_scale_clips():
    x = np.array([[0.0, 20.0, -20.0, 1.0]])
    y, _ = preprocess(x, 250.0, [{"op": "normalise", "mode": "scale", "millivolts": 2.0, "clip": 8.0}])
    assert y.tolist() == [[0.0, 8.0, -8.0, 0.5]]


def test_filters_and_wavelet_run():
    x = synthetic(fs=250.0)
    ops = [{"op": "notch", "frequencyHz": 50, "quality": 30}, {"op": "bandpass", "lowHz": 0.5, "highHz": 40},
           {"op": "savgol", "windowLength": 15, "polyorder": 3}, {"op": "waveletDenoise"},
           {"op": "baselineRemoval", "method": "highpass", "cutoffHz": 0.5}]
    y, _ = preprocess(x, 250.0, ops)
    assert y.shape == x.shape and np.all(np.isfinite(y))


def test_bad_input_raises():
    with pytest.raises(PreprocessError):
        preprocess(np.zeros((2, 10)), 250.0, [{"op": "nonsense"}])
    with pytest.raises(PreprocessError):
        preprocess(np.zeros(10), 250.0, [])
    with pytest.raises(PreprocessError):
        preprocess(np.zeros((1, 10)), 0.0, [{"op": "resample", "rate": 250}])


def test_mmcl_ops_reference():
    """σ-clip, ALS (sparse spsolve vs a banded Cholesky solve) and z-score per lead group."""
    import numpy as np
    from scipy.linalg import solveh_banded
    from ecg2cmr_train import preprocess as P

    rng = np.random.default_rng(0)
    n = 1500
    y = np.cumsum(rng.normal(0, 0.02, n)) + np.sin(np.arange(n) / 40.0)
    lam, p = 1e7, 0.3
    # banded reference: (W + λ DᵀD) z = W y in upper banded storage
    d = np.zeros((n - 2, n))
    for k in range(n - 2):
        d[k, k:k + 3] = [1, -2, 1]
    pen = lam * d.T @ d
    w = np.ones(n)
    for _ in range(5):
        a = pen + np.diag(w)
        ab = np.zeros((3, n))
        for off in range(3):
            ab[2 - off, off:] = np.diagonal(a, off)
        z = solveh_banded(ab, w * y)
        w = p * (y > z) + (1 - p) * (y < z)
    got = P.als_baseline(y, lam, p, 5)
    assert np.abs(got - z).max() <= 1e-6 * np.abs(z).max()
    x = rng.normal(0, 1, (12, 400))
    x[0, 5] = 50
    c = P.sigma_clip(x, 4.0)
    assert c[0, 5] < 50 and np.allclose(c[1:], x[1:])
    names = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    groups = [["I", "II", "III"], ["aVR", "aVL", "aVF"], ["V1", "V2", "V3", "V4", "V5", "V6"]]
    g = P.normalise(x, {"mode": "zscore-group", "groups": groups}, names)
    assert abs(g[:3].mean()) < 1e-12 and abs(g[:3].std() - 1) < 1e-12 and abs(g[6:].std() - 1) < 1e-12
    import pytest
    with pytest.raises(P.PreprocessError):
        P.normalise(x, {"mode": "zscore-group", "groups": [["V7"]]}, names)
