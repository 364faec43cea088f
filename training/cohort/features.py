"""Simple hand-made ECG measurements, used to check the cohort's couplings (tests, docs).

They are what a cart's measurement program prints: R-peaks and heart rate, RR irregularity,
and on the median beat of each lead the R and S amplitudes, QRS duration, ST level and T
amplitude; Sokolow–Lyon and Cornell voltages from those.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt

from . import LEAD_NAMES

LEAD = {name: k for k, name in enumerate(LEAD_NAMES)}


def r_peaks(ecg_mv: np.ndarray, fs: float) -> np.ndarray:
    """R-peak sample indices from a 12-lead record [12, n] (energy of the band-passed slope)."""
    sos = butter(2, [8.0, 30.0], btype="band", fs=fs, output="sos")
    x = sosfiltfilt(sos, ecg_mv, axis=-1)
    e = np.sum(np.abs(np.diff(x, axis=-1)), axis=0)
    k = max(1, int(0.08 * fs))
    e = np.convolve(e, np.ones(k) / k, mode="same")
    thr = 0.35 * np.percentile(e, 99)
    peaks, _ = find_peaks(e, height=thr, distance=int(0.3 * fs))
    # refine to the nearest extreme of the largest-amplitude lead
    refined = []
    lead = int(np.argmax(np.ptp(x, axis=-1)))
    w = int(0.06 * fs)
    for p in peaks:
        a, b = max(p - w, 0), min(p + w, ecg_mv.shape[1])
        seg = np.abs(x[lead, a:b])
        refined.append(a + int(np.argmax(seg)))
    return np.array(refined, dtype=int)


def heart_rate_bpm(ecg_mv: np.ndarray, fs: float) -> float:
    p = r_peaks(ecg_mv, fs)
    if p.size < 2:
        return float("nan")
    return 60.0 / (np.median(np.diff(p)) / fs) if False else 60.0 / (np.mean(np.diff(p)) / fs)


def median_beat(ecg_mv: np.ndarray, fs: float, peaks: np.ndarray):
    """Median beat [12, W] from 0.25 s before to 0.55 s after each R peak, baseline removed."""
    pre, post = int(0.25 * fs), int(0.55 * fs)
    beats = [ecg_mv[:, p - pre:p + post] for p in peaks if p - pre >= 0 and p + post <= ecg_mv.shape[1]]
    if not beats:
        return None, pre
    mb = np.median(np.stack(beats), axis=0)
    base = np.median(mb[:, pre - int(0.08 * fs):pre - int(0.05 * fs)], axis=1, keepdims=True)
    return mb - base, pre


FEATURE_NAMES = (
    "hr_bpm", "rr_cv", "qrs_ms", "sokolow_lyon_mV", "cornell_mV",
    *[f"{kind}_{lead}" for kind in ("r", "s", "st", "t") for lead in LEAD_NAMES],
)


def ecg_features(ecg_mv: np.ndarray, fs: float) -> np.ndarray:
    """Vector of FEATURE_NAMES for one record [12, n] in mV (NaN where not measurable)."""
    out = np.full(len(FEATURE_NAMES), np.nan)
    peaks = r_peaks(ecg_mv, fs)
    if peaks.size >= 3:
        rr = np.diff(peaks) / fs
        out[0] = 60.0 / rr.mean()
        out[1] = rr.std() / rr.mean()
    mb, pre = median_beat(ecg_mv, fs, peaks)
    if mb is None:
        return out
    q = int(0.06 * fs)
    qrs = mb[:, pre - q:pre + q]
    r_amp = np.clip(qrs.max(axis=1), 0, None)
    s_amp = np.clip(-qrs.min(axis=1), 0, None)
    # QRS duration: span where the spatial slope magnitude exceeds 15 % of its peak
    slope = np.sum(np.abs(np.diff(mb[:, pre - int(0.1 * fs):pre + int(0.12 * fs)], axis=1)), axis=0)
    above = np.nonzero(slope > 0.15 * slope.max())[0]
    out[2] = (above[-1] - above[0]) / fs * 1000.0 if above.size else np.nan
    out[3] = s_amp[LEAD["V1"]] + max(r_amp[LEAD["V5"]], r_amp[LEAD["V6"]])
    out[4] = r_amp[LEAD["aVL"]] + s_amp[LEAD["V3"]]
    st = mb[:, pre + int(0.08 * fs)]
    t_win = mb[:, pre + int(0.15 * fs):pre + int(0.40 * fs)]
    t_amp = np.where(np.abs(t_win.max(axis=1)) > np.abs(t_win.min(axis=1)),
                     t_win.max(axis=1), t_win.min(axis=1))
    out[5:17], out[17:29], out[29:41], out[41:53] = r_amp, s_amp, st, t_amp
    return out
