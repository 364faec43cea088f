"""Reference implementation of the model-bundle preprocessing ops (docs/model-bundle.md).

The Swift side (`Sources/SignalKit/SignalPipeline.swift`) implements the same ops and is tested
against vectors this module's building blocks (scipy / PyWavelets) produce, so training and the
engine see the same input tensor.

    y, offset = preprocess(x, fs, ops)

`x` is `[leads, n]` in millivolts at `fs` Hz; `ops` is the manifest's `input.preprocessing` list.
`y` is float32 `[leads, n']`; `offset` is the index in the (resampled) signal of `y[:, 0]`
(negative when zeros were padded in front).

Ops (JSON dictionaries; keys as in the manifest):
  {"op": "resample", "rate": 250}
  {"op": "baselineRemoval", "method": "median", "windowsSeconds": [0.2, 0.6]}
  {"op": "baselineRemoval", "method": "highpass", "cutoffHz": 0.5, "order": 2}
  {"op": "baselineRemoval", "method": "als", "lambda": 1e7, "p": 0.3, "iterations": 5}
  {"op": "sigmaClip", "sigmas": 4, "scope": "lead"}                  # per lead, mean ± sigmas·SD
  {"op": "sigmaClip", "sigmas": 4, "scope": "record"}                # MMCL: ±sigmas·SD of all leads, around 0
  {"op": "notch", "frequencyHz": 50, "quality": 30}
  {"op": "bandpass", "lowHz": 0.5, "highHz": 40, "order": 4}
  {"op": "savgol", "windowLength": 15, "polyorder": 3}
  {"op": "waveletDenoise", "wavelet": "db6", "level": 5}          # level optional
  {"op": "cropOrPad", "sampleCount": 2500, "align": "start"}         # align: start | center
  {"op": "normalise", "mode": "scale", "millivolts": 1.0, "clip": 8.0}
  {"op": "normalise", "mode": "minmax" | "zscore" | "zscore-group"}  # clip optional
  {"op": "normalise", "mode": "zscore-group", "groups": [["I", "II", "III"], ["aVR", "aVL", "aVF"],
                                                         ["V1", "V2", "V3", "V4", "V5", "V6"]]}
      # one mean/SD per group of leads (needs lead names: preprocess(..., lead_names=…));
      # a lead in no group is z-scored on its own
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy import ndimage, signal

# Below this spread (mV) a lead is treated as flat: normalising it would only amplify rounding.
FLAT_EPSILON_MV = 1e-6


class PreprocessError(ValueError):
    pass


def resample_factors(fs: float, rate: float) -> tuple[int, int]:
    """(up, down) for resample_poly. Rates are taken to the nearest milli-hertz so that
    non-integer rates (e.g. 499.75 Hz) still give an exact rational ratio; Swift does the same."""
    if not (fs > 0 and rate > 0 and math.isfinite(fs) and math.isfinite(rate)):
        raise PreprocessError(f"resample: rates must be positive (fs={fs}, rate={rate})")
    up = int(math.floor(rate * 1000 + 0.5))
    down = int(math.floor(fs * 1000 + 0.5))
    g = math.gcd(up, down)
    up, down = up // g, down // g
    if max(up, down) > 10_000:  # SignalKit refuses these too: the filter would be enormous
        raise PreprocessError(f"resample: ratio {up}/{down} is too fine-grained (fs={fs}, rate={rate})")
    return up, down


def odd_window(seconds: float, fs: float) -> int:
    """Median/smoothing window in samples: round half up, then forced odd (`| 1`)."""
    n = int(math.floor(seconds * fs + 0.5))
    return max(1, n | 1)


def resample(x: np.ndarray, fs: float, rate: float) -> np.ndarray:
    up, down = resample_factors(fs, rate)
    if up == down:
        return x.copy()
    return signal.resample_poly(x, up, down, axis=-1, window=("kaiser", 5.0))


def median_baseline_removal(x: np.ndarray, fs: float, windows_seconds) -> np.ndarray:
    base = x
    for w in windows_seconds:
        k = odd_window(float(w), fs)
        base = ndimage.median_filter(base, size=(1, k), mode="nearest")
    return x - base


def butter_sos(order: int, cutoff, btype: str, fs: float) -> np.ndarray:
    return signal.butter(order, cutoff, btype=btype, output="sos", fs=fs)


def highpass(x, fs, cutoff_hz, order):
    return signal.sosfiltfilt(butter_sos(order, cutoff_hz, "highpass", fs), x, axis=-1)


def bandpass(x, fs, low_hz, high_hz, order):
    return signal.sosfiltfilt(butter_sos(order, [low_hz, high_hz], "bandpass", fs), x, axis=-1)


def notch(x, fs, frequency_hz, quality):
    b, a = signal.iirnotch(frequency_hz, quality, fs=fs)
    return signal.filtfilt(b, a, x, axis=-1)


def savgol(x, window_length, polyorder):
    return signal.savgol_filter(x, window_length, polyorder, mode="interp", axis=-1)


def wavelet_denoise(x: np.ndarray, wavelet: str = "db6", level: int | None = None) -> np.ndarray:
    """Soft-threshold every detail band with the universal threshold
    sigma * sqrt(2 ln n), sigma = median(|cD1|) / 0.6745 (finest detail band)."""
    import pywt

    n = x.shape[-1]
    w = pywt.Wavelet(wavelet)
    max_level = pywt.dwt_max_level(n, w.dec_len)
    lev = max_level if level is None else min(int(level), max_level)
    if lev < 1:
        raise PreprocessError(f"waveletDenoise: {n} samples are too few for {wavelet}")
    out = np.empty_like(x, dtype=np.float64)
    for i, row in enumerate(np.asarray(x, dtype=np.float64)):
        coeffs = pywt.wavedec(row, w, mode="symmetric", level=lev)
        sigma = np.median(np.abs(coeffs[-1])) / 0.6745
        thr = sigma * math.sqrt(2.0 * math.log(n))
        coeffs = [coeffs[0]] + [pywt.threshold(d, thr, mode="soft") for d in coeffs[1:]]
        out[i] = pywt.waverec(coeffs, w, mode="symmetric")[:n]
    return out


def sigma_clip(x: np.ndarray, sigmas: float, scope: str = "lead") -> np.ndarray:
    """scope "lead": clip each lead to its mean ± sigmas · (population) SD; "record": clip every
    lead to ± sigmas · SD of all samples of all leads, around zero (MMCL's `process_ecg` clamp,
    `np.clip(sample, -4 * sample.std(), 4 * sample.std())`)."""
    if not sigmas > 0:
        raise PreprocessError(f"sigmaClip: sigmas must be > 0 (got {sigmas})")
    if scope == "record":
        bound = sigmas * x.std()
        return np.clip(x, -bound, bound)
    if scope != "lead":
        raise PreprocessError(f"sigmaClip: unknown scope '{scope}' (lead, record)")
    mu = x.mean(axis=-1, keepdims=True)
    sd = x.std(axis=-1, keepdims=True)
    return np.clip(x, mu - sigmas * sd, mu + sigmas * sd)


def als_baseline(y: np.ndarray, lam: float, p: float, iterations: int) -> np.ndarray:
    """Asymmetric least squares baseline (Eilers & Boelens 2005), the classic sparse version:
    solve (W + λ DᵀD) z = W y with scipy.sparse.linalg.spsolve, then w = p where y > z,
    1 − p where y < z (0 where equal), `iterations` times starting from w = 1."""
    from scipy import sparse
    from scipy.sparse.linalg import spsolve

    n = y.shape[-1]
    if n < 3:
        return y.copy()
    d = sparse.diags([1.0, -2.0, 1.0], [0, -1, -2], shape=(n, n - 2))
    penalty = lam * d.dot(d.transpose())
    w = np.ones(n)
    z = np.zeros(n)
    for _ in range(int(iterations)):
        a = sparse.csc_matrix(sparse.spdiags(w, 0, n, n) + penalty)
        z = spsolve(a, w * y)
        w = p * (y > z) + (1 - p) * (y < z)
    return z


def als_baseline_removal(x: np.ndarray, lam: float = 1e7, p: float = 0.3, iterations: int = 5) -> np.ndarray:
    if not (lam > 0 and 0 < p < 1 and 1 <= int(iterations) <= 100):
        raise PreprocessError(f"baselineRemoval als: need lambda > 0, 0 < p < 1, 1 ≤ iterations ≤ 100")
    return np.stack([row - als_baseline(row, lam, p, iterations) for row in np.asarray(x, dtype=np.float64)])


def _lead_key(name: str) -> str:
    return name.strip().upper()


def zscore_lead_groups(x: np.ndarray, groups, lead_names) -> np.ndarray:
    if lead_names is None:
        raise PreprocessError("normalise zscore-group with groups needs the lead names")
    keys = [_lead_key(n) for n in lead_names]
    y = np.array(x, dtype=np.float64, copy=True)
    seen = set()
    resolved = []
    for g in groups:
        idx = []
        for name in g:
            if _lead_key(name) not in keys:
                raise PreprocessError(f"normalise groups: lead '{name}' is not in the input {list(lead_names)}")
            i = keys.index(_lead_key(name))
            if i in seen:
                raise PreprocessError(f"normalise groups: lead '{name}' is in two groups")
            seen.add(i)
            idx.append(i)
        resolved.append(idx)
    resolved += [[i] for i in range(x.shape[0]) if i not in seen]
    for idx in resolved:
        block = x[idx]
        mu, sd = block.mean(), block.std()
        y[idx] = (block - mu) / sd if sd > FLAT_EPSILON_MV else 0.0
    return y


def crop_or_pad(x: np.ndarray, count: int, align: str = "start") -> tuple[np.ndarray, int]:
    n = x.shape[-1]
    if align == "start":
        offset = 0
    elif align == "center":
        offset = (n - count) // 2 if n >= count else -((count - n) // 2)
    else:
        raise PreprocessError(f"cropOrPad: unknown align '{align}'")
    out = np.zeros((x.shape[0], count), dtype=x.dtype)
    src_lo = max(offset, 0)
    src_hi = min(offset + count, n)
    if src_hi > src_lo:
        out[:, src_lo - offset:src_hi - offset] = x[:, src_lo:src_hi]
    return out, offset


def normalise(x: np.ndarray, op: dict, lead_names=None) -> np.ndarray:
    mode = op.get("mode")
    clip = op.get("clip")
    if mode == "scale":
        mv = float(op.get("millivolts", 1.0))
        if not mv > 0:
            raise PreprocessError("normalise scale: millivolts must be > 0")
        y = x / mv
    elif mode == "minmax":
        lo = x.min(axis=-1, keepdims=True)
        hi = x.max(axis=-1, keepdims=True)
        span = hi - lo
        safe = np.where(span > FLAT_EPSILON_MV, span, 1.0)
        y = np.where(span > FLAT_EPSILON_MV, 2.0 * (x - lo) / safe - 1.0, 0.0)
    elif mode == "zscore":
        mu = x.mean(axis=-1, keepdims=True)
        sd = x.std(axis=-1, keepdims=True)
        safe = np.where(sd > FLAT_EPSILON_MV, sd, 1.0)
        y = np.where(sd > FLAT_EPSILON_MV, (x - mu) / safe, 0.0)
    elif mode == "zscore-group" and op.get("groups") is not None:
        y = zscore_lead_groups(x, op["groups"], lead_names)
    elif mode == "zscore-group":
        mu = x.mean()
        sd = x.std()
        y = (x - mu) / sd if sd > FLAT_EPSILON_MV else np.zeros_like(x)
    else:
        raise PreprocessError(f"normalise: unknown mode '{mode}'")
    if clip is not None:
        y = np.clip(y, -float(clip), float(clip))
    return y


def preprocess(x: np.ndarray, fs: float, ops: list[dict], lead_names=None) -> tuple[np.ndarray, int]:
    """Apply manifest ops in order. Returns (float32 [leads, n'], offset in samples).
    `lead_names` (one per row of x) are needed by z-scoring per lead group."""
    y = np.asarray(x, dtype=np.float64)
    if y.ndim != 2:
        raise PreprocessError(f"expected [leads, n], got shape {y.shape}")
    offset = 0
    rate = float(fs)
    for op in ops:
        kind = op.get("op")
        if kind == "resample":
            target = float(op["rate"])
            y = resample(y, rate, target)
            rate = target
        elif kind == "baselineRemoval":
            method = op.get("method", "median")
            if method == "median":
                y = median_baseline_removal(y, rate, op.get("windowsSeconds", [0.2, 0.6]))
            elif method == "highpass":
                y = highpass(y, rate, float(op.get("cutoffHz", 0.5)), int(op.get("order", 2)))
            elif method == "als":
                y = als_baseline_removal(y, float(op.get("lambda", 1e7)), float(op.get("p", 0.3)),
                                         int(op.get("iterations", 5)))
            else:
                raise PreprocessError(f"baselineRemoval: unknown method '{method}'")
        elif kind == "sigmaClip":
            y = sigma_clip(y, float(op.get("sigmas", 4.0)), op.get("scope", "lead"))
        elif kind == "notch":
            y = notch(y, rate, float(op.get("frequencyHz", 50.0)), float(op.get("quality", 30.0)))
        elif kind == "bandpass":
            y = bandpass(y, rate, float(op["lowHz"]), float(op["highHz"]), int(op.get("order", 4)))
        elif kind == "savgol":
            y = savgol(y, int(op.get("windowLength", 15)), int(op.get("polyorder", 3)))
        elif kind == "waveletDenoise":
            y = wavelet_denoise(y, op.get("wavelet", "db6"), op.get("level"))
        elif kind == "cropOrPad":
            y, off = crop_or_pad(y, int(op["sampleCount"]), op.get("align", "start"))
            offset += off
        elif kind == "normalise":
            y = normalise(y, op, lead_names)
        else:
            raise PreprocessError(f"unknown preprocessing op '{kind}'")
    return y.astype(np.float32), offset
