"""The true wave timings of a simulated ECG, from the same parameters `render_ecg` uses.

`render_ecg(subject, rng)` draws the RR intervals and the first beat's phase from `rng`, and the
heart's morphology (PR, QRS duration, QTc, axis, wave vectors) from the subject's hidden stream
(`beat_model`). `true_timings(subject, rng)` repeats exactly those steps on a *copy* of `rng`, so
calling it neither changes the rendered ECG nor advances the caller's random stream.

Definitions (the simulator's own, see `_envelopes` in ecg.py):
- QRS onset = −0.04·w s relative to the R peak; QRS duration = `qrs_ms`; J = onset + QRS.
- PR = `pr_s` (P onset, 55 ms before the P peak, to QRS onset); None in atrial fibrillation.
- QT of a beat = QTc·√(preceding RR) (Bazett adaptation; T end = onset + QT); the record's QT is
  the median over the beats inside the record.
- QRS / P frontal axis: net area of the depolarisation (atrial) waves in leads I and aVF (Dower
  projection of each Gaussian's vector × its area), θ = atan2(2·aVF/√3, I) — the same rule
  `GlobalMeasurer` uses on the signal.
"""
from __future__ import annotations

import copy

import numpy as np

from .ecg import DOWER, beat_model, rr_intervals

QRS_WAVES = ("q", "R", "S", "R_prime", "R1", "R2", "Q_mi", "R_rv")
P_WAVES = ("P", "P_la")


def _frontal_axis(vec: np.ndarray) -> float | None:
    lead_i = float(DOWER[0] @ vec)
    lead_avf = float(DOWER[1] @ vec) - lead_i / 2.0
    if abs(lead_i) + abs(lead_avf) < 1e-12:
        return None
    deg = float(np.degrees(np.arctan2(2.0 * lead_avf / np.sqrt(3.0), lead_i)))
    return deg + 360.0 if deg <= -90.0 else deg


def _net_area(b, names) -> np.ndarray:
    total = np.zeros(3)
    for name, _t, sl, sr, vec, kind in b.waves:
        if kind == "gauss" and name in names:
            total += vec * np.sqrt(2.0 * np.pi) * 0.5 * (sl + sr)
    return total


def true_timings(subject: dict, rng: np.random.Generator, fs: float = 500,
                 seconds: float = 10) -> dict:
    """{pr_ms, qrs_ms, qt_ms, qtc_ms, qrs_axis_deg, p_axis_deg, heart_rate_bpm, rhythm, bbb}.

    `rng` must be in the state that will be passed to `render_ecg`; it is copied, not used."""
    b, info = beat_model(subject)
    r = copy.deepcopy(rng)
    rr = rr_intervals(subject, r, float(seconds))
    start = -r.uniform(0.0, rr[0])
    beats = start + np.concatenate([[0.0], np.cumsum(rr[:-1])])
    prev_rr = np.concatenate([[rr[0]], rr[:-1]])
    inside = (beats >= 0) & (beats < seconds)
    qt = info["qtc_s"] * np.sqrt(prev_rr[inside])
    p_axis = _frontal_axis(_net_area(b, P_WAVES)) if b.has_p else None
    return {
        "pr_ms": info["pr_s"] * 1000.0 if b.has_p else None,
        "qrs_ms": info["qrs_ms"],
        "qt_ms": float(np.median(qt)) * 1000.0 if qt.size else None,
        "qtc_ms": info["qtc_s"] * 1000.0,
        "qrs_axis_deg": _frontal_axis(_net_area(b, QRS_WAVES)),
        "p_axis_deg": p_axis,
        "heart_rate_bpm": float(subject["heart_rate_bpm"]),
        "rhythm": str(subject["rhythm"]),
        "bbb": str(subject["bbb"]),
    }
