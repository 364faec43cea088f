"""The paired ECG–CMR cohort (training/cohort writes it) and the training targets read from it.

Cohort folder: subjects.csv, meta.json (`ecg_lsb_uV`, `cine_frames`), ecg_250hz.npy int16
[N, 12, 2500], sax.npy uint8 [N, F, 80, 80], lax.npy uint8 [N, F, 96, 96] (memory-mapped).

The ECGs are preprocessed once with the bundle's own op list (the same ops the Swift engine runs)
into a float16 cache in the run folder, so training sees exactly what inference will see.
"""
from __future__ import annotations

import csv
import hashlib
import json
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from .preprocess import preprocess

# Sigmoid risk head: (cohort column, output id, label). Ids are the cohort's column names.
RISK_OUTPUTS = [
    ("cad", "cad", "Coronary artery disease"),
    ("heart_failure", "heart_failure", "Heart failure"),
    ("cardiomyopathy", "cardiomyopathy", "Cardiomyopathy"),
    ("pulmonary_hypertension", "pulmonary_hypertension", "Pulmonary hypertension"),
    ("pericarditis", "pericarditis", "Pericarditis"),
    ("atrial_fibrillation", "atrial_fibrillation", "Atrial fibrillation"),
    ("wall_motion_abnormality", "wall_motion_abnormality", "Wall-motion abnormality (CMR)"),
    ("lge", "lge", "Late gadolinium enhancement (CMR)"),
    ("t1_abnormal", "t1_abnormal", "Native T1 ≥ 1060 ms (CMR)"),
    ("t2_abnormal", "t2_abnormal", "T2 ≥ 58 ms (CMR)"),
    ("ecv_abnormal", "ecv_abnormal", "ECV ≥ 33 % (CMR)"),
]

SUBTYPES = [("dcm", "Dilated cardiomyopathy"), ("hcm", "Hypertrophic cardiomyopathy"),
            ("rcm", "Restrictive cardiomyopathy")]

# Regression head: (cohort column, output id, label, unit).
PHENOTYPES = [
    ("lv_edv_ml", "lv_edv", "LV end-diastolic volume", "mL"),
    ("lv_esv_ml", "lv_esv", "LV end-systolic volume", "mL"),
    ("lv_sv_ml", "lv_sv", "LV stroke volume", "mL"),
    ("lv_ef_pct", "lv_ef", "LV ejection fraction", "%"),
    ("lv_mass_g", "lv_mass", "LV mass", "g"),
    ("lv_co_l_min", "lv_co", "LV cardiac output", "L/min"),
    ("rv_edv_ml", "rv_edv", "RV end-diastolic volume", "mL"),
    ("rv_esv_ml", "rv_esv", "RV end-systolic volume", "mL"),
    ("rv_sv_ml", "rv_sv", "RV stroke volume", "mL"),
    ("rv_ef_pct", "rv_ef", "RV ejection fraction", "%"),
    ("la_vol_ml", "la_vol", "LA maximal volume", "mL"),
    ("ra_vol_ml", "ra_vol", "RA maximal volume", "mL"),
    ("wt_mean_mm", "wt_mean", "LV mean wall thickness (ED)", "mm"),
] + [(f"wt_seg{k:02d}_mm", f"wt_seg{k:02d}", f"Wall thickness, AHA segment {k}", "mm") for k in range(1, 17)]

def phenotype_index(output_id: str) -> int:
    """Column of a phenotype output (e.g. "lv_ef") in PHENOTYPES order."""
    return [oid for _, oid, _, _ in PHENOTYPES].index(output_id)


# Columns that mark a subject as having any disease (normal subjects give the reference ranges).
DISEASE_COLUMNS = ["cad", "prior_mi", "heart_failure", "cardiomyopathy", "pulmonary_hypertension",
                   "pericarditis", "effusion", "atrial_fibrillation", "wall_motion_abnormality", "lge",
                   "t1_abnormal", "t2_abnormal", "ecv_abnormal"]


# The encoder's rhythm token (beats.py / SignalKit.BeatFeatures.rhythmFeatureNames, same order).
from .beats import RHYTHM_FEATURES  # noqa: E402


class CohortError(ValueError):
    pass


def _truthy(v: str) -> float:
    s = v.strip().lower()
    if s in ("1", "true", "yes", "1.0"):
        return 1.0
    if s in ("0", "false", "no", "0.0", ""):
        return 0.0
    return float(s)


class Cohort:
    """Read-only view of a cohort folder."""

    def __init__(self, path):
        self.path = Path(path)
        for name in ("subjects.csv", "ecg_250hz.npy", "sax.npy", "lax.npy"):
            if not (self.path / name).exists():
                raise CohortError(f"cohort {self.path}: missing {name}")
        # meta.json is written at the end of a build; a build in progress still has usable rows.
        meta_path = self.path / "meta.json"
        self.meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        with open(self.path / "subjects.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            raise CohortError(f"cohort {self.path}: subjects.csv has no rows")
        self.columns = {k: [r[k] for r in rows] for k in rows[0]}
        self.n = len(rows)
        self.ecg = np.load(self.path / "ecg_250hz.npy", mmap_mode="r")
        self.sax = np.load(self.path / "sax.npy", mmap_mode="r")
        self.lax = np.load(self.path / "lax.npy", mmap_mode="r")
        for name, arr in (("ecg_250hz.npy", self.ecg), ("sax.npy", self.sax), ("lax.npy", self.lax)):
            if arr.shape[0] != self.n:
                raise CohortError(f"cohort {self.path}: {name} has {arr.shape[0]} rows, subjects.csv {self.n}")
        # Pose of every stored cine (cohort 2.0): lets training pose-normalise the frames.
        self.pose = np.load(self.path / "pose.npy", mmap_mode="r") if (self.path / "pose.npy").exists() else None
        self.frames = int(self.meta.get("cine_frames", self.sax.shape[1]))
        self.lsb_mv = float(self.meta.get("ecg_lsb_uV", 5.0)) / 1000.0
        self.rate = float(self.meta.get("ecg_rate_hz", 250))
        self.split = np.array(self.columns["split"])
        self.ready = (self.path / "READY").exists()

    def numeric(self, col: str) -> np.ndarray:
        if col not in self.columns:
            raise CohortError(f"cohort {self.path}: subjects.csv has no column {col!r}")
        return np.array([_truthy(v) for v in self.columns[col]], dtype=np.float64)

    def strings(self, col: str) -> np.ndarray:
        return np.array(self.columns[col])

    def rendered(self, chunk: int = 500) -> np.ndarray:
        """Rows whose ECG and cines have been written (a cohort still being built is zero-filled)."""
        ok = np.zeros(self.n, dtype=bool)
        for a in range(0, self.n, chunk):
            b = min(a + chunk, self.n)
            e = np.abs(np.asarray(self.ecg[a:b])).reshape(b - a, -1).max(1) > 0
            s = np.asarray(self.sax[a:b, 0]).reshape(b - a, -1).max(1) > 0
            l = np.asarray(self.lax[a:b, 0]).reshape(b - a, -1).max(1) > 0
            ok[a:b] = e & s & l
        return ok

    def select(self, caps: dict) -> dict:
        """Row indices per split (the first `caps[split]` subjects of each split, in file order).

        Without the READY marker (a build still running) only rows already written are used."""
        usable = np.ones(self.n, dtype=bool) if self.ready else self.rendered()
        out = {}
        for s in ("train", "val", "test"):
            idx = np.flatnonzero((self.split == s) & usable)
            cap = caps.get(s)
            if cap is not None:
                idx = idx[:int(cap)]
            if len(idx) == 0:
                raise CohortError(f"cohort {self.path}: split {s!r} is empty")
            out[s] = idx
        return out

    def ecg_mv(self, rows) -> np.ndarray:
        return np.asarray(self.ecg[rows], dtype=np.float64) * self.lsb_mv


class Targets:
    """Risk labels, subtype index (−1 when not a cardiomyopathy) and phenotypes for all rows."""

    def __init__(self, cohort: Cohort):
        self.risk = np.stack([cohort.numeric(c) for c, _, _ in RISK_OUTPUTS], 1).astype(np.float32)
        sub = cohort.strings("cm_subtype")
        ids = [s for s, _ in SUBTYPES]
        self.subtype = np.array([ids.index(s) if s in ids else -1 for s in sub], dtype=np.int64)
        self.phenotype = np.stack([cohort.numeric(c) for c, _, _, _ in PHENOTYPES], 1).astype(np.float64)
        self.disease_free = np.stack([cohort.numeric(c) for c in DISEASE_COLUMNS], 1).sum(1) == 0
        self.lv_ef = cohort.numeric("lv_ef_pct")

    def phenotype_stats(self, train_rows):
        p = self.phenotype[train_rows]
        mean, std = p.mean(0), p.std(0)
        std[std < 1e-9] = 1.0
        return mean, std

    def reference_ranges(self, train_rows):
        """2.5th–97.5th percentile of disease-free training subjects (Kawel-Boehm-style ranges
        are how the cohort draws healthy values, so this recovers them)."""
        rows = train_rows[self.disease_free[train_rows]]
        if len(rows) < 20:
            rows = train_rows
        p = self.phenotype[rows]
        return np.percentile(p, 2.5, axis=0), np.percentile(p, 97.5, axis=0), len(rows)


# ----------------------------------------------------------------------------------------------
# ECG preprocessing cache


def _median_rows(x: np.ndarray, k: int) -> np.ndarray:
    """Running median of odd length k along the last axis with edges extended ('nearest').

    Same values as scipy.ndimage.median_filter(size=(1, k), mode="nearest") (the median of an odd
    window is one of its elements, so any exact algorithm agrees), about 5× faster: pandas'
    skip-list rolling median."""
    import pandas as pd
    h = k // 2
    if k <= 1:
        return x.copy()
    xp = np.concatenate([np.repeat(x[:, :1], h, 1), x, np.repeat(x[:, -1:], h, 1)], 1)
    r = pd.DataFrame(xp.T).rolling(k).median().to_numpy().T
    return np.ascontiguousarray(r[:, k - 1:])


def fast_preprocess(batch_mv: np.ndarray, fs: float, ops: list) -> np.ndarray:
    """preprocess() for a batch [B, L, n]; median baseline removal vectorised over the batch."""
    from .preprocess import odd_window
    b, l, _ = batch_mv.shape
    y = np.asarray(batch_mv, dtype=np.float64)
    rate = fs
    for op in ops:
        if op.get("op") == "baselineRemoval" and op.get("method", "median") == "median":
            flat = y.reshape(b * l, -1)
            base = flat
            for w in op.get("windowsSeconds", [0.2, 0.6]):
                base = _median_rows(base, odd_window(float(w), rate))
            y = (flat - base).reshape(b, l, -1)
        elif op.get("op") == "normalise" and op.get("mode") == "zscore-group":
            y = np.stack([preprocess(y[i], rate, [op])[0].astype(np.float64) for i in range(b)])
        else:
            # every other op works lead by lead: run it once over the whole batch of leads
            flat, _ = preprocess(y.reshape(b * l, -1), rate, [op])
            y = flat.astype(np.float64).reshape(b, l, -1)
            if op.get("op") == "resample":
                rate = float(op["rate"])
    return y.astype(np.float32)


def _cache_work(job):
    path, rows, lsb_mv, fs, ops = job
    ecg = np.load(Path(path) / "ecg_250hz.npy", mmap_mode="r")
    x = np.asarray(ecg[rows], dtype=np.float64) * lsb_mv
    return fast_preprocess(x, fs, ops).astype(np.float16)


def build_ecg_cache(cohort: Cohort, rows: np.ndarray, ops: list, out_dir: Path, workers: int = 2,
                    chunk: int = 100, log=print) -> np.ndarray:
    """Preprocessed ECGs for `rows` (in that order), float16 [len(rows), L, S]; restartable."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sig = hashlib.sha256(json.dumps([str(cohort.path.resolve()), cohort.n, ops,
                                     [int(r) for r in rows]]).encode()).hexdigest()[:16]
    path = out_dir / f"ecg_pre_{sig}.npy"
    progress = out_dir / f"ecg_pre_{sig}.done"
    # Check the fast path against the reference implementation on real rows before trusting it.
    probe = rows[:2]
    ref = np.stack([preprocess(cohort.ecg_mv([r])[0], cohort.rate, ops)[0] for r in probe])
    fast = fast_preprocess(cohort.ecg_mv(probe), cohort.rate, ops)
    if ref.shape != fast.shape or np.abs(ref - fast).max() > 1e-4:
        raise RuntimeError(f"fast preprocessing disagrees with preprocess(): max |Δ| = {np.abs(ref - fast).max()}")
    s = ref.shape[-1]
    n = len(rows)
    done = set(json.loads(progress.read_text())) if progress.exists() and path.exists() else set()
    if path.exists() and len(done) * chunk >= n and _complete(done, n, chunk):
        return np.load(path, mmap_mode="r")
    mode = "r+" if path.exists() and done else "w+"
    mm = np.lib.format.open_memmap(path, mode=mode, dtype=np.float16, shape=(n, cohort.ecg.shape[1], s))
    starts = [a for a in range(0, n, chunk) if a not in done]
    jobs = [(str(cohort.path), rows[a:a + chunk], cohort.lsb_mv, cohort.rate, ops) for a in starts]
    t0 = time.time()
    pool = get_context("fork").Pool(workers) if workers > 1 else None
    try:
        results = pool.imap(_cache_work, jobs) if pool else map(_cache_work, jobs)
        for k, (a, arr) in enumerate(zip(starts, results)):
            mm[a:a + len(arr)] = arr
            done.add(a)
            if k % 10 == 9 or k == len(starts) - 1:
                mm.flush()
                progress.write_text(json.dumps(sorted(done)))
                el = time.time() - t0
                log(f"  ecg cache: {min(len(done) * chunk, n)}/{n} ECGs, {el:.0f} s")
    finally:
        if pool:
            pool.close()
            pool.join()
    mm.flush()
    progress.write_text(json.dumps(sorted(done)))
    del mm
    return np.load(path, mmap_mode="r")


def _complete(done, n, chunk):
    return all(a in done for a in range(0, n, chunk))


# ----------------------------------------------------------------------------------------------
# Beat-feature cache (the v2 encoder's input)


def _beat_work(job):
    from .beats import beat_features
    from .bundle import STANDARD_LEADS      # the manifest's lead order, which the cohort arrays follow
    path, rows, lsb_mv, fs, ops, spec, rate = job
    ecg = np.load(Path(path) / "ecg_250hz.npy", mmap_mode="r")
    x = fast_preprocess(np.asarray(ecg[rows], dtype=np.float64) * lsb_mv, fs, ops)
    beats, rhythm, count = [], [], []
    for k in range(x.shape[0]):
        f = beat_features(x[k], STANDARD_LEADS, rate, spec)
        beats.append(f["median_beat"].astype(np.float16))
        rhythm.append(f["rhythm"])
        count.append(f["beat_count"])
    return np.stack(beats), np.stack(rhythm).astype(np.float32), np.array(count, dtype=np.int32)


def map_cohort_chunks(work, cohort, rows, chunk: int, workers: int, extra: tuple, what: str, log=print) -> list:
    """`work((cohort path, rows[a:a+chunk], lsb, rate, *extra))` over the rows in chunks, in order,
    on `workers` forked processes (one: in this process), with a progress line every 10 chunks."""
    jobs = [(str(cohort.path), rows[a:a + chunk], cohort.lsb_mv, cohort.rate, *extra) for a in range(0, len(rows), chunk)]
    t0 = time.time()
    parts = []
    pool = get_context("fork").Pool(workers) if workers > 1 else None
    try:
        for k, part in enumerate(pool.imap(work, jobs) if pool else map(work, jobs)):
            parts.append(part)
            if k % 10 == 9 or k == len(jobs) - 1:
                log(f"  {what}: {min((k + 1) * chunk, len(rows))}/{len(rows)} ECGs, {time.time() - t0:.0f} s")
    finally:
        if pool:
            pool.close()
            pool.join()
    return parts


def build_beat_cache(cohort: Cohort, rows: np.ndarray, ops: list, spec: dict, out_dir: Path, workers: int = 2,
                     chunk: int = 200, log=print) -> dict:
    """Median beats [n, 12, beat] (float16), rhythm features [n, R] and beat counts of `rows`, from
    the bundle's preprocessing (float32, as the engine) and beats.py; cached by content signature."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rate = float(next((op["rate"] for op in ops if op["op"] == "resample"), cohort.rate))
    sig = hashlib.sha256(json.dumps([str(cohort.path.resolve()), cohort.n, ops, spec,
                                     [int(r) for r in rows]]).encode()).hexdigest()[:16]
    path = out_dir / f"beats_{sig}.npz"
    if path.exists():
        z = np.load(path)
        return {k: z[k] for k in z.files}
    probe = rows[:2]
    ref = np.stack([preprocess(cohort.ecg_mv([r])[0], cohort.rate, ops)[0] for r in probe])
    fast = fast_preprocess(cohort.ecg_mv(probe), cohort.rate, ops)
    if ref.shape != fast.shape or np.abs(ref - fast).max() > 1e-4:
        raise RuntimeError(f"fast preprocessing disagrees with preprocess(): max |Δ| = {np.abs(ref - fast).max()}")
    parts = map_cohort_chunks(_beat_work, cohort, rows, chunk, workers, (ops, spec, rate), "beat cache", log)
    out = {"beats": np.concatenate([p[0] for p in parts]), "rhythm": np.concatenate([p[1] for p in parts]),
           "beat_count": np.concatenate([p[2] for p in parts])}
    tmp = out_dir / f"beats_{sig}.tmp.npz"
    np.savez(tmp, **out)
    tmp.replace(path)
    return out
