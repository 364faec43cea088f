"""Beat-aligned ECG features: R peaks, per-lead median beats and rhythm (RR) features.

This is the training-side twin of `Sources/SignalKit/BeatFeatures.swift` (and of
`Sources/SignalKit/RPeakDetector.swift` for the detector). Both sides are pinned to one
reference file, `Tests/SignalKitTests/Fixtures/beat-features.json` (written by
`training/make_beat_fixture.py`): Swift's test and `training/tests/test_beats.py` both reproduce it.

    feats = beat_features(x, lead_names, fs, DEFAULT_SPEC)
    feats["median_beat"]   # float32 [L, pre + post]
    feats["rhythm"]        # float32 [10], names in RHYTHM_FEATURES

`x` is the *prepared* model input (float32 [L, S], e.g. 12 x 2500 at 250 Hz).

Exactness: the detector repeats the Swift arithmetic step by step in float64: the Butterworth
band-pass is designed the way `ButterworthFilter` designs it (not with `scipy.signal.butter`,
whose section pairing and `sosfilt_zi` differ in the last bits), the zero-phase filtering uses
the same odd extension and closed-form steady-state initial conditions, and the moving-window
integrator is the same running sum. `scipy.signal.sosfilt` runs the same transposed
direct-form-II recurrence as Swift's loop, so the band-passed signal is bit-identical and the
peak indices are equal, not merely close.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
from scipy import signal as _signal

DEFAULT_SPEC = {"detectionLeads": ["II", "I", "V5", "V2"], "preSamples": 64, "postSamples": 136}

RHYTHM_FEATURES = (
    "hr_per_100bpm",   # 60 / mean RR / 100
    "mean_rr_s",
    "sd_rr_s",         # population SD
    "rmssd_s",
    "cv_rr",           # sd / mean
    "min_rr_s",
    "max_rr_s",
    "pnn50",           # fraction of |successive RR difference| > 50 ms
    "peak_count_per_10",
    "no_rhythm_flag",  # 1 when fewer than one RR interval
)

# A lead whose largest |sample| is not above this is treated as flat (absent / lead-off).
FLAT_LEVEL = np.float32(1e-6)


# ---------------------------------------------------------------------------------------------
# Band-pass design, as SignalKit's ButterworthFilter (.bandpass) does it.

def _csqrt(re: float, im: float) -> tuple[float, float]:
    """Principal square root, as SignalKit's Complex.squareRoot."""
    r = math.sqrt(re * re + im * im)
    a = math.sqrt((r + re) / 2)
    b = math.sqrt((r - re) / 2)
    return a, (-b if im < 0 else b)


def _cmul(a, b):
    return (a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0])


def _cdiv(a, b):
    d = b[0] * b[0] + b[1] * b[1]
    return ((a[0] * b[0] + a[1] * b[1]) / d, (a[1] * b[0] - a[0] * b[1]) / d)


def _poly_multiply(p, q):
    r = [0.0] * (len(p) + len(q) - 1)
    for i in range(len(p)):
        for j in range(len(q)):
            r[i + j] += p[i] * q[j]
    return r


def butter_bandpass_sections(order: int, low_hz: float, high_hz: float, fs: float) -> list[tuple]:
    """Second-order sections (b0, b1, b2, a1, a2) exactly as `ButterworthFilter(order:,
    band: .bandpass(lowHz:, highHz:), samplingRate:)` computes them."""
    nyq = fs / 2
    if not (0 < low_hz < nyq and 0 < high_hz < nyq and low_hz < high_hz):
        raise ValueError(f"band {low_hz}-{high_hz} Hz is not inside (0, {nyq}) Hz")
    n = order
    proto = []
    for m in range(-n + 1, n, 2):
        theta = math.pi * m / (2 * n)
        proto.append((-math.cos(theta), -math.sin(theta)))
    fs2 = 4.0

    def warp(wn):
        return 4 * math.tan(math.pi * wn / 2)

    wl, wh = warp(low_hz / nyq), warp(high_hz / nyq)
    wo = math.sqrt(wl * wh)
    bw = wh - wl
    lp = [(p[0] * (bw / 2), p[1] * (bw / 2)) for p in proto]
    disc = []
    for p in lp:
        sq = _cmul(p, p)
        disc.append(_csqrt(sq[0] - wo * wo, sq[1] - 0.0))
    analog = [(p[0] + d[0], p[1] + d[1]) for p, d in zip(lp, disc)] + \
             [(p[0] - d[0], p[1] - d[1]) for p, d in zip(lp, disc)]
    zero_count = n
    k = math.pow(bw, float(n))
    digital = [_cdiv((fs2 + p[0], 0.0 + p[1]), (fs2 - p[0], 0.0 - p[1])) for p in analog]
    prod = (1.0, 0.0)
    for p in analog:
        prod = _cmul(prod, (fs2 - p[0], 0.0 - p[1]))
    k *= _cdiv((math.pow(fs2, float(zero_count)), 0.0), prod)[0]
    plus, minus = zero_count, len(analog) - zero_count
    zeros = []
    while plus > 0 or minus > 0:
        if plus > 0:
            zeros.append(1.0)
            plus -= 1
        if minus > 0:
            zeros.append(-1.0)
            minus -= 1
    digital.sort(key=lambda c: (c[1], c[0]))
    # pairSections
    scale = max([max(1.0, math.sqrt(c[0] * c[0] + c[1] * c[1])) for c in digital] or [1.0])
    tol = 1e-12 * scale
    upper = [c for c in digital if c[1] > tol]
    reals = sorted(c[0] for c in digital if abs(c[1]) <= tol)
    a_list = [[1.0, -2 * c[0], c[0] * c[0] + c[1] * c[1]] for c in upper]
    while len(reals) >= 2:
        p, q = reals.pop(0), reals.pop(0)
        a_list.append([1.0, -(p + q), p * q])
    if reals:
        a_list.append([1.0, -reals[0], 0.0])
    zi = 0
    out = []
    for idx, a in enumerate(a_list):
        first_order = a[2] == 0 and idx == len(a_list) - 1 and len(reals) == 1
        b = [1.0]
        for _ in range(1 if first_order else 2):
            if zi < len(zeros):
                b = _poly_multiply(b, [1.0, -zeros[zi]])
                zi += 1
        while len(b) < 3:
            b.append(0.0)
        g = k if idx == 0 else 1.0
        out.append((b[0] * g, b[1] * g, b[2] * g, a[1], a[2]))
    return out


def _steady_states(sections) -> list[tuple[float, float]]:
    """SecondOrderSections.steadyStates (closed form, as Swift; not scipy's sosfilt_zi)."""
    scale = 1.0
    out = []
    for b0, b1, b2, a1, a2 in sections:
        y = (b0 + b1 + b2) / (1 + a1 + a2)
        z1 = b2 - a2 * y
        z0 = b1 - a1 * y + z1
        out.append((z0 * scale, z1 * scale))
        scale *= y
    return out


_DESIGN_CACHE: dict = {}


def _bandpass_design(fs: float):
    key = float(fs)
    if key not in _DESIGN_CACHE:
        secs = butter_bandpass_sections(2, 5.0, 15.0, key)
        sos = np.array([[b0, b1, b2, 1.0, a1, a2] for b0, b1, b2, a1, a2 in secs], dtype=np.float64)
        zi = np.array(_steady_states(secs), dtype=np.float64)
        zb = sum(1 for s in secs if s[2] == 0)
        za = sum(1 for s in secs if s[4] == 0)
        pad = 3 * (2 * len(secs) + 1 - min(zb, za))
        _DESIGN_CACHE[key] = (sos, zi, pad)
    return _DESIGN_CACHE[key]


def filtfilt_swift(x: np.ndarray, sos: np.ndarray, zi: np.ndarray, pad: int) -> np.ndarray:
    """SecondOrderSections.filtfilt: odd extension by `pad`, forward and backward passes with
    steady-state initial conditions scaled by the first sample of each pass."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if n <= pad:
        raise ValueError(f"filtfilt: signal has {n} samples, needs more than {pad}")
    if pad > 0:
        left = 2 * x[0] - x[pad:0:-1]
        right = 2 * x[n - 1] - x[n - 2:n - 2 - pad:-1] if n - 2 - pad >= 0 else 2 * x[n - 1] - x[n - 2::-1][:pad]
        ext = np.concatenate([left, x, right])
    else:
        ext = x.copy()
    y, _ = _signal.sosfilt(sos, ext, zi=zi * ext[0])
    y = y[::-1].copy()
    y, _ = _signal.sosfilt(sos, y, zi=zi * y[0])
    y = y[::-1]
    return np.ascontiguousarray(y[pad:pad + n])


def _median(values) -> float:
    """SignalKit's `median` (numpy's definition): middle value, or (lower + upper) / 2."""
    n = len(values)
    if n == 0:
        return 0.0
    a = np.sort(np.asarray(values, dtype=np.float64))
    m = n // 2
    if n % 2:
        return float(a[m])
    return (float(a[m - 1]) + float(a[m])) / 2


# ---------------------------------------------------------------------------------------------
# R-peak detector (RPeakDetector.detect).

def detect_r_peaks(signal: np.ndarray, fs: float) -> np.ndarray:
    """R-peak sample indices (ascending, int64), as `RPeakDetector(samplingRate: fs).detect(x)`."""
    fs = float(fs)
    if not (40 <= fs <= 20_000):
        raise ValueError(f"rPeaks: samplingRate must be 40…20000 Hz (got {fs})")
    x = np.asarray(signal, dtype=np.float32).astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"rPeaks: non-finite sample at index {int(np.argmin(np.isfinite(x)))}")
    n = x.size
    empty = np.zeros(0, dtype=np.int64)
    if n <= int(fs):
        return empty
    sos, zi, pad = _bandpass_design(fs)
    bp = filtfilt_swift(x, sos, zi, pad)

    idx = np.arange(n)
    p2 = bp[np.minimum(idx + 2, n - 1)]
    p1 = bp[np.minimum(idx + 1, n - 1)]
    m1 = bp[np.maximum(idx - 1, 0)]
    m2 = bp[np.maximum(idx - 2, 0)]
    d = (p2 + 2 * p1 - 2 * m1 - m2) / 8
    sq = (d * d).tolist()

    w = max(1, int(0.15 * fs))
    half_w = w // 2
    wf = float(w)
    mwi_l = [0.0] * n
    running = 0.0
    # Same running sum as Swift (order of additions/subtractions matters for the last bits).
    for i in range(n + half_w):
        if i < n:
            running += sq[i]
        j = i - w
        if 0 <= j < n:
            running -= sq[j]
        c = i - half_w
        if 0 <= c < n:
            mwi_l[c] = (running if running > 0 else 0.0) / wf
    mwi = np.asarray(mwi_l)

    inner = mwi[1:n - 1]
    cand = np.nonzero((inner > mwi[0:n - 2]) & (inner >= mwi[2:n]))[0] + 1
    if cand.size == 0:
        return empty

    learn = min(n, int(8 * fs))
    step = int(fs)
    block_max = []
    s = 0
    while s < learn:
        e = min(s + step, learn)
        block_max.append(float(mwi[s:e].max()) if e > s else 0.0)
        s = e
    spki = _median(block_max)
    npki = _median(mwi[0:learn])
    if not spki > 0:
        return empty
    thr1 = npki + 0.25 * (spki - npki)

    refractory, t_window = int(0.2 * fs), int(0.36 * fs)
    slope_half = max(1, int(0.075 * fs))
    absdiff = np.abs(np.diff(bp))  # absdiff[k] = |bp[k+1] - bp[k]|

    def slope(i: int) -> float:
        lo, hi = max(0, i - slope_half), min(n - 1, i + slope_half)
        return float(absdiff[lo:hi].max()) if hi > lo else 0.0

    qrs: list[int] = []
    last_slope = 0.0
    noise_since_last: list[int] = []
    recent_rr: list[int] = []
    mwi_f = mwi_l  # python floats for the scalar loop

    def accept(k: int, weight: float, rest: float) -> None:
        """A beat at k: its RR, its slope for T-wave discrimination, the signal peak level moved
        towards it (weight 0.25 after a search-back, 0.125 otherwise) and the threshold with it."""
        nonlocal last_slope, spki, thr1, noise_since_last
        if qrs:
            recent_rr.append(k - qrs[-1])
            if len(recent_rr) > 8:
                recent_rr.pop(0)
        qrs.append(k)
        last_slope = slope(k)
        spki = weight * mwi_f[k] + rest * spki
        thr1 = npki + 0.25 * (spki - npki)
        noise_since_last = []

    searched_back_after = -1
    last_recovery = 0
    recovery_gap = int(2.5 * fs)
    for i in cand.tolist():
        if qrs and len(recent_rr) >= 2 and searched_back_after != qrs[-1]:
            last = qrs[-1]
            mean_rr = float(sum(recent_rr)) / float(len(recent_rr))
            if float(i - last) > 1.66 * mean_rr:
                searched_back_after = last
                half_thr = 0.5 * thr1
                pool = [k for k in noise_since_last
                        if k - last >= refractory and i - k >= refractory and mwi_f[k] > half_thr]
                if pool:
                    best = pool[0]
                    for k in pool[1:]:
                        if mwi_f[best] < mwi_f[k]:
                            best = k
                    accept(best, 0.25, 0.75)   # searchBack: true
        if i - max(qrs[-1] if qrs else 0, last_recovery) > recovery_gap:
            recent = mwi[i - recovery_gap:i]
            spki = float(recent.max()) if recent.size else spki
            npki = _median(recent)
            thr1 = npki + 0.25 * (spki - npki)
            last_recovery = i
            noise_since_last = []
        v = mwi_f[i]
        if qrs and i - qrs[-1] < refractory:
            continue
        if v > thr1:
            if qrs and i - qrs[-1] < t_window and slope(i) < 0.5 * last_slope:
                npki = 0.125 * v + 0.875 * npki
                noise_since_last.append(i)
            else:
                accept(i, 0.125, 0.875)
                continue
        else:
            npki = 0.125 * v + 0.875 * npki
            noise_since_last.append(i)
        thr1 = npki + 0.25 * (spki - npki)

    reach = int(0.1 * fs)
    absbp = np.abs(bp)
    peaks: list[int] = []
    for i in qrs:
        lo, hi = max(0, i - reach), min(n - 1, i + reach)
        best = lo + int(np.argmax(absbp[lo:hi + 1]))  # first maximum, as Swift's strict '>'
        if peaks and best - peaks[-1] < refractory:
            if absbp[best] > absbp[peaks[-1]]:
                peaks[-1] = best
            continue
        peaks.append(best)
    return np.asarray(peaks, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Beat features (BeatExtractor.extract).

def validate_spec(spec: dict) -> dict:
    leads = list(spec.get("detectionLeads", []))
    pre, post = spec.get("preSamples"), spec.get("postSamples")
    if not leads:
        raise ValueError("beatFeatures: detectionLeads must not be empty")
    for name, v in (("preSamples", pre), ("postSamples", post)):
        if not isinstance(v, (int, np.integer)) or not (1 <= int(v) <= 10_000):
            raise ValueError(f"beatFeatures: {name} must be 1…10000 (got {v})")
    return {"detectionLeads": [str(s) for s in leads], "preSamples": int(pre), "postSamples": int(post)}


def choose_detection_lead(x: np.ndarray, lead_names: Sequence[str], detection_leads: Iterable[str]) -> int | None:
    """Index of the detection lead: the first preferred lead present and not flat, else the first
    non-flat lead in record order, else None."""
    level = np.abs(x).max(axis=1) if x.shape[1] else np.zeros(x.shape[0], dtype=np.float32)
    usable = [bool(np.all(np.isfinite(x[k]))) and bool(level[k] > FLAT_LEVEL) for k in range(x.shape[0])]
    names = list(lead_names)
    for want in detection_leads:
        if want in names:
            k = names.index(want)
            if usable[k]:
                return k
    for k in range(x.shape[0]):
        if level[k] > FLAT_LEVEL:
            return k
    return None


def median_beat(windows: np.ndarray) -> np.ndarray:
    """Element-wise median over axis 0 of float32 windows [B, L, T]: the middle value, or
    (a + b) * 0.5 in float32 of the two middle values."""
    b = windows.shape[0]
    s = np.sort(windows, axis=0)
    m = b // 2
    if b % 2:
        return s[m].astype(np.float32)
    return ((s[m - 1] + s[m]) * np.float32(0.5)).astype(np.float32)


def rhythm_features(peaks: np.ndarray, fs: float) -> np.ndarray:
    """RR features in float64 (sequential sums, as Swift), returned as float32 [10]."""
    p = [int(v) for v in peaks]
    out = [0.0] * len(RHYTHM_FEATURES)
    out[8] = len(p) / 10
    if len(p) < 2:
        out[9] = 1.0
        return np.asarray(out, dtype=np.float32)
    rr = [(p[k + 1] - p[k]) / fs for k in range(len(p) - 1)]
    total = 0.0
    for v in rr:
        total += v
    mean = total / len(rr)
    acc = 0.0
    for v in rr:
        acc += (v - mean) * (v - mean)
    sd = math.sqrt(acc / len(rr))
    rmssd = pnn50 = 0.0
    if len(rr) >= 2:
        dd = [rr[k + 1] - rr[k] for k in range(len(rr) - 1)]
        sq = 0.0
        big = 0
        for v in dd:
            sq += v * v
            if abs(v) > 0.05:
                big += 1
        rmssd = math.sqrt(sq / len(dd))
        pnn50 = big / len(dd)
    out[0] = 60 / mean / 100
    out[1] = mean
    out[2] = sd
    out[3] = rmssd
    out[4] = sd / mean
    out[5] = min(rr)
    out[6] = max(rr)
    out[7] = pnn50
    out[9] = 0.0
    return np.asarray(out, dtype=np.float32)


def beat_features(x: np.ndarray, lead_names: Sequence[str], fs: float, spec: dict | None = None) -> dict:
    """Per-lead median beat and rhythm features of one prepared record `x` (float32 [L, S])."""
    spec = validate_spec(spec or DEFAULT_SPEC)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] != len(lead_names) or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"beatFeatures: expected [{len(lead_names)}, S>0] values, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(f"beatFeatures: lead {lead_names[bad[0]]} has a non-finite sample at index {bad[1]}")
    n_leads, s = x.shape
    pre, post = spec["preSamples"], spec["postSamples"]
    length = pre + post
    k = choose_detection_lead(x, lead_names, spec["detectionLeads"])
    peaks = detect_r_peaks(x[k], fs) if k is not None else np.zeros(0, dtype=np.int64)
    starts = [int(p) - pre for p in peaks if int(p) - pre >= 0 and int(p) + post <= s]
    if starts:
        idx = np.asarray(starts)[:, None] + np.arange(length)[None, :]  # [B, T]
        windows = x[:, idx].transpose(1, 0, 2)                          # [B, L, T]
        med = median_beat(windows)
    else:
        med = np.zeros((n_leads, length), dtype=np.float32)
    return {
        "peaks": peaks,
        "lead": lead_names[k] if k is not None else None,
        "median_beat": med,
        "beat_count": len(starts),
        "rhythm": rhythm_features(peaks, float(fs)),
    }


def _batch_worker(args):
    x, lead_names, fs, spec = args
    f = beat_features(x, lead_names, fs, spec)
    return f["median_beat"], f["rhythm"], f["beat_count"]


def batch_beat_features(xs: np.ndarray, lead_names: Sequence[str], fs: float, spec: dict | None = None,
                        pool=None, chunksize: int = 64) -> dict:
    """Beat features of a batch `xs` (float32 [N, L, S]). `pool` is an optional
    multiprocessing.Pool (its `imap` is used, order kept). Returns stacked arrays:
    median_beat [N, L, T] float32, rhythm [N, 10] float32, beat_count [N] int32."""
    spec = validate_spec(spec or DEFAULT_SPEC)
    names = list(lead_names)
    jobs = ((np.asarray(xs[i], dtype=np.float32), names, float(fs), spec) for i in range(len(xs)))
    results = list(pool.imap(_batch_worker, jobs, chunksize=chunksize)) if pool is not None else \
        [_batch_worker(j) for j in jobs]
    length = spec["preSamples"] + spec["postSamples"]
    if not results:
        return {"median_beat": np.zeros((0, len(names), length), np.float32),
                "rhythm": np.zeros((0, len(RHYTHM_FEATURES)), np.float32),
                "beat_count": np.zeros(0, np.int32)}
    return {"median_beat": np.stack([r[0] for r in results]),
            "rhythm": np.stack([r[1] for r in results]),
            "beat_count": np.asarray([r[2] for r in results], dtype=np.int32)}
