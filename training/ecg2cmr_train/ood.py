"""Out-of-distribution calibration: three distances to the synthetic training data, two one-sided
signal statistics (`lead_features`), and one rule that sets every threshold on synthetic
validation data only.

Distances (Swift twin: Sources/CardiacModels/OutOfDistribution.swift and SignalFeatures.swift):
  embedding — Mahalanobis distance² of the encoder's pooled vector (shrunk covariance);
  input     — squared residual of the standardised median-beat + rhythm vector outside its top-k
              principal components;
  signal    — Mahalanobis distance² of `signal_features` of the prepared 10-s record: what the
              median beats hide (beat-to-beat residual, its roughness, beat gain spread, baseline
              drift, the spectral slope of the whole lead);
  lead      — `lead_features` (feature set lead-gain-v2), each compared with its own one-sided
              limit: how far beat-to-beat QRS gains differ between leads (the simulator scales
              all leads of a beat by one factor), the limb-lead identity residual, and how much
              of the median-beat QRS lies outside the simulator's heart-vector subspace (misfit
              SNR and fraction; the simulator projects one 3-D vector through one matrix).

Rule (docs/MODEL_CARD.md, "Out-of-distribution rule"; fixed before any real record was scored by
this detector): statistics from training-split subjects; ONE percentile q applied to every
distance on the validation split, q chosen so that the union of the distances flags
`target_flagged` (2.5 %) of the validation subjects (fixed 2026-12-05 17:52 UTC); then ONE
percentile for the lead features, chosen so that distances and lead features together flag at
most `lead_target_flagged` (3.5 %) (fixed 2026-12-05 20:55 UTC with two lead features; the four
of lead-gain-v2 under the same rule 23:50 UTC — docs/MODEL_CARD.md says when).
score = max_i d_i / t_i; flagged when > 1.

Re-run on an exported bundle (rewrites its safetensors and manifest atomically):

    python -m ecg2cmr_train.ood --bundle assets/models/demo-v2 --cohort /path/to/cohort
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

SIGNAL_FEATURE_SET = "beat-residual-v1"
# Per lead, in this order (the Swift side names them the same).
SIGNAL_FEATURES = (
    "beat_residual_log_rms",      # RMS of every complete beat window minus the median beat
    "beat_residual_roughness",    # log RMS(first difference of that residual) − log RMS(residual)
    "beat_gain_log_sd",           # log(SD of per-beat least-squares gains on the median beat + 0.01)
    "median_beat_log_rms",
    "median_beat_roughness",      # log RMS(diff median beat) − log RMS(median beat)
    "baseline_log_sd",            # log(SD of the 1-s block means + ε): drift the high-pass left
    "signal_roughness",           # log RMS(diff x) − log RMS(x)
    "signal_curvature",           # log RMS(diff² x) − log RMS(diff x)
)
EPS = 1e-4          # mV: keeps logs finite on flat leads
GAIN_FLOOR = 0.01   # gain SD below this is indistinguishable; keeps its log bounded
SHRINK = 0.05       # covariance shrinkage toward the diagonal (fraction of the mean variance)
TARGET_FLAGGED = 0.025
LEAD_TARGET_FLAGGED = 0.035   # distances and lead features together (stage 2 of the rule)


def _log_rms(v: np.ndarray) -> float:
    v = np.asarray(v, dtype=np.float64).ravel()
    return math.log(math.sqrt(float(np.dot(v, v)) / v.size) + EPS) if v.size else math.log(EPS)


def signal_features(x: np.ndarray, peaks, median_beat: np.ndarray, pre: int, post: int, fs: float) -> np.ndarray:
    """float64 [L · len(SIGNAL_FEATURES)], lead-major, of one prepared record `x` ([L, S], the
    model's input after preprocessing), its R peaks and per-lead median beats ([L, pre + post],
    beats.beat_features)."""
    x = np.asarray(x, dtype=np.float32).astype(np.float64)
    m = np.asarray(median_beat, dtype=np.float32).astype(np.float64)
    n_leads, s = x.shape
    length = pre + post
    starts = np.asarray([int(p) - pre for p in peaks if int(p) - pre >= 0 and int(p) + post <= s], dtype=np.int64)
    block = max(1, int(math.floor(fs + 0.5)))
    blocks = s // block
    out = np.zeros((n_leads, len(SIGNAL_FEATURES)))
    for l in range(n_leads):
        ml = m[l]
        if starts.size:
            w = x[l][starts[:, None] + np.arange(length)[None, :]]      # [B, T]
            e = w - ml[None, :]
            r0 = _log_rms(e)
            r1 = _log_rms(np.diff(e, axis=1)) - r0
            mm = float(np.dot(ml, ml))
            gains = (w @ ml) / mm if mm > 1e-12 else np.zeros(len(starts))
            g = math.log(float(np.sqrt(np.mean((gains - gains.mean()) ** 2))) + GAIN_FLOOR)
        else:
            r0, r1, g = math.log(EPS), 0.0, math.log(GAIN_FLOOR)
        b0 = _log_rms(ml)
        b1 = _log_rms(np.diff(ml)) - b0
        if blocks:
            means = x[l, : blocks * block].reshape(blocks, block).mean(1)
            base = math.log(float(np.sqrt(np.mean((means - means.mean()) ** 2))) + EPS)
        else:
            base = math.log(EPS)
        d1 = np.diff(x[l])
        s0 = _log_rms(x[l])
        s1 = _log_rms(d1)
        s2 = _log_rms(np.diff(d1))
        out[l] = (r0, r1, g, b0, b1, base, s1 - s0, s2 - s1)
    return out.ravel()


LEAD_FEATURE_SET = "lead-gain-v2"
# One value per record each, larger = less like the simulator; each gets a one-sided limit.
# lead-gain-v1 is the first two; v2 adds the heart-vector (Dower) subspace statistics.
LEAD_FEATURES = (
    "qrs_lead_gain_f",          # F statistic: beat-to-beat QRS gain that differs between leads
    "limb_identity_residual",   # mV RMS of I + III − II and aVR + aVL + aVF (zero on a cart)
    "qrs_dower_misfit_snr",     # median-beat QRS outside the Dower subspace, over what noise leaves there
    "qrs_dower_misfit_fraction",  # the same energy as a share of the median-beat QRS energy
)
LEAD_FEATURE_SETS = {"lead-gain-v1": LEAD_FEATURES[:2], "lead-gain-v2": LEAD_FEATURES}
QRS_HALF_SECONDS = 0.048        # QRS window: R ± 48 ms
DOWER_HALF_SECONDS = 0.060      # QRS window of the Dower statistics: R ± 60 ms
# The heart-vector lead transform of the simulator (Dower et al. 1980, rows I, II, V1–V6): its
# one home is training/cohort/ecg.py; calibration writes it into the manifest for the engine.
from cohort.ecg import DOWER  # noqa: E402
QRS_MIN_RMS = 0.05              # mV: leads whose detrended median QRS is smaller carry no gain
INDEPENDENT_LEADS = (0, 1, 6, 7, 8, 9, 10, 11)   # I, II, V1–V6 of the standard 12 (the rest derive from them)
NOISE_FLOOR = 1e-8              # mV² per degree of freedom: a noise-free record stays finite


def lead_features(x: np.ndarray, peaks, median_beat: np.ndarray, pre: int, fs: float) -> np.ndarray:
    """float64 [len(LEAD_FEATURES)] of one prepared 12-lead record `x` ([12, S], standard order).

    qrs_lead_gain_f — why: the simulator draws every beat from one heart vector scaled by one
    factor per beat (respiration), so within the QRS every lead's beat is the median beat times
    the SAME gain plus noise. In a body the electrical axis turns with breathing and ectopic or
    aberrant beats change the QRS lead by lead. Per beat and independent lead, the QRS window
    (R ± 48 ms) and the median beat's are detrended (intercept and slope removed: drift and
    electrode-motion ramps), then fitted with one gain per lead (residual Rl) and with one gain
    shared by the leads (Rc), both with one time shift shared by the leads (the derivative of the
    median beat: R peaks fall on whole samples, the heart does not). F = [(Rc − Rl) / (B (L − 1))] /
    [Rl / (B (L (n − 3) − 1))] over the beats
    B (the beat with the largest Rc − Rl left out: one transient is not a rhythm) — ≈ 1 for noise
    of any level, larger when gains differ between leads. 0 when fewer than 3 beats or 2 leads.

    limb_identity_residual — I + III = II and aVR + aVL + aVF = 0 hold for the simulator up to
    storage rounding; a cart that digitises limb leads separately leaves its own noise there."""
    x = np.asarray(x, dtype=np.float32).astype(np.float64)
    m = np.asarray(median_beat, dtype=np.float32).astype(np.float64)
    n_leads, s = x.shape
    out = np.zeros(len(LEAD_FEATURES))
    if n_leads != 12:
        return out
    half = int(math.floor(QRS_HALF_SECONDS * fs + 0.5))
    n = 2 * half + 1
    detrend = detrender(half)

    if pre - half - 1 >= 0 and pre + half + 1 < m.shape[1]:
        lm = m[list(INDEPENDENT_LEADS)]
        tmpl = detrend(lm[:, pre - half: pre + half + 1])                                  # [8, n]
        deriv = detrend(0.5 * (lm[:, pre - half + 1: pre + half + 2] - lm[:, pre - half - 1: pre + half]))
        e = (tmpl * tmpl).sum(1)
        use = [k for k in range(len(INDEPENDENT_LEADS)) if e[k] / n >= QRS_MIN_RMS ** 2]
        centres = [int(p) for p in peaks if int(p) - half >= 0 and int(p) + half < s]
        if len(use) >= 2 and len(centres) >= 3:
            leads = [INDEPENDENT_LEADS[k] for k in use]
            mt, dt, ee = tmpl[use], deriv[use], e[use]
            # Shift regressor with each lead's template projected out (per-lead-gain model).
            dp = dt - ((dt * mt).sum(1) / ee)[:, None] * mt
            dpp = float((dp * dp).sum())
            mm, md, dd = float(ee.sum()), float((mt * dt).sum()), float((dt * dt).sum())
            det = mm * dd - md * md
            num, res = [], []
            for c in centres:
                w = detrend(x[leads, c - half: c + half + 1])
                ss = float((w * w).sum())
                a = (w * mt).sum(1)
                # per-lead gains + one shared shift (Frisch–Waugh: the shift on what the gains leave)
                wp = w - (a / ee)[:, None] * mt
                rl = float((wp * wp).sum()) - (float((wp * dp).sum()) ** 2 / dpp if dpp > 1e-12 else 0.0)
                # one shared gain + one shared shift (2 × 2 normal equations)
                wm, wd = float(a.sum()), float((w * dt).sum())
                if det > 1e-12 * mm * dd:
                    g, h = (dd * wm - md * wd) / det, (mm * wd - md * wm) / det
                    rc = ss - g * wm - h * wd
                else:
                    rc = ss - wm * wm / mm
                num.append(max(rc - rl, 0.0))
                res.append(max(rl, 0.0))
            num, res = np.asarray(num), np.asarray(res)
            if len(num) >= 4:
                keep = np.arange(len(num)) != int(np.argmax(num))
                num, res = num[keep], res[keep]
            b, lu = len(num), len(leads)
            dof = b * (lu * (n - 3) - 1)
            out[0] = (float(num.sum()) / (b * (lu - 1))) / ((float(res.sum()) + NOISE_FLOOR * dof) / dof)
    r = np.concatenate([x[0] + x[2] - x[1], x[3] + x[4] + x[5]])
    out[1] = math.sqrt(float(np.dot(r, r)) / r.size)
    out[2:] = dower_misfit(x, peaks, m, pre, fs, DOWER)
    return out


def detrender(half: int):
    """Removes intercept and slope from windows of 2·half + 1 samples (rows: leads), by projection
    off the orthonormal [1, t]: drift and electrode-motion ramps leave both statistics' windows."""
    n = 2 * half + 1
    t = np.arange(n, dtype=np.float64) - half
    b = np.stack([np.full(n, 1.0 / math.sqrt(n)), t / math.sqrt(float(np.dot(t, t)))])
    return lambda v: v - (v @ b.T) @ b


def subspace_complement(basis: np.ndarray) -> np.ndarray:
    """Projector [8, 8] onto what the columns of `basis` [8, 3] do not span (Gram–Schmidt in
    float64, as the engine)."""
    q = []
    for k in range(basis.shape[1]):
        v = np.asarray(basis[:, k], dtype=np.float64).copy()
        for u in q:
            v = v - float(u @ v) * u
        q.append(v / math.sqrt(float(v @ v)))
    qm = np.stack(q, 1)
    return np.eye(basis.shape[0]) - qm @ qm.T


def dower_misfit(x: np.ndarray, peaks, m: np.ndarray, pre: int, fs: float, basis: np.ndarray) -> tuple[float, float]:
    """(snr, fraction) of the median-beat QRS (R ± 60 ms, leads I, II, V1–V6, detrended) outside
    the heart-vector subspace the columns of `basis` span.

    Why: the simulator projects ONE 3-D heart vector to the leads through one fixed matrix (the
    Dower transform), its atrial fibrillation too, so apart from electrode noise every synthetic
    beat lies in that 3-D subspace of the 8 independent leads. A body is not a dipole in a
    standard torso: a recorded QRS leaves a lasting part outside it, the same in every beat.
    snr = energy of the median beat outside the subspace × beats / (π/2 × the median over beats of
    the energy each beat's deviation from the median beat leaves outside it) — ≈ 2 when noise
    alone puts it there (π/2: the variance of a median of B samples), at any noise level;
    fraction = that energy over the median beat's QRS energy. (0, 0) with fewer than 3 beats."""
    x = np.asarray(x, dtype=np.float32).astype(np.float64)
    m = np.asarray(m, dtype=np.float32).astype(np.float64)
    half = int(math.floor(DOWER_HALF_SECONDS * fs + 0.5))
    n = 2 * half + 1
    if pre - half < 0 or pre + half >= m.shape[1]:
        return 0.0, 0.0
    detrend = detrender(half)
    perp = subspace_complement(np.asarray(basis, dtype=np.float64))
    leads = list(INDEPENDENT_LEADS)

    def outside(w):
        w = detrend(w)
        return w, perp @ w

    med, med_out = outside(m[leads, pre - half: pre + half + 1])
    energy, misfit = float((med * med).sum()), float((med_out * med_out).sum())
    dev = []
    for c in peaks:
        c = int(c)
        if c - half < 0 or c + half >= x.shape[1]:
            continue
        _, w_out = outside(x[leads, c - half: c + half + 1])
        d = w_out - med_out
        dev.append(float((d * d).sum()))
    if len(dev) < 3:
        return 0.0, 0.0
    noise = math.pi / 2 * float(np.median(dev)) / len(dev)
    floor = NOISE_FLOOR * n * (len(leads) - np.asarray(basis).shape[1])
    return misfit / (noise + floor), misfit / (energy + floor)


# ------------------------------------------------------------------------------------------------
# Fitting and thresholds

def fit_gaussian(f: np.ndarray, trim: float = 0.025) -> tuple[np.ndarray, np.ndarray]:
    """Mean and precision of `f` [n, d]: covariance of the standardised features shrunk toward
    the identity; fitted twice, the second time without the `trim` most distant rows, so a few
    lead-off or empty records in the training split do not widen the distribution."""
    f = np.asarray(f, dtype=np.float64)

    def fit(rows):
        mean = rows.mean(0)
        sd = rows.std(0) + 1e-6
        corr = np.cov(((rows - mean) / sd).T)
        corr = (1 - SHRINK) * corr + SHRINK * np.eye(corr.shape[0])
        p = np.linalg.inv(corr)
        return mean, p / sd[:, None] / sd[None, :]

    mean, prec = fit(f)
    if trim > 0 and len(f) > 20:
        d = mahalanobis(f, mean, prec)
        mean, prec = fit(f[d <= np.quantile(d, 1 - trim)])
    return mean, prec


def mahalanobis(f: np.ndarray, mean: np.ndarray, prec: np.ndarray) -> np.ndarray:
    c = np.asarray(f, dtype=np.float64) - mean
    return np.einsum("ij,jk,ik->i", c, prec, c)


def common_thresholds(distances: np.ndarray, target: float,
                      already: np.ndarray | None = None) -> tuple[float, np.ndarray, float]:
    """(q, thresholds, flagged fraction): the largest-flagging single percentile q whose
    per-distance thresholds, united (with the rows `already` flagged, when given), flag at most
    `target` of the rows of `distances` [n, k]."""
    d = np.asarray(distances, dtype=np.float64)
    base = np.zeros(len(d), dtype=bool) if already is None else np.asarray(already, dtype=bool)

    def flagged(q):
        t = np.percentile(d, q, axis=0)
        return float(((d > t[None, :]).any(1) | base).mean()), t

    lo, hi = 100.0 * (1 - target), 100.0      # q = 100(1-target) flags ≥ target; q = 100 flags none
    for _ in range(60):
        mid = (lo + hi) / 2
        if flagged(mid)[0] > target:
            lo = mid
        else:
            hi = mid
    frac, t = flagged(hi)
    return hi, t, frac


def input_vectors(beats: np.ndarray, rhythm: np.ndarray, stride: int) -> np.ndarray:
    from .validate import ood_input_vectors
    return ood_input_vectors(beats, rhythm, stride)


def calibrate(train: dict, val: dict, stride: int, components: int, target: float = TARGET_FLAGGED,
              lead_target: float = LEAD_TARGET_FLAGGED) -> dict:
    """`train` / `val`: {"pooled" [n, W], "beats" [n, L, T], "rhythm" [n, R], "signal" [n, F]}.
    Returns the `ood.*` tensors and the manifest block ("summary")."""
    pooled_tr = np.asarray(train["pooled"], dtype=np.float64)
    mean = pooled_tr.mean(0)
    cov = np.cov((pooled_tr - mean).T)
    w = cov.shape[0]
    prec = np.linalg.inv(cov + 0.05 * np.trace(cov) / w * np.eye(w))
    d_emb = mahalanobis(val["pooled"], mean, prec)

    x_tr = input_vectors(train["beats"], train["rhythm"], stride)
    x_va = input_vectors(val["beats"], val["rhythm"], stride)
    imean, istd = x_tr.mean(0), x_tr.std(0) + 1e-3
    z_tr = (x_tr - imean) / istd
    k = min(int(components), z_tr.shape[1], z_tr.shape[0])
    _, _, vt = np.linalg.svd(z_tr, full_matrices=False)
    comps = vt[:k]
    z_va = (x_va - imean) / istd
    d_in = (z_va ** 2).sum(1) - ((z_va @ comps.T) ** 2).sum(1)

    s_mean, s_prec = fit_gaussian(train["signal"])
    d_sig = mahalanobis(val["signal"], s_mean, s_prec)

    # Stage 1 (the rule fixed 2026-12-05 17:52 UTC, unchanged): one percentile for the three
    # distances, their union flagging `target` of the validation split.
    d3 = np.stack([d_emb, d_in, d_sig], 1)
    q, t3, _ = common_thresholds(d3, target)
    # Stage 2: one percentile for the lead features, so that all of them together flag at most
    # `lead_target` (the extra share goes to the statistics that separate real from simulated).
    lead = np.asarray(val["lead"], dtype=np.float64)          # already "larger = less synthetic"
    q_lead, t_lead, frac = common_thresholds(lead, lead_target, already=(d3 > t3[None, :]).any(1))
    t = np.concatenate([t3, t_lead])
    tensors = {"embedding_mean": mean.astype(np.float32), "embedding_precision": prec.astype(np.float32),
               "input_mean": imean.astype(np.float32), "input_std": istd.astype(np.float32),
               "input_components": comps.astype(np.float32),
               "signal_mean": s_mean.astype(np.float32), "signal_precision": s_prec.astype(np.float32)}
    summary = {"embeddingThreshold": float(t[0]), "inputThreshold": float(t[1]), "percentile": float(q),
               "validationFlagged": frac, "validationSubjects": int(len(d_emb)),
               "calibrationSubjects": int(len(pooled_tr)), "beatStride": int(stride), "components": int(k),
               "rule": f"one percentile for the three distances, chosen so their union flags {target:.3f} of the validation "
                       f"split; then one percentile for the lead features, chosen so all of them together flag at most "
                       f"{lead_target:.3f}",
               "targetFlagged": float(target), "totalTargetFlagged": float(lead_target),
               "signal": {"featureSet": SIGNAL_FEATURE_SET, "features": int(s_mean.size), "threshold": float(t[2]),
                          "gainFloor": GAIN_FLOOR, "epsilon": EPS},
               "lead": {"featureSet": LEAD_FEATURE_SET, "features": list(LEAD_FEATURES), "percentile": float(q_lead),
                        "thresholds": [float(v) for v in t[3:]], "qrsHalfSeconds": QRS_HALF_SECONDS,
                        "qrsMinRms": QRS_MIN_RMS, "dowerHalfSeconds": DOWER_HALF_SECONDS,
                        "heartVectorBasis": [[float(v) for v in row] for row in DOWER]}}
    return {"tensors": tensors, "summary": summary,
            "distances": {"embedding": d_emb, "input": d_in, "signal": d_sig,
                          **{name: lead[:, k] for k, name in enumerate(LEAD_FEATURES)}}}


# ------------------------------------------------------------------------------------------------
# Features of cohort rows

def _feature_work(job):
    from .beats import beat_features
    from .bundle import STANDARD_LEADS
    from .data import fast_preprocess
    path, rows, lsb_mv, fs, ops, spec, rate = job
    ecg = np.load(Path(path) / "ecg_250hz.npy", mmap_mode="r")
    x = fast_preprocess(np.asarray(ecg[rows], dtype=np.float64) * lsb_mv, fs, ops).astype(np.float32)
    beats, rhythm, sig, lead = [], [], [], []
    for k in range(x.shape[0]):
        f = beat_features(x[k], STANDARD_LEADS, rate, spec)
        beats.append(f["median_beat"])
        rhythm.append(f["rhythm"])
        sig.append(signal_features(x[k], f["peaks"], f["median_beat"], spec["preSamples"], spec["postSamples"], rate))
        lead.append(lead_features(x[k], f["peaks"], f["median_beat"], spec["preSamples"], rate))
    return np.stack(beats), np.stack(rhythm).astype(np.float32), np.stack(sig), np.stack(lead)


def cohort_features(cohort, rows, ops: list, spec: dict, workers: int = 1, chunk: int = 100,
                    cache_dir: Path | None = None, log=print) -> dict:
    """Median beats (float32), rhythm and signal features of cohort `rows`, prepared with the
    bundle's ops (as the engine); cached in `cache_dir` by content signature when given."""
    rows = np.asarray(rows)
    rate = float(next((op["rate"] for op in ops if op["op"] == "resample"), cohort.rate))
    path = None
    if cache_dir is not None:
        sig = hashlib.sha256(json.dumps([str(Path(cohort.path).resolve()), cohort.n, ops, spec, SIGNAL_FEATURE_SET, LEAD_FEATURE_SET,
                                         [int(r) for r in rows]]).encode()).hexdigest()[:16]
        path = Path(cache_dir) / f"ood_features_{sig}.npz"
        if path.exists():
            z = np.load(path)
            return {k: z[k] for k in z.files}
    from .data import map_cohort_chunks
    parts = map_cohort_chunks(_feature_work, cohort, rows, chunk, workers, (ops, spec, rate), "ood features", log)
    out = {"beats": np.concatenate([p[0] for p in parts]), "rhythm": np.concatenate([p[1] for p in parts]),
           "signal": np.concatenate([p[2] for p in parts]), "lead": np.concatenate([p[3] for p in parts])}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **out)
        tmp.replace(path)
    return out


def pooled_vectors(encoder, beats: np.ndarray, rhythm: np.ndarray, batch: int = 256) -> np.ndarray:
    import torch
    out = []
    with torch.no_grad():
        for a in range(0, len(beats), batch):
            o = encoder({"beats": torch.from_numpy(np.asarray(beats[a:a + batch], dtype=np.float32)),
                         "rhythm": torch.from_numpy(np.asarray(rhythm[a:a + batch], dtype=np.float32))})
            out.append(o["pooled"].float().numpy())
    return np.concatenate(out)


# ------------------------------------------------------------------------------------------------
# Rewriting an exported bundle

def _rounded(v):
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in v.items()}
    return v


def rewrite_bundle(bundle_dir, tensors: dict, summary: dict) -> dict:
    """Replace the bundle's `ood.*` tensors and `outOfDistribution` block; each file is written
    beside its target and renamed over it, so a reader sees the old bundle or the new one."""
    from safetensors.numpy import load_file, save_file
    from .bundle import file_sha256
    d = Path(bundle_dir)
    manifest = json.loads((d / "manifest.json").read_text())
    files = [w["file"] for w in manifest["weights"]]
    target = next((f for f in files if any(k.startswith("ood.") for k in load_file(str(d / f)))), files[0])
    for f in files:
        if f == target:
            continue
        stale = [k for k in load_file(str(d / f)) if k.startswith("ood.")]
        if stale:
            raise ValueError(f"{d / f}: ood tensors in more than one weights file ({stale[:3]}…)")
    t = {k: v for k, v in load_file(str(d / target)).items() if not k.startswith("ood.")}
    t.update({f"ood.{k}": np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()})
    tmp = d / (target + ".tmp")
    save_file(t, str(tmp))
    shutil.copymode(d / target, tmp)          # safetensors writes 0600; keep the bundle's mode
    for w in manifest["weights"]:
        if w["file"] == target and "sha256" in w:
            w["sha256"] = file_sha256(tmp)
    manifest["outOfDistribution"] = _rounded(summary)
    mtmp = d / "manifest.json.tmp"
    mtmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(d / target)
    mtmp.replace(d / "manifest.json")
    return manifest


def _encoder_digest(bundle_dir, manifest) -> str:
    """SHA-256 over the bundle's non-`ood.*` tensors: what the pooled vectors depend on."""
    from safetensors.numpy import load_file
    h = hashlib.sha256()
    for w in manifest["weights"]:
        t = load_file(str(Path(bundle_dir) / w["file"]))
        for k in sorted(t):
            if not k.startswith("ood."):
                h.update(k.encode())
                h.update(np.ascontiguousarray(t[k]).tobytes())
    return h.hexdigest()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ecg2cmr_train.ood", description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", required=True, help="exported bundle directory (rewritten in place)")
    ap.add_argument("--cohort", required=True, help="synthetic cohort folder (training/cohort)")
    ap.add_argument("--train", type=int, default=4000, help="training-split subjects for the statistics")
    ap.add_argument("--val", type=int, default=2000, help="validation-split subjects for the thresholds")
    ap.add_argument("--target", type=float, default=TARGET_FLAGGED, help="fraction of validation subjects the three distances flag")
    ap.add_argument("--lead-target", type=float, default=LEAD_TARGET_FLAGGED,
                    help="fraction of validation subjects the distances and lead features together flag at most")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--cache", default=None, help="folder for the feature cache (re-runs skip preprocessing)")
    ap.add_argument("--report", default=None, help="write the validation distances (npz) here")
    a = ap.parse_args(argv)
    from .bundle import load_bundle
    from .data import Cohort
    import torch
    torch.set_num_threads(max(1, a.workers))
    encoder, _, manifest = load_bundle(a.bundle)
    if manifest["encoder"]["type"] != "beatvit1d":
        print(f"{a.bundle}: outOfDistribution needs a beat-aware encoder (beatvit1d)", file=sys.stderr)
        return 2
    cohort = Cohort(a.cohort)
    old = manifest.get("outOfDistribution") or {}
    stride, comps = int(old.get("beatStride", 4)), int(old.get("components", 32))
    sel = cohort.select({"train": a.train, "val": a.val})
    ops, spec = manifest["input"]["preprocessing"], manifest["encoder"]["beats"]
    cache = Path(a.cache) if a.cache else None
    feats = {}
    digest = _encoder_digest(a.bundle, manifest)
    for split in ("train", "val"):
        f = cohort_features(cohort, sel[split], ops, spec, a.workers, cache_dir=cache)
        # The pooled vectors depend on the encoder weights only (not on the ood tensors this
        # rewrites), so a re-run on the same bundle reuses them.
        pkey = hashlib.sha256(json.dumps([digest,
                                          [int(r) for r in sel[split]]]).encode()).hexdigest()[:16]
        ppath = cache / f"ood_pooled_{pkey}.npy" if cache else None
        if ppath is not None and ppath.exists():
            f["pooled"] = np.load(ppath)
        else:
            f["pooled"] = pooled_vectors(encoder, f["beats"], f["rhythm"])
            if ppath is not None:
                np.save(ppath, f["pooled"])
        feats[split] = f
    res = calibrate(feats["train"], feats["val"], stride, comps, a.target, a.lead_target)
    rewrite_bundle(a.bundle, res["tensors"], res["summary"])
    if a.report:
        np.savez(a.report, **res["distances"])
    s = res["summary"]
    print(f"ood: q {s['percentile']:.3f}; thresholds embedding {s['embeddingThreshold']:.1f}, input "
          f"{s['inputThreshold']:.1f}, signal {s['signal']['threshold']:.1f}, "
          + ", ".join(f"{k} {v:.4g}" for k, v in zip(LEAD_FEATURES, s["lead"]["thresholds"]))
          + f"; validation flagged "
          f"{s['validationFlagged']:.4f} of {s['validationSubjects']}; bundle {a.bundle} rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
