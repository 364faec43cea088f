"""The card's blood-pool tracker: what volume a SAX cine shows.

One Otsu threshold per cine, the bright component nearest the centre is the LV blood pool (its area
at end-diastole → LV EDV through a fit on true cines), and the RV width at the septum with the LV
behind it (→ RV EDV). Used by the held-out check (`heldout_eval.py`) to read the generated cines and
by `drawsize` to fit the generator's size correction, so both read volume the same way."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import data as D
from .metrics import pearson


def ed_areas(frames: np.ndarray) -> tuple:
    """(area EF %, LV ED area px, RV reading) of a pose-normalised SAX cine [F, S, S]: one Otsu
    threshold per cine; LV = the bright component nearest the centre (metrics.blood_pool_area); at
    the frame of the largest LV area, the RV reading (`rv_reading`)."""
    from .metrics import blood_pool_area, otsu_threshold
    thr = otsu_threshold(frames)
    a = np.array([blood_pool_area(f, thr) for f in frames])
    k = int(np.argmax(a))
    mx = float(a.max())
    return (float(100.0 * (mx - a.min()) / mx) if mx > 0 else 0.0), mx, rv_reading(frames[k], thr)


def rv_reading(frame: np.ndarray, thr: float) -> np.ndarray:
    """[LV cavity radius, septum thickness, RV width] in pixels on the ED frame, read along the row
    through the LV centre towards the RV (−x in the canonical pose; mean of 3 rows): leave the LV
    blood, cross the septum (below the threshold), count the bright run. The RV's blood pool and the
    epicardial fat beyond its thin free wall are equally bright, so an area of the bright component
    beside the LV (the first tracker) mixes in fat and read RV volume at r = 0.29; the width at the
    septum with the LV size behind it follows the crescent the RV volume draws."""
    from scipy import ndimage
    s = frame.shape[0]
    c = (s - 1) / 2
    lab, n = ndimage.label(frame >= thr)
    if n == 0:
        return np.array([np.nan, np.nan, np.nan])
    yy, xx = np.mgrid[0:s, 0:s]
    d = (yy - c) ** 2 + (xx - c) ** 2
    lv = lab == min(range(1, n + 1), key=lambda j: d[lab == j].min())
    iy, x = int(round(yy[lv].mean())), int(round(xx[lv].mean()))
    prof = frame[max(iy - 1, 0):iy + 2].mean(0)
    runs = []
    for bright in (True, False, True):          # LV blood, septum, RV
        x0 = x
        while x > 0 and (prof[x] >= thr) == bright:
            x -= 1
        runs.append(x0 - x)
    return np.array([np.sqrt(lv.sum() / np.pi), float(runs[1]), float(runs[2])])


def rv_design(readings: np.ndarray) -> np.ndarray:
    """log RV EDV ≈ c·[1, log width, log LV radius, log (LV radius + septum)]: the simulated crescent
    has width ∝ RV EDV / (LV outer radius · LV long axis), the long axis ∝ the LV radius."""
    r = np.asarray(readings, dtype=np.float64).reshape(-1, 3)
    return np.stack([np.ones(len(r)), np.log(np.maximum(r[:, 2], 0.5)), np.log(np.maximum(r[:, 0], 0.5)),
                     np.log(np.maximum(r[:, 0] + r[:, 1], 0.5))], 1)


def area_volume(cal: dict, areas: np.ndarray) -> np.ndarray:
    """Volume read through one `area_calibration` entry: LV a + b·area^1.5 (areas [n]); RV the power
    law of `rv_design` (readings [n, 3])."""
    if "coef" in cal:
        return np.exp(rv_design(areas) @ np.asarray(cal["coef"]))
    return cal["a"] + cal["b"] * np.asarray(areas, dtype=np.float64) ** 1.5


def area_calibration(train_cohort: Path, config: Path, n: int = 400, per_group_true: int = 60) -> dict:
    """Maps the tracker's ED areas to volumes, fitted on TRUE pose-normalised cines of training
    subjects: EDV ≈ a + b·area^1.5 (LV and RV). Applied to generated cines it answers "what EDV does
    this picture show" with the same tracker; r says how well the tracker reads volume at all."""
    import torch
    from .config import load_config
    from .pipeline import disease_groups, to_canonical
    cfg = load_config(str(config))
    tc = D.Cohort(train_cohort)

    def true_areas(rows):
        """(LV ED areas [n], RV readings [n, 3]) of the rows' true SAX cines, pose-normalised."""
        sax = torch.from_numpy(np.asarray(tc.sax[rows], dtype=np.float32) / 255.0)
        sax = to_canonical(sax, np.asarray(tc.pose[rows][:, 0]), float(cfg["cmr"]["views"]["sax"]["pixel_mm"])).numpy()
        read = [ed_areas(f) for f in sax]
        return np.array([r[1] for r in read]), np.array([r[2] for r in read])
    rows = np.flatnonzero(tc.split == "train")[:n]
    lv, rv = true_areas(rows)
    truth = tc.numeric("lv_edv_ml")[rows]
    b, a = np.polyfit(lv ** 1.5, truth, 1)
    out = {"lv_edv": {"a": float(a), "b": float(b), "r": pearson(lv ** 1.5, truth), "subjects": int(len(rows))}}
    truth = tc.numeric("rv_edv_ml")[rows]
    ok = np.isfinite(rv).all(1)
    coef, *_ = np.linalg.lstsq(rv_design(rv[ok]), np.log(truth[ok]), rcond=None)
    out["rv_edv"] = {"coef": [float(c) for c in coef], "subjects": int(ok.sum())}
    out["rv_edv"]["r"] = pearson(area_volume(out["rv_edv"], rv[ok]), truth[ok])
    # The same tracker on TRUE cines of each disease group (test split of the training cohort): what
    # it reads where the picture is exactly right, so a generated group mean can be read against it.
    test = np.flatnonzero(tc.split == "test")
    out["trueCines"] = {}
    for g, m in disease_groups(tc, test).items():
        rows_g = test[m][:per_group_true]
        lv, rv = true_areas(rows_g)
        out["trueCines"][g] = {
            "n": int(len(rows_g)),
            "trueEDV": float(tc.numeric("lv_edv_ml")[rows_g].mean()),
            "readEDV": float(area_volume(out["lv_edv"], lv).mean()),
            "trueRVEDV": float(tc.numeric("rv_edv_ml")[rows_g].mean()),
            "readRVEDV": float(np.nanmean(area_volume(out["rv_edv"], rv)))}
    return out
